"""shmat/shmdt in the client: map the segment's memfd where shmat says.

The daemon decides (and counts) attachments; this module maps the
descriptor it hands over with libc's mmap, so the address is a real address
in this process, and remembers address -> attach id for shmdt.  A read-only
attach gets an O_RDONLY descriptor: the mapping cannot be made writable, and
the memoryview shm_view returns is read-only too.
"""
from __future__ import annotations

import ctypes
import errno
import mmap
import os
import threading
from dataclasses import dataclass
from typing import Any

from uipc import protocol as P
from uipc.client.args import c_int, key_t, size_t
from uipc.client.connection import call, hold_anchor, register_fork_state

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mmap.restype = ctypes.c_void_p
_libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                       ctypes.c_int, ctypes.c_long]
_libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
MAP_FAILED = ctypes.c_void_p(-1).value
MAP_FIXED_NOREPLACE = 0x100000

_SHMGET = P.OPS_BY_NAME["shmget"]
_SHMAT = P.OPS_BY_NAME["shmat"]
_SHMDT = P.OPS_BY_NAME["shmdt"]


@dataclass(frozen=True)
class Attachment:
    attach_id: int
    addr: int
    size: int
    map_size: int
    readonly: bool


_lock = threading.Lock()
#: address -> attachment, for this process
_attached: dict[int, Attachment] = {}


def shmget(key: int, size: int, shmflg: int) -> int:
    """Get or create the segment of ``key``; returns its id.  See shmget(2)."""
    return P.INT_RESULT.unpack_from(
        call(_SHMGET, (key_t(key), size_t("size", size) & 0xFFFFFFFFFFFFFFFF, c_int("shmflg", shmflg)))[0])[0]


def shmat(shmid: int, shmaddr: int | None = None, shmflg: int = 0) -> int:
    """Attach a segment; returns the address it is mapped at.  See shmat(2)."""
    from uipc.uapi.shm import SHM_EXEC
    addr_in = 0 if shmaddr is None else size_t("shmaddr", shmaddr) & 0xFFFFFFFFFFFFFFFF
    payload, fds = call(_SHMAT, (c_int("shmid", shmid), addr_in, c_int("shmflg", shmflg)))
    attach_id, segsz, map_size, addr, readonly, remap = P.SHMAT_RESULT.unpack_from(payload)
    if len(fds) != 1:
        for fd in fds:
            os.close(fd)
        _detach_remote(attach_id)
        raise OSError(errno.EIO, "uipc daemon sent no descriptor with shmat")
    fd = fds[0]
    try:
        prot = mmap.PROT_READ | (0 if readonly else mmap.PROT_WRITE)
        if shmflg & SHM_EXEC:
            prot |= mmap.PROT_EXEC
        flags = mmap.MAP_SHARED
        if addr:
            flags |= mmap.MAP_FIXED if remap else MAP_FIXED_NOREPLACE
        got = _libc.mmap(addr or None, map_size, prot, flags, fd, 0)
        if got in (None, MAP_FAILED):
            err = ctypes.get_errno()
            _detach_remote(attach_id)
            # an occupied fixed address is EINVAL for shmat (no SHM_REMAP)
            raise OSError(errno.EINVAL if err == errno.EEXIST else err,
                          os.strerror(errno.EINVAL if err == errno.EEXIST else err))
        if addr and got != addr:  # an old kernel ignoring MAP_FIXED_NOREPLACE
            _libc.munmap(got, map_size)
            _detach_remote(attach_id)
            raise OSError(errno.EINVAL, os.strerror(errno.EINVAL))
    finally:
        os.close(fd)
    with _lock:
        _attached[got] = Attachment(attach_id, got, segsz, map_size, bool(readonly))
    hold_anchor()
    return got


def _detach_remote(attach_id: int) -> None:
    """Revert an attach whose mapping failed."""
    try:
        call(_SHMDT, (attach_id, 1))
    except OSError:
        pass


def shmdt(shmaddr: int) -> None:
    """Detach the segment attached at ``shmaddr``.  See shmdt(2)."""
    with _lock:
        att = _attached.pop(shmaddr, None)
    if att is None:
        raise OSError(errno.EINVAL, f"{os.strerror(errno.EINVAL)} (no segment is attached at {shmaddr:#x})")
    _libc.munmap(att.addr, att.map_size)
    call(_SHMDT, (att.attach_id, 0))


def shm_view(shmaddr: int) -> memoryview:
    """A memoryview over the segment attached at ``shmaddr`` (read-only if SHM_RDONLY).

    Using it after shmdt is like using a dangling pointer in C: don't.
    """
    with _lock:
        att = _attached.get(shmaddr)
    if att is None:
        raise ValueError(f"no segment is attached at {shmaddr:#x}")
    view = memoryview((ctypes.c_char * att.size).from_address(att.addr)).cast("B")
    return view.toreadonly() if att.readonly else view


_SHMCTL = P.OPS_BY_NAME["shmctl"]


def shmctl(shmid: int, cmd: int, buf: Any = None) -> Any:
    """Control a segment.  See shmctl(2).

    IPC_STAT -> ShmidDs; IPC_SET (buf ShmidDs) / IPC_RMID / SHM_LOCK / SHM_UNLOCK -> 0;
    IPC_INFO -> (highest index, ShmInfo); SHM_INFO -> (highest index, ShmInfoStats);
    SHM_STAT / SHM_STAT_ANY (an index) -> (shmid, ShmidDs).
    """
    from uipc.client.syscalls import ctl_call
    from uipc.uapi.shm import ShmidDs
    return ctl_call(_SHMCTL, "shmid", shmid, cmd, buf, ShmidDs)


def attachments() -> list[Attachment]:
    with _lock:
        return list(_attached.values())


def _inherited_ids() -> list[int]:
    """Attach ids a fork child inherits (its mappings are copies of the parent's)."""
    return [a.attach_id for a in _attached.values()]


register_fork_state(_inherited_ids)
