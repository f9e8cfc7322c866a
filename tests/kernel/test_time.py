"""kernel/time/ on the pure core: the two clocks, the timer heap, and which
clock each thing follows (stamps: CLOCK_REALTIME; timeouts: CLOCK_MONOTONIC)."""
from __future__ import annotations

import errno as E

import pytest

from uipc.kernel import BLOCKED, Cred, Kernel, KernelError
from uipc.kernel.syscalls import SYSCALLS
from uipc.kernel.time import CLOCK_MONOTONIC, CLOCK_REALTIME, COMPACT_MIN, Clocks, Timer, TimerHeap
from uipc.uapi import GETNCNT, IPC_PRIVATE, IPC_STAT, SETVAL

# --- Clocks ---------------------------------------------------------------------


def test_clocks_hold_what_the_caller_gives() -> None:
    c = Clocks()
    c.set(1_700_000_000.5, 42.25)
    assert (c.gettime(CLOCK_REALTIME), c.gettime(CLOCK_MONOTONIC)) == (1_700_000_000.5, 42.25)
    assert c.offs_real == 1_700_000_000.5 - 42.25
    c.set(1000.0)  # one clock given: it stands for both
    assert (c.realtime, c.monotonic, c.offs_real) == (1000.0, 1000.0, 0.0)
    with pytest.raises(ValueError):
        c.gettime(7)


# --- TimerHeap ------------------------------------------------------------------


def recorder(log: list[str], name: str):
    def fn(timer: Timer) -> None:
        log.append(name)
    return fn


def test_timers_run_in_expiry_order_ties_in_arming_order() -> None:
    h, log = TimerHeap(), []
    h.add(5.0, recorder(log, "c"))
    h.add(3.0, recorder(log, "a"))
    h.add(5.0, recorder(log, "d"))
    h.add(4.0, recorder(log, "b"))
    assert (h.next_expiry(), len(h)) == (3.0, 4)
    assert h.run_expired(2.9) == 0 and log == []
    assert h.run_expired(4.0) == 2 and log == ["a", "b"]
    assert h.next_expiry() == 5.0
    assert h.run_expired(100.0) == 2 and log == ["a", "b", "c", "d"]
    assert (h.next_expiry(), len(h), bool(h)) == (None, 0, False)


def test_cancel_disarms_once_and_skips_the_timer() -> None:
    h, log = TimerHeap(), []
    t1 = h.add(1.0, recorder(log, "one"))
    h.add(2.0, recorder(log, "two"))
    assert h.cancel(t1) is True
    assert h.cancel(t1) is False  # not armed any more
    assert (h.next_expiry(), len(h), t1.active) == (2.0, 1, False)
    h.run_expired(10.0)
    assert log == ["two"]


def test_restart_by_return_value_and_start_rearms() -> None:
    """A function returning an expiry re-arms its timer (HRTIMER_RESTART, a
    periodic timerfd); start() moves an armed timer and its old slot is dead."""
    h, log = TimerHeap(), []

    def periodic(timer: Timer) -> float | None:
        log.append(f"tick@{timer.expires}")
        return timer.expires + 1.0 if len(log) < 3 else None

    h.add(1.0, periodic)
    assert h.run_expired(2.5) == 2  # 1.0, then re-armed 2.0 due in the same pass
    assert log == ["tick@1.0", "tick@2.0"] and h.next_expiry() == 3.0
    h.run_expired(3.0)
    assert log == ["tick@1.0", "tick@2.0", "tick@3.0"] and h.next_expiry() is None

    moved = h.add(5.0, recorder(log, "moved"))
    h.start(moved, 8.0)
    assert h.run_expired(7.0) == 0  # the stale 5.0 entry does not fire
    assert h.next_expiry() == 8.0 and len(h) == 1
    h.run_expired(8.0)
    assert log[-1] == "moved"


def test_cancelled_timers_do_not_pile_up() -> None:
    """A sleeper that completes before its timeout leaves a cancelled timer:
    the heap is compacted, so its size follows the armed timers."""
    h = TimerHeap()
    keep = h.add(1e9, recorder([], "keep"))
    for i in range(10 * COMPACT_MIN):
        h.cancel(h.add(1000.0 + i, recorder([], "x")))
    assert len(h) == 1 and keep.active
    assert len(h._heap) < COMPACT_MIN  # the memory, not just the count
    assert h.next_expiry() == 1e9


def test_a_callback_cancelling_others_during_the_run() -> None:
    h, log = TimerHeap(), []
    later = [h.add(2.0 + i / 1000, recorder(log, f"later{i}")) for i in range(2 * COMPACT_MIN)]

    def cancel_all(timer: Timer) -> None:
        log.append("first")
        for t in later:
            h.cancel(t)  # compacts the list run_expired is walking

    h.add(1.0, cancel_all)
    assert h.run_expired(10.0) == 1
    assert log == ["first"] and len(h) == 0


# --- which clock the kernel follows ------------------------------------------------


def setup() -> tuple[Kernel, object, object, int]:
    k = Kernel()
    owner = k.new_task(k.new_process(10, Cred.of(0, 0)))
    sleeper = k.new_task(k.new_process(11, Cred.of(0, 0)))
    semid = k.syscall(owner, SYSCALLS["semget"], IPC_PRIVATE, 1, 0o600, now=1000.0, mono=50.0)
    return k, owner, sleeper, semid


