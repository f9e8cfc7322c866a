"""fs/splice.c: splice(2) and tee(2) between uipc pipes; the data moves
inside the daemon, a ``pipe_buffer`` at a time, never through the client.

* splice (``splice_pipe_to_pipe``): whole buffers move from the input's
  ring to the output's (flags and all: a packet stays a packet, a buffer
  that may merge still may); a buffer longer than what is left of ``len``
  is shared, its first bytes going out as a buffer that may not merge, the
  rest staying in.  It stops when ``len`` is done, the input is empty or
  the output full once something moved; it returns 0 at EOF (input empty,
  no writer).  Before moving anything it waits for data (``ipipe_prep``)
  then for room (``opipe_prep``), unless non-blocking: SPLICE_F_NONBLOCK,
  or O_NONBLOCK on either file (do_splice adds the flag), gives EAGAIN.
* tee (``link_pipe``): the same, except the input keeps its buffers: each
  is duplicated into the output (as a buffer that may not merge, cut to
  what is left of ``len``); tee returns the bytes duplicated, 0 with no
  data and no writer, and never retries.
* SIGPIPE and EPIPE when the output has no reader (checked before the EOF
  test: an exhausted input into a reader-less output is EPIPE);
  SPLICE_F_MOVE, SPLICE_F_MORE and SPLICE_F_GIFT are accepted and change
  nothing between pipes; any other flag bit is EINVAL; ``len`` 0 is 0.
* Errors in the kernel's order: splice checks ``len`` then the flags, tee
  the flags then ``len``; then EBADF for either descriptor, ESPIPE for an
  offset given with a pipe (splice), EBADF for an input not open for
  reading or an output not open for writing, EINVAL for the same pipe on
  both sides.
* Between a pipe and another uipc file (eventfd, timerfd, signalfd, epoll,
  mqueue: none has ->splice_read or ->splice_write), EINVAL -- but as
  do_splice gets there: a pipe into such a file fails at once and leaves
  the pipe as it was; such a file into a pipe first waits for room in the
  pipe (``wait_for_space``: EPIPE and SIGPIPE with no reader, EAGAIN if
  full and non-blocking -- SPLICE_F_NONBLOCK or the pipe's O_NONBLOCK --,
  else sleeps), and before that refuses an offset if the file has no
  FMODE_PREAD (the anonymous-inode files) and checks ``rw_verify_area``
  (a ``len`` or offset past LLONG_MAX).  Two non-pipes: EINVAL.

A sleeping splice or tee waits on one queue at a time, not exclusively
(``pipe_wait_readable``/``pipe_wait_writable``), and holds both files as
its syscall's fdget references, so a close by another thread while it
sleeps leaves them open until it returns.  A signal ends the sleep with
EINTR; nothing has moved by then, as in Linux.  Every move marks both
pipes' files for their doorbells (``pipe_changed``).
"""
from __future__ import annotations

import errno
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from uipc.kernel.entry import syscall
from uipc.kernel.errors import KernelError
from uipc.kernel.file import FMODE_READ, FMODE_WRITE, O_NONBLOCK, File, fput, get_file
from uipc.kernel.mqueue import MQUEUE_FOPS
from uipc.kernel.pipe import (
    PIPE_BUF_FLAG_CAN_MERGE, PipeBuffer, PipeInodeInfo, get_pipe_info, pipe_changed,
    send_sigpipe,
)
from uipc.kernel.read_write import fdget
from uipc.kernel.task import Task
from uipc.kernel.wait import RETRY, WaitQueue, Waiter, wake_up
from uipc.uapi.fcntl import O_APPEND

if TYPE_CHECKING:
    from uipc.kernel.kernel import Kernel

