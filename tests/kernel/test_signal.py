"""kernel/signal.c and fs/signalfd.c on the pure core: generation, coalescing,
real-time queues, dequeue order, masks, RLIMIT_SIGPENDING, permission,
delivery as real signals (Kernel.signals), process life, signalfd reads and
poll with the fake clock."""
from __future__ import annotations

import errno as E
import itertools
from typing import Any

import pytest

from tests.kernel.conftest import World
from uipc.kernel import BLOCKED, Cred, Kernel, Task
from uipc.kernel.file import POLLIN
from uipc.kernel.signal import (
    SIGPENDING, SigInfo, SigPending, dequeue_signal, next_signal, send_sig_info, sigmask,
    signal_struct,
)
from uipc.kernel.signalfd import SFD_CLOEXEC, SFD_NONBLOCK
from uipc.kernel.task import CAP_KILL
from uipc.uapi.signalfd import (
    SI_QUEUE, SI_USER, SIG_BLOCK, SIG_SETMASK, SIG_UNBLOCK, SIGBUS, SIGCONT, SIGHUP, SIGKILL,
    SIGSEGV, SIGSTOP, SIGSYS, SIGTERM, SIGTSTP, SIGUSR1, SIGUSR2, SignalfdSiginfo,
)

RT = 32  # SIGRTMIN, the kernel's
LIMIT = 1 << 20  # an RLIMIT_SIGPENDING no test reaches unless it means to
_inos = itertools.count(5000)


def mask_of(*sigs: int) -> int:
    m = 0
    for s in sigs:
        m |= sigmask(s)
    return m


def block(w: World, t: Task, *sigs: int) -> int:
    return w.call(t, "rt_sigprocmask", SIG_BLOCK, 1, mask_of(*sigs))


def sigqueue(w: World, t: Task, pid: int, sig: int, value: int = 0, rlimit: int = LIMIT) -> Any:
    return w.call(t, "rt_sigqueueinfo", pid, sig, value, rlimit)


def kill(w: World, t: Task, pid: int, sig: int, rlimit: int = LIMIT) -> Any:
    return w.call(t, "kill", pid, sig, rlimit)


def sfd(w: World, t: Task, *sigs: int, flags: int = SFD_NONBLOCK, fd: int = -1) -> int:
    new = w.call(t, "signalfd4", fd, mask_of(*sigs), flags)
    ino = next(_inos)
    w.k.install_file(t, new, ino)
    return ino


def records(w: World, t: Task, fd: int, n: int = 16) -> list[tuple[int, int, int, int]]:
    """(signo, code, pid, int) of each record one read returns."""
    raw = w.call(t, "read", fd, 128 * n)
    return [(r.ssi_signo, r.ssi_code, r.ssi_pid, r.ssi_int)
            for r in SignalfdSiginfo.unpack_all(raw)]


def pending(w: World, t: Task) -> set[int]:
    m = w.call(t, "rt_sigpending") & ((1 << 64) - 1)
    return {s for s in range(1, 65) if m & sigmask(s)}


# --- generation and dequeue ----------------------------------------------------------
def test_standard_signals_coalesce_and_realtime_ones_queue_with_their_values(w: World) -> None:
    t = w.proc_task()
    block(w, t, SIGUSR1, RT + 2)
    fd = sfd(w, t, SIGUSR1, RT + 2)
    for v in (7, 8, 9):
        sigqueue(w, t, t.pid, RT + 2, v)
        kill(w, t, t.pid, SIGUSR1)
    assert records(w, t, fd) == [(SIGUSR1, SI_USER, t.pid, 0), (RT + 2, SI_QUEUE, t.pid, 7),
                                 (RT + 2, SI_QUEUE, t.pid, 8), (RT + 2, SI_QUEUE, t.pid, 9)]
    assert w.k.signals == []  # blocked: nothing was delivered for real


def test_dequeue_is_lowest_first_with_synchronous_signals_before_the_rest(w: World) -> None:
    t = w.proc_task()
    sigs = [RT + 5, SIGTERM, RT + 1, SIGUSR2, SIGSYS, SIGHUP, SIGBUS]
    block(w, t, *sigs)
    fd = sfd(w, t, *sigs)
    for s in sigs:
        kill(w, t, t.pid, s)
    got = [r[0] for r in records(w, t, fd)]
    assert got == [SIGBUS, SIGSYS, SIGHUP, SIGUSR2, SIGTERM, RT + 1, RT + 5]


