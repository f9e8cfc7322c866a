"""fs/pipe.c: pipes and FIFOs, a ring of pipe_buffers behind one or more files.

The pipe (:class:`PipeInodeInfo`, ``struct pipe_inode_info``) is a ring of
``pipe_buffer`` slots, each at most a page; ``max_usage`` slots (16 by
default: 65536 bytes) may be in use.  Its files are the two ends ``pipe2``
makes, or every open of a FIFO (``fifo_open``).

* read (``pipe_read``): a read of 0 is 0; otherwise as many bytes as the
  slots hold, up to the count; a packet buffer (O_DIRECT writer) is read as
  one packet, its rest dropped; with nothing held: 0 (EOF) when there are no
  writers, EAGAIN if O_NONBLOCK, else sleep (readers sleep exclusively and
  a reader that leaves data behind wakes the next);
* write (``pipe_write``): EPIPE and SIGPIPE when there are no readers; the
  first ``len % PAGE_SIZE`` bytes merge into the last slot if it has room
  and is not a packet, the rest fill new slots a page at a time; with the
  ring full, EAGAIN (or the bytes written so far) if O_NONBLOCK, else sleep
  and go on when a reader makes room — so writes of up to PIPE_BUF (4096)
  bytes are never split, and larger ones may interleave with others'.  An
  interrupted write that had written some returns that count;
* poll (``pipe_poll``): POLLIN|POLLRDNORM while data is held, POLLHUP when
  no writer is left (not before a FIFO reader opened with O_NONBLOCK has
  seen one), POLLOUT|POLLWRNORM while a slot is free, POLLERR with no reader;
* release (``pipe_release``): the last reader or the last writer wakes the
  other side; the last file frees the pipe and its page accounting.

Limits (``alloc_pipe_info``, ``pipe_set_size``): ``fs.pipe-max-size``
(1048576) bounds the default size and F_SETPIPE_SZ (which rounds up to a
power-of-two number of pages) unless CAP_SYS_RESOURCE; each uid's pages are
counted against ``fs.pipe-user-pages-soft`` (16384: past it new pipes get 2
slots and F_SETPIPE_SZ may not grow) and ``-hard`` (0: none), which bind
those without CAP_SYS_RESOURCE and CAP_SYS_ADMIN.  In uipc these sysctls and
the page counts belong to the IPC namespace (docs/deviations.md).

FIFOs (``mkfifo``/``open``/``unlink``) live in the IPC namespace's own flat
directory — a /dev/shm-like 1777 directory of root's — not on the host's
file system (docs/deviations.md).  ``fifo_open``: O_RDONLY waits for a
writer unless O_NONBLOCK, O_WRONLY waits for a reader, O_WRONLY|O_NONBLOCK
without a reader is ENXIO, O_RDWR never waits.

The data lives in the daemon's memory; the page size is 4096 bytes.
"""
from __future__ import annotations

import errno
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from uipc.kernel.entry import syscall
from uipc.kernel.errors import KernelError
from uipc.kernel.file import (
    FMODE_READ, FMODE_WRITE, INR_OPEN_CUR, O_ACCMODE, O_CLOEXEC, O_NONBLOCK, O_RDONLY,
    O_WRONLY, POLLERR, POLLHUP, POLLIN, POLLOUT, POLLRDNORM, POLLWRNORM, File, FileOps, NewFile,
    PollTable, alloc_file, fput, get_file, poll_wait,
)
from uipc.kernel.namei import generic_permission
from uipc.kernel.posix_shm import access_mask, check_sticky
from uipc.kernel.task import CAP_FOWNER, CAP_SYS_ADMIN, CAP_SYS_RESOURCE, Cred, Task
from uipc.kernel.wait import WaitQueue, Waiter, wake_up, wake_up_all
from uipc.uapi.fcntl import (
    F_GETPIPE_SZ, F_SETPIPE_SZ, O_CREAT, O_DIRECT, O_DIRECTORY, O_DSYNC, O_EXCL, O_LARGEFILE,
    O_NOATIME, O_NOCTTY, O_PATH, O_TMPFILE, O_TRUNC,
)
from uipc.uapi.mqueue import NAME_MAX
from uipc.uapi.signalfd import SIGPIPE

if TYPE_CHECKING:
    from uipc.kernel.kernel import Kernel
    from uipc.kernel.namespace import IpcNamespace

PAGE_SHIFT = 12
PAGE_SIZE = 1 << PAGE_SHIFT
#: include/linux/pipe_fs_i.h
PIPE_DEF_BUFFERS = 16
PIPE_MIN_DEF_BUFFERS = 2
PIPE_BUF_FLAG_PACKET = 0x08
PIPE_BUF_FLAG_CAN_MERGE = 0x10
#: O_NOTIFICATION_PIPE (watch queues, which uipc does not have) is O_EXCL
O_NOTIFICATION_PIPE = O_EXCL
#: include/uapi/linux/stat.h
S_IFMT, S_IFIFO, S_IFCHR, S_IFDIR = 0o170000, 0o010000, 0o020000, 0o040000
S_IFBLK, S_IFREG, S_IFSOCK = 0o060000, 0o100000, 0o140000
S_IALLUGO = 0o7777
PATH_MAX = 4096


