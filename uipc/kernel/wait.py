"""Wait queues: the one blocking primitive (wait_queue_head_t, wait_queue_entry, wake_q).

A syscall that must sleep builds one explicit record of its sleeper (a
:class:`Waiter` subclass such as ``MsgReceiver``, as ``struct msg_receiver``),
parks it on a :class:`WaitQueue` and returns :data:`BLOCKED`.  Whoever can
satisfy it later completes it through ``Kernel.wake(waiter, result)``: either
with the syscall's final result (a value or a ``KernelError``), as
``pipelined_send`` and ``update_queue`` do, or with :data:`RETRY`, which
reruns the syscall's ``restart`` continuation, as a woken sender re-takes the
lock in Linux.  Timeouts, signals, removal and exit all go through the same
path, so there is exactly one way a sleeper leaves its queues.

A queue holds entries (:class:`WaitQueueEntry`, Linux's ``struct
wait_queue_entry``), in FIFO order, as trio's ParkingLot holds tasks.  A
:class:`Waiter` is itself the entry of the queue it parks on (embedded, as
``struct sem_queue``'s ``list`` or ``struct msg_receiver``'s ``r_list``), so
the common one-queue sleep costs no second object.  A sleeper that waits on
several queues at once (poll, select, epoll over files; a FIFO open; later
mq_notify) adds a :class:`CallbackEntry` per further queue with
``Waiter.add_wait``; each entry has a wake function (``wait_queue_entry.func``)
that ``wake_up`` calls.  The rules:

* A Waiter is one sleeping syscall and is completed once, through
  ``Kernel.wake``.  Completing it, or removing it for any reason (timeout,
  signal, exit, the object's removal), takes every one of its entries off
  every queue at once (``Waiter.unlink_all``: its own entry with ``unlink``,
  which a subclass may extend, the others with ``remove_entries``): a
  sleeper never lingers on a queue it no longer waits on, and no wake
  function runs for it afterwards.
* A wake function returns whether it woke someone; the default one
  (:func:`autoremove_wake_function`) completes the owning waiter with RETRY,
  so its syscall re-checks its condition, as a woken task does in Linux.  A
  wake function may instead only record something and leave the entry in
  place: a poll table's entry that notes readiness, an epoll item that puts
  itself on a ready list.  Such an entry need not belong to any waiter
  (``CallbackEntry(waiter=None)``): its owner removes it
  (``remove_wait_queue``).
* ``repark`` is the one way an entry moves between queues (sem.c's merging
  and unmerging of the per-semaphore and global queues): it keeps its
  identity, its other entries and its timeout.
* Iterating a queue walks a snapshot, so waking while iterating is safe;
  an entry removed during the walk (``entry.queue`` no longer the queue)
  must be skipped, as ``wake_up`` does.

Nothing here knows about sockets or clocks: deadlines are plain numbers (on
the kernel's monotonic clock, see uipc/kernel/time.py) the kernel arms as
timers.
"""
from __future__ import annotations

import errno
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterator

if TYPE_CHECKING:
    from uipc.kernel.kernel import Kernel
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

#: wait_queue_func_t: (kernel, entry, key) -> woke someone.  ``key`` is what
#: the waker passes to wake_up (a poll mask for files; None otherwise)
WakeFunc = Callable[["Kernel", "WaitQueueEntry", Any], bool]


class WaitQueueEntry:
    """struct wait_queue_entry: what a WaitQueue holds.

    Every entry has ``queue`` (the queue it is on, None once off) and
    ``exclusive`` (WQ_FLAG_EXCLUSIVE: counts against wake_up's nr_exclusive);
    ``wake_function`` is its ``func``.
    """

    __slots__ = ()
    queue: "WaitQueue | None"
    #: WQ_FLAG_EXCLUSIVE (class default; an entry may set its own)
    exclusive: bool = False

    def wake_function(self, k: "Kernel", key: Any) -> bool:
        raise NotImplementedError

    @property
    def owner(self) -> "Waiter | None":
        """The sleeping syscall this entry belongs to, if any."""
        raise NotImplementedError


