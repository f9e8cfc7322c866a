"""uipc's descriptors in the client: eventfd, read, write, close.

A uipc file (a POSIX queue, an eventfd) is a real descriptor the daemon
sent: a doorbell whose readiness follows the file, so select, poll, epoll
and asyncio see it as Linux's.  Calls name the file by that descriptor's
inode (``fstat``), so a descriptor closed or replaced behind uipc's back is
never taken for another.  ``close`` tells the daemon first (the file's
->flush; the process's reference goes with its last descriptor of it), then
closes the descriptor.
"""
from __future__ import annotations

import errno
import os
import struct
from typing import Any

from uipc import protocol as P
from uipc.client.args import buffer, c_int, size_t
from uipc.client.connection import call, hold_anchor, register_fork_files

_CLOSE = P.OPS_BY_NAME["close"]
_READ = P.OPS_BY_NAME["read"]
_WRITE = P.OPS_BY_NAME["write"]
_EVENTFD = P.OPS_BY_NAME["eventfd2"]
_INT = P.INT_RESULT.unpack_from
_U64 = struct.Struct("<Q")

# include/uapi/linux/eventfd.h
EFD_SEMAPHORE = 1
EFD_NONBLOCK = os.O_NONBLOCK
EFD_CLOEXEC = os.O_CLOEXEC

#: uipc descriptors this process opened (or inherited through fork), with
#: their doorbells' inodes: a fork child must tell the daemon it shares them
_held: dict[int, int] = {}


def _holds_files() -> bool:
    """Does the process still hold any (a plain os.close is not seen here:
    each is checked, and the closed ones forgotten)?"""
    for fd, ino in list(_held.items()):
        if fd_inode(fd) != ino:
            del _held[fd]
    return bool(_held)


register_fork_files(_holds_files)


def fd_inode(fd: Any) -> int:
    """The inode naming the file of descriptor ``fd``; 0 (which names no
    file: EBADF from the daemon, after the checks Linux makes first) if it
    is not open."""
    try:
        return os.fstat(c_int("fd", fd)).st_ino
    except OSError:
        return 0


def received(fds: list[int], what: str, cloexec: bool) -> int:
    """The descriptor a reply carried, counted as this process's."""
    if not fds:
        raise OSError(errno.EIO, f"uipc daemon sent no descriptor with {what}")
    for extra in fds[1:]:
        os.close(extra)
    os.set_inheritable(fds[0], not cloexec)
    _held[fds[0]] = fd_inode(fds[0])
    return fds[0]


def held_elsewhere(ino: int, fd: int) -> bool:
    """Does a descriptor of this process other than ``fd`` name the doorbell ``ino``?"""
    target = f"pipe:[{ino}]"
    try:
        names = os.listdir("/proc/self/fd")
    except OSError:
        return False
    for name in names:
        if name == str(fd):
            continue
        try:
            if os.readlink(f"/proc/self/fd/{name}") == target:
                return True
        except OSError:
            continue
    return False


def close(fd: int) -> None:
    """close(2) of a uipc descriptor: the daemon hears first, then it closes."""
    ino = fd_inode(fd)
    if not ino:
        raise OSError(errno.EBADF, "close: the descriptor is not open")
    call(_CLOSE, (ino, int(held_elsewhere(ino, fd))))
    os.close(fd)
    _held.pop(fd, None)


def read(fd: int, count: int) -> bytes:
    """read(2) from a uipc descriptor (an eventfd: its 8-byte counter)."""
    return call(_READ, (fd_inode(fd), size_t("count", count)))[0]


def write(fd: int, data: bytes) -> int:
    """write(2) to a uipc descriptor; returns the bytes written."""
    return _INT(call(_WRITE, (fd_inode(fd),), buffer("data", data))[0])[0]


