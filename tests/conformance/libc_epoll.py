"""The kernel's epoll through ctypes on libc, with uipc's API: the kernel
side of tests/conformance/scenarios_epoll.py.

Python's ``select.epoll`` always passes the descriptor as ``epoll_data``
and always sets EPOLL_CLOEXEC, so the calls go to glibc directly:
``epoll_create1`` with any flags, ``epoll_ctl`` with any 64-bit data,
``epoll_wait`` returning [(data, events)] as ``uipc.epoll_wait`` does.
"""
from __future__ import annotations

import ctypes
import os
import platform

libc = ctypes.CDLL(None, use_errno=True)

EPOLL_CTL_ADD, EPOLL_CTL_DEL, EPOLL_CTL_MOD = 1, 2, 3
#: uipc.epoll_wait's maxevents -1
DEFAULT_MAXEVENTS = 1023


class EpollEvent(ctypes.Structure):
    """struct epoll_event: packed on x86-64 (__EPOLL_PACKED), natural elsewhere."""

    if platform.machine() in ("x86_64", "AMD64"):
        _pack_ = 1
    _fields_ = [("events", ctypes.c_uint32), ("data", ctypes.c_uint64)]


libc.epoll_create1.argtypes = [ctypes.c_int]
libc.epoll_ctl.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.POINTER(EpollEvent)]
libc.epoll_wait.argtypes = [ctypes.c_int, ctypes.POINTER(EpollEvent), ctypes.c_int, ctypes.c_int]


def _check(ret: int) -> int:
    if ret < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return ret


def epoll_create1(flags: int = 0) -> int:
    return _check(libc.epoll_create1(flags))


def epoll_ctl(epfd: int, op: int, fd: int, events: int = 0, data: int | None = None) -> None:
    event = EpollEvent(events & 0xFFFFFFFF, (fd if data is None else data) & ((1 << 64) - 1))
    _check(libc.epoll_ctl(epfd, op, fd, ctypes.byref(event)))


def epoll_wait(epfd: int, maxevents: int = -1,
               timeout_ms: int | None = -1) -> list[tuple[int, int]]:
    n = DEFAULT_MAXEVENTS if maxevents == -1 else maxevents
    buf = (EpollEvent * max(n, 1))()
    got = _check(libc.epoll_wait(epfd, buf, n, -1 if timeout_ms is None else timeout_ms))
    return [(buf[i].data, buf[i].events) for i in range(got)]
