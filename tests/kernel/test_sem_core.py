"""ipc/sem.c semantics on the pure core, with a fake clock."""
from __future__ import annotations

import dataclasses
import errno as E

from uipc.kernel import BLOCKED, KernelError
from uipc.uapi import (
    GETALL, GETNCNT, GETPID, GETVAL, GETZCNT, IPC_CREAT, IPC_EXCL, IPC_INFO, IPC_NOWAIT,
    IPC_PRIVATE, IPC_RMID, IPC_SET, IPC_STAT, SEM_INFO, SEM_STAT, SEM_STAT_ANY, SEM_UNDO,
    SETALL, SETVAL,
)

from tests.kernel.conftest import World


def mkset(w: World, t, n: int = 2, values: list[int] | None = None) -> int:
    s = w.call(t, "semget", IPC_PRIVATE, n, 0o600)
    if values:
        w.call(t, "semctl", s, 0, SETALL, values)
    return s


def vals(w: World, t, s: int) -> list[int]:
    return w.call(t, "semctl", s, 0, GETALL)


def test_semget_rules(w: World) -> None:
    t = w.proc_task()
    assert w.err(t, "semget", IPC_PRIVATE, 0, 0o600) == E.EINVAL
    assert w.err(t, "semget", IPC_PRIVATE, -1, 0o600) == E.EINVAL
    assert w.err(t, "semget", IPC_PRIVATE, 32001, 0o600) == E.EINVAL
    s = w.call(t, "semget", 0x20, 3, IPC_CREAT | 0o640)
    assert w.call(t, "semget", 0x20, 0, 0) == s          # nsems 0 opens an existing set
    assert w.call(t, "semget", 0x20, 2, 0) == s
    assert w.err(t, "semget", 0x20, 4, 0) == E.EINVAL    # more than it has
    assert w.err(t, "semget", 0x20, 3, IPC_CREAT | IPC_EXCL) == E.EEXIST
    assert w.err(t, "semget", 0x21, 1, 0) == E.ENOENT
    ds = w.call(t, "semctl", s, 0, IPC_STAT)[1]
    assert (ds.sem_nsems, ds.sem_otime, ds.sem_ctime, ds.sem_perm.mode) == (3, 0, 1000, 0o640)


def test_semmns_and_semmni(w: World) -> None:
    t = w.proc_task()
    t.ns.sem_ctls[:] = [10, 5, 500, 2]
    w.call(t, "semget", IPC_PRIVATE, 4, 0)
    assert w.err(t, "semget", IPC_PRIVATE, 2, 0) == E.ENOSPC   # 4 + 2 > semmns 5
    w.call(t, "semget", IPC_PRIVATE, 1, 0)
    t.ns.sem_ctls[1] = 100
    assert w.err(t, "semget", IPC_PRIVATE, 1, 0) == E.ENOSPC   # semmni 2
    s = w.call(t, "semctl", 0, 0, SEM_INFO)[1]
    assert (s.semusz, s.semaem) == (2, 5)


def test_semop_argument_errors(w: World) -> None:
    t = w.proc_task()
    s = mkset(w, t)
    assert w.err(t, "semop", s, []) == E.EINVAL
    assert w.err(t, "semop", -1, [(0, 1, 0)]) == E.EINVAL
    assert w.err(t, "semop", s, [(0, 1, 0)] * 501) == E.E2BIG
    assert w.err(t, "semop", s + 1, [(0, 1, 0)]) == E.EINVAL
    assert w.err(t, "semop", s, [(2, 1, 0)]) == E.EFBIG
    assert w.err(t, "semop", s, [(0, 32768, 0)]) == E.ERANGE
    assert w.err(t, "semtimedop", s, [(0, 1, 0)], -1.0) == E.EINVAL


