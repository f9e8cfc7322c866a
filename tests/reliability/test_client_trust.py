"""What the client trusts: the socket directory, the daemon's uid, its log
file, the daemon instance it talks to, and the size of what it sends."""
from __future__ import annotations

import errno
import os
import shutil
import socket
from pathlib import Path

import pytest

import uipc
from tests.helpers import Child
from uipc.client import connection, control

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="the attacker and the victim are "
                                "two uids: making them needs root")


def _as(uid: int) -> None:
    os.setgroups([])
    os.setgid(uid)
    os.setuid(uid)


class FakeDaemon:
    """A listener of uid ``uid`` that records every byte sent to it."""

    def __init__(self, path: Path, uid: int) -> None:
        self.r, w = os.pipe()
        self.pid = os.fork()
        if self.pid == 0:
            os.close(self.r)
            try:
                _as(uid)
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.bind(str(path))
                os.chmod(path, 0o777)
                s.listen(8)
                os.write(w, b"L")
                while True:
                    c, _ = s.accept()
                    c.settimeout(1)
                    try:
                        data = c.recv(65536)
                    except OSError:
                        data = b""
                    os.write(w, b"D" if data else b"C")
                    c.close()
            finally:
                os._exit(0)
        os.close(w)
        assert os.read(self.r, 1) == b"L"

    def heard(self) -> bytes:
        os.set_blocking(self.r, False)
        try:
            return os.read(self.r, 64)
        except BlockingIOError:
            return b""

    def stop(self) -> None:
        os.kill(self.pid, 9)
        os.waitpid(self.pid, 0)
        os.close(self.r)


def _victim_env() -> None:
    for var in ("UIPC_SOCKET", "XDG_RUNTIME_DIR", "UIPC_SYSTEM", "UIPC_NO_AUTOSTART",
                "UIPC_NAMESPACE"):
        os.environ.pop(var, None)
    connection._config.clear()
    connection.drop_connection()


@needs_root
def test_a_planted_per_user_directory_is_refused() -> None:
    """Another user pre-creates /tmp/uipc-<victim> with a fake daemon: the
    victim refuses the directory and sends it nothing."""
    victim, attacker = 65534, 1000
    planted = Path(f"/tmp/uipc-{victim}")
    if planted.exists():
        pytest.skip(f"{planted} exists on this machine")
    planted.mkdir()
    try:
        os.chown(planted, attacker, attacker)
        os.chmod(planted, 0o755)
        fake = FakeDaemon(planted / "uipc.sock", attacker)
        try:
            def victim_call() -> tuple[str, bool]:
                _as(victim)
                _victim_env()
                try:
                    uipc.msgget(uipc.IPC_PRIVATE, 0o600)
                except uipc.UntrustedDaemon as exc:
                    return str(exc), (planted / "uipc.sock.log").exists()
                return "", False
            text, log_written = Child(victim_call).result()
            assert "refusing" in text or "must be ours" in text
            assert not log_written
            assert fake.heard() == b""  # not even a connection
        finally:
            fake.stop()
    finally:
        shutil.rmtree(planted, ignore_errors=True)


@needs_root
def test_a_socket_served_by_another_uid_is_refused(tmp_path) -> None:
    """In a sticky world-writable directory anyone may plant a socket: the
    peer's SO_PEERCRED uid must be ours or root's, before we say a word."""
    shared = Path("/tmp") / f"uipc-shared-{os.getpid()}.sock"
    fake = FakeDaemon(shared, 1000)
    try:
        def victim_call() -> str:
            _as(65534)
            _victim_env()
            uipc.configure(socket_path=shared)
            try:
                uipc.msgget(uipc.IPC_PRIVATE, 0o600)
            except uipc.UntrustedDaemon as exc:
                return str(exc)
            return ""
        assert "uid 1000" in Child(victim_call).result()
        os.set_blocking(fake.r, True)
        assert os.read(fake.r, 1) == b"C"  # it connected, then closed without a byte
    finally:
        fake.stop()
        shared.unlink(missing_ok=True)


def test_the_autostart_log_never_follows_a_symlink(tmp_path) -> None:
    """The daemon's log is opened O_NOFOLLOW in the checked directory."""
    d = tmp_path / "sock"
    d.mkdir(mode=0o700)
    target = tmp_path / "target"
    target.write_text("precious\n")
    (d / "uipc.sock.log").symlink_to(target)
    old = os.environ.pop("UIPC_NO_AUTOSTART", None)
    try:
        with pytest.raises(OSError) as info:
            control.ensure_daemon(d / "uipc.sock")
        assert info.value.errno == errno.ELOOP
    finally:
        if old is not None:
            os.environ["UIPC_NO_AUTOSTART"] = old
    assert target.read_text() == "precious\n"
    assert not (d / "uipc.sock").exists()


def test_a_message_beyond_the_frame_limit_is_einval_not_a_broken_pipe(ns: str) -> None:
    """msgmax raised past 16 MiB: a 17 MiB message is refused by the client
    with the limit in the message; the connection goes on."""
    uipc.sysctl.set("kernel.msgmax", 64 << 20)
    uipc.sysctl.set("kernel.msgmnb", 64 << 20)
    q = uipc.msgget(uipc.IPC_PRIVATE, 0o600)
    with pytest.raises(OSError) as info:
        uipc.msgsnd(q, 1, b"x" * (17 << 20))
    assert info.value.errno == errno.EINVAL
    assert "frame limit" in str(info.value)
    uipc.msgsnd(q, 1, b"y" * (8 << 20))  # below the limit: it works, on the same connection
    assert uipc.msgrcv(q, 16 << 20, 0)[1] == b"y" * (8 << 20)
