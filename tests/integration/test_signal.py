"""uipc signals between real processes: queues read through signalfd by the
target, blocking reads and select woken by another process, delivery as a
real signal (a Python handler, a siginfo with the sender and the value),
permission across uids, SIGKILL, and what a killed process leaves behind.

Every process that blocks signals is a child: the test process's own uipc
mask stays empty, so nothing it left pending could ever reach it."""
from __future__ import annotations

import ctypes
import errno
import os
import resource
import select
import signal
from typing import Any

import pytest

import uipc
from tests.conformance.harness import wait_for
from tests.helpers import Child, Peer, as_nobody, errno_of

RT = 32  # the kernel's SIGRTMIN: uipc numbers are the kernel's
USR1, USR2 = int(signal.SIGUSR1), int(signal.SIGUSR2)


def waits(pid: int) -> list[str]:
    """What the process's threads sleep in, as the daemon sees it."""
    return [w["op"] for p in uipc.introspect.namespace()["process_details"] if p["pid"] == pid
            for w in p["waits"] or []]




def fields(r: uipc.SignalfdSiginfo) -> tuple[int, int, int, int, int, int]:
    return r.ssi_signo, r.ssi_code, r.ssi_pid, r.ssi_uid, r.ssi_int, r.ssi_ptr


def test_a_realtime_queue_with_values_is_read_in_order_through_signalfd(ns: str) -> None:
    sigs = {USR1, RT + 2, RT + 6}

    def target(me: Peer) -> Any:
        uipc.sigprocmask(uipc.SIG_BLOCK, sigs)
        fd = uipc.signalfd(-1, sigs, uipc.SFD_NONBLOCK)
        me.say("ready")
        me.hear()
        pending = uipc.sigpending()
        got = [fields(r) for r in uipc.read_siginfo(fd)]
        return pending, got, errno_of(lambda: uipc.read_siginfo(fd))

    peer = Peer(target)
    assert peer.expect() == "ready"
    me = os.getpid()
    uipc.sigqueue(peer.pid, RT + 6, 60)
    uipc.sigqueue(peer.pid, RT + 2, -20)
    uipc.kill(peer.pid, USR1)
    uipc.sigqueue(peer.pid, RT + 2, 0x1122334455667788)
    uipc.kill(peer.pid, USR1)  # coalesces with the first
    uipc.sigqueue(peer.pid, RT + 6, 61)
    peer.tell("go")
    pending, got, again = peer.result()
    assert pending == sigs
    uid = os.getuid()  # the sender's: root, or 65534 in the non-root run
    assert got == [(USR1, uipc.SI_USER, me, uid, 0, 0),
                   (RT + 2, uipc.SI_QUEUE, me, uid, -20, (1 << 64) - 20),
                   (RT + 2, uipc.SI_QUEUE, me, uid, 0x55667788, 0x1122334455667788),
                   (RT + 6, uipc.SI_QUEUE, me, uid, 60, 60),
                   (RT + 6, uipc.SI_QUEUE, me, uid, 61, 61)]
    assert again == errno.EAGAIN


def test_a_blocking_read_is_woken_by_a_signal_from_another_process(ns: str) -> None:
    def target(me: Peer) -> Any:
        uipc.sigprocmask(uipc.SIG_BLOCK, {RT + 1})
        fd = uipc.signalfd(-1, {RT + 1})
        me.say("ready")
        return [fields(r) for r in uipc.read_siginfo(fd)]

    peer = Peer(target)
    assert peer.expect() == "ready"
    wait_for(lambda: waits(peer.pid) == ["signalfd read"], "the reader asleep")
    uipc.sigqueue(peer.pid, RT + 1, 5)
    assert peer.result() == [(RT + 1, uipc.SI_QUEUE, os.getpid(), os.getuid(), 5, 5)]


