"""Adaptive spinning: poll a little before sleeping, when that can pay.

A process that sleeps in epoll_wait or recv and is woken from another CPU
pays ~30 us for the wake-up on the machines we measure; one that is still
polling when the data arrives pays nothing more.  So the daemon (and a
client that asks for it) polls for a few tens of microseconds before it
sleeps, as adaptive mutexes spin before they block — and, as they do, it
learns: a spin that catches nothing halves the next one (the partner is
slow, or busy processes outnumber the CPUs and polling would only take a
CPU from one of them), a spin that pays restores the full budget, and
after a run of waits without spinning it tries once more.  Only where it
may run on more than one CPU: alone on one, spinning would just keep the
partner that is about to answer from running.
"""
from __future__ import annotations

import os
import time

#: how often the CPU affinity is re-read (someone may pin the process)
AFFINITY_RECHECK_S = 0.01
#: waits without spinning before spinning is tried again
RETRY_AFTER = 64
#: below this a spin is not worth starting
MIN_SPIN_NS = 2000


class Spin:
    """How long to poll before the next sleep: ``budget_ns()``; report how
    it went with ``caught()``.  0 when spinning cannot pay."""

    def __init__(self, spin_us: int) -> None:
        self.spin_ns = max(0, spin_us) * 1000
        self._budget = self.spin_ns
        self._skipped = 0
        self._ok = False
        self._checked = -1.0

    def budget_ns(self) -> int:
        if not self.spin_ns:
            return 0
        now = time.monotonic()
        if now - self._checked >= AFFINITY_RECHECK_S:
            self._checked = now
            self._ok = len(os.sched_getaffinity(0)) > 1
        if not self._ok:
            return 0
        if self._budget < MIN_SPIN_NS:
            self._skipped += 1
            if self._skipped < RETRY_AFTER:
                return 0
            self._skipped, self._budget = 0, self.spin_ns  # try again
        return self._budget

    def caught(self, success: bool) -> None:
        """The last spin found its data (restore the budget) or not (halve it)."""
        self._budget = self.spin_ns if success else self._budget // 2
