"""Test fixtures: a private daemon per test run, a fresh namespace per test.

The run's daemon listens on a socket in a temporary directory; the real
per-user daemon of whoever runs the tests is never touched, and autostart is
disabled so a bug cannot start one.  Each integration test moves the test
process into a fresh uipc IPC namespace, so tests see only their own objects.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Iterator

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _preload_uipc() -> None:
    """Import every uipc module now.  Tests fork children that drop to other
    uids (65534, 1000); where the checkout is one they cannot read (a 0700
    temporary clone), a module first imported after the setuid -- uipc
    imports some lazily -- would fail to load in the child."""
    import importlib
    import pkgutil

    import uipc
    for mod in pkgutil.walk_packages(uipc.__path__, "uipc."):
        if mod.name.rsplit(".", 1)[-1] == "__main__" or mod.name.startswith("uipc.bench"):
            continue  # __main__ runs its program; the bench imports its peers lazily itself
        try:
            importlib.import_module(mod.name)
        except Exception:  # noqa: BLE001 - an optional dependency missing: its tests say so
            pass


_preload_uipc()


class DaemonProc:
    def __init__(self, socket_path: Path, proc: subprocess.Popen[bytes]) -> None:
        self.socket = socket_path
        self.proc = proc

    @property
    def pid(self) -> int:
        return self.proc.pid


def start_daemon(directory: Path, name: str = "uipc.sock", system: bool = False,
                 preexec_fn: Callable[[], None] | None = None) -> DaemonProc:
    """A daemon on a socket in ``directory``; ``system`` lets every uid connect
    (the tests' setuid children), as `uipc daemon --system` does; ``preexec_fn``
    runs in the daemon's process before it starts (e.g. entering a user namespace)."""
    path = directory / name
    if system:
        os.chmod(directory, 0o755)
    r, w = os.pipe()
    proc = subprocess.Popen([sys.executable, "-m", "uipc.server", "--socket", str(path),
                             "--ready-fd", str(w)] + (["--system"] if system else []),
                            pass_fds=(w,), cwd=ROOT, preexec_fn=preexec_fn)
    os.close(w)
    with os.fdopen(r, "rb") as pipe:
        line = pipe.readline()
    if line != b"ready\n":
        proc.kill()
        proc.wait()
        raise RuntimeError(f"daemon did not start: {line!r}")
    return DaemonProc(path, proc)


def stop_daemon(d: DaemonProc) -> int:
    if d.proc.poll() is None:
        d.proc.send_signal(signal.SIGTERM)
        try:
            return d.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            _report_stuck(d.pid)
            d.proc.send_signal(signal.SIGUSR1)  # its stack to stderr, for the report
            time.sleep(1)
            d.proc.kill()
            d.proc.wait()
            raise
    return d.proc.returncode


def _report_stuck(pid: int) -> None:
    """What a daemon that did not stop was doing: its signal state and descriptors."""
    import sys
    try:
        with open(f"/proc/{pid}/status") as f:
            sig = [line.strip() for line in f if line.startswith(("Sig", "Shd", "State"))]
        fds = {fd: os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")}
    except OSError as exc:
        sig, fds = [str(exc)], {}
    print(f"daemon {pid} did not stop: {sig} fds={fds}", file=sys.stderr)
    import shutil
    if shutil.which("py-spy"):
        subprocess.run(["py-spy", "dump", "--locals", "--pid", str(pid)], timeout=30)


def reset_client(socket: str | None = None, namespace: str | None = None) -> dict[str, str | None]:
    """Point this process's client at ``socket``/``namespace``; returns the old values."""
    import uipc.client.connection as c
    old = {"socket": os.environ.get("UIPC_SOCKET"), "namespace": os.environ.get("UIPC_NAMESPACE")}
    for var, value in (("UIPC_SOCKET", socket), ("UIPC_NAMESPACE", namespace)):
        if value is None:
            os.environ.pop(var, None)
        else:
            os.environ[var] = value
    c._config.clear()
    c.drop_connection()
    return old


@pytest.fixture(scope="session")
def daemon() -> Iterator[DaemonProc]:
    tmp = Path(tempfile.mkdtemp(prefix="uipc-test-"))
    d = start_daemon(tmp, system=os.geteuid() == 0)
    old = {k: os.environ.get(k) for k in ("UIPC_SOCKET", "UIPC_NO_AUTOSTART", "UIPC_NAMESPACE")}
    os.environ["UIPC_SOCKET"] = str(d.socket)
    os.environ["UIPC_NO_AUTOSTART"] = "1"
    os.environ.pop("UIPC_NAMESPACE", None)
    import uipc.client.connection as c
    c._config.clear()
    c.drop_connection()
    try:
        yield d
    finally:
        c.drop_connection()
        rc = stop_daemon(d)
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        import shutil
        shutil.rmtree(tmp, ignore_errors=True)
        assert rc == 0, f"daemon exited with {rc}"


@pytest.fixture
def ns(daemon: DaemonProc) -> str:
    """A fresh uipc IPC namespace for this test (and the processes it forks)."""
    import uipc
    return uipc.unshare_namespace()


def wait_until(predicate, timeout: float = 10.0, what: str = "condition") -> None:
    """Poll an observable state until it holds (never a sleep as synchronisation)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.002)


@pytest.fixture
def system_daemon() -> Iterator[DaemonProc]:
    """A `--system` daemon of its own for one test (root only), the client pointed at it."""
    tmp = Path(tempfile.mkdtemp(prefix="uipc-sys-"))
    d = start_daemon(tmp, system=True)
    saved = reset_client(socket=str(d.socket))
    try:
        yield d
    finally:
        reset_client(**saved)
        assert stop_daemon(d) == 0
        import shutil
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture
def no_umask() -> Iterator[None]:
    """umask 0 for the test, so a 0666 object is 0666 (clients apply the
    umask to a new POSIX object's mode, as glibc and mq_open do)."""
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)
