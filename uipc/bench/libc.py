"""The kernel's SysV IPC through ctypes, minimal, for the kernel rows."""
from __future__ import annotations

import ctypes
import os

libc = ctypes.CDLL(None, use_errno=True)
libc.msgsnd.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
libc.msgrcv.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_long, ctypes.c_int]
libc.msgrcv.restype = ctypes.c_ssize_t
libc.semop.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t]
libc.shmget.argtypes = [ctypes.c_int, ctypes.c_size_t, ctypes.c_int]
libc.shmat.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_int]
libc.shmat.restype = ctypes.c_void_p
CLONE_NEWIPC = 0x08000000


def check(ret: int) -> int:
    if ret == -1:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
    return ret


def unshare_ipc() -> None:
    check(libc.unshare(CLONE_NEWIPC))


def write_sysctl(name: str, value: int) -> None:
    with open(f"/proc/sys/kernel/{name}", "w") as f:
        f.write(str(value))


class KernelMsg:
    """msgsnd/msgrcv with preallocated buffers (what a C program would do)."""

    def __init__(self, qid: int, size: int) -> None:
        self.qid = qid
        self.buf = ctypes.create_string_buffer(8 + max(size, 1))

    def send(self, mtype: int, size: int) -> None:
        ctypes.c_long.from_buffer(self.buf).value = mtype
        check(libc.msgsnd(self.qid, self.buf, size, 0))

    def recv(self, size: int, mtype: int) -> int:
        return check(libc.msgrcv(self.qid, self.buf, size, mtype, 0))


class _Sembuf(ctypes.Structure):
    _fields_ = [("sem_num", ctypes.c_ushort), ("sem_op", ctypes.c_short), ("sem_flg", ctypes.c_short)]


def sembuf(num: int, op: int) -> _Sembuf:
    return _Sembuf(num, op, 0)