def test_atomic_all_or_nothing(w: World) -> None:
    t = w.proc_task()
    s = mkset(w, t, 2, [1, 0])
    assert w.err(t, "semop", s, [(0, -1, 0), (1, -1, IPC_NOWAIT)]) == E.EAGAIN
    assert vals(w, t, s) == [1, 0]
    # IPC_NOWAIT counts on the operation that blocks, not on the others
    sleeper = w.proc_task()
    assert w.call(sleeper, "semop", s, [(0, -1, IPC_NOWAIT), (1, -1, 0)]) is BLOCKED
    assert vals(w, t, s) == [1, 0]


def test_operations_apply_in_order(w: World) -> None:
    t = w.proc_task()
    s = mkset(w, t, 1)
    w.call(t, "semop", s, [(0, 2, 0), (0, -1, 0), (0, -1, 0), (0, 0, 0)])
    assert vals(w, t, s) == [0]
    assert w.err(t, "semop", s, [(0, 32767, 0), (0, 1, 0)]) == E.ERANGE
    assert vals(w, t, s) == [0]


def test_release_completes_waiters_fifo(w: World) -> None:
    t = w.proc_task()
    s = mkset(w, t, 1)
    a, b, c = w.proc_task(), w.proc_task(), w.proc_task()
    assert w.call(a, "semop", s, [(0, -2, 0)]) is BLOCKED
    assert w.call(b, "semop", s, [(0, -1, 0)]) is BLOCKED
    assert w.call(c, "semop", s, [(0, -1, 0)]) is BLOCKED
    assert w.call(t, "semctl", s, 0, GETNCNT) == 3
    w.call(t, "semop", s, [(0, 1, 0)])
    # a needs 2 and stays; b gets the one unit (FIFO among those that can run)
    assert w.done() == [(b, None)]
    w.call(t, "semop", s, [(0, 3, 0)])
    assert w.done() == [(a, None), (c, None)]
    assert vals(w, t, s) == [0]
    assert w.call(t, "semctl", s, 0, GETPID) == c.pid


def test_wait_for_zero(w: World) -> None:
    t = w.proc_task()
    s = mkset(w, t, 2, [2, 0])
    z1, z2 = w.proc_task(), w.proc_task()
    assert w.call(z1, "semop", s, [(0, 0, 0)]) is BLOCKED
    assert w.call(z2, "semop", s, [(0, 0, 0), (1, 0, 0)]) is BLOCKED
    assert w.call(t, "semctl", s, 0, GETZCNT) == 2
    assert w.call(t, "semctl", s, 1, GETZCNT) == 0   # z2 blocks on sem 0 only
    w.call(t, "semop", s, [(0, -2, 0)])
    assert w.done() == [(z1, None), (z2, None)]
    assert w.call(t, "semop", s, [(1, 0, 0)]) is None  # zero already: no wait


def test_complex_ops_and_counts(w: World) -> None:
    t = w.proc_task()
    s = mkset(w, t, 2)
    cx = w.proc_task()
    assert w.call(cx, "semop", s, [(0, -1, 0), (1, -1, 0)]) is BLOCKED
    assert [w.call(t, "semctl", s, i, GETNCNT) for i in (0, 1)] == [1, 0]
    w.call(t, "semop", s, [(0, 1, 0)])
    # now it waits on semaphore 1
    assert w.done() == [] and [w.call(t, "semctl", s, i, GETNCNT) for i in (0, 1)] == [0, 1]
    w.call(t, "semop", s, [(1, 1, 0)])
    assert w.done() == [(cx, None)] and vals(w, t, s) == [0, 0]


