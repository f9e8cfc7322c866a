"""ipc/msg.c semantics on the pure core, with a fake clock."""
from __future__ import annotations

import errno

import pytest

from uipc.kernel import BLOCKED, KernelError
from uipc.uapi import (
    IPC_CREAT, IPC_EXCL, IPC_INFO, IPC_NOWAIT, IPC_PRIVATE, IPC_RMID, IPC_SET, IPC_STAT,
    MSG_COPY, MSG_EXCEPT, MSG_INFO, MSG_NOERROR, MSG_STAT, MSG_STAT_ANY, MSGMNB,
)
from uipc.uapi.msg import MsqidDs
import dataclasses

from tests.kernel.conftest import World

E = errno


def stat(w: World, t, qid) -> MsqidDs:
    return w.call(t, "msgctl", qid, IPC_STAT)[1]


# --- msgget and ids -----------------------------------------------------------
def test_ids_are_seq_times_32768_plus_index(w: World) -> None:
    t = w.proc_task()
    ids = [w.call(t, "msgget", IPC_PRIVATE, 0o600) for _ in range(3)]
    assert ids == [0, 1, 2]
    w.call(t, "msgctl", 1, IPC_RMID)
    # cyclic allocation: the next index is 3, not the freed 1
    assert w.call(t, "msgget", IPC_PRIVATE, 0o600) == 3


def test_seq_bumps_when_allocation_wraps(w: World) -> None:
    t = w.proc_task()
    for _ in range(64):
        w.call(t, "msgget", IPC_PRIVATE, 0)
    w.call(t, "msgctl", 5, IPC_RMID)
    # window is max(in_use*3/2, 64) = 94 -> index 64 is next, no wrap
    assert w.call(t, "msgget", IPC_PRIVATE, 0) == 64


def test_seq_after_wrap(w: World) -> None:
    # the same sequence on Linux 6.18 (unshare --ipc) gives exactly these ids
    t = w.proc_task()
    q0 = w.call(t, "msgget", IPC_PRIVATE, 0)
    w.call(t, "msgctl", q0, IPC_RMID)
    ids = [w.call(t, "msgget", IPC_PRIVATE, 0) for _ in range(63)]
    assert ids == list(range(1, 64))
    assert w.call(t, "msgget", IPC_PRIVATE, 0) == 64  # window is max(63*3/2, 64) = 94
    for q in ids:
        w.call(t, "msgctl", q, IPC_RMID)
    # one left: the window shrinks to 64, index 65 is past it, wrap to 0, seq 1
    assert [w.call(t, "msgget", IPC_PRIVATE, 0) for _ in range(3)] == [32768, 32769, 32770]


def test_msgget_key_rules(w: World) -> None:
    t = w.proc_task()
    assert w.err(t, "msgget", 0x1234, 0o600) == E.ENOENT
    q = w.call(t, "msgget", 0x1234, IPC_CREAT | 0o640)
    assert w.call(t, "msgget", 0x1234, 0) == q
    assert w.call(t, "msgget", 0x1234, IPC_CREAT) == q
    assert w.err(t, "msgget", 0x1234, IPC_CREAT | IPC_EXCL) == E.EEXIST
    # IPC_PRIVATE always makes a new queue
    assert w.call(t, "msgget", IPC_PRIVATE, IPC_CREAT | IPC_EXCL) != q
    ds = stat(w, t, q)
    assert ds.msg_perm.key == 0x1234 and ds.msg_perm.mode == 0o640
    assert ds.msg_qbytes == MSGMNB and ds.msg_ctime == 1000 and ds.msg_stime == 0