@dataclass(eq=False)
class Waiter(WaitQueueEntry):
    """One sleeping syscall, and its entry on the queue it parks on.

    Subclasses add the kernel's per-sleeper fields.
    """

    task: "Task"
    #: what it waits for, for introspection: "msgrcv", "semop"...
    op: str = ""
    #: the id of the object it sleeps on
    obj_id: int = -1
    #: time it went to sleep (CLOCK_REALTIME of the parking syscall: a stamp)
    since: float = 0.0
    #: absolute deadline on the kernel's CLOCK_MONOTONIC, or None
    deadline: float | None = None
    #: errno when the deadline passes (EAGAIN for semtimedop, ETIMEDOUT for mq)
    timeout_errno: int = errno.EAGAIN
    #: reruns the syscall when woken with RETRY
    restart: Callable[[], object] | None = None
    #: the queue this waiter itself (its first entry) is on
    queue: "WaitQueue | None" = field(default=None, repr=False)

    # Set only for the sleepers that use them, so building the common Waiter
    # costs nothing more: class defaults, deliberately not annotated (an
    # annotation would make them dataclass fields, set in every __init__).
    #: list[CallbackEntry]: its further entries, made by add_wait
    extra = ()
    #: Timer | None: the timer of its deadline (armed by Kernel.park)
    timer = None
    #: Callable[[object], object] | None: the next step of a multi-step
    #: syscall, given this sleep's result (Kernel._run_wakeups)
    then = None

    @property
    def owner(self) -> "Waiter":
        return self

    @property
    def pending(self) -> bool:
        """Still asleep in its syscall (not yet completed or removed)."""
        return self.task.waiter is self

    def wake_function(self, k: "Kernel", key: Any) -> bool:
        """autoremove_wake_function() for the waiter's own entry."""
        return autoremove_wake_function(k, self, key)

    def add_wait(self, queue: "WaitQueue", func: WakeFunc | None = None,
                 private: Any = None, exclusive: bool = False) -> "CallbackEntry":
        """add_wait_queue() of one more entry of this sleeper (poll_wait's
        __pollwait); ``func`` None: autoremove_wake_function.  The entry goes
        when the waiter does."""
        entry = CallbackEntry(func, private, waiter=self, exclusive=exclusive)
        if not self.extra:
            self.extra = []
        self.extra.append(entry)
        queue.park(entry)
        return entry

    def unlink(self) -> None:
        """Take the waiter's own entry off its queue.  Subclasses whose queues
        carry derived state (sem.c's merged queues) extend this."""
        if self.queue is not None:
            self.queue.remove(self)

    def remove_entries(self) -> None:
        """Take the further entries (add_wait) off their queues (poll_freewait)."""
        for entry in self.extra:
            if entry.queue is not None:
                entry.queue.remove(entry)
        self.extra = ()

    def unlink_all(self) -> None:
        """Leave every queue (completion, cancel, timeout, signal, exit): the
        one way a sleeper goes (Kernel.wake inlines it)."""
        if self.queue is not None:
            self.unlink()
        if self.extra:
            self.remove_entries()


class CallbackEntry(WaitQueueEntry):
    """A wait_queue_entry with its own wake function (``func``) and data.

    ``waiter`` is the sleeper it belongs to (it is removed with it), or None
    for an entry whose owner manages it (a poll table that records readiness,
    an epoll item).
    """

    __slots__ = ("queue", "func", "private", "waiter", "exclusive")

    def __init__(self, func: WakeFunc | None = None, private: Any = None, *,
                 waiter: Waiter | None = None, exclusive: bool = False) -> None:
        self.queue: WaitQueue | None = None
        self.func: WakeFunc = autoremove_wake_function if func is None else func
        #: wait_queue_entry.private: what the function needs
        self.private = private
        self.waiter = waiter
        self.exclusive = exclusive

    @property
    def owner(self) -> Waiter | None:
        return self.waiter

    def wake_function(self, k: "Kernel", key: Any) -> bool:
        return self.func(k, self, key)

    def __repr__(self) -> str:
        return f"CallbackEntry(func={getattr(self.func, '__name__', self.func)}, waiter={self.waiter})"


