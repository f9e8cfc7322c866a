"""fs/namei.c's permission check, for the objects uipc keeps as files
(POSIX queues, /dev/shm's objects and named semaphores)."""
from __future__ import annotations

from uipc.kernel.task import CAP_DAC_OVERRIDE, Cred

#: include/linux/fs.h
MAY_WRITE = 2
MAY_READ = 4


def generic_permission(cred: Cred, uid: int, gid: int, mode: int, mask: int) -> bool:
    """generic_permission(): the owner's, the group's or the others' bits of
    ``mode`` grant ``mask`` (MAY_READ | MAY_WRITE), or CAP_DAC_OVERRIDE."""
    if cred.euid == uid:
        bits = mode >> 6
    elif cred.in_group_p(gid):
        bits = mode >> 3
    else:
        bits = mode
    return (bits & mask) == mask or cred.capable(CAP_DAC_OVERRIDE)
