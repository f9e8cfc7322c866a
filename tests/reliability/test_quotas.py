"""Fair shares: per-uid quotas, descriptor exhaustion, a daemon that stays up.

Attackers are real processes with their own uids (setuid children of the
test, which runs as root); each test runs its own system daemon, so quotas
set here touch nothing else.
"""
from __future__ import annotations

import errno
import os
import signal
import socket
import subprocess
import time
from typing import Callable

import pytest

import uipc
from tests.conftest import wait_until
from tests.helpers import Child, as_user, errno_of
from uipc import protocol as P

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="attackers with their own uids need "
                                "root to setuid them, and quotas are set by root")


def quota(name: str, value: int) -> None:
    uipc.sysctl.set(f"uipc.quota.{name}", value)


def fails_with(fn: Callable[[], object]) -> tuple[int, str]:
    try:
        fn()
    except OSError as exc:
        return exc.errno or 0, str(exc)
    return 0, ""


def test_objects_per_uid_per_namespace(system_daemon) -> None:
    """Queues, sets and segments together; the sixth is ENOSPC naming the
    quota; another uid, and root, are unaffected."""
    uipc.unshare_namespace()
    quota("objects", 5)

    def attacker() -> tuple[int, str, int]:
        first = uipc.msgget(uipc.IPC_PRIVATE, 0o600)
        uipc.msgget(uipc.IPC_PRIVATE, 0o600)
        uipc.semget(uipc.IPC_PRIVATE, 1, 0o600)
        uipc.shmget(uipc.IPC_PRIVATE, 4096, 0o600)
        uipc.msgget(uipc.IPC_PRIVATE, 0o600)
        err, text = fails_with(lambda: uipc.msgget(uipc.IPC_PRIVATE, 0o600))
        uipc.msgctl(first, uipc.IPC_RMID)  # freeing one gives its slot back
        return err, text, uipc.msgget(uipc.IPC_PRIVATE, 0o600)

    err, text, again = as_user(1000, 1000, attacker)  # type: ignore[misc]
    assert err == errno.ENOSPC and "uipc.quota.objects" in text
    assert again >= 0
    assert as_user(1001, 1001, lambda: uipc.msgget(uipc.IPC_PRIVATE, 0o600)) >= 0
    assert uipc.msgget(uipc.IPC_PRIVATE, 0o600) >= 0
    assert uipc.sysctl.get("uipc.quota.objects") == "5"


def test_semaphores_per_uid(system_daemon) -> None:
    uipc.unshare_namespace()
    quota("sems", 100)

    def attacker() -> tuple[int, int, int]:
        first = uipc.semget(uipc.IPC_PRIVATE, 60, 0o600)
        err = fails_with(lambda: uipc.semget(uipc.IPC_PRIVATE, 60, 0o600))[0]
        uipc.semctl(first, 0, uipc.IPC_RMID)
        return err, uipc.semget(uipc.IPC_PRIVATE, 60, 0o600) >= 0, \
            fails_with(lambda: uipc.semget(uipc.IPC_PRIVATE, 41, 0o600))[0]

    assert as_user(1000, 1000, attacker) == (errno.ENOSPC, True, errno.ENOSPC)


def test_queued_bytes_per_sender(system_daemon) -> None:
    """Bytes are charged to the sender until received: EAGAIN past the quota
    (even without IPC_NOWAIT), another sender unaffected, receiving frees."""
    uipc.unshare_namespace()
    quota("msg_bytes", 1000)
    q = uipc.msgget(uipc.IPC_PRIVATE, 0o666)

    def attacker() -> tuple[int, int]:
        uipc.msgsnd(q, 1, b"a" * 600)
        over = fails_with(lambda: uipc.msgsnd(q, 1, b"b" * 600))[0]
        uipc.msgrcv(q, 1000, 0)
        uipc.msgsnd(q, 1, b"c" * 600)
        return over, uipc.msgctl(q, uipc.IPC_STAT).msg_qnum

    assert as_user(1000, 1000, attacker) == (errno.EAGAIN, 1)
    as_user(1001, 1001, lambda: uipc.msgsnd(q, 2, b"d" * 900))
    assert uipc.msgctl(q, uipc.IPC_STAT).msg_cbytes == 1500


def test_namespaces_per_uid(system_daemon) -> None:
    """The third namespace a uid holds is ENOSPC (user.max_ipc_namespaces)."""
    quota("namespaces", 2)

    def attacker() -> list[int]:
        release_r, release_w = os.pipe()
        results = []
        kids = []
        for _ in range(3):
            r, w = os.pipe()
            pid = os.fork()
            if pid == 0:
                os.close(r)
                os.close(release_w)
                err = fails_with(uipc.unshare_namespace)[0]
                os.write(w, str(err).encode())
                os.close(w)
                os.read(release_r, 1)  # hold the namespace until released
                os._exit(0)
            os.close(w)
            results.append(int(os.read(r, 16)))
            os.close(r)
            kids.append(pid)
        os.close(release_w)
        for pid in kids:
            os.waitpid(pid, 0)
        return results

    assert as_user(1000, 1000, attacker) == [0, 0, errno.ENOSPC]