def test_msgget_permissions(w: World) -> None:
    owner = w.proc_task(uid=1000, gid=1000)
    q = w.call(owner, "msgget", 0x55, IPC_CREAT | 0o640)
    group = w.proc_task(uid=1001, gid=1000)
    other = w.proc_task(uid=1002, gid=1002)
    supp = w.proc_task(uid=1003, gid=1003, groups=frozenset({1000}))
    root = w.proc_task(uid=0, gid=0)
    assert w.call(group, "msgget", 0x55, 0o040) == q
    assert w.err(group, "msgget", 0x55, 0o020) == E.EACCES
    assert w.call(supp, "msgget", 0x55, 0o400) == q  # read asked in owner position
    assert w.err(other, "msgget", 0x55, 0o004) == E.EACCES
    assert w.call(other, "msgget", 0x55, 0) == q   # no bits asked, none needed
    assert w.call(root, "msgget", 0x55, 0o777) == q  # CAP_IPC_OWNER


def test_msgmni_limit(w: World) -> None:
    t = w.proc_task()
    t.ns.msg_ctlmni = 2
    w.call(t, "msgget", IPC_PRIVATE, 0)
    w.call(t, "msgget", IPC_PRIVATE, 0)
    with pytest.raises(KernelError) as info:
        w.call(t, "msgget", IPC_PRIVATE, 0)
    assert info.value.errno == E.ENOSPC and "msgmni" in info.value.detail


# --- msgsnd / msgrcv -------------------------------------------------------------
def test_send_receive_and_stat_fields(w: World) -> None:
    t = w.proc_task()
    q = w.call(t, "msgget", IPC_PRIVATE, 0o600)
    w.tick()
    assert w.call(t, "msgsnd", q, 5, b"hello", 0) is None
    ds = stat(w, t, q)
    assert (ds.msg_qnum, ds.msg_cbytes, ds.msg_lspid, ds.msg_stime) == (1, 5, t.pid, 1001)
    other = w.proc_task()
    w.tick()
    assert w.call(other, "msgrcv", q, 100, 0, 0) == (5, b"hello")
    ds = stat(w, t, q)
    assert (ds.msg_qnum, ds.msg_cbytes, ds.msg_lrpid, ds.msg_rtime) == (0, 0, other.pid, 1002)


def test_msgsnd_argument_errors(w: World) -> None:
    t = w.proc_task()
    q = w.call(t, "msgget", IPC_PRIVATE, 0o600)
    assert w.err(t, "msgsnd", q, 0, b"x", 0) == E.EINVAL
    assert w.err(t, "msgsnd", q, -3, b"x", 0) == E.EINVAL
    assert w.err(t, "msgsnd", -1, 1, b"x", 0) == E.EINVAL
    assert w.err(t, "msgsnd", q, 1, b"x" * 8193, 0) == E.EINVAL
    assert w.err(t, "msgsnd", q + 1, 1, b"x", 0) == E.EINVAL
    assert w.err(t, "msgsnd", q + 32768, 1, b"x", 0) == E.EINVAL  # wrong seq
    w.call(t, "msgsnd", q, 1, b"x" * 8192, 0)  # exactly msgmax is fine
    w.call(t, "msgsnd", q, 1, b"", 0)  # empty messages are fine


def test_msgrcv_type_selection(w: World) -> None:
    t = w.proc_task()
    q = w.call(t, "msgget", IPC_PRIVATE, 0o600)
    for mtype, text in [(3, b"a"), (1, b"b"), (2, b"c"), (1, b"d"), (5, b"e")]:
        w.call(t, "msgsnd", q, mtype, text, 0)
    assert w.call(t, "msgrcv", q, 10, 2, 0) == (2, b"c")
    assert w.call(t, "msgrcv", q, 10, 1, MSG_EXCEPT) == (3, b"a")
    assert w.call(t, "msgrcv", q, 10, -4, 0) == (1, b"b")  # lowest type <= 4, first of it
    assert w.call(t, "msgrcv", q, 10, -4, 0) == (1, b"d")
    assert w.call(t, "msgrcv", q, 10, -4, IPC_NOWAIT) == (5, b"e") if False else True
    assert w.err(t, "msgrcv", q, 10, -4, IPC_NOWAIT) == E.ENOMSG
    assert w.call(t, "msgrcv", q, 10, 0, 0) == (5, b"e")
    assert w.err(t, "msgrcv", q, 10, 0, IPC_NOWAIT) == E.ENOMSG


