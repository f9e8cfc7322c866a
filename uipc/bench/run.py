"""Run every contender, interleaved, best of several rounds; render the table."""
from __future__ import annotations

import json
import os
import platform
import re
import textwrap
from dataclasses import asdict
from typing import Any, Callable

from uipc.bench import cases as C
from uipc.bench import floors as F
from uipc.bench import libc as L

C_SHIM_PINGPONG = "C program, uipc SysV msg ping-pong (LD_PRELOAD shim)"
LATENCY: dict[str, Callable[[C.Env, int], Any]] = {
    "echo floor (AF_UNIX, uipc frame sizes)": C.echo_floor,
    "relay floor (client-relay-client)": C.relay_floor,
    "uipc non-blocking call (semctl GETVAL)": C.uipc_nonblocking_call,
    f"uipc non-blocking call, client spinning (UIPC_SPIN_US={C.CLIENT_SPIN_US})":
        lambda env, iters: C.uipc_nonblocking_call(env, iters, C.CLIENT_SPIN_US),
    "uipc non-blocking call, traced (one `uipc trace` subscriber)":
        lambda env, iters: C.uipc_nonblocking_call(env, iters, traced=True),
    "uipc SysV msg ping-pong": C.uipc_msg_pingpong,
    f"uipc SysV msg ping-pong, clients spinning (UIPC_SPIN_US={C.CLIENT_SPIN_US})":
        lambda env, iters: C.uipc_msg_pingpong(env, iters, C.CLIENT_SPIN_US),
    "uipc SysV msg ping-pong, batched (msgsnd+msgrcv in one write)": C.uipc_msg_pingpong_batched,
    "kernel SysV msg ping-pong": C.kernel_msg_pingpong,
    C_SHIM_PINGPONG: lambda env, iters: C.c_msg_pingpong(env, iters, shim=True),
    "C program, kernel SysV msg ping-pong": lambda env, iters: C.c_msg_pingpong(env, iters, shim=False),
    "uipc semaphore ping-pong": C.uipc_sem_pingpong,
    "kernel semaphore ping-pong": C.kernel_sem_pingpong,
    "uipc POSIX mq ping-pong": C.uipc_mq_pingpong,
    "kernel POSIX mq ping-pong (glibc mq_send/mq_receive)": C.kernel_mq_pingpong,
    "posix_ipc mq ping-pong (kernel mq)": C.posix_ipc_mq_pingpong,
    "uipc POSIX named semaphore ping-pong": C.uipc_posix_sem_pingpong,
    "glibc named semaphore ping-pong (sem_open)": C.glibc_sem_pingpong,
    "posix_ipc named semaphore ping-pong (glibc's)": C.posix_ipc_sem_pingpong,
    "uipc eventfd ping-pong": C.uipc_eventfd_pingpong,
    "kernel eventfd ping-pong": C.kernel_eventfd_pingpong,
    "uipc pipe ping-pong": C.uipc_pipe_pingpong,
    "kernel pipe ping-pong": C.kernel_pipe_pingpong,
    "multiprocessing.Queue ping-pong": C.mp_queue_pingpong,
    "multiprocessing.Pipe ping-pong": C.mp_pipe_pingpong,
    "Redis LPUSH/BRPOP ping-pong": C.redis_pingpong,
}
THROUGHPUT: dict[str, Callable[[C.Env, int, int], float | None]] = {
    "uipc SysV msg": C.uipc_msg_throughput,
    f"uipc SysV msg, batched (msgsnd_many/msgrcv_many of {C.BATCH})": C.uipc_msg_throughput_batched,
    "kernel SysV msg": C.kernel_msg_throughput,
    "uipc POSIX mq": C.uipc_mq_throughput,
    "kernel POSIX mq": C.kernel_mq_throughput,
    "posix_ipc mq": C.posix_ipc_mq_throughput,
    "uipc pipe": C.uipc_pipe_throughput,
    "kernel pipe": C.kernel_pipe_throughput,
    "multiprocessing.Queue": C.mp_queue_throughput,
    "multiprocessing.Pipe": C.mp_pipe_throughput,
}
SIZES = (64, 4096, 65536)
PINGPONG = "uipc SysV msg ping-pong"
PINGPONG_BATCHED = "uipc SysV msg ping-pong, batched (msgsnd+msgrcv in one write)"
CALL = "uipc non-blocking call (semctl GETVAL)"
CALL_SPINNING = f"uipc non-blocking call, client spinning (UIPC_SPIN_US={C.CLIENT_SPIN_US})"
PINGPONG_SPINNING = f"uipc SysV msg ping-pong, clients spinning (UIPC_SPIN_US={C.CLIENT_SPIN_US})"
THROUGHPUT_BATCHED = f"uipc SysV msg, batched (msgsnd_many/msgrcv_many of {C.BATCH})"
MQ_PINGPONG = "uipc POSIX mq ping-pong"
NO_POSIX_IPC = "posix_ipc not installed: pip install posix_ipc"
#: why a latency row that measured None was skipped (Redis's otherwise)
LATENCY_SKIPPED = {name: NO_POSIX_IPC for name in LATENCY if name.startswith("posix_ipc ")}
LATENCY_SKIPPED.update({name: "no gcc, or libuipc-preload.so not built" for name in LATENCY
                        if name.startswith("C program")})
