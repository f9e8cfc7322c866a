"""Print the conformance summary line at the end of every run."""
from __future__ import annotations

from typing import Any


def pytest_terminal_summary(terminalreporter: Any) -> None:
    from tests.conformance.harness import STATS
    if STATS.scenarios:
        terminalreporter.write_line(STATS.line())
