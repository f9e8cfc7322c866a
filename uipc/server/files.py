"""What the core asks of real descriptors and processes, done.

The core is sans-I/O: a syscall that opens a file, changes a queue's poll
mask, releases a file or fires a notification says so in the kernel's
outputs (``Kernel.poll_dirty``, ``files_released``, ``signals``), and this
module acts on them:

* ``fd_of``: the descriptor a reply carries.  A memory object's (shmat,
  shm_open) comes from the memfd allocator; a new open file's (mq_open) is a
  fresh doorbell (uipc/server/doorbell.py), installed in the core under its
  inode before the reply goes;
* ``apply``: doorbells follow their files' poll masks, released files free
  theirs, notification signals are sent (uipc/server/siginfo.py) — before
  the replies of the input that caused them go out, so a process that got
  its mq_send's answer finds the queue readable in select();
* a doorbell whose client closed its last descriptor closes the file in
  every process that held it (``Kernel.doorbell_closed``).
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Callable

from uipc.kernel import Kernel
from uipc.kernel.file import (
    FMODE_READ, FMODE_WRITE, POLLERR, POLLHUP, POLLIN, POLLOUT, POLLRDBAND, POLLRDNORM,
    POLLWRBAND, POLLWRNORM, NewFile, vfs_poll,
)
from uipc.server.doorbell import Doorbells
from uipc.server.siginfo import send_siginfo, sigqueue_via_pid

if TYPE_CHECKING:
    from uipc.server.transport import Conn

log = logging.getLogger("uipc.daemon")


#: fs/select.c's POLLIN_SET and POLLOUT_SET: what select() counts as
#: readable and writable (a hang-up reads as EOF, an error makes both fail)
POLLIN_SET = POLLIN | POLLRDNORM | POLLRDBAND | POLLHUP | POLLERR
POLLOUT_SET = POLLOUT | POLLWRNORM | POLLWRBAND | POLLERR


def doorbell_mask(file: Any, mask: int) -> int:
    """The doorbell level showing a file's poll mask as select() reads it.

    A doorbell cannot show "neither" (a timerfd not yet expired, a pipe's
    empty read end, a full write end): a file open for writing only shows
    not-writable (and readable, which nobody asks of it), any other
    not-readable (and writable) (docs/deviations.md)."""
    shown = (POLLIN if mask & POLLIN_SET else 0) | (POLLOUT if mask & POLLOUT_SET else 0)
    if shown:
        return shown
    return POLLIN if file.f_mode & (FMODE_READ | FMODE_WRITE) == FMODE_WRITE else POLLOUT


class FileEffects:
    """The daemon's side of the core's file and signal outputs."""

    def __init__(self, kernel: Kernel, memory_fd_of: Callable[[Any, bool], int],
                 pidfds: dict[int, int], clock: Callable[[], tuple[float, float]]) -> None:
        self.kernel, self.memory_fd_of, self.pidfds, self.clock = kernel, memory_fd_of, pidfds, clock
        self.doorbells = Doorbells(self._closed)

    def fd_of(self, handle: Any, readonly: bool, conn: "Conn") -> int:
        """The descriptor to send for a reply's object (the caller closes it)."""
        if not isinstance(handle, NewFile):
            return self.memory_fd_of(handle, readonly)
        task = conn.session.task
        if task is None:
            raise OSError("no task")
        fd, ino = self.doorbells.create()
        try:
            self.kernel.install_file(task, handle, ino)
            self.apply()
        except BaseException:
            import os
            os.close(fd)
            self.doorbells.release(ino)
            raise
        return fd

    def pending(self) -> bool:
        k = self.kernel
        return bool(k.poll_dirty or k.files_released or k.signals)

    def apply(self) -> None:
        """Act on the core's outputs (cheap when there are none)."""
        k = self.kernel
        if k.files_released:
            for file in k.take_files_released():
                self.doorbells.release(file.f_ino)
        if k.poll_dirty:
            dirty, k.poll_dirty = k.poll_dirty, set()
            for file in dirty:
                if file.f_ino and file.f_count > 0:
                    mask = vfs_poll(k, None, file, None)
                    self.doorbells.set(file.f_ino, doorbell_mask(file, mask))
        if k.signals:
            signals, k.signals = k.signals, []
            for pid, signo, code, si_pid, si_uid, value in signals:
                self._signal(pid, signo, code, si_pid, si_uid, value)

    def _signal(self, pid: int, signo: int, code: int, si_pid: int, si_uid: int,
                value: int) -> None:
        """A notification signal to its process, as the kernel's kill_pid_info."""
        try:
            pidfd = self.pidfds.get(pid)
            if pidfd is not None:
                send_siginfo(pidfd, signo, code, si_pid, si_uid, value)
            else:
                sigqueue_via_pid(pid, signo, code, si_pid, si_uid, value)
        except OSError as exc:  # it exited meanwhile, or refuses us: as a lost signal
            log.info("cannot send signal %d to pid %d: %s", signo, pid, exc)

    def on_readable(self, mask: int) -> None:
        """The doorbells' inotify descriptor is readable: closes to act on."""
        self.doorbells.drain_events()
        self.apply()

    def _closed(self, ino: int) -> None:
        now, mono = self.clock()
        self.kernel.doorbell_closed(ino, now, mono)

    def close(self) -> None:
        self.doorbells.close()
