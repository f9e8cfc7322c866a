"""`uipc trace`: a live strace-style stream of another process's calls, and
only of the calls the subscriber may see."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

import uipc
import uipc.client.trace  # noqa: F401 - before a child drops to another uid (see conftest)
from tests.conftest import wait_until
from tests.helpers import Child


def as_user_inline(uid: int, gid: int, fn):  # type: ignore[no-untyped-def]
    """fn() after dropping to uid/gid in this (already forked) process."""
    os.setgroups([])
    os.setgid(gid)
    os.setuid(uid)
    return fn()

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def trace(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "uipc.cli.main", "trace", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)


def listening(t: subprocess.Popen[str]) -> None:
    """The tracer says it is subscribed (its first line on stderr)."""
    assert t.stderr is not None
    line = t.stderr.readline()
    assert "listening" in line, line


def env_for(ns: str) -> dict[str, str]:
    from uipc.client.connection import current_socket
    return dict(os.environ, UIPC_SOCKET=str(current_socket()), UIPC_NAMESPACE=ns)


def test_trace_shows_another_process_calls_decoded(ns: str) -> None:
    q = uipc.msgget(uipc.IPC_PRIVATE, 0o600)
    t = trace(env_for(ns), "--count", "3", "--syscall", "msgsnd,msgrcv")
    try:
        listening(t)

        def calls() -> int:
            uipc.msgsnd(q, 7, b"hello world")
            try:
                uipc.msgrcv(q, 100, 3, uipc.IPC_NOWAIT | uipc.MSG_NOERROR)
            except OSError:
                pass
            return uipc.msgrcv(q, 100, 7)[0]
        assert Child(calls).result(timeout=30) == 7
        out, err = t.communicate(timeout=30)
    finally:
        if t.poll() is None:
            t.kill()
            t.wait()
    lines = out.splitlines()
    assert len(lines) == 3, (out, err)
    assert f"msgsnd({q}, 7, \"hello world\", 0) = 0" in lines[0]
    assert f"msgrcv({q}, 100, 3, IPC_NOWAIT|MSG_NOERROR) = -1 ENOMSG" in lines[1]
    assert "no message of type = 3" in lines[1]  # the rule that fired
    assert f"msgrcv({q}, 100, 7, 0) = 11" in lines[2]


def test_a_blocked_call_shows_how_long_it_slept(ns: str) -> None:
    q = uipc.msgget(uipc.IPC_PRIVATE, 0o600)
    t = trace(env_for(ns), "--count", "1", "--json", "--syscall", "msgrcv")
    try:
        listening(t)
        rx = Child(lambda: uipc.msgrcv(q, 100, 0)[1])
        wait_until(lambda: any(m["receivers"] for m in uipc.introspect.namespace()["msg"]),
                   what="the receiver asleep")
        uipc.msgsnd(q, 1, b"late")
        assert rx.result(timeout=30) == b"late"
        out, _ = t.communicate(timeout=30)
    finally:
        if t.poll() is None:
            t.kill()
            t.wait()
    rec = json.loads(out)
    assert rec["call"] == "msgrcv" and rec["pid"] == rx.pid and rec["errno"] == 0
    assert rec["slept"] is not None and rec["slept"] > 0


@pytest.mark.skipif(os.geteuid() != 0, reason="acting as uid 1000 beside root needs root")
def test_a_user_does_not_see_another_users_calls(system_daemon) -> None:
    """As strace needs ptrace rights: uid 1000's subscription shows its own
    calls, never root's made meanwhile in the same namespace."""
    uipc.unshare_namespace()
    q = uipc.msgget(uipc.IPC_PRIVATE, 0o666)
    ready_r, ready_w = os.pipe()
    done_r, done_w = os.pipe()

    def watcher() -> list:
        import threading
        from uipc.client.trace import records
        got: list[dict] = []

        def watch() -> None:
            for rec in records(on_ready=lambda: os.write(ready_w, b"r")):
                got.append(rec)
                if rec["call"] == "msgget":  # its own marker call ends the watch
                    return
        th = threading.Thread(target=watch)
        th.start()
        os.read(done_r, 1)  # root made its calls
        uipc.msgget(uipc.IPC_PRIVATE, 0o600)
        th.join(30)
        return [uipc.introspect.namespace()["namespace"], got]

    child = Child(lambda: as_user_inline(1000, 1000, watcher))
    import select
    if not select.select([ready_r], [], [], 30)[0]:  # it failed before subscribing: say why
        os.write(done_w, b"d")
        child.result(timeout=30)
        raise AssertionError("the uid 1000 subscriber never subscribed")
    assert os.read(ready_r, 1) == b"r"
    for _ in range(5):  # root's calls while uid 1000 watches
        uipc.msgsnd(q, 1, b"secret", uipc.IPC_NOWAIT)
        uipc.msgrcv(q, 100, 0, uipc.IPC_NOWAIT)
    os.write(done_w, b"d")
    where, got = child.result(timeout=30)
    for fd in (ready_r, ready_w, done_r, done_w):
        os.close(fd)
    assert where == uipc.introspect.namespace()["namespace"]  # it watched our namespace
    assert [r["call"] for r in got] == ["msgget"] and got[0]["uid"] == 1000
