"""The real kernel's SysV shared memory through ctypes, with uipc's Python API."""
from __future__ import annotations

import ctypes
from typing import Any

from tests.conformance.libc_msg import _check, _Perm, libc
from uipc.uapi import (
    IPC_INFO, IPC_SET, IPC_STAT, SHM_INFO, SHM_RDONLY, SHM_STAT, SHM_STAT_ANY, IpcPerm, ShmidDs,
    ShmInfo, ShmInfoStats,
)


class _Shmid(ctypes.Structure):
    _fields_ = [("perm", _Perm), ("segsz", ctypes.c_size_t), ("atime", ctypes.c_int64),
                ("dtime", ctypes.c_int64), ("ctime", ctypes.c_int64), ("cpid", ctypes.c_int32),
                ("lpid", ctypes.c_int32), ("nattch", ctypes.c_uint64), ("_r", ctypes.c_uint64 * 2)]


class _ShmInfo(ctypes.Structure):
    _fields_ = [(n, ctypes.c_ulong) for n in ("shmmax", "shmmin", "shmmni", "shmseg", "shmall")] + [
        ("_r", ctypes.c_ulong * 4)]


class _ShmInfoStats(ctypes.Structure):
    _fields_ = [("used_ids", ctypes.c_int)] + [(n, ctypes.c_ulong) for n in (
        "shm_tot", "shm_rss", "shm_swp", "swap_attempts", "swap_successes")]


assert ctypes.sizeof(_Shmid) == 112 and ctypes.sizeof(_ShmInfo) == 72
libc.shmget.argtypes = [ctypes.c_int, ctypes.c_size_t, ctypes.c_int]
libc.shmat.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_int]
libc.shmat.restype = ctypes.c_void_p
libc.shmdt.argtypes = [ctypes.c_void_p]
libc.shmctl.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_void_p]
_views: dict[int, tuple[int, bool]] = {}


def _ds(d: _Shmid) -> ShmidDs:
    p = d.perm
    return ShmidDs(shm_perm=IpcPerm(key=p.key, uid=p.uid, gid=p.gid, cuid=p.cuid, cgid=p.cgid,
                                    mode=p.mode, seq=p.seq),
                   shm_segsz=d.segsz, shm_atime=d.atime, shm_dtime=d.dtime, shm_ctime=d.ctime,
                   shm_cpid=d.cpid, shm_lpid=d.lpid, shm_nattch=d.nattch)


def shmget(key: int, size: int, shmflg: int) -> int:
    return _check(libc.shmget(ctypes.c_int32(key & 0xFFFFFFFF).value, size & (2**64 - 1), shmflg))


def shmat(shmid: int, shmaddr: int | None = None, shmflg: int = 0) -> int:
    addr = libc.shmat(shmid, shmaddr, shmflg)
    if addr is None or addr == 2**64 - 1:
        _check(-1)
    _views[addr] = (shmctl(shmid, IPC_STAT).shm_segsz, bool(shmflg & SHM_RDONLY))
    return addr


def shm_view(addr: int) -> memoryview:
    size, ro = _views[addr]
    v = memoryview((ctypes.c_char * size).from_address(addr)).cast("B")
    return v.toreadonly() if ro else v


def shmdt(addr: int) -> None:
    _check(libc.shmdt(addr))
    _views.pop(addr, None)


def shmctl(shmid: int, cmd: int, buf: Any = None) -> Any:
    if cmd == IPC_INFO:
        i = _ShmInfo()
        ret = _check(libc.shmctl(shmid, cmd, ctypes.byref(i)))
        return ret, ShmInfo(**{n: getattr(i, n) for n in ("shmmax", "shmmin", "shmmni", "shmseg", "shmall")})
    if cmd == SHM_INFO:
        i2 = _ShmInfoStats()
        ret = _check(libc.shmctl(shmid, cmd, ctypes.byref(i2)))
        return ret, ShmInfoStats(**{n: getattr(i2, n) for n, _ in _ShmInfoStats._fields_})
    d = _Shmid()
    if cmd == IPC_SET:
        p = buf.shm_perm
        d.perm.uid, d.perm.gid, d.perm.mode = p.uid & 0xFFFFFFFF, p.gid & 0xFFFFFFFF, p.mode
    ret = _check(libc.shmctl(shmid, cmd, ctypes.byref(d)))
    if cmd == IPC_STAT:
        return _ds(d)
    if cmd in (SHM_STAT, SHM_STAT_ANY):
        return ret, _ds(d)
    return ret
