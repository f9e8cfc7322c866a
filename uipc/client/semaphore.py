"""Pythonic semaphores: SemaphoreSet and Semaphore, over semop/semctl."""
from __future__ import annotations

import errno
from typing import Any, Iterable, Sequence

from uipc.client.aio import run_blocking
from uipc.client.classes import key_from_name
from uipc.client.syscalls import semctl, semget, semop, semtimedop
from uipc.uapi.ipc import IPC_CREAT, IPC_EXCL, IPC_NOWAIT, IPC_PRIVATE, IPC_RMID, IPC_STAT
from uipc.uapi.sem import GETALL, GETNCNT, GETPID, GETVAL, GETZCNT, SEM_UNDO, SETALL, SETVAL, SemidDs


def _open(key: int | str | None, n: int, create: bool, exclusive: bool, mode: int) -> tuple[int, int, bool]:
    """semget with 'did we create it?', so initial values are set only once."""
    if isinstance(key, str):
        key = key_from_name(key)
    if key is None:
        key = IPC_PRIVATE
    if key == IPC_PRIVATE:
        return key, semget(key, n, IPC_CREAT | (mode & 0o777)), True
    if create or exclusive:
        try:
            return key, semget(key, n, IPC_CREAT | IPC_EXCL | (mode & 0o777)), True
        except OSError as exc:
            if exclusive or exc.errno != errno.EEXIST:
                raise
    return key, semget(key, 0, 0), False


class SemaphoreSet:
    """A SysV semaphore set of ``n`` semaphores.

    ``SemaphoreSet()`` creates a private set; ``SemaphoreSet(key, n, create=True)``
    opens or creates one.  ``initial`` values are applied only by the creator.
    ``undo=True`` makes every operation SEM_UNDO by default: the daemon
    reverts it if this process dies, even by ``kill -9``.
    """

    def __init__(self, key: int | str | None = None, n: int = 1, *, create: bool = False,
                 exclusive: bool = False, mode: int = 0o600, initial: Sequence[int] | int | None = None,
                 undo: bool = False, remove_on_exit: bool = False) -> None:
        self.key, self.id, created = _open(key, n, create, exclusive, mode)
        self.undo = undo
        self.remove_on_exit = remove_on_exit
        self.n = self.stat.sem_nsems
        if created and initial is not None:
            values = [initial] * self.n if isinstance(initial, int) else list(initial)
            self.values = values

    # --- operations ---------------------------------------------------------
    def _flags(self, block: bool, undo: bool | None) -> int:
        return (0 if block else IPC_NOWAIT) | (SEM_UNDO if (self.undo if undo is None else undo) else 0)

    def apply(self, ops: Iterable[tuple[int, int] | tuple[int, int, int]], *, block: bool = True,
              timeout: float | None = None, undo: bool | None = None) -> None:
        """Apply several operations atomically: all or none.  EAGAIN on timeout."""
        flags = self._flags(block, undo)
        sops = [(o[0], o[1], (o[2] if len(o) > 2 else 0) | flags) for o in ops]  # type: ignore[misc]
        if timeout is None:
            semop(self.id, sops)
        else:
            semtimedop(self.id, sops, timeout)

    def acquire(self, index: int = 0, delta: int = 1, *, block: bool = True,
                timeout: float | None = None, undo: bool | None = None) -> None:
        """Decrement (P); waits while the value would go below zero."""
        self.apply([(index, -delta)], block=block, timeout=timeout, undo=undo)

    def release(self, index: int = 0, delta: int = 1, *, undo: bool | None = None) -> None:
        """Increment (V); never blocks."""
        self.apply([(index, delta)], undo=undo)

    def wait_zero(self, index: int = 0, *, block: bool = True, timeout: float | None = None) -> None:
        """Wait until the semaphore is zero."""
        self.apply([(index, 0)], block=block, timeout=timeout, undo=False)

    async def aapply(self, ops: Iterable[Any], **kw: Any) -> None:
        await run_blocking(lambda: self.apply(ops, **kw))

    async def aacquire(self, index: int = 0, delta: int = 1, **kw: Any) -> None:
        await run_blocking(lambda: self.acquire(index, delta, **kw))

    async def await_zero(self, index: int = 0, **kw: Any) -> None:
        await run_blocking(lambda: self.wait_zero(index, **kw))

    # --- values and counts -------------------------------------------------
    @property
    def values(self) -> list[int]:
        return semctl(self.id, 0, GETALL)

    @values.setter
    def values(self, values: Sequence[int]) -> None:
        semctl(self.id, 0, SETALL, list(values))

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
        super().__init__(key, 1, create=create, exclusive=exclusive, mode=mode, initial=[value],
                         undo=undo, remove_on_exit=remove_on_exit)

    def __enter__(self) -> "Semaphore":
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    async def __aenter__(self) -> "Semaphore":
        await self.aacquire()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.release()
