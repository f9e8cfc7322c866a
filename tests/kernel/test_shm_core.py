"""ipc/shm.c semantics on the pure core: sizes, limits, nattch, SHM_DEST."""
from __future__ import annotations

import dataclasses
import errno as E

from uipc.kernel.shm import BytearrayAllocator, shm_fork
from uipc.uapi import (
    IPC_CREAT, IPC_EXCL, IPC_INFO, IPC_PRIVATE, IPC_RMID, IPC_SET, IPC_STAT, SHM_DEST,
    SHM_HUGETLB, SHM_INFO, SHM_LOCK, SHM_LOCKED, SHM_RDONLY, SHM_REMAP, SHM_RND, SHM_STAT,
    SHM_STAT_ANY, SHM_UNLOCK,
)

from tests.kernel.conftest import World


def stat(w: World, t, s):
    return w.call(t, "shmctl", s, IPC_STAT)[1]


def alloc(w: World) -> BytearrayAllocator:
    a = BytearrayAllocator(limit=1 << 20)
    w.k.shm_allocator = a
    return a


def test_shmget_sizes_and_keys(w: World) -> None:
    alloc(w)
    t = w.proc_task()
    assert w.err(t, "shmget", IPC_PRIVATE, 0, 0o600) == E.EINVAL
    s = w.call(t, "shmget", 0x30, 5000, IPC_CREAT | 0o640)
    assert w.call(t, "shmget", 0x30, 4000, 0) == s
    assert w.call(t, "shmget", 0x30, 0, 0) == s
    assert w.err(t, "shmget", 0x30, 5001, 0) == E.EINVAL
    assert w.err(t, "shmget", 0x30, 10, IPC_CREAT | IPC_EXCL) == E.EEXIST
    assert w.err(t, "shmget", 0x31, 10, 0) == E.ENOENT
    assert w.err(t, "shmget", IPC_PRIVATE, 4096, SHM_HUGETLB) == E.ENOMEM
    assert w.err(t, "shmget", IPC_PRIVATE, 1 << 30, 0) == E.ENOMEM  # past the allocator
    ds = stat(w, t, s)
    assert (ds.shm_segsz, ds.shm_cpid, ds.shm_nattch, ds.shm_ctime, ds.shm_atime) == (5000, t.pid, 0, 1000, 0)
    assert t.ns.shm_tot == 2


def test_limits(w: World) -> None:
    alloc(w)
    t = w.proc_task()
    t.ns.shm_ctlmax = 8192
    assert w.err(t, "shmget", IPC_PRIVATE, 8193, 0) == E.EINVAL
    t.ns.shm_ctlall = 3
    w.call(t, "shmget", IPC_PRIVATE, 8192, 0)
    assert w.err(t, "shmget", IPC_PRIVATE, 4097, 0) == E.ENOSPC
    t.ns.shm_ctlmni = 2
    w.call(t, "shmget", IPC_PRIVATE, 1, 0)
    assert w.err(t, "shmget", IPC_PRIVATE, 1, 0) == E.ENOSPC


def test_attach_detach_counts_times_pids(w: World) -> None:
    alloc(w)
    t = w.proc_task()
    s = w.call(t, "shmget", IPC_PRIVATE, 100, 0o600)
    w.tick()
    r = w.call(t, "shmat", s, 0, 0)
    assert (r.size, r.map_size, r.readonly, r.addr) == (100, 4096, False, 0)
    other = w.proc_task()
    w.tick()
    r2 = w.call(other, "shmat", s, 0, SHM_RDONLY)
    ds = stat(w, t, s)
    assert (ds.shm_nattch, ds.shm_atime, ds.shm_lpid, ds.shm_dtime) == (2, 1002, other.pid, 0)
    w.tick()
    w.call(t, "shmdt", r.attach_id)
    ds = stat(w, t, s)
    assert (ds.shm_nattch, ds.shm_dtime, ds.shm_lpid) == (1, 1003, t.pid)
    assert w.err(t, "shmdt", r.attach_id) == E.EINVAL        # twice
    assert w.err(t, "shmdt", r2.attach_id) == E.EINVAL       # not ours


def test_shmat_address_rules(w: World) -> None:
    alloc(w)
    t = w.proc_task()
    s = w.call(t, "shmget", IPC_PRIVATE, 100, 0o600)
    assert w.err(t, "shmat", -1, 0, 0) == E.EINVAL
    assert w.err(t, "shmat", s, 0x10001, 0) == E.EINVAL
    assert w.call(t, "shmat", s, 0x10001, SHM_RND).addr == 0x10000
    assert w.err(t, "shmat", s, 0x100, SHM_RND | SHM_REMAP) == E.EINVAL
    assert w.err(t, "shmat", s, 0, SHM_REMAP) == E.EINVAL
    assert w.err(t, "shmat", s + 1, 0, 0) == E.EINVAL


