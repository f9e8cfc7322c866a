"""ipc/shm.c: System V shared memory, its metadata and lifecycle.

The bytes never live here: a segment's memory is a memory object from the
kernel's injected allocator (``k.memory``, uipc/kernel/mm.py: memfds in the
daemon, bytearrays in unit tests), and mapping it is the client's business.  What this file decides is everything Linux
decides: sizes and limits, who may attach and how, ``shm_nattch`` counted
per mapping (attach, fork copies, detach, exec, exit), the times and pids,
and when a segment dies.

Theory of operation: ``shmat`` creates an attachment record (the kernel's
vma) in the attaching process and counts it (``shm_open``); ``shmdt``, exec
and exit drop records (``shm_close``).  A segment removed with IPC_RMID while
attached is only marked SHM_DEST and loses its key; it stays visible by id
and is destroyed when its last attachment goes (``shm_may_destroy``), which
with ``kernel.shm_rmid_forced`` also happens to any segment nobody is
attached to any more.
"""
from __future__ import annotations

import errno
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from uipc.kernel.entry import syscall
from uipc.kernel.errors import KernelError
from uipc.kernel.ids import (
    S_IRUGO, S_IRWXUGO, S_IWUGO, IpcOps, KernIpcPerm, ipc_check_perms, ipcctl_obtain_check,
    ipcctl_obtain_stat, ipcget, ipc_update_perm,
)
from uipc.kernel.mm import BytearrayAllocator, MemoryAllocator  # noqa: F401 - re-exported
from uipc.kernel.task import CAP_IPC_LOCK, Process, Task
from uipc.uapi.ipc import IPC_INFO, IPC_PRIVATE, IPC_RMID, IPC_SET, IPC_STAT
from uipc.uapi.shm import (
    PAGE_SIZE, SHM_DEST, SHM_EXEC, SHM_HUGETLB, SHM_INFO, SHM_LOCK, SHM_LOCKED, SHM_NORESERVE,
    SHM_RDONLY, SHM_REMAP, SHM_RND, SHM_STAT, SHM_STAT_ANY, SHM_UNLOCK, SHMLBA, SHMMIN,
    ShmidDs, ShmInfo, ShmInfoStats,
)

if TYPE_CHECKING:
    from uipc.kernel.kernel import Kernel
    from uipc.kernel.namespace import IpcNamespace

S_IXUGO = 0o111
#: MAX_LFS_FILESIZE: shmem files cannot be larger
MAX_LFS_FILESIZE = (1 << 63) - 1
ADDR_MAX = (1 << 64) - 1
#: x86_64's TASK_SIZE with 4-level page tables (TASK_SIZE_MAX: 2^47 minus a
#: guard page): no mapping is larger, none ends above it.  With 5-level
#: paging Linux would accept a fixed address up to 2^56; mappings without a
#: hint stay below 2^47 there too.
TASK_SIZE = (1 << 47) - PAGE_SIZE


#: where segment memory comes from: the memory-object seam (uipc/kernel/mm.py);
#: BytearrayAllocator is re-exported from there for the tests that import it here
ShmAllocator = MemoryAllocator


@dataclass(eq=False)
class ShmidKernel:
    """struct shmid_kernel."""

    perm: KernIpcPerm
    shm_segsz: int
    shm_file: Any
    shm_ctim: int = 0
    shm_atim: int = 0
    #: attaches and detaches, for `uipc top`'s ops/s
    ops: int = 0
    shm_dtim: int = 0
    shm_cprid: int = 0
    shm_lprid: int = 0
    shm_nattch: int = 0
    #: the creating process (shm_creator), for kernel.shm_rmid_forced at its exit
    shm_creator: Process | None = None
    #: shp->ns: the namespace the segment lives in (an attachment may outlive
    #: its process's move to another one, unshare)
    ns: "IpcNamespace | None" = None


@dataclass(eq=False)
class ShmAttach:
    """One mapping of a segment in one process (the kernel's vma)."""

    attach_id: int
    shp: ShmidKernel
    readonly: bool


@dataclass(frozen=True)
class ShmatResult:
    """What the client needs to map an attachment."""

    attach_id: int
    handle: Any
    size: int
    map_size: int
    readonly: bool
    #: the address to map at (already rounded), 0 for anywhere
    addr: int
    remap: bool


def _pages(size: int) -> int:
    return (size + PAGE_SIZE - 1) // PAGE_SIZE


