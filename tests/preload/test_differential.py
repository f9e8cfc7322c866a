"""Every program in programs/ prints the same natively and under the shim.

Each program is one area (its first comment says which); run natively in a
fresh kernel IPC namespace and under ``uipc run --preload --new-namespace``,
its stdout and exit status must be identical (conftest.differential).
"""
from __future__ import annotations

from pathlib import Path

import pytest

PROGRAMS = sorted(p.name for p in (Path(__file__).parent / "programs").glob("*.c"))


def test_programs_exist() -> None:
    assert PROGRAMS, "no differential programs found"


@pytest.mark.parametrize("program", PROGRAMS)
def test_same_as_kernel(differential, program: str) -> None:
    differential(program)
