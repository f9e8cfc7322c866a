"""fs/signalfd.c: a process's pending uipc signals, read as a file.

* ``signalfd4(fd, mask, flags)``: EINVAL for flags other than SFD_NONBLOCK
  and SFD_CLOEXEC; SIGKILL and SIGSTOP are taken out of the mask; fd -1
  makes a new file (O_RDWR); an existing descriptor gets the new mask
  (EBADF if it is not open, EINVAL if it is not a signalfd) and its
  readers and pollers re-check;
* read (``signalfd_read``): EINVAL for a buffer under 128 bytes; then as
  many ``struct signalfd_siginfo`` records as fit, each a signal of the
  mask dequeued from the *reader's* pending set in the kernel's order
  (uipc/kernel/signal.py ``dequeue_signal``); with none, EAGAIN if
  O_NONBLOCK, else sleep on the reader's signalfd queue until one is
  pending (only the first record may wait);
* poll (``signalfd_poll``): POLLIN while a signal of the mask is pending
  for the poller.

The signals read are the caller's own, as Linux reads ``current``'s: a
signalfd inherited across fork reads the child's signals in the child.  The
descriptor the client holds (its doorbell) can show only one process's
readiness: the process that made it (``SignalfdFile.owner``:
docs/deviations.md).

An update cannot change the file behind the client's descriptor in place
(the reply of a syscall that names a file carries a new descriptor), so it
makes a second open file sharing the same context (``struct
signalfd_ctx``: the mask), with the old one's flags; the client puts the
new descriptor in the old one's place (dup2), and the old file goes with
its last descriptor.  Every descriptor of the old file sees the new mask,
as every descriptor of one open file does in Linux.
"""
from __future__ import annotations

import errno
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from uipc.kernel.entry import syscall
from uipc.kernel.errors import KernelError
from uipc.kernel.file import (
    O_CLOEXEC, O_NONBLOCK, O_RDWR, POLLIN, File, FileOps, NewFile, PollTable, alloc_file,
    poll_wait, undo_new_file,
)
from uipc.kernel.read_write import fdget
from uipc.kernel.signal import (
    ALL_SIGNALS, UNBLOCKABLE, SigInfo, dequeue_signal, next_signal, signal_struct,
)
from uipc.kernel.task import Process, Task
from uipc.kernel.wait import Waiter, wake_up_all
from uipc.uapi.signalfd import SIGNALFD_SIGINFO_SIZE, SignalfdSiginfo

if TYPE_CHECKING:
    from uipc.kernel.kernel import Kernel

#: include/uapi/linux/signalfd.h
SFD_CLOEXEC = O_CLOEXEC
SFD_NONBLOCK = O_NONBLOCK
SFD_FLAGS = SFD_CLOEXEC | SFD_NONBLOCK


@dataclass(eq=False)
class SignalfdCtx:
    """struct signalfd_ctx: the signals its files read (the kernel keeps the
    complement, the set ``dequeue_signal`` must skip)."""

    sigmask: int
    #: the open files on it (more than one after an update)
    files: dict[File, None] = field(default_factory=dict)


@dataclass(eq=False)
class SignalfdFile:
    """One open signalfd: its context and whose signals its doorbell shows."""

    ctx: SignalfdCtx
    owner: Process
    #: the poll mask its doorbell last heard of
    mask: int = -1


@dataclass(eq=False)
class SignalfdWaiter(Waiter):
    """A read asleep until a signal of its mask is pending."""


def signalfd_copyinfo(info: SigInfo) -> bytes:
    """signalfd_copyinfo(): the 128-byte record, by siginfo_layout(): SI_USER
    and SI_KERNEL (SIL_KILL) carry pid and uid; negative codes such as
    SI_QUEUE (SIL_RT) also the sigval, as ssi_ptr and its low half ssi_int.
    (uipc makes no signal of the other layouts: faults, SIGCHLD, timers.)"""
    rt: dict[str, int] = {}
    if info.si_code < 0:
        low = info.si_value & 0xFFFFFFFF
        rt = {"ssi_ptr": info.si_value, "ssi_int": low - (1 << 32) if low >> 31 else low}
    return SignalfdSiginfo(ssi_signo=info.si_signo, ssi_errno=info.si_errno,
                           ssi_code=info.si_code, ssi_pid=info.si_pid, ssi_uid=info.si_uid,
                           **rt).to_bytes()


def _reader(task: "Task | None", file: File) -> Process:
    """Whose signals: the caller's (current), or for the doorbell the owner's."""
    sf: SignalfdFile = file.private_data
    return task.process if task is not None else sf.owner


