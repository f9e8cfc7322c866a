"""The kernel backend: the real kernel's SysV IPC through ctypes on libc,
with exactly uipc's public syscall API (names, signatures, result types),
so one scenario runs unchanged on either.
"""
from __future__ import annotations

from tests.conformance.libc_msg import msgctl, msgget, msgrcv, msgsnd, unshare_ipc  # noqa: F401
from tests.conformance.libc_sem import semctl, semget, semop, semtimedop  # noqa: F401
from tests.conformance.libc_shm import shm_view, shmat, shmctl, shmdt, shmget  # noqa: F401


def set_sysctl(name: str, value: object) -> None:
    """Write /proc/sys/kernel/NAME: per IPC namespace, so only ours changes."""
    with open(f"/proc/sys/kernel/{name}", "w") as f:
        f.write(str(value))
