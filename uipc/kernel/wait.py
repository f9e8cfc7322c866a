"""Wait queues: the one blocking primitive (wait_queue_head_t, wake_q).

A syscall that must sleep builds one explicit record of its sleeper (a
:class:`Waiter` subclass such as ``MsgReceiver``, as ``struct msg_receiver``),
parks it on a :class:`WaitQueue` and returns :data:`BLOCKED`.  Whoever can
satisfy it later completes it through ``Kernel.wake(waiter, result)``: either
with the syscall's final result (a value or a ``KernelError``), as
``pipelined_send`` and ``update_queue`` do, or with :data:`RETRY`, which
reruns the syscall's ``restart`` continuation, as a woken sender re-takes the
lock in Linux.  Timeouts, signals, removal and exit all go through the same
path, so there is exactly one way a sleeper leaves a queue.

Nothing here knows about sockets or clocks: deadlines are plain numbers the
caller compares against the ``now`` it passes in.
"""
from __future__ import annotations

import errno
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Iterator

if TYPE_CHECKING:
    from uipc.kernel.task import Task


class _Sentinel:
    __slots__ = ("_name",)

    def __init__(self, name: str) -> None:
        self._name = name

    def __repr__(self) -> str:
        return self._name


#: a syscall went to sleep; its result arrives later through take_completions()
BLOCKED = _Sentinel("BLOCKED")
#: wake a sleeper so that it retries its syscall (a woken sender re-checks)
RETRY = _Sentinel("RETRY")


@dataclass(eq=False)
class Waiter:
    """One sleeping syscall.  Subclasses add the kernel's per-sleeper fields."""

    task: "Task"
    #: what it waits for, for introspection: "msgrcv", "semop"...
    op: str = ""
    #: the id of the object it sleeps on
    obj_id: int = -1
    #: time it went to sleep (the ``now`` of the parking syscall)
    since: float = 0.0
    #: absolute deadline in the caller's clock, or None
    deadline: float | None = None
    #: errno when the deadline passes (EAGAIN for semtimedop, ETIMEDOUT for mq)
    timeout_errno: int = errno.EAGAIN
    #: reruns the syscall when woken with RETRY
    restart: Callable[[], object] | None = None
    queue: "WaitQueue | None" = field(default=None, repr=False)

    @property
    def pending(self) -> bool:
        return self.queue is not None

    def unlink(self) -> None:
        """Leave the queue (cancel, timeout, signal, exit).  Subclasses whose
        queues carry derived state (sem.c's merged queues) extend this."""
        if self.queue is not None:
            self.queue.remove(self)


class WaitQueue:
    """A FIFO of parked waiters (trio's ParkingLot, a kernel list_head)."""

    __slots__ = ("_waiters",)

    def __init__(self) -> None:
        # dicts keep insertion order and remove in O(1)
        self._waiters: dict[Waiter, None] = {}

    def park(self, waiter: Waiter) -> None:
        """Add at the tail (list_add_tail)."""
        waiter.queue = self
        self._waiters[waiter] = None

    def park_head(self, waiter: Waiter) -> None:
        """Add at the head (list_add)."""
        waiter.queue = self
        self._waiters = {waiter: None, **self._waiters}

    def remove(self, waiter: Waiter) -> None:
        """Take a waiter off the queue (list_del); a no-op if it is not here."""
        if self._waiters.pop(waiter, 0) is None:
            waiter.queue = None

    def move_tail(self, waiter: Waiter) -> None:
        """list_move_tail()."""
        del self._waiters[waiter]
        self._waiters[waiter] = None

    def __iter__(self) -> Iterator[Waiter]:
        """Iterate over a snapshot, so waking while iterating is safe."""
        if not self._waiters:  # the common case on the hot path: nobody sleeps
            return iter(())
        return iter(list(self._waiters))

    def first(self) -> Waiter | None:
        return next(iter(self._waiters), None)

    def __len__(self) -> int:
        return len(self._waiters)

    def __bool__(self) -> bool:
        return bool(self._waiters)

    def __contains__(self, waiter: object) -> bool:
        return waiter in self._waiters