#: include/uapi/linux/splice.h
SPLICE_F_MOVE = 0x01
SPLICE_F_NONBLOCK = 0x02
SPLICE_F_MORE = 0x04
SPLICE_F_GIFT = 0x08
SPLICE_F_ALL = SPLICE_F_MOVE | SPLICE_F_NONBLOCK | SPLICE_F_MORE | SPLICE_F_GIFT
#: include/linux/pipe_fs_i.h (only vmsplice sets it; a copy never inherits it)
PIPE_BUF_FLAG_GIFT = 0x04
#: what a duplicated or split buffer loses, so the page is stolen or merged into once
_NOT_INHERITED = PIPE_BUF_FLAG_GIFT | PIPE_BUF_FLAG_CAN_MERGE
LLONG_MAX = (1 << 63) - 1
#: files opened through a path get FMODE_PREAD (do_dentry_open); the anonymous
#: inode files (eventfd, timerfd, signalfd, epoll) do not: pread is ESPIPE
_PREAD_FOPS = (MQUEUE_FOPS,)

#: a step's answer: the syscall's result, or the wait queue it must sleep on
Step = Callable[[], Any]


# --- sleeping -------------------------------------------------------------------------
class _Held:
    """The two files of a splice or tee in progress: fdget's references,
    taken when it first sleeps and dropped when it returns."""

    __slots__ = ("k", "files", "held")

    def __init__(self, k: "Kernel", fin: File, fout: File) -> None:
        self.k, self.files, self.held = k, (fin, fout), False

    def take(self) -> None:
        if not self.held:
            self.held = True
            for file in self.files:
                get_file(file)

    def drop(self) -> None:
        if self.held:
            self.held = False
            for file in self.files:
                fput(self.k, file)


@dataclass(eq=False)
class SpliceWaiter(Waiter):
    """A splice or tee asleep in ipipe_prep, opipe_prep or wait_for_space:
    wait_event_interruptible, so not exclusive.  Woken, it reruns its step
    still holding its files; leaving any other way (a signal, its thread's
    end) drops them."""

    hold: _Held | None = None
    #: set by its wake function: the restart that follows keeps the files
    retrying: bool = False

    def wake_function(self, k: "Kernel", key: Any) -> bool:
        """autoremove_wake_function(), remembering that a retry follows."""
        if not self.pending:
            return False
        self.retrying = True
        k.wake(self, RETRY)
        return True

    def unlink(self) -> None:
        super().unlink()
        if not self.retrying and self.hold is not None:
            self.hold.drop()


def _run(k: "Kernel", task: Task, op: str, fin: File, fout: File, step: Step) -> Any:
    """Run ``step`` until it answers with a result; each time it names a
    wait queue instead, sleep there (holding both files) and run it again
    when woken."""
    hold = _Held(k, fin, fout)
    waiter = SpliceWaiter(task=task, op=op, hold=hold)

    def attempt() -> Any:
        waiter.retrying = False
        try:
            out = step()
        except KernelError:
            hold.drop()
            raise
        if isinstance(out, WaitQueue):
            hold.take()
            return k.park(out, waiter)
        hold.drop()
        return out
    waiter.restart = attempt
    return attempt()


# --- waiting for data and room ----------------------------------------------------------
def _nonblock(what: str) -> KernelError:
    return KernelError(errno.EAGAIN, f"{what} (SPLICE_F_NONBLOCK or O_NONBLOCK)")


def _epipe(k: "Kernel", task: Task) -> KernelError:
    send_sigpipe(k, task)
    return KernelError(errno.EPIPE, "the output pipe has no reader (SIGPIPE sent)")


def ipipe_prep(pipe: PipeInodeInfo, flags: int) -> WaitQueue | None:
    """ipipe_prep(): None once the input holds data or has no writer left;
    EAGAIN if non-blocking; else the queue to sleep on (pipe_wait_readable)."""
    if pipe.bufs or not pipe.writers:
        return None
    if flags & SPLICE_F_NONBLOCK:
        raise _nonblock("the input pipe is empty")
    return pipe.rd_wait


def opipe_prep(k: "Kernel", task: Task, pipe: PipeInodeInfo, flags: int) -> WaitQueue | None:
    """opipe_prep(): None while the output has a free slot; EPIPE (and
    SIGPIPE) if it is full and has no reader; EAGAIN if non-blocking; else
    the queue to sleep on (pipe_wait_writable)."""
    if not pipe.full():
        return None
    if not pipe.readers:
        raise _epipe(k, task)
    if flags & SPLICE_F_NONBLOCK:
        raise _nonblock("the output pipe is full")
    return pipe.wr_wait


