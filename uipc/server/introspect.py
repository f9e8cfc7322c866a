"""Daemon-side views of the kernel: sysctl access and state snapshots."""
from __future__ import annotations

from typing import Any

from uipc.kernel import sysctl as ksysctl
from uipc.kernel.kernel import Kernel
from uipc.kernel.namespace import IpcNamespace
from uipc.kernel.sem import sem_waiters


def sysctl(ns: IpcNamespace, write: int, text: str) -> str:
    """``name`` -> its value; ``name=value`` with write=1 -> sets it; ``-a`` -> all."""
    if text == "-a":
        return "\n".join(f"{k} = {v}" for k, v in ksysctl.all_values(ns).items())
    if write:
        name, _, value = text.partition("=")
        ksysctl.set(ns, name, value)
        return ksysctl.get(ns, name)
    return ksysctl.get(ns, text)


def _waiters(queue: Any) -> list[dict[str, Any]]:
    return [{"pid": w.task.pid, "tid": w.task.tid, "op": w.op, "since": w.since}
            for w in queue]


def snapshot(kernel: Kernel, ns: IpcNamespace) -> dict[str, Any]:
    """Everything in one namespace, for `uipc ipcs`, tests and debugging."""
    msgs = []
    for msq in ns.msg_ids:
        msgs.append({"id": msq.perm.id, "key": msq.perm.key, "qnum": msq.q_qnum,
                     "cbytes": msq.q_cbytes, "receivers": _waiters(msq.q_receivers),
                     "senders": _waiters(msq.q_senders)})
    sems = []
    for sma in ns.sem_ids:
        sems.append({"id": sma.perm.id, "key": sma.perm.key, "values": [x.semval for x in sma.sems],
                     "waiters": [dict(w, sops=q.sops, blocking=q.blocking) for w, q in
                                 zip(_waiters(sem_waiters(sma)), sem_waiters(sma))],
                     "undo": [{"pid": un.process.pid, "semadj": list(un.semadj)} for un in sma.undos]})
    procs = [{"pid": p.pid, "uid": p.cred.euid, "tasks": len(p.tasks),
              "undo": {str(semid): list(un.semadj) for semid, un in p.sysvsem.items()},
              "shm_attachments": len(p.shm_attachments)}
             for p in sorted(ns.processes, key=lambda p: p.pid)]
    return {"namespace": ns.name, "processes": sorted(p.pid for p in ns.processes),
            "process_details": procs, "msg": msgs, "sem": sems}


def namespaces(kernel: Kernel) -> list[dict[str, Any]]:
    """Every namespace the daemon holds, with its processes and object counts."""
    return [{"name": ns.name, "processes": sorted(p.pid for p in ns.processes),
             "msg": len(ns.msg_ids), "sem": len(ns.sem_ids), "shm": len(ns.shm_ids)}
            for ns in kernel.namespaces.values()]
