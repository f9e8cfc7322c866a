"""include/uapi/linux/shm.h: shared memory constants and structs."""
from __future__ import annotations

from dataclasses import dataclass

from uipc.uapi.ipc import IpcPerm

__all__ = [
    "SHM_RDONLY", "SHM_RND", "SHM_REMAP", "SHM_EXEC", "SHM_LOCK", "SHM_UNLOCK",
    "SHM_STAT", "SHM_INFO", "SHM_STAT_ANY", "SHM_DEST", "SHM_LOCKED",
    "SHM_HUGETLB", "SHM_NORESERVE", "SHMLBA", "SHMMIN", "SHMMNI", "SHMMAX",
    "SHMALL", "SHMSEG", "PAGE_SIZE", "ShmidDs", "ShmInfo", "ShmInfoStats",
]

SHM_RDONLY = 0o10000
SHM_RND = 0o20000
SHM_REMAP = 0o40000
SHM_EXEC = 0o100000

SHM_LOCK = 11
SHM_UNLOCK = 12
SHM_STAT = 13
SHM_INFO = 14
SHM_STAT_ANY = 15

# mode bits kept in shm_perm.mode
SHM_DEST = 0o1000
SHM_LOCKED = 0o2000
SHM_HUGETLB = 0o4000
SHM_NORESERVE = 0o10000

PAGE_SIZE = 4096
SHMLBA = PAGE_SIZE

SHMMIN = 1
SHMMNI = 4096
SHMMAX = 0xFFFFFFFFFFFFFFFF - (1 << 24)  # ULONG_MAX - (1UL << 24)
SHMALL = 0xFFFFFFFFFFFFFFFF - (1 << 24)
SHMSEG = SHMMNI


@dataclass(frozen=True, slots=True, kw_only=True)
class ShmidDs:
    """struct shmid64_ds."""

    shm_perm: IpcPerm
    shm_segsz: int
    shm_atime: int
    shm_dtime: int
    shm_ctime: int
    shm_cpid: int
    shm_lpid: int
    shm_nattch: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ShmInfo:
    """struct shminfo64, as IPC_INFO fills it."""

    shmmax: int
    shmmin: int
    shmmni: int
    shmseg: int
    shmall: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ShmInfoStats:
    """struct shm_info, as SHM_INFO fills it."""

    used_ids: int
    shm_tot: int
    shm_rss: int
    shm_swp: int
    swap_attempts: int
    swap_successes: int
