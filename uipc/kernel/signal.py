"""kernel/signal.c: signals between uipc processes.

Everything that decides whether a uipc signal is delivered, kept pending or
refused lives here; real signals are never sent from here: the core says
which to send (``Kernel.signals``) and the daemon sends them
(uipc/server/files.py, uipc/server/siginfo.py).

State: each process has one :class:`SignalStruct` (what Linux spreads over
``task_struct.blocked``, ``signal_struct.shared_pending`` and
``sighand_struct.signalfd_wqh``).  Its mask is the process's, not a
thread's, and every uipc signal is process-directed (kill, not tgkill), so
the one pending set is the shared one (docs/deviations.md).  A
:class:`SigPending` is a bit set of the signals pending plus the queued
:class:`SigQueue` records carrying their siginfo: Linux keeps them in one
list, here each signal number has its own FIFO, so that queueing or taking
a record costs the daemon O(1) whatever else is queued (a uid may queue
SIGPENDING_CAP of them, and the daemon's one thread serves every user).

Generation (``send_signal_locked`` -> ``__send_signal_locked``):

* ``prepare_signal``: a stop signal (SIGSTOP, SIGTSTP, SIGTTIN, SIGTTOU)
  discards a pending SIGCONT; SIGCONT discards the pending stop signals;
* a signal the target does not block in its uipc mask, and SIGKILL and
  SIGSTOP always, is delivered as a real signal the daemon sends, where it
  may (it runs as root, or as the target's uid: ``_daemon_may_signal``);
  otherwise it stays pending here, as a blocked one does;
* pending: a standard signal (< SIGRTMIN) already pending is dropped
  (``legacy_queue``: they coalesce); else a SigQueue record is charged to
  the target's uid (``__sigqueue_alloc``: the per-user count of queued
  signals against RLIMIT_SIGPENDING, which only kill()'s standard signals
  may exceed); past the limit a real-time signal from sigqueue fails with
  EAGAIN, any other is pending without its siginfo; then the bit is set
  and signalfd readers and pollers are woken (``signalfd_notify``).
  The core's own senders (a pipe's SIGPIPE, mq_notify's SIGEV_SIGNAL) go
  the same way through ``send_sig`` / ``send_sig_info``, unchecked.

Dequeue (``dequeue_signal``): ``next_signal`` takes the lowest-numbered
signal not masked, preferring the synchronous ones (SIGSEGV, SIGBUS,
SIGILL, SIGTRAP, SIGFPE, SIGSYS) as the kernel does for its first word,
which on 64-bit machines holds all 64 signals; ``collect_signal`` takes the
first record of it, the oldest (the bit stays set while another is queued)
or, with none queued (its siginfo was lost to the limit), a zeroed SI_USER
siginfo.

Delivery when unblocked: ``sigprocmask`` that unblocks pending signals
hands each to the daemon in dequeue order, every queued instance of a
real-time signal, before the call returns (as Linux delivers them on the
way back to user space).

Permission (``check_kill_permission``): EINVAL for a signal outside 0..64
(after the target is found: ESRCH first); the sender's real or effective
uid must equal the target's real or saved uid (``kill_ok_by_cred``; the
daemon knows a process's uid and euid, which stand for real and saved), or
the sender has CAP_KILL (in the daemon's user namespace, as every uipc
capability); else EPERM.  Signal 0 checks and sends nothing.

RLIMIT_SIGPENDING: the kernel compares the count with the target's limit;
the daemon cannot read another process's limits, so the sender's client
sends its own soft limit with kill and sigqueue (docs/deviations.md), capped
by SIGPENDING_CAP so that no client can make the daemon hold unbounded
records.

Process life: fork gives the child the parent's mask and an empty pending
set (``signal_fork``); exec keeps both (nothing to do); exit frees the
pending records and gives back their charge (``exit_signals``).
"""
from __future__ import annotations

import errno
import heapq
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterator

