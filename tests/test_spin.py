"""uipc.spin: when to poll before sleeping."""
from __future__ import annotations

import os

import pytest


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="spinning needs two allowed CPUs")
def test_spin_budget_learns_from_its_outcomes() -> None:
    """As adaptive mutexes: a spin that caught nothing halves the next one,
    one that paid restores it, and after a run of waits without spinning
    it is tried again."""
    from uipc.spin import MIN_SPIN_NS, RETRY_AFTER, Spin
    spin = Spin(50)
    assert spin.budget_ns() == 50_000
    spin.caught(False)
    assert spin.budget_ns() == 25_000
    spin.caught(True)
    assert spin.budget_ns() == 50_000
    while spin.budget_ns() >= MIN_SPIN_NS:
        spin.caught(False)
    assert [spin.budget_ns() for _ in range(RETRY_AFTER - 2)] == [0] * (RETRY_AFTER - 2)
    assert spin.budget_ns() == 50_000  # the retry
