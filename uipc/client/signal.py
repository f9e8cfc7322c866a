"""Signals between uipc processes and signalfd, in the client.

``kill``, ``sigqueue``, ``sigprocmask``, ``sigpending`` and ``signalfd``
have Linux's meaning over *uipc's* signal state, which the daemon keeps:
the mask ``sigprocmask`` sets is this process's uipc mask, not the real one
(``signal.pthread_sigmask`` is untouched).  A uipc signal the target does
not block in its uipc mask arrives as a real signal the daemon sends, which
a ``signal.signal`` handler catches; a blocked one stays pending in the
daemon, where ``sigpending`` sees it and a ``signalfd`` reads it.  Signal
numbers are the kernel's (SIGRTMIN is 32 there; glibc's, and Python's
``signal.SIGRTMIN``, is 34).  Sets are iterables of signal numbers, as
``signal.pthread_sigmask`` takes them, and come back as sets of ints.

Targets are processes the daemon knows (that made a uipc call): any other
pid is ESRCH.  The RLIMIT_SIGPENDING the kernel would read from the target
is the caller's soft limit, sent with each kill and sigqueue.
"""
from __future__ import annotations

import errno
import os
import resource
from typing import Any, Iterable

from uipc import protocol as P
from uipc.client.args import c_int, int_in, _int
from uipc.client.connection import call, hold_anchor, register_fork_files
from uipc.client.files import _held, fd_inode, read, received
from uipc.uapi.signalfd import (
    NSIG, SFD_CLOEXEC, SFD_NONBLOCK, SIG_BLOCK, SIG_SETMASK, SIG_UNBLOCK, SIGKILL, SIGSTOP,
    SIGNALFD_SIGINFO_SIZE, SignalfdSiginfo,
)

__all__ = ["kill", "sigqueue", "sigprocmask", "sigpending", "signalfd", "read_siginfo",
           "SFD_CLOEXEC", "SFD_NONBLOCK", "SIG_BLOCK", "SIG_UNBLOCK", "SIG_SETMASK"]

_KILL = P.OPS_BY_NAME["kill"]
_SIGQUEUE = P.OPS_BY_NAME["rt_sigqueueinfo"]
_SIGPROCMASK = P.OPS_BY_NAME["rt_sigprocmask"]
_SIGPENDING = P.OPS_BY_NAME["rt_sigpending"]
_SIGNALFD = P.OPS_BY_NAME["signalfd4"]
_INT = P.INT_RESULT.unpack_from
_U64 = (1 << 64) - 1
#: the most records read_siginfo asks for by default
READ_RECORDS = 64

#: this process's uipc mask as the daemon last said (a fork child reports
#: its fork when it is not empty, so that it inherits the mask)
_blocked = 0


def _blocking() -> bool:
    return bool(_blocked)


register_fork_files(_blocking)


def _sigset(name: str, signals: Any) -> int:
    """An iterable of signal numbers (1 .. 64) as a 64-bit sigset."""
    wanted = f"{name} must be an iterable of signal numbers, not {type(signals).__name__}"
    if isinstance(signals, (str, bytes)):
        raise TypeError(wanted)
    try:
        numbers = list(signals)
    except TypeError:
        raise TypeError(wanted) from None
    mask = 0
    for sig in numbers:
        n = _int("signal number", sig)
        if not 1 <= n <= NSIG:
            raise ValueError(f"signal number {n} out of range [1, {NSIG}]")
        mask |= 1 << (n - 1)
    return mask


def _signals(mask: int) -> set[int]:
    mask &= _U64
    return {n for n in range(1, NSIG + 1) if mask >> (n - 1) & 1}


def rlimit_sigpending() -> int:
    """The soft RLIMIT_SIGPENDING (RLIM_INFINITY as the largest u64)."""
    soft = resource.getrlimit(resource.RLIMIT_SIGPENDING)[0]
    return _U64 if soft == resource.RLIM_INFINITY else soft