from uipc.kernel.entry import syscall
from uipc.kernel.errors import KernelError
from uipc.kernel.task import CAP_KILL, Cred, Process, Task
from uipc.kernel.wait import WaitQueue, wake_up_all
from uipc.uapi.signalfd import (
    NSIG, SI_QUEUE, SI_USER, SIG_BLOCK, SIG_SETMASK, SIG_UNBLOCK, SIGBUS, SIGCONT, SIGFPE,
    SIGILL, SIGKILL, SIGRTMIN, SIGSEGV, SIGSTOP, SIGSYS, SIGTRAP, SIGTSTP, SIGTTIN, SIGTTOU,
)

if TYPE_CHECKING:
    from uipc.kernel.file import File
    from uipc.kernel.kernel import Kernel

#: every signal's bit (sigset_t of _NSIG bits)
ALL_SIGNALS = (1 << NSIG) - 1
_U64 = 1 << 64
#: the most records one uid may have queued whatever the limit it claims
SIGPENDING_CAP = 1 << 18
#: the per-uid count of queued records, kept in the kernel's usage table
SIGPENDING = "sigpending"


def sigmask(sig: int) -> int:
    """sigmask(): the bit of signal ``sig`` in a sigset."""
    return 1 << (sig - 1)


#: sigmask(SIGKILL) | sigmask(SIGSTOP): never blocked, never read by signalfd
UNBLOCKABLE = sigmask(SIGKILL) | sigmask(SIGSTOP)
#: SYNCHRONOUS_MASK: dequeued before the others of the first word
SYNCHRONOUS_MASK = (sigmask(SIGSEGV) | sigmask(SIGBUS) | sigmask(SIGILL) | sigmask(SIGTRAP)
                    | sigmask(SIGFPE) | sigmask(SIGSYS))
#: SIG_KERNEL_STOP_MASK
STOP_MASK = sigmask(SIGSTOP) | sigmask(SIGTSTP) | sigmask(SIGTTIN) | sigmask(SIGTTOU)


def valid_signal(sig: int) -> bool:
    """valid_signal(): 0 .. _NSIG (0 is the existence and permission check)."""
    return 0 <= sig <= NSIG


def signals_of(mask: int) -> list[int]:
    """The signal numbers in a sigset, in order."""
    return [sig for sig in range(1, NSIG + 1) if mask & sigmask(sig)]


def to_wire(mask: int) -> int:
    """A 64-bit sigset as the wire's i64 (the client reads it back unsigned)."""
    mask &= ALL_SIGNALS
    return mask - _U64 if mask >> 63 else mask


@dataclass(slots=True)
class SigInfo:
    """kernel_siginfo_t, as uipc makes it: the _kill / _rt members only."""

    si_signo: int
    si_code: int = SI_USER
    si_pid: int = 0
    si_uid: int = 0
    #: union sigval as its 64-bit pattern (sival_int is the low half)
    si_value: int = 0
    si_errno: int = 0


@dataclass(eq=False, slots=True)
class SigQueue:
    """struct sigqueue: one queued signal and the uid it is charged to."""

    info: SigInfo
    uid: int
    #: its place in arrival order among its SigPending's records (``records``)
    seq: int = 0


@dataclass(eq=False)
class SigPending:
    """struct sigpending: the pending bits and the queued records.

    Linux's one list, walked by collect_signal to find a signal's first
    record, is here one FIFO per signal number (no empty one is kept), so
    that enqueue and dequeue are O(1): a process holding tens of thousands
    of records must not make each read of one cost the daemon a scan."""

    signal: int = 0
    #: signal number -> its queued records, oldest first
    queues: dict[int, deque[SigQueue]] = field(default_factory=dict)
    #: the records queued, all signals together
    count: int = 0
    #: the next record's SigQueue.seq
    seq: int = 0

    def __len__(self) -> int:
        return self.count

    def append(self, q: SigQueue) -> None:
        """list_add_tail(&q->list, &pending->list): ``q`` is the newest record."""
        q.seq, self.seq = self.seq, self.seq + 1
        queue = self.queues.get(q.info.si_signo)
        if queue is None:
            queue = self.queues[q.info.si_signo] = deque()
        queue.append(q)
        self.count += 1

    def popleft(self, sig: int) -> tuple[SigQueue | None, bool]:
        """collect_signal()'s walk: the oldest record of ``sig`` leaves the
        queue (None: none is queued), and whether another one stays."""
        queue = self.queues.get(sig)
        if not queue:
            return None, False
        q = queue.popleft()
        self.count -= 1
        if not queue:
            del self.queues[sig]
        return q, bool(queue)

    def take(self, mask: int) -> list[SigQueue]:
        """The records of the signals in ``mask`` leave the queue (the others'
        are not walked)."""
        taken: list[SigQueue] = []
        for sig in [s for s in self.queues if mask & sigmask(s)]:
            taken.extend(self.queues.pop(sig))
        self.count -= len(taken)
        return taken

    def records(self) -> Iterator[SigQueue]:
        """Every queued record in arrival order (list_for_each_entry on
        Linux's list), merged lazily: the first n cost O(n log 64)."""
        return heapq.merge(*self.queues.values(), key=lambda q: q.seq)