#: why a throughput row that measured None was skipped, by contender
THROUGHPUT_SKIPPED = {
    "kernel SysV msg": "messages above kernel.msgmax here, and raising it needs root",
    "kernel POSIX mq": "messages above fs.mqueue.msgsize_max here, and raising it needs root",
    "posix_ipc mq": f"{NO_POSIX_IPC}, or messages above fs.mqueue.msgsize_max here",
}
#: the kernel's counterpart of a throughput contender, for the × kernel column
KERNEL_THROUGHPUT_OF = {name: "kernel POSIX mq" for name in ("uipc POSIX mq", "kernel POSIX mq",
                                                             "posix_ipc mq")}
KERNEL_THROUGHPUT_OF.update({name: "kernel pipe" for name in ("uipc pipe", "kernel pipe")})


def machine() -> dict[str, Any]:
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {"cores": os.cpu_count(), "cpu": cpu, "kernel": platform.release(),
            "python": platform.python_version()}


def kernel_rows_note(kernel_ns: str) -> str:
    """How the kernel rows were isolated, for the table (the machine's limits
    when they ran in its namespace)."""
    note = L.MODE_NOTES[kernel_ns]
    if kernel_ns == L.SHARED:
        note += (f" (kernel.msgmax {L.read_sysctl('msgmax')}, "
                 f"kernel.msgmnb {L.read_sysctl('msgmnb')})")
    return note


