"""Batches (LINK, SKIP_SUCCESS, deferral behind a blocked request) and the
msgsnd_many / msgrcv_many calls built on them, through the real daemon."""
from __future__ import annotations

import errno
import os
import signal
import socket
import struct

import pytest

import uipc
from tests.conftest import wait_until
from tests.helpers import Child, receivers, snapshot
from uipc import protocol as P


# --- the Python API ------------------------------------------------------------
def test_batch_runs_in_order_and_returns_each_result(ns: str) -> None:
    q = uipc.msgget(uipc.IPC_PRIVATE, 0o600)
    s = uipc.semget(uipc.IPC_PRIVATE, 2, 0o600)
    b = uipc.Batch()
    b.msgsnd(q, 5, b"five")
    b.msgsnd(q, 6, b"six")
    b.semop(s, [(1, 3, 0)])
    b.semctl(s, 1, uipc.GETVAL)
    b.msgrcv(q, 64, 6)
    b.msgrcv(q, 64, 0)
    assert len(b) == 6
    assert b.submit() == [None, None, None, 3, (6, b"six"), (5, b"five")]
    assert len(b) == 0 and b.submit() == []
    ds = uipc.msgctl(q, uipc.IPC_STAT)
    assert ds.msg_qnum == 0 and ds.msg_lspid == ds.msg_lrpid == os.getpid()


def test_linked_failure_cancels_the_rest(ns: str) -> None:
    q = uipc.msgget(uipc.IPC_PRIVATE, 0o600)
    b = uipc.Batch()
    b.msgsnd(q, 1, b"kept")
    b.msgrcv(q, 64, 9, uipc.IPC_NOWAIT)    # no type-9 message: ENOMSG
    b.msgsnd(q, 2, b"never sent")
    b.msgrcv(q, 64, 0)
    with pytest.raises(uipc.BatchError) as info:
        b.submit()
    exc = info.value
    assert isinstance(exc, OSError) and exc.errno == errno.ENOMSG and exc.index == 1
    assert exc.results[0] is None
    assert [r.errno for r in exc.results[1:]] == [errno.ENOMSG, errno.ECANCELED, errno.ECANCELED]
    # the connection is in step and only the first message was queued
    assert uipc.msgrcv(q, 64, 0, uipc.IPC_NOWAIT) == (1, b"kept")
    assert uipc.msgctl(q, uipc.IPC_STAT).msg_qnum == 0


def test_unlinked_batch_runs_past_a_failure(ns: str) -> None:
    q = uipc.msgget(uipc.IPC_PRIVATE, 0o600)
    b = uipc.Batch(link=False)
    b.msgsnd(q, 1, b"a")
    b.msgsnd(q, 0, b"bad type")             # EINVAL
    b.msgsnd(q, 2, b"b")
    b.msgrcv(q, 64, 2)
    with pytest.raises(uipc.BatchError) as info:
        b.submit()
    assert info.value.index == 1 and info.value.errno == errno.EINVAL
    assert info.value.results[0] is None and info.value.results[2] is None
    assert info.value.results[3] == (2, b"b")
    assert uipc.msgrcv(q, 64, 0, uipc.IPC_NOWAIT) == (1, b"a")


def test_batch_bad_arguments_fail_before_anything_is_sent(ns: str) -> None:
    q = uipc.msgget(uipc.IPC_PRIVATE, 0o600)
    b = uipc.Batch()
    with pytest.raises(TypeError):
        b.msgsnd(q, 1, "str")  # type: ignore[arg-type]
    b = uipc.Batch()
    for _ in range(1024):
        b.msgsnd(q, 1, b"")
    with pytest.raises(ValueError):
        b.msgsnd(q, 1, b"")
    assert uipc.msgctl(q, uipc.IPC_STAT).msg_qnum == 0


def test_a_blocking_request_holds_back_the_rest_of_its_batch(ns: str) -> None:
    """Ping-pong in one write: send the ping, wait for the pong."""
    q = uipc.msgget(uipc.IPC_PRIVATE, 0o600)

    def ponger() -> int:
        n = 0
        for _ in range(3):
            mtype, text = uipc.msgrcv(q, 64, 1)
            uipc.msgsnd(q, 2, text.upper())
            n += 1
        return n

    child = Child(ponger)
    for word in (b"one", b"two", b"three"):
        b = uipc.Batch()
        b.msgsnd(q, 1, word)
        b.msgrcv(q, 64, 2)
        b.msgrcv(q, 64, 2, uipc.IPC_NOWAIT)
        with pytest.raises(uipc.BatchError) as info:
            b.submit()
        # the pong came back; the third request ran after it (and found none)
        assert info.value.results[1] == (2, word.upper())
        assert info.value.index == 2 and info.value.errno == errno.ENOMSG
    assert child.result() == 3


