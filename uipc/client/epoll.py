"""epoll(7) over uipc descriptors: ``epoll_create1``, ``epoll_ctl``, ``epoll_wait``.

The epoll instance lives in the daemon (uipc/kernel/eventpoll.py, as
fs/eventpoll.c) and watches uipc's files: eventfds, timerfds, POSIX message
queues, other uipc epolls (pipes as they come).  Its descriptor is a real
one (a doorbell) that select, poll, the kernel's epoll and asyncio see as
readable exactly when an event is ready, so ``loop.add_reader(epfd, ...)``
works, as on Linux.  Descriptors that are not uipc's cannot be watched: the
daemon does not know them (EBADF, where Linux would watch a socket or give
EPERM for a regular file; docs/deviations.md).

The signatures are C's, in Python: ``data`` is the 64-bit ``epoll_data``
(default: the descriptor, as Python's ``select.epoll`` reports), events are
``select.EPOLL*`` bits, ``epoll_wait`` returns ``[(data, events)]`` and
takes ``timeout_ms`` in milliseconds as epoll_wait(2) does (negative or
None: wait forever; 0: do not wait).  A signal whose handler raises
(Ctrl-C) ends the wait in the daemon (EINTR there: nothing is left asleep)
and its exception propagates; a handler that returns lets the wait go on,
as Python retries an interrupted system call (PEP 475).
"""
from __future__ import annotations

import select

from uipc import protocol as P
from uipc.client.args import c_int, pointer
from uipc.client.connection import call, hold_anchor
from uipc.client.files import fd_inode, received

_CREATE = P.OPS_BY_NAME["epoll_create1"]
_CTL = P.OPS_BY_NAME["epoll_ctl"]
_WAIT = P.OPS_BY_NAME["epoll_wait"]

# include/uapi/linux/eventpoll.h
EPOLL_CLOEXEC = select.EPOLL_CLOEXEC
EPOLL_CTL_ADD, EPOLL_CTL_DEL, EPOLL_CTL_MOD = 1, 2, 3
EPOLLIN = select.EPOLLIN
EPOLLPRI = select.EPOLLPRI
EPOLLOUT = select.EPOLLOUT
EPOLLERR = select.EPOLLERR
EPOLLHUP = select.EPOLLHUP
EPOLLRDNORM = select.EPOLLRDNORM
EPOLLRDBAND = select.EPOLLRDBAND
EPOLLWRNORM = select.EPOLLWRNORM
EPOLLWRBAND = select.EPOLLWRBAND
EPOLLMSG = select.EPOLLMSG
EPOLLRDHUP = select.EPOLLRDHUP
EPOLLEXCLUSIVE = select.EPOLLEXCLUSIVE
EPOLLWAKEUP = 1 << 29
EPOLLONESHOT = select.EPOLLONESHOT
EPOLLET = select.EPOLLET

#: maxevents -1: as many as select.epoll.poll() takes then (FD_SETSIZE - 1)
DEFAULT_MAXEVENTS = 1023
_U64 = (1 << 64) - 1


def epoll_create1(flags: int = 0) -> int:
    """epoll_create1(2): a new epoll instance's descriptor (EPOLL_CLOEXEC:
    not inherited across exec).  EINVAL for any other flag."""
    hold_anchor()  # the process's descriptors live as long as it does
    _, fds = call(_CREATE, (c_int("flags", flags),))
    return received(fds, "epoll_create1", bool(c_int("flags", flags) & EPOLL_CLOEXEC))


def epoll_ctl(epfd: int, op: int, fd: int, events: int = 0, data: int | None = None) -> None:
    """epoll_ctl(2): EPOLL_CTL_ADD, EPOLL_CTL_MOD or EPOLL_CTL_DEL the uipc
    descriptor ``fd`` in the epoll ``epfd``; ``data`` (64 bits, default
    ``fd``) comes back with each of its events.  EPOLLERR and EPOLLHUP are
    always watched."""
    tfd = c_int("fd", fd)
    value = tfd if data is None else pointer("data", data)
    call(_CTL, (fd_inode(epfd), c_int("op", op), fd_inode(tfd), tfd,
                c_int("events", events) & 0xFFFFFFFF, value))


def epoll_wait(epfd: int, maxevents: int = -1,
               timeout_ms: int | None = -1) -> list[tuple[int, int]]:
    """epoll_wait(2): up to ``maxevents`` ready events as [(data, events)]
    (-1: up to DEFAULT_MAXEVENTS; 0 or less otherwise: EINVAL, as Linux),
    waiting at most ``timeout_ms`` milliseconds for the first (negative or
    None: forever; 0: not at all)."""
    n = c_int("maxevents", maxevents)
    if n == -1:
        n = DEFAULT_MAXEVENTS
    if timeout_ms is None or c_int("timeout_ms", timeout_ms) < 0:
        timeout = -1
    else:
        timeout = int(timeout_ms) * 1_000_000
    flat = P.unpack_ctl_result(call(_WAIT, (fd_inode(epfd), n, timeout))[0])
    return [(data & _U64, events) for events, data in zip(flat[0::2], flat[1::2])]
