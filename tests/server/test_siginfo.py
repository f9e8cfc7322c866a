"""uipc.server.siginfo: a real signal reaches a real process with the siginfo we chose.

The receiver is a forked child that blocks the signal and takes it with
sigtimedwait(2) through ctypes, so the whole 128-byte siginfo_t comes back
(Python's sigwaitinfo result has no si_value).
"""
from __future__ import annotations

import ctypes
import errno
import os
import select
import signal

import pytest

from tests.helpers import NOBODY, Child, as_nobody, errno_of
from uipc.server.siginfo import (SI_MESGQ, SI_TKILL, SIGINFO_SIZE, pack_siginfo,
                                 send_siginfo, sigqueue_via_pid, unpack_siginfo)

SIGNO = signal.SIGRTMIN + 3
#: a pointer-sized si_value, so both halves of the union are checked
VALUE = 0x1122334455667788
SENDER_PID, SENDER_UID = 4242, 1234

_libc = ctypes.CDLL(None, use_errno=True)


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


def _sigset(signo: int) -> ctypes.Array:
    sset = ctypes.create_string_buffer(128)  # glibc's sigset_t
    assert _libc.sigemptyset(sset) == 0 and _libc.sigaddset(sset, signo) == 0
    return sset


def _wait_siginfo(signo: int, timeout: float) -> bytes:
    """sigtimedwait for ``signo`` (blocked already): the raw siginfo_t."""
    info = ctypes.create_string_buffer(SIGINFO_SIZE)
    ts = _Timespec(int(timeout), 0)
    got = _libc.sigtimedwait(_sigset(signo), info, ctypes.byref(ts))
    if got < 0:
        raise OSError(ctypes.get_errno(), "sigtimedwait")
    return info.raw


def _fields(raw: bytes) -> dict[str, int]:
    """The _rt fields of a siginfo_t, at the offsets of include/uapi/asm-generic/
    siginfo.h for 64-bit machines (written out here, not taken from the module)."""
    def at(off: int, size: int, signed: bool) -> int:
        return int.from_bytes(raw[off:off + size], "little", signed=signed)
    return {"si_signo": at(0, 4, True), "si_errno": at(4, 4, True), "si_code": at(8, 4, True),
            "si_pid": at(16, 4, True), "si_uid": at(20, 4, False), "si_value": at(24, 8, False)}


class _Ready:
    """A pipe the child writes one byte to once the signal is blocked."""

    def __init__(self) -> None:
        self.r, self.w = os.pipe()

    def tell(self) -> None:
        os.write(self.w, b"r")

    def wait(self, timeout: float = 10.0) -> None:
        assert select.select([self.r], [], [], timeout)[0], "child never got ready"
        os.close(self.r)
        os.close(self.w)


def _receiver(signo: int = SIGNO) -> tuple[Child, _Ready]:
    """A child that blocks ``signo``, says so, and returns the siginfo it then takes."""
    ready = _Ready()

    def run() -> dict[str, int]:
        signal.pthread_sigmask(signal.SIG_BLOCK, {signo})
        ready.tell()
        return _fields(_wait_siginfo(signo, 20.0))
    child = Child(run)
    ready.wait()
    return child, ready


def _expected(value: int = VALUE) -> dict[str, int]:
    return {"si_signo": SIGNO, "si_errno": 0, "si_code": SI_MESGQ,
            "si_pid": SENDER_PID, "si_uid": SENDER_UID, "si_value": value}


def test_layout_is_the_kernels() -> None:
    """Offsets of include/uapi/asm-generic/siginfo.h on a 64-bit machine."""
    raw = pack_siginfo(SIGNO, SI_MESGQ, SENDER_PID, SENDER_UID, VALUE)
    assert len(raw) == 128
    assert _fields(raw) == unpack_siginfo(raw) == _expected()
    assert raw[12:16] == bytes(4) and raw[32:] == bytes(96)


def test_pidfd_delivers_every_field() -> None:
    child, _ = _receiver()
    pidfd = os.pidfd_open(child.pid)
    try:
        send_siginfo(pidfd, SIGNO, SI_MESGQ, SENDER_PID, SENDER_UID, VALUE)
    finally:
        os.close(pidfd)
    assert child.result() == _expected()