def test_undo_on_exit_with_clamping(w: World) -> None:
    t = w.proc_task()
    s = mkset(w, t, 2, [5, 0])
    u = w.proc_task()
    w.call(u, "semop", s, [(0, -3, SEM_UNDO), (1, 4, SEM_UNDO)])
    assert vals(w, t, s) == [2, 4]
    w.call(t, "semctl", s, 1, SETVAL, 1)   # SETVAL clears semadj of semaphore 1
    w.call(t, "semop", s, [(0, -2, 0)])
    w.tick()
    w.k.exit_process(u.process, w.now)
    assert vals(w, t, s) == [3, 1]          # +3 on sem 0; nothing on sem 1
    assert w.call(t, "semctl", s, 0, GETPID) == u.pid
    assert w.call(t, "semctl", s, 0, IPC_STAT)[1].sem_otime == 1001
    v = w.proc_task()
    w.call(v, "semop", s, [(0, 3, SEM_UNDO)])
    w.call(t, "semctl", s, 0, SETVAL, 1)
    w.call(t, "semop", s, [(0, 3, 0)])
    w.k.exit_process(v.process, w.now)     # semadj -3 on a value 4... then clamp
    assert vals(w, t, s)[0] == 4


def test_undo_clamps_at_zero_and_wakes(w: World) -> None:
    t = w.proc_task()
    s = mkset(w, t, 1)
    u = w.proc_task()
    w.call(u, "semop", s, [(0, 2, SEM_UNDO)])
    w.call(t, "semop", s, [(0, -2, 0)])
    waiter = w.proc_task()
    assert w.call(waiter, "semop", s, [(0, 0, 0)]) is None
    dec = w.proc_task()
    assert w.call(dec, "semop", s, [(0, -1, 0)]) is BLOCKED
    w.k.exit_process(u.process, w.now)     # 0 - 2 clamps to 0, nobody woken
    assert vals(w, t, s) == [0] and w.done() == []


def test_undo_range(w: World) -> None:
    t = w.proc_task()
    s = mkset(w, t, 1)
    w.call(t, "semop", s, [(0, 32767, SEM_UNDO)])
    w.call(t, "semop", s, [(0, -32767, 0)])
    w.call(t, "semop", s, [(0, 1, SEM_UNDO)])     # semadj -32768 is still in range
    assert w.err(t, "semop", s, [(0, 1, SEM_UNDO)]) == E.ERANGE
    w.call(t, "semop", s, [(0, 1, 0)])


def test_threads_share_undo_fork_children_do_not(w: World) -> None:
    t = w.proc_task()
    s = mkset(w, t, 1)
    u = w.proc_task()
    th = w.thread(u)
    w.call(u, "semop", s, [(0, 1, SEM_UNDO)])
    w.call(th, "semop", s, [(0, 1, SEM_UNDO)])
    assert u.process.sysvsem[s].semadj == [-2]
    w.k.exit_task(th, w.now)               # a thread exit applies nothing
    assert vals(w, t, s) == [2]
    w.k.exit_process(u.process, w.now)
    assert vals(w, t, s) == [0]


def test_rmid_wakes_all_with_eidrm_and_drops_undo(w: World) -> None:
    t = w.proc_task()
    s = mkset(w, t, 2)
    a, b, c = w.proc_task(), w.proc_task(), w.proc_task()
    w.call(a, "semop", s, [(0, -1, 0)])
    w.call(b, "semop", s, [(0, -1, 0), (1, -1, 0)])
    w.call(c, "semop", s, [(1, 0, SEM_UNDO)]) if False else None
    w.call(c, "semop", s, [(1, 1, SEM_UNDO)])
    w.call(t, "semctl", s, 0, IPC_RMID)
    out = dict(w.done())
    assert out[a].errno == E.EIDRM and out[b].errno == E.EIDRM
    assert c.process.sysvsem == {}
    assert t.ns.used_sems == 0


def test_timeout_and_interrupt(w: World) -> None:
    t = w.proc_task()
    s = mkset(w, t, 1)
    a, b = w.proc_task(), w.proc_task()
    assert w.call(a, "semtimedop", s, [(0, -1, 0)], 2.5) is BLOCKED
    assert w.call(b, "semop", s, [(0, -1, 0)]) is BLOCKED
    assert w.k.next_deadline() == 1002.5
    w.k.advance(1002.0)
    assert w.done() == []
    w.k.advance(1002.5)
    [(task, res)] = w.done()
    assert task is a and res.errno == E.EAGAIN
    w.k.interrupt(b, 1003.0)
    [(task, res)] = w.done()
    assert task is b and res.errno == E.EINTR
    assert w.call(t, "semctl", s, 0, GETNCNT) == 0


