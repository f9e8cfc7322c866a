"""Differential conformance: run one scenario on Linux and on uipc, compare.

Isolation: each run happens in a forked child.  The kernel child first calls
unshare(CLONE_NEWIPC), so it starts from an empty IPC namespace (ids are
comparable and nothing touches the machine's real IPC table) and sets the
scenario's sysctls in /proc/sys/kernel of that namespace.  The uipc child
moves into a fresh uipc namespace (uipc.unshare_namespace) and sets the same
sysctls through uipc.sysctl.

Normalisation rules — the only place they live (:meth:`Recorder.normalise`):
- times (``*_time``/``*_otime``/``*_ctime``...) compare as "set" / "unset";
- pids compare through roles: each process a scenario forks gets a name
  (``rec.role(pid, "receiver 1")``), the scenario's own process is "me";
- SHM_INFO's ``shm_rss`` (resident pages) is not compared: it depends on
  the page cache, not on IPC semantics;
- everything else is compared exactly: ids, seq, mode bits, counts, sizes,
  values, errno, and the order in which sleepers complete.
"""
from __future__ import annotations

import dataclasses
import os
import pickle
import select
import signal
import time
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable

import uipc

TIME_FIELDS = {"msg_stime", "msg_rtime", "msg_ctime", "sem_otime", "sem_ctime",
               "shm_atime", "shm_dtime", "shm_ctime"}
PID_FIELDS = {"msg_lspid", "msg_lrpid", "shm_cpid", "shm_lpid"}


class Unsupported(Exception):
    """The machine cannot run the kernel side (no unshare permission)."""


