"""Pythonic semaphores: SemaphoreSet and Semaphore, over semop/semctl."""
from __future__ import annotations

import errno
from typing import Any, Iterable, Sequence

from uipc.client.args import c_int, int_in, items
from uipc.client.classes import object_key, object_mode
from uipc.client.syscalls import semctl, semget, semop, semtimedop, semvals
from uipc.uapi.ipc import IPC_CREAT, IPC_EXCL, IPC_NOWAIT, IPC_PRIVATE, IPC_RMID, IPC_STAT
from uipc.uapi.sem import GETALL, GETNCNT, GETPID, GETVAL, GETZCNT, SEM_UNDO, SETALL, SETVAL, SemidDs


def _open(key: int, n: int, create: bool, exclusive: bool, mode: int) -> tuple[int, int, bool]:
    """semget with 'did we create it?', so initial values are set only once."""
    if key == IPC_PRIVATE:
        return key, semget(key, n, IPC_CREAT | mode), True
    if create or exclusive:
        try:
            return key, semget(key, n, IPC_CREAT | IPC_EXCL | mode), True
        except OSError as exc:
            if exclusive or exc.errno != errno.EEXIST:
                raise
    return key, semget(key, 0, 0), False


def _initial_values(initial: Sequence[int] | int | None, n: int) -> list[int] | None:
    """SemaphoreSet's ``initial``, checked against ``n`` before anything exists."""
    if initial is None:
        return None
    if isinstance(initial, int):  # one value for all (int_in refuses a bool)
        return [int_in("initial", initial, 0, 0xFFFF)] * max(n, 0)
    values = semvals("initial", initial)
    if len(values) != n:
        raise ValueError(f"initial has {len(values)} values for {n} semaphores")
    return values


def _with_flags(ops: Any, flags: int) -> list[tuple[int, int, int]]:
    """apply()'s operations as sembufs with the call's flags or'ed in."""
    it = items(ops, "ops must be a list of (index, delta[, flags])")
    sops = []
    for o in it:
        if not isinstance(o, (tuple, list)) or not 2 <= len(o) <= 3:
            raise TypeError(f"each operation is (index, delta[, flags]), not {o!r}")
        own = o[2] if len(o) == 3 else 0
        if isinstance(own, bool) or not isinstance(own, int):
            raise TypeError(f"flags must be an int, not {type(own).__name__}")
        sops.append((o[0], o[1], own | flags))
    return sops


#: how long an opener waits for the creator to set a new set's initial values
PUBLICATION_TIMEOUT = 1.0


def _publish(semid: int, values: Sequence[int]) -> None:
    """The sem_otime handshake (W. R. Stevens, UNP vol. 2; sysv_ipc's users
    know it): after SETALL, a semop that changes nothing stamps sem_otime, so
    an opener can tell a set whose initial values are set from one that the
    creator has made but not yet initialised (semget and SETALL are two calls)."""
    step = 1 if values[0] == 0 else -1  # net zero, within [0, SEMVMX]
    semop(semid, [(0, step, IPC_NOWAIT), (0, -step, IPC_NOWAIT)])


def _await_publication(semid: int) -> None:
    """Wait (briefly) until the creator has set the initial values: a set
    created elsewhere without the handshake is used as it is after
    PUBLICATION_TIMEOUT."""
    import time
    deadline = time.monotonic() + PUBLICATION_TIMEOUT
    delay = 0.0005
    while semctl(semid, 0, IPC_STAT).sem_otime == 0 and time.monotonic() < deadline:
        time.sleep(delay)
        delay = min(delay * 2, 0.02)


