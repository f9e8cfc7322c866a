"""fs/eventfd.c: a 64-bit counter as a file.

* ``eventfd2(initval, flags)``: EINVAL for flags other than EFD_SEMAPHORE,
  EFD_NONBLOCK and EFD_CLOEXEC; the file is O_RDWR;
* read (``eventfd_read``): EINVAL for a buffer under 8 bytes; with the
  counter at 0, EAGAIN if O_NONBLOCK, else sleep until it is not; then the
  whole counter (the counter becomes 0), or 1 with EFD_SEMAPHORE (the
  counter goes down by one); every read wakes the file's queue naming
  EPOLLOUT (``wake_up_locked_poll(&ctx->wqh, EPOLLOUT)``): writers that
  waited for room retry, and an epoll item watching only EPOLLIN does not
  hear a semaphore read that leaves the counter above 0;
* write (``eventfd_write``): EINVAL for anything but 8 bytes (Linux 6.9 on;
  before, only under 8) or the value ULLONG_MAX; the value is added if the counter stays below ULLONG_MAX,
  else EAGAIN if O_NONBLOCK or sleep until a read makes room; 8 bytes
  written; every write, of 0 too, wakes the queue naming EPOLLIN: readers
  retry, and an edge-triggered epoll item hears it again;
* poll (``eventfd_poll``): POLLIN while the counter is above 0, POLLOUT
  while a write of 1 would not block (counter < ULLONG_MAX - 1), POLLERR at
  ULLONG_MAX (reachable only through eventfd_signal's overflow in Linux).

The counter travels little-endian, as on x86_64 and aarch64.  Readers and
writers sleep on the file's one wait queue, woken FIFO, each retrying.
"""
from __future__ import annotations

import errno
import struct
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from uipc.kernel.entry import syscall
from uipc.kernel.errors import KernelError
from uipc.kernel.file import (
    O_CLOEXEC, O_NONBLOCK, O_RDWR, POLLERR, POLLIN, POLLOUT, File,
    FileOps, NewFile, PollTable, alloc_file, poll_wait, undo_new_file,
)
from uipc.kernel.task import Task
from uipc.kernel.wait import WaitQueue, Waiter, wake_up

if TYPE_CHECKING:
    from uipc.kernel.kernel import Kernel

#: include/uapi/linux/eventfd.h
EFD_SEMAPHORE = 1
EFD_NONBLOCK = O_NONBLOCK
EFD_CLOEXEC = O_CLOEXEC
EFD_FLAGS = EFD_SEMAPHORE | EFD_NONBLOCK | EFD_CLOEXEC
ULLONG_MAX = (1 << 64) - 1
_U64 = struct.Struct("<Q")


@dataclass(eq=False)
class EventfdCtx:
    """struct eventfd_ctx."""

    count: int
    flags: int
    wqh: WaitQueue = field(default_factory=WaitQueue)
    #: the poll mask its file's doorbell last heard of
    mask: int = -1
    file: File | None = None

    def poll_mask(self) -> int:
        """eventfd_poll()'s mask (EPOLLIN, EPOLLOUT, EPOLLERR: without the
        RDNORM/WRNORM bits, which eventfd never sets)."""
        mask = POLLIN if self.count > 0 else 0
        if self.count == ULLONG_MAX:
            mask |= POLLERR
        if ULLONG_MAX - 1 > self.count:
            mask |= POLLOUT
        return mask

    def changed(self, k: "Kernel", key: int) -> None:
        """A read or write was done: ``wake_up_locked_poll(&ctx->wqh, key)``,
        as eventfd_read (EPOLLOUT) and eventfd_write (EPOLLIN) do after each
        success, whether or not the counter moved.  Sleepers retry whatever
        the key (default_wake_function); pollers and epoll items that watch
        none of the key's events skip it (pollwake, ep_poll_callback).  One
        exclusive entry at most (an EPOLLEXCLUSIVE item) counts, as
        __wake_up_locked_key's nr_exclusive 1.  The doorbell follows the
        mask, and only a changed mask touches it: the extra wake-ups cost
        no doorbell write."""
        if self.wqh:  # waitqueue_active()
            wake_up(k, self.wqh, key)
        mask = self.poll_mask()
        if mask != self.mask:
            self.mask = mask
            if self.file is not None:
                k.poll_dirty.add(self.file)


