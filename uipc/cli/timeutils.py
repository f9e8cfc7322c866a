"""util-linux's lib/timeutils.c: the short and ISO forms of a time.

``strtime_short`` is what lsipc's default time columns show ("13:05"
today, "Mar05" this year, "2023-Mar05" before); ``strtime_iso`` is
ISO_TIMESTAMP_T ("2026-12-01T23:47:57+00:00").  Both take a local
``struct_time`` (localtime(3)); month names follow LC_TIME.
"""
from __future__ import annotations

import time


def strtime_short(tm: time.struct_time, now: time.struct_time) -> str:
    """strtime_short(): HH:MM today, MonDD this year, YYYY-MonDD before."""
    if tm.tm_year == now.tm_year and tm.tm_yday == now.tm_yday:
        return f"{tm.tm_hour:02d}:{tm.tm_min:02d}"
    if tm.tm_year == now.tm_year:
        return time.strftime("%b%d", tm)
    return time.strftime("%Y-%b%d", tm)


def strtime_iso(tm: time.struct_time) -> str:
    """strtime_iso(ISO_TIMESTAMP_T): 2026-12-01T23:47:57+00:00."""
    tmin = int((tm.tm_gmtoff or 0) / 60)
    zhour = int(tmin / 60)  # C division truncates toward zero
    zmin = abs(tmin - zhour * 60)
    return (f"{tm.tm_year:4d}-{tm.tm_mon:02d}-{tm.tm_mday:02d}T{tm.tm_hour:02d}:"
            f"{tm.tm_min:02d}:{tm.tm_sec:02d}{zhour:+03d}:{zmin:02d}")