def test_pid_fallback_delivers_every_field() -> None:
    child, _ = _receiver()
    sigqueue_via_pid(child.pid, SIGNO, SI_MESGQ, SENDER_PID, SENDER_UID, VALUE)
    assert child.result() == _expected()


def test_negative_int_value_reads_back_as_sival_int() -> None:
    child, _ = _receiver()
    pidfd = os.pidfd_open(child.pid)
    try:
        send_siginfo(pidfd, SIGNO, SI_MESGQ, SENDER_PID, SENDER_UID, -5)
    finally:
        os.close(pidfd)
    got = child.result()
    assert got["si_value"] == (1 << 64) - 5
    assert ctypes.c_int(got["si_value"] & 0xFFFFFFFF).value == -5


def _blocked_target() -> tuple[Child, int]:
    """A root child with SIGNO blocked, parked on a pipe; it returns its pending
    signals when the pipe is written.  (child, the pipe's write end)"""
    ready = _Ready()
    go_r, go_w = os.pipe()

    def run() -> list[int]:
        signal.pthread_sigmask(signal.SIG_BLOCK, {SIGNO})
        ready.tell()
        select.select([go_r], [], [], 20.0)
        return sorted(int(s) for s in signal.sigpending())
    child = Child(run)
    os.close(go_r)
    ready.wait()
    return child, go_w


def _finish(child: Child, go_w: int) -> list[int]:
    os.write(go_w, b"g")
    os.close(go_w)
    return child.result()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to setuid the sender")
def test_unprivileged_sender_to_another_uid_is_eperm() -> None:
    """check_kill_permission: uid 65534 cannot signal root's process, by pidfd or pid."""
    target, go = _blocked_target()
    pidfd = os.pidfd_open(target.pid)
    try:
        got = as_nobody(lambda: (
            os.getuid(),
            errno_of(lambda: send_siginfo(pidfd, SIGNO, SI_MESGQ, 1, NOBODY, 7)),
            errno_of(lambda: sigqueue_via_pid(target.pid, SIGNO, SI_MESGQ, 1, NOBODY, 7))))
    finally:
        os.close(pidfd)
        pending = _finish(target, go)
    assert got == (NOBODY, errno.EPERM, errno.EPERM)
    assert SIGNO not in pending


@pytest.mark.parametrize("code", [0, SI_TKILL])
def test_kernel_codes_to_another_process_are_eperm(code: int) -> None:
    """do_pidfd_send_signal: no one but the target itself may claim SI_USER or SI_TKILL."""
    target, go = _blocked_target()
    pidfd = os.pidfd_open(target.pid)
    try:
        by_pidfd = errno_of(lambda: send_siginfo(pidfd, SIGNO, code, 1, 0, 7))
        by_pid = errno_of(lambda: sigqueue_via_pid(target.pid, SIGNO, code, 1, 0, 7))
    finally:
        os.close(pidfd)
        pending = _finish(target, go)
    assert (by_pidfd, by_pid) == (errno.EPERM, errno.EPERM)
    assert SIGNO not in pending


def test_reaped_process_is_esrch() -> None:
    """A pidfd outlives its process: sending to it is ESRCH, never another process."""
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    pidfd = os.pidfd_open(pid)
    try:
        os.waitpid(pid, 0)
        assert errno_of(lambda: send_siginfo(pidfd, SIGNO, SI_MESGQ, 1, 0, 7)) == errno.ESRCH
    finally:
        os.close(pidfd)


@pytest.mark.parametrize("args, exc", [
    ((SIGNO, SI_MESGQ, 1, -1, 0), ValueError),          # uid is unsigned
    ((SIGNO, SI_MESGQ, 1, 0, 1 << 64), ValueError),     # sigval is 64 bits
    ((0, SI_MESGQ, 1, 0, 0), ValueError),               # no signal 0
    ((SIGNO, SI_MESGQ, 1, 0, "7"), TypeError),
])
def test_bad_fields_are_refused_before_the_syscall(args: tuple, exc: type) -> None:
    with pytest.raises(exc):
        pack_siginfo(*args)
