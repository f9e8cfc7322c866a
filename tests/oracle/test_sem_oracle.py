"""Semaphores on the real kernel and on uipc: errno paths, wake-ups, undo.

The kernel runs in a forked child that unshares its IPC namespace; sleepers
are real processes forked from the scenario.  Who completes after each step
is read deterministically: the waker's semop has completed every sleeper it
can before it returns (GETNCNT/GETZCNT drop at once, on Linux and on uipc),
and each completed sleeper then writes its tag into a pipe.
"""
from __future__ import annotations

import dataclasses
import os
import pickle
import select
from typing import Any, Callable

import pytest

import uipc
from tests.oracle.test_msg_oracle import normalise as normalise_msg
from uipc.uapi import (
    GETALL, GETNCNT, GETPID, GETVAL, GETZCNT, IPC_CREAT, IPC_EXCL, IPC_INFO, IPC_NOWAIT,
    IPC_PRIVATE, IPC_RMID, IPC_SET, IPC_STAT, SEM_INFO, SEM_STAT, SEM_STAT_ANY, SEM_UNDO,
    SETALL, SETVAL,
)

pytestmark = pytest.mark.kernel_oracle


def normalise(value: Any, roles: dict[int, str]) -> Any:
    if isinstance(value, uipc.SemidDs):
        d = dataclasses.asdict(value)
        for f in ("sem_otime", "sem_ctime"):
            d[f] = "set" if d[f] else "unset"
        return d
    if isinstance(value, tuple):
        return tuple(normalise(v, roles) for v in value)
    return normalise_msg(value, -1)