def test_next_signal_takes_the_first_word_synchronous_preference() -> None:
    p = SigPending(signal=mask_of(SIGHUP, SIGSEGV, RT))
    assert next_signal(p, 0) == SIGSEGV
    assert next_signal(p, mask_of(SIGSEGV)) == SIGHUP
    assert next_signal(p, mask_of(SIGSEGV, SIGHUP)) == RT
    assert next_signal(p, mask_of(SIGSEGV, SIGHUP, RT)) == 0


def test_a_read_returns_as_many_records_as_fit_and_keeps_the_rest(w: World) -> None:
    t = w.proc_task()
    block(w, t, RT + 1)
    fd = sfd(w, t, RT + 1)
    for v in range(5):
        sigqueue(w, t, t.pid, RT + 1, v)
    assert [r[3] for r in records(w, t, fd, 2)] == [0, 1]
    assert len(w.call(t, "read", fd, 128 * 2 + 127)) == 256  # a partial record does not count
    assert [r[3] for r in records(w, t, fd)] == [4]
    assert w.err(t, "read", fd, 128) == E.EAGAIN
    assert w.err(t, "read", fd, 127) == E.EINVAL


def test_sigqueue_value_is_the_whole_sigval(w: World) -> None:
    t = w.proc_task()
    block(w, t, RT)
    fd = sfd(w, t, RT)
    sigqueue(w, t, t.pid, RT, -(1 << 63) + 0x1_0000_0002)
    (r,) = SignalfdSiginfo.unpack_all(w.call(t, "read", fd, 128))
    assert (r.ssi_ptr, r.ssi_int, r.ssi_uid) == ((1 << 63) + 0x1_0000_0002, 2, 0)


def test_a_stop_signal_discards_a_pending_sigcont_and_sigcont_the_stops(w: World) -> None:
    t = w.proc_task()
    block(w, t, SIGCONT, SIGTSTP)
    kill(w, t, t.pid, SIGCONT)
    kill(w, t, t.pid, SIGTSTP)
    assert pending(w, t) == {SIGTSTP}
    kill(w, t, t.pid, SIGCONT)
    assert pending(w, t) == {SIGCONT}


# --- masks and real delivery -------------------------------------------------------
def test_an_unblocked_signal_is_sent_for_real_and_a_blocked_one_when_unblocked(w: World) -> None:
    t, other = w.proc_task(), w.proc_task()
    kill(w, other, t.pid, SIGUSR1)
    # a kill's real signal goes as SI_QUEUE: the kernel lets no one forge SI_USER
    assert w.k.signals == [(t.pid, SIGUSR1, SI_QUEUE, other.pid, 0, 0)]
    w.k.signals.clear()
    block(w, t, SIGUSR1, RT + 3)
    sigqueue(w, other, t.pid, RT + 3, 11)
    kill(w, other, t.pid, SIGUSR1)
    sigqueue(w, other, t.pid, RT + 3, 12)
    kill(w, other, t.pid, SIGUSR1)
    assert w.k.signals == [] and pending(w, t) == {SIGUSR1, RT + 3}
    old = w.call(t, "rt_sigprocmask", SIG_UNBLOCK, 1, mask_of(SIGUSR1, RT + 3))
    assert old == mask_of(SIGUSR1, RT + 3)
    assert w.k.signals == [(t.pid, SIGUSR1, SI_QUEUE, other.pid, 0, 0),
                           (t.pid, RT + 3, SI_QUEUE, other.pid, 0, 11),
                           (t.pid, RT + 3, SI_QUEUE, other.pid, 0, 12)]
    assert pending(w, t) == set() and w.k.quota.held(SIGPENDING, 0) == 0


def test_sigprocmask_how_and_sigkill_sigstop_never_blocked(w: World) -> None:
    t = w.proc_task()
    assert block(w, t, SIGKILL, SIGSTOP, SIGUSR1, 64) == 0
    assert w.call(t, "rt_sigprocmask", 99, 0, 0) & ((1 << 64) - 1) == mask_of(SIGUSR1, 64)
    assert w.err(t, "rt_sigprocmask", 3, 1, 0) == E.EINVAL
    assert w.call(t, "rt_sigprocmask", SIG_UNBLOCK, 1, mask_of(64)) < 0  # bit 63: an i64
    assert w.call(t, "rt_sigprocmask", SIG_SETMASK, 1, mask_of(SIGHUP)) == mask_of(SIGUSR1)
    assert w.call(t, "rt_sigprocmask", SIG_BLOCK, 0, 0) == mask_of(SIGHUP)
    block(w, t, *range(1, 65))
    kill(w, t, t.pid, SIGKILL)
    kill(w, t, t.pid, SIGSTOP)
    assert [s[1] for s in w.k.signals] == [SIGKILL, SIGSTOP]
    assert pending(w, t) == set()


