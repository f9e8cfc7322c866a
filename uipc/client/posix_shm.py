"""shm_open(3), shm_unlink(3) and the named semaphores (sem_open(3)...) in the client.

glibc's part is done here: the umask applied to a new object's mode,
shm_open's descriptor close-on-exec (as glibc opens it O_CLOEXEC), and a
named semaphore as a handle (glibc's ``sem_t *``) that the same name opened
twice in one process gives back.  The objects live in the daemon's
namespace (uipc/kernel/posix_shm.py, posix_sem.py); a shm_open descriptor
is a real one of the object's memory, for os.ftruncate, os.fstat and mmap.
"""
from __future__ import annotations

import errno
import os
from dataclasses import dataclass
from typing import Any

from uipc import protocol as P
from uipc.client.args import abs_timespec, c_int
from uipc.client.connection import call, hold_anchor, register_fork_files
from uipc.client.mqueue import umask
from uipc.uapi.mqueue import NAME_MAX

_SHM_OPEN = P.OPS_BY_NAME["shm_open"]
_SHM_UNLINK = P.OPS_BY_NAME["shm_unlink"]
_SEM_OPEN = P.OPS_BY_NAME["sem_open"]
_SEM_CLOSE = P.OPS_BY_NAME["sem_close"]
_SEM_UNLINK = P.OPS_BY_NAME["sem_unlink"]
_SEM_POST = P.OPS_BY_NAME["sem_post"]
_SEM_WAIT = P.OPS_BY_NAME["sem_timedwait"]
_SEM_GETVALUE = P.OPS_BY_NAME["sem_getvalue"]
_INT = P.INT_RESULT.unpack_from


def _name(name: Any) -> bytes:
    if isinstance(name, bytes):
        name = os.fsdecode(name)
    if not isinstance(name, str):
        raise TypeError(f"name must be str, not {type(name).__name__}")
    return name.encode("utf-8", "surrogateescape")


def _mode(mode: Any) -> int:
    return c_int("mode", mode) & 0xFFFFFFFF & ~umask()


def shm_open(name: str, oflag: int, mode: int = 0o600) -> int:
    """Open (or create) a shared memory object; returns a descriptor of it.  See shm_open(3)."""
    _, fds = call(_SHM_OPEN, (c_int("oflag", oflag), _mode(mode)), _name(name))
    if not fds:
        raise OSError(5, "uipc daemon sent no descriptor with shm_open")
    for extra in fds[1:]:
        os.close(extra)
    os.set_inheritable(fds[0], False)
    return fds[0]


def shm_unlink(name: str) -> None:
    """Remove a shared memory object's name.  See shm_unlink(3)."""
    call(_SHM_UNLINK, (), _name(name))


# --- named semaphores --------------------------------------------------------------
@dataclass(frozen=True)
class NamedSem:
    """What sem_open returns (glibc's ``sem_t *``): the semaphore's handle."""

    handle: int
    name: str


#: handle -> opens in this process (a fork child has the parent's)
_open: dict[int, int] = {}
register_fork_files(lambda: bool(_open))


def sem_open(name: str, oflag: int, mode: int = 0o600, value: int = 0) -> NamedSem:
    """Open (or create) a named semaphore.  See sem_open(3)."""
    v = c_int("value", value) & 0xFFFFFFFF
    hold_anchor()  # its mapping lives as long as the process (see mq_open)
    raw = _name(name)
    oflag = c_int("oflag", oflag)
    handle = _INT(call(_SEM_OPEN, (oflag, _mode(mode), v), raw)[0])[0]
    if len(raw) > NAME_MAX:
        # glibc (sem_routines.c) keeps the name as given, leading slashes and
        # all, for its table of mappings, which refuses one past NAME_MAX --
        # after the semaphore was opened or made; errno is what its open
        # attempts left: EINVAL after O_EXCL's, else the first open's ENOENT
        call(_SEM_CLOSE, (handle,))
        raise OSError(errno.EINVAL if oflag & os.O_EXCL else errno.ENOENT,
                      f"sem_open: glibc refuses a name of {len(raw)} bytes (NAME_MAX "
                      f"{NAME_MAX}) once the semaphore is made")
    _open[handle] = _open.get(handle, 0) + 1
    return NamedSem(handle, name)


def _handle(sem: Any) -> int:
    if not isinstance(sem, NamedSem):
        raise TypeError(f"sem must be what sem_open returned, not {type(sem).__name__}")
    return sem.handle


def sem_close(sem: NamedSem) -> None:
    """Close a named semaphore (this process's open of it).  See sem_close(3)."""
    h = _handle(sem)
    call(_SEM_CLOSE, (h,))
    left = _open.get(h, 0) - 1
    if left > 0:
        _open[h] = left
    else:
        _open.pop(h, None)


def sem_unlink(name: str) -> None:
    """Remove a named semaphore's name.  See sem_unlink(3)."""
    call(_SEM_UNLINK, (), _name(name))


def sem_post(sem: NamedSem) -> None:
    """Increment (or hand to the first waiter).  See sem_post(3)."""
    call(_SEM_POST, (_handle(sem),))


def sem_wait(sem: NamedSem) -> None:
    """Decrement, waiting while it is 0.  See sem_wait(3)."""
    call(_SEM_WAIT, (_handle(sem), 0, 0, 0))


def sem_trywait(sem: NamedSem) -> None:
    """Decrement, or EAGAIN if it is 0.  See sem_trywait(3)."""
    call(_SEM_WAIT, (_handle(sem), 1, 0, 0))


def sem_timedwait(sem: NamedSem, abs_timeout: float) -> None:
    """Decrement, waiting at most until ``abs_timeout`` (CLOCK_REALTIME seconds)."""
    sec, nsec = abs_timespec("abs_timeout", abs_timeout)
    call(_SEM_WAIT, (_handle(sem), 2, sec, nsec))


def sem_getvalue(sem: NamedSem) -> int:
    """The semaphore's value.  See sem_getvalue(3)."""
    return _INT(call(_SEM_GETVALUE, (_handle(sem),))[0])[0]


async def asem_wait(sem: NamedSem, abs_timeout: float | None = None) -> None:
    """sem_wait (or sem_timedwait) awaited on the event loop; cancellable."""
    from uipc.client.aio import acall
    if abs_timeout is None:
        await acall(_SEM_WAIT, (_handle(sem), 0, 0, 0))
        return
    sec, nsec = abs_timespec("abs_timeout", abs_timeout)
    await acall(_SEM_WAIT, (_handle(sem), 2, sec, nsec))
