"""The syscall table: every entry point the daemon may call, by name.

One table, as arch/x86/entry/syscalls/syscall_64.tbl: the protocol maps its
operation codes onto these names; nothing else reaches into the core.
"""
from __future__ import annotations

from typing import Any, Callable

from uipc.kernel import msg, sem, shm

SYSCALLS: dict[str, Callable[..., Any]] = {
    "msgget": msg.sys_msgget,
    "msgsnd": msg.sys_msgsnd,
    "msgrcv": msg.sys_msgrcv,
    "msgctl": msg.sys_msgctl,
    "semget": sem.sys_semget,
    "semop": sem.sys_semop,
    "semtimedop": sem.sys_semtimedop,
    "semctl": sem.sys_semctl,
    "shmget": shm.sys_shmget,
    "shmat": shm.sys_shmat,
    "shmdt": shm.sys_shmdt,
    "shmctl": shm.sys_shmctl,
}

#: run by exit_process, in do_exit()'s order: exit_mm, exit_sem, exit_shm
EXIT_HOOKS: list[Callable[..., None]] = [shm.exit_shm_mm, sem.exit_sem, shm.exit_shm]

#: run by free_namespace (free_ipc_ns: msg, sem, shm)
FREE_NS_HOOKS: list[Callable[..., None]] = [msg.free_ns_msg, sem.free_ns_sem, shm.free_ns_shm]

#: run by unshare_ipc before the process changes namespace (exit_sem, exit_shm)
UNSHARE_HOOKS: list[Callable[..., None]] = [sem.exit_sem, shm.exit_shm]

#: run by exec_process (the process image is replaced: shm_exec)
EXEC_HOOKS: list[Callable[..., None]] = [shm.shm_exec]

#: run by fork_process (dup_mmap: shm_fork)
FORK_HOOKS: list[Callable[..., Any]] = [shm.shm_fork]