def test_cancelled_complex_sleeper_unmerges(w: World) -> None:
    t = w.proc_task()
    s = mkset(w, t, 2)
    cx, simple = w.proc_task(), w.proc_task()
    w.call(cx, "semop", s, [(0, -1, 0), (1, -1, 0)])
    w.call(simple, "semop", s, [(1, -1, 0)])      # goes to the global queue
    sma = t.ns.sem_ids.ipc_obtain_object_check(s)
    assert len(sma.pending_alter) == 2
    w.k.interrupt(cx, w.now)
    w.done()
    assert len(sma.pending_alter) == 0 and len(sma.sems[1].pending_alter) == 1
    w.call(t, "semop", s, [(1, 1, 0)])
    assert w.done() == [(simple, None)]


def test_semctl_commands(w: World) -> None:
    t = w.proc_task()
    s = mkset(w, t, 3)
    assert w.err(t, "semctl", s, 0, SETVAL, 32768) == E.ERANGE
    assert w.err(t, "semctl", s + 5, 0, SETVAL, 40000) == E.ERANGE  # ERANGE before the id
    assert w.err(t, "semctl", s, 3, SETVAL, 1) == E.EINVAL
    assert w.err(t, "semctl", s, 3, GETVAL) == E.EINVAL
    assert w.err(t, "semctl", s, 0, SETALL, [1, 2, 40000]) == E.ERANGE
    assert w.err(t, "semctl", s, 0, 99) == E.EINVAL
    assert w.err(t, "semctl", -1, 0, GETVAL) == E.EINVAL
    w.call(t, "semctl", s, 0, SETALL, [1, 2, 3])
    assert w.call(t, "semctl", s, 2, GETVAL) == 3
    assert w.call(t, "semctl", 0, 0, IPC_INFO)[1].semusz == 20
    assert w.call(t, "semctl", 0, 0, SEM_STAT)[0] == s
    assert w.call(t, "semctl", 0, 0, SEM_STAT_ANY)[0] == s


def test_permissions(w: World) -> None:
    owner = w.proc_task(uid=1000, gid=1000)
    s = w.call(owner, "semget", IPC_PRIVATE, 1, 0o640)
    grp = w.proc_task(uid=1001, gid=1000)
    other = w.proc_task(uid=1002, gid=1002)
    assert w.call(grp, "semop", s, [(0, 0, IPC_NOWAIT)]) is None   # read is enough to wait for zero
    assert w.err(grp, "semop", s, [(0, 1, 0)]) == E.EACCES
    assert w.err(grp, "semctl", s, 0, SETVAL, 1) == E.EACCES
    assert w.call(grp, "semctl", s, 0, GETVAL) == 0
    assert w.err(other, "semctl", s, 0, GETVAL) == E.EACCES
    assert w.err(other, "semctl", s, 0, IPC_RMID) == E.EPERM
    ds = w.call(owner, "semctl", s, 0, IPC_STAT)[1]
    w.tick()
    w.call(owner, "semctl", s, 0, IPC_SET, dataclasses.replace(
        ds, sem_perm=dataclasses.replace(ds.sem_perm, mode=0o666)))
    assert w.call(other, "semop", s, [(0, 1, 0)]) is None
    assert w.call(owner, "semctl", s, 0, IPC_STAT)[1].sem_ctime == 1001


def test_otime_set_by_semop_only(w: World) -> None:
    t = w.proc_task()
    s = mkset(w, t, 1)
    w.tick()
    w.call(t, "semctl", s, 0, SETVAL, 3)
    assert w.call(t, "semctl", s, 0, IPC_STAT)[1].sem_otime == 0
    w.tick()
    w.call(t, "semop", s, [(0, -1, 0)])
    assert w.call(t, "semctl", s, 0, IPC_STAT)[1].sem_otime == 1002
    assert KernelError


