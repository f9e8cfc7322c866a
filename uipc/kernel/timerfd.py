"""fs/timerfd.c: a timer as a file, on the kernel's monotonic timer heap.

* ``timerfd_create(clockid, flags)``: CLOCK_REALTIME, CLOCK_MONOTONIC or
  CLOCK_BOOTTIME (EINVAL for others); TFD_NONBLOCK, TFD_CLOEXEC (EINVAL for
  other flags); the timer starts disarmed;
* ``timerfd_settime(fd, flags, interval, value)``: EINVAL for flags other
  than TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET or an invalid time;
  value 0 disarms; else it expires at ``value`` (absolute on its clock with
  TFD_TIMER_ABSTIME, else relative) and then every ``interval``; returns the
  old (interval, value) as timerfd_gettime would; the expiration count
  restarts at 0;
* ``timerfd_gettime``: (interval, time left until the next expiry; 0 if
  disarmed);
* read: EINVAL under 8 bytes; with no expiration yet, EAGAIN if
  O_NONBLOCK, else sleep; then the 8-byte count of expirations, which
  restarts at 0 (overruns of a periodic timer are counted, as
  hrtimer_forward does);
* poll: POLLIN once it has expired; write: EINVAL (no ->write).

Time: CLOCK_MONOTONIC and CLOCK_BOOTTIME run on the kernel's monotonic
clock (uipc has no suspend, so they agree).  The core keeps one monotonic
timer heap, so a CLOCK_REALTIME absolute time becomes the monotonic
deadline ``mono + (value - now)`` when set; the wall-clock time is kept too,
and when the caller reports that the wall clock was set
(``Kernel.clock_was_set``) :func:`timerfd_clock_was_set` re-bases every such
deadline on the new offset, as the hrtimer realtime base moves (relative
timers are on the monotonic base in Linux too: ``__hrtimer_init``), and
cancels the timers armed TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET on
CLOCK_REALTIME: the next read (a sleeping one, or the next one) fails with
ECANCELED, and poll shows them readable until then; a timerfd_settime that
arms such a timer before that read fails with ECANCELED too (the timer is
armed all the same), as ``timerfd_setup`` does.
"""
from __future__ import annotations

import errno
import struct
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from uipc.kernel.entry import syscall
from uipc.kernel.errors import KernelError
from uipc.kernel.file import (
    O_CLOEXEC, O_NONBLOCK, O_RDWR, POLLIN, File, FileOps, NewFile, PollTable,
    alloc_file, poll_wait, undo_new_file,
)
from uipc.kernel.read_write import fdget
from uipc.kernel.task import Task
from uipc.kernel.time import NSEC_PER_SEC, Timer, timespec_seconds
from uipc.kernel.wait import WaitQueue, Waiter, wake_up

if TYPE_CHECKING:
    from uipc.kernel.kernel import Kernel

# include/uapi/linux/time.h, timerfd.h
CLOCK_REALTIME, CLOCK_MONOTONIC, CLOCK_BOOTTIME = 0, 1, 7
TFD_TIMER_ABSTIME = 1
TFD_TIMER_CANCEL_ON_SET = 2
TFD_NONBLOCK, TFD_CLOEXEC = O_NONBLOCK, O_CLOEXEC
_U64 = struct.Struct("<Q")


@dataclass(eq=False)
class TimerfdCtx:
    """struct timerfd_ctx."""

    clockid: int
    ticks: int = 0
    #: the armed expiry (CLOCK_MONOTONIC) and period, or None
    expires: float | None = None
    interval: float = 0.0
    timer: Timer | None = None
    wqh: WaitQueue = field(default_factory=WaitQueue)
    file: File | None = None
    #: the armed expiry on CLOCK_REALTIME of an absolute realtime timer (its
    #: hrtimer is on the realtime base: a clock set moves it), else None
    real_expires: float | None = None
    #: armed TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET on CLOCK_REALTIME
    might_cancel: bool = False
    #: ctx->moffs: the realtime - monotonic offset it last saw
    moffs: float = 0.0
    #: ctx->moffs == KTIME_MAX: the clock was set; the next read says ECANCELED
    canceled: bool = False

    def poll_mask(self) -> int:
        return POLLIN if self.ticks else 0  # timerfd_poll: EPOLLIN alone

    def notify(self, k: "Kernel") -> None:
        """timerfd_triggered(): ``wake_up_locked_poll(&ctx->wqh, EPOLLIN)``
        (an item watching only EPOLLOUT skips it; one exclusive entry at
        most counts)."""
        wake_up(k, self.wqh, POLLIN)
        if self.file is not None:
            k.poll_dirty.add(self.file)


