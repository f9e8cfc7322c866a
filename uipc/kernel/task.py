"""struct task_struct and struct cred, reduced to what IPC needs.

A :class:`Process` is a thread group (tgid): it owns the SysV semaphore undo
list, the shared-memory attachments and the descriptor table (``files``, a
uipc/kernel/file.py FdTable its threads share, as CLONE_FILES threads do),
and belongs to one IPC namespace.  A
:class:`Task` is one thread of it (one client connection): it blocks in at
most one syscall at a time.  Identities are given to the core by the caller
(the daemon reads them from SO_PEERCRED and /proc); the core never asks.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from uipc.kernel.file import FdTable

if TYPE_CHECKING:
    from uipc.kernel.namespace import IpcNamespace
    from uipc.kernel.wait import Waiter

# capabilities the IPC code tests, named as in include/uapi/linux/capability.h
CAP_DAC_OVERRIDE = "CAP_DAC_OVERRIDE"
CAP_FOWNER = "CAP_FOWNER"
CAP_KILL = "CAP_KILL"
CAP_IPC_LOCK = "CAP_IPC_LOCK"
CAP_IPC_OWNER = "CAP_IPC_OWNER"
CAP_SYS_ADMIN = "CAP_SYS_ADMIN"
CAP_SYS_RESOURCE = "CAP_SYS_RESOURCE"
ROOT_CAPS = frozenset({CAP_DAC_OVERRIDE, CAP_FOWNER, CAP_KILL, CAP_IPC_LOCK, CAP_IPC_OWNER,
                       CAP_SYS_ADMIN, CAP_SYS_RESOURCE})
#: capability bit numbers (include/uapi/linux/capability.h), for CapEff masks
CAP_BITS = {CAP_DAC_OVERRIDE: 1, CAP_FOWNER: 3, CAP_KILL: 5, CAP_IPC_LOCK: 14, CAP_IPC_OWNER: 15, CAP_SYS_ADMIN: 21, CAP_SYS_RESOURCE: 24}


def caps_from_mask(mask: int) -> frozenset[str]:
    """The IPC-relevant capabilities in a CapEff bit mask."""
    return frozenset(name for name, bit in CAP_BITS.items() if mask >> bit & 1)


@dataclass(frozen=True, slots=True)
class Cred:
    """struct cred: who a process is, for ipcperms() and friends."""

    uid: int
    gid: int
    euid: int
    egid: int
    groups: frozenset[int] = frozenset()
    caps: frozenset[str] = frozenset()

    @classmethod
    def of(cls, uid: int, gid: int, groups: frozenset[int] = frozenset(),
           caps: frozenset[str] | None = None) -> "Cred":
        """Credentials of a process; without ``caps``, uid 0 gets root's capabilities."""
        if caps is None:
            caps = ROOT_CAPS if uid == 0 else frozenset()
        return cls(uid, gid, uid, gid, frozenset(groups), frozenset(caps))

    def capable(self, cap: str) -> bool:
        """capable() / ns_capable()."""
        return cap in self.caps

    def in_group_p(self, gid: int) -> bool:
        """in_group_p(): the fs/effective gid or a supplementary group."""
        return gid == self.egid or gid in self.groups


@dataclass(eq=False)
class Process:
    """A thread group: the unit that owns undo lists and shm attachments."""

    pid: int
    cred: Cred
    ns: "IpcNamespace"
    tasks: set["Task"] = field(default_factory=set)
    # struct sem_undo_list: semid -> SemUndo, owned by sem.py
    sysvsem: dict[int, Any] = field(default_factory=dict)
    # attachments, owned by shm.py
    shm_attachments: dict[int, Any] = field(default_factory=dict)
    #: struct files_struct: its open files, owned by file.py
    files: FdTable = field(default_factory=FdTable)
    exited: bool = False
    #: the parent whose attachments it reported as inherited (once: fork)
    forked_from: int = 0
    #: SIGEV_THREAD notifications fired for it (uipc/kernel/mqueue.py)
    mq_notify: Any = None
    #: named semaphores it has mapped: id -> PosixSem (uipc/kernel/posix_sem.py)
    posix_sems: Any = None
    #: its signal state: mask and pending set (uipc/kernel/signal.py)
    signal: Any = None
    #: its parent, as the daemon verified it (/proc, start times) when the
    #: process appeared; 0 if the parent is unknown to the kernel
    ppid: int = 0

    def __repr__(self) -> str:
        return f"Process(pid={self.pid})"


@dataclass(eq=False)
class Task:
    """One thread of a process; blocks in at most one syscall at a time."""

    tid: int
    process: Process
    waiter: "Waiter | None" = None
    #: this thread's credentials when they differ from the process's (a
    #: thread that connected after a setuid); Linux keeps creds per task
    own_cred: Cred | None = None

    @property
    def pid(self) -> int:
        """task_tgid_vnr(): the process id IPC records (lspid, sempid...)."""
        return self.process.pid

    @property
    def cred(self) -> Cred:
        return self.own_cred if self.own_cred is not None else self.process.cred

    @property
    def ns(self) -> "IpcNamespace":
        return self.process.ns

    def __repr__(self) -> str:
        return f"Task(tid={self.tid}, pid={self.pid})"
