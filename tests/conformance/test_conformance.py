"""Every scenario, on the real kernel and on uipc: no mismatch allowed."""
from __future__ import annotations

import os

import pytest

from tests.conformance.harness import Scenario, Unsupported, check
from tests.conformance.scenarios_msg import SCENARIOS as MSG
from tests.conformance.scenarios_sem import SCENARIOS as SEM
from tests.conformance.scenarios_shm import SCENARIOS as SHM

ALL: list[Scenario] = [*MSG, *SEM, *SHM]


@pytest.mark.kernel_oracle
@pytest.mark.parametrize("scenario", ALL, ids=lambda s: s.name)
def test_scenario_matches_the_kernel(scenario: Scenario, daemon) -> None:
    try:
        mismatches = check(scenario)
    except Unsupported as exc:
        if os.environ.get("CI"):
            pytest.fail(f"conformance must run in CI: {exc}")
        pytest.skip(f"CONFORMANCE SKIPPED (the kernel side cannot run here): {exc}")
    assert not mismatches, f"{scenario.name}:\n" + "\n".join(str(m) for m in mismatches)
