"""Message-queue scenarios: every errno path and flag of msg.c, limits,
blocking receivers and senders in several processes, other users."""
from __future__ import annotations

import dataclasses

from tests.conformance.harness import CAPABLE_NEEDS_ROOT, Recorder, Scenario, Sleepers, as_user
from uipc.uapi import (
    IPC_CREAT, IPC_EXCL, IPC_INFO, IPC_NOWAIT, IPC_PRIVATE, IPC_RMID, IPC_SET, IPC_STAT,
    MSG_COPY, MSG_EXCEPT, MSG_INFO, MSG_NOERROR, MSG_STAT, MSG_STAT_ANY,
)


def ids_and_keys(rec: Recorder) -> None:
    api, do = rec.api, rec.do
    q = [do(f"private {i}", lambda: api.msgget(IPC_PRIVATE, 0o600)) for i in range(3)]
    do("create key", lambda: api.msgget(0x10, IPC_CREAT | 0o640))
    do("exclusive", lambda: api.msgget(0x10, IPC_CREAT | IPC_EXCL | 0o600))
    do("open key", lambda: api.msgget(0x10, 0o600))
    do("open asking more bits", lambda: api.msgget(0x10, 0o777))
    do("missing key", lambda: api.msgget(0x11, 0o600))
    do("big key", lambda: api.msgget(0xFFFFFFFF, IPC_CREAT | 0o600))
    do("rm 1", lambda: api.msgctl(q[1], IPC_RMID))
    do("stale id", lambda: api.msgsnd(q[1], 1, b"x"))
    do("stat stale", lambda: api.msgctl(q[1], IPC_STAT))
    do("rm again", lambda: api.msgctl(q[1], IPC_RMID))
    for i in range(70):  # cross the 64-entry allocation window: seq bumps
        do(f"fill {i}", lambda: api.msgget(IPC_PRIVATE, 0o600))
    for i in range(0, 60, 3):
        do(f"rm {i}", lambda: api.msgctl(i, IPC_RMID))
    for i in range(10):
        do(f"again {i}", lambda: api.msgget(IPC_PRIVATE, 0o600))


def send_receive(rec: Recorder) -> None:
    api, do = rec.api, rec.do
    a = do("queue", lambda: api.msgget(IPC_PRIVATE, 0o600))
    do("mtype 0", lambda: api.msgsnd(a, 0, b"x"))
    do("mtype -1", lambda: api.msgsnd(a, -1, b"x"))
    do("too big", lambda: api.msgsnd(a, 1, b"x" * 8193))
    do("neg id", lambda: api.msgsnd(-1, 1, b"x"))
    do("max size", lambda: api.msgsnd(a, 1, b"y" * 8192, IPC_NOWAIT))
    do("rcv max", lambda: api.msgrcv(a, 8192, 0, IPC_NOWAIT))
    do("empty msg", lambda: api.msgsnd(a, 4, b""))
    do("rcv empty msg", lambda: api.msgrcv(a, 0, 0, IPC_NOWAIT))
    for mtype, text in [(3, b"three"), (1, b"one"), (2, b"two"), (1, b"uno"), (7, b"seven")]:
        do(f"send {mtype}", lambda: api.msgsnd(a, mtype, text))
    do("stat 5", lambda: api.msgctl(a, IPC_STAT))
    do("copy 1", lambda: api.msgrcv(a, 100, 1, MSG_COPY | IPC_NOWAIT))
    do("copy 9", lambda: api.msgrcv(a, 100, 9, MSG_COPY | IPC_NOWAIT))
    do("copy -1", lambda: api.msgrcv(a, 100, -1, MSG_COPY | IPC_NOWAIT))
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
    do("type absent", lambda: api.msgrcv(a, 100, 99, IPC_NOWAIT))


