"""ipc/util.c: ids, keys, permissions and the common get/ctl paths.

Everything the three SysV object types share lives here: the id registry
(:class:`IpcIds`, one per type per namespace) with Linux's exact index and
sequence allocation (``ipc_idr_alloc``: cyclic indices, ``seq`` bumped when
the allocation wraps back, ``id = seq * 32768 + idx``), the key table, the
permission check ``ipcperms`` (and ``ipc_check_perms``, the EACCES every
caller raises when it fails), the get path ``ipcget`` which alone decides
the order of ENOENT, EEXIST, EINVAL and EACCES for every type, and the
prologues of the *ctl paths: ``ipcctl_obtain_stat`` (IPC_STAT and *_STAT)
and ``ipcctl_obtain_check`` (IPC_SET and IPC_RMID).

Objects are plain Python objects with a ``perm`` attribute (a
:class:`KernIpcPerm`), the stand-in for the kernel's ``container_of``: the
registry only ever touches ``.perm``.  The core is single-threaded, so the
kernel's locking essay reduces to this: an object removed with ``ipc_rmid``
is gone from the registry at once and marked ``deleted``; only sleepers that
still hold it see that, and they fail with EIDRM.
"""
from __future__ import annotations

import errno
from dataclasses import dataclass
from typing import Any, Callable, Generic, Iterator, Protocol, TypeVar

from uipc.kernel.errors import KernelError
from uipc.kernel.task import CAP_IPC_OWNER, CAP_SYS_ADMIN, Cred
from uipc.uapi.ipc import IPC_CREAT, IPC_EXCL, IPC_PRIVATE, IPC_STAT, IPCMNI, IpcPerm

S_IRWXUGO = 0o777
S_IRUGO = 0o444
S_IWUGO = 0o222

#: RADIX_TREE_MAP_SIZE: the smallest window ipc_idr_alloc cycles through
IPC_MIN_CYCLE = 64
#: ipcmni_seq_shift() without ipcmni_extend
IPCMNI_SHIFT = 15
#: ipcid_seq_max(): INT_MAX >> IPCMNI_SHIFT
IPCID_SEQ_MAX = 0x7FFFFFFF >> IPCMNI_SHIFT
INT_MAX = 0x7FFFFFFF


@dataclass(eq=False)
class KernIpcPerm:
    """struct kern_ipc_perm."""

    key: int
    mode: int
    uid: int = 0
    gid: int = 0
    cuid: int = 0
    cgid: int = 0
    id: int = -1
    seq: int = 0
    deleted: bool = False

    def to_user(self) -> IpcPerm:
        """kernel_to_ipc64_perm()."""
        return IpcPerm(key=self.key, uid=self.uid, gid=self.gid, cuid=self.cuid,
                       cgid=self.cgid, mode=self.mode, seq=self.seq)


class HasPerm(Protocol):
    perm: KernIpcPerm


T = TypeVar("T", bound=HasPerm)


def ipcid_to_idx(id: int) -> int:
    return id & (IPCMNI - 1)


def ipcid_to_seqx(id: int) -> int:
    return id >> IPCMNI_SHIFT


