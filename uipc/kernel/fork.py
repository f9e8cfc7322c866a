"""kernel/fork.c: the process-tree syscalls uipc serves, unshare and fork.

The daemon cannot see a fork or an unshare happen; processes tell it, and
the core checks what they say against what it knows: a fork child may
report the attachments it inherited only from the parent the daemon
verified when the child appeared (``Process.ppid``), once.
"""
from __future__ import annotations

import errno
from typing import TYPE_CHECKING

from uipc.kernel.entry import syscall
from uipc.kernel.errors import KernelError
from uipc.kernel.task import Task

if TYPE_CHECKING:
    from uipc.kernel.kernel import Kernel


@syscall(15, "unshare", "flags:u32 name:text", result="text",
         doc="unshare(CLONE_NEWIPC): move the calling process into a fresh namespace. Tail: its "
             "name (empty: the daemon picks one). Result tail: the name.")
def sys_unshare(k: "Kernel", task: Task, flags: int, name: str) -> str:
    """ksys_unshare() for CLONE_NEWIPC (the only namespace uipc has)."""
    return k.unshare_ipc(task.process, name).name


@syscall(16, "fork", "parent_pid:i64 ids:ids", result="none",
         doc="Sent by a fork child first: it inherited the parent's shm attachments listed in the "
             "tail (i64 attach ids). Accepted once, from the child of parent_pid as the daemon "
             "verified it when the child connected, for attachments the parent holds; the "
             "child's copies then count (nattch).")
def sys_fork(k: "Kernel", task: Task, parent_pid: int, ids: list[int]) -> None:
    """copy_process()'s dup_mmap, reported by the child: its copies of the
    parent's shared-memory mappings count."""
    child = task.process
    parent = k.processes.get(parent_pid)
    if parent is None or child.ppid != parent_pid:
        raise KernelError(errno.EPERM, f"pid {parent_pid} is not the parent of {task.pid}")
    if len(ids) > len(parent.shm_attachments):
        raise KernelError(errno.EINVAL, f"{len(ids)} attachments reported; the parent holds "
                          f"{len(parent.shm_attachments)}")
    k.fork_process(parent, child, ids)
