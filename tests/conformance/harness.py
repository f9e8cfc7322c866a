"""Differential conformance: run one scenario on Linux and on uipc, compare.

Isolation: each run happens in a forked child.  The kernel child first calls
unshare(CLONE_NEWIPC), so it starts from an empty IPC namespace (ids are
comparable and nothing touches the machine's real IPC table) and sets the
scenario's sysctls in /proc/sys/kernel of that namespace.  The uipc child
moves into a fresh uipc namespace (uipc.unshare_namespace) and sets the same
sysctls through uipc.sysctl.

Who runs it (:class:`Oracle`): root runs both sides as itself, against the
test run's daemon.  A user who is not root cannot unshare(CLONE_NEWIPC); where
unprivileged user namespaces are allowed, :func:`start_oracle` makes one in
which that user is uid 0 (tests/conformance/userns.py), starts a daemon in
it, and both children join it first: the kernel side is then root of the
IPC namespace it creates, and the daemon sees uid 0 with its capabilities,
as for real root.  What that cannot do (act as other uids) is skipped with
the reason; without user namespaces every scenario is skipped, and the
summary line says how many and why.

Normalisation rules — the only place they live (:meth:`Recorder.normalise`):
- times (``*_time``/``*_otime``/``*_ctime``...) compare as "set" / "unset";
- pids compare through roles: each process a scenario forks gets a name
  (``rec.role(pid, "receiver 1")``), the scenario's own process is "me";
- SHM_INFO's ``shm_rss`` (resident pages) is not compared: it depends on
  the page cache, not on IPC semantics;
- everything else is compared exactly: ids, seq, mode bits, counts, sizes,
  values, errno, and the order in which sleepers complete.

An operation only real root can do as the scenario means it (``rec.real_root``:
chown to an unmapped uid, a capable() check) is done where the run is real
root; in a user namespace both sides record it as skipped, so the rest of
the scenario still compares, and the summary line counts it.
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
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import uipc

if TYPE_CHECKING:
    from tests.conftest import DaemonProc

TIME_FIELDS = {"msg_stime", "msg_rtime", "msg_ctime", "sem_otime", "sem_ctime",
               "shm_atime", "shm_dtime", "shm_ctime"}
PID_FIELDS = {"msg_lspid", "msg_lrpid", "shm_cpid", "shm_lpid"}


class Unsupported(Exception):
    """This run cannot compare the scenario (no unshare permission, or it
    acts as another uid where only ours is mapped); the message says why."""


#: the reason a scenario that acts as another user is skipped without root
OTHER_UIDS_NEED_ROOT = ("acting as other uids (setuid) needs root: the user namespace of a "
                        "non-root run maps only its own uid")


@dataclass
class Oracle:
    """How this run reaches the kernel side: set once by :func:`start_oracle`."""

    #: "" if scenarios can run; else why none can (each is skipped with it)
    unsupported: str = ""
    #: an fd on the user namespace both sides join first (non-root runs), or None
    userns_fd: int | None = None
    #: the uipc side's daemon (the one in that user namespace), or None: the client's default
    socket: Path | None = None


ORACLE = Oracle()


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

    def real_root(self, label: str, fn: Callable[[], Any], why: str) -> Any:
        """``do(label, fn)`` where the run is real root; in a non-root run's
        user namespace, where the kernel would answer otherwise for a reason
        that is not IPC semantics (``why``), record it as skipped instead."""
        if ORACLE.userns_fd is None:
            return self.do(label, fn)
        self.log.append((label, SkippedOp(why)))
        return None

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
class SkippedOp:
    """The log entry of an operation this run cannot do as real root would."""

    why: str


#: why an operation is skipped in a user namespace (Recorder.real_root)
CHOWN_NEEDS_ROOT = "IPC_SET to another uid/gid needs it mapped, and a non-root run maps only its own"
CAPABLE_NEEDS_ROOT = ("capable() asks the initial user namespace, where a non-root run has no "
                      "capabilities")


@dataclass(frozen=True)
class Scenario:
    name: str
    kind: str  # "msg", "sem", "shm", "ns"
    fn: Callable[[Recorder], None]
    sysctls: tuple[tuple[str, Any], ...] = ()
    #: kernel side: glibc's sem_open/shm_open make files in /dev/shm, so the
    #: child also gets a mount namespace with a private tmpfs there
    dev_shm: bool = False


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


def _join_oracle_userns() -> None:
    """Both sides of a non-root run: into the user namespace where we are root."""
    if ORACLE.userns_fd is not None:
        from tests.conformance.userns import join_userns
        join_userns(ORACLE.userns_fd)


def run_on_kernel(scenario: Scenario) -> list[tuple[str, Any]]:
    def body() -> list[tuple[str, Any]]:
        from tests.conformance import libc
        _join_oracle_userns()
        try:
            libc.unshare_ipc()
        except PermissionError as exc:
            raise Unsupported(f"unshare(CLONE_NEWIPC) is not permitted: {exc}") from None
        if scenario.dev_shm:  # POSIX sem/shm: nothing may land in the machine's /dev/shm
            try:
                libc.private_dev_shm()
            except PermissionError as exc:
                raise Unsupported(f"a private tmpfs on /dev/shm is not permitted: {exc}") from None
        return _run(scenario, Recorder(libc, libc.set_sysctl))
    return _in_child(body)


def run_on_uipc(scenario: Scenario) -> list[tuple[str, Any]]:
    def body() -> list[tuple[str, Any]]:
        _join_oracle_userns()
        if ORACLE.socket is not None:
            from tests.conftest import reset_client
            reset_client(socket=str(ORACLE.socket))  # this child only: the parent keeps its daemon
        uipc.unshare_namespace()
        return _run(scenario, Recorder(uipc, lambda n, v: uipc.sysctl.set(f"kernel.{n}", v)))
    return _in_child(body)


def start_oracle(directory: Path) -> "DaemonProc | None":
    """Decide how this run reaches the kernel side (sets :data:`ORACLE`).

    Root: nothing to do (None).  Not root: if a user namespace can be made,
    start a daemon in one (socket in ``directory``) and return it, for
    :func:`stop_oracle`; else record why no scenario can run."""
    if os.geteuid() == 0:
        return None
    from tests.conformance import userns
    why = userns.probe()
    if why:
        ORACLE.unsupported = (f"unshare(CLONE_NEWIPC) needs root, and this machine gives no "
                              f"unprivileged user namespace either ({why})")
        return None
    d = _start_daemon_in_userns(directory / "uipc-oracle.sock")
    ORACLE.userns_fd = os.open(f"/proc/{d.pid}/ns/user", os.O_RDONLY | os.O_CLOEXEC)
    ORACLE.socket = d.socket
    return d


def _start_daemon_in_userns(path: Path) -> "DaemonProc":
    """tests/conftest.py start_daemon, the daemon in a new user namespace
    where our uid is 0: it then sees its clients (who join it) as root."""
    from tests.conftest import start_daemon
    from tests.conformance.userns import enter_new_userns
    return start_daemon(path.parent, path.name, preexec_fn=enter_new_userns)


def stop_oracle(d: "DaemonProc | None") -> None:
    """Undo :func:`start_oracle`."""
    if ORACLE.userns_fd is not None:
        os.close(ORACLE.userns_fd)
    ORACLE.userns_fd = ORACLE.socket = None
    if d is not None:
        from tests.conftest import stop_daemon
        stop_daemon(d)


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
    #: reason -> how many scenarios were skipped for it
    skipped: dict[str, int] = field(default_factory=dict)
    #: reason -> how many operations of scenarios that ran were skipped for it
    skipped_ops: dict[str, int] = field(default_factory=dict)

    def add(self, scenario: Scenario, ops: int, mismatches: int) -> None:
        self.scenarios += 1
        self.operations += ops
        self.mismatches += mismatches
        self.by_kind.setdefault(scenario.kind, []).append((scenario.name, ops, mismatches))

    def skip(self, reason: str, count: int = 1) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + count

    def skip_operation(self, reason: str) -> None:
        self.skipped_ops[reason] = self.skipped_ops.get(reason, 0) + 1

    def line(self) -> str:
        """``conformance: N scenarios, M operations, 0 mismatches``, or with
        skips ``conformance: N of T scenarios run, ... (K skipped: why; ...)``."""
        ran = f"{self.operations} operations, {self.mismatches} mismatches"
        if not self.skipped and not self.skipped_ops:
            return f"conformance: {self.scenarios} scenarios, {ran}"
        total = self.scenarios + sum(self.skipped.values())
        why = "; ".join([f"{n} skipped: {reason}" for reason, n in self.skipped.items()]
                        + [f"{n} operation{'s' * (n != 1)} skipped: {reason}"
                           for reason, n in self.skipped_ops.items()])
        if not self.scenarios:
            return f"conformance: 0 of {total} scenarios run ({why})"
        return f"conformance: {self.scenarios} of {total} scenarios run, {ran} ({why})"


STATS = Stats()


def check(scenario: Scenario) -> list[Mismatch]:
    """Run on both, record the totals, return the mismatches (Unsupported if
    this run cannot)."""
    if ORACLE.unsupported:
        raise Unsupported(ORACLE.unsupported)
    kernel = run_on_kernel(scenario)
    ours = run_on_uipc(scenario)
    mismatches = compare(kernel, ours)
    skipped = [v.why for _, v in kernel if isinstance(v, SkippedOp)]
    for why in skipped:
        STATS.skip_operation(why)
    STATS.add(scenario, len(kernel) - len(skipped), len(mismatches))
    return mismatches


# --- helpers for scenarios with several processes ---------------------------------
SLEEP_WCHANS = {"do_msgrcv", "do_msgsnd", "do_semtimedop"}
SLEEP_SYSCALLS = {"65", "69", "70", "220"}  # x86_64 semop, msgsnd, msgrcv, semtimedop


def blocked(api: Any, pid: int) -> bool:
    """Is ``pid`` asleep in a SysV IPC call?  Read from the backend itself:
    /proc for the kernel, the daemon's wait queues for uipc."""
    if api is uipc:
        state = uipc.introspect.namespace()
        waiters = [w for m in state["msg"] + state["mqueue"] for w in m["receivers"] + m["senders"]]
        waiters += [w for s in state["sem"] + state["posix_sem"] for w in s["waiters"]]
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