def test_ctrl_c_in_a_blocked_batch_interrupts_it_without_ghosts(ns: str) -> None:
    q = uipc.msgget(uipc.IPC_PRIVATE, 0o600)

    def blocked() -> str:
        b = uipc.Batch()
        b.msgsnd(q, 1, b"before")
        b.msgrcv(q, 64, 7)                 # blocks: nobody sends type 7
        b.msgsnd(q, 1, b"held back, never run")
        try:
            b.submit()
        except KeyboardInterrupt:
            uipc.msgsnd(q, 3, b"after ctrl-c")  # the connection is still in step
            return "KeyboardInterrupt"
        return "no interrupt"

    child = Child(blocked)
    wait_until(lambda: len(receivers(q)) == 1)
    os.kill(child.pid, signal.SIGINT)
    assert child.result() == "KeyboardInterrupt"
    assert receivers(q) == []
    assert uipc.msgrcv(q, 64, 1, uipc.IPC_NOWAIT) == (1, b"before")
    assert uipc.msgrcv(q, 64, 0, uipc.IPC_NOWAIT) == (3, b"after ctrl-c")
    with pytest.raises(OSError) as info:
        uipc.msgrcv(q, 64, 0, uipc.IPC_NOWAIT)
    assert info.value.errno == errno.ENOMSG


def test_kill_9_with_requests_held_back_leaves_nothing(ns: str) -> None:
    q = uipc.msgget(uipc.IPC_PRIVATE, 0o600)

    def blocked() -> None:
        b = uipc.Batch()
        b.msgrcv(q, 64, 7)
        for _ in range(100):
            b.msgsnd(q, 1, b"x" * 100)
        b.submit()

    child = Child(blocked)
    wait_until(lambda: len(receivers(q)) == 1)
    child.kill(signal.SIGKILL)
    wait_until(lambda: child.pid not in snapshot()["processes"])
    assert receivers(q) == [] and uipc.msgctl(q, uipc.IPC_STAT).msg_qnum == 0


def test_msgsnd_many_counts_like_sendmmsg(ns: str) -> None:
    q = uipc.msgget(uipc.IPC_PRIVATE, 0o600)
    ds = uipc.msgctl(q, uipc.IPC_STAT)
    import dataclasses
    uipc.msgctl(q, uipc.IPC_SET, dataclasses.replace(ds, msg_qbytes=100))
    assert uipc.msgsnd_many(q, [(1, b"a" * 40), (2, b"b" * 40)]) == 2
    # the third fits, the fourth would block: IPC_NOWAIT stops there
    assert uipc.msgsnd_many(q, [(3, b"c" * 20), (4, b"d" * 40)], uipc.IPC_NOWAIT) == 1
    # a failing first message raises its error
    with pytest.raises(OSError) as info:
        uipc.msgsnd_many(q, [(4, b"d" * 40)], uipc.IPC_NOWAIT)
    assert info.value.errno == errno.EAGAIN
    with pytest.raises(OSError) as info:
        uipc.msgsnd_many(q, [(0, b"bad type")])
    assert info.value.errno == errno.EINVAL
    assert uipc.msgsnd_many(q, []) == 0
    got = uipc.msgrcv_many(q, 64, 0, 10)
    assert got == [(1, b"a" * 40), (2, b"b" * 40), (3, b"c" * 20)]


