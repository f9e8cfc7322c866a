"""The syscall table: every entry point the daemon may call, by name.

One table, as arch/x86/entry/syscalls/syscall_64.tbl: the protocol maps its
operation codes onto these names; nothing else reaches into the core.
"""
from __future__ import annotations

from typing import Any, Callable

from uipc.kernel import msg, sem

SYSCALLS: dict[str, Callable[..., Any]] = {
    "msgget": msg.sys_msgget,
    "msgsnd": msg.sys_msgsnd,
    "msgrcv": msg.sys_msgrcv,
    "msgctl": msg.sys_msgctl,
    "semget": sem.sys_semget,
    "semop": sem.sys_semop,
    "semtimedop": sem.sys_semtimedop,
    "semctl": sem.sys_semctl,
}

#: run by exit_process, in do_exit()'s order (exit_sem before exit_mm)
EXIT_HOOKS: list[Callable[..., None]] = [sem.exit_sem]

#: run by free_namespace (free_ipc_ns: msg, sem, shm)
FREE_NS_HOOKS: list[Callable[..., None]] = [msg.free_ns_msg, sem.free_ns_sem]

#: run by unshare_ipc before the process changes namespace (exit_sem, exit_shm)
UNSHARE_HOOKS: list[Callable[..., None]] = [sem.exit_sem]

#: run by exec_process (the process image is replaced: shm_exec)
EXEC_HOOKS: list[Callable[..., None]] = []