# --- shmget -----------------------------------------------------------------------
def newseg(k: "Kernel", task: Task, key: int, shmflg: int, size: int) -> int:
    """newseg(): create a zero-filled segment.

    Raises:
        EINVAL: size < SHMMIN or > kernel.shmmax; larger than a file can be.
        ENOSPC: kernel.shmall pages would be exceeded.
        ENOMEM: no memory for it (SHM_HUGETLB: no huge pages here).
        ENOSPC: kernel.shmmni segments exist.
    """
    ns = task.ns
    if size < SHMMIN or size > ns.shm_ctlmax:
        raise KernelError(errno.EINVAL, f"size {size} outside [SHMMIN {SHMMIN}, kernel.shmmax "
                          f"{ns.shm_ctlmax}]")
    numpages = _pages(size)
    if ns.shm_tot + numpages > ns.shm_ctlall:
        raise KernelError(errno.ENOSPC, f"{ns.shm_tot} pages in use, {numpages} more would exceed "
                          f"kernel.shmall ({ns.shm_ctlall} pages)")
    if shmflg & SHM_HUGETLB:
        raise KernelError(errno.ENOMEM, "SHM_HUGETLB: uipc has no huge pages to give")
    if size > MAX_LFS_FILESIZE:
        raise KernelError(errno.EINVAL, f"size {size} is larger than a file can be")
    allocator = k.memory
    handle = allocator.alloc(size, bool(shmflg & SHM_NORESERVE))
    shp = ShmidKernel(perm=KernIpcPerm(key=key, mode=shmflg & S_IRWXUGO), shm_segsz=size,
                      shm_file=handle, shm_ctim=int(k.clock.realtime),
                      shm_cprid=task.pid, shm_creator=task.process, ns=ns)
    try:
        ns.shm_ids.ipc_addid(shp, ns.shm_ctlmni, task.cred)
    except KernelError:
        allocator.free(handle)
        raise
    ns.shm_tot += numpages
    return shp.perm.id


@syscall(8, "shmget", "key:i32 size:u64 shmflg:i32", result="int", doc="shmget(2).")
def sys_shmget(k: "Kernel", task: Task, key: int, size: int, shmflg: int) -> int:
    """ksys_shmget().  See shmget(2).

    Raises: as ipcget and newseg; EINVAL when the key's segment is smaller
    than ``size`` (shm_more_checks).
    """
    def more_checks(shp: ShmidKernel) -> None:
        if shp.shm_segsz < size:
            raise KernelError(errno.EINVAL, f"segment {shp.perm.id} has {shp.shm_segsz} bytes, "
                              f"{size} asked")

    ops: IpcOps[ShmidKernel] = IpcOps(getnew=lambda key, flg: newseg(k, task, key, flg, size),
                                      more_checks=more_checks)
    return ipcget(task.ns.shm_ids, ops, task.cred, key, shmflg)


# --- attach / detach ------------------------------------------------------------------
def shm_open(k: "Kernel", shp: ShmidKernel, pid: int) -> None:
    """__shm_open(): a mapping appears (attach or fork copy)."""
    shp.shm_atim = int(k.clock.realtime)
    shp.shm_lprid = pid
    shp.ops += 1
    shp.shm_nattch += 1


def shm_may_destroy(ns: "IpcNamespace", shp: ShmidKernel) -> bool:
    return shp.shm_nattch == 0 and bool(ns.shm_rmid_forced or shp.perm.mode & SHM_DEST)


def shm_close(k: "Kernel", ns: "IpcNamespace", shp: ShmidKernel, pid: int) -> None:
    """shm_close(): a mapping goes (detach, exec, exit)."""
    shp.shm_lprid = pid
    shp.shm_dtim = int(k.clock.realtime)
    shp.ops += 1
    shp.shm_nattch -= 1
    if shm_may_destroy(ns, shp) and not shp.perm.deleted:
        shm_destroy(k, ns, shp)


def shm_destroy(k: "Kernel", ns: "IpcNamespace", shp: ShmidKernel) -> None:
    """shm_destroy(): forget the segment and free its memory."""
    ns.shm_tot -= _pages(shp.shm_segsz)
    ns.shm_ids.ipc_rmid(shp)
    handle, shp.shm_file = shp.shm_file, None
    if handle is not None:
        k.memory.free(handle)


