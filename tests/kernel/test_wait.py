"""uipc/kernel/wait.py on the pure core: a sleeper with several wait entries,
wake functions, callback entries that complete nothing, exclusive wakes and
repark.  The syscalls here are made up for the test (any function
(kernel, task, *args) is one); the waking is done inside a syscall, as a real
waker would."""
from __future__ import annotations

import errno as E
from typing import Any

import pytest

from uipc.kernel import BLOCKED, Cred, Kernel, KernelError
from uipc.kernel.wait import (
    CallbackEntry, WaitQueue, WaitQueueEntry, Waiter, add_wait_queue, remove_wait_queue, repark,
    wake_up, wake_up_all,
)


class Env:
    def __init__(self) -> None:
        self.k = Kernel()
        self.queues = [WaitQueue(), WaitQueue(), WaitQueue()]
        self.now = 100.0
        self._pid = 1

    def task(self):
        self._pid += 1
        return self.k.new_task(self.k.new_process(self._pid, Cred.of(0, 0)))

    def call(self, task, fn, *args: Any) -> Any:
        return self.k.syscall(task, fn, *args, now=self.now)

    def wake(self, queue: WaitQueue, key: Any = None, nr: int = 1) -> int:
        """A waker: one syscall that runs wake_up on ``queue``."""
        return self.call(self.task(), lambda k, t: wake_up(k, queue, key, nr))


@pytest.fixture
def env() -> Env:
    return Env()


def sys_wait3(k: Kernel, task, queues: list[WaitQueue], timeout: float | None = None) -> object:
    """Sleep on three queues at once (as poll does): the waiter itself on the
    first, one more entry on each of the others; woken, it returns which
    attempt it is on."""
    attempts = []

    def attempt() -> object:
        attempts.append(1)
        if len(attempts) > 1:
            return f"woken after {len(attempts) - 1}"
        w = Waiter(task=task, op="wait3", restart=attempt,
                   deadline=None if timeout is None else k.mono + timeout)
        for q in queues[1:]:
            w.add_wait(q)
        return k.park(queues[0], w)

    return attempt()


def total(queues: list[WaitQueue]) -> int:
    return sum(len(q) for q in queues)


@pytest.mark.parametrize("which", [0, 1, 2])
def test_one_waiter_on_three_queues_woken_by_any(env: Env, which: int) -> None:
    t = env.task()
    assert env.call(t, sys_wait3, env.queues) is BLOCKED
    waiter = t.waiter
    assert [len(q) for q in env.queues] == [1, 1, 1]
    assert env.queues[0].waiters() == env.queues[1].waiters() == [waiter]
    assert env.wake(env.queues[which]) == 1
    assert env.k.take_completions() == [(t, "woken after 1")]
    # completed once, and gone from all three queues
    assert total(env.queues) == 0 and t.waiter is None and not waiter.pending
    assert env.wake(env.queues[(which + 1) % 3]) == 0
    assert env.k.take_completions() == []


@pytest.mark.parametrize("how", ["signal", "timeout", "exit", "thread exit"])
def test_removing_a_waiter_removes_all_its_entries(env: Env, how: str) -> None:
    t = env.task()
    env.call(t, sys_wait3, env.queues, 5.0)
    if how == "signal":
        env.k.interrupt(t, env.now)
        [(_, res)] = env.k.take_completions()
        assert res.errno == E.EINTR
    elif how == "timeout":
        env.k.advance(env.now + 5.0)
        [(_, res)] = env.k.take_completions()
        assert res.errno == E.EAGAIN
    elif how == "exit":
        env.k.exit_process(t.process, env.now)
    else:
        env.k.exit_task(t, env.now)
    assert total(env.queues) == 0 and t.waiter is None
    assert env.k.next_deadline() is None
    for q in env.queues:
        assert env.wake(q) == 0
    assert env.k.take_completions() == []


def test_a_callback_entry_records_readiness_and_completes_nothing(env: Env) -> None:
    """A poll-table-style entry (no waiter) is called by every wake and stays
    on its queue until its owner removes it; a sleeper on the same queue is
    woken as usual."""
    q = env.queues[0]
    seen: list[Any] = []

    def record(k: Kernel, entry: WaitQueueEntry, key: Any) -> bool:
        seen.append((entry.private, key))  # type: ignore[attr-defined]
        return False  # it woke nobody

    ready = CallbackEntry(record, private="fd 7")
    add_wait_queue(q, ready)
    t = env.task()
    env.call(t, lambda k, task: k.park(q, Waiter(task=task, op="sleep",
                                                  restart=lambda: "done")))
    assert len(q) == 2
    assert env.call(env.task(), lambda k, task: wake_up_all(k, q, 0x1)) == 1
    assert seen == [("fd 7", 0x1)]
    assert env.k.take_completions() == [(t, "done")]
    assert list(q) == [ready]  # the callback entry is still there
    env.wake(q, 0x4)
    assert seen == [("fd 7", 0x1), ("fd 7", 0x4)] and env.k.take_completions() == []
    remove_wait_queue(ready)
    assert len(q) == 0 and ready.queue is None
    env.wake(q)
    assert len(seen) == 2