def test_select_sees_the_signalfd_readable_while_a_signal_is_pending(ns: str) -> None:
    def target(me: Peer) -> Any:
        uipc.sigprocmask(uipc.SIG_BLOCK, {USR2})
        fd = uipc.signalfd(-1, {USR2}, uipc.SFD_NONBLOCK)
        seen = [select.select([fd], [], [], 0)[0] == [fd]]
        me.say("ready")
        seen.append(select.select([fd], [], [], 20)[0] == [fd])
        got = [r.ssi_signo for r in uipc.read_siginfo(fd)]
        seen.append(select.select([fd], [], [], 0)[0] == [fd])
        # a new mask for the same descriptor: SIGUSR2 is no longer read
        same = uipc.signalfd(fd, {USR1})
        me.say("updated")
        me.hear()
        seen.append(select.select([fd], [], [], 0)[0] == [fd])
        return seen, got, same == fd, uipc.sigpending()

    peer = Peer(target)
    assert peer.expect() == "ready"
    uipc.kill(peer.pid, USR2)
    assert peer.expect() == "updated"
    uipc.kill(peer.pid, USR2)
    peer.tell("look")
    assert peer.result() == ([False, True, False, False], [USR2], True, {USR2})


def test_unblocked_signals_arrive_as_real_ones_blocked_ones_when_unblocked(ns: str) -> None:
    def target(me: Peer) -> Any:
        got: list[int] = []
        signal.signal(USR1, lambda s, f: got.append(s))
        uipc.sigprocmask(uipc.SIG_BLOCK, {USR1})
        me.say("ready")
        me.hear()
        before = list(got), uipc.sigpending()
        uipc.sigprocmask(uipc.SIG_UNBLOCK, {USR1})
        after = list(got)  # delivered before sigprocmask returned
        me.say("unblocked")
        me.hear()
        wait_for(lambda: len(got) == 2, "the second signal's handler")
        return before, after, list(got)

    peer = Peer(target)
    assert peer.expect() == "ready"
    uipc.kill(peer.pid, USR1)
    peer.tell("sent")
    assert peer.expect() == "unblocked"
    uipc.kill(peer.pid, USR1)
    peer.tell("sent")
    assert peer.result() == (([], {USR1}), [USR1], [USR1, USR1])


_libc = ctypes.CDLL(None, use_errno=True)


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


def _take_siginfo(signo: int) -> dict[str, int]:
    """sigtimedwait(2) for ``signo`` (blocked for real): the siginfo's _rt
    fields (Python's sigwaitinfo has no si_value)."""
    sset = ctypes.create_string_buffer(128)
    assert _libc.sigemptyset(sset) == 0 and _libc.sigaddset(sset, signo) == 0
    info = ctypes.create_string_buffer(128)
    ts = _Timespec(20, 0)
    if _libc.sigtimedwait(sset, info, ctypes.byref(ts)) < 0:
        raise OSError(ctypes.get_errno(), "sigtimedwait")
    raw = info.raw

    def at(off: int, size: int, signed: bool) -> int:
        return int.from_bytes(raw[off:off + size], "little", signed=signed)
    return {"signo": at(0, 4, True), "code": at(8, 4, True), "pid": at(16, 4, True),
            "uid": at(20, 4, False), "value": at(24, 8, False)}


def test_a_real_signal_carries_the_sender_and_the_value(ns: str) -> None:
    """What survives delivery as a real signal (docs/deviations.md): the
    sender's pid and uid and the whole sigval; a kill() comes as SI_QUEUE."""
    def target(me: Peer) -> Any:
        signal.pthread_sigmask(signal.SIG_BLOCK, {40, USR2})  # the real mask, not uipc's
        uipc.sigprocmask(uipc.SIG_BLOCK, None)  # known to the daemon; nothing blocked there
        me.say("ready")
        return _take_siginfo(40), _take_siginfo(USR2)

    peer = Peer(target)
    assert peer.expect() == "ready"
    uipc.sigqueue(peer.pid, 40, 0x0102030405060708)
    uipc.kill(peer.pid, USR2)
    me = os.getpid()
    assert peer.result() == (
        {"signo": 40, "code": uipc.SI_QUEUE, "pid": me, "uid": os.getuid(), "value": 0x0102030405060708},
        {"signo": USR2, "code": uipc.SI_QUEUE, "pid": me, "uid": os.getuid(), "value": 0})


