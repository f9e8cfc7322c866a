"""The kernel's timerfd through ctypes, with uipc's API (seconds as floats)."""
from __future__ import annotations

import ctypes
import os

libc = ctypes.CDLL(None, use_errno=True)


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


class _Itimerspec(ctypes.Structure):
    _fields_ = [("it_interval", _Timespec), ("it_value", _Timespec)]


def _check(ret: int) -> int:
    if ret < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return ret


def _ts(seconds: float) -> _Timespec:
    sec = int(seconds)  # toward zero, as uipc's client converts
    return _Timespec(sec, int((seconds - sec) * 1e9))


def _pair(spec: _Itimerspec) -> tuple[float, float]:
    return (spec.it_interval.tv_sec + spec.it_interval.tv_nsec / 1e9,
            spec.it_value.tv_sec + spec.it_value.tv_nsec / 1e9)


def timerfd_create(clockid: int, flags: int = 0) -> int:
    return _check(libc.timerfd_create(clockid, flags))


def timerfd_settime(fd: int, flags: int, interval: float, value: float) -> tuple[float, float]:
    new, old = _Itimerspec(_ts(interval), _ts(value)), _Itimerspec()
    _check(libc.timerfd_settime(fd, flags, ctypes.byref(new), ctypes.byref(old)))
    return _pair(old)


def timerfd_gettime(fd: int) -> tuple[float, float]:
    cur = _Itimerspec()
    _check(libc.timerfd_gettime(fd, ctypes.byref(cur)))
    return _pair(cur)