@syscall(9, "shmat", "shmid:i32 shmaddr:u64 shmflg:i32", result="shmat", fds=1,
         undo=lambda k, task, res: sys_shmdt(k, task, res.attach_id, 1),
         doc="shmat(2). Result: attach_id i64, segsz u64, map_size u64, addr u64, readonly "
             "i32, remap i32; the segment's memfd arrives with the reply as SCM_RIGHTS "
             "(O_RDONLY for SHM_RDONLY; sealed against resizing).")
def sys_shmat(k: "Kernel", task: Task, shmid: int, shmaddr: int, shmflg: int) -> ShmatResult:
    """do_shmat().  See shmat(2).

    The kernel part of an attach: checks, the rounded address, the count.
    The caller maps ``handle`` at ``addr`` (or anywhere when 0) and must call
    ``sys_shmdt(abort=True)`` if that fails.
    Raises (in Linux's order):
        EINVAL: shmid < 0; shmaddr not page aligned without SHM_RND; SHM_RND
            rounding to 0 with SHM_REMAP; SHM_REMAP without an address.
        EINVAL: no segment has this id.
        EACCES: read (SHM_RDONLY) or read-write (and exec with SHM_EXEC) denied.
        EINVAL: the range would wrap around the address space.
        ENOMEM: the mapping cannot fit below TASK_SIZE (see shm_mmap_fits).
    Nothing is created before the last check: a failed shmat leaves no
    attachment and no count behind (the daemon makes the client's descriptor
    only from a result).
    """
    if shmid < 0:
        raise KernelError(errno.EINVAL, f"shmid {shmid} is negative")
    addr = shmaddr
    if addr:
        if addr & (SHMLBA - 1):
            if shmflg & SHM_RND:
                addr &= ~(SHMLBA - 1)
                if not addr and shmflg & SHM_REMAP:
                    raise KernelError(errno.EINVAL, f"shmaddr {shmaddr:#x} rounds to 0 and SHM_REMAP "
                                      "was given")
            else:
                raise KernelError(errno.EINVAL, f"shmaddr {shmaddr:#x} is not page aligned and "
                                  "SHM_RND was not given")
    elif shmflg & SHM_REMAP:
        raise KernelError(errno.EINVAL, "SHM_REMAP needs an address")
    readonly = bool(shmflg & SHM_RDONLY)
    acc_mode = S_IRUGO if readonly else S_IRUGO | S_IWUGO
    if shmflg & SHM_EXEC:
        acc_mode |= S_IXUGO
    ns = task.ns
    shp: ShmidKernel = ns.shm_ids.ipc_obtain_object_check(shmid)
    ipc_check_perms(task.cred, shp.perm, acc_mode, ("read" if readonly else "read-write")
                    + ("+exec" if shmflg & SHM_EXEC else ""))
    map_size = _pages(shp.shm_segsz) * PAGE_SIZE
    if addr and not shmflg & SHM_REMAP and addr + shp.shm_segsz > ADDR_MAX:
        raise KernelError(errno.EINVAL, f"{shp.shm_segsz} bytes at {addr:#x} wrap around")
    shm_mmap_fits(addr, map_size)
    att = ShmAttach(attach_id=next(k.shm_attach_ids), shp=shp, readonly=readonly)
    task.process.shm_attachments[att.attach_id] = att
    shm_open(k, shp, task.pid)
    return ShmatResult(attach_id=att.attach_id, handle=shp.shm_file, size=shp.shm_segsz,
                       map_size=map_size, readonly=readonly, addr=addr,
                       remap=bool(shmflg & SHM_REMAP))


def shm_mmap_fits(addr: int, map_size: int) -> None:
    """do_mmap() -> __get_unmapped_area(), the checks the client's mmap would
    meet last: do_shmat reaches them after its own (EACCES, the wrap).

    Made here so that a segment larger than any address space (SHM_NORESERVE
    allows ~8 EiB) fails as on Linux, before an attachment exists, and its
    sizes never need more than the reply's u64 fields.
    Raises:
        ENOMEM: ``map_size`` > TASK_SIZE ("Careful about overflows"); a fixed
            ``addr`` above TASK_SIZE - ``map_size``.
    """
    if map_size > TASK_SIZE:
        raise KernelError(errno.ENOMEM, f"a mapping of {map_size} bytes is larger than the address "
                          f"space (TASK_SIZE {TASK_SIZE:#x})")
    if addr > TASK_SIZE - map_size:
        raise KernelError(errno.ENOMEM, f"{map_size} bytes at {addr:#x} end above TASK_SIZE "
                          f"({TASK_SIZE:#x})")