def test_sigpending_shows_only_blocked_pending_signals(w: World) -> None:
    """A daemon that may not send real signals keeps an unblocked one pending
    (readable by signalfd); sigpending shows only what the mask blocks."""
    w.k = Kernel(owner_uid=1000)
    t = w.proc_task(uid=2000)
    kill(w, t, t.pid, SIGUSR2)
    assert w.k.signals == [] and pending(w, t) == set()
    fd = sfd(w, t, SIGUSR2)
    assert [r[0] for r in records(w, t, fd)] == [SIGUSR2]


# --- RLIMIT_SIGPENDING -----------------------------------------------------------------
def test_rlimit_sigpending_eagain_for_sigqueue_and_lost_info_for_the_rest(w: World) -> None:
    t = w.proc_task(uid=1000)
    block(w, t, RT, RT + 1, SIGUSR1)
    fd = sfd(w, t, RT, RT + 1, SIGUSR1)
    sigqueue(w, t, t.pid, RT, 1, rlimit=2)
    sigqueue(w, t, t.pid, RT, 2, rlimit=2)
    assert w.err(t, "rt_sigqueueinfo", t.pid, RT, 3, 2) == E.EAGAIN
    kill(w, t, t.pid, RT + 1, rlimit=2)          # kill: pending, its siginfo lost
    sigqueue(w, t, t.pid, SIGUSR1, 5, rlimit=2)  # a standard signal: the same
    assert w.k.quota.held(SIGPENDING, 1000) == 2
    assert records(w, t, fd) == [(SIGUSR1, SI_USER, 0, 0), (RT, SI_QUEUE, t.pid, 1),
                                 (RT, SI_QUEUE, t.pid, 2), (RT + 1, SI_USER, 0, 0)]
    assert w.k.quota.held(SIGPENDING, 1000) == 0


def test_kill_of_a_standard_signal_passes_the_limit(w: World) -> None:
    t = w.proc_task()
    block(w, t, SIGUSR1)
    fd = sfd(w, t, SIGUSR1)
    kill(w, t, t.pid, SIGUSR1, rlimit=0)
    assert records(w, t, fd) == [(SIGUSR1, SI_USER, t.pid, 0)]


def test_the_count_is_per_target_uid_across_processes(w: World) -> None:
    a, b, sender = w.proc_task(uid=7), w.proc_task(uid=7), w.proc_task()
    for t in (a, b):
        block(w, t, RT)
    sigqueue(w, sender, a.pid, RT, rlimit=2)
    sigqueue(w, sender, b.pid, RT, rlimit=2)
    assert w.err(sender, "rt_sigqueueinfo", b.pid, RT, 0, 2) == E.EAGAIN
    w.k.exit_process(a.process)  # its record is freed with it
    sigqueue(w, sender, b.pid, RT, rlimit=2)
    assert w.k.quota.held(SIGPENDING, 7) == 2


# --- permission and errors -------------------------------------------------------------
@pytest.mark.parametrize("sender, target, ok", [
    (Cred.of(1000, 1000), Cred.of(1000, 1000), True),
    (Cred(uid=1000, gid=0, euid=0, egid=0), Cred.of(1000, 1000), True),   # real uid matches
    (Cred(uid=0, gid=0, euid=1000, egid=0), Cred.of(1000, 1000), True),   # effective uid
    (Cred.of(1000, 1000), Cred(uid=5, gid=0, euid=1000, egid=0), True),   # target's other uid
    (Cred.of(65534, 65534), Cred.of(0, 0), False),
    (Cred.of(65534, 65534, caps=frozenset({CAP_KILL})), Cred.of(0, 0), True),
])
def test_kill_ok_by_cred(w: World, sender: Cred, target: Cred, ok: bool) -> None:
    s = w.k.new_task(w.k.new_process(201, sender))
    t = w.k.new_task(w.k.new_process(202, target))
    block(w, t, SIGUSR1)
    for name, args in (("kill", (202, 0, LIMIT)), ("kill", (202, SIGUSR1, LIMIT)),
                       ("rt_sigqueueinfo", (202, RT, 1, LIMIT))):
        if ok:
            w.call(s, name, *args)
        else:
            assert w.err(s, name, *args) == E.EPERM
    assert pending(w, t) == ({SIGUSR1} if ok else set())


