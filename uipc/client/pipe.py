"""uipc's pipes and FIFOs in the client: pipe2, mkfifo, open, unlink, dup, fcntl,
splice and tee (whose data moves inside the daemon).

Each end of a pipe is a uipc descriptor (uipc/client/files.py): a real
descriptor, its doorbell, whose readiness follows the end as select() would
see it; ``uipc.read``/``write``/``close``/``poll`` take it.  FIFOs are named
in the uipc namespace's own directory (a flat one, like /dev/shm), not on
the host's file system: ``uipc.mkfifo("/jobs")`` makes a FIFO other uipc
processes of the namespace ``uipc.open`` by that name.

glibc's and the VFS's parts done here: the umask applied to mkfifo's mode;
``dup`` duplicates the real descriptor (which shares its open file, hence
the uipc file, its flags and its readiness), without FD_CLOEXEC as dup(2)
leaves it.  Open flags travel with asm-generic's numbers (x86_64's); on
arm64 the four that differ are translated both ways.
"""
from __future__ import annotations

import errno
import fcntl as _fcntl
import operator
import os
import platform
from typing import Any

from uipc import protocol as P
from uipc.client.args import c_int, c_long, size_t
from uipc.client.connection import call, hold_anchor
from uipc.client.files import _held, fd_inode, received
from uipc.client.mqueue import umask
from uipc.uapi import fcntl as F

_PIPE2 = P.OPS_BY_NAME["pipe2"]
_MKNOD = P.OPS_BY_NAME["mknod"]
_OPEN = P.OPS_BY_NAME["open"]
_UNLINK = P.OPS_BY_NAME["unlink"]
_DUP = P.OPS_BY_NAME["dup"]
_FCNTL = P.OPS_BY_NAME["fcntl"]
_SPLICE = P.OPS_BY_NAME["splice"]
_TEE = P.OPS_BY_NAME["tee"]
_INT = P.INT_RESULT.unpack_from

#: this machine's values, as os and fcntl name them (what callers pass)
O_DIRECT = os.O_DIRECT
F_GETFL, F_SETFL = _fcntl.F_GETFL, _fcntl.F_SETFL
F_DUPFD, F_DUPFD_CLOEXEC = _fcntl.F_DUPFD, _fcntl.F_DUPFD_CLOEXEC
F_SETPIPE_SZ, F_GETPIPE_SZ = F.F_SETPIPE_SZ, F.F_GETPIPE_SZ
PIPE_BUF = F.PIPE_BUF
S_IFIFO = 0o010000
#: include/uapi/linux/splice.h: splice(2)/tee(2) flags
SPLICE_F_MOVE, SPLICE_F_NONBLOCK, SPLICE_F_MORE, SPLICE_F_GIFT = 1, 2, 4, 8

#: arm64's open flags that differ from asm-generic's: (this machine's, the wire's)
_ARM64_FLAGS = ((0o40000, F.O_DIRECTORY), (0o100000, F.O_NOFOLLOW), (0o200000, F.O_DIRECT),
                (0o400000, F.O_LARGEFILE))
_SWAPPED = _ARM64_FLAGS if platform.machine() in ("aarch64", "arm64") else ()
_SWAP_MASK = sum(a | b for a, b in _SWAPPED)


def flags_to_wire(flags: int) -> int:
    """This machine's open flags in asm-generic's numbers."""
    if not _SWAPPED:
        return flags
    out = flags & ~_SWAP_MASK
    for here, wire in _SWAPPED:
        if flags & here:
            out |= wire
    return out


def flags_from_wire(flags: int) -> int:
    """asm-generic's open flags in this machine's numbers (F_GETFL's answer)."""
    if not _SWAPPED:
        return flags
    out = flags & ~_SWAP_MASK
    for here, wire in _SWAPPED:
        if flags & wire:
            out |= here
    return out


def _path(path: Any) -> bytes:
    """A path as open(2) takes it: str, bytes or os.PathLike, no NUL."""
    p = os.fspath(path)
    if isinstance(p, bytes):
        p = os.fsdecode(p)
    if not isinstance(p, str):
        raise TypeError(f"path must be str, bytes or os.PathLike, not {type(path).__name__}")
    if "\0" in p:
        raise ValueError("embedded null byte")
    return p.encode("utf-8", "surrogateescape")


def pipe2(flags: int = 0) -> tuple[int, int]:
    """pipe2(2): (read end, write end); flags O_NONBLOCK, O_CLOEXEC, O_DIRECT
    (packet mode).  Each end is a uipc descriptor: read, write, close and
    poll it with uipc's."""
    hold_anchor()  # the process's descriptors live as long as it does
    wire = flags_to_wire(c_int("flags", flags))
    _, fds = call(_PIPE2, (wire,))
    if len(fds) != 2:
        for fd in fds:
            os.close(fd)
        raise OSError(errno.EIO, f"uipc daemon sent {len(fds)} descriptors with pipe2, not 2")
    cloexec = bool(flags & os.O_CLOEXEC)
    return received([fds[0]], "pipe2", cloexec), received([fds[1]], "pipe2", cloexec)


