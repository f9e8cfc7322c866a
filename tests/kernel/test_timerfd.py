"""fs/timerfd.c on the pure core, with the fake clock: arming, periods and
overruns, reads, disarming, absolute times on both clocks, errors."""
from __future__ import annotations

import errno as E
import itertools
import struct

from tests.kernel.conftest import World
from uipc.kernel import BLOCKED
from uipc.kernel.file import POLLIN
from uipc.kernel.timerfd import (
    CLOCK_MONOTONIC, CLOCK_REALTIME, TFD_NONBLOCK, TFD_TIMER_ABSTIME,
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