def autoremove_wake_function(k: "Kernel", entry: WaitQueueEntry, key: Any) -> bool:
    """autoremove_wake_function(): wake the entry's waiter so that its syscall
    re-checks (RETRY); that takes all its entries off their queues.  An entry
    without a waiter just leaves its queue."""
    waiter = entry.owner
    if waiter is None:
        if entry.queue is not None:
            entry.queue.remove(entry)
        return True
    if not waiter.pending:
        return False
    k.wake(waiter, RETRY)
    return True


class WaitQueue:
    """wait_queue_head_t: a FIFO of entries (trio's ParkingLot, a kernel list_head)."""

    __slots__ = ("_entries",)

    def __init__(self) -> None:
        # dicts keep insertion order and remove in O(1)
        self._entries: dict[WaitQueueEntry, None] = {}

    def park(self, entry: WaitQueueEntry) -> None:
        """Add at the tail (list_add_tail)."""
        entry.queue = self
        self._entries[entry] = None

    def park_head(self, entry: WaitQueueEntry) -> None:
        """Add at the head (list_add)."""
        entry.queue = self
        self._entries = {entry: None, **self._entries}

    def remove(self, entry: WaitQueueEntry) -> None:
        """Take an entry off the queue (list_del); a no-op if it is not here."""
        if self._entries.pop(entry, 0) is None:
            entry.queue = None

    def move_tail(self, entry: WaitQueueEntry) -> None:
        """list_move_tail() within this queue."""
        del self._entries[entry]
        self._entries[entry] = None

    def repark_all(self, new: "WaitQueue") -> None:
        """Move every entry, in order, to the tail of ``new`` (trio's
        repark_all; repark applied to each)."""
        if new is self or not self._entries:
            return
        for entry in self._entries:
            entry.queue = new
        new._entries.update(self._entries)
        self._entries.clear()

    def __iter__(self) -> Iterator[WaitQueueEntry]:
        """Iterate over a snapshot, so waking while iterating is safe.

        SysV queues hold only their waiters, so their code iterates waiters."""
        if not self._entries:  # the common case on the hot path: nobody sleeps
            return iter(())
        return iter(list(self._entries))

    def first(self) -> WaitQueueEntry | None:
        return next(iter(self._entries), None)

    def waiters(self) -> list[Waiter]:
        """The sleeping syscalls with an entry here, each once, in queue order."""
        seen: dict[Waiter, None] = {}
        for entry in self._entries:
            owner = entry.owner
            if owner is not None:
                seen[owner] = None
        return list(seen)

    def __len__(self) -> int:
        return len(self._entries)

    def __bool__(self) -> bool:
        return bool(self._entries)

    def __contains__(self, entry: object) -> bool:
        return entry in self._entries


def repark(entry: WaitQueueEntry, new: WaitQueue) -> None:
    """list_move_tail() from one queue to another: ``entry`` leaves the queue
    it is on and joins the tail of ``new``, the same entry (its waiter keeps
    its other entries and its timeout)."""
    old = entry.queue
    if old is not None:
        old.remove(entry)
    new.park(entry)


def add_wait_queue(queue: WaitQueue, entry: WaitQueueEntry) -> None:
    """add_wait_queue(): put an entry at the tail of a queue."""
    queue.park(entry)


def remove_wait_queue(entry: WaitQueueEntry) -> None:
    """remove_wait_queue(): take an entry off whatever queue it is on."""
    if entry.queue is not None:
        entry.queue.remove(entry)


def wake_up(k: "Kernel", queue: WaitQueue, key: Any = None, nr_exclusive: int = 1) -> int:
    """__wake_up_common(): call the wake function of the queue's entries, in
    order; stop after ``nr_exclusive`` exclusive entries woke someone (0:
    never, wake_up_all).  Returns how many wake functions said they woke.

    Entries removed while walking (their waiter completed by an earlier one)
    are skipped.
    """
    woken = 0
    for entry in queue:
        if entry.queue is not queue:
            continue
        if entry.wake_function(k, key):
            woken += 1
            if entry.exclusive:
                nr_exclusive -= 1
                if nr_exclusive == 0:
                    break
    return woken


def wake_up_all(k: "Kernel", queue: WaitQueue, key: Any = None) -> int:
    """wake_up_all(): every entry's wake function runs."""
    return wake_up(k, queue, key, 0)
