"""A real signal carrying a chosen siginfo: mq_notify's SIGEV_SIGNAL delivery.

Linux's ``__do_notify`` (ipc/mqueue.c) sends the registered process
``sigev_signo`` with si_code SI_MESGQ, si_pid/si_uid naming the sender (as
seen from the registrant's pid and user namespaces) and the registered
sigev_value.  The daemon does the same with ``pidfd_send_signal(2)`` and a
siginfo of its own making; ``rt_sigqueueinfo(2)`` is the fallback where no
pidfd is at hand.  Both accept a caller-made siginfo to another process only
if its si_code is negative and not SI_TKILL (kernel/signal.c,
``do_pidfd_send_signal`` / ``do_rt_sigqueueinfo``), so a process cannot
pretend to be the kernel; SI_MESGQ (-3) qualifies.  The usual kill
permission applies (``check_kill_permission``): an unprivileged sender
reaches only its own uid's processes, with EPERM otherwise.

What the kernel leaves and changes (``send_signal_locked``): si_pid and
si_uid are delivered as given, except that si_uid is translated into the
target's user namespace, and si_pid becomes 0 when the sender lives in an
ancestor pid namespace of the target.  The caller passes the pid as the
target sees it.

Python's ``signal.pidfd_send_signal`` only takes siginfo=None, hence ctypes
on libc's ``syscall``.  The siginfo_t layout (include/uapi/asm-generic/
siginfo.h) is the 64-bit one of x86_64 and aarch64: 128 bytes, si_signo,
si_errno, si_code as ints, then the union aligned to 8 (it holds pointers);
its ``_rt`` member is si_pid (int, offset 16), si_uid (uint, 20), si_value
(union sigval, 8 bytes, 24).
"""
from __future__ import annotations

import ctypes
import errno
import os
import platform
import struct

SI_QUEUE = -1
SI_MESGQ = -3
SI_TKILL = -6
SIGINFO_SIZE = 128

#: (pidfd_send_signal, rt_sigqueueinfo) per machine; the layout below holds for both
_SYSCALLS = {"x86_64": (424, 129), "aarch64": (424, 138), "arm64": (424, 138)}
_HEAD = struct.Struct("=iii")       # si_signo, si_errno, si_code
_RT = struct.Struct("=iIQ")         # _sifields._rt: si_pid, si_uid, si_value
_RT_OFFSET = 16                     # the union, aligned to sizeof(void *)

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


def _numbers() -> tuple[int, int]:
    try:
        return _SYSCALLS[platform.machine()]
    except KeyError:
        raise OSError(errno.ENOSYS, f"siginfo layout and syscall numbers unknown for "
                                    f"{platform.machine()!r} (x86_64 and aarch64 only)") from None


def _int(name: str, value: object, lo: int, hi: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if not lo <= value < hi:
        raise ValueError(f"{name} {value} out of range [{lo}, {hi})")
    return value


def pack_siginfo(signo: int, code: int, pid: int, uid: int, value: int) -> bytes:
    """The 128-byte siginfo_t of an _rt signal (as the kernel's copy_siginfo_from_user reads it).

    ``value`` is the union sigval: an int or a pointer, so any 64-bit
    pattern; a negative int is stored as its two's complement (sival_int
    then reads it back in the low half on these little-endian machines)."""
    _int("signo", signo, 1, 65)
    _int("code", code, -(1 << 31), 1 << 31)
    _int("pid", pid, -(1 << 31), 1 << 31)
    _int("uid", uid, 0, 1 << 32)
    _int("value", value, -(1 << 63), 1 << 64)
    buf = bytearray(SIGINFO_SIZE)
    _HEAD.pack_into(buf, 0, signo, 0, code)
    _RT.pack_into(buf, _RT_OFFSET, pid, uid, value & ((1 << 64) - 1))
    return bytes(buf)


def unpack_siginfo(raw: bytes) -> dict[str, int]:
    """si_signo, si_errno, si_code, si_pid, si_uid, si_value (unsigned) of a raw siginfo_t."""
    signo, err, code = _HEAD.unpack_from(raw, 0)
    pid, uid, value = _RT.unpack_from(raw, _RT_OFFSET)
    return {"si_signo": signo, "si_errno": err, "si_code": code,
            "si_pid": pid, "si_uid": uid, "si_value": value}


def _syscall(number: int, target: int, signo: int, info: bytes, *rest: int) -> None:
    buf = ctypes.create_string_buffer(info, SIGINFO_SIZE)
    ret = _libc.syscall(ctypes.c_long(number), ctypes.c_long(target), ctypes.c_long(signo),
                        buf, *(ctypes.c_long(x) for x in rest))
    if ret < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def send_siginfo(pidfd: int, signo: int, code: int, pid: int, uid: int, value: int) -> None:
    """pidfd_send_signal(pidfd, signo, &info, 0) with info = {signo, code, pid, uid, value}.

    OSError with the kernel's errno: EPERM (no kill permission, or a
    si_code >= 0 or SI_TKILL), ESRCH (the process is gone), EBADF, EINVAL."""
    info = pack_siginfo(signo, code, pid, uid, value)
    _int("pidfd", pidfd, 0, 1 << 31)
    _syscall(_numbers()[0], pidfd, signo, info, 0)


def sigqueue_via_pid(pid: int, signo: int, code: int, pid_field: int, uid: int,
                     value: int) -> None:
    """rt_sigqueueinfo(pid, signo, &info): send_siginfo for a process known only by pid.

    A pid can be reused once its process is reaped: prefer a pidfd."""
    info = pack_siginfo(signo, code, pid_field, uid, value)
    _int("pid", pid, 1, 1 << 31)
    _syscall(_numbers()[1], pid, signo, info)
