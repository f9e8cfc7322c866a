"""Semaphore scenarios: errno paths, limits, sleepers of every kind and the
order they complete in, timeouts, removal, SEM_UNDO at exit, other users."""
from __future__ import annotations

import dataclasses
import os

from tests.conformance.harness import CHOWN_NEEDS_ROOT, Recorder, Scenario, Sleepers, as_user
from uipc.uapi import (
    GETALL, GETNCNT, GETPID, GETVAL, GETZCNT, IPC_CREAT, IPC_EXCL, IPC_INFO, IPC_NOWAIT,
    IPC_PRIVATE, IPC_RMID, IPC_SET, IPC_STAT, SEM_INFO, SEM_STAT, SEM_STAT_ANY, SEM_UNDO,
    SETALL, SETVAL,
)


def errno_paths(rec: Recorder) -> None:
    api, do = rec.api, rec.do
    do("nsems 0", lambda: api.semget(IPC_PRIVATE, 0, 0o600))
    do("nsems -1", lambda: api.semget(IPC_PRIVATE, -1, 0o600))
    do("nsems > semmsl", lambda: api.semget(IPC_PRIVATE, 32001, 0o600))
    s = do("create", lambda: api.semget(0x40, 3, IPC_CREAT | 0o600))
    do("open 0", lambda: api.semget(0x40, 0, 0))
    do("open more", lambda: api.semget(0x40, 4, 0))
    do("excl", lambda: api.semget(0x40, 3, IPC_CREAT | IPC_EXCL))
    do("stat", lambda: api.semctl(s, 0, IPC_STAT))
    do("nsops big", lambda: api.semop(s, [(0, 1, 0)] * 501))
    do("efbig", lambda: api.semop(s, [(3, 1, 0)]))
    do("bad id", lambda: api.semop(s + 1, [(0, 1, 0)]))
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
    do("undo overflow", lambda: api.semop(s, [(2, 32760, SEM_UNDO)]))
    do("timed zero", lambda: api.semtimedop(s, [(2, 0, IPC_NOWAIT)], 0.0))
    do("getpid", lambda: rec.pid_role(api.semctl(s, 1, GETPID)))
    do("stat after", lambda: api.semctl(s, 0, IPC_STAT))
    do("bad cmd", lambda: api.semctl(s, 0, 99))
    do("info", lambda: api.semctl(0, 0, IPC_INFO))
    do("sem info", lambda: api.semctl(0, 0, SEM_INFO))
    do("sem_stat 0", lambda: api.semctl(0, 0, SEM_STAT))
    do("sem_stat_any 1", lambda: api.semctl(1, 0, SEM_STAT_ANY))
    ds = api.semctl(s, 0, IPC_STAT)
    rec.real_root("ipc_set", lambda: api.semctl(s, 0, IPC_SET, dataclasses.replace(
        ds, sem_perm=dataclasses.replace(ds.sem_perm, mode=0o1640, gid=5))), CHOWN_NEEDS_ROOT)
    do("stat set", lambda: api.semctl(s, 0, IPC_STAT))
    do("rmid", lambda: api.semctl(s, 0, IPC_RMID))
    do("stale", lambda: api.semop(s, [(0, 1, 0)]))
    rec.set_sysctl("sem", "4 6 3 2")
    do("semmsl", lambda: api.semget(IPC_PRIVATE, 5, 0o600))
    a = do("fits", lambda: api.semget(IPC_PRIVATE, 4, 0o600))
    do("semmns", lambda: api.semget(IPC_PRIVATE, 3, 0o600))
    do("semopm", lambda: api.semop(a, [(0, 1, 0)] * 4))
    do("two", lambda: api.semget(IPC_PRIVATE, 2, 0o600))
    do("semmni", lambda: api.semget(IPC_PRIVATE, 0, 0o600))
    rec.set_sysctl("sem_next_id", 32768 + 3)
    rec.set_sysctl("sem", "32000 1024000000 500 32000")
    do("next id", lambda: api.semget(IPC_PRIVATE, 1, 0o600))