def test_errors_in_the_kernels_order(w: World) -> None:
    t, root = w.proc_task(uid=65534), w.proc_task()
    assert w.err(t, "kill", 999999, 100, LIMIT) == E.ESRCH   # no process before a bad signal
    assert w.err(t, "kill", root.pid, 65, LIMIT) == E.EINVAL  # a bad signal before EPERM
    assert w.err(t, "kill", root.pid, -1, LIMIT) == E.EINVAL
    assert w.err(t, "kill", root.pid, 0, LIMIT) == E.EPERM
    assert w.err(t, "kill", 0, 0, LIMIT) == E.EINVAL          # process groups: not modelled
    assert w.err(t, "rt_sigqueueinfo", 0, 1, 0, LIMIT) == E.ESRCH
    kill(w, t, t.pid, 0)
    w.k.exit_process(root.process)
    assert w.err(t, "kill", root.pid, 0, LIMIT) == E.ESRCH


# --- process life ----------------------------------------------------------------------
def test_fork_inherits_the_mask_not_the_pending_set_and_exec_keeps_both(w: World) -> None:
    parent, child = w.proc_task(), w.proc_task()
    block(w, parent, SIGUSR1)
    kill(w, parent, parent.pid, SIGUSR1)
    child.process.ppid = parent.pid
    w.call(child, "fork", parent.pid, [])
    assert w.call(child, "rt_sigprocmask", 0, 0, 0) == mask_of(SIGUSR1)
    assert pending(w, child) == set() and pending(w, parent) == {SIGUSR1}
    w.k.exec_process(parent.process)
    assert pending(w, parent) == {SIGUSR1}
    assert w.call(parent, "rt_sigprocmask", 0, 0, 0) == mask_of(SIGUSR1)


def test_exit_frees_pending_records(w: World) -> None:
    t, sender = w.proc_task(uid=9), w.proc_task()
    block(w, t, RT, SIGUSR1)
    for v in range(3):
        sigqueue(w, sender, t.pid, RT, v)
    kill(w, sender, t.pid, SIGUSR1)
    assert w.k.quota.held(SIGPENDING, 9) == 4
    w.k.exit_process(t.process)
    assert w.k.quota.held(SIGPENDING, 9) == 0


# --- signalfd ------------------------------------------------------------------------
def test_signalfd4_flags_and_descriptors(w: World) -> None:
    t = w.proc_task()
    assert w.err(t, "signalfd4", -1, 0, 0x1) == E.EINVAL
    assert w.err(t, "signalfd4", 424242, 0, 0) == E.EBADF
    efd = w.call(t, "eventfd2", 0, 0)
    w.k.install_file(t, efd, 4040)
    assert w.err(t, "signalfd4", 4040, 0, 0) == E.EINVAL
    fd = sfd(w, t, SIGUSR1, flags=SFD_CLOEXEC)
    assert t.process.files.get_cloexec(fd)
    assert w.err(t, "write", fd, b"x" * 128) == E.EINVAL


def test_signalfd_never_reads_sigkill_or_sigstop_and_only_its_mask(w: World) -> None:
    t = w.proc_task()
    block(w, t, SIGUSR1, SIGUSR2)
    fd = sfd(w, t, SIGKILL, SIGSTOP, SIGUSR2)
    kill(w, t, t.pid, SIGUSR1)
    assert w.err(t, "read", fd, 128) == E.EAGAIN
    kill(w, t, t.pid, SIGUSR2)
    assert [r[0] for r in records(w, t, fd)] == [SIGUSR2]
    assert pending(w, t) == {SIGUSR1}
    assert file_of(t, fd).private_data.ctx.sigmask == mask_of(SIGUSR2)


def file_of(t: Task, fd: int) -> Any:
    return t.process.files.get(fd)