def eventfd(initval: int = 0, flags: int = 0) -> int:
    """eventfd(2): a counter as a file; reads and writes are 8-byte
    little-endian integers (``eventfd_read``/``eventfd_write``)."""
    hold_anchor()  # the process's descriptors live as long as it does
    _, fds = call(_EVENTFD, (c_int("initval", initval) & 0xFFFFFFFF, c_int("flags", flags)))
    return received(fds, "eventfd", bool(flags & EFD_CLOEXEC))


def eventfd_read(fd: int) -> int:
    """glibc's eventfd_read: the counter (or 1 with EFD_SEMAPHORE)."""
    return _U64.unpack(read(fd, 8))[0]


def eventfd_write(fd: int, value: int) -> None:
    """glibc's eventfd_write: add ``value``."""
    write(fd, _U64.pack(value))


# --- timerfd -----------------------------------------------------------------------
_TFD_CREATE = P.OPS_BY_NAME["timerfd_create"]
_TFD_SET = P.OPS_BY_NAME["timerfd_settime"]
_TFD_GET = P.OPS_BY_NAME["timerfd_gettime"]
CLOCK_REALTIME, CLOCK_MONOTONIC, CLOCK_BOOTTIME = 0, 1, 7
TFD_NONBLOCK, TFD_CLOEXEC = os.O_NONBLOCK, os.O_CLOEXEC
TFD_TIMER_ABSTIME, TFD_TIMER_CANCEL_ON_SET = 1, 2


def timerfd_create(clockid: int, flags: int = 0) -> int:
    """timerfd_create(2): a timer as a file; reads give the 8-byte count of
    expirations since the last read."""
    hold_anchor()
    _, fds = call(_TFD_CREATE, (c_int("clockid", clockid), c_int("flags", flags)))
    return received(fds, "timerfd_create", bool(flags & TFD_CLOEXEC))


def _itimerspec(values: list[int]) -> tuple[float, float]:
    isec, insec, vsec, vnsec = values
    return isec + insec / 1e9, vsec + vnsec / 1e9


def timerfd_settime(fd: int, flags: int, interval: float, value: float) -> tuple[float, float]:
    """timerfd_settime(2) in seconds: arm (value > 0; absolute with
    TFD_TIMER_ABSTIME) or disarm (0); returns the old (interval, value)."""
    from uipc.client.args import abs_timespec
    isec, insec = abs_timespec("interval", interval)
    vsec, vnsec = abs_timespec("value", value)
    payload = call(_TFD_SET, (fd_inode(fd), c_int("flags", flags), isec, insec, vsec, vnsec))[0]
    return _itimerspec(P.unpack_ctl_result(payload))


def timerfd_gettime(fd: int) -> tuple[float, float]:
    """timerfd_gettime(2): (interval, seconds until the next expiry; 0: disarmed)."""
    return _itimerspec(P.unpack_ctl_result(call(_TFD_GET, (fd_inode(fd),))[0]))


# --- poll ---------------------------------------------------------------------------
_POLL = P.OPS_BY_NAME["poll"]


def poll(fds: Any, timeout_ms: int | None = -1) -> list[tuple[int, int]]:
    """poll(2) over uipc descriptors: ``fds`` is [(fd, events)] with
    select.POLL* bits; ``timeout_ms`` negative or None waits forever.
    Returns [(fd, revents)] for the ready ones, as select.poll().poll() does.
    A descriptor that is not uipc's gives POLLNVAL (docs/deviations.md)."""
    from uipc.client.args import items
    pairs = [(c_int("fd", fd), c_int("events", ev) & 0xFFFF) for fd, ev in items(
        fds, "fds must be a list of (fd, events)")]
    if timeout_ms is None or c_int("timeout_ms", timeout_ms) < 0:
        timeout = -1
    else:
        timeout = int(timeout_ms) * 1_000_000
    tail = b"".join(struct.pack("<qq", fd_inode(fd) if fd >= 0 else -1, ev) for fd, ev in pairs)
    revents = P.unpack_ctl_result(call(_POLL, (timeout,), tail)[0])
    return [(fd, r) for (fd, _), r in zip(pairs, revents) if r]