class SignalfdFileOps(FileOps):
    """signalfd_fops."""

    name = "signalfd"

    def read(self, k: "Kernel", task: Task, file: File, count: int) -> Any:
        """signalfd_read() + signalfd_dequeue()."""
        ctx = file.private_data.ctx
        records = count // SIGNALFD_SIGINFO_SIZE
        if not records:
            raise KernelError(errno.EINVAL, f"signalfd read of {count} bytes: a record is "
                              f"{SIGNALFD_SIGINFO_SIZE}")
        process = task.process

        def attempt() -> object:
            out: list[bytes] = []
            while len(out) < records:
                info = dequeue_signal(k, process, ~ctx.sigmask & ALL_SIGNALS)
                if info is None:
                    break
                out.append(signalfd_copyinfo(info))
            if out:
                return b"".join(out)
            if file.f_flags & O_NONBLOCK:
                raise KernelError(errno.EAGAIN, "no signal of the signalfd's mask is pending "
                                  "and the descriptor is non-blocking")
            return k.park(signal_struct(process).signalfd_wqh,
                          SignalfdWaiter(task=task, op="signalfd read", restart=attempt))
        return attempt()

    def poll(self, k: "Kernel", task: "Task | None", file: File, pt: PollTable | None) -> int:
        """signalfd_poll()."""
        process = _reader(task, file)
        sig = signal_struct(process)
        poll_wait(file, sig.signalfd_wqh, pt)
        ctx = file.private_data.ctx
        if process.exited:
            return 0
        return POLLIN if next_signal(sig.shared_pending, ~ctx.sigmask & ALL_SIGNALS) else 0

    def refresh(self, k: "Kernel", file: File) -> None:
        """The owner's pending set or the mask changed: the doorbell follows."""
        sf: SignalfdFile = file.private_data
        mask = self.poll(k, None, file, None)
        if mask != sf.mask:
            sf.mask = mask
            if file.f_count > 0:
                k.poll_dirty.add(file)

    def release(self, k: "Kernel", task: "Task | None", file: File) -> None:
        """signalfd_release()."""
        sf: SignalfdFile = file.private_data
        signal_struct(sf.owner).signalfds.pop(file, None)
        sf.ctx.files.pop(file, None)


SIGNALFD_FOPS = SignalfdFileOps()


def _open(k: "Kernel", task: Task, ctx: SignalfdCtx, f_flags: int, cloexec: bool) -> NewFile:
    """anon_inode_getfd("[signalfd]"): a file on ``ctx`` whose doorbell shows
    the caller's signals."""
    sf = SignalfdFile(ctx, task.process)
    file = alloc_file(k, task, SIGNALFD_FOPS, f_flags, sf)
    signal_struct(task.process).signalfds[file] = None
    ctx.files[file] = None
    sf.mask = SIGNALFD_FOPS.poll(k, None, file, None)
    return NewFile(file, cloexec)


@syscall(55, "signalfd4", "fd:i64 mask:u64 flags:i32", result="file", fds=1, undo=undo_new_file,
         doc="signalfd4(2): fd -1 makes one; else (the st_ino of a signalfd) a new mask, "
             "replied as a new descriptor of a file sharing it, which the client dup2s in "
             "place of its own. mask: bit n-1 for signal n (SIGKILL, SIGSTOP ignored)")
def sys_signalfd4(k: "Kernel", task: Task, fd: int, mask: int, flags: int) -> NewFile:
    """signalfd4().

    Raises (in this order): EINVAL: flags beyond SFD_NONBLOCK | SFD_CLOEXEC;
    EBADF: ``fd`` is not -1 nor an open descriptor; EINVAL: it is not a
    signalfd; EMFILE (uipc.quota.files).
    """
    if flags & ~SFD_FLAGS:
        raise KernelError(errno.EINVAL, f"signalfd flags {flags:#x}: only SFD_NONBLOCK and "
                          "SFD_CLOEXEC")
    sigmask = mask & ALL_SIGNALS & ~UNBLOCKABLE
    if fd == -1:
        return _open(k, task, SignalfdCtx(sigmask), O_RDWR | (flags & O_NONBLOCK),
                     bool(flags & SFD_CLOEXEC))
    file = fdget(task, fd)
    if file.f_op is not SIGNALFD_FOPS:
        raise KernelError(errno.EINVAL, f"descriptor (inode {fd}) is a {file.f_op.name}, not "
                          "a signalfd")
    ctx: SignalfdCtx = file.private_data.ctx
    new = _open(k, task, ctx, file.f_flags, task.process.files.get_cloexec(fd))
    ctx.sigmask = sigmask
    # readers and pollers of the caller re-check (wake_up(signalfd_wqh)), and
    # every file on the context shows its new readiness
    wake_up_all(k, signal_struct(task.process).signalfd_wqh)
    for other in list(ctx.files):
        SIGNALFD_FOPS.refresh(k, other)
    return new