def wait_for_space(k: "Kernel", task: Task, pipe: PipeInodeInfo, flags: int) -> WaitQueue | None:
    """wait_for_space() (splice_file_to_pipe): EPIPE and SIGPIPE with no
    reader, full or not; None with a free slot; EAGAIN if non-blocking;
    else the queue to sleep on."""
    if not pipe.readers:
        raise _epipe(k, task)
    if not pipe.full():
        return None
    if flags & SPLICE_F_NONBLOCK:
        raise _nonblock("the output pipe is full")
    return pipe.wr_wait


def _prep(k: "Kernel", task: Task, ipipe: PipeInodeInfo, opipe: PipeInodeInfo,
          flags: int) -> WaitQueue | None:
    """ipipe_prep, then opipe_prep: the first queue to sleep on, or None."""
    queue = ipipe_prep(ipipe, flags)
    if queue is None:
        queue = opipe_prep(k, task, opipe, flags)
    return queue


# --- moving and linking buffers ---------------------------------------------------------
def _share(ibuf: PipeBuffer, length: int) -> PipeBuffer:
    """``*obuf = *ibuf`` after pipe_buf_get: the same page, ``length`` of its
    bytes, without the gift and merge flags.  Writes merge only into a
    buffer with PIPE_BUF_FLAG_CAN_MERGE, so a shared page only ever grows
    past the copies' windows, which stay as they are."""
    return PipeBuffer(ibuf.page, ibuf.offset, length, ibuf.flags & ~_NOT_INHERITED)


def splice_pipe_to_pipe(k: "Kernel", task: Task, ipipe: PipeInodeInfo, opipe: PipeInodeInfo,
                        length: int, flags: int) -> Any:
    """splice_pipe_to_pipe(): bytes moved, or the queue to sleep on."""
    queue = _prep(k, task, ipipe, opipe, flags)
    if queue is not None:
        return queue
    ret, input_wakeup = 0, False
    ibufs, obufs = ipipe.bufs, opipe.bufs
    while True:
        if not opipe.readers:
            if not ret:
                raise _epipe(k, task)
            send_sigpipe(k, task)
            break
        if not ibufs and not ipipe.writers:
            break
        if not ibufs or opipe.full():
            if ret:
                break
            if flags & SPLICE_F_NONBLOCK:
                raise _nonblock("the input pipe is empty or the output full")
            # Linux's "goto retry" after a race; the core has none (prep
            # just made progress possible), but retrying is what it does
            return splice_pipe_to_pipe(k, task, ipipe, opipe, length, flags)
        ibuf = ibufs[0]
        if length >= ibuf.len:  # the whole buffer moves, flags and all
            obufs.append(ibufs.popleft())
            input_wakeup = True
            o_len = ibuf.len
        else:  # its first bytes go out; the rest stays in
            obufs.append(_share(ibuf, length))
            ibuf.offset += length
            ibuf.len -= length
            o_len = length
        ret += o_len
        length -= o_len
        if not length:
            break
    if ret:
        pipe_changed(k, ipipe)
        pipe_changed(k, opipe)
        wake_up(k, opipe.rd_wait)  # wakeup_pipe_readers
    if input_wakeup:
        wake_up(k, ipipe.wr_wait)  # wakeup_pipe_writers
    return ret


def link_pipe(k: "Kernel", task: Task, ipipe: PipeInodeInfo, opipe: PipeInodeInfo,
              length: int) -> int:
    """link_pipe(): each input buffer duplicated into the output, cut to what
    is left of ``length``, until the input's end or the output is full;
    the input keeps its buffers.  Returns the bytes duplicated."""
    ret, i = 0, 0
    ibufs, obufs = ipipe.bufs, opipe.bufs
    while True:
        if not opipe.readers:
            if not ret:
                raise _epipe(k, task)
            send_sigpipe(k, task)
            break
        if i >= len(ibufs) or opipe.full():
            break
        ibuf = ibufs[i]
        obuf = _share(ibuf, min(ibuf.len, length))
        obufs.append(obuf)
        ret += obuf.len
        length -= obuf.len
        i += 1
        if not length:
            break
    if ret:
        pipe_changed(k, opipe)
        wake_up(k, opipe.rd_wait)  # wakeup_pipe_readers
    return ret