@syscall(10, "shmdt", "attach_id:i64 abort:i32", result="none",
         doc="shmdt(2), by the attach id shmat returned. abort=1: the client could not map it "
             "(the count is reverted without touching times or pids).")
def sys_shmdt(k: "Kernel", task: Task, attach_id: int, abort: int = 0) -> None:
    """ksys_shmdt(), by attach id.  See shmdt(2).

    With ``abort`` the attach never became a mapping (the client's mmap
    failed): the count is reverted without touching times or pids, as
    do_shmat's error path does.
    Raises:
        EINVAL: this process has no such attachment.
    """
    proc = task.process
    att = proc.shm_attachments.pop(attach_id, None)
    if att is None:
        raise KernelError(errno.EINVAL, f"no shared memory attachment {attach_id} in process {proc.pid}")
    shp = att.shp
    if abort:
        shp.shm_nattch -= 1
        if shm_may_destroy(proc.ns, shp) and not shp.perm.deleted:
            shm_destroy(k, proc.ns, shp)
        return None
    shm_close(k, proc.ns, shp, task.pid)
    return None


def shm_fork(k: "Kernel", parent: Process, child: Process, attach_ids: list[int] | None = None) -> int:
    """dup_mmap(): the child's copies of the parent's mappings count too.

    ``attach_ids`` limits it to the ones the child says it inherited (those
    of the parent that still exist).  Linux runs shm_open in the parent's
    context: shm_lpid becomes the parent's pid.  Returns how many.
    """
    ids = list(parent.shm_attachments) if attach_ids is None else attach_ids
    count = 0
    for aid in ids:
        att = parent.shm_attachments.get(aid)
        if att is None or aid in child.shm_attachments or att.shp.perm.deleted:
            continue
        child.shm_attachments[aid] = ShmAttach(attach_id=aid, shp=att.shp, readonly=att.readonly)
        shm_open(k, att.shp, parent.pid)
        count += 1
    return count


def _detach_all(k: "Kernel", process: Process) -> None:
    for aid in list(process.shm_attachments):
        att = process.shm_attachments.pop(aid)
        if not att.shp.perm.deleted:
            shm_close(k, att.shp.ns or process.ns, att.shp, process.pid)


def shm_exec(k: "Kernel", process: Process) -> None:
    """exec: the old image's mappings are gone."""
    _detach_all(k, process)


def exit_shm_mm(k: "Kernel", process: Process) -> None:
    """exit_mm(): every mapping goes."""
    _detach_all(k, process)


def exit_shm(k: "Kernel", process: Process) -> None:
    """exit_shm(): with kernel.shm_rmid_forced, segments this process created
    that nobody is attached to are destroyed."""
    ns = process.ns
    if not ns.shm_rmid_forced:
        return
    for shp in list(ns.shm_ids):
        if shp.shm_creator is process:
            shp.shm_creator = None
            if shm_may_destroy(ns, shp):
                shm_destroy(k, ns, shp)


# --- shmctl ---------------------------------------------------------------------------
def shmctl_stat(task: Task, shmid: int, cmd: int) -> tuple[int, ShmidDs]:
    """shmctl_stat(): IPC_STAT by id, SHM_STAT / SHM_STAT_ANY by index."""
    shp: ShmidKernel = ipcctl_obtain_stat(task.ns.shm_ids, shmid, task.cred, cmd, SHM_STAT_ANY)
    ds = ShmidDs(shm_perm=shp.perm.to_user(), shm_segsz=shp.shm_segsz, shm_atime=shp.shm_atim,
                 shm_dtime=shp.shm_dtim, shm_ctime=shp.shm_ctim, shm_cpid=shp.shm_cprid,
                 shm_lpid=shp.shm_lprid, shm_nattch=shp.shm_nattch)
    return (0 if cmd == IPC_STAT else shp.perm.id), ds


def do_shm_rmid(k: "Kernel", ns: "IpcNamespace", shp: ShmidKernel) -> None:
    """do_shm_rmid(): destroy now, or mark SHM_DEST and hide the key."""
    if shp.shm_nattch:
        shp.perm.mode |= SHM_DEST
        ns.shm_ids.ipc_kht_remove(shp)
        shp.perm.key = IPC_PRIVATE
    else:
        shm_destroy(k, ns, shp)


