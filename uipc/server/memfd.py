"""Shared-memory segments as memfds: the daemon's allocator for kernel/shm.py.

A segment's bytes live in a memfd the daemon owns; attaching processes get a
descriptor with SCM_RIGHTS and map it, so the bytes never cross the socket.
A read-only attach gets a descriptor reopened O_RDONLY through /proc, so the
client cannot mprotect or remap it writable.
"""
from __future__ import annotations

import os


class MemfdSegment:
    """The memory of one segment."""

    __slots__ = ("fd", "size")

    def __init__(self, fd: int, size: int) -> None:
        self.fd = fd
        self.size = size


class MemfdAllocator:
    """alloc/free for kernel/shm.py; fd_of hands out descriptors to send."""

    def alloc(self, size: int) -> MemfdSegment:
        fd = os.memfd_create("uipc-shm", os.MFD_CLOEXEC)
        try:
            os.ftruncate(fd, size)
        except OSError:
            os.close(fd)
            raise
        return MemfdSegment(fd, size)

    def free(self, seg: MemfdSegment) -> None:
        if seg.fd >= 0:
            os.close(seg.fd)
            seg.fd = -1

    def fd_of(self, seg: MemfdSegment, readonly: bool) -> int:
        """A new descriptor for the client (the caller closes it after sending)."""
        if readonly:
            return os.open(f"/proc/self/fd/{seg.fd}", os.O_RDONLY | os.O_CLOEXEC)
        return os.dup(seg.fd)
