"""Adaptive spinning: poll a little before sleeping, when that can pay.

A process that sleeps in epoll_wait or recv and is woken from another CPU
pays ~30 us for the wake-up on the machines we measure; one that is still
polling when the data arrives pays nothing more.  So the daemon (and a
client that asks for it) polls for a few tens of microseconds before it
sleeps, as adaptive mutexes spin before they block.  Only where it may run
on more than one CPU: alone on one, spinning would just keep the partner
that is about to answer from running.
"""
from __future__ import annotations

import os
import time

#: how often the CPU affinity is re-read (someone may pin the process)
AFFINITY_RECHECK_S = 0.01


class Spin:
    """How long to poll before sleeping: ``budget_ns()`` is 0 when spinning
    cannot pay (a budget of 0, or a single allowed CPU)."""

    def __init__(self, spin_us: int) -> None:
        self.spin_ns = max(0, spin_us) * 1000
        self._ok = False
        self._checked = -1.0

    def budget_ns(self) -> int:
        if not self.spin_ns:
            return 0
        now = time.monotonic()
        if now - self._checked >= AFFINITY_RECHECK_S:
            self._checked = now
            self._ok = len(os.sched_getaffinity(0)) > 1
        return self.spin_ns if self._ok else 0