@dataclass(eq=False)
class SignalStruct:
    """A process's signal state: its mask, its pending signals, its signalfd waiters."""

    #: task_struct.blocked (never SIGKILL or SIGSTOP)
    blocked: int = 0
    #: signal_struct.shared_pending
    shared_pending: SigPending = field(default_factory=SigPending)
    #: sighand_struct.signalfd_wqh: blocked signalfd readers and pollers
    signalfd_wqh: WaitQueue = field(default_factory=WaitQueue)
    #: signalfd files whose doorbell shows this process's pending signals
    #: (uipc/kernel/signalfd.py), in the order they were opened
    signalfds: dict["File", None] = field(default_factory=dict)


def signal_struct(process: Process) -> SignalStruct:
    """The process's signal state, made on first use."""
    sig: SignalStruct | None = getattr(process, "signal", None)
    if sig is None:
        sig = SignalStruct()
        process.signal = sig  # type: ignore[attr-defined]
    return sig


# --- dequeue ---------------------------------------------------------------------
def next_signal(pending: SigPending, mask: int) -> int:
    """next_signal(): the first pending signal outside ``mask`` (0: none).

    The first word (all 64 signals on a 64-bit machine) prefers the
    synchronous signals, which are the program's own faults."""
    x = pending.signal & ~mask & ALL_SIGNALS
    if not x:
        return 0
    if x & SYNCHRONOUS_MASK:
        x &= SYNCHRONOUS_MASK
    return (x & -x).bit_length()


def collect_signal(k: "Kernel", sig: int, pending: SigPending) -> SigInfo:
    """collect_signal(): the first queued record of ``sig`` leaves the queue;
    the bit goes only if no other record of it is queued.  No record (its
    siginfo was lost): a zeroed SI_USER siginfo.  O(1): the signal's own
    FIFO, not a walk of every record queued."""
    first, again = pending.popleft(sig)
    if not again:
        pending.signal &= ~sigmask(sig)
    if first is None:
        return SigInfo(sig, SI_USER, 0, 0)
    _sigqueue_free(k, first)
    return first.info


def dequeue_signal(k: "Kernel", process: Process, mask: int) -> SigInfo | None:
    """dequeue_signal(): the next pending signal outside ``mask``, taken off
    the process's pending set, or None."""
    sig = signal_struct(process)
    signr = next_signal(sig.shared_pending, mask)
    if not signr:
        return None
    info = collect_signal(k, signr, sig.shared_pending)
    pending_changed(k, process)
    return info


# --- queue records and RLIMIT_SIGPENDING ---------------------------------------------
def _sigqueue_alloc(k: "Kernel", target: Process, info: SigInfo, override_rlimit: bool,
                    rlimit: int) -> SigQueue | None:
    """__sigqueue_alloc(): a record charged to the target's uid (its
    ucounts' RLIMIT_SIGPENDING count), or None past the limit."""
    uid = target.cred.uid
    held = k.quota.held(SIGPENDING, uid)
    if not override_rlimit and held + 1 > min(rlimit, SIGPENDING_CAP):
        return None
    k.quota.usage[SIGPENDING][uid] = held + 1
    return SigQueue(info, uid)