def scenario(api: Any, set_sysctl: Callable[[str, str], None]) -> list[tuple[str, Any]]:
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

    # --- errno paths, one process --------------------------------------------
    do("nsems 0", lambda: api.semget(IPC_PRIVATE, 0, 0o600))
    do("nsems -1", lambda: api.semget(IPC_PRIVATE, -1, 0o600))
    s = do("create", lambda: api.semget(0x40, 3, IPC_CREAT | 0o600))
    do("open 0", lambda: api.semget(0x40, 0, 0))
    do("open more", lambda: api.semget(0x40, 4, 0))
    do("excl", lambda: api.semget(0x40, 3, IPC_CREAT | IPC_EXCL))
    do("stat", lambda: api.semctl(s, 0, IPC_STAT))
    do("nsops big", lambda: api.semop(s, [(0, 1, 0)] * 501))
    do("efbig", lambda: api.semop(s, [(3, 1, 0)]))
    do("erange op", lambda: api.semop(s, [(0, 32767, 0), (0, 1, 0)]))
    do("nowait", lambda: api.semop(s, [(0, -1, IPC_NOWAIT)]))
    do("nowait on other op", lambda: api.semop(s, [(1, 1, 0), (0, -1, IPC_NOWAIT)]))
    do("all after failures", lambda: api.semctl(s, 0, GETALL))
    do("setval erange", lambda: api.semctl(s, 0, SETVAL, 32768))
    do("setval erange bad id", lambda: api.semctl(s + 7, 0, SETVAL, 40000))
    do("setval bad num", lambda: api.semctl(s, 3, SETVAL, 1))
    do("getval bad num", lambda: api.semctl(s, -1, GETVAL))
    do("setall erange", lambda: api.semctl(s, 0, SETALL, [1, 2, 40000]))
    do("setall", lambda: api.semctl(s, 0, SETALL, [1, 2, 3]))
    do("ordered ops", lambda: api.semop(s, [(0, 2, 0), (0, -3, 0), (0, 0, 0)]))
    do("after ordered", lambda: api.semctl(s, 0, GETALL))
    do("undo", lambda: api.semop(s, [(1, 5, SEM_UNDO)]))
    do("undo range", lambda: api.semop(s, [(1, -7, SEM_UNDO)]))
    do("timed zero", lambda: api.semtimedop(s, [(2, 0, IPC_NOWAIT)], 0.0))
    do("stat after", lambda: api.semctl(s, 0, IPC_STAT))
    do("bad cmd", lambda: api.semctl(s, 0, 99))
    do("info", lambda: api.semctl(0, 0, IPC_INFO))
    do("sem info", lambda: api.semctl(0, 0, SEM_INFO))
    do("sem_stat 0", lambda: api.semctl(0, 0, SEM_STAT))
    do("sem_stat_any 1", lambda: api.semctl(1, 0, SEM_STAT_ANY))
    do("rmid", lambda: api.semctl(s, 0, IPC_RMID))
    do("stale", lambda: api.semop(s, [(0, 1, 0)]))
    set_sysctl("sem", "4 6 3 2")
    do("semmsl", lambda: api.semget(IPC_PRIVATE, 5, 0o600))
    a = do("fits", lambda: api.semget(IPC_PRIVATE, 4, 0o600))
    do("semmns", lambda: api.semget(IPC_PRIVATE, 3, 0o600))
    do("semopm", lambda: api.semop(a, [(0, 1, 0)] * 4))
    do("two", lambda: api.semget(IPC_PRIVATE, 2, 0o600))
    do("semmni", lambda: api.semget(IPC_PRIVATE, 0, 0o600))
    set_sysctl("sem", "32000 1024000000 500 32000")

    # --- sleepers, several processes --------------------------------------------
    s = do("set", lambda: api.semget(IPC_PRIVATE, 3, 0o600))
    api.semctl(s, 0, SETALL, [1, 0, 0])
    pipe_r, pipe_w = os.pipe()
    kids: dict[str, int] = {}

    def counts() -> list[int]:
        return [api.semctl(s, i, c) for i in range(3) for c in (GETNCNT, GETZCNT)]

    def sleeper(tag: str, sops: list[tuple[int, int, int]], timeout: float | None = None) -> None:
        before = sum(counts())
        pid = os.fork()
        if pid == 0:
            try:
                if timeout is None:
                    api.semop(s, sops)
                else:
                    api.semtimedop(s, sops, timeout)
                res = "ok"
            except OSError as exc:
                res = f"errno {exc.errno}"
            os.write(pipe_w, f"{tag}:{res};".encode())
            os._exit(0)
        kids[tag] = pid
        roles[pid] = tag
        import time
        deadline = time.monotonic() + 10
        while sum(counts()) == before:  # until it is visibly asleep
            assert time.monotonic() < deadline, f"{tag} never slept"
            time.sleep(0.001)

    buffer = b""

    def completed(n: int) -> list[str]:
        nonlocal buffer
        while buffer.count(b";") < n:
            ready, _, _ = select.select([pipe_r], [], [], 10)
            assert ready, "sleeper did not report"
            buffer += os.read(pipe_r, 1024)
        parts = buffer.split(b";")
        out, buffer = parts[:n], b";".join(parts[n:])
        return sorted(p.decode() for p in out)

    def step(label: str, fn: Callable[[], Any]) -> None:
        before = sum(counts())
        do(label, fn)
        after = counts()
        done = before - sum(after)
        log.append((label + " counts", after))
        log.append((label + " woken", completed(done) if done > 0 else []))
        log.append((label + " values", api.semctl(s, 0, GETALL)))

    try:
        sleeper("W1 dec 2", [(0, -2, 0)])
        sleeper("W2 complex", [(0, -1, 0), (1, -1, 0)])
        sleeper("W3 zero", [(0, 0, 0)])
        sleeper("W4 simple after complex", [(1, -1, 0)])
        sleeper("W5 complex zero+dec", [(1, 0, 0), (2, -1, 0)])
        log.append(("counts", counts()))
        step("release sem1", lambda: api.semop(s, [(1, 1, 0)]))
        step("setval sem0 3", lambda: api.semctl(s, 0, SETVAL, 3))
        step("release sem1 by 2", lambda: api.semop(s, [(1, 2, 0)]))
        step("release sem2", lambda: api.semop(s, [(2, 1, 0)]))
        step("take sem1", lambda: api.semop(s, [(1, -1, 0)]))
        # a timed sleeper: it times out with EAGAIN
        timed = os.fork()
        if timed == 0:
            try:
                api.semtimedop(s, [(1, -1, 0)], 0.05)
                res = "ok"
            except OSError as exc:
                res = f"errno {exc.errno}"
            os.write(pipe_w, f"W6 timed:{res};".encode())
            os._exit(0)
        kids["W6 timed"] = timed
        log.append(("timed out", completed(1)))
        step("counts after timeout", lambda: api.semctl(s, 0, GETALL))
        sleeper("W7 rm victim", [(2, -1, 0)])
        sleeper("W8 rm victim zero", [(0, 0, 0)])
        log.append(("before rm", counts()))
        do("rmid", lambda: api.semctl(s, 0, IPC_RMID))
        log.append(("rm woken", completed(2)))
    finally:
        import signal
        for pid in kids.values():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            os.waitpid(pid, 0)
        os.close(pipe_r)
        os.close(pipe_w)

    # --- SEM_UNDO at exit ---------------------------------------------------------------
    u = do("undo set", lambda: api.semget(IPC_PRIVATE, 2, 0o600))
    api.semctl(u, 0, SETALL, [3, 0])
    pid = os.fork()
    if pid == 0:
        try:
            api.semop(u, [(0, -2, SEM_UNDO), (1, 4, SEM_UNDO)])
            api.semop(u, [(1, -1, SEM_UNDO)])
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    roles[pid] = "undo child"
    do("after undo exit", lambda: api.semctl(u, 0, GETALL))
    do("pid after undo", lambda: roles.get(api.semctl(u, 0, GETPID)))
    pid = os.fork()
    if pid == 0:
        try:
            api.semop(u, [(0, 2, SEM_UNDO)])
            api.semctl(u, 0, SETVAL, 1)     # clears semadj of sem 0 for everyone
            api.semop(u, [(1, 3, SEM_UNDO)])
            api.semctl(u, 1, SETVAL, 1)     # clears semadj of sem 1 too
            api.semop(u, [(1, 2, SEM_UNDO)])
            api.semctl(u, 0, SETVAL, 0)
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    do("after clamp", lambda: api.semctl(u, 0, GETALL))
    do("otime after undo", lambda: api.semctl(u, 0, IPC_STAT))
    return log


