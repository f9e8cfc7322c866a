"""include/uapi/linux/sem.h: semaphore constants, sembuf, semid_ds, seminfo."""
from __future__ import annotations

from dataclasses import dataclass

from uipc.uapi.ipc import IpcPerm

__all__ = [
    "SEM_UNDO", "GETPID", "GETVAL", "GETALL", "GETNCNT", "GETZCNT",
    "SETVAL", "SETALL", "SEM_STAT", "SEM_INFO", "SEM_STAT_ANY",
    "SEMMNI", "SEMMSL", "SEMMNS", "SEMOPM", "SEMVMX", "SEMAEM", "SEMUME",
    "SEMMNU", "SEMMAP", "SEMUSZ", "Sembuf", "SemidDs", "SemInfo",
]

SEM_UNDO = 0x1000

# semctl command definitions
GETPID = 11
GETVAL = 12
GETALL = 13
GETNCNT = 14
GETZCNT = 15
SETVAL = 16
SETALL = 17

SEM_STAT = 18
SEM_INFO = 19
SEM_STAT_ANY = 20

SEMMNI = 32000
SEMMSL = 32000
SEMMNS = SEMMNI * SEMMSL
SEMOPM = 500
SEMVMX = 32767
SEMAEM = SEMVMX
SEMUME = SEMOPM
SEMMNU = SEMMNS
SEMMAP = SEMMNS
SEMUSZ = 20


@dataclass(frozen=True, slots=True)
class Sembuf:
    """struct sembuf: one operation of a semop() call."""

    sem_num: int
    sem_op: int
    sem_flg: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class SemidDs:
    """struct semid64_ds."""

    sem_perm: IpcPerm
    sem_otime: int
    sem_ctime: int
    sem_nsems: int


@dataclass(frozen=True, slots=True, kw_only=True)
class SemInfo:
    """struct seminfo, as IPC_INFO and SEM_INFO fill it."""

    semmap: int
    semmni: int
    semmns: int
    semmnu: int
    semmsl: int
    semopm: int
    semume: int
    semusz: int
    semvmx: int
    semaem: int