def kill(pid: int, sig: int) -> None:
    """Send ``sig`` to the uipc process ``pid`` (0: only check that it may).

    OSError: ESRCH (no such uipc process), EINVAL (a bad signal; pid <= 0:
    process groups are not modelled), EPERM.  See kill(2)."""
    call(_KILL, (c_int("pid", pid), c_int("sig", sig), rlimit_sigpending()))


def sigqueue(pid: int, sig: int, value: int = 0) -> None:
    """Queue ``sig`` with ``value`` (the union sigval: an int, or any 64-bit
    pattern as sival_ptr) for the uipc process ``pid``.

    OSError: ESRCH, EINVAL, EPERM, EAGAIN (RLIMIT_SIGPENDING reached for a
    real-time signal).  See sigqueue(3)."""
    v = int_in("value", value, -(1 << 63), _U64) & _U64
    v = v - (1 << 64) if v >> 63 else v  # the wire's i64
    call(_SIGQUEUE, (c_int("pid", pid), c_int("sig", sig), v, rlimit_sigpending()))


def sigprocmask(how: int, mask: Iterable[int] | None) -> set[int]:
    """Change this process's uipc mask (SIG_BLOCK, SIG_UNBLOCK, SIG_SETMASK;
    ``mask`` None: only read it) and return the old one.  SIGKILL and SIGSTOP
    are never blocked.  Pending signals it unblocks arrive (as real signals)
    before it returns.  OSError EINVAL for a bad ``how``.  See sigprocmask(2)."""
    global _blocked
    how = c_int("how", how)
    has = mask is not None
    new = _sigset("mask", mask) if has else 0
    payload = call(_SIGPROCMASK, (how, int(has), new))[0]
    old = _INT(payload)[0] & _U64
    if has:
        _blocked = {SIG_BLOCK: old | new, SIG_UNBLOCK: old & ~new}.get(how, new)
        _blocked &= ~(1 << (SIGKILL - 1) | 1 << (SIGSTOP - 1))
    else:
        _blocked = old
    return _signals(old)


def sigpending() -> set[int]:
    """The uipc signals pending for this process that its uipc mask blocks.
    See sigpending(2)."""
    return _signals(_INT(call(_SIGPENDING, ())[0])[0])


def signalfd(fd: int, mask: Iterable[int], flags: int = 0) -> int:
    """A descriptor whose reads return this process's pending uipc signals
    of ``mask`` (block them first with ``sigprocmask``), 128-byte
    ``signalfd_siginfo`` records (``read_siginfo`` decodes them); select,
    poll and asyncio see it readable while one is pending.  ``fd`` -1 makes
    one; a signalfd descriptor gets the new mask (and is returned).

    Flags: SFD_NONBLOCK, SFD_CLOEXEC.  OSError EINVAL (bad flags, or ``fd``
    is not a signalfd), EBADF.  See signalfd(2)."""
    fd = c_int("fd", fd)
    bits = _sigset("mask", mask)
    flags = c_int("flags", flags)
    if fd == -1:
        hold_anchor()  # the process's descriptors live as long as it does
        _, fds = call(_SIGNALFD, (-1, bits, flags))
        return received(fds, "signalfd", bool(flags & SFD_CLOEXEC))
    ino = fd_inode(fd)
    if not ino:
        raise OSError(errno.EBADF, "signalfd: the descriptor is not open")
    inheritable = os.get_inheritable(fd)
    _, fds = call(_SIGNALFD, (ino, bits, flags))
    new = received(fds, "signalfd", not inheritable)
    # the daemon made a second file on the same context: it takes the old
    # descriptor's number (the old file goes with its last descriptor)
    os.dup2(new, fd, inheritable=inheritable)
    os.close(new)
    _held.pop(new, None)
    _held[fd] = fd_inode(fd)
    return fd


def read_siginfo(fd: int, max_records: int = READ_RECORDS) -> list[SignalfdSiginfo]:
    """Read a signalfd: the signals dequeued (at least one; blocking unless
    SFD_NONBLOCK, then OSError EAGAIN with none), at most ``max_records``."""
    n = int_in("max_records", max_records, 1, 1 << 20)
    return SignalfdSiginfo.unpack_all(read(fd, n * SIGNALFD_SIGINFO_SIZE))
