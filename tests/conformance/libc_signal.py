"""The kernel's signals and signalfd, with uipc's API (uipc.kill, sigqueue,
sigprocmask, sigpending, signalfd, read_siginfo): os and signal where Python
has the call, ctypes on libc where it has not (sigqueue, signalfd).

Sets are sets of ints, as uipc returns them.  The process is single-threaded
(a scenario's forked child), so pthread_sigmask is the process's mask.
"""
from __future__ import annotations

import ctypes
import os
import signal
from typing import Iterable

from uipc.uapi.signalfd import SIGNALFD_SIGINFO_SIZE, SignalfdSiginfo

libc = ctypes.CDLL(None, use_errno=True)


class _Sigval(ctypes.Union):
    _fields_ = [("sival_int", ctypes.c_int), ("sival_ptr", ctypes.c_void_p)]


libc.sigqueue.argtypes = [ctypes.c_int, ctypes.c_int, _Sigval]
libc.signalfd.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int]


def _check(ret: int) -> int:
    if ret < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return ret


def _ints(signals: Iterable[int]) -> set[int]:
    return {int(s) for s in signals}


def kill(pid: int, sig: int) -> None:
    os.kill(pid, sig)


def sigqueue(pid: int, sig: int, value: int = 0) -> None:
    """glibc's sigqueue(3): rt_sigqueueinfo with SI_QUEUE, getpid(), getuid()."""
    val = _Sigval()
    val.sival_ptr = value & ((1 << 64) - 1)
    _check(libc.sigqueue(pid, sig, val))


def sigprocmask(how: int, mask: Iterable[int] | None) -> set[int]:
    if mask is None:
        return _ints(signal.pthread_sigmask(signal.SIG_BLOCK, ()))
    return _ints(signal.pthread_sigmask(how, mask))


def sigpending() -> set[int]:
    return _ints(signal.sigpending())


def signalfd(fd: int, mask: Iterable[int], flags: int = 0) -> int:
    """signalfd(2) with the kernel's 64-bit sigset written directly (glibc's
    sigaddset refuses its own signals 32 and 33)."""
    bits = 0
    for sig in mask:
        bits |= 1 << (int(sig) - 1)
    sset = ctypes.create_string_buffer(bits.to_bytes(8, "little") + bytes(120), 128)
    return _check(libc.signalfd(fd, sset, flags))


def read_siginfo(fd: int, max_records: int = 64) -> list[SignalfdSiginfo]:
    return SignalfdSiginfo.unpack_all(os.read(fd, max_records * SIGNALFD_SIGINFO_SIZE))
