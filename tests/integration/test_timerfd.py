"""uipc.timerfd with a real daemon: select sees it readable at expiry, a
blocked read wakes, a period counts its expirations."""
from __future__ import annotations

import select
import struct
import time

import uipc

U64 = struct.Struct("<Q")


def test_select_sees_the_expiry_and_read_counts_it(ns: str) -> None:
    fd = uipc.timerfd_create(uipc.CLOCK_MONOTONIC, uipc.TFD_NONBLOCK)
    try:
        assert select.select([fd], [], [], 0)[0] == []
        uipc.timerfd_settime(fd, 0, 0, 0.05)
        assert select.select([fd], [], [], 10)[0] == [fd]  # woken by the daemon's doorbell
        assert U64.unpack(uipc.read(fd, 8)) == (1,)
        assert select.select([fd], [], [], 0)[0] == []
    finally:
        uipc.close(fd)


def test_a_blocking_read_of_a_periodic_timer(ns: str) -> None:
    fd = uipc.timerfd_create(uipc.CLOCK_REALTIME)
    try:
        start = time.monotonic()
        uipc.timerfd_settime(fd, uipc.TFD_TIMER_ABSTIME, 0.02, time.time() + 0.05)
        (first,) = U64.unpack(uipc.read(fd, 8))  # sleeps in the daemon until the expiry
        assert first >= 1 and time.monotonic() - start >= 0.04
        interval, value = uipc.timerfd_gettime(fd)
        assert abs(interval - 0.02) < 1e-6 and 0 < value <= 0.02
        old = uipc.timerfd_settime(fd, 0, 0, 0)
        assert abs(old[0] - 0.02) < 1e-6
        assert uipc.timerfd_gettime(fd) == (0.0, 0.0)
    finally:
        uipc.close(fd)
