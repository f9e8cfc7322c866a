"""Shared-memory scenarios: sizes, limits, attach rules, nattch through
fork/exit, SHM_DEST, SHM_LOCK, shm_rmid_forced, other users."""
from __future__ import annotations

import dataclasses
import os

from tests.conformance.harness import CHOWN_NEEDS_ROOT, Recorder, Scenario, as_user
from uipc.uapi import (
    IPC_CREAT, IPC_EXCL, IPC_INFO, IPC_PRIVATE, IPC_RMID, IPC_SET, IPC_STAT, SHM_INFO, SHM_LOCK,
    SHM_RDONLY, SHM_REMAP, SHM_RND, SHM_STAT, SHM_STAT_ANY, SHM_UNLOCK,
)


def lifecycle(rec: Recorder) -> None:
    api, do, set_sysctl = rec.api, rec.do, rec.set_sysctl

    do("size 0", lambda: api.shmget(IPC_PRIVATE, 0, 0o600))
    s = do("create", lambda: api.shmget(0x50, 5000, IPC_CREAT | 0o640))
    do("smaller", lambda: api.shmget(0x50, 10, 0))
    do("bigger", lambda: api.shmget(0x50, 5001, 0))
    do("excl", lambda: api.shmget(0x50, 10, IPC_CREAT | IPC_EXCL))
    do("missing", lambda: api.shmget(0x51, 10, 0))
    do("stat new", lambda: api.shmctl(s, IPC_STAT))
    do("bad id attach", lambda: api.shmat(s + 1))
    do("neg id", lambda: api.shmat(-1))
    do("unaligned", lambda: api.shmat(s, 0x10001, 0))
    do("remap no addr", lambda: api.shmat(s, None, SHM_REMAP))
    a = do("attach", lambda: api.shmat(s) and 0)
    addr = api.shmat(s)
    ro = api.shmat(s, None, SHM_RDONLY)
    api.shm_view(addr)[:3] = b"abc"
    rec.note("ro sees", bytes(api.shm_view(ro)[:3]))
    do("stat attached", lambda: api.shmctl(s, IPC_STAT))
    do("occupied", lambda: api.shmat(s, addr))
    do("stat after failed", lambda: api.shmctl(s, IPC_STAT))
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    rec.role(pid, "child")
    os.waitpid(pid, 0)
    do("after fork+exit", lambda: api.shmctl(s, IPC_STAT))
    do("lock", lambda: api.shmctl(s, SHM_LOCK))
    do("stat locked", lambda: api.shmctl(s, IPC_STAT))
    do("unlock", lambda: api.shmctl(s, SHM_UNLOCK))
    do("rmid attached", lambda: api.shmctl(s, IPC_RMID))
    do("rmid again", lambda: api.shmctl(s, IPC_RMID))
    do("stat dest", lambda: api.shmctl(s, IPC_STAT))
    do("key gone", lambda: api.shmget(0x50, 10, 0))
    do("attach dest", lambda: (api.shmdt(api.shmat(s)), 0)[1])
    do("detach 1", lambda: api.shmdt(ro))
    do("detach twice", lambda: api.shmdt(ro))
    do("stat 1 left", lambda: api.shmctl(s, IPC_STAT))
    do("detach last", lambda: api.shmdt(addr))
    do("stat destroyed", lambda: api.shmctl(s, IPC_STAT))
    t = do("second", lambda: api.shmget(IPC_PRIVATE, 3 * 4096 + 1, 0o600))
    ds = api.shmctl(t, IPC_STAT)
    rec.real_root("set", lambda: api.shmctl(t, IPC_SET, dataclasses.replace(
        ds, shm_perm=dataclasses.replace(ds.shm_perm, mode=0o1604, uid=5))), CHOWN_NEEDS_ROOT)
    do("stat set", lambda: api.shmctl(t, IPC_STAT))
    do("ipc info", lambda: api.shmctl(0, IPC_INFO))
    do("shm info", lambda: api.shmctl(0, SHM_INFO))
    for idx in range(3):
        do(f"shm_stat {idx}", lambda: api.shmctl(idx, SHM_STAT))
        do(f"shm_stat_any {idx}", lambda: api.shmctl(idx, SHM_STAT_ANY))
    do("bad cmd", lambda: api.shmctl(t, 99))
    do("rnd attach", lambda: (lambda x: (api.shmdt(x), x % 4096)[1])(api.shmat(t, 0x7f0000001003, SHM_RND)))
    set_sysctl("shmmax", 8192)
    do("over shmmax", lambda: api.shmget(IPC_PRIVATE, 8193, 0o600))
    set_sysctl("shmall", 5)
    do("over shmall", lambda: api.shmget(IPC_PRIVATE, 8192, 0o600))
    set_sysctl("shmmni", 1)
    do("over shmmni", lambda: api.shmget(IPC_PRIVATE, 1, 0o600))
    set_sysctl("shmmni", 10)
    set_sysctl("shmall", 100)
    set_sysctl("shm_rmid_forced", 1)
    u = do("forced", lambda: api.shmget(IPC_PRIVATE, 10, 0o600))
    if u is not None:
        x = api.shmat(u)
        api.shmdt(x)
        do("forced destroyed at detach", lambda: api.shmctl(u, IPC_STAT))


def other_users(rec: Recorder) -> None:
    api, do = rec.api, rec.do
    s = do("root's 0640", lambda: api.shmget(0x52, 4096, IPC_CREAT | 0o640))

    def probe() -> list:
        return rec.outcomes([("get r", lambda: api.shmget(0x52, 0, 0o040)),
                             ("get w", lambda: api.shmget(0x52, 0, 0o020)),
                             ("attach ro", lambda: api.shmdt(api.shmat(s, None, SHM_RDONLY))),
                             ("attach rw", lambda: api.shmat(s)),
                             ("stat", lambda: api.shmctl(s, IPC_STAT).shm_segsz),
                             ("lock", lambda: api.shmctl(s, SHM_LOCK)),
                             ("rmid", lambda: api.shmctl(s, IPC_RMID))])

    rec.note("other user", as_user(1001, 1001, probe, rec=rec))
    rec.note("group member", as_user(1001, 1001, probe, groups=(0,), rec=rec))
    do("stat", lambda: api.shmctl(s, IPC_STAT))


SCENARIOS = [
    Scenario("shm lifecycle, limits and SHM_DEST", "shm", lifecycle),
    Scenario("shm permissions of other users", "shm", other_users),
]