def test_msgrcv_many_waits_for_the_first_then_takes_what_is_queued(ns: str) -> None:
    q = uipc.msgget(uipc.IPC_PRIVATE, 0o600)
    with pytest.raises(OSError) as info:
        uipc.msgrcv_many(q, 64, 0, 5, uipc.IPC_NOWAIT)
    assert info.value.errno == errno.ENOMSG

    child = Child(lambda: uipc.msgrcv_many(q, 64, 0, 5))
    wait_until(lambda: len(receivers(q)) == 1)
    # one message wakes it; it takes just that one (nothing else is queued)
    uipc.msgsnd(q, 1, b"first")
    assert child.result() == [(1, b"first")]

    uipc.msgsnd_many(q, [(i % 3 + 1, bytes([i])) for i in range(10)])
    assert uipc.msgrcv_many(q, 64, 2, 2) == [(2, b"\x01"), (2, b"\x04")]
    assert uipc.msgrcv_many(q, 64, -1, 100) == [(1, bytes([i])) for i in (0, 3, 6, 9)]
    # a message too big for msgsz stops the run (E2BIG is met by the next call)
    uipc.msgsnd(q, 2, b"much too long for eight bytes")
    assert uipc.msgrcv_many(q, 8, 0, 100) == [(3, b"\x02"), (3, b"\x05"), (2, b"\x07"), (3, b"\x08")]
    with pytest.raises(OSError) as info:
        uipc.msgrcv_many(q, 8, 0, 100)
    assert info.value.errno == errno.E2BIG
    for bad in (0, 1025):
        with pytest.raises(ValueError):
            uipc.msgrcv_many(q, 64, 0, bad)
    with pytest.raises(TypeError):
        uipc.msgrcv_many(q, 64, 0, 2.0)  # type: ignore[arg-type]


def test_msgrcv_many_woken_by_a_batch_takes_the_whole_batch(ns: str) -> None:
    q = uipc.msgget(uipc.IPC_PRIVATE, 0o600)
    child = Child(lambda: uipc.msgrcv_many(q, 64, 0, 1024))
    wait_until(lambda: len(receivers(q)) == 1)
    msgs = [(1, b"m%d" % i) for i in range(50)]
    assert uipc.msgsnd_many(q, msgs) == 50
    # woken by the first, it took the rest as the daemon ran the batch first
    assert child.result() == msgs


def test_message_queue_send_many_receive_many(ns: str) -> None:
    mq = uipc.MessageQueue()
    try:
        assert mq.send_many([b"plain", (7, b"typed")]) == 2
        assert mq.receive_many(10) == [(1, b"plain"), (7, b"typed")]
        with pytest.raises(OSError) as info:
            mq.receive_many(10, block=False)
        assert info.value.errno == errno.ENOMSG
    finally:
        mq.remove()


# --- the wire ------------------------------------------------------------------
class Wire:
    """A raw connection speaking the protocol, for flags the API never sets."""

    def __init__(self, path: str, ns: str) -> None:
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.connect(path)
        self.s.settimeout(10)
        self.dec = P.FrameDecoder(reply=True)
        self.s.sendall(P.encode_request(P.OPS_BY_NAME["hello"], 1, (P.VERSION, 0, 0), ns.encode()))
        assert self.reply()[:2] == (1, 0)

    def frame(self, req_id: int, name: str, args: tuple, tail: bytes = b"", flags: int = 0) -> bytes:
        op = P.OPS_BY_NAME[name]
        data = bytearray(P.encode_request(op, req_id, args, tail))
        struct.pack_into("<H", data, 8, op.code | flags)
        return bytes(data)

    def reply(self) -> tuple[int, int, bytes]:
        while True:
            f = self.dec.next_frame()
            if f is not P.NEED_DATA:
                return f  # type: ignore[return-value]
            data = self.s.recv(65536)
            assert data, "the daemon closed the connection"
            self.dec.feed(data)

    def close(self) -> None:
        self.s.close()


def _msgsnd(w: Wire, rid: int, q: int, mtype: int, text: bytes, flags: int = 0, msgflg: int = 0) -> bytes:
    return w.frame(rid, "msgsnd", (q, mtype, msgflg), text, flags)


def test_wire_chain_ends_at_the_first_unlinked_request(ns: str, daemon) -> None:
    q = uipc.msgget(uipc.IPC_PRIVATE, 0o600)
    w = Wire(str(daemon.socket), ns)
    L, S = P.OP_LINK, P.OP_SKIP_SUCCESS
    w.s.sendall(_msgsnd(w, 10, q, 0, b"bad", L)          # fails: EINVAL
                + _msgsnd(w, 11, q, 1, b"x", L | S)      # cancelled
                + _msgsnd(w, 12, q, 1, b"y")             # cancelled: ends the chain
                + _msgsnd(w, 13, q, 1, b"z", S)          # a new chain: runs, no reply
                + _msgsnd(w, 14, q, 2, b"w"))            # runs, replies
    got = [w.reply()[:2] for _ in range(4)]
    assert got == [(10, errno.EINVAL), (11, errno.ECANCELED), (12, errno.ECANCELED), (14, 0)]
    w.close()
    assert uipc.msgrcv_many(q, 64, 0, 10) == [(1, b"z"), (2, b"w")]