# --- the namespace's pipe state -----------------------------------------------------
class PipeNamespace:
    """What fs/pipe.c keeps globally, kept per IPC namespace in uipc: the
    fs.pipe-* sysctls, each uid's pipe pages (``user->pipe_bufs``) and the
    FIFO directory."""

    __slots__ = ("_max_size", "pipe_user_pages_hard", "pipe_user_pages_soft", "user_bufs",
                 "fifos", "fifo_inos")

    def __init__(self) -> None:
        self._max_size = 1048576
        #: fs.pipe-user-pages-hard: 0, no hard limit
        self.pipe_user_pages_hard = 0
        #: fs.pipe-user-pages-soft: PIPE_DEF_BUFFERS * INR_OPEN_CUR
        self.pipe_user_pages_soft = PIPE_DEF_BUFFERS * INR_OPEN_CUR
        #: uid -> pipe pages it is charged for (user_struct.pipe_bufs)
        self.user_bufs: dict[int, int] = {}
        #: the FIFO directory: name -> FifoInode
        self.fifos: dict[str, FifoInode] = {}
        self.fifo_inos = 0

    @property
    def pipe_max_size(self) -> int:
        """fs.pipe-max-size."""
        return self._max_size

    @pipe_max_size.setter
    def pipe_max_size(self, value: int) -> None:
        """proc_dopipe_max_size(): the value is rounded as F_SETPIPE_SZ rounds."""
        size = round_pipe_size(value)
        if not size:
            raise KernelError(errno.EINVAL, f"fs.pipe-max-size: {value} is over 2^31")
        self._max_size = size


def pipe_ns(ns: "IpcNamespace") -> PipeNamespace:
    """The pipe state of an IPC namespace (made on first use)."""
    state = ns.pipe
    if state is None:
        state = ns.pipe = PipeNamespace()
    return state  # type: ignore[no-any-return]


def free_ns_pipe(k: "Kernel", ns: "IpcNamespace") -> None:
    """The namespace's FIFO directory goes with it (its open FIFOs live on,
    as an unlinked FIFO's open files do)."""
    state, ns.pipe = ns.pipe, None
    if state is None:
        return
    for inode in state.fifos.values():
        _drop_name(ns, inode)
    state.fifos.clear()


# --- the pipe -------------------------------------------------------------------------
@dataclass(eq=False, slots=True)
class PipeBuffer:
    """struct pipe_buffer: ``page[offset:offset + len]`` is its data (the page
    holds exactly ``offset + len`` bytes)."""

    page: bytearray
    offset: int
    len: int
    flags: int


@dataclass(eq=False)
class PipeInodeInfo:
    """struct pipe_inode_info."""

    #: the ring: tail (oldest) first; its length is head - tail, the occupancy
    bufs: deque[PipeBuffer]
    ring_size: int
    max_usage: int
    #: slots charged to ``acct``'s ``uid`` (nr_accounted)
    nr_accounted: int
    acct: PipeNamespace
    uid: int
    #: the inode's owner (i_uid), for O_NOATIME
    owner: int
    readers: int = 0
    writers: int = 0
    #: files (and opens in progress) on it; the pipe goes with the last
    files: int = 0
    r_counter: int = 1
    w_counter: int = 1
    rd_wait: WaitQueue = field(default_factory=WaitQueue)
    wr_wait: WaitQueue = field(default_factory=WaitQueue)
    #: the FIFO it belongs to (its i_pipe), None for pipe2's
    inode: "FifoInode | None" = None
    #: its open files, whose doorbells follow their poll masks
    open_files: set[File] = field(default_factory=set)

    def full(self) -> bool:
        """pipe_full(head, tail, max_usage)."""
        return len(self.bufs) >= self.max_usage


class PipeFile:
    """A pipe file's private data: the pipe and ``f_pipe`` (the writer count
    a FIFO reader opened with O_NONBLOCK saw: no POLLHUP before a writer)."""

    __slots__ = ("pipe", "f_pipe")

    def __init__(self, pipe: PipeInodeInfo, f_pipe: int = 0) -> None:
        self.pipe = pipe
        self.f_pipe = f_pipe


def round_pipe_size(size: int) -> int:
    """round_pipe_size(): at least a page, a power of two; 0 above 2^31."""
    if size > 1 << 31:
        return 0
    if size < PAGE_SIZE:
        return PAGE_SIZE
    return 1 << (size - 1).bit_length()


def account_pipe_buffers(acct: PipeNamespace, uid: int, old: int, new: int) -> int:
    """account_pipe_buffers(): the uid's pages after trading ``old`` for ``new``."""
    left = acct.user_bufs.get(uid, 0) + new - old
    if left:
        acct.user_bufs[uid] = left
    else:
        acct.user_bufs.pop(uid, None)
    return left


def too_many_pipe_buffers_soft(acct: PipeNamespace, user_bufs: int) -> bool:
    return bool(acct.pipe_user_pages_soft) and user_bufs > acct.pipe_user_pages_soft


