"""Signals and signalfd as user space sees them: include/uapi/asm-generic/
signal.h and signal-defs.h (numbers, sigprocmask's ``how``), asm-generic/
siginfo.h (si_code values), include/uapi/linux/signalfd.h (SFD_* flags and
``struct signalfd_siginfo``, the 128-byte record a signalfd read returns).

Numbers are the kernel's: SIGRTMIN is 32 here, where glibc (and Python's
``signal.SIGRTMIN``) say 34 because glibc keeps 32 and 33 for itself.
"""
from __future__ import annotations

import struct
from dataclasses import astuple, dataclass

__all__ = [
    "SFD_CLOEXEC", "SFD_NONBLOCK", "SIG_BLOCK", "SIG_UNBLOCK", "SIG_SETMASK", "SI_USER",
    "SI_KERNEL", "SI_QUEUE", "SI_TKILL", "SignalfdSiginfo", "SIGNALFD_SIGINFO_SIZE",
]

#: _NSIG: signals are 1 .. 64
NSIG = 64
SIGRTMIN = 32
SIGRTMAX = NSIG

# include/uapi/asm-generic/signal.h (x86_64 and aarch64 agree)
SIGHUP, SIGINT, SIGQUIT, SIGILL, SIGTRAP, SIGABRT, SIGBUS, SIGFPE = 1, 2, 3, 4, 5, 6, 7, 8
SIGKILL, SIGUSR1, SIGSEGV, SIGUSR2, SIGPIPE, SIGALRM, SIGTERM = 9, 10, 11, 12, 13, 14, 15
SIGSTKFLT, SIGCHLD, SIGCONT, SIGSTOP, SIGTSTP, SIGTTIN, SIGTTOU = 16, 17, 18, 19, 20, 21, 22
SIGURG, SIGXCPU, SIGXFSZ, SIGVTALRM, SIGPROF, SIGWINCH, SIGIO = 23, 24, 25, 26, 27, 28, 29
SIGPWR, SIGSYS = 30, 31

# include/uapi/asm-generic/signal-defs.h: sigprocmask's how
SIG_BLOCK = 0
SIG_UNBLOCK = 1
SIG_SETMASK = 2

# include/uapi/asm-generic/siginfo.h: si_code
SI_USER = 0          # kill()
SI_KERNEL = 0x80     # sent by the kernel
SI_QUEUE = -1        # sigqueue()
SI_MESGQ = -3        # a POSIX queue's notification
SI_TKILL = -6        # tkill() / tgkill()

# include/uapi/linux/signalfd.h (the O_* values of x86_64 and aarch64)
SFD_CLOEXEC = 0o2000000
SFD_NONBLOCK = 0o4000

#: struct signalfd_siginfo: u32 signo, s32 errno, s32 code, u32 pid, u32 uid,
#: s32 fd, u32 tid, u32 band, u32 overrun, u32 trapno, s32 status, s32 int,
#: u64 ptr, u64 utime, u64 stime, u64 addr, u16 addr_lsb, u16 __pad2,
#: s32 syscall, u64 call_addr, u32 arch, u8 __pad[28]
_LAYOUT = struct.Struct("<IiiIIiIIIIiiQQQQHxxiQI28x")
SIGNALFD_SIGINFO_SIZE = _LAYOUT.size
assert SIGNALFD_SIGINFO_SIZE == 128


@dataclass(frozen=True, slots=True, kw_only=True)
class SignalfdSiginfo:
    """struct signalfd_siginfo: one signal a signalfd read dequeued.

    ``signalfd_copyinfo`` fills what the signal's siginfo layout has and
    leaves the rest 0: ssi_pid/ssi_uid for kill() (SI_USER), those and
    ssi_int/ssi_ptr (the union sigval: its int half and all 64 bits) for
    sigqueue() and other negative codes.
    """

    ssi_signo: int
    ssi_errno: int = 0
    ssi_code: int = 0
    ssi_pid: int = 0
    ssi_uid: int = 0
    ssi_fd: int = 0
    ssi_tid: int = 0
    ssi_band: int = 0
    ssi_overrun: int = 0
    ssi_trapno: int = 0
    ssi_status: int = 0
    ssi_int: int = 0
    ssi_ptr: int = 0
    ssi_utime: int = 0
    ssi_stime: int = 0
    ssi_addr: int = 0
    ssi_addr_lsb: int = 0
    ssi_syscall: int = 0
    ssi_call_addr: int = 0
    ssi_arch: int = 0

    def to_bytes(self) -> bytes:
        """The 128 bytes a read(2) of a signalfd returns for it."""
        return _LAYOUT.pack(*astuple(self))

    @classmethod
    def from_bytes(cls, raw: bytes | memoryview) -> "SignalfdSiginfo":
        """One record; ValueError unless ``raw`` is exactly 128 bytes."""
        if len(raw) != SIGNALFD_SIGINFO_SIZE:
            raise ValueError(f"a signalfd_siginfo is {SIGNALFD_SIGINFO_SIZE} bytes, not {len(raw)}")
        return cls(**dict(zip(_FIELDS, _LAYOUT.unpack(raw))))

    @classmethod
    def unpack_all(cls, data: bytes | memoryview) -> list["SignalfdSiginfo"]:
        """Every record of a read's result (a multiple of 128 bytes)."""
        if len(data) % SIGNALFD_SIGINFO_SIZE:
            raise ValueError(f"{len(data)} bytes is not a whole number of signalfd_siginfo "
                             f"records ({SIGNALFD_SIGINFO_SIZE} bytes each)")
        view = memoryview(data)
        return [cls.from_bytes(view[i:i + SIGNALFD_SIGINFO_SIZE])
                for i in range(0, len(data), SIGNALFD_SIGINFO_SIZE)]


_FIELDS = SignalfdSiginfo.__dataclass_fields__.keys()