# --- bounded work per request: a 32,000-semaphore set is cheap to make and to use ---
import gc  # noqa: E402  (this section is appended; its imports live with it)
import sys  # noqa: E402
import tracemalloc  # noqa: E402
from typing import Callable  # noqa: E402

BIG = 32000   # semmsl: the most one semget may ask for


def _traced(fn: Callable[[], object]) -> tuple[int, int]:
    """(bytes, blocks) that ``fn`` leaves allocated, as tracemalloc counts them."""
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.take_snapshot()
        fn()
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    own = [tracemalloc.Filter(False, tracemalloc.__file__)]  # the snapshots themselves
    diff = after.filter_traces(own).compare_to(before.filter_traces(own), "filename")
    return sum(d.size_diff for d in diff), sum(d.count_diff for d in diff)


def _calls(fn: Callable[[], object]) -> int:
    """How many functions (Python and builtin) ``fn`` calls: its work, counted
    deterministically, where a wall-clock bound would be flaky."""
    count = 0

    def profile(frame: object, event: str, arg: object) -> None:
        nonlocal count
        if event in ("call", "c_call"):
            count += 1

    sys.setprofile(profile)
    try:
        fn()
    finally:
        sys.setprofile(None)
    return count


def test_semget_32000_costs_under_64_bytes_a_semaphore(w: World) -> None:
    t = w.proc_task()
    size, _ = _traced(lambda: mkset(w, t, BIG))
    assert size / BIG < 64, f"{size / BIG:.1f} bytes per semaphore"


def test_semget_allocates_as_many_blocks_for_32000_semaphores_as_for_2(w: World) -> None:
    t = w.proc_task()
    w.call(t, "semctl", mkset(w, t, 2), 0, IPC_RMID)   # warm up the id table and caches
    _, small = _traced(lambda: mkset(w, t, 2))
    _, big = _traced(lambda: mkset(w, t, BIG))
    # one object per semaphore would be 32,000 blocks; the few allowed are dict resizes
    assert big <= small + 4, (small, big)


def _whole_set_work(nsems: int) -> list[int]:
    """Function calls made by GETALL, SETALL, SETVAL, exit_sem (with SEM_UNDO)
    and IPC_RMID on a set of nsems with one sleeper, on its last semaphore."""
    w = World()
    t, u, sleeper = w.proc_task(), w.proc_task(), w.proc_task()
    s = mkset(w, t, nsems)
    assert w.call(sleeper, "semop", s, [(nsems - 1, -2, 0)]) is BLOCKED
    ones = [1] * nsems
    work = [_calls(lambda: w.call(t, "semctl", s, 0, GETALL)),
            _calls(lambda: w.call(t, "semctl", s, 0, SETALL, ones)),
            _calls(lambda: w.call(t, "semctl", s, 0, SETVAL, 0))]
    w.call(u, "semop", s, [(0, 1, SEM_UNDO)])
    work.append(_calls(lambda: w.k.exit_process(u.process, w.now)))
    assert vals(w, t, s)[0] == 0 and w.done() == []      # undone; the sleeper still sleeps
    work.append(_calls(lambda: w.call(t, "semctl", s, 0, IPC_RMID)))
    [(task, res)] = w.done()
    assert task is sleeper and res.errno == E.EIDRM
    return work


def test_whole_set_operations_do_no_per_semaphore_work() -> None:
    # the wakeups after SETALL/SETVAL/exit_sem and freeary visit only the
    # semaphores that have sleepers; values move in C (array, min/max, compress)
    small, big = _whole_set_work(2), _whole_set_work(BIG)
    assert all(b <= s + 16 for s, b in zip(small, big)), (small, big)