def too_many_pipe_buffers_hard(acct: PipeNamespace, user_bufs: int) -> bool:
    return bool(acct.pipe_user_pages_hard) and user_bufs > acct.pipe_user_pages_hard


def pipe_is_unprivileged_user(cred: Cred) -> bool:
    return not cred.capable(CAP_SYS_RESOURCE) and not cred.capable(CAP_SYS_ADMIN)


def alloc_pipe_info(task: Task) -> PipeInodeInfo | None:
    """alloc_pipe_info(): a pipe of PIPE_DEF_BUFFERS slots (fewer past
    fs.pipe-max-size, 2 past the soft limit), None past the hard limit."""
    acct, cred = pipe_ns(task.ns), task.cred
    uid = cred.euid
    pipe_bufs = PIPE_DEF_BUFFERS
    if pipe_bufs * PAGE_SIZE > acct.pipe_max_size and not cred.capable(CAP_SYS_RESOURCE):
        pipe_bufs = acct.pipe_max_size >> PAGE_SHIFT
    user_bufs = account_pipe_buffers(acct, uid, 0, pipe_bufs)
    if too_many_pipe_buffers_soft(acct, user_bufs) and pipe_is_unprivileged_user(cred):
        user_bufs = account_pipe_buffers(acct, uid, pipe_bufs, PIPE_MIN_DEF_BUFFERS)
        pipe_bufs = PIPE_MIN_DEF_BUFFERS
    if too_many_pipe_buffers_hard(acct, user_bufs) and pipe_is_unprivileged_user(cred):
        account_pipe_buffers(acct, uid, pipe_bufs, 0)
        return None
    return PipeInodeInfo(deque(), pipe_bufs, pipe_bufs, pipe_bufs, acct, uid, uid)


def free_pipe_info(pipe: PipeInodeInfo) -> None:
    """free_pipe_info(): its pages are no longer the uid's."""
    account_pipe_buffers(pipe.acct, pipe.uid, pipe.nr_accounted, 0)
    pipe.nr_accounted = 0
    pipe.bufs.clear()


def put_pipe_info(pipe: PipeInodeInfo) -> None:
    """put_pipe_info(): one file fewer; the last frees it (and the FIFO's i_pipe)."""
    pipe.files -= 1
    if not pipe.files:
        if pipe.inode is not None:
            pipe.inode.pipe = None
        free_pipe_info(pipe)


def pipe_changed(k: "Kernel", pipe: PipeInodeInfo) -> None:
    """The pipe's state moved: its files' doorbells follow their masks."""
    for file in pipe.open_files:
        if file.f_ino:
            k.poll_dirty.add(file)


def send_sigpipe(k: "Kernel", task: Task) -> None:
    """send_sig(SIGPIPE, current, 0) for a write to a pipe without readers:
    a uipc signal (uipc/kernel/signal.py), delivered for real or pending as
    the writer's uipc mask says.  Delivered for real it carries SI_QUEUE
    (pidfd_send_signal refuses a made-up SI_USER for another process), the
    writer's pid and uid, value 0 (docs/deviations.md)."""
    from uipc.kernel.signal import send_sig
    send_sig(k, SIGPIPE, task.process, task)


def get_pipe_info(file: File) -> PipeInodeInfo | None:
    """get_pipe_info(): the pipe behind a pipe or FIFO file, else None."""
    if file.f_op is not PIPE_FOPS or file.private_data is None:
        return None
    return file.private_data.pipe  # type: ignore[no-any-return]


# --- read, write, poll, release ------------------------------------------------------
@dataclass(eq=False)
class PipeWaiter(Waiter):
    """A read or write asleep on a pipe; it holds its file meanwhile (the
    fdget of a syscall in progress), so a close by another thread leaves the
    pipe open until it returns."""

    #: readers and writers sleep exclusively (wait_event_interruptible_exclusive)
    exclusive = True
    held: File | None = None
    kernel: Any = None

    def unlink(self) -> None:
        super().unlink()
        held, self.held = self.held, None
        if held is not None:
            fput(self.kernel, held)


def _sleep(k: "Kernel", queue: WaitQueue, waiter: PipeWaiter, file: File) -> object:
    waiter.held, waiter.kernel = get_file(file), k
    return k.park(queue, waiter)


