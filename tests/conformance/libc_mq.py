"""The real kernel's POSIX message queues through ctypes on glibc, with
uipc's Python API (names, signatures, results): the kernel side of the
mq_* conformance scenarios (tests/conformance/scenarios_mq.py).

glibc (2.34+: in libc.so.6 itself) does little besides the system call:
mq_open and mq_unlink reject a name without its leading '/' (EINVAL) and
hand the kernel the rest (ipc/mqueue.c do_mq_open looks it up as one
dentry of the namespace's internal mqueue mount); mq_unlink turns the
kernel's EPERM into EACCES; mq_notify with SIGEV_THREAD is glibc's own
netlink helper thread.  Layouts are glibc's on x86_64/aarch64 (LP64).

Timeouts are CLOCK_REALTIME seconds as a float, split like C does it
(:func:`timespec_parts`: both parts truncated toward zero), so a negative
non-integer gives a negative tv_nsec, which the kernel rejects (EINVAL),
and a negative integer a negative tv_sec (also EINVAL for mq_*:
timespec64_valid says "dates before 1970 are bogus").
"""
from __future__ import annotations

import ctypes
import os
from typing import Any, Callable

from tests.conformance.libc_msg import _check, libc
from uipc.uapi.mqueue import SIGEV_THREAD, MqAttr, SigEvent


class _MqAttr(ctypes.Structure):
    """struct mq_attr: four longs and four reserved ones."""

    _fields_ = [("mq_flags", ctypes.c_long), ("mq_maxmsg", ctypes.c_long),
                ("mq_msgsize", ctypes.c_long), ("mq_curmsgs", ctypes.c_long),
                ("_reserved", ctypes.c_long * 4)]


class Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


#: void (*)(union sigval): the union is one INTEGER eightbyte, passed as a long
_NOTIFY_FN = ctypes.CFUNCTYPE(None, ctypes.c_long)


class _SigEvent(ctypes.Structure):
    """struct sigevent (64 bytes): sigev_value, signo, notify, then the
    union whose SIGEV_THREAD member is (function, attributes)."""

    _fields_ = [("sigev_value", ctypes.c_long), ("sigev_signo", ctypes.c_int),
                ("sigev_notify", ctypes.c_int), ("sigev_notify_function", _NOTIFY_FN),
                ("sigev_notify_attributes", ctypes.c_void_p), ("_pad", ctypes.c_int * 8)]


assert ctypes.sizeof(_MqAttr) == 64 and ctypes.sizeof(_SigEvent) == 64

libc.mq_open.argtypes = [ctypes.c_char_p, ctypes.c_int, ctypes.c_uint, ctypes.POINTER(_MqAttr)]
libc.mq_timedsend.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint,
                              ctypes.POINTER(Timespec)]
libc.mq_timedreceive.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_size_t,
                                 ctypes.POINTER(ctypes.c_uint), ctypes.POINTER(Timespec)]
libc.mq_timedreceive.restype = ctypes.c_ssize_t
libc.mq_getattr.argtypes = [ctypes.c_int, ctypes.POINTER(_MqAttr)]
libc.mq_setattr.argtypes = [ctypes.c_int, ctypes.POINTER(_MqAttr), ctypes.POINTER(_MqAttr)]
libc.mq_notify.argtypes = [ctypes.c_int, ctypes.POINTER(_SigEvent)]
libc.mq_close.argtypes = [ctypes.c_int]
libc.mq_unlink.argtypes = [ctypes.c_char_p]

#: SIGEV_THREAD functions glibc may still call: ctypes callbacks must outlive it
_callbacks: list[Any] = []


def timespec_parts(abs_timeout: float) -> tuple[int, int]:
    """(tv_sec, tv_nsec) as C's ``ts.tv_sec = t; ts.tv_nsec = (t - ts.tv_sec) * 1e9``:
    both truncated toward zero, so -0.5 is (0, -500000000), an invalid timespec."""
    sec = int(abs_timeout)
    return sec, int((abs_timeout - sec) * 1e9)


def timespec(abs_timeout: float) -> Timespec:
    return Timespec(*timespec_parts(abs_timeout))


def _c_attr(attr: MqAttr) -> _MqAttr:
    return _MqAttr(attr.mq_flags, attr.mq_maxmsg, attr.mq_msgsize, attr.mq_curmsgs)