def _sigqueue_free(k: "Kernel", q: SigQueue) -> None:
    """__sigqueue_free(): the record's charge goes back."""
    k.quota.uncharge(SIGPENDING, q.uid)


def flush_sigqueue_mask(k: "Kernel", pending: SigPending, mask: int) -> bool:
    """flush_sigqueue_mask(): the signals in ``mask`` are no longer pending."""
    if not pending.signal & mask:
        return False
    pending.signal &= ~mask
    for q in pending.take(mask):
        _sigqueue_free(k, q)
    return True


def flush_sigqueue(k: "Kernel", pending: SigPending) -> None:
    """flush_sigqueue(): nothing is pending any more."""
    pending.signal = 0
    for q in pending.take(ALL_SIGNALS):
        _sigqueue_free(k, q)


# --- generation ------------------------------------------------------------------------
def pending_changed(k: "Kernel", process: Process) -> None:
    """The process's pending set changed: the doorbells of the signalfd files
    it made follow their poll masks (SignalfdFileOps.refresh)."""
    for file in list(signal_struct(process).signalfds):
        file.f_op.refresh(k, file)


def signalfd_notify(k: "Kernel", process: Process) -> None:
    """signalfd_notify(): a signal became pending: the process's blocked
    signalfd readers and pollers re-check, and its doorbells follow."""
    wake_up_all(k, signal_struct(process).signalfd_wqh)
    pending_changed(k, process)


def prepare_signal(k: "Kernel", target: Process, signr: int) -> None:
    """prepare_signal()'s stop/continue rule on the pending set."""
    pending = signal_struct(target).shared_pending
    if sigmask(signr) & STOP_MASK:
        flushed = flush_sigqueue_mask(k, pending, sigmask(SIGCONT))
    elif signr == SIGCONT:
        flushed = flush_sigqueue_mask(k, pending, STOP_MASK)
    else:
        return
    if flushed:
        pending_changed(k, target)


def _daemon_may_signal(k: "Kernel", target: Process) -> bool:
    """Can the daemon send ``target`` a real signal?  It runs as root (CAP_KILL)
    or as one uid, which must be the target's (kill_ok_by_cred)."""
    owner = k.quota.owner_uid
    return owner == 0 or owner in (target.cred.uid, target.cred.euid)


def deliver(k: "Kernel", target: Process, info: SigInfo) -> None:
    """The daemon sends ``info`` to the process as a real signal.

    A kill() goes as SI_QUEUE: the kernel lets nobody but the target itself
    claim SI_USER in a siginfo it makes (do_pidfd_send_signal), and SI_QUEUE
    keeps the sender's pid and uid, which a siginfo-less kill would replace
    by the daemon's (docs/deviations.md)."""
    code = info.si_code if info.si_code < 0 else SI_QUEUE
    k.signals.append((target.pid, info.si_signo, code, info.si_pid, info.si_uid,
                      info.si_value))


def send_signal_locked(k: "Kernel", target: Process, info: SigInfo, rlimit: int) -> None:
    """send_signal_locked(): generate ``info.si_signo`` for ``target``.

    Raises:
        EAGAIN: a real-time signal sent with a negative si_code (sigqueue)
            would queue more than RLIMIT_SIGPENDING records for the target's uid.
    """
    signr = info.si_signo
    sig = signal_struct(target)
    prepare_signal(k, target, signr)
    if ((sigmask(signr) & UNBLOCKABLE or not sig.blocked & sigmask(signr))
            and _daemon_may_signal(k, target)):
        deliver(k, target, info)
        return
    pending = sig.shared_pending
    if signr < SIGRTMIN and pending.signal & sigmask(signr):
        return  # legacy_queue: one instance of a standard signal
    # kill()'s standard signals are never refused a record; sigqueue's and
    # every real-time signal count against the limit
    override_rlimit = signr < SIGRTMIN and info.si_code >= 0
    q = _sigqueue_alloc(k, target, info, override_rlimit, rlimit)
    if q is not None:
        pending.append(q)
    elif signr >= SIGRTMIN and info.si_code != SI_USER:
        raise KernelError(errno.EAGAIN, f"signal {signr} would queue more than "
                          f"RLIMIT_SIGPENDING ({rlimit}) signals for uid {target.cred.uid}")
    # else: pending, its siginfo lost (collect_signal makes a zeroed one)
    pending.signal |= sigmask(signr)
    signalfd_notify(k, target)