# --- the syscalls -----------------------------------------------------------------------
def _fdget_both(task: Task, fd_in: int, fd_out: int) -> tuple[File, File]:
    """The two descriptors, input first: EBADF for the first not open."""
    return fdget(task, fd_in), fdget(task, fd_out)


def _check_modes(fin: File, fout: File) -> None:
    """do_splice/do_tee: EBADF unless the input is open for reading and the
    output for writing."""
    if not fin.f_mode & FMODE_READ:
        raise KernelError(errno.EBADF, "the input descriptor is not open for reading")
    if not fout.f_mode & FMODE_WRITE:
        raise KernelError(errno.EBADF, "the output descriptor is not open for writing")


def _both_nonblock(fin: File, fout: File, flags: int) -> int:
    """do_splice/do_tee: O_NONBLOCK on either file makes it SPLICE_F_NONBLOCK."""
    if (fin.f_flags | fout.f_flags) & O_NONBLOCK:
        flags |= SPLICE_F_NONBLOCK
    return flags


def _no_splice(file: File, side: str) -> KernelError:
    """warn_unsupported(): the file has no ->splice_read/->splice_write."""
    return KernelError(errno.EINVAL, f"a {file.f_op.name} cannot be spliced {side} (uipc "
                       "splices between pipes only, and Linux has no splice for it either)")


def _file_to_pipe(k: "Kernel", task: Task, fin: File, fout: File, opipe: PipeInodeInfo,
                  offset: int | None, length: int, flags: int) -> Any:
    """do_splice()'s ``opipe`` branch for a file that is not a pipe: the
    offset and rw_verify_area checks, wait_for_space, then do_splice_read's
    EINVAL (no uipc file has ->splice_read)."""
    if offset is not None and fin.f_op not in _PREAD_FOPS:
        raise KernelError(errno.EINVAL, f"an offset for a {fin.f_op.name}, which has no pread")
    _verify_area(offset or 0, length)
    if fout.f_flags & O_NONBLOCK:
        flags |= SPLICE_F_NONBLOCK

    def step() -> Any:
        queue = wait_for_space(k, task, opipe, flags)
        if queue is not None:
            return queue
        raise _no_splice(fin, "from")
    return _run(k, task, "splice", fin, fout, step)


def _verify_area(pos: int, count: int) -> None:
    """rw_verify_area(): a count or an end past LLONG_MAX, or a negative
    offset, is EINVAL (no uipc file has FMODE_UNSIGNED_OFFSET)."""
    if count > LLONG_MAX:
        raise KernelError(errno.EINVAL, f"len {count} is over SSIZE_MAX")
    if pos < 0:
        raise KernelError(errno.EINVAL, f"offset {pos} is negative")
    if pos + count > LLONG_MAX:
        raise KernelError(errno.EINVAL, f"offset {pos} + len {count} is past LLONG_MAX")


def _pipe_to_file(fout: File) -> KernelError:
    """do_splice()'s ``ipipe`` branch for a file that is not a pipe: every
    check there (FMODE_PWRITE for an offset, O_APPEND, rw_verify_area,
    then do_splice_from without ->splice_write) is EINVAL, before the pipe
    is touched."""
    if fout.f_flags & O_APPEND:
        return KernelError(errno.EINVAL, f"the output {fout.f_op.name} is O_APPEND")
    return _no_splice(fout, "into")


@syscall(50, "splice",
         "fd_in:u64 off_in_null:u8 off_in:i64 fd_out:u64 off_out_null:u8 off_out:i64 len:u64 "
         "flags:u32", result="int",
         doc="splice(2) between uipc descriptors (named by their st_ino); off_*_null 1: a NULL "
             "offset pointer, else off_* is the loff_t it points to. Result: bytes moved")