@dataclass(frozen=True)
class _NoCredentials:
    """as_user's child could not take the credentials (no root)."""

    error: str


class _Switch(Exception):
    """setgroups/setgid/setuid failed in as_user's child (not the scenario's OSError)."""


def as_user(uid: int, gid: int, fn: Callable[[], Any], groups: tuple[int, ...] = (),
            rec: Recorder | None = None) -> Any:
    """Run fn() in a child with other credentials; its result comes back
    (OSError as "errno N").  The child stays in the same IPC namespace; with
    ``rec`` its pid gets the role "uid N".  Unsupported if the credentials
    cannot be taken (a non-root run's user namespace maps one uid)."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            try:
                os.setgroups(list(groups))
                os.setgid(gid)
                os.setuid(uid)
            except OSError as exc:
                raise _Switch(exc) from None
            out: Any = fn()
        except _Switch as exc:
            out = _NoCredentials(str(exc.args[0]))
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
    out = pickle.loads(data)
    if isinstance(out, _NoCredentials):
        raise Unsupported(OTHER_UIDS_NEED_ROOT)
    return out


def skip_scenarios(reason: str, count: int = 1) -> None:
    """Count ``count`` scenarios as skipped for ``reason`` and skip the test;
    in CI as root, fail instead: root has no reason not to run them."""
    import pytest
    if os.environ.get("CI") and os.geteuid() == 0:
        pytest.fail(f"conformance must run in CI: {reason}")
    STATS.skip(reason, count)
    pytest.skip(f"CONFORMANCE SKIPPED: {reason}")


def assert_conforms(scenario: Scenario, context: str = "") -> None:
    """check(); fail on any mismatch; skip (counted, with the reason) what
    this run cannot compare."""
    try:
        mismatches = check(scenario)
    except Unsupported as exc:
        skip_scenarios(str(exc))
    assert not mismatches, f"{scenario.name}:\n{context}" + "\n".join(str(m) for m in mismatches)
