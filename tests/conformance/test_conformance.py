"""Every scenario, on the real kernel and on uipc: no mismatch allowed."""
from __future__ import annotations

import pytest

from tests.conformance.harness import Scenario, assert_conforms
from tests.conformance.scenarios_msg import SCENARIOS as MSG
from tests.conformance.scenarios_sem import SCENARIOS as SEM
from tests.conformance.scenarios_eventfd import SCENARIOS as EVENTFD
from tests.conformance.scenarios_timerfd import SCENARIOS as TIMERFD
from tests.conformance.scenarios_epoll import SCENARIOS as EPOLL
from tests.conformance.scenarios_pipe import SCENARIOS as PIPE
from tests.conformance.scenarios_signalfd import SCENARIOS as SIGNALFD
from tests.conformance.scenarios_sysctl import SCENARIOS as SYSCTL
from tests.conformance.scenarios_splice import SCENARIOS as SPLICE
from tests.conformance.scenarios_mq import COMPARED as MQ
from tests.conformance.scenarios_posix import SCENARIOS as POSIX
from tests.conformance.scenarios_shm import SCENARIOS as SHM

ALL: list[Scenario] = [*MSG, *SEM, *SHM, *MQ, *POSIX, *EVENTFD, *TIMERFD, *EPOLL, *PIPE, *SIGNALFD, *SYSCTL, *SPLICE]


@pytest.mark.kernel_oracle
@pytest.mark.parametrize("scenario", ALL, ids=lambda s: s.name)
def test_scenario_matches_the_kernel(scenario: Scenario, oracle) -> None:
    assert_conforms(scenario)
