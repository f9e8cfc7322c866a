"""fs/fcntl.c and fs/file.c's dup, for the files uipc serves.

A uipc descriptor is a real descriptor of the client (its doorbell,
uipc/server/doorbell.py) whose open file names one ``File`` of the core.
``dup`` happens in the client (``os.dup`` of the doorbell shares its open
file, hence its ``File``, its readiness and its last-close event); the core
keeps one entry per open file per process, so all it hears of a dup is that
the entry must now survive exec unless the new descriptor is close-on-exec.

``fcntl``:

* F_GETFL: the file's flags (access mode, O_NONBLOCK, O_DIRECT...);
* F_SETFL (``setfl``): O_APPEND, O_NONBLOCK, O_DIRECT and O_NOATIME change,
  the rest stays; O_DIRECT is EINVAL except on a pipe or FIFO (its packet
  mode); O_NOATIME needs the inode's owner or CAP_FOWNER (EPERM); O_ASYNC is
  not taken (no uipc file has ->fasync: no SIGIO);
* F_SETPIPE_SZ, F_GETPIPE_SZ: ``pipe_fcntl`` (EBADF for a file that is not
  a pipe);
* anything else: EINVAL.
"""
from __future__ import annotations

import errno
from typing import TYPE_CHECKING

from uipc.kernel.entry import syscall
from uipc.kernel.errors import KernelError
from uipc.kernel.file import O_NONBLOCK, File
from uipc.kernel.pipe import get_pipe_info, inode_owner_or_capable, pipe_fcntl
from uipc.kernel.read_write import fdget
from uipc.kernel.task import Task
from uipc.uapi.fcntl import (
    F_GETFL, F_GETPIPE_SZ, F_SETFL, F_SETPIPE_SZ, O_APPEND, O_DIRECT, O_NOATIME,
)

if TYPE_CHECKING:
    from uipc.kernel.kernel import Kernel

#: what F_SETFL may change
SETFL_MASK = O_APPEND | O_NONBLOCK | O_DIRECT | O_NOATIME


def inode_owner(file: File) -> int:
    """i_uid of the file's inode: a pipe's creator or a FIFO's owner, a
    queue's; eventfd and timerfd share the anonymous inode, root's."""
    pipe = get_pipe_info(file)
    if pipe is not None:
        return pipe.owner
    return int(getattr(file.private_data, "i_uid", 0))


def setfl(task: Task, file: File, arg: int) -> None:
    """setfl(): f_flags = (arg & SETFL_MASK) | (f_flags & ~SETFL_MASK)."""
    arg &= 0xFFFFFFFF  # f_flags is an unsigned int
    if arg & O_NOATIME and not file.f_flags & O_NOATIME:
        if not inode_owner_or_capable(task.cred, inode_owner(file)):
            raise KernelError(errno.EPERM, "O_NOATIME: only the inode's owner or CAP_FOWNER")
    if arg & O_DIRECT and get_pipe_info(file) is None:
        raise KernelError(errno.EINVAL, f"O_DIRECT: a {file.f_op.name} has no direct I/O "
                          "(only pipes take it, as packet mode)")
    file.f_flags = (arg & SETFL_MASK) | (file.f_flags & ~SETFL_MASK)


@syscall(48, "fcntl", "fd:u64 cmd:i32 arg:u64", result="int",
         doc="fcntl(2) of a uipc descriptor (named by its st_ino): F_GETFL, F_SETFL, "
             "F_SETPIPE_SZ, F_GETPIPE_SZ (asm-generic flag values)")
def sys_fcntl(k: "Kernel", task: Task, fd: int, cmd: int, arg: int) -> int:
    """do_fcntl()."""
    file = fdget(task, fd)
    if cmd == F_GETFL:
        return file.f_flags
    if cmd == F_SETFL:
        setfl(task, file, arg)
        return 0
    if cmd in (F_SETPIPE_SZ, F_GETPIPE_SZ):
        return pipe_fcntl(k, task, file, cmd, arg)
    raise KernelError(errno.EINVAL, f"fcntl command {cmd}: uipc's are F_GETFL, F_SETFL, "
                      "F_SETPIPE_SZ and F_GETPIPE_SZ")


@syscall(47, "dup", "fd:u64 cloexec:u8", result="none",
         doc="dup(2) of a uipc descriptor (named by its st_ino), before the client dups the "
             "real one; cloexec 0: the file now survives exec (the new descriptor is not "
             "close-on-exec)")
def sys_dup(k: "Kernel", task: Task, fd: int, cloexec: int) -> None:
    """dup() / F_DUPFD: EBADF unless ``fd`` is the caller's; the process's
    entry of the file stays open across exec unless the new one is
    close-on-exec (an entry per open file: it closes with the last)."""
    fdget(task, fd)
    if not cloexec:
        task.process.files.set_cloexec(fd, False)
