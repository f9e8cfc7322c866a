"""The same message-queue sequence on the real kernel and on uipc: must match.

The kernel side runs in a forked child that first calls unshare(CLONE_NEWIPC),
so it starts from an empty IPC namespace (ids comparable, nothing touches the
machine's real table); the uipc side runs in a fresh uipc namespace.  Every
return value, errno and stat field is compared; times are normalised to
"set"/"unset" and pids to roles.
"""
from __future__ import annotations

import dataclasses
import os
import pickle
from typing import Any, Callable

import pytest

import uipc
from uipc.uapi import (
    IPC_CREAT, IPC_EXCL, IPC_INFO, IPC_NOWAIT, IPC_PRIVATE, IPC_RMID, IPC_SET, IPC_STAT,
    MSG_COPY, MSG_EXCEPT, MSG_INFO, MSG_NOERROR, MSG_STAT, MSG_STAT_ANY,
)

pytestmark = pytest.mark.kernel_oracle


def normalise(value: Any, me: int) -> Any:
    if isinstance(value, uipc.MsqidDs):
        d = dataclasses.asdict(value)
        for f in ("msg_stime", "msg_rtime", "msg_ctime"):
            d[f] = "set" if d[f] else "unset"
        for f in ("msg_lspid", "msg_lrpid"):
            d[f] = "me" if d[f] == me else d[f]
        return d
    if isinstance(value, tuple):
        return tuple(normalise(v, me) for v in value)
    if dataclasses.is_dataclass(value):
        return dataclasses.asdict(value)
    return value