def test_msgrcv_long_min_type(w: World) -> None:
    t = w.proc_task()
    q = w.call(t, "msgget", IPC_PRIVATE, 0o600)
    w.call(t, "msgsnd", q, 7, b"x", 0)
    assert w.call(t, "msgrcv", q, 10, -(1 << 63), 0) == (7, b"x")


def test_e2big_keeps_message_and_noerror_truncates(w: World) -> None:
    t = w.proc_task()
    q = w.call(t, "msgget", IPC_PRIVATE, 0o600)
    w.call(t, "msgsnd", q, 1, b"0123456789", 0)
    assert w.err(t, "msgrcv", q, 4, 0, 0) == E.E2BIG
    assert stat(w, t, q).msg_qnum == 1
    assert w.call(t, "msgrcv", q, 4, 0, MSG_NOERROR) == (1, b"0123")
    assert stat(w, t, q).msg_cbytes == 0


def test_msgrcv_argument_errors(w: World) -> None:
    t = w.proc_task()
    q = w.call(t, "msgget", IPC_PRIVATE, 0o600)
    assert w.err(t, "msgrcv", -1, 10, 0, 0) == E.EINVAL
    assert w.err(t, "msgrcv", q, -1, 0, 0) == E.EINVAL
    assert w.err(t, "msgrcv", q + 1, 10, 0, 0) == E.EINVAL


def test_msg_copy(w: World) -> None:
    t = w.proc_task()
    q = w.call(t, "msgget", IPC_PRIVATE, 0o600)
    for i in range(3):
        w.call(t, "msgsnd", q, 10 + i, bytes([65 + i]) * (i + 1), 0)
    assert w.call(t, "msgrcv", q, 10, 1, MSG_COPY | IPC_NOWAIT) == (11, b"BB")
    assert w.call(t, "msgrcv", q, 10, 0, MSG_COPY | IPC_NOWAIT) == (10, b"A")
    assert stat(w, t, q).msg_qnum == 3  # copies leave the queue alone
    assert w.err(t, "msgrcv", q, 10, 3, MSG_COPY | IPC_NOWAIT) == E.ENOMSG
    assert w.err(t, "msgrcv", q, 10, -1, MSG_COPY | IPC_NOWAIT) == E.ENOMSG
    assert w.err(t, "msgrcv", q, 10, 0, MSG_COPY) == E.EINVAL
    assert w.err(t, "msgrcv", q, 10, 0, MSG_COPY | IPC_NOWAIT | MSG_EXCEPT) == E.EINVAL
    assert w.err(t, "msgrcv", q, 2, 2, MSG_COPY | IPC_NOWAIT) == E.E2BIG
    assert w.err(t, "msgrcv", q, 2, 2, MSG_COPY | IPC_NOWAIT | MSG_NOERROR) == E.EINVAL


def test_permissions_on_send_and_receive(w: World) -> None:
    owner = w.proc_task(uid=1000, gid=1000)
    q = w.call(owner, "msgget", IPC_PRIVATE, 0o620)  # owner rw, group w
    grp = w.proc_task(uid=2000, gid=1000)
    w.call(grp, "msgsnd", q, 1, b"x", 0)
    assert w.err(grp, "msgrcv", q, 10, 0, IPC_NOWAIT) == E.EACCES
    other = w.proc_task(uid=3000, gid=3000)
    assert w.err(other, "msgsnd", q, 1, b"x", 0) == E.EACCES
    assert w.err(other, "msgctl", q, IPC_STAT) == E.EACCES
    # MSG_STAT_ANY skips the read check, MSG_STAT does not
    assert w.call(other, "msgctl", 0, MSG_STAT_ANY)[0] == q
    assert w.err(other, "msgctl", 0, MSG_STAT) == E.EACCES


