"""kernel/time/: the two clocks and the timer heap (hrtimers).

The core reads no clock.  Every input the caller feeds the kernel comes with
the time it happened, on two clocks, as Linux keeps them
(``kernel/time/timekeeping.c``):

* ``CLOCK_REALTIME`` — wall-clock seconds since the epoch.  It may jump,
  backwards or forwards, when someone sets the clock.  It is what user space
  reads back as a date, so it stamps objects: ``msg_stime``, ``sem_otime``,
  ``shm_atime``, every ``*_ctime``, a sleeper's ``since``.
* ``CLOCK_MONOTONIC`` — seconds since some fixed point; it never jumps, so
  it measures intervals: every relative timeout (semtimedop's) becomes a
  monotonic deadline, and only a monotonic time ever expires a timer.
  Setting the wall clock changes when nothing sleeps.

Rules: :class:`Clocks` holds the two readings exactly as the caller gave them
(the daemon passes ``time.time()`` and ``time.monotonic()``; tests pass any
numbers, and a caller that gives only a realtime has it used for both).  The
core trusts the caller that the monotonic reading never decreases.

Theory of operation of :class:`TimerHeap` (``kernel/time/hrtimer.c`` on one
CPU): a timer is an absolute monotonic expiry and a callback (the hrtimer's
``function``).  ``add`` arms one, ``cancel`` disarms it (at once, whatever
its place in the heap: it is only marked and skipped later, and the heap is
compacted when most of it is cancelled, so cancelled timers cost no memory
for long), ``next_expiry`` gives the caller its poll timeout, and
``run_expired(now)`` calls, in expiry order (ties: the order they were
armed), the callback of every timer due at ``now``.  A callback may return a
new expiry to re-arm its timer (``HRTIMER_RESTART`` after
``hrtimer_forward``), the way a periodic timerfd will; ``None`` leaves it
disarmed (``HRTIMER_NORESTART``).  Sleeper timeouts are such timers now,
timerfds will be later.
"""
from __future__ import annotations

import errno
import heapq
import itertools
from typing import Any, Callable

from uipc.kernel.errors import KernelError

NSEC_PER_SEC = 1_000_000_000


def timespec_seconds(tv_sec: int, tv_nsec: int, what: str = "time") -> float:
    """timespec64_valid(): a struct timespec from user space as seconds;
    EINVAL unless tv_sec >= 0 and 0 <= tv_nsec < 1e9."""
    if tv_sec < 0 or not 0 <= tv_nsec < NSEC_PER_SEC:
        raise KernelError(errno.EINVAL, f"{what} {{tv_sec={tv_sec}, tv_nsec={tv_nsec}}} is not "
                          "a valid timespec (tv_sec >= 0, 0 <= tv_nsec < 1e9)")
    return tv_sec + tv_nsec / NSEC_PER_SEC

#: include/uapi/linux/time.h clock ids
CLOCK_REALTIME = 0
CLOCK_MONOTONIC = 1

#: a heap with at least this many entries is compacted once most are cancelled
COMPACT_MIN = 64


class Clocks:
    """The kernel's two clocks (the timekeeper), as last given by the caller."""

    __slots__ = ("realtime", "monotonic")

    def __init__(self, realtime: float = 0.0, monotonic: float | None = None) -> None:
        #: CLOCK_REALTIME, seconds since the epoch: for stamps
        self.realtime = realtime
        #: CLOCK_MONOTONIC, seconds: for deadlines
        self.monotonic = realtime if monotonic is None else monotonic

    def set(self, realtime: float, monotonic: float | None = None) -> None:
        """The time of the input being processed; without ``monotonic`` the
        realtime reading stands for both (tests that keep one clock)."""
        self.realtime = realtime
        self.monotonic = realtime if monotonic is None else monotonic

    def gettime(self, clockid: int) -> float:
        """clock_gettime() for CLOCK_REALTIME or CLOCK_MONOTONIC."""
        if clockid == CLOCK_REALTIME:
            return self.realtime
        if clockid == CLOCK_MONOTONIC:
            return self.monotonic
        raise ValueError(f"unknown clock id {clockid}")

    @property
    def offs_real(self) -> float:
        """tk->offs_real: realtime minus monotonic.  It changes exactly when
        the wall clock is set, which is what TFD_TIMER_CANCEL_ON_SET watches."""
        return self.realtime - self.monotonic

    def __repr__(self) -> str:
        return f"Clocks(realtime={self.realtime}, monotonic={self.monotonic})"