def shmctl_down(k: "Kernel", task: Task, shmid: int, cmd: int, buf: ShmidDs | None) -> int:
    """shmctl_down(): IPC_RMID and IPC_SET, for owner, creator or CAP_SYS_ADMIN."""
    ns = task.ns
    shp: ShmidKernel = ipcctl_obtain_check(ns.shm_ids, shmid, task.cred)
    if cmd == IPC_RMID:
        do_shm_rmid(k, ns, shp)
        return 0
    assert buf is not None
    p = buf.shm_perm
    ipc_update_perm(p.uid, p.gid, p.mode, shp.perm)
    shp.shm_ctim = int(k.clock.realtime)
    return 0


def shmctl_do_lock(task: Task, shmid: int, cmd: int) -> int:
    """shmctl_do_lock(): SHM_LOCK / SHM_UNLOCK set or clear SHM_LOCKED.

    Without CAP_IPC_LOCK only the owner or creator may (EPERM).  The memory
    itself is not mlocked (see docs/deviations.md).
    """
    shp: ShmidKernel = task.ns.shm_ids.ipc_obtain_object_check(shmid)
    cred = task.cred
    if not cred.capable(CAP_IPC_LOCK) and cred.euid not in (shp.perm.uid, shp.perm.cuid):
        raise KernelError(errno.EPERM, f"{'SHM_LOCK' if cmd == SHM_LOCK else 'SHM_UNLOCK'} needs "
                          f"CAP_IPC_LOCK or ownership of segment {shmid}")
    if cmd == SHM_LOCK:
        shp.perm.mode |= SHM_LOCKED
    else:
        shp.perm.mode &= ~SHM_LOCKED
    return 0


@syscall(11, "shmctl", "shmid:i32 cmd:i32 buf:shmid_ds", result="ctl",
         doc="shmctl(2). Tail: a packed shmid_ds for IPC_SET.")
def sys_shmctl(k: "Kernel", task: Task, shmid: int, cmd: int, buf: ShmidDs | None = None) -> Any:
    """ksys_shmctl().  See shmctl(2)."""
    if cmd < 0 or shmid < 0:
        raise KernelError(errno.EINVAL, f"shmid {shmid} is negative" if shmid < 0
                          else f"cmd {cmd} is negative")
    # IPC_64 is not stripped: msgctl(2) and friends take it as an unknown
    # command (EINVAL), as on x86_64 and arm64; ipc(2) strips it (ipc_parse_version)
    ns = task.ns
    if cmd == IPC_INFO:
        info = ShmInfo(shmmax=ns.shm_ctlmax, shmmin=SHMMIN, shmmni=ns.shm_ctlmni,
                       shmseg=ns.shm_ctlmni, shmall=ns.shm_ctlall)
        return max(ns.shm_ids.ipc_get_maxidx(), 0), info
    if cmd == SHM_INFO:
        alloc = k.memory
        rss = sum(alloc.resident_pages(s.shm_file) for s in ns.shm_ids) if alloc is not None else 0
        stats = ShmInfoStats(used_ids=ns.shm_ids.in_use, shm_tot=ns.shm_tot, shm_rss=rss,
                             shm_swp=0, swap_attempts=0, swap_successes=0)
        return max(ns.shm_ids.ipc_get_maxidx(), 0), stats
    if cmd in (IPC_STAT, SHM_STAT, SHM_STAT_ANY):
        return shmctl_stat(task, shmid, cmd)
    if cmd == IPC_SET:
        if buf is None:
            raise KernelError(errno.EFAULT, "IPC_SET needs a ShmidDs")
        return shmctl_down(k, task, shmid, cmd, buf)
    if cmd == IPC_RMID:
        return shmctl_down(k, task, shmid, cmd, None)
    if cmd in (SHM_LOCK, SHM_UNLOCK):
        return shmctl_do_lock(task, shmid, cmd)
    raise KernelError(errno.EINVAL, f"unknown shmctl command {cmd}")


def free_ns_shm(k: "Kernel", ns: "IpcNamespace") -> None:
    """shm_exit_ns(): destroy every segment of a dying namespace."""
    for shp in list(ns.shm_ids):
        shm_destroy(k, ns, shp)


def shm_attachments_of(k: "Kernel", shp: ShmidKernel) -> list[tuple[int, int]]:
    """(pid, attach id) of every mapping of a segment (introspection)."""
    return [(p.pid, aid) for p in k.processes.values()
            for aid, att in p.shm_attachments.items() if att.shp is shp]