def test_an_update_changes_the_mask_of_every_descriptor(w: World) -> None:
    t, child = w.proc_task(), w.proc_task()
    block(w, t, SIGUSR1, SIGUSR2)
    fd = sfd(w, t, SIGUSR1)
    child.process.ppid = t.pid
    w.call(child, "fork", t.pid, [])  # the child shares the old file
    kill(w, t, t.pid, SIGUSR2)
    assert w.err(t, "read", fd, 128) == E.EAGAIN
    new = sfd(w, t, SIGUSR2, fd=fd, flags=0)
    assert new != fd and file_of(t, new).f_flags == file_of(t, fd).f_flags  # non-blocking still
    # the child's descriptor of the old file reads by the new mask (its own signals)
    assert file_of(child, fd).private_data.ctx is file_of(t, new).private_data.ctx
    kill(w, t, child.pid, SIGUSR2)
    assert [r[0] for r in records(w, child, fd)] == [SIGUSR2]
    assert [r[0] for r in records(w, t, new)] == [SIGUSR2]
    # the client dup2'd the new descriptor over the old one; when the old
    # file's last descriptor goes, it goes in every process
    w.k.doorbell_closed(fd)
    assert fd not in t.process.files and fd not in child.process.files
    assert new in t.process.files


def test_a_blocking_read_sleeps_until_a_signal_of_its_mask_is_pending(w: World) -> None:
    t, sender = w.proc_task(), w.proc_task()
    block(w, t, SIGUSR1, SIGUSR2)
    fd = sfd(w, t, SIGUSR2, flags=0)
    assert w.call(t, "read", fd, 128 * 4) is BLOCKED
    kill(w, sender, t.pid, SIGUSR1)  # not its mask: asleep again
    assert w.done() == []
    sigqueue(w, sender, t.pid, SIGUSR2, 3)
    ((task, raw),) = w.done()
    assert task is t
    assert [(r.ssi_signo, r.ssi_pid, r.ssi_int) for r in SignalfdSiginfo.unpack_all(raw)] == [
        (SIGUSR2, sender.pid, 3)]
    assert pending(w, t) == {SIGUSR1}


def test_a_blocked_read_is_interrupted_with_eintr(w: World) -> None:
    t = w.proc_task()
    fd = sfd(w, t, SIGUSR1, flags=0)
    assert w.call(t, "read", fd, 128) is BLOCKED
    assert w.k.interrupt(t)
    ((_, err),) = w.done()
    assert err.errno == E.EINTR
    assert len(signal_struct(t.process).signalfd_wqh) == 0


def test_poll_and_the_doorbell_follow_the_owners_pending_set(w: World) -> None:
    t, other = w.proc_task(), w.proc_task()
    block(w, t, SIGUSR1, SIGUSR2)
    fd = sfd(w, t, SIGUSR1)
    file = file_of(t, fd)
    assert file.f_op.poll(w.k, None, file, None) == 0
    w.k.poll_dirty.clear()
    kill(w, other, t.pid, SIGUSR2)  # not in its mask: the doorbell stays
    assert file not in w.k.poll_dirty
    kill(w, other, t.pid, SIGUSR1)
    assert file in w.k.poll_dirty and file.f_op.poll(w.k, None, file, None) == POLLIN
    assert w.call(t, "poll", 0, [fd, POLLIN]) == [POLLIN]
    w.k.poll_dirty.clear()
    records(w, t, fd)
    assert file in w.k.poll_dirty and file.f_op.poll(w.k, None, file, None) == 0


def test_a_sleeping_poll_is_woken_by_a_signal_and_times_out_without_one(w: World) -> None:
    t, other = w.proc_task(), w.proc_task()
    block(w, t, SIGUSR1)
    fd = sfd(w, t, SIGUSR1)
    assert w.call(t, "poll", 5.0, [fd, POLLIN]) is BLOCKED
    w.k.advance(w.tick(6.0))
    assert w.done() == [(t, [0])]
    assert w.call(t, "poll", 5.0, [fd, POLLIN]) is BLOCKED
    kill(w, other, t.pid, SIGUSR1)
    assert w.done() == [(t, [POLLIN])]


def test_release_forgets_the_file_and_exit_clears_the_doorbell(w: World) -> None:
    t, child = w.proc_task(), w.proc_task()
    block(w, t, SIGUSR1)
    fd = sfd(w, t, SIGUSR1)
    child.process.ppid = t.pid
    w.call(child, "fork", t.pid, [])
    kill(w, t, t.pid, SIGUSR1)
    file = file_of(t, fd)
    w.k.poll_dirty.clear()
    w.k.exit_process(t.process)  # the child keeps the file; its owner's signals are gone
    assert file in w.k.poll_dirty and file.f_op.poll(w.k, None, file, None) == 0
    w.call(child, "close", fd, 0)
    assert signal_struct(t.process).signalfds == {}