class IpcIds(Generic[T]):
    """struct ipc_ids: the objects of one type in one namespace."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.in_use = 0
        self.seq = 0
        self.last_idx = -1
        self.max_idx = -1
        #: kernel.{msg,sem,shm}_next_id; -1 when unset
        self.next_id = -1
        self._idr: dict[int, T] = {}
        self._idr_next = 0  # idr->idr_next, for idr_alloc_cyclic
        self._keys: dict[int, T] = {}
        #: per-uid charges for new objects (uipc.kernel.quota), set by the
        #: kernel that owns the namespace; None: unaccounted
        self.quota: Any = None

    # --- the idr -------------------------------------------------------
    def _lowest_free(self, start: int, max_: int) -> int | None:
        idx = start
        while idx <= max_:
            if idx not in self._idr:
                return idx
            idx += 1
        return None

    def _idr_alloc_cyclic(self, end: int) -> int:
        """idr_alloc_cyclic(idr, ptr, 0, end)."""
        max_ = end - 1
        start = self._idr_next
        idx = self._lowest_free(start, max_)
        if idx is None and start > 0:
            idx = self._lowest_free(0, max_)
        if idx is None:
            return -errno.ENOSPC
        self._idr_next = idx + 1
        return idx

    def _ipc_idr_alloc(self, obj: T) -> int:
        """ipc_idr_alloc(): pick the index and sequence number of a new id."""
        perm = obj.perm
        next_id, self.next_id = self.next_id, -1
        if next_id < 0:
            max_idx = min(max(self.in_use * 3 // 2, IPC_MIN_CYCLE), IPCMNI)
            idx = self._idr_alloc_cyclic(max_idx)
            if idx >= 0:
                if idx <= self.last_idx:
                    self.seq += 1
                    if self.seq >= IPCID_SEQ_MAX:
                        self.seq = 0
                self.last_idx = idx
                perm.seq = self.seq
        else:
            # idr_alloc(idr, new, idx, 0): the lowest free index from there up
            perm.seq = ipcid_to_seqx(next_id)
            found = self._lowest_free(ipcid_to_idx(next_id), IPCMNI - 1)
            idx = -errno.ENOSPC if found is None else found
        if idx >= 0:
            self._idr[idx] = obj
            perm.id = (perm.seq << IPCMNI_SHIFT) + idx
        return idx

    # --- add / remove --------------------------------------------------
    def ipc_addid(self, obj: T, limit: int, cred: Cred) -> int:
        """ipc_addid(): register a new object; returns its index.

        Raises:
            ENOSPC: ``limit`` (msgmni, semmni, shmmni) objects exist already.
        """
        limit = min(limit, IPCMNI)
        if self.in_use >= limit:
            raise KernelError(errno.ENOSPC, f"{self.in_use} {self.kind} objects exist, "
                              f"the limit kernel.{self.kind}mni is {limit}")
        if self.quota is not None:  # after Linux's own limit: its message comes first
            self.quota.charge(obj, cred.euid)
        perm = obj.perm
        perm.cuid = perm.uid = cred.euid
        perm.gid = perm.cgid = cred.egid
        perm.deleted = False
        idx = self._ipc_idr_alloc(obj)
        if idx < 0:
            if self.quota is not None:
                self.quota.uncharge(obj, cred.euid)
            raise KernelError(-idx, f"no free {self.kind} index below the allocation window")
        if perm.key != IPC_PRIVATE:
            self._keys[perm.key] = obj
        self.in_use += 1
        if idx > self.max_idx:
            self.max_idx = idx
        return idx

    def ipc_rmid(self, obj: T) -> None:
        """ipc_rmid(): forget an object; its sleepers see ``deleted``."""
        perm = obj.perm
        idx = ipcid_to_idx(perm.id)
        del self._idr[idx]
        self.ipc_kht_remove(obj)
        self.in_use -= 1
        perm.deleted = True
        if self.quota is not None:
            self.quota.uncharge(obj, perm.cuid)
        if idx == self.max_idx:
            # ipc_search_maxidx()
            self.max_idx = max(self._idr, default=-1)

    def ipc_kht_remove(self, obj: T) -> None:
        """Drop the key of an object (IPC_RMID of an attached shm segment)."""
        key = obj.perm.key
        if key != IPC_PRIVATE and self._keys.get(key) is obj:
            del self._keys[key]

    # --- lookups -------------------------------------------------------
    def ipc_findkey(self, key: int) -> T | None:
        return self._keys.get(key)

    def ipc_obtain_object_idr(self, id: int) -> T:
        """Look up by index only (the *_STAT commands pass an index).

        Raises:
            EINVAL: nothing lives at that index.
        """
        obj = self._idr.get(ipcid_to_idx(id)) if id >= 0 else None
        if obj is None:
            raise KernelError(errno.EINVAL, f"no {self.kind} object at index {ipcid_to_idx(id) if id >= 0 else id}")
        return obj

    def ipc_obtain_object_check(self, id: int) -> T:
        """Look up by full id, checking the sequence number.

        Raises:
            EINVAL: no object has this id (never existed, or removed and its
                index reused or free).
        """
        obj = self.ipc_obtain_object_idr(id)
        if ipcid_to_seqx(id) != obj.perm.seq:
            raise KernelError(errno.EINVAL, f"{self.kind} id {id} is stale: index "
                              f"{ipcid_to_idx(id)} now holds id {obj.perm.id}")
        return obj

    def ipc_get_maxidx(self) -> int:
        """ipc_get_maxidx()."""
        if self.in_use == 0:
            return -1
        if self.in_use == IPCMNI:
            return IPCMNI - 1
        return self.max_idx

    def __iter__(self) -> Iterator[T]:
        """Objects in index order."""
        return iter([self._idr[i] for i in sorted(self._idr)])

    def __len__(self) -> int:
        return self.in_use


# --- permissions ------------------------------------------------------------
def ipcperms(cred: Cred, perm: KernIpcPerm, flag: int) -> bool:
    """ipcperms(): True when ``cred`` may access ``perm`` for ``flag``.

    ``flag`` holds the requested rwx bits in any of the three positions (a
    get's mode, or S_IRUGO / S_IWUGO).  Owner (uid or cuid) bits first, then
    group (gid or cgid, against egid and supplementary groups), then other;
    CAP_IPC_OWNER bypasses.
    """
    requested = (flag >> 6) | (flag >> 3) | flag
    granted = perm.mode
    if cred.euid == perm.cuid or cred.euid == perm.uid:
        granted >>= 6
    elif cred.in_group_p(perm.cgid) or cred.in_group_p(perm.gid):
        granted >>= 3
    if requested & ~granted & 0o7 and not cred.capable(CAP_IPC_OWNER):
        return False
    return True


def describe_denial(cred: Cred, perm: KernIpcPerm, what: str) -> str:
    return (f"{what} denied: mode {perm.mode & S_IRWXUGO:03o}, owner {perm.uid}:{perm.gid}, "
            f"creator {perm.cuid}:{perm.cgid}, caller {cred.euid}:{cred.egid}")


def ipc_check_perms(cred: Cred, perm: KernIpcPerm, flag: int, what: str) -> None:
    """ipcperms() as every caller uses it: ``if (ipcperms(...)) return -EACCES;``.

    Args:
        flag: the requested rwx bits, as for :func:`ipcperms`.
        what: the access named in the message ("read", "alter", "mode 600", ...).
    Raises:
        EACCES: ``cred`` lacks a requested bit and CAP_IPC_OWNER; the message
            shows the mode, owner, creator and caller.
    """
    if not ipcperms(cred, perm, flag):
        raise KernelError(errno.EACCES, describe_denial(cred, perm, what))


def ipcctl_obtain_stat(ids: IpcIds[T], id: int, cred: Cred, cmd: int, stat_any: int) -> T:
    """The lookup that opens msgctl_stat(), semctl_stat() and shmctl_stat().

    IPC_STAT passes a full id (``ipc_obtain_object_check``); MSG_STAT,
    SEM_STAT, SHM_STAT and their *_STAT_ANY pass an index
    (``ipc_obtain_object_idr``), as ipcs does when it walks the table.  Read
    permission (``ipcperms(S_IRUGO)``) is checked for all but ``stat_any``,
    which, like /proc/sysvipc, shows every object.

    Args:
        cmd: IPC_STAT, or the type's *_STAT or *_STAT_ANY.
        stat_any: the type's *_STAT_ANY (MSG_STAT_ANY, SEM_STAT_ANY, SHM_STAT_ANY).
    Raises:
        EINVAL: no such id / nothing at that index.
        EACCES: no read permission (not checked for *_STAT_ANY).
    """
    obj = ids.ipc_obtain_object_check(id) if cmd == IPC_STAT else ids.ipc_obtain_object_idr(id)
    if cmd != stat_any:
        ipc_check_perms(cred, obj.perm, S_IRUGO, "read (stat)")
    return obj


def ipcctl_obtain_check(ids: IpcIds[T], id: int, cred: Cred) -> T:
    """ipcctl_obtain_check(): IPC_SET/IPC_RMID need ownership or CAP_SYS_ADMIN.

    Raises:
        EINVAL: no such id.
        EPERM: caller is neither owner nor creator and lacks CAP_SYS_ADMIN.
    """
    obj = ids.ipc_obtain_object_check(id)
    perm = obj.perm
    if cred.euid in (perm.cuid, perm.uid) or cred.capable(CAP_SYS_ADMIN):
        return obj
    raise KernelError(errno.EPERM, f"only the owner ({perm.uid}), the creator ({perm.cuid}) "
                      f"or CAP_SYS_ADMIN may change or remove {ids.kind} id {id}; caller is {cred.euid}")


def ipc_update_perm(uid: int, gid: int, mode: int, perm: KernIpcPerm) -> None:
    """ipc_update_perm(): IPC_SET's new owner and permission bits.

    Raises:
        EINVAL: uid or gid is (uid_t)-1, which names no user.
    """
    if uid in (-1, 0xFFFFFFFF) or gid in (-1, 0xFFFFFFFF):
        raise KernelError(errno.EINVAL, f"IPC_SET uid {uid} / gid {gid}: -1 is not a valid id")
    perm.uid = uid & 0xFFFFFFFF
    perm.gid = gid & 0xFFFFFFFF
    perm.mode = (perm.mode & ~S_IRWXUGO) | (mode & S_IRWXUGO)


# --- the common get path ----------------------------------------------------
@dataclass(frozen=True)
class IpcOps(Generic[T]):
    """struct ipc_ops: what differs between msgget, semget and shmget."""

    getnew: Callable[[int, int], int]
    #: extra checks on an existing object before ipcperms (semget's nsems, shmget's size)
    more_checks: Callable[[T], None] | None = None
    #: after the permission check (security hooks in Linux; nothing here)
    associate: Callable[[T], None] | None = None


def ipcget(ids: IpcIds[T], ops: IpcOps[T], cred: Cred, key: int, flg: int) -> int:
    """ipcget(): the get path shared by msgget, semget and shmget.

    Args:
        key: IPC_PRIVATE always creates; otherwise looked up in the key table.
        flg: IPC_CREAT, IPC_EXCL and the mode bits.
    Returns:
        The id of the found or created object.
    Raises (in this order):
        ENOENT: no object has the key and IPC_CREAT is not set.
        whatever ``getnew`` raises (EINVAL, ENOSPC, ...).
        EEXIST: the key exists and IPC_CREAT|IPC_EXCL was given.
        whatever ``more_checks`` raises.
        EACCES: the mode bits requested in ``flg`` are not granted.
    """
    if key == IPC_PRIVATE:
        return ops.getnew(key, flg)
    obj = ids.ipc_findkey(key)
    if obj is None:
        if not flg & IPC_CREAT:
            raise KernelError(errno.ENOENT, f"no {ids.kind} object has key 0x{key & 0xFFFFFFFF:08x} "
                              "and IPC_CREAT was not given")
        return ops.getnew(key, flg)
    if flg & IPC_CREAT and flg & IPC_EXCL:
        raise KernelError(errno.EEXIST, f"key 0x{key & 0xFFFFFFFF:08x} already names {ids.kind} "
                          f"id {obj.perm.id} and IPC_EXCL was given")
    if ops.more_checks is not None:
        ops.more_checks(obj)
    ipc_check_perms(cred, obj.perm, flg, f"mode {flg & S_IRWXUGO:03o}")
    if ops.associate is not None:
        ops.associate(obj)
    return obj.perm.id
