"""do_shmat -> do_mmap on the pure core: what cannot fit in an address space.

A segment may be far larger than any mapping (SHM_NORESERVE, kernel.shmmax
up to ULONG_MAX): shmget succeeds, shmat answers ENOMEM as do_mmap does,
after do_shmat's own checks, and leaves no attachment behind.
"""
from __future__ import annotations

import errno as E

from uipc.kernel.shm import MAX_LFS_FILESIZE, TASK_SIZE, BytearrayAllocator
from uipc.uapi import IPC_PRIVATE, IPC_STAT, SHM_NORESERVE, SHM_RDONLY, SHM_REMAP

from tests.kernel.conftest import World

ULONG_MAX = (1 << 64) - 1
PAGE = 4096


def huge_segment(w: World, t, mode: int = 0o600) -> int:
    """~8 EiB, which the default kernel.shmmax / shmall (ULONG_MAX - 2^24) allow."""
    w.k.shm_allocator = BytearrayAllocator(limit=1 << 20)
    return w.call(t, "shmget", IPC_PRIVATE, MAX_LFS_FILESIZE, SHM_NORESERVE | mode)


def nattch(w: World, t, s: int) -> int:
    return w.call(t, "shmctl", s, IPC_STAT)[1].shm_nattch


def test_a_segment_larger_than_the_address_space_is_enomem(w: World) -> None:
    t = w.proc_task()
    s = huge_segment(w, t)
    assert w.err(t, "shmat", s, 0, 0) == E.ENOMEM
    assert w.err(t, "shmat", s, 0, SHM_RDONLY) == E.ENOMEM
    assert nattch(w, t, s) == 0 and not t.process.shm_attachments


def test_enomem_comes_after_do_shmats_own_checks(w: World) -> None:
    owner = w.proc_task(uid=1000, gid=1000)
    s = huge_segment(w, owner, 0o600)
    stranger = w.proc_task(uid=1001, gid=1001)
    assert w.err(stranger, "shmat", s, 0, 0) == E.EACCES            # ipcperms first
    assert w.err(owner, "shmat", s, 0x10001, 0) == E.EINVAL          # unaligned address
    wraps = (1 << 63) + PAGE                                          # + ~8 EiB > ULONG_MAX
    assert w.err(owner, "shmat", s, wraps, 0) == E.EINVAL            # do_shmat's wrap check
    assert w.err(owner, "shmat", s, wraps, SHM_REMAP) == E.ENOMEM    # skipped with SHM_REMAP
    assert w.err(owner, "shmat", s + 1, 0, 0) == E.EINVAL            # no such id


def test_a_fixed_address_must_end_below_task_size(w: World) -> None:
    w.k.shm_allocator = BytearrayAllocator(limit=1 << 20)
    t = w.proc_task()
    s = w.call(t, "shmget", IPC_PRIVATE, PAGE, 0o600)
    assert w.call(t, "shmat", s, TASK_SIZE - PAGE, 0).addr == TASK_SIZE - PAGE
    assert w.err(t, "shmat", s, TASK_SIZE, 0) == E.ENOMEM
    assert w.err(t, "shmat", s, 1 << 63, SHM_RDONLY) == E.ENOMEM
    assert w.err(t, "shmat", s, ULONG_MAX - PAGE + 1, 0) == E.EINVAL  # wraps: do_shmat's EINVAL
    assert nattch(w, t, s) == 1


def test_the_largest_mapping_fits(w: World) -> None:
    t = w.proc_task()
    w.k.shm_allocator = BytearrayAllocator(limit=1 << 20)
    s = w.call(t, "shmget", IPC_PRIVATE, TASK_SIZE, SHM_NORESERVE | 0o600)
    r = w.call(t, "shmat", s, 0, 0)
    assert (r.size, r.map_size) == (TASK_SIZE, TASK_SIZE)
    big = w.call(t, "shmget", IPC_PRIVATE, TASK_SIZE + 1, SHM_NORESERVE | 0o600)
    assert w.err(t, "shmat", big, 0, 0) == E.ENOMEM  # one byte more: one page more