@dataclass(eq=False)
class EventfdWaiter(Waiter):
    """A read or write asleep on an eventfd."""


class EventfdFileOps(FileOps):
    """eventfd_fops."""

    name = "eventfd"

    def read(self, k: "Kernel", task: "Task", file: File, count: int) -> Any:
        ctx: EventfdCtx = file.private_data
        if count < 8:
            raise KernelError(errno.EINVAL, f"eventfd read of {count} bytes: the counter is 8")

        def attempt() -> object:
            if ctx.count == 0:
                if file.f_flags & O_NONBLOCK:
                    raise KernelError(errno.EAGAIN, "the eventfd counter is 0 and the "
                                      "descriptor is non-blocking")
                return k.park(ctx.wqh, EventfdWaiter(task=task, op="eventfd read",
                                                     restart=attempt))
            value = 1 if ctx.flags & EFD_SEMAPHORE else ctx.count
            ctx.count -= value
            ctx.changed(k, POLLOUT)
            return _U64.pack(value)
        return attempt()

    def write(self, k: "Kernel", task: "Task", file: File, data: bytes) -> Any:
        ctx: EventfdCtx = file.private_data
        if len(data) != 8:  # since Linux 6.9 (before: under 8)
            raise KernelError(errno.EINVAL, f"eventfd write of {len(data)} bytes: the counter "
                              "is 8")
        (value,) = _U64.unpack_from(data)
        if value == ULLONG_MAX:
            raise KernelError(errno.EINVAL, "eventfd write of ULLONG_MAX")

        def attempt() -> object:
            if ULLONG_MAX - ctx.count <= value:
                if file.f_flags & O_NONBLOCK:
                    raise KernelError(errno.EAGAIN, f"adding {value} would reach ULLONG_MAX "
                                      "and the descriptor is non-blocking")
                return k.park(ctx.wqh, EventfdWaiter(task=task, op="eventfd write",
                                                     restart=attempt))
            ctx.count += value
            ctx.changed(k, POLLIN)  # a write of 0 wakes too: ET items report again
            return 8
        return attempt()

    def poll(self, k: "Kernel", task: "Task | None", file: File, pt: PollTable | None) -> int:
        ctx: EventfdCtx = file.private_data
        poll_wait(file, ctx.wqh, pt)
        return ctx.poll_mask()

    def release(self, k: "Kernel", task: "Task | None", file: File) -> None:
        ctx: EventfdCtx = file.private_data
        ctx.file = None


EVENTFD_FOPS = EventfdFileOps()


@syscall(39, "eventfd2", "initval:u32 flags:i32", result="file", fds=1, undo=undo_new_file,
         doc="eventfd2(2). Replies with its descriptor (SCM_RIGHTS); calls name it by that "
             "descriptor's st_ino")
def sys_eventfd2(k: "Kernel", task: Task, initval: int, flags: int) -> NewFile:
    """do_eventfd(): a counter starting at ``initval``, as a new file."""
    if flags & ~EFD_FLAGS:
        raise KernelError(errno.EINVAL, f"eventfd flags {flags:#x}: only EFD_SEMAPHORE, "
                          "EFD_NONBLOCK and EFD_CLOEXEC")
    ctx = EventfdCtx(count=initval, flags=flags & EFD_SEMAPHORE)
    file = alloc_file(k, task, EVENTFD_FOPS, O_RDWR | (flags & O_NONBLOCK), ctx)
    ctx.file = file
    ctx.mask = ctx.poll_mask()
    return NewFile(file, bool(flags & EFD_CLOEXEC))