# --- blocking ------------------------------------------------------------------------
def test_blocked_receivers_woken_by_type_in_fifo_order(w: World) -> None:
    t = w.proc_task()
    q = w.call(t, "msgget", IPC_PRIVATE, 0o600)
    r1, r2, r3 = (w.proc_task() for _ in range(3))
    assert w.call(r1, "msgrcv", q, 100, 2, 0) is BLOCKED
    assert w.call(r2, "msgrcv", q, 100, 0, 0) is BLOCKED
    assert w.call(r3, "msgrcv", q, 100, 2, 0) is BLOCKED
    w.call(t, "msgsnd", q, 1, b"one", 0)   # r1 wants 2: r2 takes it
    assert w.done() == [(r2, (1, b"one"))]
    w.call(t, "msgsnd", q, 2, b"two", 0)   # r1 first in line
    assert w.done() == [(r1, (2, b"two"))]
    w.call(t, "msgsnd", q, 2, b"again", 0)
    assert w.done() == [(r3, (2, b"again"))]
    ds = stat(w, t, q)
    assert ds.msg_qnum == 0 and ds.msg_lrpid == r3.pid


def test_pipelined_send_skips_small_buffers_with_e2big(w: World) -> None:
    t = w.proc_task()
    q = w.call(t, "msgget", IPC_PRIVATE, 0o600)
    small, noerr, big = w.proc_task(), w.proc_task(), w.proc_task()
    w.call(small, "msgrcv", q, 2, 0, 0)
    w.call(noerr, "msgrcv", q, 3, 0, MSG_NOERROR)
    w.call(big, "msgrcv", q, 100, 0, 0)
    w.call(t, "msgsnd", q, 1, b"0123456789", 0)
    out = w.done()
    assert out[0][0] is small and isinstance(out[0][1], KernelError) and out[0][1].errno == E.E2BIG
    assert out[1] == (noerr, (1, b"012"))
    assert len(out) == 2
    w.call(t, "msgsnd", q, 1, b"z", 0)
    assert w.done() == [(big, (1, b"z"))]


def test_full_queue_blocks_sender_until_room(w: World) -> None:
    t = w.proc_task()
    q = w.call(t, "msgget", IPC_PRIVATE, 0o600)
    ds = stat(w, t, q)
    w.call(t, "msgctl", q, IPC_SET, dataclasses.replace(ds, msg_qbytes=10))
    w.call(t, "msgsnd", q, 1, b"12345678", 0)
    assert w.err(t, "msgsnd", q, 1, b"abc", IPC_NOWAIT) == E.EAGAIN
    s1, s2 = w.proc_task(), w.proc_task()
    assert w.call(s1, "msgsnd", q, 1, b"abcdef", 0) is BLOCKED
    assert w.call(s2, "msgsnd", q, 1, b"xyz", 0) is BLOCKED
    w.tick()
    assert w.call(t, "msgrcv", q, 100, 0, 0) == (1, b"12345678")
    # both fit now (6 + 3 <= 10), woken in order
    assert w.done() == [(s1, None), (s2, None)]
    assert [w.call(t, "msgrcv", q, 100, 0, 0)[1] for _ in range(2)] == [b"abcdef", b"xyz"]
    assert stat(w, t, q).msg_lspid == s2.pid


def test_message_count_limited_by_qbytes(w: World) -> None:
    t = w.proc_task()
    q = w.call(t, "msgget", IPC_PRIVATE, 0o600)
    ds = stat(w, t, q)
    w.call(t, "msgctl", q, IPC_SET, dataclasses.replace(ds, msg_qbytes=2))
    w.call(t, "msgsnd", q, 1, b"", IPC_NOWAIT)
    w.call(t, "msgsnd", q, 1, b"", IPC_NOWAIT)
    assert w.err(t, "msgsnd", q, 1, b"", IPC_NOWAIT) == E.EAGAIN


def test_sender_that_still_does_not_fit_keeps_waiting(w: World) -> None:
    t = w.proc_task()
    q = w.call(t, "msgget", IPC_PRIVATE, 0o600)
    w.call(t, "msgctl", q, IPC_SET, dataclasses.replace(stat(w, t, q), msg_qbytes=10))
    w.call(t, "msgsnd", q, 1, b"1234", 0)
    w.call(t, "msgsnd", q, 1, b"5678", 0)
    big, small = w.proc_task(), w.proc_task()
    assert w.call(big, "msgsnd", q, 1, b"x" * 9, 0) is BLOCKED
    assert w.call(small, "msgsnd", q, 1, b"yyy", 0) is BLOCKED
    w.call(t, "msgrcv", q, 100, 0, 0)  # 4 bytes free + 2 = 6: small fits, big does not
    assert w.done() == [(small, None)]
    assert [s["pid"] for s in [{"pid": x.task.pid} for x in
            t.ns.msg_ids.ipc_obtain_object_check(q).q_senders]] == [big.pid]


