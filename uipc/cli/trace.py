"""`uipc trace [--pid PID] [--namespace NAME] [--syscall NAME,...] [--json]`

A live stream of every IPC call in the namespace, in strace's style: the
time, the pid, the call with its arguments decoded (flags by name), the
result or errno with the rule that fired, and for a call that slept, how
long it slept.  Others' calls are shown only to root (as strace needs
ptrace rights).  Ctrl-C stops it.
"""
from __future__ import annotations

import argparse
import errno
import json
import os
import sys
import time
from typing import Any

from uipc.cli.common import attach, fail
from uipc.uapi import ipc as U_IPC
from uipc.uapi import msg as U_MSG
from uipc.uapi import sem as U_SEM
from uipc.uapi import shm as U_SHM

#: flag bits by name, for the arguments that carry them
IPC_FLAGS = [("IPC_CREAT", U_IPC.IPC_CREAT), ("IPC_EXCL", U_IPC.IPC_EXCL),
             ("IPC_NOWAIT", U_IPC.IPC_NOWAIT)]
MSG_FLAGS = IPC_FLAGS + [("MSG_NOERROR", U_MSG.MSG_NOERROR), ("MSG_EXCEPT", U_MSG.MSG_EXCEPT),
                         ("MSG_COPY", U_MSG.MSG_COPY)]
SEM_FLAGS = IPC_FLAGS + [("SEM_UNDO", U_SEM.SEM_UNDO)]
SHM_FLAGS = IPC_FLAGS + [("SHM_RDONLY", U_SHM.SHM_RDONLY), ("SHM_RND", U_SHM.SHM_RND),
                         ("SHM_REMAP", U_SHM.SHM_REMAP), ("SHM_EXEC", U_SHM.SHM_EXEC),
                         ("SHM_HUGETLB", U_SHM.SHM_HUGETLB),
                         ("SHM_NORESERVE", U_SHM.SHM_NORESERVE)]
O_FLAGS = [("O_CREAT", os.O_CREAT), ("O_EXCL", os.O_EXCL), ("O_TRUNC", os.O_TRUNC),
           ("O_NONBLOCK", os.O_NONBLOCK), ("O_CLOEXEC", os.O_CLOEXEC)]
def _names(module: Any, names: tuple[str, ...]) -> dict[int, str]:
    return {getattr(module, n): n for n in names if hasattr(module, n)}


_IPC_CMDS = _names(U_IPC, ("IPC_RMID", "IPC_SET", "IPC_STAT", "IPC_INFO"))
CMDS = {**_IPC_CMDS, **_names(U_MSG, ("MSG_STAT", "MSG_INFO", "MSG_STAT_ANY"))}
SEM_CMDS = {**_IPC_CMDS, **_names(U_SEM, ("GETPID", "GETVAL", "GETALL", "GETNCNT", "GETZCNT",
                                         "SETVAL", "SETALL", "SEM_STAT", "SEM_INFO",
                                         "SEM_STAT_ANY"))}
SHM_CMDS = {**_IPC_CMDS, **_names(U_SHM, ("SHM_LOCK", "SHM_UNLOCK", "SHM_STAT", "SHM_INFO",
                                         "SHM_STAT_ANY"))}


def flags(value: int, table: list[tuple[str, int]], mode: bool = False) -> str:
    """IPC_CREAT|IPC_EXCL|0600, as strace prints a flag argument."""
    names, rest = [], value
    for name, bit in table:
        if rest & bit:
            names.append(name)
            rest &= ~bit
    if mode and rest & 0o777:
        names.append(f"{rest & 0o777:#o}")
        rest &= ~0o777
    if rest:
        names.append(f"{rest:#x}")
    return "|".join(names) or "0"


def oflags(value: int) -> str:
    acc = {0: "O_RDONLY", 1: "O_WRONLY", 2: "O_RDWR"}.get(value & 3, "O_ACCMODE")
    rest = flags(value & ~3, O_FLAGS)
    return acc if rest == "0" else f"{acc}|{rest}"