def scenario(api: Any, set_sysctl: Callable[[str, int], None]) -> list[tuple[str, Any]]:
    log: list[tuple[str, Any]] = []
    me = os.getpid()

    def do(label: str, fn: Callable[[], Any]) -> Any:
        try:
            out = fn()
            log.append((label, normalise(out, me)))
            return out
        except OSError as exc:
            log.append((label, f"errno {exc.errno}"))
            return None

    q = [do(f"private {i}", lambda: api.msgget(IPC_PRIVATE, 0o600)) for i in range(3)]
    do("create key", lambda: api.msgget(0x10, IPC_CREAT | 0o640))
    do("exclusive", lambda: api.msgget(0x10, IPC_CREAT | IPC_EXCL | 0o600))
    do("open key", lambda: api.msgget(0x10, 0o600))
    do("missing key", lambda: api.msgget(0x11, 0o600))
    do("rm 1", lambda: api.msgctl(q[1], IPC_RMID))
    do("stale id", lambda: api.msgsnd(q[1], 1, b"x"))
    do("stat stale", lambda: api.msgctl(q[1], IPC_STAT))
    do("rm again", lambda: api.msgctl(q[1], IPC_RMID))
    a = do("after rm", lambda: api.msgget(IPC_PRIVATE, 0o600))
    do("mtype 0", lambda: api.msgsnd(a, 0, b"x"))
    do("too big", lambda: api.msgsnd(a, 1, b"x" * 8193))
    do("max size", lambda: api.msgsnd(a, 1, b"y" * 8192, IPC_NOWAIT))
    do("rcv max", lambda: api.msgrcv(a, 8192, 0, IPC_NOWAIT))
    for mtype, text in [(3, b"three"), (1, b"one"), (2, b"two"), (1, b"uno"), (7, b"seven")]:
        do(f"send {mtype}", lambda: api.msgsnd(a, mtype, text))
    do("stat 5", lambda: api.msgctl(a, IPC_STAT))
    do("copy 1", lambda: api.msgrcv(a, 100, 1, MSG_COPY | IPC_NOWAIT))
    do("copy 9", lambda: api.msgrcv(a, 100, 9, MSG_COPY | IPC_NOWAIT))
    do("copy wait", lambda: api.msgrcv(a, 100, 0, MSG_COPY))
    do("copy except", lambda: api.msgrcv(a, 100, 0, MSG_COPY | IPC_NOWAIT | MSG_EXCEPT))
    do("copy small", lambda: api.msgrcv(a, 2, 0, MSG_COPY | IPC_NOWAIT))
    do("copy small noerr", lambda: api.msgrcv(a, 2, 0, MSG_COPY | IPC_NOWAIT | MSG_NOERROR))
    do("e2big", lambda: api.msgrcv(a, 2, 0, IPC_NOWAIT))
    do("type 2", lambda: api.msgrcv(a, 100, 2, IPC_NOWAIT))
    do("except 1", lambda: api.msgrcv(a, 100, 1, MSG_EXCEPT | IPC_NOWAIT))
    do("lowest <= 5", lambda: api.msgrcv(a, 100, -5, IPC_NOWAIT))
    do("noerror", lambda: api.msgrcv(a, 2, -5, IPC_NOWAIT | MSG_NOERROR))
    do("none <= 5", lambda: api.msgrcv(a, 100, -5, IPC_NOWAIT))
    do("negative size", lambda: api.msgrcv(a, -1, 0, IPC_NOWAIT))
    do("bad id", lambda: api.msgrcv(-1, 10, 0, IPC_NOWAIT))
    do("any", lambda: api.msgrcv(a, 100, 0, IPC_NOWAIT))
    do("empty", lambda: api.msgrcv(a, 100, 0, IPC_NOWAIT))
    ds = do("stat 0", lambda: api.msgctl(a, IPC_STAT))
    do("set qbytes", lambda: api.msgctl(a, IPC_SET, dataclasses.replace(
        ds, msg_qbytes=10, msg_perm=dataclasses.replace(ds.msg_perm, mode=0o1606))))
    do("stat set", lambda: api.msgctl(a, IPC_STAT))
    do("fill", lambda: api.msgsnd(a, 1, b"x" * 8, IPC_NOWAIT))
    do("full", lambda: api.msgsnd(a, 1, b"x" * 3, IPC_NOWAIT))
    do("fits", lambda: api.msgsnd(a, 1, b"x" * 2, IPC_NOWAIT))
    do("bad uid", lambda: api.msgctl(a, IPC_SET, dataclasses.replace(
        ds, msg_perm=dataclasses.replace(ds.msg_perm, uid=0xFFFFFFFF))))
    do("bad cmd", lambda: api.msgctl(a, 99))
    do("neg id", lambda: api.msgctl(-1, IPC_STAT))
    do("ipc_info", lambda: api.msgctl(0, IPC_INFO))
    do("msg_info", lambda: api.msgctl(0, MSG_INFO))
    for idx in range(5):
        do(f"msg_stat {idx}", lambda: api.msgctl(idx, MSG_STAT))
        do(f"msg_stat_any {idx}", lambda: api.msgctl(idx, MSG_STAT_ANY))
    set_sysctl("msgmax", 100)
    set_sysctl("msgmnb", 300)
    b = do("new after sysctl", lambda: api.msgget(IPC_PRIVATE, 0o600))
    do("101 bytes", lambda: api.msgsnd(b, 1, b"z" * 101))
    do("100 bytes", lambda: api.msgsnd(b, 1, b"z" * 100))
    do("stat qbytes", lambda: api.msgctl(b, IPC_STAT))
    do("ipc_info after sysctl", lambda: api.msgctl(0, IPC_INFO))
    set_sysctl("msg_next_id", 32768 * 4 + 9)
    do("next_id", lambda: api.msgget(IPC_PRIVATE, 0o600))
    do("after next_id", lambda: api.msgget(IPC_PRIVATE, 0o600))
    return log


def run_on_kernel() -> list[tuple[str, Any]]:
    from tests.oracle import libc_msg
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            libc_msg.unshare_ipc()
            out: Any = ("ok", scenario(libc_msg, libc_msg.write_sysctl))
        except BaseException as exc:  # noqa: BLE001
            out = ("err", repr(exc))
        with os.fdopen(w, "wb") as f:
            f.write(pickle.dumps(out))
        os._exit(0)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        status, data = pickle.loads(f.read())
    os.waitpid(pid, 0)
    if status != "ok":
        if "Operation not permitted" in data:
            pytest.skip(f"unshare(CLONE_NEWIPC) not permitted here: {data}")
        raise AssertionError(data)
    return data


def test_msg_sequence_matches_the_kernel(ns: str) -> None:
    expected = run_on_kernel()
    got = scenario(uipc, lambda name, v: uipc.sysctl.set(f"kernel.{name}", v))
    assert len(got) == len(expected)
    mismatches = [(e[0], e[1], g[1]) for e, g in zip(expected, got) if e != g]
    assert not mismatches, "\n".join(f"{label}: kernel {k!r} uipc {u!r}" for label, k, u in mismatches)
