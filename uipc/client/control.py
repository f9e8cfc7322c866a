"""Finding, starting and stopping the daemon."""
from __future__ import annotations

import errno
import os
import subprocess
import sys
import time
from pathlib import Path

#: how long a client waits for an autostarted daemon
START_TIMEOUT = 15.0


def ensure_daemon(path: Path) -> None:
    """Start a per-user daemon at ``path`` unless one is (being) started.

    Race-free: the daemon takes a lock before it binds, so when several
    clients start one at once, one wins and the others exit and say "busy";
    everyone then connects to the winner.
    """
    if os.environ.get("UIPC_NO_AUTOSTART") == "1" or os.environ.get("UIPC_SYSTEM") == "1":
        from uipc.client.connection import DaemonNotRunning
        raise DaemonNotRunning(errno.ENOENT, f"no uipc daemon at {path} (autostart is disabled)")
    from uipc.client.connection import check_socket_dir
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    check_socket_dir(path.parent)  # before anything is written there
    r, w = os.pipe()
    # never through a planted symlink; only we can write in the checked directory
    log = os.fdopen(os.open(str(path) + ".log", os.O_WRONLY | os.O_APPEND | os.O_CREAT
                            | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600), "ab")
    try:
        subprocess.Popen(
            [sys.executable, "-m", "uipc.server", "--socket", str(path), "--ready-fd", str(w)],
            pass_fds=(w,), stdin=subprocess.DEVNULL, stdout=log, stderr=log,
            start_new_session=True, close_fds=True,
        )
    finally:
        os.close(w)
        log.close()
    with os.fdopen(r, "rb") as pipe:
        pipe.readline()  # "ready", "busy", or EOF if it died
    deadline = time.monotonic() + START_TIMEOUT
    delay = 0.005
    import socket
    while True:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(str(path))
            return
        except (FileNotFoundError, ConnectionRefusedError):
            if time.monotonic() > deadline:
                raise
            time.sleep(delay)  # backoff while another starter binds
            delay = min(delay * 2, 0.2)
        finally:
            s.close()


def daemon_pid(path: Path) -> int | None:
    """The pid of the daemon serving ``path``, asked of the socket itself."""
    import socket
    import struct
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(str(path))
        pid, _, _ = struct.unpack("3i", s.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))
        return pid
    except OSError:
        return None
    finally:
        s.close()


def daemon_status(path: Path) -> int:
    pid = daemon_pid(path)
    if pid is None:
        print(f"uipc daemon: not running at {path}")
        return 1
    print(f"uipc daemon: running at {path}, pid {pid}")
    return 0


def stop_daemon(path: Path, timeout: float = 10.0) -> int:
    import signal
    pid = daemon_pid(path)
    if pid is None:
        print(f"uipc daemon: not running at {path}")
        return 1
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while daemon_pid(path) == pid:
        if time.monotonic() > deadline:
            print(f"uipc daemon: pid {pid} did not stop", file=sys.stderr)
            return 1
        time.sleep(0.01)
    print(f"uipc daemon: stopped pid {pid}")
    return 0
