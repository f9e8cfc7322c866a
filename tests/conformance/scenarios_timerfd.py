"""timerfd scenarios (fs/timerfd.c): creation, settime/gettime, reads and
errors, on the kernel and on uipc.  Times left are compared as "armed" or
not (they depend on when each side runs); intervals exactly."""
from __future__ import annotations

import os
import time

from tests.conformance.harness import Recorder, Scenario

CLOCK_REALTIME, CLOCK_MONOTONIC, CLOCK_BOOTTIME = 0, 1, 7
TFD_NONBLOCK, TFD_TIMER_ABSTIME = os.O_NONBLOCK, 1


def shape(pair: tuple[float, float]) -> tuple[float, str]:
    interval, value = pair
    return round(interval, 6), "armed" if value > 0 else "disarmed"


def timers(rec: Recorder) -> None:
    api, do = rec.api, rec.do
    do("bad clock", lambda: api.timerfd_create(99, 0))
    do("bad flags", lambda: api.timerfd_create(CLOCK_MONOTONIC, 0x8))
    fd = api.timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK)
    do("disarmed: gettime", lambda: api.timerfd_gettime(fd))
    do("read before any expiry", lambda: api.read(fd, 8))
    do("read a short buffer", lambda: api.read(fd, 4))
    do("write", lambda: api.write(fd, b"\0" * 8))
    do("negative value", lambda: api.timerfd_settime(fd, 0, 0, -1.0))
    do("negative nanoseconds", lambda: api.timerfd_settime(fd, 0, 0, -0.5))
    do("bad settime flags", lambda: api.timerfd_settime(fd, 0x4, 0, 1.0))
    do("arm 100 s every 2.5 s", lambda: shape(api.timerfd_settime(fd, 0, 2.5, 100.0)))
    do("armed: gettime", lambda: shape(api.timerfd_gettime(fd)))
    do("disarm: the old setting", lambda: shape(api.timerfd_settime(fd, 0, 0, 0)))
    do("disarmed again", lambda: api.timerfd_gettime(fd))
    do("an absolute time past: fires at once",
       lambda: shape(api.timerfd_settime(fd, TFD_TIMER_ABSTIME, 0, 1.0)))
    do("read it", lambda: api.read(fd, 8))
    do("read again", lambda: api.read(fd, 8))
    rt = api.timerfd_create(CLOCK_REALTIME, TFD_NONBLOCK)
    do("realtime, absolute, in an hour",
       lambda: shape(api.timerfd_settime(rt, TFD_TIMER_ABSTIME, 0, time.time() + 3600)))
    do("realtime: gettime", lambda: shape(api.timerfd_gettime(rt)))
    bt = api.timerfd_create(CLOCK_BOOTTIME, 0)
    do("boottime: gettime", lambda: api.timerfd_gettime(bt))
    for f in (fd, rt, bt):
        api.close(f)


SCENARIOS = [Scenario("timerfd settime, gettime, reads and errors", "timerfd", timers)]