def sleepers(rec: Recorder) -> None:
    api, do = rec.api, rec.do
    s = do("set", lambda: api.semget(IPC_PRIVATE, 3, 0o600))
    api.semctl(s, 0, SETALL, [1, 0, 0])
    sl = Sleepers(rec)

    def counts() -> list[int]:
        return [api.semctl(s, i, c) for i in range(3) for c in (GETNCNT, GETZCNT)]

    def step(label: str, fn) -> None:
        before = sum(counts())
        do(label, fn)
        after = counts()
        rec.note(label + " counts", after)
        rec.note(label + " woken", sl.completed(before - sum(after)) if before > sum(after) else [])
        rec.note(label + " values", api.semctl(s, 0, GETALL))

    try:
        sl.start("W1 dec 2", lambda: api.semop(s, [(0, -2, 0)]))
        sl.start("W2 complex", lambda: api.semop(s, [(0, -1, 0), (1, -1, 0)]))
        sl.start("W3 zero", lambda: api.semop(s, [(0, 0, 0)]))
        sl.start("W4 simple after complex", lambda: api.semop(s, [(1, -1, 0)]))
        sl.start("W5 complex zero+dec", lambda: api.semop(s, [(1, 0, 0), (2, -1, 0)]))
        rec.note("counts", counts())
        step("release sem1", lambda: api.semop(s, [(1, 1, 0)]))
        step("setval sem0 3", lambda: api.semctl(s, 0, SETVAL, 3))
        step("release sem1 by 2", lambda: api.semop(s, [(1, 2, 0)]))
        step("release sem2", lambda: api.semop(s, [(2, 1, 0)]))
        step("take sem1", lambda: api.semop(s, [(1, -1, 0)]))
        sl.start("W6 timed", lambda: api.semtimedop(s, [(1, -1, 0)], 0.05), sleeps=False)
        rec.note("timed out", sl.completed(1))
        rec.note("counts after timeout", counts())
        sl.start("W7 rm victim", lambda: api.semop(s, [(2, -1, 0)]))
        sl.start("W8 rm victim zero", lambda: api.semop(s, [(0, 0, 0)]))
        rec.note("before rm", counts())
        do("rmid", lambda: api.semctl(s, 0, IPC_RMID))
        rec.note("rm woken", sl.completed(2))
    finally:
        sl.close()


def fifo_and_fairness(rec: Recorder) -> None:
    api, do = rec.api, rec.do
    s = do("set", lambda: api.semget(IPC_PRIVATE, 2, 0o600))
    sl = Sleepers(rec)
    try:
        for tag, sops in [("A -3", [(0, -3, 0)]), ("B -1", [(0, -1, 0)]), ("C -1", [(0, -1, 0)]),
                          ("D both", [(0, -1, 0), (1, -1, 0)]), ("E sem1", [(1, -2, 0)]),
                          ("F -1", [(0, -1, 0)])]:
            sl.start(tag, lambda sops=sops: api.semop(s, sops))
        rec.note("ncnt", [api.semctl(s, i, GETNCNT) for i in range(2)])
        for label, sops in [("+1", [(0, 1, 0)]), ("+2 on 1", [(1, 2, 0)]), ("+4", [(0, 4, 0)]),
                            ("+1 +1", [(0, 1, 0), (1, 1, 0)]), ("+3", [(0, 3, 0)])]:
            before = sum(api.semctl(s, i, GETNCNT) for i in range(2))
            do(label, lambda sops=sops: api.semop(s, sops))
            after = sum(api.semctl(s, i, GETNCNT) for i in range(2))
            rec.note(label + " woken", sl.completed(before - after) if before > after else [])
            rec.note(label + " values", api.semctl(s, 0, GETALL))
    finally:
        sl.close()


