"""Every syscall of the core, and the hooks of process life.

Importing this module imports every module that declares syscalls with
``@syscall`` (uipc.kernel.entry), so ``TABLE`` is complete: it is the one
table the protocol, the daemon's dispatch, the client, the docs and the C
header are derived from.  ``SYSCALLS`` names them for the core's own callers
and tests.
"""
from __future__ import annotations

from typing import Any, Callable

from uipc.kernel import (  # noqa: F401 - they declare
    eventfd, eventpoll, fork, ipc_syscall, mqueue, msg, posix_sem, posix_shm, procfs, read_write,
    sem, shm, select, signal, signalfd, sysctl, timerfd,
)
from uipc.kernel import fcntl, pipe, splice  # noqa: F401 - they declare
from uipc.kernel.entry import TABLE, SyscallSpec

#: name -> spec, for everything declared
BY_NAME: dict[str, SyscallSpec] = {spec.name: spec for spec in TABLE.values()}

SYSCALLS: dict[str, Callable[..., Any]] = {spec.name: spec.fn for spec in TABLE.values()}
#: semop(2) is semtimedop without a timeout: the core has it, the wire does not
SYSCALLS["semop"] = sem.sys_semop

#: run by exit_process, in do_exit()'s order: exit_mm, exit_sem, exit_shm
EXIT_HOOKS: list[Callable[..., None]] = [shm.exit_shm_mm, posix_sem.sem_exit, sem.exit_sem,
                                         shm.exit_shm, signal.exit_signals]

#: run by free_namespace (free_ipc_ns: msg, sem, shm)
FREE_NS_HOOKS: list[Callable[..., None]] = [msg.free_ns_msg, sem.free_ns_sem, shm.free_ns_shm,
                                            mqueue.free_ns_mqueue, posix_shm.free_ns_shm_files,
                                            posix_sem.free_ns_sem_files, pipe.free_ns_pipe]

#: run by unshare_ipc before the process changes namespace (exit_sem, exit_shm)
UNSHARE_HOOKS: list[Callable[..., None]] = [sem.exit_sem, shm.exit_shm]

#: run by fput before a file's ->release (__fput: eventpoll_release)
RELEASE_HOOKS: list[Callable[..., None]] = [eventpoll.eventpoll_release]

#: run by exec_process (the process image is replaced: shm_exec)
EXEC_HOOKS: list[Callable[..., None]] = [shm.shm_exec, posix_sem.sem_exit]

#: run by fork_process (dup_mmap: shm_fork)
FORK_HOOKS: list[Callable[..., Any]] = [shm.shm_fork, posix_sem.sem_fork,
                                        signal.signal_fork]