def _py_attr(a: _MqAttr) -> MqAttr:
    return MqAttr(mq_flags=a.mq_flags, mq_maxmsg=a.mq_maxmsg, mq_msgsize=a.mq_msgsize,
                  mq_curmsgs=a.mq_curmsgs)


def mq_open(name: str, oflag: int, mode: int = 0o600, attr: MqAttr | None = None) -> int:
    """glibc mq_open (variadic: mode and attr are read only with O_CREAT)."""
    c_attr = ctypes.byref(_c_attr(attr)) if attr is not None else None
    return _check(libc.mq_open(os.fsencode(name), oflag, mode, c_attr))


def mq_timedsend(mqd: int, msg: bytes, prio: int, abs_timeout: float | None) -> None:
    ts = ctypes.byref(timespec(abs_timeout)) if abs_timeout is not None else None
    _check(libc.mq_timedsend(mqd, bytes(msg), len(msg), prio & 0xFFFFFFFF, ts))


def mq_send(mqd: int, msg: bytes, prio: int = 0) -> None:
    """glibc mq_send is mq_timedsend with no timeout."""
    mq_timedsend(mqd, msg, prio, None)


def mq_timedreceive(mqd: int, msgsize: int, abs_timeout: float | None) -> tuple[bytes, int]:
    """The buffer is ``msgsize`` bytes: the kernel copies at most that
    (it refuses a buffer smaller than mq_msgsize with EMSGSIZE), so a
    negative size, which size_t would make huge, is refused here."""
    if msgsize < 0:
        raise ValueError("msgsize must be >= 0")
    buf = ctypes.create_string_buffer(max(msgsize, 1))
    prio = ctypes.c_uint()
    ts = ctypes.byref(timespec(abs_timeout)) if abs_timeout is not None else None
    n = _check(libc.mq_timedreceive(mqd, buf, msgsize, ctypes.byref(prio), ts))
    return buf.raw[:n], prio.value


def mq_receive(mqd: int, msgsize: int) -> tuple[bytes, int]:
    return mq_timedreceive(mqd, msgsize, None)


def mq_getattr(mqd: int) -> MqAttr:
    a = _MqAttr()
    _check(libc.mq_getattr(mqd, ctypes.byref(a)))
    return _py_attr(a)


def mq_setattr(mqd: int, attr: MqAttr) -> MqAttr:
    """mq_getsetattr: only mq_flags is read (O_NONBLOCK, anything else EINVAL)."""
    old = _MqAttr()
    _check(libc.mq_setattr(mqd, ctypes.byref(_c_attr(attr)), ctypes.byref(old)))
    return _py_attr(old)


def _notify_function(fn: Callable[[int], Any]) -> Any:
    cb = _NOTIFY_FN(lambda value: fn(value))
    _callbacks.append(cb)
    return cb


def mq_notify(mqd: int, notification: SigEvent | None) -> None:
    """SIGEV_THREAD's function is called by glibc, in a thread of its own,
    with sigev_value (glibc's helper thread reads the kernel's netlink cookie)."""
    if notification is None:
        _check(libc.mq_notify(mqd, None))
        return
    ev = _SigEvent(sigev_value=notification.sigev_value, sigev_signo=notification.sigev_signo,
                   sigev_notify=notification.sigev_notify)
    if notification.sigev_notify == SIGEV_THREAD:
        if notification.sigev_notify_function is None:  # glibc would call NULL from its thread
            raise ValueError("SIGEV_THREAD needs a sigev_notify_function")
        ev.sigev_notify_function = _notify_function(notification.sigev_notify_function)
    _check(libc.mq_notify(mqd, ctypes.byref(ev)))


def mq_close(mqd: int) -> None:
    """glibc mq_close is close(2): it also drops the caller's notification
    (ipc/mqueue.c mqueue_flush_file)."""
    _check(libc.mq_close(mqd))


def mq_unlink(name: str) -> None:
    _check(libc.mq_unlink(os.fsencode(name)))


def set_mq_sysctl(name: str, value: object) -> None:
    """Write /proc/sys/fs/mqueue/NAME (msg_max, msgsize_max, msg_default,
    msgsize_default, queues_max): per IPC namespace, so only ours changes.
    Out of range: OSError(EINVAL) from the write."""
    with open(f"/proc/sys/fs/mqueue/{name}", "w") as f:
        f.write(str(value))


def get_mq_sysctl(name: str) -> str:
    with open(f"/proc/sys/fs/mqueue/{name}") as f:
        return f.read().strip()