def test_wire_skip_success_still_reports_failures_and_shmat(ns: str, daemon) -> None:
    q = uipc.msgget(uipc.IPC_PRIVATE, 0o600)
    w = Wire(str(daemon.socket), ns)
    S = P.OP_SKIP_SUCCESS
    w.s.sendall(_msgsnd(w, 20, q, 1, b"ok", S) + _msgsnd(w, 21, q, -1, b"bad", S)
                + w.frame(22, "msgrcv", (q, 64, 0, 0), flags=S)   # a result: skipped too
                + _msgsnd(w, 23, q, 9, b"end"))
    assert w.reply()[:2] == (21, errno.EINVAL)
    assert w.reply()[:2] == (23, 0)
    # an attachment exists once shmat succeeds: its reply is never skipped
    shmid = uipc.shmget(uipc.IPC_PRIVATE, 4096, 0o600)
    w.s.sendall(w.frame(24, "shmat", (shmid, 0, 0), flags=S) + _msgsnd(w, 25, q, 9, b"end"))
    rid, status, payload = w.reply()
    assert (rid, status) == (24, 0)
    assert w.reply()[:2] == (25, 0)
    assert uipc.shmctl(shmid, uipc.IPC_STAT).shm_nattch == 1
    attach_id = P.SHMAT_RESULT.unpack_from(payload)[0]
    w.s.sendall(w.frame(26, "shmdt", (attach_id, 0)))
    assert w.reply()[:2] == (26, 0)
    assert uipc.shmctl(shmid, uipc.IPC_STAT).shm_nattch == 0
    w.close()
    assert uipc.msgrcv_many(q, 64, 0, 10) == [(9, b"end")] * 2


def test_wire_interrupt_of_a_held_back_request(ns: str, daemon) -> None:
    q = uipc.msgget(uipc.IPC_PRIVATE, 0o600)
    w = Wire(str(daemon.socket), ns)
    w.s.sendall(w.frame(30, "msgrcv", (q, 64, 5, 0)) + _msgsnd(w, 31, q, 1, b"held")
                + _msgsnd(w, 32, q, 1, b"held too"))
    wait_until(lambda: len(receivers(q)) == 1)
    assert uipc.msgctl(q, uipc.IPC_STAT).msg_qnum == 0   # the held-back ones did not run
    w.s.sendall(w.frame(0, "interrupt", (32,)))
    assert [w.reply()[:2] for _ in range(3)] == [(30, errno.EINTR), (31, errno.EINTR), (32, errno.EINTR)]
    assert receivers(q) == []
    # an interrupt for a request already answered changes nothing
    w.s.sendall(w.frame(0, "interrupt", (31,)) + _msgsnd(w, 33, q, 1, b"after"))
    assert w.reply()[:2] == (33, 0)
    w.close()
    assert uipc.msgrcv_many(q, 64, 0, 10) == [(1, b"after")]


def test_wire_msgrcv_many_bad_counts(ns: str, daemon) -> None:
    q = uipc.msgget(uipc.IPC_PRIVATE, 0o600)
    uipc.msgsnd(q, 1, b"kept")
    w = Wire(str(daemon.socket), ns)
    for rid, count in ((40, 0), (41, P.MAX_MSGS + 1), (42, 0xFFFFFFFF)):
        w.s.sendall(w.frame(rid, "msgrcv_many", (q, 64, 0, 0, count)))
        assert w.reply()[:2] == (rid, errno.EINVAL)
    w.s.sendall(w.frame(43, "msgrcv_many", (q, 64, 0, 0, 1), b"tail"))
    assert w.reply()[:2] == (43, errno.EINVAL)
    w.close()
    assert uipc.msgrcv(q, 64, 0, uipc.IPC_NOWAIT) == (1, b"kept")


def test_msgsnd_many_blocks_on_each_message_until_all_are_sent(ns: str) -> None:
    import dataclasses
    q = uipc.msgget(uipc.IPC_PRIVATE, 0o600)
    uipc.msgctl(q, uipc.IPC_SET, dataclasses.replace(uipc.msgctl(q, uipc.IPC_STAT), msg_qbytes=100))
    msgs = [(i + 1, bytes([i]) * 60) for i in range(5)]   # one fits at a time
    child = Child(lambda: uipc.msgsnd_many(q, msgs))
    got = []
    for _ in range(5):
        got.append(uipc.msgrcv(q, 64, 0))                    # each frees room for the next
    assert child.result() == 5 and got == msgs
    assert uipc.msgctl(q, uipc.IPC_STAT).msg_lspid == child.pid