def undo_at_exit(rec: Recorder) -> None:
    api, do = rec.api, rec.do
    u = do("undo set", lambda: api.semget(IPC_PRIVATE, 2, 0o600))
    api.semctl(u, 0, SETALL, [3, 0])

    def child(body) -> int:
        pid = os.fork()
        if pid == 0:
            try:
                body()
            finally:
                os._exit(0)
        os.waitpid(pid, 0)
        return pid

    pid = child(lambda: (api.semop(u, [(0, -2, SEM_UNDO), (1, 4, SEM_UNDO)]),
                         api.semop(u, [(1, -1, SEM_UNDO)])))
    rec.role(pid, "undo child")
    do("after undo exit", lambda: api.semctl(u, 0, GETALL))
    do("pid after undo", lambda: rec.pid_role(api.semctl(u, 0, GETPID)))
    do("otime set by exit", lambda: api.semctl(u, 0, IPC_STAT))
    child(lambda: (api.semop(u, [(0, 2, SEM_UNDO)]), api.semctl(u, 0, SETVAL, 1),
                   api.semop(u, [(1, 3, SEM_UNDO)]), api.semctl(u, 1, SETVAL, 1),
                   api.semop(u, [(1, 2, SEM_UNDO)]), api.semctl(u, 0, SETVAL, 0)))
    do("setval cleared semadj", lambda: api.semctl(u, 0, GETALL))
    api.semctl(u, 0, SETALL, [5, 5])
    child(lambda: (api.semop(u, [(0, -4, SEM_UNDO), (1, 4, SEM_UNDO)]),
                   api.semctl(u, 0, SETALL, [32767, 2])))
    do("clamped at SEMVMX and 0", lambda: api.semctl(u, 0, GETALL))
    sl = Sleepers(rec)
    try:
        api.semctl(u, 0, SETALL, [0, 0])
        sl.start("holder", lambda: (api.semop(u, [(1, 1, SEM_UNDO)]), api.semop(u, [(0, -1, 0)])))
        sl.start("waits for zero", lambda: api.semop(u, [(1, 0, 0)]))
        import signal
        os.kill(sl.kids["holder"], signal.SIGKILL)
        rec.note("undo of a killed process wakes", sl.completed(1))
        do("after kill", lambda: api.semctl(u, 0, GETALL))
    finally:
        sl.close()


def other_users(rec: Recorder) -> None:
    api, do = rec.api, rec.do
    s = do("root's 0640", lambda: api.semget(0x41, 2, IPC_CREAT | 0o640))

    def probe() -> list:
        return rec.outcomes([("get", lambda: api.semget(0x41, 0, 0o040)),
                             ("get w", lambda: api.semget(0x41, 0, 0o020)),
                             ("zero wait (read)", lambda: api.semop(s, [(0, 0, IPC_NOWAIT)])),
                             ("alter", lambda: api.semop(s, [(0, 1, 0)])),
                             ("getval", lambda: api.semctl(s, 0, GETVAL)),
                             ("getall", lambda: api.semctl(s, 0, GETALL)),
                             ("setval", lambda: api.semctl(s, 0, SETVAL, 1)),
                             ("stat", lambda: api.semctl(s, 0, IPC_STAT).sem_nsems),
                             ("stat any", lambda: api.semctl(0, 0, SEM_STAT_ANY)[0]),
                             ("rmid", lambda: api.semctl(s, 0, IPC_RMID))])

    rec.note("other user", as_user(1001, 1001, probe, rec=rec))
    rec.note("group member", as_user(1001, 1001, probe, groups=(0,), rec=rec))
    do("values", lambda: api.semctl(s, 0, GETALL))


SCENARIOS = [
    Scenario("sem errno paths and limits", "sem", errno_paths),
    Scenario("sem sleepers: simple, complex, zero", "sem", sleepers),
    Scenario("sem FIFO and fairness", "sem", fifo_and_fairness),
    Scenario("sem undo at exit", "sem", undo_at_exit),
    Scenario("sem permissions of other users", "sem", other_users),
]