def arg(call: str, name: str, value: Any) -> str:
    """One argument as strace would show it."""
    if isinstance(value, dict) and "bytes" in value:
        head = value["head"].encode("latin-1")
        more = "..." if value["bytes"] > len(head) else ""
        return json.dumps(head.decode("latin-1"))[:-1] + more + '"'
    if isinstance(value, str):
        return json.dumps("/" + value if call.startswith("mq_") and name == "name" else value)
    if not isinstance(value, int) or isinstance(value, bool):
        return json.dumps(value)
    if name == "key":
        return "IPC_PRIVATE" if value == 0 else f"{value & 0xFFFFFFFF:#010x}"
    if name == "msgflg":
        return flags(value, MSG_FLAGS, mode=call == "msgget")
    if name == "semflg":
        return flags(value, SEM_FLAGS, mode=True)
    if name == "shmflg":
        return flags(value, SHM_FLAGS, mode=call == "shmget")
    if name == "oflag":
        return oflags(value)
    if name == "mode":
        return f"0{value:o}"
    if name == "cmd":
        table = SEM_CMDS if call == "semctl" else SHM_CMDS if call == "shmctl" else CMDS
        return table.get(value & ~U_IPC.IPC_64, str(value))
    return str(value)


def line(rec: dict[str, Any]) -> str:
    """`12:00:00.123456 [pid 812] msgrcv(65536, 8192, 1, IPC_NOWAIT) = -1 ENOMSG (...) <0.0012>`"""
    t = rec["time"]
    stamp = time.strftime("%H:%M:%S", time.localtime(t)) + f".{int(t % 1 * 1e6):06d}"
    call = rec["call"]
    pairs = rec["args"]
    if pairs and pairs[-1][0] == "name":  # the name travels last; C has it first
        pairs = [pairs[-1], *pairs[:-1]]
    args = ", ".join(arg(call, n, v) for n, v in pairs)
    if rec["errno"]:
        name = errno.errorcode.get(rec["errno"], str(rec["errno"]))
        result = f"-1 {name} ({os.strerror(rec['errno'])}: {rec.get('detail', '')})"
    else:
        result = _result(rec.get("result"))
    slept = f" <{rec['slept']:.6f}>" if rec.get("slept") is not None else ""
    return f"{stamp} [pid {rec['pid']}] {call}({args}) = {result}{slept}"


def _result(value: Any) -> str:
    if value is None:
        return "0"
    if value in ("NewFile", "MemfdFile", "MemfdSegment"):
        return "<descriptor>"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, list) and len(value) == 2 and isinstance(value[1], dict) \
            and "bytes" in value[1]:
        return f"{value[1]['bytes']} (type/prio {value[0]})"  # msgrcv, mq_timedreceive
    return json.dumps(value)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="uipc trace", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pid", type=int, default=0, help="only this process's calls")
    p.add_argument("--namespace", metavar="NAME", help="the namespace (default: this process's)")
    p.add_argument("--syscall", default="", metavar="NAME,...", help="only these calls")
    p.add_argument("--json", action="store_true", help="one JSON record per line")
    p.add_argument("--count", type=int, default=0, help="stop after this many records")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    attach("uipc trace", args.namespace)
    from uipc.client.trace import records
    names = tuple(n.strip() for n in args.syscall.split(",") if n.strip())
    seen = 0
    try:
        ready = lambda: print("uipc trace: listening", file=sys.stderr, flush=True)  # noqa: E731
        for rec in records(args.pid, names, ready):
            print(json.dumps(rec) if args.json else line(rec), flush=True)
            seen += 1
            if args.count and seen >= args.count:
                break
    except KeyboardInterrupt:
        return 0
    except OSError as exc:
        fail("uipc trace", exc.strerror or str(exc))
    return 0


if __name__ == "__main__":
    sys.exit(main())