def test_msgsnd_many_interrupted_midway_reports_what_was_sent(ns: str) -> None:
    import dataclasses
    q = uipc.msgget(uipc.IPC_PRIVATE, 0o600)
    uipc.msgctl(q, uipc.IPC_SET, dataclasses.replace(uipc.msgctl(q, uipc.IPC_STAT), msg_qbytes=100))
    child = Child(lambda: uipc.msgsnd_many(q, [(1, b"a" * 60), (2, b"b" * 60), (3, b"c" * 60)]))
    wait_until(lambda: len([w for m in snapshot()["msg"] if m["id"] == q for w in m["senders"]]) == 1)
    # the queue goes away while the second message waits: one was sent
    uipc.msgctl(q, uipc.IPC_RMID)
    assert child.result() == 1
    # nobody sent anything yet: EIDRM itself
    q = uipc.msgget(uipc.IPC_PRIVATE, 0o600)
    uipc.msgctl(q, uipc.IPC_SET, dataclasses.replace(uipc.msgctl(q, uipc.IPC_STAT), msg_qbytes=100))
    uipc.msgsnd(q, 9, b"z" * 60)

    def first_blocks() -> int:
        try:
            return uipc.msgsnd_many(q, [(1, b"a" * 60)])
        except OSError as exc:
            return -exc.errno

    child = Child(first_blocks)
    wait_until(lambda: len([w for m in snapshot()["msg"] if m["id"] == q for w in m["senders"]]) == 1)
    uipc.msgctl(q, uipc.IPC_RMID)
    assert child.result() == -errno.EIDRM


def test_msgsnd_many_wire_errors(ns: str, daemon) -> None:
    q = uipc.msgget(uipc.IPC_PRIVATE, 0o600)
    w = Wire(str(daemon.socket), ns)
    bad_tails = [b"", P.pack_msgs([]), P.pack_msgs([(1, b"x")])[:-1], P.pack_msgs([(1, b"x")]) + b"!",
                 P.pack_msgs([(1, b"")] * (P.MAX_MSGS + 1))]
    for i, tail in enumerate(bad_tails):
        w.s.sendall(w.frame(50 + i, "msgsnd_many", (q, 0), tail))
        assert w.reply()[:2] == (50 + i, errno.EINVAL), i
    w.s.sendall(w.frame(60, "msgsnd_many", (q, 0), P.pack_msgs([(1, b"ok"), (0, b"bad"), (2, b"never")])))
    rid, status, payload = w.reply()
    assert (rid, status) == (60, 0) and P.INT_RESULT.unpack_from(payload)[0] == 1
    w.close()
    assert uipc.msgrcv_many(q, 64, 0, 10) == [(1, b"ok")]
    with pytest.raises(ValueError):
        uipc.msgsnd_many(q, [(1, b"")] * 1025)
    with pytest.raises(TypeError):
        uipc.msgsnd_many(q, [(1, "text")])  # type: ignore[list-item]


def test_msgrcv_many_reply_stays_within_one_frame(ns: str) -> None:
    big = 4 * 1024 * 1024
    uipc.sysctl.set("kernel.msgmax", big)
    uipc.sysctl.set("kernel.msgmnb", 12 * big)
    q = uipc.msgget(uipc.IPC_PRIVATE, 0o600)
    msgs = [(i + 1, bytes([i]) * big) for i in range(10)]
    assert uipc.msgsnd_many(q, msgs) == 10   # in several requests of at most 8 MiB
    got: list = []
    while len(got) < 10:
        part = uipc.msgrcv_many(q, big, 0, 1024)
        assert len(part) == 1   # a reply takes another message only while under 2 MiB
        got += part
    assert got == msgs


def test_batch_across_the_request_id_wrap(ns: str) -> None:
    """Request ids go 0xFFFFFFFF -> 1 (0 is never used): replies still find
    their places in the batch."""
    from uipc.client import connection
    q = uipc.msgget(uipc.IPC_PRIVATE, 0o600)
    connection.get_connection()._next_id = 0xFFFFFFFF - 2
    b = uipc.Batch()
    for i in range(5):
        b.msgsnd(q, i + 1, b"m%d" % i)
    b.msgrcv(q, 64, 4)
    b.msgrcv(q, 64, 0)
    assert b.submit() == [None] * 5 + [(4, b"m3"), (1, b"m0")]
    assert connection.get_connection()._next_id == 5  # ...fe, ...ff, 1, 2, 3, 4, 5
    assert uipc.msgrcv(q, 64, 0) == (2, b"m1")