def test_daemon_with_5000_descriptors_survives_killed_clients(system_daemon) -> None:
    """Past descriptor 1023 the daemon watches pidfds with poll, never select
    (which raises ValueError there and took the whole daemon down)."""
    uipc.unshare_namespace()
    quota("segments", 6000)
    quota("objects", 6000)
    uipc.sysctl.set("kernel.shmmni", 6000)
    for _ in range(5000):
        uipc.shmget(uipc.IPC_PRIVATE, 1, 0o600)
    assert len(os.listdir(f"/proc/{system_daemon.pid}/fd")) > 5000
    sem = uipc.semget(uipc.IPC_PRIVATE, 1, 0o666)
    for _ in range(10):
        def worker() -> None:
            uipc.semop(sem, [(0, 1, uipc.SEM_UNDO)])
            os.kill(os.getpid(), signal.SIGKILL)
        pid = os.fork()
        if pid == 0:
            try:
                worker()
            finally:
                os._exit(1)
        os.waitpid(pid, 0)
    # every killed worker's undo ran, and the daemon still answers
    wait_until(lambda: uipc.semctl(sem, 0, uipc.GETVAL) == 0, what="undo of the killed workers")
    assert system_daemon.proc.poll() is None


def test_descriptor_exhaustion_refuses_clearly_without_spinning(system_daemon) -> None:
    """With its table full the daemon answers shmget ENFILE, tells a new
    connection EMFILE at once instead of leaving it hanging, does not spin on
    accept, and serves again once descriptors are freed."""
    uipc.unshare_namespace()
    quota("segments", 10000)
    quota("objects", 10000)
    pid = system_daemon.pid
    subprocess.run(["prlimit", f"--pid={pid}", "--nofile=200:200"], check=True)
    made = []
    while True:
        try:
            made.append(uipc.shmget(uipc.IPC_PRIVATE, 1, 0o600))
        except OSError as exc:
            assert exc.errno == errno.ENFILE, exc
            break
        assert len(made) < 300
    cpu_before = _cpu_ticks(pid)
    started = time.monotonic()
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(str(system_daemon.socket))
    s.settimeout(10)
    reply = s.recv(4096)
    s.close()
    assert P.REPLY_HEADER.unpack_from(reply)[2] == errno.EMFILE
    # others keep knocking while the table is full: the loop must sleep, not spin
    for _ in range(20):
        k = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        k.connect(str(system_daemon.socket))
        k.close()
    time.sleep(0.5)  # (a measurement window, not synchronisation)
    ticks = _cpu_ticks(pid) - cpu_before
    elapsed = time.monotonic() - started
    assert ticks < 0.5 * elapsed * os.sysconf("SC_CLK_TCK"), (ticks, elapsed)
    for shmid in made:
        uipc.shmctl(shmid, uipc.IPC_RMID)
    wait_until(lambda: _serves(system_daemon.socket), what="service after freeing descriptors")


def _cpu_ticks(pid: int) -> int:
    with open(f"/proc/{pid}/stat", "rb") as f:
        fields = f.read().rsplit(b")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def _serves(path: object) -> bool:
    try:
        uipc.client.connection.Connection(str(path)).close()
        return True
    except OSError:
        return False


def test_a_fork_report_is_accepted_once(system_daemon) -> None:
    """A child reports the attachments it inherited once; reporting again (to
    keep a segment alive after detaching, say) is EPERM."""
    uipc.unshare_namespace()
    shm = uipc.shmget(uipc.IPC_PRIVATE, 4096, 0o600)
    addr = uipc.shmat(shm)
    try:
        def child() -> tuple[int, int, int]:
            from uipc.client import connection as c
            ids = b"".join(a.attach_id.to_bytes(8, "little", signed=True)
                           for a in uipc.client.shm.attachments())
            parent = os.getppid()
            again = errno_of(lambda: c.call(P.OPS_BY_NAME["fork"], (parent,), ids))
            inherited = uipc.shmctl(shm, uipc.IPC_STAT).shm_nattch
            uipc.shmdt(addr)
            after = errno_of(lambda: c.call(P.OPS_BY_NAME["fork"], (parent,), ids))
            return again, inherited, after

        again, inherited, after = Child(child).result()
        assert (again, inherited, after) == (errno.EPERM, 2, errno.EPERM)
        assert uipc.shmctl(shm, uipc.IPC_STAT).shm_nattch == 1
    finally:
        uipc.shmdt(addr)
        uipc.shmctl(shm, uipc.IPC_RMID)
