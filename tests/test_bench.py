"""The benchmark machinery in a tiny mode: every row present, every figure
finite and positive.  Not a timing assertion: speed lives in docs/benchmarks.md."""
from __future__ import annotations

import math
import os
import re
from pathlib import Path

import pytest

from tests.helpers import Child
from uipc.bench import libc as L
from uipc.bench.run import render_markdown, run_all


def test_tiny_benchmark_produces_every_row() -> None:
    res = run_all(tiny=True, log=lambda s: None)
    for name, row in res["latency"].items():
        for mode in ("pinned", "unpinned"):
            lat = row[mode]
            assert 0 < lat["median_us"] <= lat["p99_us"] and math.isfinite(lat["p99_us"]), name
    assert {"uipc SysV msg ping-pong", "kernel SysV msg ping-pong", "echo floor (AF_UNIX, uipc frame sizes)",
            "relay floor (client-relay-client)", "multiprocessing.Queue ping-pong",
            "uipc semaphore ping-pong"} <= set(res["latency"])
    for name, row in res["throughput"].items():
        assert row["pinned"] > 0 and row["unpinned"] > 0, name
    assert res["shm"]["uipc"] > 0 and res["shm"]["kernel"] > 0
    assert all(v > 0 for v in res["scaling"].values())
    table = render_markdown(res)
    assert "| uipc SysV msg ping-pong |" in table and "## Targets" in table
    assert len(res["targets"]) >= 24
    from uipc.bench.floors import FUTEX_FLOOR, SPIN_FLOOR, VARIANTS, have_uvloop
    assert set(res["floors"]) == ({n for n in VARIANTS if have_uvloop() or "uvloop" not in n}
                                  | {FUTEX_FLOOR, SPIN_FLOOR})
    for name, row in res["floors"].items():
        assert 0 < row["pinned"]["median_us"] <= row["pinned"]["p99_us"], name
    assert any(n.startswith("uipc SysV msg, batched") for n in res["throughput"])
    assert "## The floor, served by different loops" in table
    # root gets a private IPC namespace; anyone else at least a user namespace's here,
    # or the caller's own: the kernel rows above ran either way
    assert res["kernel_ns"] == L.PRIVATE if os.geteuid() == 0 else res["kernel_ns"] != L.PRIVATE
    assert f"Kernel rows: {L.MODE_NOTES[res['kernel_ns']]}" in table
    # the output is figures and method notes, nothing about the project's bookkeeping
    assert not re.search(r"issue|#\d", table, re.IGNORECASE), table


def _sysv_table() -> list[str]:
    """Every SysV object of this process's IPC namespace (its /proc/sysvipc)."""
    rows = []
    for kind in ("msg", "sem", "shm"):
        with open(f"/proc/sysvipc/{kind}") as f:
            rows += [f"{kind}: {line.strip()}" for line in f.readlines()[1:]]
    return rows


def _kernel_rows_in_the_callers_namespace() -> dict[str, object]:
    """In a fresh IPC namespace of our own (so its table is ours to read),
    run the kernel rows as a user without one would: mode SHARED."""
    L.enter_kernel_ns(L.kernel_ns_mode())
    from uipc.bench import cases as C
    env = C.Env(Path("/nonexistent"), 0, pin=False, kernel_ns=L.SHARED)
    before = _sysv_table()
    msgmax = L.read_sysctl("msgmax")
    out = {
        "msg": C.kernel_msg_pingpong(env, 50).median_us,
        "sem": C.kernel_sem_pingpong(env, 50).median_us,
        "tput": C.kernel_msg_throughput(env, 50, 64),
        "too big": C.kernel_msg_throughput(env, 10, msgmax + 1),
        "shm": C.shm_bandwidth(env, 16, True),
    }
    out.update(before=before, after=_sysv_table(), msgmax_after=L.read_sysctl("msgmax"),
               msgmax=msgmax)
    return out


@pytest.mark.skipif(L.kernel_ns_mode() == L.SHARED,
                    reason="needs root or unprivileged user namespaces: the test reads an IPC "
                           "namespace of its own")
def test_kernel_rows_in_the_callers_namespace_leave_nothing_behind() -> None:
    """Where no private IPC namespace is allowed, the kernel rows run in the
    caller's: every object they made is gone afterwards and the machine's
    limits are read, never written (a row above kernel.msgmax is skipped)."""
    res = Child(_kernel_rows_in_the_callers_namespace).result(timeout=60)
    assert res["before"] == [] and res["after"] == [], res["after"]
    assert res["msg"] > 0 and res["sem"] > 0 and res["tput"] > 0 and res["shm"] > 0
    assert res["too big"] is None
    assert res["msgmax_after"] == res["msgmax"]
