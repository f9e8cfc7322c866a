"""Resource exhaustion: floods, slowloris, connection hoarding, a restart."""
from __future__ import annotations

import errno
import os
import socket
import struct
import time

import pytest

import uipc
from tests.conftest import reset_client, start_daemon, stop_daemon, wait_until
from tests.helpers import Child
from uipc import protocol as P
from uipc.kernel.quota import QuotaLimits


def hello(sock: socket.socket, ns: str) -> None:
    sock.sendall(P.encode_request(P.OPS_BY_NAME["hello"], 1, (P.VERSION, 0, 0), ns.encode()))


def round_trips(n: int) -> float:
    s = uipc.semget(uipc.IPC_PRIVATE, 1, 0o600)
    t0 = time.monotonic()
    for _ in range(n):
        uipc.semctl(s, 0, uipc.GETVAL)
    return time.monotonic() - t0


def test_flooding_client_does_not_starve_others(ns: str, daemon) -> None:
    """A client pipelines 50,000 requests and never reads a reply; another
    client's 200 round trips still complete (fair turns of 32 frames)."""
    idle = round_trips(200)

    def flood() -> None:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(str(daemon.socket))
        hello(s, ns)
        req = P.encode_request(P.OPS_BY_NAME["semctl"], 7, (0, 0, uipc.GETVAL, 0))
        try:
            s.sendall(req * 50000)
        except OSError:
            pass
        time.sleep(30)  # hold the connection, never read (killed by the test)

    child = Child(flood)
    try:
        loaded = round_trips(200)
    finally:
        child.kill()
    print(f"200 round trips: idle {idle:.3f} s, during the flood {loaded:.3f} s")
    # completion is the property; the bound is generous (figures in docs/reliability.md)
    assert loaded < max(20 * idle, 5.0), (idle, loaded)
    assert daemon.proc.poll() is None


def test_slowloris_and_hoarding_are_bounded(ns: str, daemon) -> None:
    """Hundreds of connections that never finish a frame cost the others nothing."""
    socks = []
    for _ in range(300):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(str(daemon.socket))
        s.sendall(struct.pack("<I", 1000) + b"\x00" * 3)  # a frame that never completes
        socks.append(s)
    try:
        assert round_trips(50) < 5.0
    finally:
        for s in socks:
            s.close()


def test_connections_per_uid_are_capped(monkeypatch, tmp_path) -> None:
    """Past the cap a new connection gets EMFILE and is closed; others still work."""
    import subprocess
    import sys
    path = tmp_path / "uipc.sock"
    r, w = os.pipe()
    proc = subprocess.Popen([sys.executable, "-m", "uipc.server", "--socket", str(path),
                             "--ready-fd", str(w)], pass_fds=(w,))
    os.close(w)
    with os.fdopen(r, "rb") as pipe:
        assert pipe.readline() == b"ready\n"
    held = []
    saved = reset_client(socket=str(path))
    try:
        uipc.sysctl.set("uipc.quota.connections", 5)  # this connection is one of the five
        assert uipc.sysctl.get("uipc.quota.connections") == "5"
        for _ in range(4):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(str(path))
            held.append(s)
        extra = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        extra.connect(str(path))
        extra.settimeout(5)
        reply = extra.recv(100)
        assert struct.unpack_from("<IIi", reply)[2] == errno.EMFILE
        assert extra.recv(100) == b""
        held.pop().close()
        wait_until(lambda: _connects(path, held), what="a slot to free up")
    finally:
        for s in held:
            s.close()
        reset_client(**saved)
        proc.terminate()
        proc.wait(10)


def _connects(path, held: list) -> bool:
    """A new connection is accepted (not refused with EMFILE); it is kept in ``held``."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    held.append(s)
    s.connect(str(path))
    s.settimeout(0.2)
    try:
        data = s.recv(100)
    except socket.timeout:
        return True  # nothing said: accepted and waiting for hello
    return not (data and struct.unpack_from("<IIi", data)[2] == errno.EMFILE)


def test_daemon_restart_gives_a_clear_error_then_reconnects(tmp_path) -> None:
    d = start_daemon(tmp_path)
    saved = reset_client(socket=str(d.socket))
    try:
        q = uipc.msgget(uipc.IPC_PRIVATE, 0o600)
        stop_daemon(d)
        with pytest.raises(uipc.UipcConnectionError) as info:
            uipc.msgsnd(q, 1, b"x")
        assert isinstance(info.value, ConnectionResetError)
        d = start_daemon(tmp_path)
        # the old id would now name nothing (or someone else's new queue): the
        # first call on the new instance says so instead of reusing it
        with pytest.raises(uipc.DaemonRestarted, match="restarted"):
            uipc.msgsnd(q, 1, b"x")
        assert uipc.msgget(uipc.IPC_PRIVATE, 0o600) == 0  # a fresh kernel: ids start over
    finally:
        stop_daemon(d)
        reset_client(**saved)
    assert QuotaLimits().connections >= 1024


@pytest.mark.parametrize("owner, mode, system", [(1000, 0o700, False), (0, 0o755, False), (0, 0o777, True)])
def test_daemon_refuses_a_socket_directory_others_control(tmp_path, owner: int, mode: int,
                                                          system: bool) -> None:
    """As tmux and gpg-agent do: the per-user directory must be ours and 0700,
    the system one ours and not writable by others."""
    import subprocess
    import sys
    if os.geteuid() != 0:
        pytest.skip("needs root to chown")
    d = tmp_path / "sockdir"
    d.mkdir()
    os.chown(d, owner, owner)
    os.chmod(d, mode)
    out = subprocess.run([sys.executable, "-m", "uipc.server", "--socket", str(d / "uipc.sock")]
                         + (["--system"] if system else []),
                         capture_output=True, text=True, timeout=30)
    assert out.returncode != 0
    assert "refusing" in out.stderr or "must not be accessible" in out.stderr
    assert not (d / "uipc.sock").exists()
