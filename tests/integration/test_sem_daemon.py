"""SysV semaphores through the real daemon, with real processes."""
from __future__ import annotations

import errno
import os
import random
import signal

import pytest

import uipc
from tests.conftest import wait_until
from tests.helpers import Child


def test_issue_example(ns: str) -> None:
    semid = uipc.semget(0x4321, 3, uipc.IPC_CREAT | 0o600)
    uipc.semctl(semid, 0, uipc.SETALL, [1, 2, 3])
    uipc.semop(semid, [(0, -1, 0), (2, 1, uipc.SEM_UNDO)])
    assert uipc.semctl(semid, 0, uipc.GETALL) == [0, 2, 4]
    assert uipc.semctl(semid, 2, uipc.GETPID) == os.getpid()
    ds = uipc.semctl(semid, 0, uipc.IPC_STAT)
    assert isinstance(ds, uipc.SemidDs) and ds.sem_nsems == 3 and ds.sem_otime > 0
    idx, info = uipc.semctl(0, 0, uipc.IPC_INFO)
    assert info.semmsl == 32000 and info.semopm == 500
    with pytest.raises(OSError) as e:
        uipc.semop(semid, [(3, 1, 0)])
    assert e.value.errno == errno.EFBIG
    with pytest.raises(OSError) as e:
        uipc.semtimedop(semid, [(0, -1, 0)], 0.01)
    assert e.value.errno == errno.EAGAIN
    assert uipc.semctl(semid, 0, uipc.IPC_RMID) == 0


def test_bad_python_arguments(ns: str) -> None:
    s = uipc.semget(uipc.IPC_PRIVATE, 1, 0o600)
    for bad in ([(0,)], [(0, 1, 0, 0)], [("0", 1)], [(0, 1 << 20)], 5, [(-1, 1)]):
        with pytest.raises((TypeError, ValueError)):
            uipc.semop(s, bad)  # type: ignore[arg-type]
    # three-element tuples take a fast path: it must refuse the same things
    for bad3, exc in (((0, True, 0), TypeError), ((0, 1, 1.0), TypeError), ((70000, 1, 0), ValueError),
                      ((0, -40000, 0), ValueError), ((0, 1, 0x10000), ValueError), ((-1, 1, 0), ValueError)):
        with pytest.raises(exc):
            uipc.semop(s, [(0, 1, 0), bad3])
    assert uipc.semctl(s, 0, uipc.GETVAL) == 0  # nothing was sent
    with pytest.raises(ValueError):
        uipc.semctl(s, 0, uipc.SETALL, [70000])
    with pytest.raises(TypeError):
        uipc.semtimedop(s, [(0, 1)], "1")  # type: ignore[arg-type]
    uipc.semop(s, [(0, 1)])  # two-element sembufs are fine
    assert uipc.semctl(s, 0, uipc.GETVAL) == 1


def test_blocked_waiters_woken_in_order(ns: str) -> None:
    s = uipc.semget(uipc.IPC_PRIVATE, 1, 0o600)
    order = uipc.msgget(uipc.IPC_PRIVATE, 0o600)

    def waiter(tag: int, need: int):
        def run() -> None:
            uipc.semop(s, [(0, -need, 0)])
            uipc.msgsnd(order, tag, b"")
        return run

    kids = []
    for tag, need in [(1, 2), (2, 1), (3, 1)]:
        kids.append(Child(waiter(tag, need)))
        wait_until(lambda n=tag: uipc.semctl(s, 0, uipc.GETNCNT) == n)
    uipc.semop(s, [(0, 1, 0)])           # only #2 can run (FIFO among runnable)
    assert uipc.msgrcv(order, 10, 0)[0] == 2
    uipc.semop(s, [(0, 2, 0)])           # the oldest, #1, takes both units; #3 waits
    assert uipc.msgrcv(order, 10, 0)[0] == 1
    assert uipc.semctl(s, 0, uipc.GETNCNT) == 1
    uipc.semop(s, [(0, 1, 0)])
    assert uipc.msgrcv(order, 10, 0)[0] == 3
    for k in kids:
        k.result()


def test_wait_for_zero_and_zcnt(ns: str) -> None:
    s = uipc.SemaphoreSet(n=1, initial=[1])
    kid = Child(lambda: s.wait_zero())
    wait_until(lambda: s.waiting_for_zero() == 1)
    s.acquire()
    kid.result()
    assert s.waiting_for_zero() == 0
    s.remove()


