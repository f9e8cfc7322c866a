"""include/linux/fs.h's struct file and file_operations; fs/file.c's fdtable.

The file layer the descriptor objects (pipes, FIFOs, eventfd, timerfd,
signalfd, POSIX message queues, epoll) will stand on.  SysV objects are not
files, here as in Linux: they are reached by id, never by descriptor.

* :class:`File` is one open file description (``struct file``): its
  operations (``f_op``), its open flags (``f_flags``; O_CLOEXEC is a
  property of a descriptor, not of the file, and is not kept there), the
  object behind it (``private_data``) and a reference count (``f_count``).
  Every descriptor and every kernel user holding it across a sleep counts
  one reference (``get_file``); ``fput`` drops one, and the last one calls
  ``f_op.release``.  A file is never released while a descriptor names it.
* :class:`FileOps` is ``struct file_operations``: ``read``, ``write``,
  ``poll``, ``release``, each given the kernel, the task (None when no task
  is behind it: the last reference went at exit) and the file.  A missing
  operation behaves as the VFS makes it: read/write EINVAL, poll
  DEFAULT_POLLMASK (always ready), release nothing.  ``read``/``write`` may
  park their task and return BLOCKED, as any syscall may (uipc/kernel/wait.py).
* ``poll`` returns the events ready now (POLLIN, POLLOUT...) and, given a
  :class:`PollTable`, registers on each wait queue that could change them
  (``poll_wait``): the table decides what registering means — for poll and
  select (``poll_initwait``) one more wait entry of the sleeping caller,
  woken by ``pollwake`` when an event it asked for may have happened.
* :class:`FdTable` is a process's ``struct files_struct`` (its threads share
  it): descriptor -> File, the close-on-exec flags, and ``max_fds``, the
  RLIMIT_NOFILE beyond which ``alloc_fd`` fails with EMFILE.  New
  descriptors are the lowest free one (``alloc_fd``); ``copy`` is fork's
  ``dup_fd`` (the child's table names the same File objects, one more
  reference each); ``close_on_exec`` is exec's ``do_close_on_exec``;
  ``close_all`` is exit's ``exit_files``, which ``do_exit`` runs after
  exit_mm, exit_sem and exit_shm.

No I/O: a File's bytes, if any, live in its private data, and nothing here
touches a real descriptor of the daemon.
"""
from __future__ import annotations

import errno
from typing import TYPE_CHECKING, Any, Callable

from uipc.kernel.errors import KernelError
from uipc.kernel.wait import WaitQueue, Waiter, WaitQueueEntry, autoremove_wake_function

if TYPE_CHECKING:
    from uipc.kernel.kernel import Kernel
    from uipc.kernel.task import Process, Task

# include/uapi/asm-generic/poll.h (user-visible: they belong in uipc/uapi once
# a syscall returns them)
POLLIN = 0x0001
POLLPRI = 0x0002
POLLOUT = 0x0004
POLLERR = 0x0008
POLLHUP = 0x0010
POLLNVAL = 0x0020
POLLRDNORM = 0x0040
POLLRDBAND = 0x0080
POLLWRNORM = 0x0100
POLLWRBAND = 0x0200
POLLMSG = 0x0400
POLLRDHUP = 0x2000
#: include/linux/poll.h: what a file without a poll operation reports
DEFAULT_POLLMASK = POLLIN | POLLOUT | POLLRDNORM | POLLWRNORM
#: POLLERR and POLLHUP are reported whether asked for or not (fs/select.c)
POLL_ALWAYS = POLLERR | POLLHUP

# include/uapi/asm-generic/fcntl.h
O_ACCMODE = 0o3
O_RDONLY = 0o0
O_WRONLY = 0o1
O_RDWR = 0o2
O_NONBLOCK = 0o4000
O_CLOEXEC = 0o2000000
FD_CLOEXEC = 1

# include/linux/fs.h
FMODE_READ = 0x1
FMODE_WRITE = 0x2

#: INR_OPEN_CUR: the default soft RLIMIT_NOFILE
INR_OPEN_CUR = 1024