def ctl_and_limits(rec: Recorder) -> None:
    api, do = rec.api, rec.do
    a = do("queue", lambda: api.msgget(IPC_PRIVATE, 0o600))
    ds = do("stat 0", lambda: api.msgctl(a, IPC_STAT))
    do("set qbytes", lambda: api.msgctl(a, IPC_SET, dataclasses.replace(
        ds, msg_qbytes=10, msg_perm=dataclasses.replace(ds.msg_perm, mode=0o1606))))
    do("stat set", lambda: api.msgctl(a, IPC_STAT))
    do("fill", lambda: api.msgsnd(a, 1, b"x" * 8, IPC_NOWAIT))
    do("full", lambda: api.msgsnd(a, 1, b"x" * 3, IPC_NOWAIT))
    do("fits", lambda: api.msgsnd(a, 1, b"x" * 2, IPC_NOWAIT))
    do("count limit", lambda: api.msgsnd(a, 1, b"", IPC_NOWAIT))
    do("bad uid", lambda: api.msgctl(a, IPC_SET, dataclasses.replace(
        ds, msg_perm=dataclasses.replace(ds.msg_perm, uid=0xFFFFFFFF))))
    rec.real_root("raise qbytes as root", lambda: api.msgctl(a, IPC_SET, dataclasses.replace(
        ds, msg_qbytes=99999)), CAPABLE_NEEDS_ROOT)  # msgctl_down: capable(CAP_SYS_RESOURCE)
    do("bad cmd", lambda: api.msgctl(a, 99))
    do("neg id", lambda: api.msgctl(-1, IPC_STAT))
    do("ipc_info", lambda: api.msgctl(0, IPC_INFO))
    do("msg_info", lambda: api.msgctl(0, MSG_INFO))
    for idx in range(3):
        do(f"msg_stat {idx}", lambda: api.msgctl(idx, MSG_STAT))
        do(f"msg_stat_any {idx}", lambda: api.msgctl(idx, MSG_STAT_ANY))
    do("msg_stat 32768", lambda: api.msgctl(32768, MSG_STAT))
    rec.set_sysctl("msgmax", 100)
    rec.set_sysctl("msgmnb", 300)
    b = do("new after sysctl", lambda: api.msgget(IPC_PRIVATE, 0o600))
    do("101 bytes", lambda: api.msgsnd(b, 1, b"z" * 101))
    do("100 bytes", lambda: api.msgsnd(b, 1, b"z" * 100))
    do("stat qbytes", lambda: api.msgctl(b, IPC_STAT))
    do("ipc_info after sysctl", lambda: api.msgctl(0, IPC_INFO))
    rec.set_sysctl("msg_next_id", 32768 * 4 + 9)
    do("next_id", lambda: api.msgget(IPC_PRIVATE, 0o600))
    do("after next_id", lambda: api.msgget(IPC_PRIVATE, 0o600))
    rec.set_sysctl("msgmni", 4)
    do("msgmni", lambda: api.msgget(IPC_PRIVATE, 0o600))


def blocking_receivers(rec: Recorder) -> None:
    api, do = rec.api, rec.do
    q = do("queue", lambda: api.msgget(IPC_PRIVATE, 0o600))
    s = Sleepers(rec)
    try:
        for tag, typ, flags, size in [("R1 type 2", 2, 0, 100), ("R2 any", 0, 0, 100),
                                      ("R3 <= 1", -1, 0, 100), ("R4 small", 0, 0, 2),
                                      ("R5 except 2", 2, MSG_EXCEPT, 100),
                                      ("R6 small noerror", 0, MSG_NOERROR, 3)]:
            s.start(tag, lambda typ=typ, flags=flags, size=size: api.msgrcv(q, size, typ, flags))
        for mtype, text in [(1, b"a"), (5, b"long message"), (2, b"b"), (2, b"c"), (9, b"d")]:
            do(f"send {mtype} {text!r}", lambda: api.msgsnd(q, mtype, text))
            rec.note("queued", api.msgctl(q, IPC_STAT).msg_qnum)
        rec.note("woken", s.completed(5))  # R3 (<= 1) keeps sleeping
        rec.note("lrpid", rec.pid_role(api.msgctl(q, IPC_STAT).msg_lrpid))
        rec.note("left", [api.msgrcv(q, 100, 0, IPC_NOWAIT) for _ in range(api.msgctl(q, IPC_STAT).msg_qnum)])
        # removal while receivers and senders sleep
        s.start("R7 waits", lambda: api.msgrcv(q, 100, 77))
        ds = api.msgctl(q, IPC_STAT)
        api.msgctl(q, IPC_SET, dataclasses.replace(ds, msg_qbytes=3))
        do("fill", lambda: api.msgsnd(q, 5, b"abc"))  # not for R3 (<= 1) or R7 (77)
        s.start("S1 sender", lambda: api.msgsnd(q, 1, b"x"))
        do("rmid", lambda: api.msgctl(q, IPC_RMID))
        rec.note("removal", s.completed(3))
    finally:
        s.close()


