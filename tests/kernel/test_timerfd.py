"""fs/timerfd.c on the pure core, with the fake clock: arming, periods and
overruns, reads, disarming, absolute times on both clocks, errors."""
from __future__ import annotations

import errno as E
import itertools
import struct

from tests.kernel.conftest import World
from uipc.kernel import BLOCKED, KernelError
from uipc.kernel.file import POLLIN
from uipc.kernel.syscalls import SYSCALLS
from uipc.kernel.timerfd import (
    CLOCK_MONOTONIC, CLOCK_REALTIME, TFD_NONBLOCK, TFD_TIMER_ABSTIME, TFD_TIMER_CANCEL_ON_SET,
)

U64 = struct.Struct("<Q")
_inos = itertools.count(5000)
NS = 1_000_000_000


def tfd(w: World, t, clock: int = CLOCK_MONOTONIC, flags: int = 0) -> int:  # type: ignore[no-untyped-def]
    new = w.call(t, "timerfd_create", clock, flags)
    ino = next(_inos)
    w.k.install_file(t, new, ino)
    return ino


def arm(w: World, t, fd: int, interval: float, value: float, flags: int = 0) -> list[int]:  # type: ignore[no-untyped-def]
    i, v = int(interval * NS), int(value * NS)
    return w.call(t, "timerfd_settime", fd, flags, i // NS, i % NS, v // NS, v % NS)


def advance(w: World, seconds: float) -> None:
    w.tick(seconds)
    w.k.advance(w.now)


def test_a_one_shot_timer_expires_once(w: World) -> None:
    t = w.proc_task()
    fd = tfd(w, t, flags=TFD_NONBLOCK)
    assert w.call(t, "timerfd_gettime", fd) == [0, 0, 0, 0]
    assert arm(w, t, fd, 0, 2) == [0, 0, 0, 0]
    assert w.err(t, "read", fd, 8) == E.EAGAIN
    advance(w, 1.0)
    assert w.call(t, "timerfd_gettime", fd) == [0, 0, 1, 0]
    advance(w, 1.5)
    file = t.process.files.get(fd)
    assert file.f_op.poll(w.k, t, file, None) & POLLIN
    assert w.call(t, "read", fd, 8) == U64.pack(1)
    assert w.call(t, "timerfd_gettime", fd) == [0, 0, 0, 0]  # disarmed after firing


def test_a_periodic_timer_counts_overruns(w: World) -> None:
    t = w.proc_task()
    fd = tfd(w, t, flags=TFD_NONBLOCK)
    arm(w, t, fd, 1, 1)
    advance(w, 3.5)  # expiries at 1, 2, 3
    assert w.call(t, "read", fd, 8) == U64.pack(3)
    advance(w, 1.0)
    assert w.call(t, "read", fd, 8) == U64.pack(1)


def test_a_blocked_read_wakes_at_expiry(w: World) -> None:
    t = w.proc_task()
    fd = tfd(w, t)
    arm(w, t, fd, 0, 5)
    assert w.call(t, "read", fd, 8) is BLOCKED
    advance(w, 4.9)
    assert w.done() == []
    advance(w, 0.2)
    assert w.done() == [(t, U64.pack(1))]


def test_settime_returns_the_old_setting_and_disarms_with_zero(w: World) -> None:
    t = w.proc_task()
    fd = tfd(w, t, flags=TFD_NONBLOCK)
    arm(w, t, fd, 2, 10)
    advance(w, 4)
    assert arm(w, t, fd, 0, 0) == [2, 0, 6, 0]
    advance(w, 20)
    assert w.err(t, "read", fd, 8) == E.EAGAIN


def test_absolute_times_on_each_clock(w: World) -> None:
    """Realtime: the wall clock (w.now); monotonic: the kernel's monotonic
    clock, which the World keeps equal to it; a past time fires at once."""
    t = w.proc_task()
    rt = tfd(w, t, CLOCK_REALTIME, TFD_NONBLOCK)
    arm(w, t, rt, 0, w.now + 3, TFD_TIMER_ABSTIME)
    advance(w, 3.01)
    assert w.call(t, "read", rt, 8) == U64.pack(1)
    past = tfd(w, t, CLOCK_MONOTONIC, TFD_NONBLOCK)
    arm(w, t, past, 0, w.now - 100, TFD_TIMER_ABSTIME)
    assert w.call(t, "read", past, 8) == U64.pack(1)


def test_errors(w: World) -> None:
    t = w.proc_task()
    assert w.err(t, "timerfd_create", 99, 0) == E.EINVAL
    assert w.err(t, "timerfd_create", CLOCK_MONOTONIC, 0x8) == E.EINVAL
    fd = tfd(w, t, flags=TFD_NONBLOCK)
    assert w.err(t, "timerfd_settime", fd, 0x4, 0, 0, 1, 0) == E.EINVAL
    assert w.err(t, "timerfd_settime", fd, 0, 0, 0, -1, 0) == E.EINVAL
    assert w.err(t, "timerfd_settime", fd, 0, 0, 0, 1, NS) == E.EINVAL
    assert w.err(t, "read", fd, 7) == E.EINVAL
    assert w.err(t, "write", fd, b"\0" * 8) == E.EINVAL
    efd = w.call(t, "eventfd2", 0, 0)
    w.k.install_file(t, efd, 4242)
    assert w.err(t, "timerfd_gettime", 4242) == E.EINVAL  # not a timerfd
    w.call(t, "close", fd, 0)
    assert w.k.timers.next_expiry() is None


# --- the wall clock is set (fs/timerfd.c timerfd_clock_was_set) -------------
CANCEL = TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET


class TwoClocks:
    """Drives the kernel with separate realtime and monotonic readings, so
    the wall clock can jump while the monotonic clock runs on."""

    def __init__(self, w: World) -> None:
        self.w, self.real, self.mono = w, w.now, w.now

    def call(self, t, name: str, *args):  # type: ignore[no-untyped-def]
        return self.w.k.syscall(t, SYSCALLS[name], *args, now=self.real, mono=self.mono)

    def err(self, t, name: str, *args) -> int:  # type: ignore[no-untyped-def]
        try:
            self.call(t, name, *args)
        except KernelError as exc:
            return exc.errno
        raise AssertionError(f"{name} did not fail")

    def arm(self, t, fd: int, interval: float, value: float, flags: int = 0):  # type: ignore[no-untyped-def]
        i, v = int(interval * NS), int(value * NS)
        return self.call(t, "timerfd_settime", fd, flags, i // NS, i % NS, v // NS, v % NS)

    def run(self, seconds: float) -> None:
        """Time passes on both clocks."""
        self.real += seconds
        self.mono += seconds
        self.w.k.advance(self.real, self.mono)

    def set_clock(self, jump: float) -> None:
        """clock_settime(CLOCK_REALTIME, now + jump), reported to the core."""
        self.real += jump
        self.w.k.clock_was_set(self.real, self.mono)


def readable(w: World, t, fd: int) -> bool:  # type: ignore[no-untyped-def]
    file = t.process.files.get(fd)
    return bool(file.f_op.poll(w.k, t, file, None) & POLLIN)


def test_a_clock_set_cancels_a_blocked_read_then_the_timer_runs_on(w: World) -> None:
    """A blocked read of a CANCEL_ON_SET timer fails with ECANCELED when the
    clock is set; the timer stays armed for its wall-clock time."""
    c, t = TwoClocks(w), w.proc_task()
    fd = tfd(w, t, CLOCK_REALTIME)
    c.arm(t, fd, 0, c.real + 10, CANCEL)
    assert c.call(t, "read", fd, 8) is BLOCKED
    c.set_clock(+2)
    [(who, result)] = w.done()
    assert who is t and isinstance(result, KernelError) and result.errno == E.ECANCELED
    assert c.call(t, "read", fd, 8) is BLOCKED  # one ECANCELED per clock set, as Linux
    c.run(7.9)
    assert w.done() == []
    c.run(0.2)  # wall time + 10 reached after 8 s of monotonic time
    assert w.done() == [(t, U64.pack(1))]


def test_a_later_read_gets_ecanceled_and_poll_shows_it(w: World) -> None:
    c, t = TwoClocks(w), w.proc_task()
    fd = tfd(w, t, CLOCK_REALTIME, TFD_NONBLOCK)
    c.arm(t, fd, 0, c.real + 10, CANCEL)
    assert not readable(w, t, fd)
    c.set_clock(-3)
    assert readable(w, t, fd)
    assert c.err(t, "read", fd, 8) == E.ECANCELED
    assert not readable(w, t, fd)
    assert c.err(t, "read", fd, 8) == E.EAGAIN
    c.set_clock(0)  # the offset did not change: nothing to cancel
    assert c.err(t, "read", fd, 8) == E.EAGAIN


def test_settime_clears_the_cancel(w: World) -> None:
    """Re-armed without the flag, reads see no ECANCELED.  Re-armed with it
    while a cancel is unseen, timerfd_settime itself fails with ECANCELED
    once (timerfd_setup's timerfd_canceled; ctx->moffs stayed KTIME_MAX),
    yet arms the timer; the next settime succeeds."""
    c, t = TwoClocks(w), w.proc_task()
    fd = tfd(w, t, CLOCK_REALTIME, TFD_NONBLOCK)
    c.arm(t, fd, 0, c.real + 10, CANCEL)
    c.set_clock(+1)
    c.arm(t, fd, 0, 5)  # relative: off the cancel list
    assert not readable(w, t, fd)
    assert c.err(t, "read", fd, 8) == E.EAGAIN
    value = int((c.real + 4) * NS)
    assert c.err(t, "timerfd_settime", fd, CANCEL, 0, 0, value // NS, value % NS) == E.ECANCELED
    assert c.err(t, "read", fd, 8) == E.EAGAIN  # the cancel was consumed, the timer armed
    assert c.call(t, "timerfd_gettime", fd) == [0, 0, 4, 0]
    assert c.arm(t, fd, 0, c.real + 4, CANCEL) == [0, 0, 4, 0]
    c.run(4.01)
    assert c.call(t, "read", fd, 8) == U64.pack(1)


def test_absolute_realtime_timers_move_with_the_wall_clock(w: World) -> None:
    """now + 10 on the wall clock, then the clock jumps forward 5 s: it fires
    5 s of monotonic time later, flag or not; gettime follows."""
    c, t = TwoClocks(w), w.proc_task()
    plain = tfd(w, t, CLOCK_REALTIME, TFD_NONBLOCK)
    cancel = tfd(w, t, CLOCK_REALTIME, TFD_NONBLOCK)
    c.arm(t, plain, 0, c.real + 10, TFD_TIMER_ABSTIME)
    c.arm(t, cancel, 0, c.real + 10, CANCEL)
    c.set_clock(+5)
    assert c.call(t, "timerfd_gettime", plain) == [0, 0, 5, 0]
    assert c.err(t, "read", cancel, 8) == E.ECANCELED
    c.run(4.9)
    assert c.err(t, "read", plain, 8) == E.EAGAIN
    c.run(0.2)
    assert c.call(t, "read", plain, 8) == U64.pack(1)
    assert c.call(t, "read", cancel, 8) == U64.pack(1)


def test_a_jump_past_the_expiry_fires_at_once_and_periods_follow(w: World) -> None:
    c, t = TwoClocks(w), w.proc_task()
    fd = tfd(w, t, CLOCK_REALTIME, TFD_NONBLOCK)
    c.arm(t, fd, 2, c.real + 10, TFD_TIMER_ABSTIME)  # then every 2 s
    c.set_clock(+15)  # past 10 and 12, 14: three expirations
    assert c.call(t, "read", fd, 8) == U64.pack(3)
    c.run(1.01)  # wall + 16
    assert c.call(t, "read", fd, 8) == U64.pack(1)


def test_relative_and_monotonic_timers_ignore_a_clock_set(w: World) -> None:
    c, t = TwoClocks(w), w.proc_task()
    rel = tfd(w, t, CLOCK_REALTIME, TFD_NONBLOCK)
    mono = tfd(w, t, CLOCK_MONOTONIC, TFD_NONBLOCK)
    flagged = tfd(w, t, CLOCK_MONOTONIC, TFD_NONBLOCK)
    c.arm(t, rel, 0, 10, TFD_TIMER_CANCEL_ON_SET)  # relative: the flag does nothing
    c.arm(t, mono, 0, c.mono + 10, TFD_TIMER_ABSTIME)
    c.arm(t, flagged, 0, c.mono + 10, CANCEL)  # not CLOCK_REALTIME: never canceled
    c.set_clock(+5)
    c.set_clock(-60)
    for fd in (rel, mono, flagged):
        assert c.call(t, "timerfd_gettime", fd) == [0, 0, 10, 0]
        assert c.err(t, "read", fd, 8) == E.EAGAIN
    c.run(10.01)
    for fd in (rel, mono, flagged):
        assert c.call(t, "read", fd, 8) == U64.pack(1)


def test_a_closed_timer_leaves_the_clock_list(w: World) -> None:
    c, t = TwoClocks(w), w.proc_task()
    fd = tfd(w, t, CLOCK_REALTIME, TFD_NONBLOCK)
    c.arm(t, fd, 0, c.real + 10, CANCEL)
    assert len(w.k.clock_list) == 1
    c.call(t, "close", fd, 0)
    assert not w.k.clock_list and w.k.timers.next_expiry() is None
    c.set_clock(+5)
