"""A smoke run of the attack measurement (tests/reliability/attacks.py).

It takes seconds of both CPUs and a daemon of its own, so it runs only when
asked: ``UIPC_ATTACKS=1 pytest tests/reliability/test_attacks_script.py``.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.reliability import attacks

pytestmark = [
    pytest.mark.skipif(os.environ.get("UIPC_ATTACKS") != "1",
                       reason="the attack measurement runs only with UIPC_ATTACKS=1"),
    pytest.mark.skipif(os.geteuid() != 0, reason="the attacker and the bystander need root "
                       "to setuid them"),
]


def test_quick_run_measures_every_attack_and_leaves_nothing(tmp_path: Path, capsys) -> None:
    """Every row is measured, each attack is refused by the quota it aims at,
    the bystander still gets a segment, freed memory goes back, and the run
    leaves no process or /dev/shm entry behind."""
    shm_before = set(os.listdir("/dev/shm"))
    out = tmp_path / "attacks.json"
    assert attacks.main(["--quick", "--json", str(out)]) == 0
    results = json.loads(out.read_text())
    rows = results["rows"]
    assert [r["attack"] for r in rows[1:6]] == [name for name, _ in attacks.ATTACKS]
    for row, quota in zip(rows[1:6], ("connections", "sems", "objects", "segments", "msg_bytes")):
        assert f"uipc.quota.{quota}" in row["refused"], row
        assert row["p50"] > 0 and row["p99"] >= row["p50"]
    assert rows[4]["extra"]["bystander_shmget"] == "ok"
    assert results["rss"]["after"] < results["rss"]["full"]
    assert "| 0. idle |" in capsys.readouterr().out
    assert set(os.listdir("/dev/shm")) == shm_before
    with pytest.raises(ChildProcessError):
        os.waitpid(-1, os.WNOHANG)  # every child the run forked was reaped
