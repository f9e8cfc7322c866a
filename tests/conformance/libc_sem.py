"""The real kernel's SysV semaphores through ctypes, with uipc's Python API."""
from __future__ import annotations

import ctypes
import os
from typing import Any

from tests.conformance.libc_msg import _check, _Perm, libc
from uipc.uapi import (
    GETALL, IPC_INFO, IPC_SET, IPC_STAT, SEM_INFO, SEM_STAT, SEM_STAT_ANY, SETALL, SETVAL,
    IpcPerm, SemidDs, SemInfo,
)


class _Semid(ctypes.Structure):
    _fields_ = [("perm", _Perm), ("otime", ctypes.c_int64), ("_r1", ctypes.c_uint64),
                ("ctime", ctypes.c_int64), ("_r2", ctypes.c_uint64), ("nsems", ctypes.c_uint64),
                ("_r3", ctypes.c_uint64 * 2)]


class _SemInfo(ctypes.Structure):
    _fields_ = [(n, ctypes.c_int) for n in ("semmap", "semmni", "semmns", "semmnu", "semmsl",
                                            "semopm", "semume", "semusz", "semvmx", "semaem")]


class _Sembuf(ctypes.Structure):
    _fields_ = [("sem_num", ctypes.c_ushort), ("sem_op", ctypes.c_short), ("sem_flg", ctypes.c_short)]


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


assert ctypes.sizeof(_Semid) == 104
libc.semctl.restype = ctypes.c_int
libc.semop.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t]
libc.semtimedop.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p]


def _ds(d: _Semid) -> SemidDs:
    p = d.perm
    return SemidDs(sem_perm=IpcPerm(key=p.key, uid=p.uid, gid=p.gid, cuid=p.cuid, cgid=p.cgid,
                                    mode=p.mode, seq=p.seq),
                   sem_otime=d.otime, sem_ctime=d.ctime, sem_nsems=d.nsems)


def semget(key: int, nsems: int, semflg: int) -> int:
    return _check(libc.semget(ctypes.c_int32(key & 0xFFFFFFFF).value, nsems, semflg))


def _bufs(sops: Any) -> Any:
    arr = (_Sembuf * max(len(sops), 1))()
    for i, s in enumerate(sops):
        flg = s[2] if len(s) > 2 else 0
        arr[i].sem_num, arr[i].sem_op, arr[i].sem_flg = s[0], s[1], ctypes.c_short(flg).value
    return arr


def semop(semid: int, sops: Any) -> None:
    _check(libc.semop(semid, _bufs(sops), len(sops)))


def semtimedop(semid: int, sops: Any, timeout: float | None) -> None:
    ts = None
    if timeout is not None:
        ts = ctypes.byref(_Timespec(int(timeout), int((timeout - int(timeout)) * 1e9)))
    _check(libc.semtimedop(semid, _bufs(sops), len(sops), ts))


def semctl(semid: int, semnum: int, cmd: int, arg: Any = None) -> Any:
    if cmd in (IPC_INFO, SEM_INFO):
        info = _SemInfo()
        ret = _check(libc.semctl(semid, semnum, cmd, ctypes.byref(info)))
        return ret, SemInfo(**{n: getattr(info, n) for n, _ in _SemInfo._fields_})
    if cmd in (IPC_STAT, SEM_STAT, SEM_STAT_ANY, IPC_SET):
        d = _Semid()
        if cmd == IPC_SET:
            p = arg.sem_perm
            d.perm.uid, d.perm.gid, d.perm.mode = p.uid & 0xFFFFFFFF, p.gid & 0xFFFFFFFF, p.mode
        ret = _check(libc.semctl(semid, semnum, cmd, ctypes.byref(d)))
        if cmd == IPC_STAT:
            return _ds(d)
        return ret if cmd == IPC_SET else (ret, _ds(d))
    if cmd == GETALL:
        n = semctl(semid, 0, IPC_STAT).sem_nsems
        arr = (ctypes.c_ushort * n)()
        _check(libc.semctl(semid, 0, cmd, ctypes.byref(arr)))
        return list(arr)
    if cmd == SETALL:
        arr = (ctypes.c_ushort * max(len(arg), 1))(*[v & 0xFFFF for v in arg])
        return _check(libc.semctl(semid, 0, cmd, ctypes.byref(arr)))
    if cmd == SETVAL:
        return _check(libc.semctl(semid, semnum, cmd, ctypes.c_long(arg)))
    return _check(libc.semctl(semid, semnum, cmd, ctypes.c_long(0)))


def write_sysctl(name: str, value: int | str) -> None:
    with open(f"/proc/sys/kernel/{name}", "w") as f:
        f.write(str(value))


_ = os