def test_a_wake_function_sees_the_key_and_may_decline(env: Env) -> None:
    """An entry's own function decides: here it wakes its waiter only for key 2."""
    t = env.task()
    q = env.queues[1]

    def only_two(k: Kernel, entry: WaitQueueEntry, key: Any) -> bool:
        if key != 2:
            return False
        k.wake(entry.owner, f"key {key}")  # completes the syscall with a value
        return True

    def sys_sleep(k: Kernel, task) -> object:
        w = Waiter(task=task, op="sleep")
        w.add_wait(q, only_two)
        return k.park(None, w)  # on no queue of its own: only its entry

    assert env.call(t, sys_sleep) is BLOCKED
    assert env.wake(q, 1) == 0 and env.k.take_completions() == []
    assert env.wake(q, 2) == 1
    assert env.k.take_completions() == [(t, "key 2")] and len(q) == 0


def test_exclusive_entries_count_against_nr_exclusive(env: Env) -> None:
    """__wake_up_common: every non-exclusive entry, then exclusive ones up to
    nr_exclusive (0: all)."""
    q = env.queues[0]
    calls: list[str] = []

    def entry(name: str, exclusive: bool) -> CallbackEntry:
        def fn(k: Kernel, e: WaitQueueEntry, key: Any) -> bool:
            calls.append(name)
            return True
        e = CallbackEntry(fn, exclusive=exclusive)
        add_wait_queue(q, e)
        return e

    entry("poll", False)
    entry("reader1", True)
    entry("reader2", True)
    entry("poll2", False)
    assert env.wake(q, nr=1) == 2
    assert calls == ["poll", "reader1"]
    calls.clear()
    assert env.wake(q, nr=0) == 4
    assert calls == ["poll", "reader1", "reader2", "poll2"]


def test_repark_moves_the_same_entry_with_its_other_entries_and_timeout(env: Env) -> None:
    t = env.task()
    q0, q1, q2 = env.queues
    env.call(t, sys_wait3, [q0, q2, WaitQueue()], 3.0)
    waiter = t.waiter
    repark(waiter, q1)
    assert (len(q0), list(q1), waiter.queue) == (0, [waiter], q1)
    assert len(q2) == 1  # its other entry did not move
    env.wake(q1)
    assert env.k.take_completions() == [(t, "woken after 1")]
    assert total(env.queues) == 0
    env.k.advance(env.now + 3.0)  # its timeout went with it
    assert env.k.take_completions() == []


def test_repark_all_keeps_fifo_order(env: Env) -> None:
    a, b = WaitQueue(), WaitQueue()
    tasks = [env.task() for _ in range(4)]
    waiters = [Waiter(task=t, op=str(i)) for i, t in enumerate(tasks)]
    for w in waiters[:2]:
        b.park(w)
    for w in waiters[2:]:
        a.park(w)
    a.repark_all(b)
    assert list(b) == waiters and len(a) == 0
    assert all(w.queue is b for w in waiters)


def test_retry_wake_reruns_and_may_sleep_again(env: Env) -> None:
    """autoremove_wake_function wakes with RETRY: the syscall re-checks; a
    condition still false parks it again, on all its queues."""
    t = env.task()
    state = {"ready": False}

    def sys_until_ready(k: Kernel, task) -> object:
        def attempt() -> object:
            if state["ready"]:
                return "ready"
            w = Waiter(task=task, op="until", restart=attempt)
            w.add_wait(env.queues[1])
            return k.park(env.queues[0], w)
        return attempt()

    env.call(t, sys_until_ready)
    first = t.waiter
    env.wake(env.queues[1])
    assert env.k.take_completions() == []
    assert t.waiter is not None and t.waiter is not first  # asleep again, anew
    assert [len(q) for q in env.queues[:2]] == [1, 1]
    state["ready"] = True
    env.wake(env.queues[0])
    assert env.k.take_completions() == [(t, "ready")] and total(env.queues) == 0


def test_waking_a_sleeper_with_an_error(env: Env) -> None:
    t = env.task()
    env.call(t, sys_wait3, env.queues)

    def remove_object(k: Kernel, task) -> None:
        for entry in env.queues[2]:
            k.wake(entry.owner, KernelError(E.EIDRM, "gone"))

    env.call(env.task(), remove_object)
    [(task, res)] = env.k.take_completions()
    assert task is t and res.errno == E.EIDRM and total(env.queues) == 0
