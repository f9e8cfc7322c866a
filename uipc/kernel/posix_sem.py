"""Named POSIX semaphores: glibc's sem_open(3) over /dev/shm and a futex.

glibc keeps a named semaphore in the file /dev/shm/sem.NAME, maps it, and
waits on its word with futex(2).  uipc keeps the semaphore in the IPC
namespace (``ns.sem_files``, beside shm_open's files: docs/deviations.md)
and its waiters in a FIFO queue:

* ``sem_open``: the name rules of ``__shm_get_name`` with the "sem."
  prefix; O_CREAT with a value above SEM_VALUE_MAX is EINVAL; O_EXCL on an
  existing one EEXIST; opening needs read and write permission (glibc opens
  the file O_RDWR), else EACCES.  A process that opens one name several
  times gets the same semaphore back, counted (glibc's tree of mappings), and
  ``sem_close`` drops one count; its handle is the semaphore's number;
* ``sem_post``: EOVERFLOW at SEM_VALUE_MAX; a waiter, if any, takes the
  post (the first one to have waited);
* ``sem_wait``/``sem_timedwait``/``sem_trywait``: EAGAIN for trywait at 0;
  ETIMEDOUT at an absolute CLOCK_REALTIME deadline (a negative one too, as
  glibc's futex wait gives); EINVAL for tv_nsec outside [0, 1e9), checked
  first as glibc does; EINTR when a signal interrupts the wait;
* ``sem_unlink``: ENOENT; EACCES (glibc's for unlink's EPERM in the sticky
  /dev/shm) unless the owner, root or CAP_FOWNER; the semaphore lives on for
  the processes that have it open;
* fork: the child has the parent's mappings, so its semaphores; exec and
  exit drop them.
"""
from __future__ import annotations

import errno
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from uipc.kernel.entry import syscall
from uipc.kernel.errors import KernelError
from uipc.kernel.posix_shm import MAY_READ, MAY_WRITE, O_CREAT, O_EXCL, check_sticky, may_access, shm_name
from uipc.kernel.task import Task
from uipc.kernel.time import NSEC_PER_SEC
from uipc.kernel.wait import WaitQueue, Waiter
from uipc.uapi.mqueue import SEM_VALUE_MAX

if TYPE_CHECKING:
    from uipc.kernel.kernel import Kernel
    from uipc.kernel.namespace import IpcNamespace
    from uipc.kernel.task import Process



@dataclass(eq=False)
class PosixSem:
    """One named semaphore (the sem_t glibc maps from /dev/shm/sem.NAME)."""

    ns: "IpcNamespace"
    sem_id: int
    name: str
    uid: int
    gid: int
    mode: int
    value: int
    linked: bool = True
    #: the file's ctime: made (CLOCK_REALTIME)
    ctime: float = 0.0
    #: posts and waits done, for `uipc top`'s ops/s
    ops: int = 0
    #: processes that have it open (each with its open count)
    openers: dict["Process", int] = field(default_factory=dict)
    waiters: WaitQueue = field(default_factory=WaitQueue)


@dataclass(eq=False)
class SemWaiter(Waiter):
    """A sleeping sem_wait (a futex waiter on the semaphore's word)."""


def _sems(process: "Process") -> dict[int, PosixSem]:
    """The named semaphores the process has mapped: id -> semaphore."""
    sems = process.posix_sems
    if sems is None:
        sems = process.posix_sems = {}
    return sems


def _sem_of(task: Task, sem_id: int) -> PosixSem:
    sem = _sems(task.process).get(sem_id)
    if sem is None:
        raise KernelError(errno.EINVAL, f"semaphore {sem_id} is not open in this process")
    return sem


def _drop(k: "Kernel", sem: PosixSem, process: "Process", count: int) -> None:
    left = sem.openers.get(process, 0) - count
    if left > 0:
        sem.openers[process] = left
        return
    sem.openers.pop(process, None)
    _sems(process).pop(sem.sem_id, None)
    if not sem.openers and not sem.linked:
        _free(sem)


def _free(sem: PosixSem) -> None:
    ns = sem.ns
    if ns.quota is not None:
        ns.quota.uncharge("objects", sem.uid, key=(ns, sem.uid))


@syscall(31, "sem_open", "oflag:i32 mode:u32 value:u32 name:text", result="int",
         doc="sem_open(3) of a named semaphore (mode with the client's umask applied). "
             "Result: its handle")
def sys_sem_open(k: "Kernel", task: Task, oflag: int, mode: int, value: int, name: str) -> int:
    """glibc's sem_open: the file sem.NAME in /dev/shm, opened O_RDWR."""
    ns = task.ns
    file = shm_name(name, "sem.")
    cred = task.cred
    sem: PosixSem | None = ns.sem_files.get(file)
    if oflag & O_CREAT and (sem is None or oflag & O_EXCL) and value > SEM_VALUE_MAX:
        # glibc checks the value before it tries to create (an existing name
        # is opened as it is without O_EXCL)
        raise KernelError(errno.EINVAL, f"value {value} exceeds SEM_VALUE_MAX ({SEM_VALUE_MAX})")
    if sem is None:
        if not oflag & O_CREAT:
            raise KernelError(errno.ENOENT, f"no semaphore /{file[4:]} (O_CREAT not given)")
        if ns.quota is not None:
            ns.quota.charge("objects", cred.euid, key=(ns, cred.euid))
        ns.sem_file_ids += 1
        sem = PosixSem(ns, ns.sem_file_ids, file, cred.euid, cred.egid, mode & 0o7777, value,
                       ctime=k.now)
        ns.sem_files[file] = sem
    else:
        if oflag & (O_CREAT | O_EXCL) == O_CREAT | O_EXCL:
            raise KernelError(errno.EEXIST, f"semaphore /{file[4:]} exists (O_CREAT|O_EXCL)")
        if not may_access(cred, sem.uid, sem.gid, sem.mode, MAY_READ | MAY_WRITE):
            raise KernelError(errno.EACCES, f"semaphore /{file[4:]} (mode {sem.mode & 0o777:o}, "
                              f"uid {sem.uid}) does not grant uid {cred.euid} read and write")
    process = task.process
    sem.openers[process] = sem.openers.get(process, 0) + 1
    _sems(process)[sem.sem_id] = sem
    return sem.sem_id