def pipe_read(k: "Kernel", task: Task, file: File, count: int) -> Any:
    """pipe_read()."""
    if count == 0:
        return b""
    pipe: PipeInodeInfo = file.private_data.pipe
    waiter = PipeWaiter(task=task, op="pipe read")

    def attempt(slept: bool) -> object:
        out = bytearray()
        total, wake_writer = count, False
        bufs = pipe.bufs
        while bufs:
            buf = bufs[0]
            chars = min(buf.len, total)
            out += memoryview(buf.page)[buf.offset:buf.offset + chars]
            buf.offset += chars
            buf.len -= chars
            if buf.flags & PIPE_BUF_FLAG_PACKET:  # one packet a read: its rest is dropped
                total, buf.len = chars, 0
            if not buf.len:
                wake_writer |= pipe.full()
                bufs.popleft()
            total -= chars
            if not total:
                break
        if not out and pipe.writers:
            if file.f_flags & O_NONBLOCK:
                raise KernelError(errno.EAGAIN, "the pipe is empty and the descriptor is "
                                  "non-blocking")
            waiter.restart = lambda: attempt(True)
            return _sleep(k, pipe.rd_wait, waiter, file)
        if out:
            pipe_changed(k, pipe)
        if wake_writer:
            wake_up(k, pipe.wr_wait, POLLOUT | POLLWRNORM)
        if slept and bufs:  # wake_next_reader: data is left for the next one
            wake_up(k, pipe.rd_wait, POLLIN | POLLRDNORM)
        return bytes(out)
    return attempt(False)


class _Write:
    """One pipe_write in progress: what it has written, from where."""

    __slots__ = ("k", "task", "file", "pipe", "data", "pos", "waiter")

    def __init__(self, k: "Kernel", task: Task, file: File, data: bytes) -> None:
        self.k, self.task, self.file, self.data = k, task, file, data
        self.pipe: PipeInodeInfo = file.private_data.pipe
        self.pos = 0
        self.waiter: PipeWaiter | None = None

    def merge(self) -> bool:
        """The first ``len % PAGE_SIZE`` bytes join the last slot if it has
        room and may merge (not a packet).  True if that was all of it."""
        data, bufs = self.data, self.pipe.bufs
        chars = len(data) & (PAGE_SIZE - 1)
        if chars and bufs:
            buf = bufs[-1]
            if buf.flags & PIPE_BUF_FLAG_CAN_MERGE and buf.offset + buf.len + chars <= PAGE_SIZE:
                buf.page += data[:chars]
                buf.len += chars
                self.pos = chars
        return self.pos == len(data)

    def run(self, was_empty: bool, slept: bool) -> object:
        """pipe_write()'s loop: fill free slots a page at a time; sleep while full."""
        k, pipe, file, data = self.k, self.pipe, self.file, self.data
        bufs, err = pipe.bufs, 0
        flags = PIPE_BUF_FLAG_PACKET if file.f_flags & O_DIRECT else PIPE_BUF_FLAG_CAN_MERGE
        while True:
            if not pipe.readers:
                send_sigpipe(k, self.task)
                err = errno.EPIPE
                break
            if not pipe.full():
                chunk = data[self.pos:self.pos + PAGE_SIZE]
                bufs.append(PipeBuffer(bytearray(chunk), 0, len(chunk), flags))
                self.pos += len(chunk)
                if self.pos == len(data):
                    break
                continue
            if file.f_flags & O_NONBLOCK:
                err = errno.EAGAIN
                break
            return self.sleep(was_empty)
        return self.out(err, slept)

    def sleep(self, was_empty: bool) -> object:
        """The ring is full: wake the readers and wait for room."""
        k, pipe = self.k, self.pipe
        if self.pos:
            pipe_changed(k, pipe)
        if was_empty or self.pos:
            wake_up(k, pipe.rd_wait, POLLIN | POLLRDNORM)
        waiter = self.waiter
        if waiter is None:
            waiter = self.waiter = PipeWaiter(task=self.task, op="pipe write")
            waiter.restart = lambda: self.run(not self.pipe.bufs, True)
            waiter.then = self.finish
        return _sleep(k, pipe.wr_wait, waiter, self.file)

    def out(self, err: int, slept: bool) -> object:
        """pipe_write()'s ``out:``: readers hear of the data, the next writer of room."""
        k, pipe = self.k, self.pipe
        if self.pos:
            pipe_changed(k, pipe)
            wake_up(k, pipe.rd_wait, POLLIN | POLLRDNORM)
        if slept and not pipe.full():  # wake_next_writer
            wake_up(k, pipe.wr_wait, POLLOUT | POLLWRNORM)
        if err and not self.pos:
            if err == errno.EPIPE:
                raise KernelError(errno.EPIPE, "the pipe has no reader left (SIGPIPE sent)")
            raise KernelError(errno.EAGAIN, "the pipe is full and the descriptor is "
                              "non-blocking")
        return self.pos

    def finish(self, result: object) -> object:
        """The sleep's end: a signal after some bytes went returns their count."""
        if isinstance(result, KernelError):
            if self.pos:
                return self.pos
            raise result
        return result


def pipe_write(k: "Kernel", task: Task, file: File, data: bytes) -> Any:
    """pipe_write()."""
    if not data:
        return 0
    w = _Write(k, task, file, data)
    if not w.pipe.readers:
        send_sigpipe(k, task)
        raise KernelError(errno.EPIPE, "the pipe has no reader (SIGPIPE sent)")
    was_empty = not w.pipe.bufs
    if w.merge():
        return w.out(0, False)
    return w.run(was_empty, False)