#: a timer's function: called with the timer when it expires; returns a new
#: absolute monotonic expiry to re-arm it, or None
TimerFn = Callable[["Timer"], "float | None"]


class Timer:
    """struct hrtimer: an absolute monotonic expiry and a function."""

    __slots__ = ("expires", "function", "data", "active", "_seq")

    def __init__(self, expires: float, function: TimerFn, data: Any = None) -> None:
        #: absolute CLOCK_MONOTONIC expiry
        self.expires = expires
        self.function = function
        #: what the function needs (the sleeper a timeout belongs to...)
        self.data = data
        #: armed: in the heap and neither expired nor cancelled
        self.active = False
        # the sequence number of its live heap entry (older ones are stale)
        self._seq = -1

    def __repr__(self) -> str:
        return f"Timer(expires={self.expires}, active={self.active})"


class TimerHeap:
    """The hrtimer base of the core: every armed timer, earliest first."""

    __slots__ = ("_heap", "_seq", "_armed")

    def __init__(self) -> None:
        # (expires, seq, timer): tuples compare in C; seq keeps ties in arming
        # order and tells a timer's live entry from stale ones
        self._heap: list[tuple[float, int, Timer]] = []
        self._seq = itertools.count()
        self._armed = 0

    def add(self, expires_mono: float, callback: TimerFn, data: Any = None) -> Timer:
        """hrtimer_init() + hrtimer_start(HRTIMER_MODE_ABS): arm a new timer."""
        timer = Timer(expires_mono, callback, data)
        self._arm(timer)
        return timer

    def start(self, timer: Timer, expires_mono: float) -> None:
        """hrtimer_start(): (re-)arm an existing timer at a new expiry."""
        self.cancel(timer)
        timer.expires = expires_mono
        self._arm(timer)

    def _arm(self, timer: Timer) -> None:
        timer.active = True
        timer._seq = seq = next(self._seq)
        self._armed += 1
        heapq.heappush(self._heap, (timer.expires, seq, timer))

    def cancel(self, timer: Timer) -> bool:
        """hrtimer_try_to_cancel(): disarm; False if it was not armed.

        Its heap entry stays, stale, until it reaches the top or the heap is
        compacted (when most of a large heap is stale).
        """
        if not timer.active:
            return False
        timer.active = False
        self._armed -= 1
        heap = self._heap
        if len(heap) >= COMPACT_MIN and self._armed < len(heap) // 2:
            self._compact()
        return True

    @staticmethod
    def _live(item: tuple[float, int, Timer]) -> bool:
        timer = item[2]
        return timer.active and timer._seq == item[1]

    def _compact(self) -> None:
        """Drop the stale entries (a sleeper that completed before its
        timeout leaves one): the heap's size follows the armed timers."""
        # in place: run_expired may be walking this list when a callback cancels
        self._heap[:] = [item for item in self._heap if self._live(item)]
        heapq.heapify(self._heap)

    def next_expiry(self) -> float | None:
        """hrtimer_get_next_event(): the earliest armed expiry (monotonic), or None."""
        heap = self._heap
        while heap and not self._live(heap[0]):
            heapq.heappop(heap)
        return heap[0][0] if heap else None

    def run_expired(self, now_mono: float) -> int:
        """__hrtimer_run_queues(): call the function of every timer due at
        ``now_mono``, earliest first; returns how many ran.

        A timer armed by a callback for a time already due runs in the same
        pass, after the ones due before it, as hrtimer_interrupt loops.
        """
        heap = self._heap
        ran = 0
        while heap and heap[0][0] <= now_mono:
            item = heapq.heappop(heap)
            if not self._live(item):
                continue
            timer = item[2]
            timer.active = False
            self._armed -= 1
            ran += 1
            again = timer.function(timer)
            if again is not None and not timer.active:
                timer.expires = again
                self._arm(timer)
        return ran

    def __len__(self) -> int:
        """Armed timers."""
        return self._armed

    def __bool__(self) -> bool:
        return self._armed > 0
