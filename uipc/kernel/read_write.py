"""fs/open.c's close and fs/read_write.c's read and write, for the files
uipc serves (POSIX queues, eventfds; pipes and the rest as they come).

A file is named by the inode of the real descriptor the client holds (its
doorbell: uipc/server/doorbell.py), looked up in the calling process's own
table.  ``read``/``write`` go through the VFS checks (EBADF for a file not
open for it, then the file's own ->read/->write), which may park the task
and return BLOCKED as any syscall may.
"""
from __future__ import annotations

import errno
from typing import TYPE_CHECKING, Any

from uipc.kernel.entry import syscall
from uipc.kernel.errors import KernelError
from uipc.kernel.file import File, vfs_read, vfs_write
from uipc.kernel.task import Task

if TYPE_CHECKING:
    from uipc.kernel.kernel import Kernel


def fdget(task: Task, fd: int) -> File:
    """fdget(): EBADF unless ``fd`` (an inode) names a file of this process."""
    files = task.process.files
    if fd <= 0 or fd not in files:
        raise KernelError(errno.EBADF, f"descriptor (inode {fd}) is not open in this process")
    return files.get(fd)


@syscall(26, "close", "fd:u64 others:u8", result="none",
         doc="close(2) of a uipc descriptor (named by its st_ino), before the client closes "
             "its own: the file's ->flush for the caller; others 1: the process keeps other "
             "descriptors of the same open file (dup), which keep it open")
def sys_close(k: "Kernel", task: Task, fd: int, others: int) -> None:
    """close_fd(): ->flush for the closing process; the process's reference
    to the file goes with its last descriptor of it."""
    file = fdget(task, fd)
    if others:
        file.f_op.flush(k, task.process, file)
        return
    task.process.files.close(k, fd, task)


@syscall(37, "read", "fd:u64 count:u64", result="bytes",
         doc="read(2) of a uipc descriptor (named by its st_ino). Result tail: the bytes read")
def sys_read(k: "Kernel", task: Task, fd: int, count: int) -> Any:
    """ksys_read(): vfs_read on the file; the bytes (or BLOCKED)."""
    return vfs_read(k, task, fdget(task, fd), count)


@syscall(38, "write", "fd:u64 data:bytes", result="int",
         doc="write(2) to a uipc descriptor (named by its st_ino). Result: bytes written")
def sys_write(k: "Kernel", task: Task, fd: int, data: bytes) -> Any:
    """ksys_write(): vfs_write on the file; the count written (or BLOCKED)."""
    return vfs_write(k, task, fdget(task, fd), data)