def pipe_poll(file: File, pt: PollTable | None) -> int:
    """pipe_poll()."""
    pf: PipeFile = file.private_data
    pipe = pf.pipe
    if file.f_mode & FMODE_READ:
        poll_wait(file, pipe.rd_wait, pt)
    if file.f_mode & FMODE_WRITE:
        poll_wait(file, pipe.wr_wait, pt)
    mask = 0
    if file.f_mode & FMODE_READ:
        if pipe.bufs:
            mask |= POLLIN | POLLRDNORM
        if not pipe.writers and pf.f_pipe != pipe.w_counter:
            mask |= POLLHUP
    if file.f_mode & FMODE_WRITE:
        if not pipe.full():
            mask |= POLLOUT | POLLWRNORM
        if not pipe.readers:  # Linux sets it for FIFOs too
            mask |= POLLERR
    return mask


def pipe_release(k: "Kernel", file: File) -> None:
    """pipe_release(): one reader or writer fewer; the last of a side wakes the other."""
    pf: PipeFile | None = file.private_data
    if pf is None:  # an open that never completed (fifo_open's error paths)
        return
    pipe = pf.pipe
    if file.f_mode & FMODE_READ:
        pipe.readers -= 1
    if file.f_mode & FMODE_WRITE:
        pipe.writers -= 1
    pipe.open_files.discard(file)
    if (not pipe.readers) != (not pipe.writers):
        wake_up_all(k, pipe.rd_wait)
        wake_up_all(k, pipe.wr_wait)
    pipe_changed(k, pipe)
    put_pipe_info(pipe)


class PipeFileOps(FileOps):
    """pipefifo_fops."""

    name = "pipe"

    def read(self, k: "Kernel", task: Task, file: File, count: int) -> Any:
        return pipe_read(k, task, file, count)

    def write(self, k: "Kernel", task: Task, file: File, data: bytes) -> Any:
        return pipe_write(k, task, file, data)

    def poll(self, k: "Kernel", task: Task | None, file: File, pt: PollTable | None) -> int:
        return pipe_poll(file, pt)

    def release(self, k: "Kernel", task: Task | None, file: File) -> None:
        pipe_release(k, file)


PIPE_FOPS = PipeFileOps()


# --- fcntl: F_SETPIPE_SZ, F_GETPIPE_SZ ------------------------------------------------
def pipe_resize_ring(k: "Kernel", pipe: PipeInodeInfo, nr_slots: int) -> None:
    """pipe_resize_ring(): EBUSY if the data held needs more slots."""
    if nr_slots < len(pipe.bufs):
        raise KernelError(errno.EBUSY, f"{len(pipe.bufs)} slots hold data: the pipe cannot "
                          f"shrink to {nr_slots}")
    pipe.ring_size = pipe.max_usage = pipe.nr_accounted = nr_slots
    wake_up(k, pipe.wr_wait)  # this might have made room for writers
    pipe_changed(k, pipe)


def pipe_set_size(k: "Kernel", task: Task, pipe: PipeInodeInfo, arg: int) -> int:
    """pipe_set_size(): the new size in bytes."""
    cred = task.cred
    size = round_pipe_size(arg)
    nr_slots = size >> PAGE_SHIFT
    if not nr_slots:
        raise KernelError(errno.EINVAL, f"pipe size {arg} is over 2^31")
    acct = pipe.acct
    if nr_slots > pipe.max_usage and size > acct.pipe_max_size and not cred.capable(
            CAP_SYS_RESOURCE):
        raise KernelError(errno.EPERM, f"pipe size {size} is over fs.pipe-max-size "
                          f"({acct.pipe_max_size}) and the caller lacks CAP_SYS_RESOURCE")
    user_bufs = account_pipe_buffers(acct, pipe.uid, pipe.nr_accounted, nr_slots)
    try:
        if nr_slots > pipe.max_usage and (too_many_pipe_buffers_hard(acct, user_bufs)
                                          or too_many_pipe_buffers_soft(acct, user_bufs)) \
                and pipe_is_unprivileged_user(cred):
            raise KernelError(errno.EPERM, f"uid {pipe.uid} would hold {user_bufs} pipe pages, "
                              "over fs.pipe-user-pages-soft or -hard")
        pipe_resize_ring(k, pipe, nr_slots)
    except KernelError:
        account_pipe_buffers(acct, pipe.uid, nr_slots, pipe.nr_accounted)
        raise
    return pipe.max_usage * PAGE_SIZE


def pipe_fcntl(k: "Kernel", task: Task, file: File, cmd: int, arg: int) -> int:
    """pipe_fcntl(): EBADF unless a pipe or FIFO; ``arg`` is an unsigned int."""
    pipe = get_pipe_info(file)
    if pipe is None:
        raise KernelError(errno.EBADF, f"F_SETPIPE_SZ/F_GETPIPE_SZ of a {file.f_op.name}, "
                          "not a pipe")
    if cmd == F_SETPIPE_SZ:
        return pipe_set_size(k, task, pipe, arg & 0xFFFFFFFF)
    if cmd == F_GETPIPE_SZ:
        return pipe.max_usage * PAGE_SIZE
    raise KernelError(errno.EINVAL, f"fcntl command {cmd} of a pipe")