def test_a_fork_child_inherits_the_mask_but_not_the_pending_signals(ns: str) -> None:
    def parent() -> Any:
        uipc.sigprocmask(uipc.SIG_BLOCK, {USR1})
        uipc.kill(os.getpid(), USR1)
        kid = Child(lambda: (uipc.sigprocmask(uipc.SIG_BLOCK, None), uipc.sigpending()))
        return kid.result(), uipc.sigpending()

    assert Child(parent).result() == (({USR1}, set()), {USR1})


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to setuid to 65534")
def test_uid_65534_cannot_signal_roots_process_but_root_can_signal_it(ns: str) -> None:
    def target(me: Peer) -> Any:
        uipc.sigprocmask(uipc.SIG_BLOCK, {USR1, RT})
        me.say("ready")
        me.hear()
        return uipc.sigpending()

    root = Peer(target)
    assert root.expect() == "ready"
    try:
        got = as_nobody(lambda: (errno_of(lambda: uipc.kill(root.pid, USR1)),
                                 errno_of(lambda: uipc.kill(root.pid, 0)),
                                 errno_of(lambda: uipc.sigqueue(root.pid, RT, 1))))
    finally:
        root.tell("done")
    assert got == (errno.EPERM, errno.EPERM, errno.EPERM)
    assert root.result() == set()

    def nobody_target(me: Peer) -> Any:
        os.setgroups([])
        os.setgid(65534)
        os.setuid(65534)
        uipc.sigprocmask(uipc.SIG_BLOCK, {USR1})
        me.say("ready")
        me.hear()
        return uipc.sigpending()

    nobody = Peer(nobody_target)
    assert nobody.expect() == "ready"
    uipc.kill(nobody.pid, USR1)  # CAP_KILL
    nobody.tell("done")
    assert nobody.result() == {USR1}


def _queue_until_full(pid: int) -> int:
    n = 0
    while True:
        try:
            uipc.sigqueue(pid, RT + 3, n)
        except OSError as exc:
            assert exc.errno == errno.EAGAIN
            return n
        n += 1
        assert n < 100, "RLIMIT_SIGPENDING never reached"


def test_sigkill_of_a_process_with_pending_signals_frees_them(ns: str) -> None:
    """RLIMIT_SIGPENDING counts the target uid's queued signals: a process
    killed with pending ones gives them back (the next target can queue as
    many again), and no mask blocks SIGKILL."""
    def target(me: Peer) -> Any:
        uipc.sigprocmask(uipc.SIG_SETMASK, range(1, 65))  # everything it can
        me.say("ready")
        me.hear(timeout=60)

    soft, hard = resource.getrlimit(resource.RLIMIT_SIGPENDING)
    first, second = Peer(target), None
    try:
        assert first.expect() == "ready"
        resource.setrlimit(resource.RLIMIT_SIGPENDING, (4, hard))
        try:
            assert _queue_until_full(first.pid) == 4
            uipc.kill(first.pid, signal.SIGKILL)
            status = first.reap()
            assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
            wait_for(lambda: errno_of(lambda: uipc.kill(first.pid, 0)) == errno.ESRCH,
                     "the daemon to see the exit")
            second = Peer(target)
            assert second.expect() == "ready"
            assert _queue_until_full(second.pid) == 4
        finally:
            resource.setrlimit(resource.RLIMIT_SIGPENDING, (soft, hard))
    finally:
        first.cleanup()
        if second is not None:
            second.cleanup()


def test_errors_reach_the_caller_as_oserror(ns: str) -> None:
    assert errno_of(lambda: uipc.kill(os.getpid(), 65)) == errno.EINVAL
    assert errno_of(lambda: uipc.kill(0, 0)) == errno.EINVAL
    assert errno_of(lambda: uipc.sigprocmask(7, set())) == errno.EINVAL
    assert errno_of(lambda: uipc.signalfd(-1, set(), 0x1)) == errno.EINVAL
    e = uipc.eventfd(0)
    try:
        assert errno_of(lambda: uipc.signalfd(e, {USR1})) == errno.EINVAL
    finally:
        uipc.close(e)
    uipc.kill(os.getpid(), 0)
    with pytest.raises(ValueError):
        uipc.sigprocmask(uipc.SIG_BLOCK, {65})
    with pytest.raises(TypeError):
        uipc.signalfd(-1, "12")
