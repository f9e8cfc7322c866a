"""The daemon's event loop primitives: epoll with one handler per descriptor,
and waiting with a short spin first (uipc.spin).

Never ``select()``: it cannot take descriptors above 1023, and a daemon with
more segments or connections than that must not die of it.
"""
from __future__ import annotations

import select
import time
from typing import Any, Callable

from uipc.spin import Spin

READ = select.EPOLLIN
WRITE = select.EPOLLOUT
_ERR = select.EPOLLERR | select.EPOLLHUP
Handler = Callable[[int], None]


class Poller:
    """epoll with one handler per descriptor (lighter than the selectors module)."""

    def __init__(self) -> None:
        self._ep = select.epoll()
        self._handlers: dict[int, Handler] = {}
        #: descriptors whose handlers run before the others of the same wait
        self._first: set[int] = set()

    def register(self, fileobj: Any, events: int, handler: Handler, first: bool = False) -> None:
        """``first``: when it is ready together with others, its handler runs
        before theirs (a process's exit before the requests read in the same
        turn: a parent's call made after waitpid() sees its child gone)."""
        fd = fileobj if isinstance(fileobj, int) else fileobj.fileno()
        self._ep.register(fd, events)
        self._handlers[fd] = handler
        if first:
            self._first.add(fd)

    def modify(self, fileobj: Any, events: int) -> None:
        self._ep.modify(fileobj if isinstance(fileobj, int) else fileobj.fileno(), events)

    def unregister(self, fileobj: Any) -> None:
        fd = fileobj if isinstance(fileobj, int) else fileobj.fileno()
        self._first.discard(fd)
        if self._handlers.pop(fd, None) is not None:
            self._ep.unregister(fd)

    def poll(self, timeout: float | None, limit: int = -1) -> list[tuple[Handler, int]]:
        handlers, first = self._handlers, self._first
        ready = self._ep.poll(-1 if timeout is None else timeout, limit)
        if first and len(ready) > 1 and any(fd in first for fd, _ in ready):
            ready.sort(key=lambda item: item[0] not in first)  # stable: first ones to the front
        return [(handlers[fd], ev if not ev & _ERR else ev | READ)
                for fd, ev in ready if fd in handlers]

    def group(self, limit: int) -> "Poller":
        """A nested epoll, ready in this one when any of its descriptors is;
        each turn it hands out at most ``limit`` of its ready descriptors
        (epoll rotates the rest to the back of its ready list).  One per uid:
        a thousand connections of one user cost a turn no more than
        ``limit`` connections do."""
        sub = Poller()

        def dispatch(mask: int) -> None:
            for handler, events in sub.poll(0.0, limit):
                handler(events)
        self.register(sub._ep.fileno(), READ, dispatch)
        return sub

    def ungroup(self, sub: "Poller") -> None:
        """Forget and close a group made by :meth:`group`."""
        self.unregister(sub._ep.fileno())
        sub.close()

    def wait(self, spin: Spin, timeout: float | None) -> list[tuple[Handler, int]]:
        """epoll_wait, polling first for up to the spin budget (uipc.spin)."""
        budget = spin.budget_ns() if timeout != 0.0 else 0
        if not budget:
            return self.poll(timeout)
        clock = time.perf_counter_ns
        start = clock()
        if timeout is not None:
            budget = min(budget, int(timeout * 1e9))
        while True:
            events = self.poll(0.0)
            if events:
                spin.caught(True)
                return events
            spent = clock() - start
            if spent >= budget:
                break
        spin.caught(False)
        return self.poll(None if timeout is None else max(0.0, timeout - spent / 1e9))

    def close(self) -> None:
        self._ep.close()
