"""Per-uid quotas: what no one user may take from the others.

Linux bounds SysV IPC per namespace (msgmni, semmns, shmmni...) and per user
only in a few places (RLIMIT_MSGQUEUE for POSIX queues, ucounts'
``max_ipc_namespaces``).  One daemon shared by every user of a machine needs
per-uid bounds as well, or one user fills a namespace, the daemon's memory
or its descriptor table for everyone.  Each quota has a default, is visible
and settable (by root, or by the user a per-user daemon serves) as ``uipc.quota.<name>`` in ``uipc sysctl``, and
answers the errno Linux uses for the matching limit:

========================  =============================================  ======
quota                     what it bounds                                 errno
========================  =============================================  ======
objects                   queues + sets + segments one uid created in    ENOSPC
                          one namespace (as msgmni/semmni/shmmni)
segments                  shm segments one uid created, all namespaces   ENOSPC
                          (each holds a memfd in the daemon)
sems                      semaphores in sets one uid created (semmns)    ENOSPC
msg_bytes                 bytes of messages one uid sent that wait in    EAGAIN
                          queues (msgmnb: the queue is full; for POSIX   (ENOMEM
                          queues ENOMEM, as a failed load_msg)            for mq)
namespaces                IPC namespaces one uid created                 ENOSPC
                          (user.max_ipc_namespaces)
files                     open files (mq_open descriptions) one uid      EMFILE
                          holds (each holds a descriptor in the daemon)
connections               connections one uid holds (daemon)             EMFILE
reply_bytes               replies the daemon holds for one uid's         (drop)
                          connections that do not read them
input_bytes               unfinished request frames buffered for one     (drop)
                          uid's connections
========================  =============================================  ======

Objects are charged to their creator (``cuid``, which IPC_SET never
changes), messages to their sender, until they are freed or received.  The
core keeps the counts; the daemon enforces the last three.
"""
from __future__ import annotations

import errno
from collections import defaultdict
from dataclasses import dataclass, fields
from typing import Any, Hashable

from uipc.kernel.errors import KernelError

MiB = 1024 * 1024


@dataclass
class QuotaLimits:
    """The quotas' values (uipc.quota.*)."""

    objects: int = 8192
    segments: int = 4096
    sems: int = 262144
    msg_bytes: int = 256 * MiB
    namespaces: int = 256
    files: int = 4096
    connections: int = 1024
    reply_bytes: int = 256 * MiB
    input_bytes: int = 256 * MiB


QUOTA_NAMES = tuple(f.name for f in fields(QuotaLimits))

#: what the message says each quota counts
_WHAT = {"objects": "IPC objects in this namespace", "segments": "shared memory segments",
         "sems": "semaphores", "msg_bytes": "bytes of queued messages",
         "namespaces": "IPC namespaces", "connections": "connections",
         "files": "open files"}


class Quota:
    """The limits and, per uid, what each uid holds."""

    def __init__(self, owner_uid: int = 0) -> None:
        #: who may change the limits besides root: the daemon's own uid (in
        #: per-user mode, the one user it serves)
        self.owner_uid = owner_uid
        self.limits = QuotaLimits()
        #: quota name -> key (a uid, or (namespace, uid)) -> amount held
        self.usage: dict[str, dict[Hashable, int]] = defaultdict(dict)

    def charge(self, name: str, uid: int, amount: int = 1, err: int = errno.ENOSPC,
               key: Hashable = None, force: bool = False) -> None:
        """Count ``amount`` more for ``uid``, or raise KernelError(err) if the
        quota would be exceeded (nothing is counted then); ``force``: count it
        anyway (what already happened, such as a blocked sender's message
        entering its queue)."""
        held = self.usage[name]
        k = uid if key is None else key
        used = held.get(k, 0)
        limit = getattr(self.limits, name)
        if used + amount > limit and not force:
            raise KernelError(err, f"uid {uid} holds {used} {_WHAT.get(name, name)}; {amount} more "
                              f"would exceed the quota uipc.quota.{name} ({limit})")
        held[k] = used + amount

    def uncharge(self, name: str, uid: int, amount: int = 1, key: Hashable = None) -> None:
        held = self.usage[name]
        k = uid if key is None else key
        left = held.get(k, 0) - amount
        if left > 0:
            held[k] = left
        else:
            held.pop(k, None)

    def held(self, name: str, uid: int, key: Hashable = None) -> int:
        return self.usage[name].get(uid if key is None else key, 0)


class ObjectQuota:
    """The charges an id registry (IpcIds) makes for one namespace: one
    object per creator, a segment per shm object, its semaphores per set."""

    __slots__ = ("quota", "ns", "kind")

    def __init__(self, quota: Quota, ns: Any, kind: str) -> None:
        self.quota, self.ns, self.kind = quota, ns, kind

    def charge(self, obj: Any, uid: int) -> None:
        q = self.quota
        q.charge("objects", uid, key=(self.ns, uid))
        try:
            if self.kind == "shm":
                q.charge("segments", uid)
            elif self.kind == "sem":
                q.charge("sems", uid, obj.sem_nsems)
        except KernelError:
            q.uncharge("objects", uid, key=(self.ns, uid))
            raise

    def uncharge(self, obj: Any, uid: int) -> None:
        q = self.quota
        q.uncharge("objects", uid, key=(self.ns, uid))
        if self.kind == "shm":
            q.uncharge("segments", uid)
        elif self.kind == "sem":
            q.uncharge("sems", uid, obj.sem_nsems)
