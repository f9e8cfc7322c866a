"""asyncio support: run a blocking call without blocking the event loop.

The call runs in a worker thread on that thread's own connection.  If the
awaiting task is cancelled, the blocked request is interrupted in the daemon
(exactly like a signal: EINTR), so no ghost waiter stays behind.
"""
from __future__ import annotations

import asyncio
import contextvars
import errno
from typing import Any, Callable, TypeVar

from uipc.client import connection

T = TypeVar("T")


class _Handle:
    def __init__(self) -> None:
        self.conn: connection.Connection | None = None


def _run(handle: _Handle, fn: Callable[..., T], args: tuple[Any, ...]) -> T:
    handle.conn = connection.get_connection()
    return fn(*args)


async def run_blocking(fn: Callable[..., T], *args: Any) -> T:
    """Await ``fn(*args)`` (a uipc call) in a worker thread; cancellable."""
    loop = asyncio.get_running_loop()
    handle = _Handle()
    ctx = contextvars.copy_context()
    fut = loop.run_in_executor(None, ctx.run, _run, handle, fn, args)
    try:
        return await asyncio.shield(fut)
    except asyncio.CancelledError:
        # interrupt until the worker's call has finished (it may not have
        # sent its request yet when the cancellation arrived)
        while not fut.done():
            if handle.conn is not None:
                handle.conn.interrupt_pending()
            await asyncio.wait({fut}, timeout=0.05)
        exc = fut.exception()
        if exc is not None and not (isinstance(exc, OSError) and exc.errno == errno.EINTR):
            raise exc
        raise