@dataclass
class Recorder:
    """What a scenario did and saw, normalised, one entry per operation."""

    api: Any
    set_sysctl: Callable[[str, Any], None]
    log: list[tuple[str, Any]] = field(default_factory=list)
    roles: dict[int, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.roles[os.getpid()] = "me"

    def role(self, pid: int, name: str) -> None:
        self.roles[pid] = name

    def normalise(self, value: Any) -> Any:
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            out = {}
            for f in dataclasses.fields(value):
                v = getattr(value, f.name)
                if f.name in TIME_FIELDS:
                    v = "set" if v else "unset"
                elif f.name in PID_FIELDS:
                    v = self.roles.get(v, v)
                elif f.name == "shm_rss":
                    v = "-"
                else:
                    v = self.normalise(v)
                out[f.name] = v
            return out
        if isinstance(value, (tuple, list)):
            return type(value)(self.normalise(v) for v in value)
        if isinstance(value, memoryview):
            return bytes(value)
        return value

    def do(self, label: str, fn: Callable[[], Any]) -> Any:
        """Run one operation; record its normalised result or its errno."""
        try:
            out = fn()
        except OSError as exc:
            self.log.append((label, f"errno {exc.errno}"))
            return None
        self.log.append((label, self.normalise(out)))
        return out

    def note(self, label: str, value: Any) -> None:
        self.log.append((label, self.normalise(value)))

    def outcome(self, fn: Callable[[], Any]) -> Any:
        """fn()'s normalised result, or "errno N" (for use inside a child)."""
        try:
            return self.normalise(fn())
        except OSError as exc:
            return f"errno {exc.errno}"

    def outcomes(self, calls: list[tuple[str, Callable[[], Any]]]) -> list[tuple[str, Any]]:
        return [(label, self.outcome(fn)) for label, fn in calls]

    def pid_role(self, pid: int) -> str:
        return self.roles.get(pid, "?" if pid else "0")


@dataclass(frozen=True)
class Scenario:
    name: str
    kind: str  # "msg", "sem", "shm", "ns"
    fn: Callable[[Recorder], None]
    sysctls: tuple[tuple[str, Any], ...] = ()


# --- running ---------------------------------------------------------------------
def _in_child(body: Callable[[], Any], timeout: float = 60.0) -> Any:
    """Run body() in a forked child; return its pickled result or raise its error."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        me = os.getpid()
        try:
            out: Any = ("ok", body())
        except Unsupported as exc:
            out = ("unsupported", str(exc))
        except BaseException as exc:  # noqa: BLE001 - reported to the parent
            out = ("err", f"{exc!r}\n{traceback.format_exc()}")
        if os.getpid() == me:  # a scenario's own forks must not report
            try:
                data = pickle.dumps(out)
            except Exception as exc:  # noqa: BLE001
                data = pickle.dumps(("err", f"unpicklable result: {exc!r}"))
            with os.fdopen(w, "wb") as f:
                f.write(data)
        os._exit(0)
    os.close(w)
    chunks = []
    deadline = time.monotonic() + timeout
    try:
        while True:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([r], [], [], max(left, 0))
            if not ready:
                raise AssertionError("scenario timed out")
            chunk = os.read(r, 1 << 16)
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(r)
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        os.waitpid(pid, 0)
    if not chunks:
        raise AssertionError("scenario child died without a result")
    status, data = pickle.loads(b"".join(chunks))
    if status == "unsupported":
        raise Unsupported(data)
    if status != "ok":
        raise AssertionError(data)
    return data


def _run(scenario: Scenario, rec: Recorder) -> list[tuple[str, Any]]:
    for name, value in scenario.sysctls:
        rec.set_sysctl(name, value)
    scenario.fn(rec)
    return rec.log


def run_on_kernel(scenario: Scenario) -> list[tuple[str, Any]]:
    def body() -> list[tuple[str, Any]]:
        from tests.conformance import libc
        try:
            libc.unshare_ipc()
        except PermissionError as exc:
            raise Unsupported(f"unshare(CLONE_NEWIPC) is not permitted: {exc}") from None
        return _run(scenario, Recorder(libc, libc.set_sysctl))
    return _in_child(body)


def run_on_uipc(scenario: Scenario) -> list[tuple[str, Any]]:
    def body() -> list[tuple[str, Any]]:
        uipc.unshare_namespace()
        return _run(scenario, Recorder(uipc, lambda n, v: uipc.sysctl.set(f"kernel.{n}", v)))
    return _in_child(body)


@dataclass(frozen=True)
class Mismatch:
    index: int
    label: str
    kernel: Any
    uipc: Any

    def __str__(self) -> str:
        return f"#{self.index} {self.label}: kernel {self.kernel!r} / uipc {self.uipc!r}"


def compare(kernel: list[tuple[str, Any]], ours: list[tuple[str, Any]]) -> list[Mismatch]:
    out = [Mismatch(i, k[0], k[1], u[1]) for i, (k, u) in enumerate(zip(kernel, ours)) if k != u]
    if len(kernel) != len(ours):
        out.append(Mismatch(min(len(kernel), len(ours)), "length", len(kernel), len(ours)))
    return out


@dataclass
class Stats:
    """Totals for the summary line."""

    scenarios: int = 0
    operations: int = 0
    mismatches: int = 0
    by_kind: dict[str, list[tuple[str, int, int]]] = field(default_factory=dict)

    def add(self, scenario: Scenario, ops: int, mismatches: int) -> None:
        self.scenarios += 1
        self.operations += ops
        self.mismatches += mismatches
        self.by_kind.setdefault(scenario.kind, []).append((scenario.name, ops, mismatches))

    def line(self) -> str:
        return (f"conformance: {self.scenarios} scenarios, {self.operations} operations, "
                f"{self.mismatches} mismatches")


STATS = Stats()


def check(scenario: Scenario) -> list[Mismatch]:
    """Run on both, record the totals, return the mismatches."""
    kernel = run_on_kernel(scenario)
    ours = run_on_uipc(scenario)
    mismatches = compare(kernel, ours)
    STATS.add(scenario, len(kernel), len(mismatches))
    return mismatches


# --- helpers for scenarios with several processes ---------------------------------
SLEEP_WCHANS = {"do_msgrcv", "do_msgsnd", "do_semtimedop"}
SLEEP_SYSCALLS = {"65", "69", "70", "220"}  # x86_64 semop, msgsnd, msgrcv, semtimedop


def blocked(api: Any, pid: int) -> bool:
    """Is ``pid`` asleep in a SysV IPC call?  Read from the backend itself:
    /proc for the kernel, the daemon's wait queues for uipc."""
    if api is uipc:
        state = uipc.introspect.namespace()
        waiters = [w for m in state["msg"] for w in m["receivers"] + m["senders"]]
        waiters += [w for s in state["sem"] for w in s["waiters"]]
        return any(w["pid"] == pid for w in waiters)
    try:
        with open(f"/proc/{pid}/wchan") as f:
            if f.read().strip() in SLEEP_WCHANS:
                return True
        with open(f"/proc/{pid}/syscall") as f:
            return f.read().split()[0] in SLEEP_SYSCALLS
    except OSError:
        return False


def wait_for(predicate: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    """Poll an observable state (never a sleep as synchronisation)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.001)


class Sleepers:
    """Child processes that block in one call and report how it ended.

    ``start`` forks a named child and waits until it is visibly asleep;
    ``completed(n)`` reads the next n reports (sorted: several sleepers
    completed by one call report in scheduling order, which is not
    semantics); ``close`` kills whatever is left.
    """

    def __init__(self, rec: Recorder) -> None:
        self.rec = rec
        self.r, self.w = os.pipe()
        self.kids: dict[str, int] = {}
        self._buf = b""

    def start(self, tag: str, fn: Callable[[], Any], sleeps: bool = True) -> int:
        pid = os.fork()
        if pid == 0:
            try:
                out = repr(self.rec.normalise(fn()))
            except OSError as exc:
                out = f"errno {exc.errno}"
            except BaseException as exc:  # noqa: BLE001
                out = f"crash {exc!r}"
            os.write(self.w, f"{tag}={out}\x00".encode())
            os._exit(0)
        self.kids[tag] = pid
        self.rec.role(pid, tag)
        if sleeps:
            wait_for(lambda: blocked(self.rec.api, pid), f"{tag} to sleep")
        return pid

    def completed(self, n: int) -> list[str]:
        while self._buf.count(b"\x00") < n:
            ready, _, _ = select.select([self.r], [], [], 10)
            if not ready:
                raise AssertionError(f"expected {n} sleepers to finish")
            self._buf += os.read(self.r, 4096)
        parts = self._buf.split(b"\x00")
        done, self._buf = parts[:n], b"\x00".join(parts[n:])
        return sorted(p.decode() for p in done)

    def close(self) -> None:
        for pid in self.kids.values():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass
        os.close(self.r)
        os.close(self.w)


def as_user(uid: int, gid: int, fn: Callable[[], Any], groups: tuple[int, ...] = (),
            rec: Recorder | None = None) -> Any:
    """Run fn() in a child with other credentials; its result comes back
    (OSError as "errno N").  The child stays in the same IPC namespace; with
    ``rec`` its pid gets the role "uid N"."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            os.setgroups(list(groups))
            os.setgid(gid)
            os.setuid(uid)
            out: Any = fn()
        except OSError as exc:
            out = f"errno {exc.errno}"
        except BaseException as exc:  # noqa: BLE001
            out = f"crash {exc!r}"
        with os.fdopen(w, "wb") as f:
            f.write(pickle.dumps(out))
        os._exit(0)
    os.close(w)
    if rec is not None:
        rec.role(pid, f"uid {uid}" + (f" groups {list(groups)}" if groups else ""))
    with os.fdopen(r, "rb") as f:
        data = f.read()
    os.waitpid(pid, 0)
    return pickle.loads(data)


def assert_conforms(scenario: Scenario, context: str = "") -> None:
    """check(); fail on any mismatch; skip loudly (fail in CI) without unshare."""
    import pytest
    try:
        mismatches = check(scenario)
    except Unsupported as exc:
        if os.environ.get("CI"):
            pytest.fail(f"conformance must run in CI: {exc}")
        pytest.skip(f"CONFORMANCE SKIPPED (the kernel side cannot run here): {exc}")
    assert not mismatches, f"{scenario.name}:\n{context}" + "\n".join(str(m) for m in mismatches)