# --- pipe2 ----------------------------------------------------------------------------
def undo_new_files(k: "Kernel", task: Task, new: tuple[NewFile, ...]) -> None:
    """The ``undo`` of a result of kind ``files`` whose descriptors could not
    all be delivered: each file goes, installed or not."""
    files = task.process.files
    for n in new:
        ino = n.file.f_ino
        if not ino:
            fput(k, n.file)
        elif ino in files and files.get(ino) is n.file:
            files.close(k, ino, task)


@syscall(44, "pipe2", "flags:i32", result="files", fds=2, undo=undo_new_files,
         doc="pipe2(2). Replies with two descriptors (SCM_RIGHTS): the read end, then the "
             "write end; calls name each by its st_ino")
def sys_pipe2(k: "Kernel", task: Task, flags: int) -> tuple[NewFile, NewFile]:
    """__do_pipe_flags() and create_pipe_files()."""
    if flags & ~(O_CLOEXEC | O_NONBLOCK | O_DIRECT | O_NOTIFICATION_PIPE):
        raise KernelError(errno.EINVAL, f"pipe2 flags {flags:#o}: only O_CLOEXEC, O_NONBLOCK "
                          "and O_DIRECT")
    if flags & O_NOTIFICATION_PIPE:  # watch_queue_init without CONFIG_WATCH_QUEUE
        raise KernelError(errno.ENOPKG, "O_NOTIFICATION_PIPE: uipc has no watch queues")
    # both files first (each charged to uipc.quota.files), then the pipe
    fw = alloc_file(k, task, PIPE_FOPS, O_WRONLY | (flags & (O_NONBLOCK | O_DIRECT)), None)
    try:
        fr = alloc_file(k, task, PIPE_FOPS, O_RDONLY | (flags & O_NONBLOCK), None)
    except KernelError:
        fput(k, fw)
        raise
    pipe = alloc_pipe_info(task)
    if pipe is None:
        fput(k, fr)
        fput(k, fw)
        raise KernelError(errno.ENFILE, f"uid {task.cred.euid} holds more pipe pages than "
                          "fs.pipe-user-pages-hard allows")
    pipe.files, pipe.readers, pipe.writers = 2, 1, 1
    for f in (fr, fw):
        f.private_data = PipeFile(pipe)
        pipe.open_files.add(f)
    cloexec = bool(flags & O_CLOEXEC)
    return NewFile(fr, cloexec), NewFile(fw, cloexec)


# --- FIFOs: mknod, open, unlink ----------------------------------------------------------
@dataclass(eq=False)
class FifoInode:
    """A FIFO of the namespace's directory: its inode's owner, mode and pipe."""

    name: str
    uid: int
    gid: int
    mode: int
    ctime: float
    #: its number in the namespace, for introspection
    ino: int
    #: i_pipe: the pipe while a file (or an open in progress) is on it
    pipe: PipeInodeInfo | None = None
    #: i_nlink: 1 while its name is in the directory
    linked: bool = True


def fifo_name(path: str) -> str:
    """The lookup of ``path`` in the FIFO directory (which is flat, like
    /dev/shm): leading slashes dropped; '' is the directory itself.

    ENOENT: an empty path, or a '/' after the leading ones (no subdirectory);
    EINVAL: a NUL; ENAMETOOLONG: a name over NAME_MAX or a path over PATH_MAX."""
    if not path:
        raise KernelError(errno.ENOENT, "an empty path names nothing")
    if "\0" in path:
        raise KernelError(errno.EINVAL, "a path cannot hold a NUL byte")
    if len(path.encode()) >= PATH_MAX:
        raise KernelError(errno.ENAMETOOLONG, f"the path is over PATH_MAX ({PATH_MAX}) bytes")
    name = path.lstrip("/")
    if len(name.encode()) > NAME_MAX:
        raise KernelError(errno.ENAMETOOLONG, f"the name is over NAME_MAX ({NAME_MAX}) bytes")
    if "/" in name:
        raise KernelError(errno.ENOENT, f"{path!r}: the FIFO directory has no subdirectories")
    return "" if name in ("", ".", "..") else name


def _drop_name(ns: "IpcNamespace", inode: FifoInode) -> None:
    """The name is gone (unlink, the namespace's end): its quota charge too."""
    inode.linked = False
    if ns.quota is not None:
        ns.quota.uncharge("objects", inode.uid, key=(ns, inode.uid))


@syscall(45, "mknod", "mode:u32 path:text", result="none",
         doc="mknod(2) of a FIFO (S_IFIFO | mode; the client has applied its umask) in the "
             "namespace's FIFO directory, not the host's file system")
