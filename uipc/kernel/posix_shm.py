"""shm_open(3) and shm_unlink(3): glibc's files in /dev/shm (mm/shmem.c's tmpfs).

In Linux these are files of a tmpfs mount, not IPC objects; glibc turns a
name into ``/dev/shm/NAME`` and calls open(2)/unlink(2).  uipc keeps them in
the IPC namespace instead (``ns.shm_files``), so that a private namespace
isolates them as a container's own /dev/shm would (docs/deviations.md).
What open(2) on that directory would check is checked here:

* glibc's names (``__shm_get_name``): leading slashes dropped; empty, or
  with another '/', EINVAL; NAME_MAX or longer, ENAMETOOLONG;
* ``may_open``: ENOENT without O_CREAT, EEXIST for O_CREAT|O_EXCL, EACCES by
  the mode bits (read for O_RDONLY, write for O_WRONLY, both for O_RDWR;
  O_TRUNC needs write too) unless CAP_DAC_OVERRIDE; a new file gets the
  caller's fsuid/fsgid and ``mode & ~umask`` (the client applies its umask);
* unlink in the sticky /dev/shm (mode 1777, owned by root): the file's
  owner, root or CAP_FOWNER, else EPERM — which glibc reports as EACCES.

The bytes live in a memory object of the kernel's allocator (a memfd in the
daemon, sized by the clients' own ftruncate); each shm_open replies with a
descriptor of it (a new open file: O_RDONLY for a read-only open), so
``os.fstat``, ``os.ftruncate`` and ``mmap`` work on it as on a tmpfs file.
"""
from __future__ import annotations

import errno
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from uipc.kernel.entry import syscall
from uipc.kernel.errors import KernelError
from uipc.kernel.file import O_ACCMODE, O_RDONLY, O_RDWR, O_WRONLY
from uipc.kernel.namei import MAY_READ, MAY_WRITE, generic_permission
from uipc.kernel.task import CAP_FOWNER, Cred, Task
from uipc.uapi.mqueue import NAME_MAX

if TYPE_CHECKING:
    from uipc.kernel.kernel import Kernel
    from uipc.kernel.namespace import IpcNamespace

O_CREAT = 0o100
O_EXCL = 0o200
O_TRUNC = 0o1000
S_IALLUGO = 0o7777


#: glibc's buffer for "/dev/shm/" + prefix + name + NUL (struct shmdir_name)
SHMDIR_NAME_SIZE = len("/dev/shm/") + 1 + 4 + NAME_MAX


def shm_name(name: str, prefix: str = "") -> str:
    """__shm_get_name() and then open(2)'s lookup: the file name in /dev/shm.

    EINVAL: empty after the leading slashes, another '/', or too long for
    glibc's buffer (prefix + name over 259 bytes); ENAMETOOLONG: a file name
    over NAME_MAX that still fits it (the kernel's lookup refuses it)."""
    stripped = name.lstrip("/")
    if not stripped or "/" in stripped or "\0" in stripped:
        raise KernelError(errno.EINVAL, f"name {name!r}: empty, or '/' after the leading ones")
    file = prefix + stripped
    size = len(file.encode())
    if len("/dev/shm/") + size + 1 > SHMDIR_NAME_SIZE:
        raise KernelError(errno.EINVAL, f"name {name!r}: /dev/shm/{file[:16]}... does not fit "
                          f"glibc's {SHMDIR_NAME_SIZE}-byte path buffer")
    if size > NAME_MAX:
        raise KernelError(errno.ENAMETOOLONG, f"name {name!r}: the file name is {size} bytes, "
                          f"NAME_MAX is {NAME_MAX}")
    return file


#: may_open()'s check of a /dev/shm file's mode
may_access = generic_permission


def access_mask(oflag: int) -> int:
    """ACC_MODE(): what open(2) asks of the mode bits (O_TRUNC adds write)."""
    acc = oflag & O_ACCMODE
    mask = {O_RDONLY: MAY_READ, O_WRONLY: MAY_WRITE, O_RDWR: MAY_READ | MAY_WRITE}.get(
        acc, MAY_READ | MAY_WRITE)
    return mask | (MAY_WRITE if oflag & O_TRUNC else 0)


def check_sticky(cred: Cred, owner: int) -> None:
    """may_delete() in /dev/shm (1777, root's): EPERM unless the file's owner,
    the directory's (root) or CAP_FOWNER."""
    if cred.euid not in (owner, 0) and not cred.capable(CAP_FOWNER):
        raise KernelError(errno.EPERM, f"/dev/shm is sticky: the file belongs to uid {owner}, "
                          "only it, root or CAP_FOWNER may unlink it")