def mkfifo(path: Any, mode: int = 0o666) -> None:
    """mkfifo(3) in the namespace's FIFO directory: ``mode`` less the umask."""
    bits = c_int("mode", mode) & 0o7777 & ~umask()
    call(_MKNOD, (S_IFIFO | bits,), _path(path))


def open(path: Any, flags: int) -> int:  # noqa: A001 - open(2)'s name
    """open(2) of a FIFO of the namespace: O_RDONLY waits for a writer and
    O_WRONLY for a reader unless O_NONBLOCK (then ENXIO without a reader),
    O_RDWR never waits.  Returns a uipc descriptor."""
    hold_anchor()
    wire = flags_to_wire(c_int("flags", flags))
    _, fds = call(_OPEN, (wire,), _path(path))
    return received(fds, "open", bool(flags & os.O_CLOEXEC))


def unlink(path: Any) -> None:
    """unlink(2) of a FIFO of the namespace; open descriptors keep its pipe."""
    call(_UNLINK, (), _path(path))


def dup(fd: int, min_fd: int = 0, cloexec: bool = False) -> int:
    """dup(2) of a uipc descriptor (F_DUPFD from ``min_fd``; with ``cloexec``,
    F_DUPFD_CLOEXEC): a new descriptor of the same open file, sharing its
    flags and readiness; without FD_CLOEXEC unless asked."""
    ino = fd_inode(fd)
    call(_DUP, (ino, int(bool(cloexec))))
    new = _fcntl.fcntl(fd, F_DUPFD_CLOEXEC if cloexec else F_DUPFD, c_int("min_fd", min_fd))
    _held[new] = ino
    return new


def fcntl(fd: int, cmd: int, arg: int = 0) -> int:
    """fcntl(2) of a uipc descriptor: F_GETFL, F_SETFL (O_NONBLOCK, O_APPEND,
    O_NOATIME; O_DIRECT on pipes), F_GETPIPE_SZ, F_SETPIPE_SZ, and F_DUPFD /
    F_DUPFD_CLOEXEC (as :func:`dup`).  The open file's flags are uipc's, not
    the doorbell's: ask here, not fcntl.fcntl."""
    cmd = c_int("cmd", cmd)
    if cmd in (F_DUPFD, F_DUPFD_CLOEXEC):
        return dup(fd, arg, cloexec=cmd == F_DUPFD_CLOEXEC)
    if cmd == F_SETFL:
        value = flags_to_wire(c_int("arg", arg))
    else:
        try:
            value = operator.index(arg)
        except TypeError:
            raise TypeError(f"arg must be an int, not {type(arg).__name__}") from None
    # an unsigned long, as the kernel takes it (F_SETPIPE_SZ then uses its low 32 bits)
    result = _INT(call(_FCNTL, (fd_inode(fd), cmd, value & 0xFFFFFFFFFFFFFFFF))[0])[0]
    return flags_from_wire(result) if cmd == F_GETFL else result


def _offset(name: str, value: Any) -> tuple[int, int]:
    """An offset argument on the wire: (1, 0) for None (a NULL pointer),
    else (0, the loff_t)."""
    if value is None:
        return 1, 0
    return 0, c_long(name, value)


def splice(fd_in: int, fd_out: int, len: int, flags: int = 0, *,  # noqa: A002 - splice(2)'s name
           off_in: Any = None, off_out: Any = None) -> int:
    """splice(2) between uipc descriptors: moves up to ``len`` bytes from the
    pipe ``fd_in`` into the pipe ``fd_out`` inside the daemon; returns the
    count (0 at EOF).  ``flags``: SPLICE_F_NONBLOCK (EAGAIN rather than
    waiting for data or room; O_NONBLOCK on either end does the same),
    SPLICE_F_MOVE, SPLICE_F_MORE, SPLICE_F_GIFT (accepted, no effect).
    uipc files are pipes or not seekable, so the only offsets that work are
    None: a number is passed on, and refused as Linux refuses it (ESPIPE
    for a pipe).  Between a pipe and another uipc file: EINVAL, as Linux."""
    in_null, in_off = _offset("off_in", off_in)
    out_null, out_off = _offset("off_out", off_out)
    args = (fd_inode(fd_in), in_null, in_off, fd_inode(fd_out), out_null, out_off,
            size_t("len", len) & 0xFFFFFFFFFFFFFFFF, c_int("flags", flags) & 0xFFFFFFFF)
    return _INT(call(_SPLICE, args)[0])[0]


def tee(fd_in: int, fd_out: int, len: int, flags: int = 0) -> int:  # noqa: A002
    """tee(2) between two uipc pipes: duplicates up to ``len`` bytes of what
    ``fd_in`` holds into ``fd_out`` without consuming them; returns the count
    (0 if ``fd_in`` is empty and has no writer).  ``flags`` as :func:`splice`."""
    args = (fd_inode(fd_in), fd_inode(fd_out), size_t("len", len) & 0xFFFFFFFFFFFFFFFF,
            c_int("flags", flags) & 0xFFFFFFFF)
    return _INT(call(_TEE, args)[0])[0]