def run_all(quick: bool = False, rounds: int | None = None, tiny: bool = False,
            log: Callable[[str], None] = print, kernel_ns: str | None = None) -> dict[str, Any]:
    """Measure everything; ``tiny`` is for the test suite (seconds, not figures).

    ``kernel_ns`` says where the kernel rows run (uipc.bench.libc); by
    default the best this user may have: a private IPC namespace as root, one
    in a user namespace otherwise, the caller's own if neither is allowed."""
    iters = 50 if tiny else 1500 if quick else 10000
    n = 50 if tiny else 3000 if quick else 20000
    rounds = rounds or (1 if tiny else 2 if quick else 5)
    kernel_ns = kernel_ns or L.kernel_ns_mode()
    res: dict[str, Any] = {"machine": machine(), "quick": quick, "rounds": rounds,
                           "kernel_ns": kernel_ns, "kernel_note": kernel_rows_note(kernel_ns),
                           "latency": {}, "throughput": {}, "floors": {}, "notes": []}
    log(f"kernel rows: {res['kernel_note']}")
    d = C.Daemon.start()
    try:
        for mode in ("pinned", "unpinned"):
            env = C.Env(d.path, d.proc.pid, pin=mode == "pinned", kernel_ns=kernel_ns)
            d.pin(env.pin)
            for r in range(rounds):
                log(f"{mode} round {r + 1}/{rounds}")
                contenders = [("latency", name, lambda e, fn=fn: fn(e, iters), LATENCY_SKIPPED.get(
                    name, "no redis-server binary or redis package on this machine"))
                    for name, fn in LATENCY.items()]
                contenders += [("floors", name, lambda e, name=name: F.floor_variant(e, name, iters),
                                "not installed") for name in F.VARIANTS]
                contenders += [("floors", name, lambda e, spin=spin: F.futex_floor(e, iters, spin),
                                "no futex syscall number for this machine")
                               for name, spin in ((F.FUTEX_FLOOR, False), (F.SPIN_FLOOR, True))]
                for table, name, measure, why_missing in contenders:
                    lat = measure(env)
                    if lat is None:
                        if r == 0 and mode == "pinned":
                            res["notes"].append(f"{name}: skipped ({why_missing})")
                        continue
                    best = res[table].setdefault(name, {}).get(mode)
                    if best is None or lat.median_us < best["median_us"]:
                        res[table][name][mode] = asdict(lat)
                for name, fn in THROUGHPUT.items():
                    for size in SIZES:
                        count = max(n // (4 if size > 4096 else 1), 10)
                        rate = fn(env, count, size)
                        if rate is None:  # the kernel's above the machine's limits, or no posix_ipc
                            if r == 0 and mode == "pinned":
                                res["notes"].append(f"{name} {size} B: skipped "
                                                    f"({THROUGHPUT_SKIPPED.get(name, 'no figure here')})")
                            continue
                        row = res["throughput"].setdefault(f"{name} {size} B", {})
                        row[mode] = max(row.get(mode, 0.0), rate)
            if mode == "pinned":
                res["shm"] = {
                    "uipc": max(C.shm_bandwidth(env, 64 if tiny else 512, False) for _ in range(rounds)),
                    "kernel": max(C.shm_bandwidth(env, 64 if tiny else 512, True) for _ in range(rounds)),
                }
        env = C.Env(d.path, d.proc.pid, pin=False, kernel_ns=kernel_ns)
        d.pin(False)
        counts = (1, 2) if tiny else (1, 2, 4, 16) if quick else (1, 2, 4, 16, 64)
        # enough calls per point that stragglers and exits do not dominate the figure
        calls = 50 if tiny else 10000 if quick else 40000
        res["scaling"] = {k: max(C.scaling(env, k, max(calls // k, 20)) for _ in range(rounds))
                          for k in counts}
        hammers = 4 if tiny else 32
        idle, loaded = C.latency_under_load(env, hammers, 100 if tiny else 3000)
        res["load"] = {"hammers": hammers, "idle": asdict(idle), "loaded": asdict(loaded)}
        queues = 200 if tiny else 2000 if quick else 32000
        messages = 2000 if tiny else 50000 if quick else 1000000
        per_queue, per_msg = C.daemon_memory(env, queues, messages)
        res["memory"] = {"queues": queues, "messages": messages, "per_queue_bytes": per_queue,
                         "per_message_overhead_bytes": per_msg}
    finally:
        d.stop()
    res["targets"] = targets(res)
    return res


def _lat(res: dict[str, Any], name: str, mode: str = "pinned") -> float | None:
    row = res["latency"].get(name, {}).get(mode)
    return None if row is None else row["median_us"]


ECHO = "echo floor (AF_UNIX, uipc frame sizes)"
RELAY = "relay floor (client-relay-client)"
MPQ = "multiprocessing.Queue ping-pong"
#: latency targets: (label, contender, baseline, bound on the ratio)
LATENCY_TARGETS = [
    ("non-blocking call / echo floor", CALL, ECHO, 1.3),
    ("non-blocking call, client spinning / echo floor", CALL_SPINNING, ECHO, 1.3),
    ("msg ping-pong / relay floor", PINGPONG, RELAY, 1.3),
    ("msg ping-pong, clients spinning / relay floor", PINGPONG_SPINNING, RELAY, 1.3),
    ("batched msg ping-pong / relay floor", PINGPONG_BATCHED, RELAY, 1.3),
    ("msg ping-pong / multiprocessing.Queue ping-pong", PINGPONG, MPQ, 1.0),
    ("msg ping-pong, clients spinning / multiprocessing.Queue ping-pong", PINGPONG_SPINNING, MPQ, 1.0),
    ("batched msg ping-pong / multiprocessing.Queue ping-pong", PINGPONG_BATCHED, MPQ, 1.0),
    ("POSIX mq ping-pong / SysV msg ping-pong", MQ_PINGPONG, PINGPONG, 1.0),
    # a C program through the shim pays no interpreter on the client side
    ("C shim msg ping-pong / Python client msg ping-pong", C_SHIM_PINGPONG, PINGPONG, 1.0),
]


def targets(res: dict[str, Any]) -> list[dict[str, Any]]:
    """The targets, each as measured in this run."""
    out = []

    def add(what: str, value: float | None, bound: float, ok: bool | None) -> None:
        out.append({"target": what, "value": value, "bound": bound,
                    "met": None if value is None else ok})

    for mode in ("pinned", "unpinned"):
        for label, name, base, bound in LATENCY_TARGETS:
            value, floor = _lat(res, name, mode), _lat(res, base, mode)
            ratio = value / floor if value and floor else None
            add(f"{label} ({mode})", ratio, bound, ratio is not None and ratio <= bound)
    for size in (64, 4096):
        for mode in ("pinned", "unpinned"):
            q = res["throughput"].get(f"multiprocessing.Queue {size} B", {}).get(mode)
            for label, row in (("msg", "uipc SysV msg"), ("batched msg", THROUGHPUT_BATCHED)):
                u = res["throughput"].get(f"{row} {size} B", {}).get(mode)
                ratio = u / q if u and q else None
                add(f"{label} throughput {size} B / multiprocessing.Queue ({mode})", ratio, 1.0,
                    ratio is not None and ratio >= 1.0)
    load = res["load"]
    ratio = load["loaded"]["p99_us"] / load["idle"]["p99_us"]
    add(f"p99 under {load['hammers']}-client load / idle p99", ratio, 20.0, ratio <= 20.0)
    shm = res["shm"]
    ratio = shm["uipc"] / shm["kernel"]
    add("shm bandwidth / kernel shm", ratio, 0.9, ratio >= 0.9)
    per_msg = res["memory"]["per_message_overhead_bytes"]
    add("daemon bytes per queued message beyond payload", per_msg, 200, per_msg <= 200)
    return out


def render_markdown(res: dict[str, Any]) -> str:
    m = res["machine"]
    lines = ["# Benchmarks", "",
             f"Machine: {m['cores']} cores ({m['cpu']}), Linux {m['kernel']}, Python {m['python']}. "
             f"Best of {res['rounds']} interleaved rounds{' (quick mode)' if res['quick'] else ''}.",
             "Pinned: every process (the daemon too) on CPU 0 — CPU cost per round trip, stable "
             "to a few percent. Unpinned: includes the cross-CPU wake-up (~35 us here) and swings "
             f"between runs. Kernel rows: {res.get('kernel_note') or L.MODE_NOTES[L.PRIVATE]}.", "",
             "Rerun: `pip install '.[bench]' && python bench/run.py` (writes this file and "
             "docs/bench.png), or `uipc bench [--quick] [--json] [--plot FILE]`. Where the time "
             "goes: [performance.md](performance.md).", "",
             "## Round-trip latency, 64-byte messages (us)", "",
             "| contender | pinned median | pinned p99 | unpinned median | unpinned p99 | "
             "× echo floor (pinned) | × relay floor (pinned) | × kernel (pinned) |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    echo = _lat(res, ECHO)
    relay = _lat(res, RELAY)
    kernel_of = {PINGPONG: "kernel SysV msg ping-pong", PINGPONG_BATCHED: "kernel SysV msg ping-pong",
                 PINGPONG_SPINNING: "kernel SysV msg ping-pong",
                 "uipc semaphore ping-pong": "kernel semaphore ping-pong",
                 MQ_PINGPONG: "kernel POSIX mq ping-pong (glibc mq_send/mq_receive)",
                 "uipc POSIX named semaphore ping-pong": "glibc named semaphore ping-pong (sem_open)",
                 C_SHIM_PINGPONG: "C program, kernel SysV msg ping-pong",
                 "uipc eventfd ping-pong": "kernel eventfd ping-pong",
                 "uipc pipe ping-pong": "kernel pipe ping-pong"}

    def fmt(x: float | None) -> str:
        return "-" if x is None else f"{x:.1f}"

    def ratio(p: dict[str, float] | None, base: float | None) -> str:
        return "-" if not base or not p else f"{p['median_us'] / base:.2f}"

    for name, row in res["latency"].items():
        p, u = row.get("pinned"), row.get("unpinned")
        k = _lat(res, kernel_of.get(name, ""))
        lines.append(f"| {name} | {fmt(p and p['median_us'])} | {fmt(p and p['p99_us'])} | "
                     f"{fmt(u and u['median_us'])} | {fmt(u and u['p99_us'])} | {ratio(p, echo)} | "
                     f"{ratio(p, relay)} | {ratio(p, k)} |")
    lines += ["", "## The floor, served by different loops (us)", "",
              "One request/reply with uipc's frame sizes, answered by a bare Python server "
              "written each way (the daemon uses epoll + recv_into). The last two rows are no socket: a request/reply slot in shared memory "
              "with futex wake-ups, the transport of a shared-memory fast path.", "",
              "| server loop | pinned median | pinned p99 | unpinned median | unpinned p99 | "
              "× echo floor (pinned) |", "|---|---:|---:|---:|---:|---:|"]
    for name, row in res["floors"].items():
        p, u = row.get("pinned"), row.get("unpinned")
        lines.append(f"| {name} | {fmt(p and p['median_us'])} | {fmt(p and p['p99_us'])} | "
                     f"{fmt(u and u['median_us'])} | {fmt(u and u['p99_us'])} | {ratio(p, echo)} |")
    lines += ["", "## One-way throughput", "",
              "| contender | size | pinned msgs/s | unpinned msgs/s | unpinned MB/s | × kernel (unpinned) |",
              "|---|---:|---:|---:|---:|---:|"]
    for name, row in res["throughput"].items():
        base, size = name.rsplit(" ", 2)[0], int(name.rsplit(" ", 2)[1])
        kern = res["throughput"].get(f"{KERNEL_THROUGHPUT_OF.get(base, 'kernel SysV msg')} {size} B",
                                     {}).get("unpinned")
        up = row.get("unpinned", 0.0)
        lines.append(f"| {base} | {size} B | {row.get('pinned', 0):,.0f} | {up:,.0f} | "
                     f"{up * size / 1e6:,.1f} | {up / kern:.2f} |" if kern else
                     f"| {base} | {size} B | {row.get('pinned', 0):,.0f} | {up:,.0f} | "
                     f"{up * size / 1e6:,.1f} | - |")
    shm = res["shm"]
    lines += ["", "## Shared memory, scaling, load, memory", "",
              f"- Shared-memory write bandwidth (pinned): uipc {shm['uipc']:,.0f} MB/s, kernel SysV "
              f"shm {shm['kernel']:,.0f} MB/s ({shm['uipc'] / shm['kernel']:.2f}×): both are plain "
              "shared mappings, the daemon is not involved after shmat.",
              "- Total non-blocking calls/s by client processes (unpinned): "
              + ", ".join(f"{k}: {v:,.0f}" for k, v in res["scaling"].items()) + ".",
              f"- One client's semctl latency idle: median {res['load']['idle']['median_us']:.1f} us, "
              f"p99 {res['load']['idle']['p99_us']:.1f} us; with {res['load']['hammers']} other clients "
              f"hammering: median {res['load']['loaded']['median_us']:.1f} us, p99 "
              f"{res['load']['loaded']['p99_us']:.1f} us.",
              f"- Daemon memory: {res['memory']['per_queue_bytes']:,.0f} B per idle queue "
              f"({res['memory']['queues']:,} queues); {res['memory']['per_message_overhead_bytes']:,.0f} B "
              f"per queued 64-byte message beyond its payload ({res['memory']['messages']:,} messages).",
              "", "## Targets", "", "| target | measured | bound | |", "|---|---:|---:|---|"]
    for t in res["targets"]:
        v = "-" if t["value"] is None else f"{t['value']:.2f}"
        mark = "n/a" if t["met"] is None else ("met" if t["met"] else "**missed**")
        lines.append(f"| {t['target']} | {v} | {t['bound']} | {mark} |")
    if res["notes"]:
        lines += ["", "Notes: " + "; ".join(res["notes"]) + "."]
    return "\n".join(lines) + "\n"


def plot(res: dict[str, Any], path: str) -> bool:
    """Latency and throughput bars, log scale.  False if matplotlib is missing."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    from matplotlib.ticker import NullFormatter

    def label(name: str) -> str:
        # "uipc SysV msg, batched (msgsnd_many/...) 64 B" -> two short lines
        short = re.sub(r" \([^)]*\)", "", name).replace(", batched", " batched")
        return textwrap.fill(short, 30)

    def bars(ax: Any, names: list[str], values: dict[str, list[float]], xlabel: str) -> None:
        height = 0.4
        for i, (mode, color) in enumerate((("pinned", "#4477aa"), ("unpinned", "#ee6677"))):
            ax.barh([y + (i - 0.5) * height for y in range(len(names))], values[mode],
                    height=height, color=color, label=mode)
        ax.set_yticks(range(len(names)), [label(n) for n in names], fontsize=8)
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel(xlabel)
        ax.legend(fontsize=8)
        ax.invert_yaxis()

    fig, (a, b) = plt.subplots(1, 2, figsize=(14, 7))
    names = [n for n, r in res["latency"].items() if "pinned" in r]
    bars(a, names, {m: [res["latency"][n].get(m, {}).get("median_us", 0) for n in names]
                    for m in ("pinned", "unpinned")}, "round trip, median (us, log)")
    tnames = [n for n in res["throughput"] if n.endswith(" 64 B") or n.endswith(" 4096 B")]
    bars(b, tnames, {m: [res["throughput"][n].get(m, 0) for n in tnames] for m in ("pinned", "unpinned")},
         "messages/s one way (log)")
    fig.suptitle(f"uipc vs kernel vs peers — {res['machine']['cores']} cores, Linux {res['machine']['kernel']}")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return True


def to_json(res: dict[str, Any]) -> str:
    return json.dumps(res, indent=2, default=str)
