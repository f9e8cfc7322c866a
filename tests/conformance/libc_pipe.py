"""The kernel side of the pipe scenarios: the real pipe2, fcntl, dup,
FIFOs, splice and tee, with uipc's signatures.

uipc's FIFO names live in a flat directory of the namespace's own; on the
kernel they are files of /dev/shm, which the scenario's child has as a
private tmpfs (Scenario.dev_shm): the same flat, sticky 1777 directory of
root's, and nothing reaches the machine's.
"""
from __future__ import annotations

import ctypes
import fcntl as _fcntl
import os
from typing import Any

pipe2 = os.pipe2

_libc = ctypes.CDLL(None, use_errno=True)
_libc.splice.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p,
                         ctypes.c_size_t, ctypes.c_uint]
_libc.splice.restype = ctypes.c_ssize_t
_libc.tee.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_size_t, ctypes.c_uint]
_libc.tee.restype = ctypes.c_ssize_t


def _path(path: str) -> str:
    """uipc's FIFO name as a path in the private /dev/shm ('' stays empty)."""
    return "/dev/shm/" + path.lstrip("/") if path else ""


def mkfifo(path: str, mode: int = 0o666) -> None:
    os.mkfifo(_path(path), mode)


def open(path: str, flags: int) -> int:  # noqa: A001 - uipc.open's name
    return os.open(_path(path), flags)


def unlink(path: str) -> None:
    os.unlink(_path(path))


def dup(fd: int) -> int:
    """dup(2): FD_CLOEXEC clear on the new descriptor, as uipc.dup."""
    return _fcntl.fcntl(fd, _fcntl.F_DUPFD, 0)


def fcntl(fd: int, cmd: int, arg: Any = 0) -> int:
    return _fcntl.fcntl(fd, cmd, arg)


def _result(ret: int) -> int:
    if ret < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return ret


def _loff(value: int | None) -> Any:
    """An loff_t * argument: NULL for None."""
    return None if value is None else ctypes.byref(ctypes.c_longlong(value))


def splice(fd_in: int, fd_out: int, len: int, flags: int = 0, *,  # noqa: A002 - splice(2)'s
           off_in: int | None = None, off_out: int | None = None) -> int:
    """splice(2) through ctypes, as tee(2) must be (os has no tee), with
    uipc.splice's signature: offsets are loff_t pointers, None for NULL."""
    return _result(_libc.splice(fd_in, _loff(off_in), fd_out, _loff(off_out),
                                len & 0xFFFFFFFFFFFFFFFF, flags & 0xFFFFFFFF))


def tee(fd_in: int, fd_out: int, len: int, flags: int = 0) -> int:  # noqa: A002 - tee(2)'s
    """tee(2) through ctypes (os has none), with uipc.tee's signature."""
    return _result(_libc.tee(fd_in, fd_out, len & 0xFFFFFFFFFFFFFFFF, flags & 0xFFFFFFFF))
