"""Shared memory on the real kernel and on uipc: sizes, errno, nattch, SHM_DEST."""
from __future__ import annotations

import dataclasses
import os
from typing import Any, Callable

import pytest

import uipc
from tests.oracle.test_sem_oracle import run_on_kernel
from uipc.uapi import (
    IPC_CREAT, IPC_EXCL, IPC_INFO, IPC_PRIVATE, IPC_RMID, IPC_SET, IPC_STAT, SHM_INFO, SHM_LOCK,
    SHM_RDONLY, SHM_REMAP, SHM_RND, SHM_STAT, SHM_STAT_ANY, SHM_UNLOCK,
)

pytestmark = pytest.mark.kernel_oracle


def normalise(value: Any, roles: dict[int, str]) -> Any:
    if isinstance(value, uipc.ShmidDs):
        d = dataclasses.asdict(value)
        for f in ("shm_atime", "shm_dtime", "shm_ctime"):
            d[f] = "set" if d[f] else "unset"
        for f in ("shm_cpid", "shm_lpid"):
            d[f] = roles.get(d[f], d[f])
        return d
    if isinstance(value, uipc.ShmInfoStats):
        return dataclasses.replace(value, shm_rss=0)   # resident pages differ legitimately
    if isinstance(value, tuple):
        return tuple(normalise(v, roles) for v in value)
    return value


def scenario(api: Any, set_sysctl: Callable[[str, Any], None]) -> list[tuple[str, Any]]:
    log: list[tuple[str, Any]] = []
    roles = {os.getpid(): "me"}

    def do(label: str, fn: Callable[[], Any]) -> Any:
        try:
            out = fn()
            log.append((label, normalise(out, roles)))
            return out
        except OSError as exc:
            log.append((label, f"errno {exc.errno}"))
            return None

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
    log.append(("ro sees", bytes(api.shm_view(ro)[:3])))
    do("stat attached", lambda: api.shmctl(s, IPC_STAT))
    do("occupied", lambda: api.shmat(s, addr))
    do("stat after failed", lambda: api.shmctl(s, IPC_STAT))
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    roles[pid] = "child"
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
    do("set", lambda: api.shmctl(t, IPC_SET, dataclasses.replace(
        ds, shm_perm=dataclasses.replace(ds.shm_perm, mode=0o1604, uid=5))))
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
    return log


def test_shm_sequence_matches_the_kernel(ns: str) -> None:
    def kernel_side(api_unused: Any, write: Any) -> list[tuple[str, Any]]:
        from tests.oracle import libc_shm
        return scenario(libc_shm, write)

    expected = run_on_kernel(kernel_side)
    got = scenario(uipc, lambda name, v: uipc.sysctl.set(f"kernel.{name}", v))
    mismatches = [(e[0], e[1], g[1]) for e, g in zip(expected, got) if e != g]
    assert not mismatches, "\n".join(f"{label}: kernel {k!r} uipc {u!r}" for label, k, u in mismatches)
    assert len(got) == len(expected)
