"""mm/shmem.c, mm/memfd.c: memory objects, the one seam for shared memory.

A memory object is the memory behind a SysV segment (``shp->shm_file``, a
shmem inode in Linux) and, later, behind a shm_open object, a memfd, and the
key of a shared futex (get_futex_key: the object and an offset in it).  The
core never touches its bytes and never makes one itself: it asks the
kernel's injected :class:`MemoryAllocator` (``Kernel.memory``) for one,
gives it back to free it, and asks how many of its pages are resident.  What
a handle is belongs to the allocator: a memfd in the daemon
(uipc/server/memfd.py ``MemfdAllocator``, which also gives the descriptors
the daemon sends, ``fd_of``), a bytearray in unit tests
(:class:`BytearrayAllocator`).

Rules: ``alloc`` returns zero-filled memory of the size asked or raises
KernelError (ENOMEM; ENFILE when no descriptor is left for it) and makes
nothing on failure; with ``noreserve`` (SHM_NORESERVE, MAP_NORESERVE) no
commit check applies.  ``free`` is called once per handle, when the object
is destroyed; processes that mapped it keep their mappings, as in Linux.
"""
from __future__ import annotations

import errno
from typing import Any, Protocol, TypeAlias

from uipc.kernel.errors import KernelError

#: a handle to one memory object, opaque to the core: whatever the allocator
#: returned (a MemfdSegment in the daemon, a bytearray in tests)
MemoryObject: TypeAlias = Any


class MemoryAllocator(Protocol):
    """Where memory objects come from (shmem_kernel_file_setup's part)."""

    def alloc(self, size: int, noreserve: bool) -> MemoryObject:
        """Zero-filled memory of ``size`` bytes; KernelError(ENOMEM) if it cannot."""

    def free(self, obj: MemoryObject) -> None:
        """The object is destroyed; processes that mapped it keep their mappings."""

    def resident_pages(self, obj: MemoryObject) -> int:
        """Pages in memory, for SHM_INFO's shm_rss and /proc/sysvipc/shm."""

    def alloc_file(self, uid: int, gid: int, mode: int) -> MemoryObject:
        """An empty file-like object (shm_open's): its clients size it
        themselves (ftruncate), so it is not sealed; owned by uid/gid with
        ``mode`` as far as the allocator can make it so."""

    def truncate(self, obj: MemoryObject, size: int) -> None:
        """O_TRUNC: the file object's size becomes ``size``."""

    def size_of(self, obj: MemoryObject) -> int:
        """The object's size now (for introspection)."""


class FdMemoryAllocator(MemoryAllocator, Protocol):
    """The daemon's allocator: its objects can be sent as descriptors."""

    def fd_of(self, obj: MemoryObject, readonly: bool) -> int:
        """A new descriptor of the object, read-only if asked, for the caller
        to send and close."""


class BytearrayAllocator:
    """Memory as bytearrays, for unit tests; remembers what it freed."""

    def __init__(self, limit: int = 1 << 32) -> None:
        self.limit = limit
        self.freed: list[bytearray] = []

    def alloc(self, size: int, noreserve: bool) -> bytearray:
        if size > self.limit and not noreserve:
            raise KernelError(errno.ENOMEM, f"{size} bytes exceed the allocator's {self.limit}")
        return bytearray(min(size, self.limit))

    def free(self, handle: bytearray) -> None:
        self.freed.append(handle)

    def resident_pages(self, handle: bytearray) -> int:
        return 0

    def alloc_file(self, uid: int, gid: int, mode: int) -> bytearray:
        return bytearray()

    def truncate(self, handle: bytearray, size: int) -> None:
        del handle[size:]

    def size_of(self, handle: bytearray) -> int:
        return len(handle)
