"""Every scenario, on the real kernel and on uipc: no mismatch allowed."""
from __future__ import annotations

import pytest

from tests.conformance.harness import Scenario, assert_conforms
from tests.conformance.scenarios_msg import SCENARIOS as MSG
from tests.conformance.scenarios_sem import SCENARIOS as SEM
from tests.conformance.scenarios_eventfd import SCENARIOS as EVENTFD
from tests.conformance.scenarios_timerfd import SCENARIOS as TIMERFD
from tests.conformance.scenarios_mq import COMPARED as MQ
from tests.conformance.scenarios_posix import SCENARIOS as POSIX
from tests.conformance.scenarios_shm import SCENARIOS as SHM

ALL: list[Scenario] = [*MSG, *SEM, *SHM, *MQ, *POSIX, *EVENTFD, *TIMERFD]


@pytest.mark.kernel_oracle
@pytest.mark.parametrize("scenario", ALL, ids=lambda s: s.name)
def test_scenario_matches_the_kernel(scenario: Scenario, oracle) -> None:
    assert_conforms(scenario)
