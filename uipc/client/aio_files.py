"""``await uipc.aread(fd, n)`` / ``await uipc.awrite(fd, data)``: uipc
descriptors on the asyncio event loop.

Every uipc descriptor (eventfd, timerfd, a POSIX queue's info line, an
epoll, pipes as they come) is a real descriptor whose readiness the daemon
keeps equal to the file's, so waiting costs nothing in the daemon: the
coroutine waits for the descriptor itself with ``loop.add_reader`` /
``add_writer``, then reads or writes through uipc (``aio.acall``, on the
loop's pool of connections).  When another reader was quicker (EAGAIN on an
O_NONBLOCK file) it waits again; on a blocking file the call then sleeps in
the daemon without blocking the loop.

Several coroutines may wait for one descriptor at once: one reader (or
writer) callback per descriptor and loop serves them all, and goes when
the last of them stops waiting.  (It replaces a callback of your own for the
same descriptor on that loop, as asyncio's own ``sock_recv`` would: do not
mix the two on one descriptor.)

Cancellation leaves nothing behind: cancelled while waiting for readiness,
the coroutine only stops waiting; cancelled during the call, the call is
interrupted in the daemon (EINTR: it had no effect) -- or, had it already
completed, its result is returned so no data is lost (``aio.acall``'s
rule).
"""
from __future__ import annotations

import errno
import weakref
from typing import TYPE_CHECKING

from uipc import protocol as P
from uipc.client.args import buffer, c_int, size_t
from uipc.client.files import fd_inode

if TYPE_CHECKING:  # asyncio only for those who await (``import uipc`` stays light)
    import asyncio

_READ = P.OPS_BY_NAME["read"]
_WRITE = P.OPS_BY_NAME["write"]
_INT = P.INT_RESULT.unpack_from

#: (descriptor, writing) -> the futures waiting for it, per loop
_Waiters = dict[tuple[int, bool], set["asyncio.Future[None]"]]
_watches: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Waiters]" = \
    weakref.WeakKeyDictionary()


def _fire(waiters: set["asyncio.Future[None]"]) -> None:
    """The descriptor is ready: every coroutine waiting for it goes on."""
    for fut in waiters:
        if not fut.done():
            fut.set_result(None)


async def wait_ready(fd: int, writing: bool = False) -> None:
    """Until ``fd`` is readable (``writing``: writable), on the running loop."""
    import asyncio
    loop = asyncio.get_running_loop()
    table = _watches.get(loop)
    if table is None:
        table = _watches[loop] = {}
    key = (fd, writing)
    waiters = table.get(key)
    if waiters is None:
        waiters = table[key] = set()
        (loop.add_writer if writing else loop.add_reader)(fd, _fire, waiters)
    fut: asyncio.Future[None] = loop.create_future()
    waiters.add(fut)
    try:
        await fut
    finally:
        waiters.discard(fut)
        if not waiters and table.get(key) is waiters:
            del table[key]
            if not loop.is_closed():
                (loop.remove_writer if writing else loop.remove_reader)(fd)


def _check_open(fd: int) -> int:
    """The descriptor's inode; EBADF (as read(2)) if it is not open."""
    ino = fd_inode(fd)
    if not ino:
        raise OSError(errno.EBADF, "the descriptor is not open")
    return ino


async def aread(fd: int, n: int) -> bytes:
    """read(2) of up to ``n`` bytes from a uipc descriptor, awaited: an
    eventfd's or timerfd's 8-byte count, a queue's info line."""
    from uipc.client.aio import acall
    count = size_t("n", n)
    fd = c_int("fd", fd)
    _check_open(fd)
    while True:
        await wait_ready(fd)
        try:
            return (await acall(_READ, (fd_inode(fd), count)))[0]
        except BlockingIOError:  # EAGAIN: someone else read it first
            continue


async def awrite(fd: int, data: bytes) -> int:
    """write(2) of ``data`` to a uipc descriptor, awaited; the bytes written."""
    from uipc.client.aio import acall
    payload = buffer("data", data)
    fd = c_int("fd", fd)
    _check_open(fd)
    while True:
        await wait_ready(fd, writing=True)
        try:
            return _INT((await acall(_WRITE, (fd_inode(fd),), payload))[0])[0]
        except BlockingIOError:  # EAGAIN: someone else filled it first
            continue