def _fire(k: "Kernel", ctx: TimerfdCtx) -> None:
    """timerfd_tmrproc(): one expiration (and the overruns of a period)."""
    ctx.timer = None
    if ctx.expires is None:
        return
    now = k.mono
    if ctx.interval > 0:
        overruns = 1 + int((now - ctx.expires) // ctx.interval) if now >= ctx.expires else 1
        ctx.ticks += overruns
        ctx.expires += overruns * ctx.interval
        if ctx.real_expires is not None:  # the period goes on on the realtime base
            ctx.real_expires += overruns * ctx.interval
        ctx.timer = k.timers.add(ctx.expires, lambda t: _fire(k, ctx))
    else:
        ctx.ticks += 1
        ctx.expires = ctx.real_expires = None
    ctx.notify(k)


def _arm_at(k: "Kernel", ctx: TimerfdCtx, expires: float) -> None:
    """hrtimer_start() at a monotonic expiry; a time already due expires at
    once, as hrtimer_start of a past time (or a clock set past it) does."""
    ctx.expires = expires
    if expires <= k.mono:
        _fire(k, ctx)
    else:
        ctx.timer = k.timers.add(expires, lambda t: _fire(k, ctx))


def timerfd_canceled(k: "Kernel", ctx: TimerfdCtx) -> bool:
    """timerfd_canceled(): was the clock set since the cancelable timer last
    looked?  Saying so once clears it (ctx->moffs takes the new offset)."""
    if not ctx.might_cancel or not ctx.canceled:
        return False
    ctx.canceled, ctx.moffs = False, k.clock.offs_real
    return True


def timerfd_setup_cancel(k: "Kernel", ctx: TimerfdCtx, flags: int) -> None:
    """timerfd_setup_cancel(): only an absolute CLOCK_REALTIME timer armed
    with TFD_TIMER_CANCEL_ON_SET is on the cancel list."""
    ctx.might_cancel = (ctx.clockid == CLOCK_REALTIME and bool(flags & TFD_TIMER_ABSTIME)
                        and bool(flags & TFD_TIMER_CANCEL_ON_SET))
    _track(k, ctx)


def _track(k: "Kernel", ctx: TimerfdCtx) -> None:
    """Keep ``k.clock_list`` to the timerfds a clock set concerns: the cancel
    list and the absolute realtime timers (the hrtimer realtime base)."""
    if ctx.might_cancel or ctx.real_expires is not None:
        k.clock_list[ctx] = None
    else:
        k.clock_list.pop(ctx, None)


def timerfd_clock_was_set(k: "Kernel") -> None:
    """timerfd_clock_was_set() with the realtime base's retrigger: the wall
    clock was set (``k.clock`` holds the new readings).  A cancelable timer
    whose offset changed is canceled (a tick wakes its reader, who then gets
    ECANCELED); every armed absolute realtime timer expires at its wall-clock
    time on the new offset.  The caller runs the timers now due."""
    moffs = k.clock.offs_real
    for ctx in list(k.clock_list):
        if ctx.might_cancel and ctx.moffs != moffs:
            ctx.canceled = True
            ctx.ticks += 1  # the wake-up needs ticks, as in Linux
            ctx.notify(k)
        if ctx.real_expires is not None and ctx.timer is not None:
            k.timers.cancel(ctx.timer)
            ctx.timer = None
            _arm_at(k, ctx, ctx.real_expires - moffs)


@dataclass(eq=False)
class TimerfdWaiter(Waiter):
    """A read asleep on a timerfd."""


class TimerfdFileOps(FileOps):
    """timerfd_fops: read and poll; no write (EINVAL)."""

    name = "timerfd"

    def read(self, k: "Kernel", task: "Task", file: File, count: int) -> Any:
        ctx: TimerfdCtx = file.private_data
        if count < 8:
            raise KernelError(errno.EINVAL, f"timerfd read of {count} bytes: the count is 8")

        def attempt() -> object:
            if not ctx.ticks and not file.f_flags & O_NONBLOCK:
                return k.park(ctx.wqh, TimerfdWaiter(task=task, op="timerfd read",
                                                     restart=attempt))
            if timerfd_canceled(k, ctx):
                # "if clock has changed, we do not care about the ticks"
                ctx.ticks = 0
                if ctx.file is not None:
                    k.poll_dirty.add(ctx.file)
                raise KernelError(errno.ECANCELED, "the wall clock was set: the timer was "
                                  "armed with TFD_TIMER_CANCEL_ON_SET")
            if not ctx.ticks:
                raise KernelError(errno.EAGAIN, "the timer has not expired and the "
                                  "descriptor is non-blocking")
            ticks, ctx.ticks = ctx.ticks, 0
            if ctx.file is not None:
                k.poll_dirty.add(ctx.file)
            return _U64.pack(ticks)
        return attempt()

    def poll(self, k: "Kernel", task: "Task | None", file: File, pt: PollTable | None) -> int:
        ctx: TimerfdCtx = file.private_data
        poll_wait(file, ctx.wqh, pt)
        return ctx.poll_mask()

    def release(self, k: "Kernel", task: "Task | None", file: File) -> None:
        ctx: TimerfdCtx = file.private_data
        if ctx.timer is not None:
            k.timers.cancel(ctx.timer)
            ctx.timer = None
        ctx.expires, ctx.real_expires, ctx.file, ctx.might_cancel = None, None, None, False
        k.clock_list.pop(ctx, None)  # timerfd_remove_cancel


TIMERFD_FOPS = TimerfdFileOps()


@syscall(40, "timerfd_create", "clockid:i32 flags:i32", result="file", fds=1,
         undo=undo_new_file,
         doc="timerfd_create(2). Replies with its descriptor (SCM_RIGHTS); calls name it by "
             "that descriptor's st_ino")
def sys_timerfd_create(k: "Kernel", task: Task, clockid: int, flags: int) -> NewFile:
    if flags & ~(TFD_NONBLOCK | TFD_CLOEXEC):
        raise KernelError(errno.EINVAL, f"timerfd_create flags {flags:#x}: only TFD_NONBLOCK "
                          "and TFD_CLOEXEC")
    if clockid not in (CLOCK_REALTIME, CLOCK_MONOTONIC, CLOCK_BOOTTIME):
        raise KernelError(errno.EINVAL, f"clockid {clockid}: CLOCK_REALTIME, CLOCK_MONOTONIC "
                          "or CLOCK_BOOTTIME")
    ctx = TimerfdCtx(clockid, moffs=k.clock.offs_real)
    file = alloc_file(k, task, TIMERFD_FOPS, O_RDWR | (flags & O_NONBLOCK), ctx)
    ctx.file = file
    return NewFile(file, bool(flags & TFD_CLOEXEC))


def _timer_of(task: Task, fd: int) -> TimerfdCtx:
    file = fdget(task, fd)
    if file.f_op is not TIMERFD_FOPS:
        raise KernelError(errno.EINVAL, "the descriptor is not a timerfd")
    return file.private_data  # type: ignore[no-any-return]


def _gettime(k: "Kernel", ctx: TimerfdCtx) -> list[int]:
    """timerfd_gettime()'s itimerspec: [interval s, ns, value s, ns]."""
    left = 0.0 if ctx.expires is None else max(ctx.expires - k.mono, 1e-9)
    isec, insec = divmod(round(ctx.interval * NSEC_PER_SEC), NSEC_PER_SEC)
    vsec, vnsec = divmod(round(left * NSEC_PER_SEC), NSEC_PER_SEC)
    return [isec, insec, vsec, vnsec]


@syscall(41, "timerfd_settime",
         "fd:u64 flags:i32 int_sec:i64 int_nsec:i64 val_sec:i64 val_nsec:i64", result="ctl",
         doc="timerfd_settime(2). Result: the old itimerspec [interval s, ns, value s, ns]")
def sys_timerfd_settime(k: "Kernel", task: Task, fd: int, flags: int, int_sec: int,
                        int_nsec: int, val_sec: int, val_nsec: int) -> list[int]:
    """do_timerfd_settime()."""
    interval = timespec_seconds(int_sec, int_nsec, "interval")
    value = timespec_seconds(val_sec, val_nsec, "value")
    if flags & ~(TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET):
        raise KernelError(errno.EINVAL, f"timerfd_settime flags {flags:#x}")
    ctx = _timer_of(task, fd)
    timerfd_setup_cancel(k, ctx, flags)
    old = _gettime(k, ctx)
    if ctx.timer is not None:
        k.timers.cancel(ctx.timer)
        ctx.timer = None
    ctx.ticks, ctx.interval, ctx.expires, ctx.real_expires = 0, interval, None, None
    if ctx.file is not None:
        k.poll_dirty.add(ctx.file)
    if value:
        absolute_real = bool(flags & TFD_TIMER_ABSTIME) and ctx.clockid == CLOCK_REALTIME
        if absolute_real:
            ctx.real_expires = value  # kept: a clock set re-bases the deadline
        _track(k, ctx)
        if flags & TFD_TIMER_ABSTIME:
            base = k.now if absolute_real else k.mono
            _arm_at(k, ctx, k.mono + (value - base))
        else:
            _arm_at(k, ctx, k.mono + value)
        if timerfd_canceled(k, ctx):  # timerfd_setup: armed, yet the caller must re-read the clock
            raise KernelError(errno.ECANCELED, "the wall clock was set since the timer was "
                              "armed with TFD_TIMER_CANCEL_ON_SET")
    _track(k, ctx)
    return old


@syscall(42, "timerfd_gettime", "fd:u64", result="ctl",
         doc="timerfd_gettime(2). Result: [interval s, ns, value s, ns]")
def sys_timerfd_gettime(k: "Kernel", task: Task, fd: int) -> list[int]:
    return _gettime(k, _timer_of(task, fd))