def test_signals_the_kernel_sends_follow_the_mask_too(w: World) -> None:
    """send_sig (a pipe's SIGPIPE) and send_sig_info (mq_notify's SI_MESGQ)
    need no permission and are pending or real by the target's uipc mask."""
    from uipc.kernel.signal import SigInfo, send_sig, send_sig_info
    t, other = w.proc_task(uid=5), w.proc_task(uid=6)
    block(w, t, 13)
    send_sig(w.k, 13, t.process, t)
    send_sig_info(w.k, t.process, SigInfo(RT, -3, other.pid, 6, 77))
    assert pending(w, t) == {13}
    assert w.k.signals == [(t.pid, RT, -3, other.pid, 6, 77)]


# --- the queue's cost: one FIFO per signal number ----------------------------------------
class _Watched(SigInfo):
    """A siginfo counting the reads of its si_signo (``reads``, all of them
    together): a dequeue or flush that walks other signals' records shows."""

    __slots__ = ()
    reads = 0

    def __getattribute__(self, name: str) -> Any:
        if name == "si_signo":
            _Watched.reads += 1
        return super().__getattribute__(name)


def test_dequeue_and_flush_never_walk_other_signals_records(w: World) -> None:
    """collect_signal and flush_sigqueue_mask touch only the records of the
    signal they take: 1000 records of RT+1 queued before RT's and SIGCONT's
    are not read while those are dequeued or discarded (a walk of one list
    read each of them every time: the daemon's cost of a read grew with
    everything else queued)."""
    t = w.proc_task()
    block(w, t, RT, RT + 1, SIGCONT, SIGTSTP)
    for v in range(1000):
        send_sig_info(w.k, t.process, _Watched(RT + 1, SI_QUEUE, 0, 0, v))
    for v in range(10):
        sigqueue(w, t, t.pid, RT, v)
    kill(w, t, t.pid, SIGCONT)
    _Watched.reads = 0
    kill(w, t, t.pid, SIGTSTP)  # discards the pending SIGCONT (prepare_signal)
    got = [dequeue_signal(w.k, t.process, ~mask_of(RT)) for _ in range(10)]
    assert [i.si_value for i in got if i is not None] == list(range(10))
    assert _Watched.reads == 0
    assert pending(w, t) == {RT + 1, SIGTSTP}
    assert len(signal_struct(t.process).shared_pending) == 1001
    assert w.k.quota.held(SIGPENDING, 0) == 1001


def test_interleaved_arrivals_keep_dequeue_order_and_arrival_order_for_procfs(w: World) -> None:
    """Per-signal FIFOs change no order: a read still takes the lowest
    number first and each number's records oldest first; ``records`` (what
    /proc's process entry lists) is still arrival order across numbers; a
    flush of some numbers keeps the others' records, order and charge."""
    t = w.proc_task(uid=9)
    sender = w.proc_task()
    block(w, t, RT, RT + 1, RT + 3, SIGUSR1, SIGCONT, SIGTSTP)
    arrivals = [(RT + 3, 1), (RT + 1, 2), (RT, 3), (RT + 1, 4), (RT + 3, 5), (RT, 6)]
    for s, v in arrivals:
        sigqueue(w, sender, t.pid, s, v)
    kill(w, sender, t.pid, SIGTSTP)
    kill(w, sender, t.pid, SIGUSR1)
    kill(w, sender, t.pid, SIGUSR1)  # coalesces: no second record
    queue = signal_struct(t.process).shared_pending
    assert [(q.info.si_signo, q.info.si_value) for q in queue.records()] == \
        arrivals + [(SIGTSTP, 0), (SIGUSR1, 0)]
    assert len(queue) == w.k.quota.held(SIGPENDING, 9) == 8
    kill(w, sender, t.pid, SIGCONT)  # discards SIGTSTP's record, no other
    assert len(queue) == w.k.quota.held(SIGPENDING, 9) == 8  # SIGCONT's took its place
    assert pending(w, t) == {RT, RT + 1, RT + 3, SIGUSR1, SIGCONT}
    fd = sfd(w, t, RT, RT + 1, RT + 3, SIGUSR1, SIGCONT)
    assert [(r[0], r[3]) for r in records(w, t, fd)] == [
        (SIGUSR1, 0), (SIGCONT, 0), (RT, 3), (RT, 6), (RT + 1, 2), (RT + 1, 4),
        (RT + 3, 1), (RT + 3, 5)]
    assert len(queue) == w.k.quota.held(SIGPENDING, 9) == 0
    assert list(queue.records()) == [] and queue.queues == {}
