"""uipc/kernel/mm.py, the memory-object seam, and shm.py's per-kernel state:
the allocator is the kernel's (``memory``, old name ``shm_allocator``),
attachment ids are per kernel, and a segment knows its namespace (shp->ns)."""
from __future__ import annotations

from uipc.kernel import Cred, Kernel
from uipc.kernel import mm, shm
from uipc.kernel.syscalls import SYSCALLS
from uipc.uapi import IPC_PRIVATE, IPC_RMID, IPC_STAT, SHM_DEST, SHM_INFO


def task(k: Kernel, pid: int, ns: str = ""):
    return k.new_task(k.new_process(pid, Cred.of(0, 0), ns))


class CountingAllocator(mm.BytearrayAllocator):
    """A MemoryAllocator that reports every page resident."""

    def resident_pages(self, handle: bytearray) -> int:
        return (len(handle) + 4095) // 4096


def test_memory_is_the_kernels_allocator_under_both_names() -> None:
    a = CountingAllocator()
    for k in (Kernel(memory=a), Kernel(shm_allocator=a)):
        assert k.memory is a and k.shm_allocator is a
        t = task(k, 10)
        s = k.syscall(t, SYSCALLS["shmget"], IPC_PRIVATE, 3 * 4096, 0o600, now=1.0)
        assert k.syscall(t, SYSCALLS["shmctl"], s, SHM_INFO, now=1.0)[1].shm_rss == 3
    k = Kernel()
    assert isinstance(k.memory, mm.BytearrayAllocator)  # the default, for tests
    b = mm.BytearrayAllocator()
    k.shm_allocator = b  # the old attribute still sets it
    assert k.memory is b
    assert shm.BytearrayAllocator is mm.BytearrayAllocator  # still importable from shm


def test_a_destroyed_segment_goes_back_to_its_allocator() -> None:
    a = mm.BytearrayAllocator()
    k = Kernel(memory=a)
    t = task(k, 10)
    s = k.syscall(t, SYSCALLS["shmget"], IPC_PRIVATE, 100, 0o600, now=1.0)
    k.syscall(t, SYSCALLS["shmctl"], s, IPC_RMID, now=1.0)
    assert len(a.freed) == 1 and len(a.freed[0]) == 100


def test_attach_ids_are_per_kernel() -> None:
    """Two kernels (two daemons, or tests) number their attachments alone."""
    ids = []
    for _ in range(2):
        k = Kernel()
        t = task(k, 10)
        s = k.syscall(t, SYSCALLS["shmget"], IPC_PRIVATE, 4096, 0o600, now=1.0)
        ids.append([k.syscall(t, SYSCALLS["shmat"], s, 0, 0, now=1.0).attach_id
                    for _ in range(2)])
    assert ids == [[1, 2], [1, 2]]


def test_a_segment_knows_its_namespace() -> None:
    """An attachment made in one namespace is detached there after the
    process moved to another (unshare) and exits: the segment, marked
    SHM_DEST, is destroyed in its own namespace."""
    a = mm.BytearrayAllocator()
    k = Kernel(memory=a)
    owner, user = task(k, 10), task(k, 11)
    s = k.syscall(owner, SYSCALLS["shmget"], IPC_PRIVATE, 4096, 0o666, now=1.0)
    shp = owner.ns.shm_ids.ipc_obtain_object_check(s)
    assert shp.ns is owner.ns is k.init_ns
    k.syscall(user, SYSCALLS["shmat"], s, 0, 0, now=1.0)
    k.syscall(owner, SYSCALLS["shmctl"], s, IPC_RMID, now=2.0)
    assert shp.perm.mode & SHM_DEST and shp.shm_nattch == 1
    k.unshare_ipc(user.process, "elsewhere")
    assert user.ns is not k.init_ns
    # a segment with the same index in the new namespace must not be confused with it
    other = k.syscall(user, SYSCALLS["shmget"], IPC_PRIVATE, 4096, 0o666, now=3.0)
    assert other & 0x7FFF == s & 0x7FFF
    k.exit_process(user.process, 4.0)
    assert shp.perm.deleted and a.freed and len(k.init_ns.shm_ids) == 0
    assert "elsewhere" not in k.namespaces  # its last process left: freed with its segment
    assert len(a.freed) == 2


def test_stat_after_detach_from_a_moved_process() -> None:
    k = Kernel()
    owner, user = task(k, 10), task(k, 11)
    s = k.syscall(owner, SYSCALLS["shmget"], IPC_PRIVATE, 4096, 0o666, now=1.0)
    k.syscall(user, SYSCALLS["shmat"], s, 0, 0, now=1.0)
    k.unshare_ipc(user.process, "elsewhere")
    k.exec_process(user.process, 5.0)  # the mapping goes, counted in the segment's namespace
    ds = k.syscall(owner, SYSCALLS["shmctl"], s, IPC_STAT, now=6.0)[1]
    assert (ds.shm_nattch, ds.shm_dtime, ds.shm_lpid) == (0, 5, 11)