def test_removal_while_waiting_gives_eidrm(ns: str) -> None:
    s = uipc.semget(uipc.IPC_PRIVATE, 1, 0o600)

    def blocked() -> int:
        try:
            uipc.semop(s, [(0, -1, 0)])
        except OSError as exc:
            return exc.errno
        return 0

    kid = Child(blocked)
    wait_until(lambda: uipc.semctl(s, 0, uipc.GETNCNT) == 1)
    uipc.semctl(s, 0, uipc.IPC_RMID)
    assert kid.result() == errno.EIDRM


def test_undo_applied_after_kill_9(ns: str) -> None:
    s = uipc.semget(uipc.IPC_PRIVATE, 2, 0o600)
    uipc.semctl(s, 0, uipc.SETALL, [1, 0])
    go = uipc.msgget(uipc.IPC_PRIVATE, 0o600)

    def holder() -> None:
        uipc.semop(s, [(0, -1, uipc.SEM_UNDO), (1, 5, uipc.SEM_UNDO)])
        uipc.msgsnd(go, 1, b"holding")
        uipc.msgrcv(go, 10, 99)  # wait forever

    kid = Child(holder)
    uipc.msgrcv(go, 10, 1)
    assert uipc.semctl(s, 0, uipc.GETALL) == [0, 5]
    waiter = Child(lambda: uipc.semop(s, [(0, -1, 0)]))
    wait_until(lambda: uipc.semctl(s, 0, uipc.GETNCNT) == 1)
    kid.kill(signal.SIGKILL)
    waiter.result()        # the undo released the lock and woke the waiter
    assert uipc.semctl(s, 0, uipc.GETALL) == [0, 0]
    assert uipc.semctl(s, 1, uipc.GETPID) == kid.pid


def test_semaphore_lock_with_undo_and_fork(ns: str) -> None:
    lock = uipc.Semaphore("lock", value=1, create=True)
    with lock:
        assert lock.value() == 0
        assert Child(lambda: lock.acquire(block=False) if False else
                     _try(lambda: lock.acquire(block=False))).result() == errno.EAGAIN
    assert lock.value() == 1
    again = uipc.Semaphore("lock", value=5, create=True)   # exists: value untouched
    assert again.id == lock.id and again.value() == 1
    lock.remove()


def _try(fn) -> int:
    try:
        fn()
    except OSError as exc:
        return exc.errno
    return 0


def test_semtimedop_timeout_in_a_child(ns: str) -> None:
    s = uipc.SemaphoreSet(n=1)
    assert Child(lambda: _try(lambda: s.acquire(timeout=0.05))).result() == errno.EAGAIN
    assert s.waiting_to_decrement() == 0


def test_bank_transfers_conserve_the_sum(ns: str) -> None:
    accounts = 6
    bank = uipc.SemaphoreSet(n=accounts, initial=[100] * accounts)

    def clerk(seed: int) -> int:
        rng = random.Random(seed)
        done = 0
        for _ in range(150):
            a, b = rng.sample(range(accounts), 2)
            amount = rng.randint(1, 20)
            try:
                bank.apply([(a, -amount), (b, amount)], timeout=0.02)
                done += 1
            except OSError as exc:
                assert exc.errno == errno.EAGAIN
        return done

    kids = [Child(lambda seed=i: clerk(seed)) for i in range(6)]
    total = sum(k.result(timeout=120) for k in kids)
    assert total > 0
    assert sum(bank.values) == 100 * accounts
    assert all(v >= 0 for v in bank.values)
    bank.remove()


def test_asyncio_acquire(ns: str) -> None:
    import asyncio

    async def main() -> None:
        sem = uipc.Semaphore(value=0)
        task = asyncio.create_task(sem.aacquire())
        while sem.waiting_to_decrement() == 0:
            await asyncio.sleep(0.001)
        sem.release()
        await task
        assert sem.value() == 0
        sem.remove()

    asyncio.run(main())


def test_introspection_shows_sleepers_and_undo(ns: str) -> None:
    s = uipc.semget(uipc.IPC_PRIVATE, 2, 0o600)
    uipc.semop(s, [(1, 3, uipc.SEM_UNDO)])
    kid = Child(lambda: uipc.semop(s, [(0, -1, 0), (1, -1, 0)]))
    wait_until(lambda: uipc.semctl(s, 0, uipc.GETNCNT) == 1)
    [st] = [x for x in uipc.introspect.namespace()["sem"] if x["id"] == s]
    assert st["values"] == [0, 3]
    assert [(w["pid"], w["op"], w["blocking"]) for w in st["waiters"]] == [(kid.pid, "semop", 0)]
    assert st["undo"] == [{"pid": os.getpid(), "semadj": [0, -3]}]
    uipc.semop(s, [(0, 1, 0)])
    kid.result()
