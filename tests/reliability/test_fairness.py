"""Fair turns between uids, and memory that comes back.

The fairness test drives a daemon in this process one loop turn at a time
(``Daemon.turn``), so what it asserts is an order, not a duration: a
bystander's request is served after at most a turn's share of an attacker
that holds 100 connections with 5,000 requests pipelined on them.  The
attacker's requests each add 1 to a semaphore; the bystander's GETVAL of it
says how many ran first.
"""
from __future__ import annotations

import os
import socket
import tempfile
from pathlib import Path

import pytest

import uipc
from tests.conftest import wait_until
from uipc import protocol as P
from uipc.server import daemon as D

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="an attacker and a bystander with "
                                "their own uids need root to setuid them")

CONNS, PER_CONN = 100, 50


def _hello(s: socket.socket, req_id: int = 1) -> bytes:
    return P.encode_request(P.OPS_BY_NAME["hello"], req_id, (P.VERSION, 0, 0), b"")


def _reply(s: socket.socket) -> tuple[int, int, bytes]:
    dec = P.FrameDecoder(reply=True)
    while (frame := dec.next_frame()) is P.NEED_DATA:
        dec.feed(s.recv(65536))
    return frame  # type: ignore[return-value]


def _child(uid: int, fn) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    """fork, setuid(uid), run fn(report) where report(bytes) writes to the parent."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
            fn(lambda b: os.write(w, b))
        finally:
            os._exit(0)
    os.close(w)
    return pid, r


@needs_root
def test_a_bystander_waits_one_share_not_the_attackers_whole_backlog() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="uipc-fair-"))
    os.chmod(tmp, 0o755)
    d = D.Daemon(tmp / "uipc.sock", system=True, spin_us=0)
    assert d.bind()
    kids: list[int] = []
    try:
        # the semaphore the attacker's requests add to, made through the core
        root = d.kernel.new_process(os.getpid(), _root_cred(), "")
        semid = d.kernel.syscall(d.kernel.new_task(root), _semget(), 0, 1, 0o666, now=0.0)
        go_r, go_w = os.pipe()

        def bystander(report) -> None:  # type: ignore[no-untyped-def]
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(str(d.path))
            s.sendall(_hello(s))
            _reply(s)
            report(b"H")
            os.read(go_r, 1)  # the attacker's backlog is in place
            s.sendall(P.encode_request(P.OPS_BY_NAME["semctl"], 2, (semid, 0, uipc.GETVAL, 0)))
            report(b"Q")  # in the daemon's socket now
            _, status, payload = _reply(s)
            report(P.CTL_HEADER.unpack_from(payload)[1].to_bytes(4, "little"))

        def attacker(report) -> None:  # type: ignore[no-untyped-def]
            socks = []
            for _ in range(CONNS):
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.connect(str(d.path))
                s.sendall(_hello(s))
                socks.append(s)
            for s in socks:
                _reply(s)
            op = P.encode_request(P.OPS_BY_NAME["semtimedop"], 7, (semid, -1), P.SEMBUF.pack(0, 1, 0))
            for s in socks:
                s.sendall(op * PER_CONN)
            report(b"S")
            os.read(go_r, 1)  # stay until the end

        bpid, brd = _child(1001, bystander)
        kids.append(bpid)
        _turn_until(d, lambda: _ready(brd) == b"H")
        apid, ard = _child(1000, attacker)
        kids.append(apid)
        _turn_until(d, lambda: len(d.conns) == CONNS + 1)
        assert _blocking_read(ard, 1) == b"S"  # all sent; the daemon has served none yet
        os.write(go_w, b"g")                    # the bystander asks now
        assert _blocking_read(brd, 1) == b"Q"
        seen: list[bytes] = []
        _turn_until(d, lambda: seen.append(_ready(brd)) or bool(seen[-1]))
        before = int.from_bytes(seen[-1], "little")
        # one or two turns of the attacker's share ran first, not its 5,000
        assert before <= 2 * D.FRAMES_PER_UID_PER_TURN, before
        os.write(go_w, b"gg")
    finally:
        for pid in kids:
            try:
                os.kill(pid, 9)
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass
        d.close()
        import shutil
        shutil.rmtree(tmp, ignore_errors=True)


def _root_cred():  # type: ignore[no-untyped-def]
    from uipc.kernel import Cred
    return Cred.of(0, 0)


def _semget():  # type: ignore[no-untyped-def]
    from uipc.kernel.syscalls import SYSCALLS
    return SYSCALLS["semget"]


def _ready(fd: int) -> bytes:
    os.set_blocking(fd, False)
    try:
        return os.read(fd, 64)
    except BlockingIOError:
        return b""


def _blocking_read(fd: int, n: int) -> bytes:
    os.set_blocking(fd, True)
    return os.read(fd, n)


def _turn_until(d: D.Daemon, done, limit: int = 100000) -> None:  # type: ignore[no-untyped-def]
    for _ in range(limit):
        if done():
            return
        d.turn(0.01)
    raise AssertionError("the daemon never got there")


def _rss(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        return int(next(line for line in f if line.startswith("VmRSS:")).split()[1]) * 1024


@needs_root
def test_memory_comes_back_after_an_attackers_queues_are_freed(system_daemon) -> None:
    """64 MiB of queued messages in 4,000 queues, then removed: the daemon's
    RSS returns near its baseline (freed blocks are trimmed, not kept)."""
    uipc.unshare_namespace()
    uipc.sysctl.set("kernel.msgmax", 16384)
    pid = system_daemon.pid
    warm = uipc.msgget(uipc.IPC_PRIVATE, 0o600)
    uipc.msgctl(warm, uipc.IPC_RMID)
    baseline = _rss(pid)
    queues = [uipc.msgget(uipc.IPC_PRIVATE, 0o600) for _ in range(4000)]
    text = b"m" * 16384
    for q in queues:
        uipc.msgsnd(q, 1, text)
    during = _rss(pid)
    assert during > baseline + 60 * 1024 * 1024, (baseline, during)
    for q in queues:
        uipc.msgctl(q, uipc.IPC_RMID)
    uipc.msgget(uipc.IPC_PRIVATE, 0o600)  # one more turn after the last free
    wait_until(lambda: _rss(pid) < baseline + 24 * 1024 * 1024,
               what=f"RSS back near {baseline >> 20} MiB (was {during >> 20} MiB)")