class FileOps:
    """struct file_operations.  Subclass and override what the file does;
    each operation is given (kernel, task, file, ...)."""

    #: for messages and introspection ("pipe", "eventfd"...)
    name = "file"

    def read(self, k: "Kernel", task: "Task", file: "File", count: int) -> Any:
        """->read(): up to ``count`` bytes, or BLOCKED.  Without it: EINVAL."""
        raise KernelError(errno.EINVAL, f"a {self.name} cannot be read")

    def write(self, k: "Kernel", task: "Task", file: "File", data: bytes) -> Any:
        """->write(): bytes written, or BLOCKED.  Without it: EINVAL."""
        raise KernelError(errno.EINVAL, f"a {self.name} cannot be written")

    def poll(self, k: "Kernel", task: "Task | None", file: "File",
             pt: "PollTable | None") -> int:
        """->poll(): the events ready now; ``poll_wait`` on each queue that
        could change them.  Without it: DEFAULT_POLLMASK (vfs_poll)."""
        return DEFAULT_POLLMASK

    def flush(self, k: "Kernel", process: "Process | None", file: "File") -> None:
        """->flush(): ``process`` closes one descriptor of ``file`` (every
        close, not only the last: filp_flush).  Without it: nothing."""

    def release(self, k: "Kernel", task: "Task | None", file: "File") -> None:
        """->release(): the last reference to ``file`` is gone."""


class File:
    """struct file: one open file description."""

    __slots__ = ("f_op", "f_flags", "f_mode", "private_data", "f_count", "f_ino", "f_uid")

    def __init__(self, f_op: FileOps, f_flags: int = O_RDWR, private_data: Any = None) -> None:
        self.f_op = f_op
        #: the open flags (O_RDONLY/O_WRONLY/O_RDWR, O_NONBLOCK...), without O_CLOEXEC
        self.f_flags = f_flags & ~O_CLOEXEC
        #: FMODE_READ | FMODE_WRITE, from the access mode (OPEN_FMODE)
        self.f_mode = OPEN_FMODE(f_flags)
        #: the object behind the file (a pipe, an eventfd counter...)
        self.private_data = private_data
        #: references: one per descriptor naming it, one per kernel user holding it
        self.f_count = 1
        #: the inode of the real descriptor the daemon gave the client for it
        #: (its doorbell, uipc/server/doorbell.py), which also names it in the
        #: process's FdTable; 0 until installed (install_file)
        self.f_ino = 0
        #: f_cred's uid: who opened it (charged for it in uipc.quota.files)
        self.f_uid = -1

    def __repr__(self) -> str:
        return f"File({self.f_op.name}, f_flags={self.f_flags:#o}, f_count={self.f_count})"


class NewFile:
    """A syscall's new open file (result kind ``file``), before the daemon
    installs it under its real descriptor's inode (Kernel.install_file)."""

    __slots__ = ("file", "cloexec")

    def __init__(self, file: File, cloexec: bool) -> None:
        self.file = file
        self.cloexec = cloexec


def alloc_file(k: "Kernel", task: "Task", f_op: FileOps, f_flags: int, private_data: Any) -> File:
    """alloc_file(): a new open file of ``task``'s, charged to its uid's
    uipc.quota.files (EMFILE past it) until its last reference goes (fput)."""
    uid = task.cred.euid
    k.quota.charge("files", uid, 1, errno.EMFILE)
    file = File(f_op, f_flags, private_data)
    file.f_uid = uid
    return file


def undo_new_file(k: "Kernel", task: "Task", new: NewFile) -> None:
    """A syscall's new file whose descriptor could not be delivered: the
    open never happened (the ``undo`` of a result of kind ``file``)."""
    fput(k, new.file)


def OPEN_FMODE(flags: int) -> int:  # noqa: N802 - the kernel's macro
    """OPEN_FMODE(): O_RDONLY -> FMODE_READ, O_WRONLY -> FMODE_WRITE, O_RDWR -> both."""
    acc = flags & O_ACCMODE
    return ((FMODE_READ if acc in (O_RDONLY, O_RDWR) else 0)
            | (FMODE_WRITE if acc in (O_WRONLY, O_RDWR) else 0))


