"""include/uapi/linux/ipc.h: common IPC constants and struct ipc_perm."""
from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "IPC_PRIVATE", "IPC_CREAT", "IPC_EXCL", "IPC_NOWAIT",
    "IPC_RMID", "IPC_SET", "IPC_STAT", "IPC_INFO", "IPC_64",
    "IPCMNI", "SEQ_MULTIPLIER", "IpcPerm",
]

IPC_PRIVATE = 0

# resource get request flags (the low 9 bits of the flag are the mode)
IPC_CREAT = 0o1000
IPC_EXCL = 0o2000
IPC_NOWAIT = 0o4000

# control commands used with semctl, msgctl and shmctl
IPC_RMID = 0
IPC_SET = 1
IPC_STAT = 2
IPC_INFO = 3

IPC_64 = 0x0100  # glibc ORs this into cmd; the kernel strips it

IPCMNI = 32768
SEQ_MULTIPLIER = IPCMNI


@dataclass(frozen=True, slots=True, kw_only=True)
class IpcPerm:
    """struct ipc64_perm as IPC_STAT returns it."""

    key: int
    uid: int
    gid: int
    cuid: int
    cgid: int
    mode: int
    seq: int
