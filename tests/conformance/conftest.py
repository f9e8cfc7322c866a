"""The conformance oracle for this run, and its summary line at the end."""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator

import pytest

from tests.conformance.harness import ORACLE, Oracle, start_oracle, stop_oracle


@pytest.fixture(scope="session")
def oracle(daemon: Any) -> Iterator[Oracle]:
    """How the kernel side runs here (harness.start_oracle): as root with the
    run's daemon; not root, in a user namespace with a daemon of its own;
    or not at all (ORACLE.unsupported says why)."""
    tmp = Path(tempfile.mkdtemp(prefix="uipc-oracle-"))
    d = start_oracle(tmp)
    try:
        yield ORACLE
    finally:
        stop_oracle(d)
        shutil.rmtree(tmp, ignore_errors=True)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    from tests.conformance.harness import STATS
    if STATS.scenarios or STATS.skipped:
        terminalreporter.write_line(STATS.line())