def get_file(file: File) -> File:
    """get_file(): one more reference (a new descriptor, a sleeper holding it)."""
    file.f_count += 1
    return file


def fput(k: "Kernel", file: File, task: "Task | None" = None) -> None:
    """fput(): drop a reference; the last one releases the file (__fput)."""
    if file.f_count <= 0:
        raise ValueError(f"fput of {file}, already released")
    file.f_count -= 1
    if file.f_count == 0:
        k.before_release(file)  # __fput: eventpoll_release first, then ->release
        file.f_op.release(k, task, file)
        k.poll_dirty.discard(file)
        if file.f_uid >= 0:  # alloc_file's charge goes back
            k.quota.uncharge("files", file.f_uid)
        if file.f_ino:  # the daemon frees the real descriptor's doorbell
            k.files_released.append(file)


# --- the operations, as the VFS calls them ------------------------------------
def vfs_read(k: "Kernel", task: "Task", file: File, count: int) -> Any:
    """vfs_read(): EBADF unless open for reading, then ->read()."""
    if not file.f_mode & FMODE_READ:
        raise KernelError(errno.EBADF, "the descriptor is not open for reading")
    if count < 0:
        raise KernelError(errno.EINVAL, f"count {count} is negative")
    return file.f_op.read(k, task, file, count)


def vfs_write(k: "Kernel", task: "Task", file: File, data: bytes) -> Any:
    """vfs_write(): EBADF unless open for writing, then ->write()."""
    if not file.f_mode & FMODE_WRITE:
        raise KernelError(errno.EBADF, "the descriptor is not open for writing")
    return file.f_op.write(k, task, file, data)


def vfs_poll(k: "Kernel", task: "Task | None", file: File, pt: "PollTable | None") -> int:
    """vfs_poll(): the file's ready events, registering on ``pt``."""
    return file.f_op.poll(k, task, file, pt)


# --- poll tables ----------------------------------------------------------------
#: poll_queue_proc: (file, queue, table) -> None
PollQueueProc = Callable[[File, WaitQueue, "PollTable"], None]


class PollTable:
    """struct poll_table_struct: how ``poll_wait`` registers (``qproc``, None:
    it does not, as for a poll that will not sleep) and the events asked
    for (``key``)."""

    __slots__ = ("qproc", "key")

    def __init__(self, qproc: PollQueueProc | None, key: int = ~0) -> None:
        self.qproc = qproc
        self.key = key


def poll_wait(file: File, queue: WaitQueue | None, pt: PollTable | None) -> None:
    """poll_wait(): a file's ->poll says which queue may change its events."""
    if pt is not None and pt.qproc is not None and queue is not None:
        pt.qproc(file, queue, pt)


def pollwake(k: "Kernel", entry: WaitQueueEntry, key: Any) -> bool:
    """pollwake(): a waker that names its events (``key``, a poll mask) wakes
    the poller only for the events it asked for (``entry.private``)."""
    wanted: int = getattr(entry, "private", ~0)
    if key is not None and not key & (wanted | POLL_ALWAYS):
        return False
    return autoremove_wake_function(k, entry, key)


def poll_initwait(waiter: Waiter, key: int = ~0) -> PollTable:
    """poll_initwait(): a table whose poll_wait adds an entry of ``waiter``
    (woken by pollwake) to each queue (__pollwait); they all go when the
    waiter does (poll_freewait)."""
    def qproc(file: File, queue: WaitQueue, pt: PollTable) -> None:
        waiter.add_wait(queue, pollwake, private=pt.key)
    return PollTable(qproc, key)