@pytest.mark.parametrize("jump", [-900.0, +86400.0])
def test_realtime_jump_does_not_move_a_semtimedop_timeout(jump: float) -> None:
    """semtimedop's 10 s run on CLOCK_MONOTONIC: the wall clock set back or
    forward (by a day) changes nothing about when it times out; the stamps of
    the calls around it follow the wall clock."""
    k, owner, sleeper, s = setup()
    assert k.syscall(sleeper, SYSCALLS["semtimedop"], s, [(0, -1, 0)], 10.0,
                     now=1000.0, mono=50.0) is BLOCKED
    assert k.next_deadline() == 60.0  # monotonic: 50 + 10, not 1000 + 10

    # the wall clock jumps; 5 monotonic seconds pass
    k.advance(1000.0 + jump, 55.0)
    assert k.take_completions() == []
    k.syscall(owner, SYSCALLS["semctl"], s, 0, SETVAL, 0, now=1001.0 + jump, mono=56.0)
    ds = k.syscall(owner, SYSCALLS["semctl"], s, 0, IPC_STAT, now=1001.0 + jump, mono=56.0)[1]
    assert ds.sem_ctime == int(1001.0 + jump)  # the stamp follows the wall clock
    k.advance(1009.9 + jump, 59.9)
    assert k.take_completions() == []
    assert k.syscall(owner, SYSCALLS["semctl"], s, 0, GETNCNT, now=1009.9 + jump,
                     mono=59.9) == 1

    k.advance(1010.0 + jump, 60.0)  # ten monotonic seconds after it slept
    [(task, res)] = k.take_completions()
    assert task is sleeper and isinstance(res, KernelError) and res.errno == E.EAGAIN
    assert k.next_deadline() is None


def test_old_behaviour_would_differ() -> None:
    """The same inputs with one clock (mono omitted: it equals now), as every
    earlier kernel test passes them: a forward jump of realtime is then a
    jump of the deadline clock too, and the sleeper times out at once."""
    k, owner, sleeper, s = setup()
    k.syscall(sleeper, SYSCALLS["semtimedop"], s, [(0, -1, 0)], 10.0, now=1000.0)
    assert k.next_deadline() == 1010.0
    k.advance(1000.0 + 86400.0)
    [(_, res)] = k.take_completions()
    assert res.errno == E.EAGAIN


def test_stamps_follow_realtime_not_monotonic() -> None:
    k, owner, _, s = setup()
    k.syscall(owner, SYSCALLS["semop"], s, [(0, 1, 0)], now=2_000_000.0, mono=70.0)
    ds = k.syscall(owner, SYSCALLS["semctl"], s, 0, IPC_STAT, now=2_000_001.0, mono=71.0)[1]
    assert (ds.sem_otime, ds.sem_ctime) == (2_000_000, 1000)
    q = k.syscall(owner, SYSCALLS["msgget"], IPC_PRIVATE, 0o600, now=3_000_000.0, mono=72.0)
    k.syscall(owner, SYSCALLS["msgsnd"], q, 1, b"x", 0, now=3_000_005.0, mono=73.0)
    mds = k.syscall(owner, SYSCALLS["msgctl"], q, IPC_STAT, now=3_000_006.0, mono=74.0)[1]
    assert (mds.msg_ctime, mds.msg_stime) == (3_000_000, 3_000_005)
    seg = k.syscall(owner, SYSCALLS["shmget"], IPC_PRIVATE, 4096, 0o600, now=4_000_000.0, mono=75.0)
    k.syscall(owner, SYSCALLS["shmat"], seg, 0, 0, now=4_000_002.0, mono=76.0)
    sds = k.syscall(owner, SYSCALLS["shmctl"], seg, IPC_STAT, now=4_000_003.0, mono=77.0)[1]
    assert (sds.shm_ctime, sds.shm_atime) == (4_000_000, 4_000_002)


def test_sleeper_since_is_realtime_and_a_completed_sleepers_timer_is_gone() -> None:
    k, owner, sleeper, s = setup()
    k.syscall(sleeper, SYSCALLS["semtimedop"], s, [(0, -1, 0)], 30.0, now=1234.0, mono=51.0)
    waiter = sleeper.waiter
    assert waiter is not None and (waiter.since, waiter.deadline) == (1234.0, 81.0)
    assert waiter.timer is not None and waiter.timer.active
    k.syscall(owner, SYSCALLS["semop"], s, [(0, 1, 0)], now=1235.0, mono=52.0)
    assert k.take_completions() == [(sleeper, None)]
    assert not waiter.timer.active and len(k.timers) == 0 and k.next_deadline() is None
    k.advance(99999.0, 200.0)  # long past its deadline: nothing more happens
    assert k.take_completions() == []


@pytest.mark.parametrize("how", ["interrupt", "exit_task", "exit_process"])
def test_every_way_out_cancels_the_timeout(how: str) -> None:
    k, owner, sleeper, s = setup()
    k.syscall(sleeper, SYSCALLS["semtimedop"], s, [(0, -1, 0)], 5.0, now=1000.0, mono=50.0)
    timer = sleeper.waiter.timer
    if how == "interrupt":
        assert k.interrupt(sleeper, 1001.0, 51.0)
    elif how == "exit_task":
        k.exit_task(sleeper, 1001.0, 51.0)
    else:
        k.exit_process(sleeper.process, 1001.0, 51.0)
    assert not timer.active and k.next_deadline() is None
    k.take_completions()
    k.advance(1010.0, 60.0)
    assert k.take_completions() == []