def sys_splice(k: "Kernel", task: Task, fd_in: int, off_in_null: int, off_in: int, fd_out: int,
               off_out_null: int, off_out: int, length: int, flags: int) -> Any:
    """SYSCALL_DEFINE6(splice), __do_splice() and do_splice().

    Returns the bytes moved (0: ``len`` 0, or EOF), or BLOCKED.
    Raises, in the kernel's order: EINVAL (flags outside SPLICE_F_ALL),
    EBADF (``fd_in``, then ``fd_out``, not open), ESPIPE (an offset with a
    pipe), EBADF (the input not open for reading, the output not for
    writing), EINVAL (the same pipe twice; a side that is not a pipe, see
    the module's notes), then the move's EAGAIN, EPIPE or EINTR."""
    if not length:
        return 0
    if flags & ~SPLICE_F_ALL:
        raise KernelError(errno.EINVAL, f"splice flags {flags:#x}: only SPLICE_F_MOVE, "
                          "SPLICE_F_NONBLOCK, SPLICE_F_MORE and SPLICE_F_GIFT")
    fin, fout = _fdget_both(task, fd_in, fd_out)
    ipipe, opipe = get_pipe_info(fin), get_pipe_info(fout)
    in_off = None if off_in_null else off_in
    out_off = None if off_out_null else off_out
    if (ipipe is not None and in_off is not None) or (opipe is not None and out_off is not None):
        raise KernelError(errno.ESPIPE, "a pipe has no offset: pass None (a NULL pointer)")
    _check_modes(fin, fout)
    if ipipe is not None and opipe is not None:
        if ipipe is opipe:
            raise KernelError(errno.EINVAL, "splice of a pipe into itself")
        nb = _both_nonblock(fin, fout, flags)
        return _run(k, task, "splice", fin, fout,
                    lambda: splice_pipe_to_pipe(k, task, ipipe, opipe, length, nb))
    if ipipe is not None:
        raise _pipe_to_file(fout)
    if opipe is not None:
        return _file_to_pipe(k, task, fin, fout, opipe, in_off, length, flags)
    raise KernelError(errno.EINVAL, f"splice from a {fin.f_op.name} to a {fout.f_op.name}: "
                      "one side must be a pipe")


@syscall(60, "tee", "fd_in:u64 fd_out:u64 len:u64 flags:u32", result="int",
         doc="tee(2) between two uipc pipes (named by their st_ino): duplicates the input's "
             "data into the output without consuming it. Result: bytes duplicated")
def sys_tee(k: "Kernel", task: Task, fd_in: int, fd_out: int, length: int, flags: int) -> Any:
    """SYSCALL_DEFINE4(tee) and do_tee().

    Returns the bytes duplicated (0: ``len`` 0, or an input at EOF), or
    BLOCKED.  Raises, in the kernel's order: EINVAL (flags), EBADF (either
    descriptor not open, then the access modes), EINVAL (not two
    different pipes), then EAGAIN, EPIPE or EINTR."""
    if flags & ~SPLICE_F_ALL:
        raise KernelError(errno.EINVAL, f"tee flags {flags:#x}: only SPLICE_F_MOVE, "
                          "SPLICE_F_NONBLOCK, SPLICE_F_MORE and SPLICE_F_GIFT")
    if not length:
        return 0
    fin, fout = _fdget_both(task, fd_in, fd_out)
    _check_modes(fin, fout)
    ipipe, opipe = get_pipe_info(fin), get_pipe_info(fout)
    if ipipe is None or opipe is None or ipipe is opipe:
        raise KernelError(errno.EINVAL, "tee needs two different pipes")
    nb = _both_nonblock(fin, fout, flags)

    def step() -> Any:
        queue = _prep(k, task, ipipe, opipe, nb)
        if queue is not None:
            return queue
        return link_pipe(k, task, ipipe, opipe, length)
    return _run(k, task, "tee", fin, fout, step)
