"""The packages' own suites: their summary lines at the end of the run."""
from __future__ import annotations

from typing import Any


def pytest_terminal_summary(terminalreporter: Any) -> None:
    from tests.compat.test_sysv_compat import SUITE_LINES
    for line in SUITE_LINES:
        terminalreporter.write_line(line)
