"""Shared-memory segments as memfds: the daemon's allocator for kernel/shm.py.

A segment's bytes live in a memfd the daemon owns; attaching processes get a
descriptor with SCM_RIGHTS and map it, so the bytes never cross the socket.
A read-only attach gets a descriptor reopened O_RDONLY through /proc, so the
client cannot mprotect or remap it writable.

A descriptor is a capability, so the memfd must not grant more than the one
handed out: as Linux's do_shmat gives a SHM_RDONLY attach an O_RDONLY file,
and no path leads from it to a writable one.  Two locks make that so here:

* seals (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL), added once the memfd
  has its size: no attacher can ftruncate it (which would SIGBUS every other
  attacher) nor add F_SEAL_WRITE (which would break every writer);
* mode 0400 (see MEMFD_MODE): a reopen through /proc/<pid>/fd/N checks the
  inode's mode, and a fresh memfd's is 0777, so a read-only attacher of
  another uid could otherwise reopen its descriptor O_RDWR.
"""
from __future__ import annotations

import errno
import fcntl
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


class MemfdFile(MemfdSegment):
    """The memory of one shm_open file: unsealed (its clients ftruncate it),
    with the file's owner and mode, each open a new open file of it."""

    __slots__ = ()


#: the seals every segment's memfd carries once sized (memfd_create(2), fcntl(2))
SEALS = fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_SEAL
#: The memfd's mode once sized: owner read only.  A reopen through
#: /proc/self/fd/N is checked against this mode, with the opener's uid.
#: 0400 rather than 0: the per-user daemon is not root, and fd_of reopens
#: the memfd O_RDONLY for each read-only attach, which mode 0 would refuse it
#: (it would then have to keep a second, read-only descriptor per segment,
#: doubling its descriptors).  With 0400 the daemon's uid may reopen
#: read-only and nobody may reopen read-write; in system mode the daemon is
#: root and the attackers are other uids, who cannot open it at all.  A
#: client of the daemon's own uid could fchmod it back, but a same-uid peer
#: can ptrace the daemon anyway: a uid is the boundary, as in Linux.
MEMFD_MODE = 0o400


def _lock_down(fd: int) -> None:
    """Seal the sized memfd and take away the reopen paths (see the module doc)."""
    fcntl.fcntl(fd, fcntl.F_ADD_SEALS, SEALS)
    os.fchmod(fd, MEMFD_MODE)


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
        try:
            fd = os.memfd_create("uipc-shm", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
        except OSError as exc:  # EMFILE/ENFILE: the daemon's table is full
            # Linux's newseg gets ENFILE from a full file table (alloc_file_pseudo)
            raise KernelError(errno.ENFILE if exc.errno in (errno.EMFILE, errno.ENFILE)
                              else errno.ENOMEM, "the uipc daemon cannot make a memfd for the "
                              f"segment: {exc.strerror}") from None
        try:
            os.ftruncate(fd, size)
        except OSError as exc:
            os.close(fd)
            raise KernelError(errno.ENOMEM, f"memfd of {size} bytes: {exc.strerror}") from None
        try:
            _lock_down(fd)
        except BaseException:  # never hand out an unsealed memfd
            os.close(fd)
            raise
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

    def alloc_file(self, uid: int, gid: int, mode: int) -> MemfdFile:
        """An empty memfd for shm_open, owned by ``uid``/``gid`` (when the
        daemon may chown: system mode) with ``mode``, so fstat shows what
        /dev/shm would."""
        try:
            fd = os.memfd_create("uipc-posix-shm", os.MFD_CLOEXEC)
        except OSError as exc:
            raise KernelError(errno.ENFILE if exc.errno in (errno.EMFILE, errno.ENFILE)
                              else errno.ENOMEM, "the uipc daemon cannot make a memfd for the "
                              f"object: {exc.strerror}") from None
        try:
            if os.geteuid() == 0:
                os.fchown(fd, uid, gid)
            os.fchmod(fd, mode & 0o7777)
        except OSError:
            pass
        return MemfdFile(fd, 0)

    def size_of(self, seg: MemfdSegment) -> int:
        """The object's size now (a shm_open file's, set by its clients)."""
        return os.fstat(seg.fd).st_size if seg.fd >= 0 else 0

    def truncate(self, seg: MemfdSegment, size: int) -> None:
        if seg.fd >= 0:
            os.ftruncate(seg.fd, size)

    def fd_of(self, seg: MemfdSegment, readonly: bool) -> int:
        """A new descriptor for the client (the caller closes it after sending).

        Read-only: a new open file, O_RDONLY (allowed by MEMFD_MODE to the
        daemon's uid only), as do_shmat opens the segment with f_mode
        FMODE_READ for SHM_RDONLY; otherwise the daemon's O_RDWR file.
        """
        if isinstance(seg, MemfdFile):
            # shm_open passes its access mode (O_RDONLY, O_WRONLY, O_RDWR, or 3)
            # as ``readonly``; each shm_open is an open(2): its own open file
            # (offset, flags); one the daemon's uid may not open itself (a
            # per-user daemon, a mode without the owner's bits) falls back to
            # a dup of its own O_RDWR file for O_RDWR
            acc = int(readonly)
            try:
                return os.open(f"/proc/self/fd/{seg.fd}", acc | os.O_CLOEXEC)
            except PermissionError:
                if acc != os.O_RDWR:
                    raise
                return os.dup(seg.fd)
        if readonly:
            return os.open(f"/proc/self/fd/{seg.fd}", os.O_RDONLY | os.O_CLOEXEC)
        return os.dup(seg.fd)