def blocked_senders(rec: Recorder) -> None:
    api, do = rec.api, rec.do
    q = do("queue", lambda: api.msgget(IPC_PRIVATE, 0o600))
    ds = api.msgctl(q, IPC_STAT)
    do("qbytes 10", lambda: api.msgctl(q, IPC_SET, dataclasses.replace(ds, msg_qbytes=10)))
    do("fill", lambda: api.msgsnd(q, 1, b"12345678"))
    s = Sleepers(rec)
    try:
        s.start("S1 6 bytes", lambda: api.msgsnd(q, 2, b"abcdef"))
        s.start("S2 3 bytes", lambda: api.msgsnd(q, 3, b"xyz"))
        do("take 8", lambda: api.msgrcv(q, 100, 1))
        rec.note("senders done", s.completed(2))
        # woken senders race for the queue in Linux: the order they land in
        # (and so msg_lspid) is scheduling, not semantics (docs/deviations.md)
        st = api.msgctl(q, IPC_STAT)
        rec.note("bytes and count", (st.msg_cbytes, st.msg_qnum))
        rec.note("lspid is a woken sender", rec.pid_role(st.msg_lspid) in ("S1 6 bytes", "S2 3 bytes"))
        s.start("S3 big", lambda: api.msgsnd(q, 4, b"123456789"))
        do("take 6", lambda: api.msgrcv(q, 100, 2))
        rec.note("S3 still asleep", api.msgctl(q, IPC_STAT).msg_qnum)
        ds = api.msgctl(q, IPC_STAT)
        do("grow queue", lambda: api.msgctl(q, IPC_SET, dataclasses.replace(ds, msg_qbytes=100)))
        rec.note("after growing", s.completed(1))
        do("final stat", lambda: api.msgctl(q, IPC_STAT))
    finally:
        s.close()


def other_users(rec: Recorder) -> None:
    api, do = rec.api, rec.do
    q = do("root's 0640", lambda: api.msgget(0x70, IPC_CREAT | 0o640))
    ds = api.msgctl(q, IPC_STAT)
    do("group 1000", lambda: api.msgctl(q, IPC_SET, dataclasses.replace(
        ds, msg_perm=dataclasses.replace(ds.msg_perm, gid=1000))))
    do("send", lambda: api.msgsnd(q, 1, b"root's"))

    def stranger() -> list:
        return rec.outcomes([("get r", lambda: api.msgget(0x70, 0o400)),
                             ("get none", lambda: api.msgget(0x70, 0)),
                             ("create own", lambda: api.msgget(0x71, IPC_CREAT | 0o600)),
                             ("send", lambda: api.msgsnd(q, 1, b"x", IPC_NOWAIT)),
                             ("recv", lambda: api.msgrcv(q, 100, 0, IPC_NOWAIT)),
                             ("stat", lambda: api.msgctl(q, IPC_STAT)),
                             ("stat any", lambda: api.msgctl(0, MSG_STAT_ANY)[0]),
                             ("stat idx", lambda: api.msgctl(0, MSG_STAT)[0]),
                             ("set", lambda: api.msgctl(q, IPC_SET, ds)),
                             ("rmid", lambda: api.msgctl(q, IPC_RMID))])

    def member() -> list:
        return rec.outcomes([("get r", lambda: api.msgget(0x70, 0o040)),
                             ("send", lambda: api.msgsnd(q, 1, b"x", IPC_NOWAIT)),
                             ("recv", lambda: api.msgrcv(q, 100, 0, IPC_NOWAIT))])

    rec.note("uid 1001", as_user(1001, 1001, stranger))
    rec.note("uid 1001 in group 1000", as_user(1001, 1001, member, groups=(1000,)))
    own = api.msgget(0x71, 0)
    rec.note("owner of the new one", api.msgctl(own, IPC_STAT).msg_perm.uid)
    rec.note("uid 1001 qbytes over msgmnb", as_user(1001, 1001, lambda: api.msgctl(own, IPC_SET, dataclasses.replace(
        api.msgctl(own, IPC_STAT), msg_qbytes=20000))))
    rec.note("uid 1001 gives it away", as_user(1001, 1001, lambda: api.msgctl(own, IPC_SET, dataclasses.replace(
        api.msgctl(own, IPC_STAT), msg_perm=dataclasses.replace(api.msgctl(own, IPC_STAT).msg_perm, uid=1002)))))
    rec.note("creator may still remove", as_user(1001, 1001, lambda: api.msgctl(own, IPC_RMID)))
    do("root still reads", lambda: api.msgrcv(q, 100, 0, IPC_NOWAIT))


SCENARIOS = [
    Scenario("msg ids and keys", "msg", ids_and_keys),
    Scenario("msg send/receive flags", "msg", send_receive),
    Scenario("msgctl and limits", "msg", ctl_and_limits),
    Scenario("msg blocking receivers", "msg", blocking_receivers),
    Scenario("msg blocked senders", "msg", blocked_senders),
    Scenario("msg permissions of other users", "msg", other_users),
]