# --- the descriptor table ---------------------------------------------------------
class FdTable:
    """struct files_struct: a process's descriptors (fs/file.c)."""

    __slots__ = ("_fds", "_cloexec", "_next_fd", "max_fds")

    def __init__(self, max_fds: int = INR_OPEN_CUR) -> None:
        # fd -> File; None: reserved by alloc_fd, not yet installed
        self._fds: dict[int, File | None] = {}
        #: close_on_exec_fds
        self._cloexec: set[int] = set()
        # files->next_fd: no free descriptor below it
        self._next_fd = 0
        #: RLIMIT_NOFILE: descriptors are < max_fds
        self.max_fds = max_fds

    # --- allocation
    def alloc_fd(self, start: int = 0, cloexec: bool = False) -> int:
        """alloc_fd(): reserve the lowest free descriptor >= ``start``.

        Raises:
            EMFILE: none is free below max_fds (RLIMIT_NOFILE).
        """
        fds = self._fds
        fd = max(start, self._next_fd)
        while fd in fds:
            fd += 1
        if fd >= self.max_fds:
            raise KernelError(errno.EMFILE, f"no free descriptor below RLIMIT_NOFILE "
                              f"({self.max_fds}): the process has {len(fds)} open")
        fds[fd] = None
        if start <= self._next_fd:
            self._next_fd = fd + 1
        self._set_cloexec(fd, cloexec)
        return fd

    def put_unused_fd(self, fd: int) -> None:
        """put_unused_fd(): give back a descriptor alloc_fd reserved."""
        if fd in self._fds and self._fds[fd] is None:
            self._free(fd)

    def install(self, fd: int, file: File) -> None:
        """fd_install(): a reserved descriptor now names ``file`` (the
        caller's reference becomes the descriptor's)."""
        if fd not in self._fds or self._fds[fd] is not None:
            raise ValueError(f"fd_install: descriptor {fd} was not reserved by alloc_fd")
        self._fds[fd] = file

    def new_fd(self, file: File, cloexec: bool = False) -> int:
        """get_unused_fd_flags() + fd_install(): the lowest free descriptor
        for ``file``, taking over the caller's reference.  Raises EMFILE."""
        fd = self.alloc_fd(0, cloexec)
        self._fds[fd] = file
        return fd

    def _free(self, fd: int) -> None:
        """__put_unused_fd()."""
        del self._fds[fd]
        self._cloexec.discard(fd)
        if fd < self._next_fd:
            self._next_fd = fd

    def _set_cloexec(self, fd: int, on: bool) -> None:
        if on:
            self._cloexec.add(fd)
        else:
            self._cloexec.discard(fd)

    # --- lookup
    def get(self, fd: int) -> File:
        """fget(), borrowed: the File ``fd`` names.  The core is single-
        threaded, so nothing closes it under the caller; a caller that keeps
        it across a sleep takes its own reference (get_file).

        Raises:
            EBADF: ``fd`` is not an open descriptor.
        """
        file = self._fds.get(fd) if fd >= 0 else None
        if file is None:
            raise KernelError(errno.EBADF, f"descriptor {fd} is not open")
        return file

    def get_cloexec(self, fd: int) -> bool:
        """F_GETFD's FD_CLOEXEC.  Raises EBADF."""
        self.get(fd)
        return fd in self._cloexec

    def set_cloexec(self, fd: int, on: bool) -> None:
        """F_SETFD's FD_CLOEXEC.  Raises EBADF."""
        self.get(fd)
        self._set_cloexec(fd, on)

    # --- close and dup
    def pick(self, fd: int) -> File:
        """pick_file(): take ``fd`` out of the table, its reference with it.
        Raises EBADF."""
        file = self.get(fd)
        self._free(fd)
        return file

    def close(self, k: "Kernel", fd: int, task: "Task | None" = None,
              process: "Process | None" = None) -> None:
        """close_fd(): the descriptor goes (->flush by the closing process,
        ``task``'s or ``process``); its file is released if that was its last
        reference.  Raises EBADF."""
        file = self.pick(fd)
        file.f_op.flush(k, task.process if task is not None else process, file)
        fput(k, file, task)

    def install_at(self, k: "Kernel", fd: int, file: File, cloexec: bool = False,
                   process: "Process | None" = None) -> None:
        """A descriptor number chosen outside the table (the inode of the real
        descriptor the client holds) names ``file``, taking the caller's
        reference; a file it named before is closed, as dup2 closes it: the
        client's real descriptor of that number is demonstrably gone."""
        old = self._fds.get(fd)
        self._fds[fd] = file
        self._set_cloexec(fd, cloexec)
        if old is not None:
            old.f_op.flush(k, process, old)
            fput(k, old)

    def dup(self, fd: int, start: int = 0, cloexec: bool = False) -> int:
        """dup() (start 0), fcntl F_DUPFD / F_DUPFD_CLOEXEC: the lowest free
        descriptor >= ``start`` names the same file.

        Raises (in Linux's order): EINVAL: ``start`` outside [0, max_fds)
        (f_dupfd); EBADF: ``fd`` is not open; EMFILE.
        """
        if start < 0 or start >= self.max_fds:
            raise KernelError(errno.EINVAL, f"F_DUPFD from {start}, outside [0, RLIMIT_NOFILE "
                              f"{self.max_fds})")
        file = self.get(fd)
        new = self.alloc_fd(start, cloexec)
        self._fds[new] = get_file(file)
        return new

    def dup2(self, k: "Kernel", oldfd: int, newfd: int, task: "Task | None" = None) -> int:
        """dup2(): as dup3 without flags; ``oldfd == newfd`` returns it if open."""
        if oldfd == newfd:
            self.get(oldfd)
            return newfd
        return self.dup3(k, oldfd, newfd, False, task)

    def dup3(self, k: "Kernel", oldfd: int, newfd: int, cloexec: bool,
             task: "Task | None" = None) -> int:
        """ksys_dup3() / do_dup2(): ``newfd`` names ``oldfd``'s file; the file
        it named before loses that reference (closed silently).

        Raises (in Linux's order):
            EINVAL: oldfd == newfd.
            EBADF: newfd outside [0, max_fds); oldfd is not open.
            EBUSY: newfd is reserved by an open in progress.
        """
        if oldfd == newfd:
            raise KernelError(errno.EINVAL, "dup3 with oldfd == newfd")
        if newfd < 0 or newfd >= self.max_fds:
            raise KernelError(errno.EBADF, f"descriptor {newfd} is outside [0, RLIMIT_NOFILE "
                              f"{self.max_fds})")
        file = self.get(oldfd)
        fds = self._fds
        if newfd in fds and fds[newfd] is None:
            raise KernelError(errno.EBUSY, f"descriptor {newfd} is being opened")
        tofree = fds.get(newfd)
        fds[newfd] = get_file(file)
        self._set_cloexec(newfd, cloexec)
        if tofree is not None:
            fput(k, tofree, task)
        return newfd

    # --- fork, exec, exit
    def copy(self) -> "FdTable":
        """dup_fd(): fork's copy.  The child's descriptors name the same File
        objects (one more reference each) with the same close-on-exec flags;
        a descriptor still being opened is not copied."""
        new = FdTable(self.max_fds)
        for fd, file in self._fds.items():
            if file is not None:
                new._fds[fd] = get_file(file)
        new._cloexec = {fd for fd in self._cloexec if fd in new._fds}
        new._next_fd = 0
        return new

    def close_on_exec(self, k: "Kernel", process: "Process | None" = None) -> None:
        """do_close_on_exec(): exec closes the close-on-exec descriptors."""
        for fd in sorted(self._cloexec):
            if self._fds.get(fd) is not None:
                self.close(k, fd, process=process)

    def close_all(self, k: "Kernel", process: "Process | None" = None) -> None:
        """close_files(): every descriptor goes, in order (exit_files)."""
        for fd in sorted(self._fds):
            file = self._fds[fd]
            self._free(fd)
            if file is not None:
                file.f_op.flush(k, process, file)
                fput(k, file)

    # --- introspection
    def fds(self) -> list[int]:
        """The open descriptors, in order."""
        return sorted(fd for fd, file in self._fds.items() if file is not None)

    def __len__(self) -> int:
        """Open descriptors (reserved ones do not count)."""
        return sum(1 for file in self._fds.values() if file is not None)

    def __contains__(self, fd: object) -> bool:
        return self._fds.get(fd) is not None  # type: ignore[call-overload]


def exit_files(k: "Kernel", process: "Process") -> None:
    """exit_files(): the exiting process's descriptors all close."""
    process.files.close_all(k, process)