def sys_mknod(k: "Kernel", task: Task, mode: int, path: str) -> None:
    """do_mknodat(): may_mknod, the name's lookup, then vfs_mknod of a FIFO."""
    kind = mode & S_IFMT
    if kind == S_IFDIR:
        raise KernelError(errno.EPERM, "mknod of a directory (mkdir makes those)")
    if kind not in (0, S_IFREG, S_IFCHR, S_IFBLK, S_IFIFO, S_IFSOCK):
        raise KernelError(errno.EINVAL, f"mknod mode {mode:#o}: no such file type")
    ns, name = task.ns, fifo_name(path)
    state = pipe_ns(ns)
    if not name or name in state.fifos:
        raise KernelError(errno.EEXIST, f"{path!r} exists")
    if kind != S_IFIFO:
        raise KernelError(errno.EOPNOTSUPP, f"mknod mode {mode:#o}: uipc's name space holds "
                          "FIFOs only")
    cred = task.cred
    if ns.quota is not None:
        ns.quota.charge("objects", cred.euid, key=(ns, cred.euid))
    state.fifo_inos += 1
    state.fifos[name] = FifoInode(name, cred.euid, cred.egid, mode & S_IALLUGO, k.now,
                                  state.fifo_inos)


@syscall(49, "unlink", "path:text", result="none",
         doc="unlink(2) of a FIFO in the namespace's FIFO directory; open files keep its pipe")
def sys_unlink(k: "Kernel", task: Task, path: str) -> None:
    """do_unlinkat() in the sticky FIFO directory (1777, root's)."""
    ns, name = task.ns, fifo_name(path)
    if not name:
        raise KernelError(errno.EISDIR, f"{path!r} is the FIFO directory")
    state = pipe_ns(ns)
    inode = state.fifos.get(name)
    if inode is None:
        raise KernelError(errno.ENOENT, f"no FIFO {path!r}")
    check_sticky(task.cred, inode.uid)
    del state.fifos[name]
    _drop_name(ns, inode)


#: open(2)'s flags that the file keeps: build_open_flags' VALID_OPEN_FLAGS
#: less what do_dentry_open drops (O_CLOEXEC is the descriptor's)
_DROPPED_OPEN_FLAGS = O_CREAT | O_EXCL | O_NOCTTY | O_TRUNC | O_CLOEXEC
_SYNC_BIT = 0o4000000  # __O_SYNC


def inode_owner_or_capable(cred: Cred, owner: int) -> bool:
    """inode_owner_or_capable(): the owner, or CAP_FOWNER."""
    return cred.euid == owner or cred.capable(CAP_FOWNER)


def _check_open(cred: Cred, inode: FifoInode | None, flags: int, path: str) -> FifoInode:
    """path_openat()'s lookup and may_open() on a FIFO of the directory."""
    if flags & O_PATH:
        raise KernelError(errno.EOPNOTSUPP, "O_PATH: uipc's FIFOs are opened for I/O only")
    if flags & O_TMPFILE & ~O_DIRECTORY:
        raise KernelError(errno.EOPNOTSUPP, "O_TMPFILE: uipc's name space holds FIFOs only")
    if inode is None:
        if flags & O_CREAT:
            raise KernelError(errno.EOPNOTSUPP, f"no FIFO {path!r}: uipc's name space holds "
                              "FIFOs only (make one with mkfifo)")
        raise KernelError(errno.ENOENT, f"no FIFO {path!r}")
    if flags & (O_CREAT | O_EXCL) == O_CREAT | O_EXCL:
        raise KernelError(errno.EEXIST, f"{path!r} exists (O_CREAT|O_EXCL)")
    if flags & O_DIRECTORY:
        raise KernelError(errno.ENOTDIR, f"{path!r} is a FIFO, not a directory")
    if not generic_permission(cred, inode.uid, inode.gid, inode.mode, access_mask(flags)):
        raise KernelError(errno.EACCES, f"FIFO {path!r} (mode {inode.mode & 0o777:o}, uid "
                          f"{inode.uid}) does not grant uid {cred.euid} the access asked")
    if flags & O_NOATIME and not inode_owner_or_capable(cred, inode.uid):
        raise KernelError(errno.EPERM, "O_NOATIME: only the FIFO's owner or CAP_FOWNER")
    return inode


def undo_open(k: "Kernel", task: Task, new: NewFile) -> None:
    """The ``undo`` of an open whose descriptor could not be delivered."""
    undo_new_files(k, task, (new,))


@syscall(46, "open", "flags:i32 path:text", result="file", fds=1, undo=undo_open,
         doc="open(2) of a FIFO in the namespace's FIFO directory (fifo_open's rules: may "
             "wait for the other side). Replies with its descriptor (SCM_RIGHTS)")
def sys_open(k: "Kernel", task: Task, flags: int, path: str) -> Any:
    """do_sys_open() of a FIFO: the lookup, may_open, then fifo_open."""
    name = fifo_name(path)
    if not name:
        raise KernelError(errno.EISDIR, f"{path!r} is the FIFO directory")
    inode = _check_open(task.cred, pipe_ns(task.ns).fifos.get(name), flags, path)
    f_flags = (flags & ~_DROPPED_OPEN_FLAGS) | O_LARGEFILE  # force_o_largefile
    if flags & _SYNC_BIT:
        f_flags |= O_DSYNC
    if f_flags & O_DIRECT:
        # do_dentry_open: a FIFO's file has no FMODE_CAN_ODIRECT (after
        # fifo_open, whose ENXIO comes first)
        if flags & O_ACCMODE == O_WRONLY and flags & O_NONBLOCK and not (
                inode.pipe is not None and inode.pipe.readers):
            raise KernelError(errno.ENXIO, f"FIFO {path!r} has no reader (O_NONBLOCK)")
        raise KernelError(errno.EINVAL, "O_DIRECT: a FIFO's file cannot be opened for direct "
                          "I/O (set it with F_SETFL for packet mode)")
    file = alloc_file(k, task, PIPE_FOPS, f_flags, None)
    try:
        return fifo_open(k, task, inode, file, bool(flags & O_CLOEXEC))
    except KernelError:
        fput(k, file)
        raise


