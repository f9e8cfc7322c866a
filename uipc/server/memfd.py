"""Shared-memory segments as memfds: the daemon's allocator for kernel/shm.py.

A segment's bytes live in a memfd the daemon owns; attaching processes get a
descriptor with SCM_RIGHTS and map it, so the bytes never cross the socket.
A read-only attach gets a descriptor reopened O_RDONLY through /proc, so the
client cannot mprotect or remap it writable.
"""
from __future__ import annotations

import errno
import os

from uipc.kernel.errors import KernelError


def commit_limit() -> int:
    """Bytes the overcommit heuristic would allow one mapping (RAM + swap)."""
    total = 0
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith(("MemTotal:", "SwapTotal:")):
                    total += int(line.split()[1]) * 1024
    except OSError:
        return 1 << 62
    return total


class MemfdSegment:
    """The memory of one segment."""

    __slots__ = ("fd", "size")

    def __init__(self, fd: int, size: int) -> None:
        self.fd = fd
        self.size = size


class MemfdAllocator:
    """alloc/free for kernel/shm.py; fd_of hands out descriptors to send."""

    def __init__(self) -> None:
        self.limit = commit_limit()

    def alloc(self, size: int, noreserve: bool = False) -> MemfdSegment:
        """A zero-filled memfd; ENOMEM past RAM + swap unless SHM_NORESERVE,
        as Linux's overcommit heuristic decides for shmem."""
        if size > self.limit and not noreserve:
            raise KernelError(errno.ENOMEM, f"{size} bytes exceed memory + swap ({self.limit}); "
                              "SHM_NORESERVE skips this check")
        fd = os.memfd_create("uipc-shm", os.MFD_CLOEXEC)
        try:
            os.ftruncate(fd, size)
        except OSError as exc:
            os.close(fd)
            raise KernelError(errno.ENOMEM, f"memfd of {size} bytes: {exc.strerror}") from None
        return MemfdSegment(fd, size)

    def resident_pages(self, seg: MemfdSegment) -> int:
        """Pages the segment really uses (shmem blocks), for SHM_INFO."""
        if seg.fd < 0:
            return 0
        return os.fstat(seg.fd).st_blocks * 512 // 4096

    def free(self, seg: MemfdSegment) -> None:
        if seg.fd >= 0:
            os.close(seg.fd)
            seg.fd = -1

    def fd_of(self, seg: MemfdSegment, readonly: bool) -> int:
        """A new descriptor for the client (the caller closes it after sending)."""
        if readonly:
            return os.open(f"/proc/self/fd/{seg.fd}", os.O_RDONLY | os.O_CLOEXEC)
        return os.dup(seg.fd)