def run_on_kernel(fn: Callable[..., list[tuple[str, Any]]]) -> list[tuple[str, Any]]:
    from tests.oracle import libc_msg, libc_sem
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        me = os.getpid()
        try:
            libc_msg.unshare_ipc()
            out: Any = ("ok", fn(libc_sem, libc_sem.write_sysctl))
        except BaseException as exc:  # noqa: BLE001
            out = ("err", repr(exc))
        if os.getpid() == me:
            with os.fdopen(w, "wb") as f:
                f.write(pickle.dumps(out))
        os._exit(0)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        status, data = pickle.loads(f.read())
    os.waitpid(pid, 0)
    if status != "ok":
        if "Operation not permitted" in data:
            pytest.skip(f"unshare(CLONE_NEWIPC) not permitted here: {data}")
        raise AssertionError(data)
    return data


def test_sem_sequence_matches_the_kernel(ns: str) -> None:
    expected = run_on_kernel(scenario)
    got = scenario(uipc, lambda name, v: uipc.sysctl.set(f"kernel.{name}", v))
    mismatches = [(e[0], e[1], g[1]) for e, g in zip(expected, got) if e != g]
    assert not mismatches, "\n".join(f"{label}: kernel {k!r} uipc {u!r}" for label, k, u in mismatches)
    assert len(got) == len(expected)