@dataclass(eq=False)
class FifoOpenWaiter(Waiter):
    """An open of a FIFO waiting for its partner (wait_for_partner): woken when
    the other side's counter moves.  Leaving any other way (a signal, exit)
    undoes the open (fifo_open's err_rd/err_wr)."""

    pipe: Any = None
    file: Any = None
    pf: Any = None
    #: "w_counter" (a reader waits for a writer) or "r_counter"
    counter: str = ""
    cur: int = 0
    cloexec: bool = False
    kernel: Any = None
    done: bool = False

    def wake_function(self, k: "Kernel", key: Any) -> bool:
        if not self.pending or getattr(self.pipe, self.counter) == self.cur:
            return False  # woken, but no partner came: asleep again (the loop)
        self.done = True
        k.wake(self, _opened(k, self.file, self.pf, self.cloexec))
        return True

    def unlink(self) -> None:
        super().unlink()
        if not self.done:
            self.done = True
            _open_failed(self.kernel, self.pipe, self.file, self.counter == "w_counter")


def _opened(k: "Kernel", file: File, pf: PipeFile, cloexec: bool) -> NewFile:
    """fifo_open's success: the file is the pipe's."""
    file.private_data = pf
    pf.pipe.open_files.add(file)
    return NewFile(file, cloexec)


def _open_failed(k: "Kernel", pipe: PipeInodeInfo, file: File, reader: bool) -> None:
    """fifo_open's err_rd / err_wr: the side it joined is left again."""
    if reader:
        pipe.readers -= 1
        if not pipe.readers:
            wake_up(k, pipe.wr_wait)
    else:
        pipe.writers -= 1
        if not pipe.writers:
            wake_up_all(k, pipe.rd_wait)
    pipe_changed(k, pipe)
    put_pipe_info(pipe)
    fput(k, file)


def wake_up_partner(k: "Kernel", pipe: PipeInodeInfo) -> None:
    wake_up_all(k, pipe.rd_wait)


def fifo_open(k: "Kernel", task: Task, inode: FifoInode, file: File, cloexec: bool) -> Any:
    """fifo_open(): join the FIFO's pipe (made by the first open) as reader,
    writer or both; a reader or writer alone waits for its partner."""
    mode = file.f_mode & (FMODE_READ | FMODE_WRITE)
    if not mode:
        raise KernelError(errno.EINVAL, "access mode 3 opens a FIFO for neither reading nor "
                          "writing")
    pipe = inode.pipe
    if pipe is None:
        pipe = alloc_pipe_info(task)
        if pipe is None:
            raise KernelError(errno.ENOMEM, f"uid {task.cred.euid} holds more pipe pages "
                              "than fs.pipe-user-pages-hard allows")
        pipe.inode, pipe.owner = inode, inode.uid
        inode.pipe = pipe
    pipe.files += 1
    pf = PipeFile(pipe)
    nonblock = bool(file.f_flags & O_NONBLOCK)
    wait = ""
    if mode == FMODE_READ:
        pipe.r_counter += 1
        pipe.readers += 1
        if pipe.readers == 1:
            wake_up_partner(k, pipe)
        if not pipe.writers:
            if nonblock:
                pf.f_pipe = pipe.w_counter  # no POLLHUP until a writer has come
            else:
                wait = "w_counter"
    elif mode == FMODE_WRITE:
        if nonblock and not pipe.readers:
            put_pipe_info(pipe)
            raise KernelError(errno.ENXIO, f"FIFO {inode.name!r} has no reader (O_NONBLOCK)")
        pipe.w_counter += 1
        pipe.writers += 1
        if pipe.writers == 1:
            wake_up_partner(k, pipe)
        if not pipe.readers:
            wait = "r_counter"
    else:  # O_RDWR never waits: it can talk to itself
        pipe.readers += 1
        pipe.writers += 1
        pipe.r_counter += 1
        pipe.w_counter += 1
        if pipe.readers == 1 or pipe.writers == 1:
            wake_up_partner(k, pipe)
    pipe_changed(k, pipe)
    if not wait:
        return _opened(k, file, pf, cloexec)
    waiter = FifoOpenWaiter(task=task, op="fifo open", pipe=pipe, file=file, pf=pf,
                            counter=wait, cur=getattr(pipe, wait), cloexec=cloexec, kernel=k)
    return k.park(pipe.rd_wait, waiter)

