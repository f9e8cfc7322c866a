"""kill -9 at random points of running and blocked calls: undo applied once,
no ghost sleepers, nattch back to zero, no leaked descriptors."""
from __future__ import annotations

import os
import random
import signal
import time

import uipc
from tests.conftest import wait_until

KILLS = int(os.environ.get("UIPC_KILLS", "50"))


def test_random_kill_9(ns: str, daemon) -> None:
    sem = uipc.semget(uipc.IPC_PRIVATE, 2, 0o600)
    uipc.semctl(sem, 1, uipc.SETVAL, 1)          # a lock the workers take and give back
    q = uipc.msgget(uipc.IPC_PRIVATE, 0o600)
    seg = uipc.shmget(uipc.IPC_PRIVATE, 4096, 0o600)
    uipc.semctl(sem, 0, uipc.GETVAL)             # our own connection exists before counting fds
    fds_before = len(os.listdir(f"/proc/{daemon.pid}/fd"))
    rng = random.Random(7)

    def worker(seed: int) -> None:
        r = random.Random(seed)
        addr = uipc.shmat(seg)
        uipc.semop(sem, [(0, 1, uipc.SEM_UNDO)])  # undone exactly once when we die
        while True:
            choice = r.randrange(4)
            if choice == 0:
                uipc.semop(sem, [(1, -1, uipc.SEM_UNDO)])
                uipc.shm_view(addr)[0] = seed & 0xFF
                uipc.semop(sem, [(1, 1, uipc.SEM_UNDO)])
            elif choice == 1:
                uipc.msgsnd(q, 1 + r.randrange(3), b"x" * r.randrange(100), uipc.IPC_NOWAIT)
            elif choice == 2:
                try:
                    uipc.msgrcv(q, 100, r.randrange(4))   # often blocks
                except OSError:
                    pass
            else:
                uipc.semop(sem, [(1, 0, 0)]) if r.random() < 0.2 else uipc.semctl(sem, 0, uipc.GETALL)

    for i in range(KILLS):
        pid = os.fork()
        if pid == 0:
            try:
                worker(i)
            finally:
                os._exit(1)
        time.sleep(rng.random() * 0.02)   # fault injection at a random point, not synchronisation
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)

    def settled() -> bool:
        state = uipc.introspect.namespace()
        sleepers = ([w for m in state["msg"] for w in m["receivers"] + m["senders"]]
                    + [w for x in state["sem"] for w in x["waiters"]])
        return state["processes"] == [os.getpid()] and not sleepers

    wait_until(settled, timeout=30, what="every killed worker to be gone from the daemon")
    assert uipc.semctl(sem, 0, uipc.GETALL) == [0, 1]   # each +1 undone once; the lock is free
    [me] = [p for p in uipc.introspect.namespace()["process_details"] if p["pid"] == os.getpid()]
    assert me["undo"] == {}
    assert uipc.shmctl(seg, uipc.IPC_STAT).shm_nattch == 0
    assert len(os.listdir(f"/proc/{daemon.pid}/fd")) == fds_before
    assert daemon.proc.poll() is None