def test_rmid_wakes_everyone_with_eidrm(w: World) -> None:
    t = w.proc_task()
    q = w.call(t, "msgget", IPC_PRIVATE, 0o600)
    w.call(t, "msgctl", q, IPC_SET, dataclasses.replace(stat(w, t, q), msg_qbytes=1))
    w.call(t, "msgsnd", q, 1, b"x", 0)
    r = w.proc_task()
    s = w.proc_task()
    w.call(r, "msgrcv", q, 10, 9, 0)
    w.call(s, "msgsnd", q, 1, b"y", 0)
    w.call(t, "msgctl", q, IPC_RMID)
    out = dict(w.done())
    assert out[r].errno == E.EIDRM and out[s].errno == E.EIDRM
    assert w.err(t, "msgctl", q, IPC_STAT) == E.EINVAL
    assert t.ns.msg_hdrs == 0 and t.ns.msg_bytes == 0


def test_interrupt_gives_eintr_and_no_ghost(w: World) -> None:
    t = w.proc_task()
    q = w.call(t, "msgget", IPC_PRIVATE, 0o600)
    r = w.proc_task()
    w.call(r, "msgrcv", q, 10, 0, 0)
    assert w.k.interrupt(r, w.now)
    [(task, res)] = w.done()
    assert task is r and res.errno == E.EINTR
    w.call(t, "msgsnd", q, 1, b"kept", 0)
    assert w.done() == [] and stat(w, t, q).msg_qnum == 1
    assert not w.k.interrupt(r, w.now)


def test_thread_exit_cancels_only_its_request(w: World) -> None:
    t = w.proc_task()
    q = w.call(t, "msgget", IPC_PRIVATE, 0o600)
    a = w.proc_task()
    b = w.thread(a)
    w.call(a, "msgrcv", q, 10, 0, 0)
    w.call(b, "msgrcv", q, 10, 0, 0)
    w.k.exit_task(a, w.now)
    w.call(t, "msgsnd", q, 1, b"m", 0)
    assert w.done() == [(b, (1, b"m"))]


def test_process_exit_removes_waiters(w: World) -> None:
    t = w.proc_task()
    q = w.call(t, "msgget", IPC_PRIVATE, 0o600)
    r = w.proc_task()
    w.call(r, "msgrcv", q, 10, 0, 0)
    w.k.exit_process(r.process, w.now)
    w.call(t, "msgsnd", q, 1, b"m", 0)
    assert w.done() == [] and stat(w, t, q).msg_qnum == 1


def test_ipc_set_rechecks_sleeping_receivers(w: World) -> None:
    owner = w.proc_task(uid=1000, gid=1000)
    q = w.call(owner, "msgget", IPC_PRIVATE, 0o666)
    r = w.proc_task(uid=2000, gid=2000)
    w.call(r, "msgrcv", q, 10, 0, 0)
    ds = stat(w, owner, q)
    w.tick()
    w.call(owner, "msgctl", q, IPC_SET, dataclasses.replace(
        ds, msg_perm=dataclasses.replace(ds.msg_perm, mode=0o600)))
    [(task, res)] = w.done()
    assert task is r and res.errno == E.EACCES
    assert stat(w, owner, q).msg_ctime == 1001