class SemaphoreSet:
    """A SysV semaphore set of ``n`` semaphores.

    ``SemaphoreSet()`` creates a private set; ``SemaphoreSet(key, n, create=True)``
    opens or creates one.  ``initial`` values are applied only by the creator,
    which creates with IPC_EXCL, sets them and then stamps ``sem_otime``; an
    opener that asked for initial values waits for that stamp, so it never
    sees the set before its values are set (the sem_otime handshake).
    ``undo=True`` makes every operation SEM_UNDO by default: the daemon
    reverts it if this process dies, even by ``kill -9``.
    """

    def __init__(self, key: int | str | None = None, n: int = 1, *, create: bool = False,
                 exclusive: bool = False, mode: int = 0o600, initial: Sequence[int] | int | None = None,
                 undo: bool = False, remove_on_exit: bool = False) -> None:
        # every argument is checked before the set exists: a bad one creates nothing
        key, mode, n = object_key(key), object_mode(mode), c_int("n", n)
        values = _initial_values(initial, n)
        self.key, self.id, created = _open(key, n, create, exclusive, mode)
        self.undo = undo
        self.remove_on_exit = remove_on_exit
        try:
            self.n = self.stat.sem_nsems
            if created and values is not None:
                self.values = values  # the kernel's ERANGE (above SEMVMX) comes here
                _publish(self.id, values)
            elif values is not None:
                _await_publication(self.id)
        except BaseException:
            if created:  # a constructor that fails leaves nothing behind
                self._remove_quietly()
            raise

    def _remove_quietly(self) -> None:
        try:
            self.remove()
        except OSError:
            pass

    # --- operations ---------------------------------------------------------
    def _flags(self, block: bool, undo: bool | None) -> int:
        return (0 if block else IPC_NOWAIT) | (SEM_UNDO if (self.undo if undo is None else undo) else 0)

    def apply(self, ops: Iterable[tuple[int, int] | tuple[int, int, int]], *, block: bool = True,
              timeout: float | None = None, undo: bool | None = None) -> None:
        """Apply several operations atomically: all or none.  EAGAIN on timeout."""
        sops = _with_flags(ops, self._flags(block, undo))
        if timeout is None:
            semop(self.id, sops)
        else:
            semtimedop(self.id, sops, timeout)

    def acquire(self, index: int = 0, delta: int = 1, *, block: bool = True,
                timeout: float | None = None, undo: bool | None = None) -> None:
        """Decrement (P); waits while the value would go below zero."""
        # 0 would wait for zero and a negative delta would release: refuse both
        self.apply([(index, -int_in("delta", delta, 1, 0x8000))], block=block, timeout=timeout, undo=undo)

    def release(self, index: int = 0, delta: int = 1, *, undo: bool | None = None) -> None:
        """Increment (V); never blocks."""
        self.apply([(index, int_in("delta", delta, 1, 0x7FFF))], undo=undo)

    def wait_zero(self, index: int = 0, *, block: bool = True, timeout: float | None = None) -> None:
        """Wait until the semaphore is zero."""
        self.apply([(index, 0)], block=block, timeout=timeout, undo=False)

    async def aapply(self, ops: Iterable[Any], **kw: Any) -> None:
        """apply() awaited on the event loop (uipc.client.aio: no thread, cancellable)."""
        def request(*, block: bool = True, timeout: float | None = None,
                    undo: bool | None = None) -> tuple[list[tuple[int, int, int]], float | None]:
            return _with_flags(ops, self._flags(block, undo)), timeout  # as apply() builds it
        sops, timeout = request(**kw)
        from uipc.client.aio import asemtimedop  # asyncio only for those who await
        await asemtimedop(self.id, sops, timeout)

    async def aacquire(self, index: int = 0, delta: int = 1, **kw: Any) -> None:
        """acquire() awaited on the event loop."""
        await self.aapply([(index, -int_in("delta", delta, 1, 0x8000))], **kw)

    async def await_zero(self, index: int = 0, **kw: Any) -> None:
        """wait_zero() awaited on the event loop."""
        await self.aapply([(index, 0)], **kw, undo=False)

    # --- values and counts -------------------------------------------------
    @property
    def values(self) -> list[int]:
        return semctl(self.id, 0, GETALL)

    @values.setter
    def values(self, values: Sequence[int]) -> None:
        semctl(self.id, 0, SETALL, values)

    def value(self, index: int = 0) -> int:
        return semctl(self.id, index, GETVAL)

    def set_value(self, index: int, value: int) -> None:
        semctl(self.id, index, SETVAL, value)

    def waiting_to_decrement(self, index: int = 0) -> int:
        """GETNCNT."""
        return semctl(self.id, index, GETNCNT)

    def waiting_for_zero(self, index: int = 0) -> int:
        """GETZCNT."""
        return semctl(self.id, index, GETZCNT)

    def last_pid(self, index: int = 0) -> int:
        """GETPID."""
        return semctl(self.id, index, GETPID)

    @property
    def stat(self) -> SemidDs:
        return semctl(self.id, 0, IPC_STAT)

    def remove(self) -> None:
        semctl(self.id, 0, IPC_RMID)

    def __enter__(self) -> "SemaphoreSet":
        return self

    def __exit__(self, *exc: object) -> None:
        if self.remove_on_exit:
            self.remove()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(id={self.id}, key=0x{self.key & 0xFFFFFFFF:08x}, n={self.n})"


class Semaphore(SemaphoreSet):
    """One semaphore, usable as a lock: ``with sem: ...`` acquires and releases.

    ``undo`` defaults to True, so a holder that dies releases it.
    """

    def __init__(self, key: int | str | None = None, value: int = 1, *, create: bool = False,
                 exclusive: bool = False, mode: int = 0o600, undo: bool = True,
                 remove_on_exit: bool = False) -> None:
        value = int_in("value", value, 0, 0xFFFF)  # above SEMVMX: the kernel's ERANGE
        super().__init__(key, 1, create=create, exclusive=exclusive, mode=mode, initial=[value],
                         undo=undo, remove_on_exit=remove_on_exit)

    def __enter__(self) -> "Semaphore":
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
        if self.remove_on_exit:
            self.remove()

    async def __aenter__(self) -> "Semaphore":
        await self.aacquire()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.release()
