"""ipc/namespace.c, ipc_sysctl.c, mq_sysctl.c: one IPC namespace.

A namespace owns the three id registries and the sysctl limits that every
get/send path consults.  New namespaces start from Linux's defaults, as
``create_ipc_ns`` -> ``msg_init_ns``/``sem_init_ns``/``shm_init_ns`` do.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from uipc.kernel.ids import IpcIds
from uipc.uapi.msg import MSGMAX, MSGMNB, MSGMNI
from uipc.uapi.sem import SEMMNI, SEMMNS, SEMMSL, SEMOPM
from uipc.uapi.shm import SHMALL, SHMMAX, SHMMNI

# fs.mqueue defaults (include/linux/ipc_namespace.h)
DFLT_QUEUESMAX = 256
DFLT_MSG = 10
DFLT_MSGMAX = 10
DFLT_MSGSIZE = 8192
DFLT_MSGSIZEMAX = 8192


@dataclass(eq=False)
class IpcNamespace:
    """struct ipc_namespace."""

    name: str = ""
    #: the uid that created it (its owner, as ns->user_ns's owner): it may set
    #: the namespace's limits and join it by name; the initial namespace
    #: belongs to the daemon's uid
    owner_uid: int = 0
    # kernel.msg*
    msg_ctlmax: int = MSGMAX
    msg_ctlmnb: int = MSGMNB
    msg_ctlmni: int = MSGMNI
    # kernel.sem: semmsl semmns semopm semmni
    sem_ctls: list[int] = field(default_factory=lambda: [SEMMSL, SEMMNS, SEMOPM, SEMMNI])
    # kernel.shm*
    shm_ctlmax: int = SHMMAX
    shm_ctlall: int = SHMALL
    shm_ctlmni: int = SHMMNI
    shm_rmid_forced: int = 0
    # fs.mqueue.*
    mq_queues_max: int = DFLT_QUEUESMAX
    mq_msg_max: int = DFLT_MSGMAX
    mq_msgsize_max: int = DFLT_MSGSIZEMAX
    mq_msg_default: int = DFLT_MSG
    mq_msgsize_default: int = DFLT_MSGSIZE
    #: the mqueue filesystem's root: name -> MqueueInode (uipc/kernel/mqueue.py)
    mq_root: dict[str, Any] = field(default_factory=dict)
    #: queues that exist (named or still open): queues_max's count
    mq_queues_count: int = 0
    #: inode numbers handed out, and every queue that exists by its number
    #: (named or unlinked and still open), for introspection
    mq_inodes: int = 0
    mq_all: dict[int, Any] = field(default_factory=dict)
    #: its /dev/shm (kept in the namespace: docs/deviations.md): shm_open's
    #: files (uipc/kernel/posix_shm.py) and named semaphores (posix_sem.py)
    shm_files: dict[str, Any] = field(default_factory=dict)
    sem_files: dict[str, Any] = field(default_factory=dict)
    sem_file_ids: int = 0
    shm_file_ids: int = 0
    #: fs/pipe.c's sysctls, per-uid pipe pages and the FIFO directory
    #: (uipc/kernel/pipe.py PipeNamespace; made on first use)
    pipe: Any = None
    # usage counters
    msg_hdrs: int = 0     # percpu_msg_hdrs
    msg_bytes: int = 0    # percpu_msg_bytes
    used_sems: int = 0
    shm_tot: int = 0      # pages
    msg_ids: IpcIds[Any] = field(default_factory=lambda: IpcIds("msg"))
    sem_ids: IpcIds[Any] = field(default_factory=lambda: IpcIds("sem"))
    shm_ids: IpcIds[Any] = field(default_factory=lambda: IpcIds("shm"))
    #: processes that live in this namespace (its reference count)
    processes: set[Any] = field(default_factory=set)
    #: the kernel's per-uid quotas (uipc.kernel.quota.Quota); None: unaccounted
    quota: Any = None

    @property
    def sc_semmsl(self) -> int:
        return self.sem_ctls[0]

    @property
    def sc_semmns(self) -> int:
        return self.sem_ctls[1]

    @property
    def sc_semopm(self) -> int:
        return self.sem_ctls[2]

    @property
    def sc_semmni(self) -> int:
        return self.sem_ctls[3]


def ns_capable_owner(ns: IpcNamespace, cred: Any, cap: str) -> bool:
    """May ``cred`` act as the owner of ``ns``: its creator's uid, or holding
    ``cap`` (in the daemon's user namespace: the daemon decides who has it).

    Linux asks ns_capable(ns->user_ns, cap); a uipc namespace belongs to the
    uid that created it, the way a user namespace belongs to its creator.
    """
    return cred.euid == ns.owner_uid or cred.capable(cap)
