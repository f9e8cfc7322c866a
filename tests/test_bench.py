"""The benchmark machinery in a tiny mode: every row present, every figure
finite and positive.  Not a timing assertion: speed lives in docs/benchmarks.md."""
from __future__ import annotations

import math

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
