"""The benchmark machinery in a tiny mode: every row present, every figure
finite and positive.  Not a timing assertion: speed lives in docs/benchmarks.md."""
from __future__ import annotations

import ctypes
import math
import os
import re
from pathlib import Path

import pytest

from tests.helpers import Child
from uipc.bench import libc as L
from uipc.bench.cases import have_posix_ipc
from uipc.bench.run import NO_POSIX_IPC, render_markdown, run_all

POSIX_LATENCY = {"uipc POSIX mq ping-pong", "kernel POSIX mq ping-pong (glibc mq_send/mq_receive)",
                 "uipc POSIX named semaphore ping-pong", "glibc named semaphore ping-pong (sem_open)"}
POSIX_IPC_LATENCY = {"posix_ipc mq ping-pong (kernel mq)",
                     "posix_ipc named semaphore ping-pong (glibc's)"}
DESCRIPTOR_LATENCY = {f"{who} {what} ping-pong" for who in ("uipc", "kernel")
                      for what in ("eventfd", "pipe")}


def _bench_names_in_dev_shm() -> list[str]:
    """glibc's named semaphores the bench rows made (sem.uipc-bench-*) still in /dev/shm."""
    return sorted(n for n in os.listdir("/dev/shm") if n.startswith("sem.uipc-bench-"))


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
    # the POSIX rows: mq and named-semaphore ping-pongs, mq throughput at every size
    # (root's kernel rows run in a private namespace whose fs.mqueue limits they set)
    assert POSIX_LATENCY <= set(res["latency"])
    if have_posix_ipc():
        assert POSIX_IPC_LATENCY <= set(res["latency"])
        assert {f"posix_ipc mq {size} B" for size in (64, 4096)} <= set(res["throughput"])
    else:
        assert not POSIX_IPC_LATENCY & set(res["latency"])
        assert any(NO_POSIX_IPC in note for note in res["notes"])
    assert {f"uipc POSIX mq {size} B" for size in (64, 4096, 65536)} <= set(res["throughput"])
    for size in (64, 4096) + ((65536,) if res["kernel_ns"] == L.PRIVATE else ()):
        assert f"kernel POSIX mq {size} B" in res["throughput"]
    ratio = {t["target"]: t["value"] for t in res["targets"]}
    for mode in ("pinned", "unpinned"):
        assert ratio[f"POSIX mq ping-pong / SysV msg ping-pong ({mode})"] > 0
    assert "| uipc POSIX mq ping-pong |" in table and "| uipc POSIX mq | 64 B |" in table
    # the descriptor rows: eventfd and pipe ping-pongs, pipe throughput at every
    # size, each uipc row with its ratio to the kernel's
    assert DESCRIPTOR_LATENCY <= set(res["latency"])
    assert {f"{who} pipe {size} B" for who in ("uipc", "kernel")
            for size in (64, 4096, 65536)} <= set(res["throughput"])
    for start in ["| uipc eventfd ping-pong |", "| uipc pipe ping-pong |"] + [
            f"| uipc pipe | {size} B |" for size in (64, 4096, 65536)]:
        row = next(line for line in table.splitlines() if line.startswith(start))
        assert not row.endswith("| - |"), row
    assert _bench_names_in_dev_shm() == []
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


CLONE_NEWNS = 0x00020000
MS_REC, MS_PRIVATE = 0x4000, 0x40000


def _mount_mqueue(where: Path) -> None:
    """Mount this IPC namespace's mqueue filesystem at ``where``, in a mount
    namespace of this process's own (private, so the machine's never sees it)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong,
                           ctypes.c_void_p]
    L.check(libc.unshare(CLONE_NEWNS))
    L.check(libc.mount(None, b"/", None, MS_REC | MS_PRIVATE, None))
    L.check(libc.mount(b"mqueue", os.fsencode(where), b"mqueue", 0, None))


def _kernel_rows_in_the_callers_namespace(mqueue: Path) -> dict[str, object]:
    """In a fresh IPC namespace of our own (so its table is ours to read),
    run the kernel rows as a user without one would: mode SHARED."""
    L.enter_kernel_ns(L.kernel_ns_mode())
    _mount_mqueue(mqueue)
    from uipc.bench import cases as C
    env = C.Env(Path("/nonexistent"), 0, pin=False, kernel_ns=L.SHARED)
    before = _sysv_table() + sorted(os.listdir(mqueue))
    msgmax = L.read_sysctl("msgmax")
    mq_limits = [L.read_mq_sysctl(n) for n in ("msg_max", "msgsize_max")]
    out = {
        "msg": C.kernel_msg_pingpong(env, 50).median_us,
        "sem": C.kernel_sem_pingpong(env, 50).median_us,
        "tput": C.kernel_msg_throughput(env, 50, 64),
        "too big": C.kernel_msg_throughput(env, 10, msgmax + 1),
        "shm": C.shm_bandwidth(env, 16, True),
        "mq": C.kernel_mq_pingpong(env, 50).median_us,
        "mq tput": C.kernel_mq_throughput(env, 50, 64),
        "mq too big": C.kernel_mq_throughput(env, 10, mq_limits[1] + 1),
        "glibc sem": C.glibc_sem_pingpong(env, 50).median_us,
    }
    if C.have_posix_ipc():
        out["posix_ipc"] = [C.posix_ipc_mq_pingpong(env, 50).median_us,  # type: ignore[union-attr]
                            C.posix_ipc_mq_throughput(env, 50, 64),
                            C.posix_ipc_sem_pingpong(env, 50).median_us]  # type: ignore[union-attr]
    out.update(before=before, after=_sysv_table() + sorted(os.listdir(mqueue)),
               msgmax_after=L.read_sysctl("msgmax"), msgmax=msgmax, mq_limits=mq_limits,
               mq_limits_after=[L.read_mq_sysctl(n) for n in ("msg_max", "msgsize_max")])
    return out


@pytest.mark.skipif(L.kernel_ns_mode() == L.SHARED,
                    reason="needs root or unprivileged user namespaces: the test reads an IPC "
                           "namespace of its own")
def test_kernel_rows_in_the_callers_namespace_leave_nothing_behind(tmp_path: Path) -> None:
    """Where no private IPC namespace is allowed, the kernel rows run in the
    caller's: every object they made is gone afterwards (SysV objects, POSIX
    queues in its mqueue filesystem, glibc's semaphores in /dev/shm) and the
    machine's limits are read, never written (a row above kernel.msgmax or
    fs.mqueue.msgsize_max is skipped)."""
    res = Child(lambda: _kernel_rows_in_the_callers_namespace(tmp_path)).result(timeout=60)
    assert res["before"] == [] and res["after"] == [], res["after"]
    assert res["msg"] > 0 and res["sem"] > 0 and res["tput"] > 0 and res["shm"] > 0
    assert res["mq"] > 0 and res["mq tput"] > 0 and res["glibc sem"] > 0
    assert all(v > 0 for v in res.get("posix_ipc", []))
    assert res["too big"] is None and res["mq too big"] is None
    assert res["msgmax_after"] == res["msgmax"] and res["mq_limits_after"] == res["mq_limits"]
    assert _bench_names_in_dev_shm() == []