@syscall(32, "sem_close", "sem:i64", result="none",
         doc="sem_close(3): one open of the handle goes (the mapping at the last)")
def sys_sem_close(k: "Kernel", task: Task, sem: int) -> None:
    _drop(k, _sem_of(task, sem), task.process, 1)


@syscall(33, "sem_unlink", "name:text", result="none",
         doc="sem_unlink(3): the name goes; processes that have it open keep it")
def sys_sem_unlink(k: "Kernel", task: Task, name: str) -> None:
    """glibc's sem_unlink: ENOENT for a name that could name no semaphore."""
    ns = task.ns
    try:
        file = shm_name(name, "sem.")
    except KernelError as exc:  # glibc's name check fails: ENOENT; unlink's ENAMETOOLONG stays
        if exc.errno != errno.EINVAL:
            raise
        raise KernelError(errno.ENOENT, exc.detail) from None
    sem = ns.sem_files.get(file)
    if sem is None:
        raise KernelError(errno.ENOENT, f"no semaphore /{file[4:]}")
    try:
        check_sticky(task.cred, sem.uid)
    except KernelError as exc:
        raise KernelError(errno.EACCES, exc.detail) from None
    del ns.sem_files[file]
    sem.linked = False
    if not sem.openers:
        _free(sem)


@syscall(34, "sem_post", "sem:i64", result="none", doc="sem_post(3)")
def sys_sem_post(k: "Kernel", task: Task, sem: int) -> None:
    """EOVERFLOW at SEM_VALUE_MAX; else the first waiter takes it, or the value grows."""
    s = _sem_of(task, sem)
    if s.value >= SEM_VALUE_MAX:
        raise KernelError(errno.EOVERFLOW, f"the semaphore's value is SEM_VALUE_MAX "
                          f"({SEM_VALUE_MAX})")
    s.ops += 1
    waiter = s.waiters.first()
    if waiter is not None:
        k.wake(waiter, None)  # the post goes straight to it: the value stays 0
    else:
        s.value += 1


@syscall(35, "sem_timedwait", "sem:i64 flags:u8 tv_sec:i64 tv_nsec:i64", result="none",
         doc="sem_wait(3) (flags 0), sem_trywait (1), sem_timedwait (2: absolute CLOCK_REALTIME)")
def sys_sem_timedwait(k: "Kernel", task: Task, sem: int, flags: int, tv_sec: int,
                      tv_nsec: int) -> object:
    timed = flags & 2
    if timed and not 0 <= tv_nsec < NSEC_PER_SEC:
        raise KernelError(errno.EINVAL, f"tv_nsec {tv_nsec} is outside [0, 1e9)")
    s = _sem_of(task, sem)
    if s.value > 0:
        s.value -= 1
        s.ops += 1
        return None
    if flags & 1:
        raise KernelError(errno.EAGAIN, "the semaphore is 0 (sem_trywait)")
    deadline = None
    if timed:
        deadline = k.mono + (tv_sec + tv_nsec / NSEC_PER_SEC - k.now)
        if tv_sec < 0 or deadline <= k.mono:
            raise KernelError(errno.ETIMEDOUT, "the semaphore is 0 and the timeout has passed")
    waiter = SemWaiter(task=task, op="sem_wait", obj_id=s.sem_id, deadline=deadline,
                       timeout_errno=errno.ETIMEDOUT)
    return k.park(s.waiters, waiter)


@syscall(36, "sem_getvalue", "sem:i64", result="int", doc="sem_getvalue(3)")
def sys_sem_getvalue(k: "Kernel", task: Task, sem: int) -> int:
    return _sem_of(task, sem).value


# --- process life -----------------------------------------------------------------
def sem_fork(k: "Kernel", parent: "Process", child: "Process", inherited: object) -> None:
    """The child has the parent's mappings: its semaphores, as many times."""
    for sem in _sems(parent).values():
        sem.openers[child] = sem.openers.get(parent, 1)
        _sems(child)[sem.sem_id] = sem


def sem_exit(k: "Kernel", process: "Process") -> None:
    """exec and exit: the mappings are gone."""
    for sem in list(_sems(process).values()):
        _drop(k, sem, process, sem.openers.get(process, 0))


def free_ns_sem_files(k: "Kernel", ns: "IpcNamespace") -> None:
    for sem in list(ns.sem_files.values()):
        sem.linked = False
        if not sem.openers:
            _free(sem)
    ns.sem_files.clear()