def test_ipc_set_rules(w: World) -> None:
    owner = w.proc_task(uid=1000, gid=1000)
    q = w.call(owner, "msgget", IPC_PRIVATE, 0o666)
    ds = stat(w, owner, q)
    other = w.proc_task(uid=2000, gid=2000)
    assert w.err(other, "msgctl", q, IPC_SET, ds) == E.EPERM
    assert w.err(other, "msgctl", q, IPC_RMID) == E.EPERM
    assert w.err(owner, "msgctl", q, IPC_SET, dataclasses.replace(ds, msg_qbytes=MSGMNB + 1)) == E.EPERM
    bad = dataclasses.replace(ds, msg_perm=dataclasses.replace(ds.msg_perm, uid=-1))
    assert w.err(owner, "msgctl", q, IPC_SET, bad) == E.EINVAL
    new = dataclasses.replace(ds, msg_qbytes=100, msg_perm=dataclasses.replace(
        ds.msg_perm, uid=2000, gid=3000, mode=0o1777))
    w.call(owner, "msgctl", q, IPC_SET, new)
    got = stat(w, owner, q)
    assert (got.msg_perm.uid, got.msg_perm.gid, got.msg_perm.mode, got.msg_qbytes) == (2000, 3000, 0o777, 100)
    assert got.msg_perm.cuid == 1000
    # the creator may still remove it; root may raise qbytes over msgmnb
    root = w.proc_task()
    w.call(root, "msgctl", q, IPC_SET, dataclasses.replace(got, msg_qbytes=MSGMNB * 2))
    w.call(owner, "msgctl", q, IPC_RMID)


def test_msgctl_bad_commands(w: World) -> None:
    t = w.proc_task()
    q = w.call(t, "msgget", IPC_PRIVATE, 0o600)
    assert w.err(t, "msgctl", q, 99) == E.EINVAL
    assert w.err(t, "msgctl", -1, IPC_STAT) == E.EINVAL
    assert w.err(t, "msgctl", q, -1) == E.EINVAL
    # msgctl(2) on x86_64/arm64 does not strip IPC_64: an unknown command (only ipc(2) strips it)
    assert w.err(t, "msgctl", q, IPC_STAT | 0x100) == E.EINVAL


def test_info_and_stat_walk(w: World) -> None:
    t = w.proc_task()
    assert w.call(t, "msgctl", 0, IPC_INFO)[0] == 0
    a = w.call(t, "msgget", IPC_PRIVATE, 0o600)
    b = w.call(t, "msgget", IPC_PRIVATE, 0o600)
    w.call(t, "msgsnd", b, 1, b"abc", 0)
    w.call(t, "msgctl", a, IPC_RMID)
    idx, info = w.call(t, "msgctl", 0, MSG_INFO)
    assert idx == 1 and info.msgpool == 1 and info.msgmap == 1 and info.msgtql == 3
    idx, info = w.call(t, "msgctl", 0, IPC_INFO)
    assert (info.msgmax, info.msgmnb, info.msgmni, info.msgssz, info.msgseg) == (8192, 16384, 32000, 16, 0xFFFF)
    assert (info.msgpool, info.msgmap, info.msgtql) == (512000, 16384, 16384)
    assert w.err(t, "msgctl", 0, MSG_STAT) == E.EINVAL
    assert w.call(t, "msgctl", 1, MSG_STAT)[0] == b
    assert w.call(t, "msgctl", 1 + 32768, MSG_STAT_ANY)[0] == b  # index is masked


def test_next_id_sysctl(w: World) -> None:
    from uipc.kernel import sysctl
    t = w.proc_task()
    sysctl.set(t.ns, "kernel.msg_next_id", 5 + 32768 * 3)
    assert w.call(t, "msgget", IPC_PRIVATE, 0) == 5 + 32768 * 3
    assert sysctl.get(t.ns, "kernel.msg_next_id") == "-1"
    assert w.call(t, "msgget", IPC_PRIVATE, 0) == 0


def test_namespace_freed_with_its_last_process(w: World) -> None:
    w.k.create_namespace("test")
    t = w.proc_task(ns="test")
    w.call(t, "msgget", 0x77, IPC_CREAT | 0o600)
    root_ns = w.proc_task()
    assert w.err(root_ns, "msgget", 0x77, 0) == E.ENOENT
    w.k.exit_process(t.process, w.now)
    assert "test" not in w.k.namespaces