def send_sig_info(k: "Kernel", target: Process, info: SigInfo,
                  rlimit: int = SIGPENDING_CAP) -> None:
    """send_sig_info(): a signal the kernel itself sends (no permission
    check), such as mq_notify's SIGEV_SIGNAL (SI_MESGQ): delivered for real
    or pending by the target's uipc mask, as any other.  A caller that must
    not fail (``__do_notify``) ignores the EAGAIN of a full queue, as Linux
    ignores kill_pid_info's result there."""
    send_signal_locked(k, target, info, rlimit)


def send_sig(k: "Kernel", sig: int, target: Process, sender: Task) -> None:
    """send_sig(sig, p, 0): SI_USER from ``sender`` (pipe_write's SIGPIPE to
    the writer itself); a standard signal is never refused."""
    send_signal_locked(k, target, SigInfo(sig, SI_USER, sender.pid, sender.cred.uid),
                       SIGPENDING_CAP)


def kill_ok_by_cred(cred: Cred, tcred: Cred) -> bool:
    """kill_ok_by_cred(): the sender's real or effective uid is the target's
    real or saved uid (uid and euid here), or the sender has CAP_KILL."""
    return (cred.euid in (tcred.uid, tcred.euid) or cred.uid in (tcred.uid, tcred.euid)
            or cred.capable(CAP_KILL))


def check_kill_permission(task: Task, sig: int, target: Process) -> None:
    """check_kill_permission().

    Raises (in this order): EINVAL: ``sig`` is not 0 .. 64; EPERM: the
    caller may not signal ``target`` (kill_ok_by_cred).  SIGCONT within a
    session is not modelled: uipc knows no sessions.
    """
    if not valid_signal(sig):
        raise KernelError(errno.EINVAL, f"signal {sig} is not 0 .. {NSIG}")
    cred = task.cred
    if not kill_ok_by_cred(cred, target.cred):
        raise KernelError(errno.EPERM, f"uid {cred.uid} (euid {cred.euid}) may not signal "
                          f"pid {target.pid} of uid {target.cred.uid}: neither uid matches "
                          "and the caller lacks CAP_KILL")


def _find_target(k: "Kernel", pid: int) -> Process:
    """find_vpid() + pid_task(): ESRCH unless ``pid`` is a live uipc process."""
    target = k.processes.get(pid) if pid > 0 else None
    if target is None or target.exited:
        raise KernelError(errno.ESRCH, f"no uipc process {pid}")
    return target


def _clamp_rlimit(rlimit: int) -> int:
    return max(0, rlimit)


@syscall(51, "kill", "pid:i32 sig:i32 rlimit:u64", result="none",
         doc="kill(2) of one uipc process (pid > 0). rlimit: the caller's RLIMIT_SIGPENDING, "
             "standing for the target's. Unblocked signals become real ones the daemon sends "
             "(si_code SI_QUEUE, the sender's pid and uid); blocked ones stay pending")
def sys_kill(k: "Kernel", task: Task, pid: int, sig: int, rlimit: int) -> None:
    """kill_something_info() for pid > 0: kill_proc_info() with SI_USER.

    Raises: EINVAL: pid <= 0 (process groups and "every process" are not
    modelled); ESRCH; EINVAL: a bad signal; EPERM (check_kill_permission).
    """
    if pid <= 0:
        raise KernelError(errno.EINVAL, f"kill({pid}): uipc signals one process (pid > 0); "
                          "process groups and -1 are not modelled")
    target = _find_target(k, pid)
    check_kill_permission(task, sig, target)
    if sig:
        info = SigInfo(sig, SI_USER, task.pid, task.cred.uid)
        send_signal_locked(k, target, info, _clamp_rlimit(rlimit))


@syscall(52, "rt_sigqueueinfo", "pid:i32 sig:i32 value:i64 rlimit:u64", result="none",
         doc="sigqueue(3): si_code SI_QUEUE, the caller's pid and uid, value the union "
             "sigval (64 bits). rlimit: the caller's RLIMIT_SIGPENDING; EAGAIN past it for "
             "real-time signals")