def test_permissions(w: World) -> None:
    alloc(w)
    owner = w.proc_task(uid=1000, gid=1000)
    s = w.call(owner, "shmget", IPC_PRIVATE, 100, 0o640)
    grp = w.proc_task(uid=1001, gid=1000)
    assert w.call(grp, "shmat", s, 0, SHM_RDONLY).readonly
    assert w.err(grp, "shmat", s, 0, 0) == E.EACCES
    other = w.proc_task(uid=1002, gid=1002)
    assert w.err(other, "shmctl", s, IPC_STAT) == E.EACCES
    assert w.call(other, "shmctl", 0, SHM_STAT_ANY)[0] == s
    assert w.err(other, "shmctl", s, IPC_RMID) == E.EPERM
    assert w.err(other, "shmctl", s, SHM_LOCK) == E.EPERM
    w.call(owner, "shmctl", s, SHM_LOCK)
    assert stat(w, owner, s).shm_perm.mode & SHM_LOCKED
    w.call(owner, "shmctl", s, SHM_UNLOCK)
    assert not stat(w, owner, s).shm_perm.mode & SHM_LOCKED


def test_rmid_while_attached_marks_dest_and_frees_at_last_detach(w: World) -> None:
    a = alloc(w)
    t = w.proc_task()
    s = w.call(t, "shmget", 0x33, 100, IPC_CREAT | 0o600)
    r1 = w.call(t, "shmat", s, 0, 0)
    u = w.proc_task()
    r2 = w.call(u, "shmat", s, 0, 0)
    w.call(t, "shmctl", s, IPC_RMID)
    w.call(t, "shmctl", s, IPC_RMID)          # again: still only marked
    ds = stat(w, t, s)
    assert ds.shm_perm.mode & SHM_DEST and ds.shm_perm.key == 0 and ds.shm_nattch == 2
    assert w.err(t, "shmget", 0x33, 100, 0) == E.ENOENT   # the key is gone
    r3 = w.call(t, "shmat", s, 0, 0)          # attaching by id still works
    w.call(t, "shmdt", r1.attach_id)
    w.call(t, "shmdt", r3.attach_id)
    assert a.freed == []
    w.k.exit_process(u.process, w.now)         # the last mapping goes with its process
    assert len(a.freed) == 1
    assert w.err(t, "shmctl", s, IPC_STAT) == E.EINVAL
    assert t.ns.shm_tot == 0
    assert r2


def test_fork_exec_exit_counting(w: World) -> None:
    alloc(w)
    t = w.proc_task()
    s = w.call(t, "shmget", IPC_PRIVATE, 100, 0o600)
    parent = w.proc_task()
    r = w.call(parent, "shmat", s, 0, 0)
    child = w.proc_task()
    w.tick()
    w.k.fork_process(parent.process, child.process, [r.attach_id], w.now)
    assert shm_fork(w.k, parent.process, child.process, [r.attach_id]) == 0  # already counted
    ds = stat(w, t, s)
    assert (ds.shm_nattch, ds.shm_lpid, ds.shm_atime) == (2, parent.pid, 1001)
    w.k.exec_process(child.process, w.now)
    assert stat(w, t, s).shm_nattch == 1 and stat(w, t, s).shm_lpid == child.pid
    w.k.exit_process(parent.process, w.now)
    assert stat(w, t, s).shm_nattch == 0


def test_shm_rmid_forced(w: World) -> None:
    a = alloc(w)
    t = w.proc_task()
    t.ns.shm_rmid_forced = 1
    creator = w.proc_task()
    s1 = w.call(creator, "shmget", IPC_PRIVATE, 10, 0o666)
    s2 = w.call(creator, "shmget", IPC_PRIVATE, 10, 0o666)
    r = w.call(t, "shmat", s2, 0, 0)
    w.k.exit_process(creator.process, w.now)
    assert w.err(t, "shmctl", s1, IPC_STAT) == E.EINVAL   # orphaned, unattached: gone
    assert stat(w, t, s2).shm_nattch == 1                   # still attached: kept
    w.call(t, "shmdt", r.attach_id)                          # ...until nobody is attached
    assert w.err(t, "shmctl", s2, IPC_STAT) == E.EINVAL
    assert len(a.freed) == 2


def test_info_set_and_stat_walk(w: World) -> None:
    alloc(w)
    t = w.proc_task()
    s = w.call(t, "shmget", IPC_PRIVATE, 5000, 0o600)
    idx, info = w.call(t, "shmctl", 0, IPC_INFO)
    assert (idx, info.shmmin, info.shmmni, info.shmseg) == (0, 1, 4096, 4096)
    idx, st = w.call(t, "shmctl", 0, SHM_INFO)
    assert (st.used_ids, st.shm_tot) == (1, 2)
    assert w.call(t, "shmctl", 0, SHM_STAT)[0] == s
    ds = stat(w, t, s)
    w.call(t, "shmctl", s, SHM_LOCK)
    w.tick()
    w.call(t, "shmctl", s, IPC_SET, dataclasses.replace(
        ds, shm_perm=dataclasses.replace(ds.shm_perm, uid=7, mode=0o644)))
    got = stat(w, t, s)
    assert got.shm_perm.uid == 7 and got.shm_perm.mode == 0o644 | SHM_LOCKED and got.shm_ctime == 1001
    assert w.err(t, "shmctl", s, 99) == E.EINVAL
    assert w.err(t, "shmctl", -1, IPC_STAT) == E.EINVAL


def test_namespace_death_frees_segments(w: World) -> None:
    a = alloc(w)
    w.k.create_namespace("shm-ns")
    t = w.proc_task(ns="shm-ns")
    s = w.call(t, "shmget", IPC_PRIVATE, 10, 0o600)
    w.call(t, "shmat", s, 0, 0)
    w.k.exit_process(t.process, w.now)
    assert "shm-ns" not in w.k.namespaces and len(a.freed) == 1