@dataclass(eq=False)
class ShmFile:
    """A tmpfs file of /dev/shm: its inode's owner, mode and memory."""

    name: str
    uid: int
    gid: int
    mode: int
    memory: Any
    ctime: float = 0.0
    #: its number in the namespace, for introspection
    ino: int = 0


def _release(k: "Kernel", ns: "IpcNamespace", f: ShmFile) -> None:
    k.memory.free(f.memory)
    if ns.quota is not None:
        ns.quota.uncharge("objects", f.uid, key=(ns, f.uid))


@syscall(29, "shm_open", "oflag:i32 mode:u32 name:text", result="memory", fds=1,
         doc="shm_open(3) (the client has applied its umask to mode). Replies with a descriptor "
             "of the file's memory (SCM_RIGHTS) opened with oflag's access mode")
def sys_shm_open(k: "Kernel", task: Task, oflag: int, mode: int, name: str) -> tuple[Any, int]:
    """open(2) of /dev/shm/NAME as glibc's shm_open makes it."""
    ns = task.ns
    file = shm_name(name)
    if file in (".", ".."):  # /dev/shm itself, or /dev: a directory, not an object
        if oflag & (O_CREAT | O_EXCL) == O_CREAT | O_EXCL:
            raise KernelError(errno.EEXIST, f"/dev/shm/{file} exists (a directory)")
        # open(2) says EISDIR, which glibc's shm_open reports as EINVAL; a
        # read-only open would give a directory's descriptor (docs/deviations.md)
        raise KernelError(errno.EINVAL, f"/dev/shm/{file} is a directory")
    cred = task.cred
    f: ShmFile | None = ns.shm_files.get(file)
    if f is None:
        if not oflag & O_CREAT:
            raise KernelError(errno.ENOENT, f"no shared memory object /{file} (O_CREAT not given)")
        if ns.quota is not None:
            ns.quota.charge("objects", cred.euid, key=(ns, cred.euid))
        try:
            memory = k.memory.alloc_file(cred.euid, cred.egid, mode & S_IALLUGO)
        except BaseException:
            if ns.quota is not None:
                ns.quota.uncharge("objects", cred.euid, key=(ns, cred.euid))
            raise
        ns.shm_file_ids += 1
        f = ShmFile(file, cred.euid, cred.egid, mode & S_IALLUGO, memory, k.now, ns.shm_file_ids)
        ns.shm_files[file] = f
    else:
        if oflag & (O_CREAT | O_EXCL) == O_CREAT | O_EXCL:
            raise KernelError(errno.EEXIST, f"shared memory object /{file} exists (O_CREAT|O_EXCL)")
        if not may_access(cred, f.uid, f.gid, f.mode, access_mask(oflag)):
            raise KernelError(errno.EACCES, f"/dev/shm/{file} (mode {f.mode & 0o777:o}, uid "
                              f"{f.uid}) does not grant uid {cred.euid} the access asked")
        if oflag & O_TRUNC:
            k.memory.truncate(f.memory, 0)
    return f.memory, oflag & O_ACCMODE


@syscall(30, "shm_unlink", "name:text", result="none",
         doc="shm_unlink(3): the name goes; descriptors and mappings keep the memory")
def sys_shm_unlink(k: "Kernel", task: Task, name: str) -> None:
    """unlink(2) of /dev/shm/NAME (glibc turns EPERM into EACCES)."""
    ns = task.ns
    try:
        file = shm_name(name)
    except KernelError as exc:  # glibc's name check fails: ENOENT; unlink's ENAMETOOLONG stays
        if exc.errno != errno.EINVAL:
            raise
        raise KernelError(errno.ENOENT, exc.detail) from None
    if file in (".", ".."):
        raise KernelError(errno.EISDIR, f"/dev/shm/{file} is a directory")
    f = ns.shm_files.get(file)
    if f is None:
        raise KernelError(errno.ENOENT, f"no shared memory object /{file}")
    try:
        check_sticky(task.cred, f.uid)
    except KernelError as exc:
        raise KernelError(errno.EACCES, exc.detail) from None
    del ns.shm_files[file]
    _release(k, ns, f)


def free_ns_shm_files(k: "Kernel", ns: "IpcNamespace") -> None:
    """The namespace's /dev/shm goes with it (as a container's tmpfs)."""
    for f in list(ns.shm_files.values()):
        _release(k, ns, f)
    ns.shm_files.clear()