def sys_rt_sigqueueinfo(k: "Kernel", task: Task, pid: int, sig: int, value: int,
                        rlimit: int) -> None:
    """do_rt_sigqueueinfo() as glibc's sigqueue() calls it: SI_QUEUE, with
    the caller's pid and real uid (made here, never taken from the caller).

    Raises: ESRCH (pid <= 0 too); EINVAL; EPERM; EAGAIN (RLIMIT_SIGPENDING).
    """
    target = _find_target(k, pid)
    check_kill_permission(task, sig, target)
    if sig:
        info = SigInfo(sig, SI_QUEUE, task.pid, task.cred.uid, value % _U64)
        send_signal_locked(k, target, info, _clamp_rlimit(rlimit))


# --- the mask ---------------------------------------------------------------------------
def deliver_unblocked(k: "Kernel", process: Process) -> None:
    """Pending signals the mask no longer blocks go to the daemon as real
    ones, in dequeue order (each queued instance), unless it cannot send
    them: then they stay pending."""
    sig = signal_struct(process)
    if not sig.shared_pending.signal & ~sig.blocked or not _daemon_may_signal(k, process):
        return
    while True:
        info = dequeue_signal(k, process, sig.blocked)
        if info is None:
            return
        deliver(k, process, info)


def set_current_blocked(k: "Kernel", process: Process, newset: int) -> None:
    """set_current_blocked(): SIGKILL and SIGSTOP are silently never blocked;
    what is unblocked and pending is delivered now."""
    signal_struct(process).blocked = newset & ALL_SIGNALS & ~UNBLOCKABLE
    deliver_unblocked(k, process)


@syscall(53, "rt_sigprocmask", "how:i32 has:u8 set:u64", result="int",
         doc="sigprocmask(2) of the caller's uipc mask (the process's); has 0: only read it. "
             "Result: the old mask (bit n-1 for signal n, as an i64). Pending signals it "
             "unblocks are sent as real ones before the reply")
def sys_rt_sigprocmask(k: "Kernel", task: Task, how: int, has: int, set: int) -> int:
    """sigprocmask(): SIG_BLOCK, SIG_UNBLOCK, SIG_SETMASK.

    Raises: EINVAL: ``how`` is none of them (only when a set is given).
    """
    sig = signal_struct(task.process)
    old = sig.blocked
    if has:
        if how == SIG_BLOCK:
            new = old | set
        elif how == SIG_UNBLOCK:
            new = old & ~set
        elif how == SIG_SETMASK:
            new = set
        else:
            raise KernelError(errno.EINVAL, f"sigprocmask how {how}: not SIG_BLOCK (0), "
                              "SIG_UNBLOCK (1) or SIG_SETMASK (2)")
        set_current_blocked(k, task.process, new)
    return to_wire(old)


@syscall(54, "rt_sigpending", "", result="int",
         doc="sigpending(2): the caller's pending signals that its uipc mask blocks (bit n-1 "
             "for signal n, as an i64)")
def sys_rt_sigpending(k: "Kernel", task: Task) -> int:
    """do_sigpending(): pending and blocked."""
    sig = signal_struct(task.process)
    return to_wire(sig.shared_pending.signal & sig.blocked)


# --- process life ----------------------------------------------------------------------
def signal_fork(k: "Kernel", parent: Process, child: Process, inherited: Any) -> None:
    """copy_process(): the child's mask is its parent's; nothing is pending
    for it (init_sigpending)."""
    parent_sig = getattr(parent, "signal", None)
    if parent_sig is not None:
        signal_struct(child).blocked = parent_sig.blocked


def exit_signals(k: "Kernel", process: Process) -> None:
    """__exit_signal(): the pending records go (their RLIMIT_SIGPENDING
    charge with them); doorbells of signalfds that showed them follow."""
    sig = getattr(process, "signal", None)
    if sig is None:
        return
    if sig.shared_pending.signal:
        flush_sigqueue(k, sig.shared_pending)
        pending_changed(k, process)
