"""The Semaphore classes' own promises: initial values are never seen unset,
and remove_on_exit removes."""
from __future__ import annotations

import errno

import pytest

import uipc
from tests.conftest import wait_until
from tests.helpers import Child


def test_an_opener_never_sees_a_set_before_its_initial_values(ns: str) -> None:
    """Between the creator's semget and its SETALL, an opener waits for the
    sem_otime stamp instead of taking the value 0."""
    key = 0x5E0001
    raw = uipc.semget(key, 1, uipc.IPC_CREAT | uipc.IPC_EXCL | 0o600)  # made, not yet set
    child = Child(lambda: uipc.Semaphore(key, value=1, create=True).value())
    wait_until(lambda: len(uipc.introspect.namespace()["processes"]) > 1,
               what="the opener to have opened the set")
    uipc.semctl(raw, 0, uipc.SETVAL, 1)   # what the creator does next...
    uipc.semop(raw, [(0, 1, 0), (0, -1, 0)])  # ...and its stamp
    assert child.result() == 1
    uipc.semctl(raw, 0, uipc.IPC_RMID)


def test_the_creator_stamps_the_set(ns: str) -> None:
    s = uipc.Semaphore("stamped", value=3, create=True)
    assert s.stat.sem_otime != 0 and s.value() == 3
    zero = uipc.SemaphoreSet("stamped-zero", 2, create=True, initial=[0, 5])
    assert zero.stat.sem_otime != 0 and zero.values == [0, 5]
    top = uipc.Semaphore("stamped-max", value=32767, create=True)
    assert top.value() == 32767
    for x in (s, zero, top):
        x.remove()


def test_remove_on_exit_removes_after_the_with_block(ns: str) -> None:
    with uipc.Semaphore(None, value=1, remove_on_exit=True) as sem:
        semid = sem.id
        assert sem.value() == 0
    with pytest.raises(OSError) as info:
        uipc.semctl(semid, 0, uipc.GETVAL)
    assert info.value.errno == errno.EINVAL
