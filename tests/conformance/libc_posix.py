"""glibc's POSIX named semaphores and shared memory through ctypes, with
uipc's Python API: the kernel side of tests/conformance/scenarios_posix.py.

Neither is a system call: glibc makes them files in /dev/shm (sem_open
"/dev/shm/sem.NAME", 32 bytes mmap()ed, a futex word in it; shm_open
"/dev/shm/NAME" opened O_NOFOLLOW|O_CLOEXEC), so what they answer is
glibc's name rules (posix/shm-directory.c __shm_get_name: leading slashes
dropped, empty or inner '/' EINVAL) plus tmpfs's open/unlink/permission
rules.  The kernel side therefore runs them on a private tmpfs on /dev/shm
(:func:`private_dev_shm`, called by harness.run_on_kernel when a scenario
asks for it), never on the machine's.
"""
from __future__ import annotations

import ctypes
import os

from tests.conformance.libc_mq import timespec
from tests.conformance.libc_msg import _check, libc

CLONE_NEWNS = 0x00020000
MS_NOSUID, MS_NODEV, MS_REC, MS_PRIVATE = 0x2, 0x4, 0x4000, 0x40000

libc.sem_open.restype = ctypes.c_void_p
# sem_open is variadic; the 4-argument form (O_CREAT: mode, unsigned value)
libc.sem_open.argtypes = [ctypes.c_char_p, ctypes.c_int, ctypes.c_uint, ctypes.c_uint]
for _fn in ("sem_post", "sem_wait", "sem_trywait", "sem_close"):
    getattr(libc, _fn).argtypes = [ctypes.c_void_p]
libc.sem_timedwait.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
libc.sem_getvalue.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_int)]
libc.sem_unlink.argtypes = [ctypes.c_char_p]
libc.shm_open.argtypes = [ctypes.c_char_p, ctypes.c_int, ctypes.c_uint]
libc.shm_unlink.argtypes = [ctypes.c_char_p]
libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong,
                       ctypes.c_char_p]


class Sem:
    """An open named semaphore: glibc's sem_t* (its mapping of the file).

    glibc maps a name once per process and counts sem_open calls
    (sem_routines.c): sem_close unmaps on the last one.  Using the handle
    after that touches unmapped memory, so scenarios never do."""

    def __init__(self, ptr: int) -> None:
        self.ptr = ptr

    def __repr__(self) -> str:
        return f"<sem_t* {self.ptr:#x}>"


def sem_open(name: str, oflag: int, mode: int = 0o600, value: int = 0) -> Sem:
    """``value`` is C's unsigned int: -1 is 4294967295, above SEM_VALUE_MAX (EINVAL)."""
    ptr = libc.sem_open(os.fsencode(name), oflag, mode, value & 0xFFFFFFFF)
    if not ptr:  # SEM_FAILED is (sem_t *) 0
        _check(-1)
    return Sem(ptr)


def sem_post(sem: Sem) -> None:
    _check(libc.sem_post(sem.ptr))


def sem_wait(sem: Sem) -> None:
    _check(libc.sem_wait(sem.ptr))


def sem_trywait(sem: Sem) -> None:
    _check(libc.sem_trywait(sem.ptr))


def sem_timedwait(sem: Sem, abs_timeout: float) -> None:
    """glibc checks tv_nsec first (EINVAL even if the value is > 0); a
    negative tv_sec is a time long past (ETIMEDOUT if it would block)."""
    _check(libc.sem_timedwait(sem.ptr, ctypes.byref(timespec(abs_timeout))))


def sem_getvalue(sem: Sem) -> int:
    v = ctypes.c_int()
    _check(libc.sem_getvalue(sem.ptr, ctypes.byref(v)))
    return v.value


def sem_close(sem: Sem) -> None:
    _check(libc.sem_close(sem.ptr))


def sem_unlink(name: str) -> None:
    _check(libc.sem_unlink(os.fsencode(name)))


def shm_open(name: str, oflag: int, mode: int = 0o600) -> int:
    return _check(libc.shm_open(os.fsencode(name), oflag, mode))


def shm_unlink(name: str) -> None:
    _check(libc.shm_unlink(os.fsencode(name)))


def private_dev_shm() -> None:
    """A mount namespace of our own with a fresh tmpfs (1777) on /dev/shm,
    so glibc's semaphore and shared memory files never reach the machine's.

    / is made private first: on a shared / our mount would propagate back
    to the parent namespace.  The tmpfs goes away with the last process in
    the namespace."""
    _check(libc.unshare(CLONE_NEWNS))
    _check(libc.mount(None, b"/", None, MS_REC | MS_PRIVATE, None))
    _check(libc.mount(b"tmpfs", b"/dev/shm", b"tmpfs", MS_NOSUID | MS_NODEV, b"mode=1777"))
