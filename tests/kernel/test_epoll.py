"""fs/eventpoll.c on the pure core (uipc/kernel/eventpoll.py), fake clock:
level- and edge-triggered reports, EPOLLONESHOT, the ready list's order,
epoll_ctl's and epoll_wait's errors in Linux's order, sleeping and waking,
timeouts and signals, targets released by their last close, nested epolls
and their limits, and the epoll file's own readiness (its doorbell).

Where a rule was in doubt it was checked against the real kernel (6.18,
Python's select.epoll over os.eventfd; tests/conformance/scenarios_epoll.py
keeps those comparisons running)."""
from __future__ import annotations

import errno as E
import itertools
import struct
from typing import Any

import pytest

from tests.kernel.conftest import World
from uipc.kernel import BLOCKED, Task
from uipc.kernel import eventpoll as ep_mod
from uipc.kernel.errors import KernelError
from uipc.kernel.eventpoll import (
    EP_MAX_EVENTS, EPOLL_CLOEXEC, EPOLL_CTL_ADD, EPOLL_CTL_DEL, EPOLL_CTL_MOD, EPOLLERR,
    EPOLLET, EPOLLEXCLUSIVE, EPOLLHUP, EPOLLIN, EPOLLONESHOT, EPOLLOUT, EPOLLRDNORM, EventPoll,
    eventpoll_release,
)
from uipc.kernel.file import O_RDWR, POLLIN, FileOps, NewFile, alloc_file, poll_wait, vfs_poll
from uipc.kernel.mqueue import O_CREAT
from uipc.kernel.wait import WaitQueue, wake_up
from uipc.uapi.mqueue import MQ_BYTES_MAX

U64 = struct.Struct("<Q")
_inos = itertools.count(7000)


# --- helpers -------------------------------------------------------------------
def install(w: World, t: Task, new: Any) -> int:
    """What the daemon does with a new file: install it under a fresh inode."""
    ino = next(_inos)
    w.k.install_file(t, new, ino)
    return ino


def epoll(w: World, t: Task, flags: int = 0) -> int:
    return install(w, t, w.call(t, "epoll_create1", flags))


def efd(w: World, t: Task, initval: int = 0, flags: int = 0) -> int:
    return install(w, t, w.call(t, "eventfd2", initval, flags))


def ctl(w: World, t: Task, ep: int, op: int, fd: int, events: int = EPOLLIN,
        data: int | None = None, tfd: int | None = None) -> None:
    """epoll_ctl with the client's defaults: the descriptor number is the
    inode, the data is the descriptor."""
    w.call(t, "epoll_ctl", ep, op, fd, fd if tfd is None else tfd, events,
           fd if data is None else data)


def ctl_err(w: World, t: Task, ep: int, op: int, fd: int, events: int = EPOLLIN,
            tfd: int | None = None) -> int:
    return w.err(t, "epoll_ctl", ep, op, fd, fd if tfd is None else tfd, events, 0)


def wait(w: World, t: Task, ep: int, maxevents: int = 64,
         timeout: float | None = 0.0) -> Any:
    got = w.call(t, "epoll_wait", ep, maxevents, timeout)
    return got if got is BLOCKED else pairs(got)


def pairs(flat: list[int]) -> list[tuple[int, int]]:
    """The reply's flat list as [(data, events)], as the client returns it."""
    return [(d & (1 << 64) - 1, ev) for ev, d in zip(flat[0::2], flat[1::2])]


def write(w: World, t: Task, fd: int, value: int = 1) -> None:
    w.call(t, "write", fd, U64.pack(value))


def read(w: World, t: Task, fd: int) -> int:
    return U64.unpack(w.call(t, "read", fd, 8))[0]


def ep_of(w: World, t: Task, ep: int) -> EventPoll:
    return t.process.files.get(ep).private_data


# --- creation ----------------------------------------------------------------------
def test_epoll_create1_takes_only_epoll_cloexec(w: World) -> None:
    t = w.proc_task()
    assert w.err(t, "epoll_create1", 1) == E.EINVAL
    assert w.err(t, "epoll_create1", EPOLL_CLOEXEC | 1) == E.EINVAL
    new = w.call(t, "epoll_create1", EPOLL_CLOEXEC)
    assert new.cloexec and new.file.f_op.name == "eventpoll"
    assert not w.call(t, "epoll_create1", 0).cloexec


# --- what is reported ------------------------------------------------------------------
def test_level_triggered_reports_while_ready_with_the_data_given(w: World) -> None:
    t = w.proc_task()
    ep, e = epoll(w, t), efd(w, t)
    ctl(w, t, ep, EPOLL_CTL_ADD, e, EPOLLIN, data=(1 << 64) - 2)  # all 64 bits come back
    assert wait(w, t, ep) == []
    write(w, t, e, 3)
    assert wait(w, t, ep) == [((1 << 64) - 2, EPOLLIN)]
    assert wait(w, t, ep) == [((1 << 64) - 2, EPOLLIN)]  # still ready: again
    read(w, t, e)
    assert wait(w, t, ep) == []


def test_events_are_those_asked_for_plus_err_and_hup(w: World) -> None:
    t = w.proc_task()
    ep, e = epoll(w, t), efd(w, t, 1)
    ctl(w, t, ep, EPOLL_CTL_ADD, e, EPOLLIN | EPOLLOUT | EPOLLRDNORM)
    assert wait(w, t, ep) == [(e, EPOLLIN | EPOLLOUT)]  # an eventfd sets no RDNORM
    ctl(w, t, ep, EPOLL_CTL_MOD, e, 0)  # no poll bit but the ERR|HUP always added
    assert wait(w, t, ep) == []
    epi = ep_of(w, t, ep).rbr[(t.process.files.get(e), e)]
    assert epi.events == EPOLLERR | EPOLLHUP


def test_edge_triggered_reports_once_per_new_event(w: World) -> None:
    t = w.proc_task()
    ep, e = epoll(w, t), efd(w, t)
    ctl(w, t, ep, EPOLL_CTL_ADD, e, EPOLLIN | EPOLLET)
    write(w, t, e)
    assert wait(w, t, ep) == [(e, EPOLLIN)]
    assert wait(w, t, ep) == []  # still readable, but nothing new
    write(w, t, e, 2)
    assert wait(w, t, ep) == [(e, EPOLLIN)]
    assert wait(w, t, ep) == []


def test_oneshot_disarms_until_mod(w: World) -> None:
    t = w.proc_task()
    ep, e = epoll(w, t), efd(w, t)
    ctl(w, t, ep, EPOLL_CTL_ADD, e, EPOLLIN | EPOLLONESHOT, data=5)
    write(w, t, e)
    assert wait(w, t, ep) == [(5, EPOLLIN)]
    write(w, t, e)
    assert wait(w, t, ep) == []  # disarmed: new events do not count
    ctl(w, t, ep, EPOLL_CTL_MOD, e, EPOLLIN | EPOLLONESHOT, data=6)
    assert wait(w, t, ep) == [(6, EPOLLIN)]  # armed again, ready now
    assert wait(w, t, ep) == []


def test_level_triggered_items_take_turns_under_maxevents(w: World) -> None:
    """ep_send_events puts a reported item back at the tail: round robin."""
    t = w.proc_task()
    ep = epoll(w, t)
    a, b, c = efd(w, t, 1), efd(w, t, 1), efd(w, t, 1)
    for fd in (a, b, c):
        ctl(w, t, ep, EPOLL_CTL_ADD, fd)
    assert [wait(w, t, ep, 1) for _ in range(4)] == [[(a, 1)], [(b, 1)], [(c, 1)], [(a, 1)]]
    assert wait(w, t, ep, 2) == [(b, 1), (c, 1)]
    assert wait(w, t, ep, 2) == [(a, 1), (b, 1)]


def test_two_descriptors_of_one_file_are_two_items_newest_first(w: World) -> None:
    """The key is (file, descriptor): a dup is another item; callback entries
    go at the head of the file's queue, so the newest hears a wake first."""
    t = w.proc_task()
    ep, e = epoll(w, t), efd(w, t)
    for tfd in (3, 4, 5):
        ctl(w, t, ep, EPOLL_CTL_ADD, e, EPOLLIN | EPOLLET, data=tfd, tfd=tfd)
    assert ctl_err(w, t, ep, EPOLL_CTL_ADD, e, tfd=4) == E.EEXIST
    write(w, t, e)
    assert wait(w, t, ep) == [(5, 1), (4, 1), (3, 1)]
    ctl(w, t, ep, EPOLL_CTL_DEL, e, tfd=4)
    write(w, t, e)
    assert wait(w, t, ep, 1) == [(5, 1)]
    assert wait(w, t, ep, 1) == [(3, 1)]


# --- epoll_ctl's errors --------------------------------------------------------------------
class _NoPoll(FileOps):
    name = "nopoll"


def test_ctl_errors_in_linux_order(w: World) -> None:
    t = w.proc_task()
    ep, e = epoll(w, t), efd(w, t)
    flat = install(w, t, NewFile(alloc_file(w.k, t, _NoPoll(), O_RDWR, None), False))
    assert ctl_err(w, t, 999, EPOLL_CTL_ADD, e) == E.EBADF
    assert ctl_err(w, t, ep, EPOLL_CTL_ADD, 999) == E.EBADF
    assert ctl_err(w, t, e, EPOLL_CTL_ADD, flat) == E.EPERM  # EPERM before "not an epoll"
    assert ctl_err(w, t, ep, EPOLL_CTL_ADD, flat) == E.EPERM
    assert ctl_err(w, t, ep, EPOLL_CTL_ADD, ep) == E.EINVAL  # itself
    assert ctl_err(w, t, e, EPOLL_CTL_ADD, e) == E.EINVAL
    assert ctl_err(w, t, e, EPOLL_CTL_ADD, ep) == E.EINVAL  # epfd is no epoll
    assert ctl_err(w, t, ep, 7, e) == E.EINVAL  # no such op
    assert ctl_err(w, t, ep, EPOLL_CTL_MOD, e) == E.ENOENT
    assert ctl_err(w, t, ep, EPOLL_CTL_DEL, e) == E.ENOENT
    ctl(w, t, ep, EPOLL_CTL_ADD, e)
    assert ctl_err(w, t, ep, EPOLL_CTL_ADD, e) == E.EEXIST
    ctl(w, t, ep, EPOLL_CTL_DEL, e)
    assert ctl_err(w, t, ep, EPOLL_CTL_DEL, e) == E.ENOENT


def test_epollexclusive_is_for_add_only_with_plain_events(w: World) -> None:
    t = w.proc_task()
    ep, inner, e = epoll(w, t), epoll(w, t), efd(w, t)
    assert ctl_err(w, t, ep, EPOLL_CTL_ADD, e, EPOLLIN | EPOLLEXCLUSIVE | EPOLLRDNORM) == E.EINVAL
    assert ctl_err(w, t, ep, EPOLL_CTL_ADD, e, EPOLLIN | EPOLLEXCLUSIVE | EPOLLONESHOT) == E.EINVAL
    assert ctl_err(w, t, ep, EPOLL_CTL_ADD, inner, EPOLLIN | EPOLLEXCLUSIVE) == E.EINVAL
    assert ctl_err(w, t, ep, EPOLL_CTL_MOD, e, EPOLLIN | EPOLLEXCLUSIVE) == E.EINVAL  # before ENOENT
    ctl(w, t, ep, EPOLL_CTL_ADD, e, EPOLLIN | EPOLLEXCLUSIVE | EPOLLET)
    [entry] = ep_of(w, t, ep).rbr[(t.process.files.get(e), e)].pwqlist
    assert entry.exclusive
    assert ctl_err(w, t, ep, EPOLL_CTL_MOD, e, EPOLLIN) == E.EINVAL  # an exclusive item stays
    write(w, t, e)
    assert wait(w, t, ep) == [(e, EPOLLIN)]
    ctl(w, t, ep, EPOLL_CTL_DEL, e)


def test_too_many_watches_is_enospc(w: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ep_mod, "MAX_USER_WATCHES", 2)
    t = w.proc_task()
    ep, a, b, c = epoll(w, t), efd(w, t), efd(w, t), efd(w, t)
    ctl(w, t, ep, EPOLL_CTL_ADD, a)
    ctl(w, t, ep, EPOLL_CTL_ADD, b)
    assert ctl_err(w, t, ep, EPOLL_CTL_ADD, c) == E.ENOSPC
    ctl(w, t, ep, EPOLL_CTL_DEL, a)
    ctl(w, t, ep, EPOLL_CTL_ADD, c)
    monkeypatch.setattr(ep_mod, "MAX_USER_WATCHES", 1)
    w.call(t, "close", b, 0)  # its item goes with it
    w.call(t, "close", c, 0)
    ctl(w, t, ep, EPOLL_CTL_ADD, a)  # every watch given back: one fits
    assert ctl_err(w, t, ep, EPOLL_CTL_ADD, a, tfd=1) == E.ENOSPC


# --- epoll_wait: errors, sleeping, waking ----------------------------------------------------
def test_wait_errors(w: World) -> None:
    t = w.proc_task()
    ep, e = epoll(w, t), efd(w, t)
    assert w.err(t, "epoll_wait", 999, 0, 0.0) == E.EBADF  # the descriptor first (6.18)
    assert w.err(t, "epoll_wait", e, 0, 0.0) == E.EINVAL
    assert w.err(t, "epoll_wait", ep, 0, 0.0) == E.EINVAL
    assert w.err(t, "epoll_wait", ep, -1, 0.0) == E.EINVAL
    assert w.err(t, "epoll_wait", ep, EP_MAX_EVENTS + 1, 0.0) == E.EINVAL
    assert w.err(t, "epoll_wait", 999, 1, 0.0) == E.EBADF
    assert w.err(t, "epoll_wait", e, 1, 0.0) == E.EINVAL
    assert wait(w, t, ep, EP_MAX_EVENTS) == []


def test_a_blocked_wait_is_woken_by_a_write_from_another_process(w: World) -> None:
    t, other = w.proc_task(), w.proc_task()
    ep, e = epoll(w, t), efd(w, t)
    ctl(w, t, ep, EPOLL_CTL_ADD, e, data=42)
    w.k.fork_process(t.process, other.process, [])
    assert wait(w, t, ep, timeout=None) is BLOCKED
    assert [x.op for x in ep_of(w, t, ep).wq.waiters()] == ["epoll_wait"]
    write(w, other, e, 9)
    [(task, got)] = w.done()
    assert task is t and pairs(got) == [(42, EPOLLIN)]
    assert not ep_of(w, t, ep).wq


def test_a_timeout_is_no_events_and_a_signal_is_eintr(w: World) -> None:
    t = w.proc_task()
    ep, e = epoll(w, t), efd(w, t)
    ctl(w, t, ep, EPOLL_CTL_ADD, e)
    assert wait(w, t, ep, timeout=2.0) is BLOCKED
    w.tick(1.0)
    w.k.advance(w.now)
    assert w.done() == []
    w.tick(1.5)
    w.k.advance(w.now)
    assert w.done() == [(t, [])]
    assert wait(w, t, ep, timeout=None) is BLOCKED
    w.k.interrupt(t)
    [(task, result)] = w.done()
    assert task is t and result.errno == E.EINTR
    assert not ep_of(w, t, ep).wq


def test_a_wake_for_an_item_not_ready_sleeps_again(w: World) -> None:
    """An eventfd read wakes its queue too (the epoll hears of it as of any
    event); the item turns out not ready and the sleeper goes back to sleep."""
    t, other = w.proc_task(), w.proc_task()
    ep, e = epoll(w, t), efd(w, t)
    ctl(w, t, ep, EPOLL_CTL_ADD, e, EPOLLOUT | EPOLLET)
    assert wait(w, t, ep) == [(e, EPOLLOUT)]
    w.k.fork_process(t.process, other.process, [])
    write(w, other, e, ((1 << 64) - 2))  # full: no POLLOUT
    assert wait(w, t, ep, timeout=None) is BLOCKED
    write(w, other, e, 0)  # still full: nothing to report, asleep still
    assert w.done() == []
    assert read(w, other, e) == (1 << 64) - 2  # room again: POLLOUT
    assert [(task, pairs(got)) for task, got in w.done()] == [(t, [(e, EPOLLOUT)])]


def test_sleepers_are_exclusive_one_event_wakes_one(w: World) -> None:
    t = w.proc_task()
    t2 = w.thread(t)
    ep, e = epoll(w, t), efd(w, t)
    ctl(w, t, ep, EPOLL_CTL_ADD, e, EPOLLIN | EPOLLET)
    assert wait(w, t, ep, timeout=None) is BLOCKED
    assert wait(w, t2, ep, timeout=None) is BLOCKED
    asleep_since = t2.waiter.since
    other = w.proc_task()
    w.k.fork_process(t.process, other.process, [])
    w.tick()
    write(w, other, e)
    assert [(task, pairs(got)) for task, got in w.done()] == [(t, [(e, EPOLLIN)])]
    assert [x.task for x in ep_of(w, t, ep).wq.waiters()] == [t2]
    assert t2.waiter.since == asleep_since  # never woken to look (no thundering herd)
    write(w, other, e)
    assert [(task, pairs(got)) for task, got in w.done()] == [(t2, [(e, EPOLLIN)])]


def test_level_triggered_events_left_wake_the_next_sleeper(w: World) -> None:
    """ep_done_scan wakes another sleeper while the ready list is not empty."""
    t = w.proc_task()
    t2 = w.thread(t)
    other = w.proc_task()
    ep, e = epoll(w, t), efd(w, t)
    ctl(w, t, ep, EPOLL_CTL_ADD, e)
    assert wait(w, t, ep, timeout=None) is BLOCKED
    assert wait(w, t2, ep, timeout=None) is BLOCKED
    w.k.fork_process(t.process, other.process, [])
    write(w, other, e)
    assert sorted(task.tid for task, _ in w.done()) == sorted([t.tid, t2.tid])


def test_a_sleeper_keeps_its_epoll_across_a_close_by_another_thread(w: World) -> None:
    """do_epoll_wait holds the file: the last close does not end the wait;
    the epoll is released (its quota given back) when the wait ends."""
    t = w.proc_task()
    t2 = w.thread(t)
    ep, e = epoll(w, t), efd(w, t)
    ctl(w, t, ep, EPOLL_CTL_ADD, e, data=1)
    held = w.k.quota.held("files", 0)
    assert wait(w, t, ep, timeout=None) is BLOCKED
    w.call(t2, "close", ep, 0)
    assert w.k.quota.held("files", 0) == held  # still held by the sleeper
    write(w, t2, e)
    assert [(task, pairs(got)) for task, got in w.done()] == [(t, [(1, EPOLLIN)])]
    assert w.k.quota.held("files", 0) == held - 1


def test_exit_of_a_sleeper_releases_its_epoll(w: World) -> None:
    t = w.proc_task()
    ep, e = epoll(w, t), efd(w, t)
    ctl(w, t, ep, EPOLL_CTL_ADD, e)
    eventpoll = ep_of(w, t, ep)
    assert wait(w, t, ep, timeout=5.0) is BLOCKED
    w.k.exit_process(t.process)
    assert w.k.quota.held("files", 0) == 0
    assert not eventpoll.rbr and not eventpoll.wq
    assert not w.k.timers.next_expiry()


# --- targets released ---------------------------------------------------------------------
def test_the_last_close_of_a_target_removes_its_item(w: World) -> None:
    t = w.proc_task()
    ep, e = epoll(w, t), efd(w, t, 1)
    ctl(w, t, ep, EPOLL_CTL_ADD, e)
    w.call(t, "close", e, 0)
    assert wait(w, t, ep) == []  # ready, but gone
    assert not ep_of(w, t, ep).rbr
    assert ctl_err(w, t, ep, EPOLL_CTL_DEL, e) == E.EBADF
    # a new file under the same number is a new item, not EEXIST
    w.k.install_file(t, w.call(t, "eventfd2", 2, 0), e)
    ctl(w, t, ep, EPOLL_CTL_ADD, e)
    assert wait(w, t, ep) == [(e, EPOLLIN)]


def test_a_target_kept_open_elsewhere_stays(w: World) -> None:
    """Items belong to files, not descriptors: a fork child still holds it."""
    t, child = w.proc_task(), w.proc_task()
    ep, e = epoll(w, t), efd(w, t)
    ctl(w, t, ep, EPOLL_CTL_ADD, e)
    w.k.fork_process(t.process, child.process, [])
    w.call(t, "close", e, 0)
    write(w, child, e)
    assert wait(w, t, ep) == [(e, EPOLLIN)]


def test_eventpoll_release_unhooks_every_item_at_once(w: World) -> None:
    t = w.proc_task()
    ep1, ep2, e = epoll(w, t), epoll(w, t), efd(w, t)
    ctl(w, t, ep1, EPOLL_CTL_ADD, e)
    ctl(w, t, ep2, EPOLL_CTL_ADD, e, tfd=1)
    ctl(w, t, ep2, EPOLL_CTL_ADD, e, tfd=2)
    file = t.process.files.get(e)
    wqh = file.private_data.wqh
    assert len(wqh) == 3
    eventpoll_release(w.k, file)
    assert len(wqh) == 0 and not ep_of(w, t, ep1).rbr and not ep_of(w, t, ep2).rbr


def test_a_released_mq_target_leaves_the_queue_at_its_next_wake(w: World) -> None:
    """A message queue outlives its file: the item's entry on the queue's
    wait queue goes with the file (eventpoll_release), and the queue's next
    wake-up finds nobody."""
    t = w.proc_task()
    ep = epoll(w, t)
    args = (O_CREAT | O_RDWR, 0o600, 0, 0, 0, MQ_BYTES_MAX, "q")
    a, b = install(w, t, w.call(t, "mq_open", *args)), install(w, t, w.call(t, "mq_open", *args))
    ctl(w, t, ep, EPOLL_CTL_ADD, a)
    info = t.process.files.get(a).private_data
    assert len(info.wait_q) == 1
    w.call(t, "close", a, 0)
    assert wait(w, t, ep) == []
    w.call(t, "mq_timedsend", b, 0, 0, 0, 0, b"x")
    assert len(info.wait_q) == 0 and not ep_of(w, t, ep).rbr
    assert wait(w, t, ep) == []


def test_closing_the_epoll_unhooks_its_items(w: World) -> None:
    t = w.proc_task()
    ep, e = epoll(w, t), efd(w, t)
    ctl(w, t, ep, EPOLL_CTL_ADD, e)
    wqh = t.process.files.get(e).private_data.wqh
    held = w.k.quota.held("files", 0)
    w.call(t, "close", ep, 0)
    assert len(wqh) == 0 and w.k.quota.held("files", 0) == held - 1
    write(w, t, e)  # no callback of a freed epoll runs


# --- nesting and the epoll file's readiness -------------------------------------------------
def test_an_epoll_watches_an_epoll(w: World) -> None:
    t = w.proc_task()
    outer, inner, e = epoll(w, t), epoll(w, t), efd(w, t)
    ctl(w, t, inner, EPOLL_CTL_ADD, e, EPOLLIN | EPOLLET)
    ctl(w, t, outer, EPOLL_CTL_ADD, inner, EPOLLIN, data=7)
    assert wait(w, t, outer) == []
    assert wait(w, t, outer, timeout=None) is BLOCKED
    other = w.proc_task()
    w.k.fork_process(t.process, other.process, [])
    write(w, other, e)
    assert [(task, pairs(got)) for task, got in w.done()] == [(t, [(7, EPOLLIN)])]
    assert wait(w, t, inner) == [(e, EPOLLIN)]  # the outer one did not consume it
    assert wait(w, t, outer) == []  # inner has nothing new (ET)


def test_loops_and_deep_chains_are_eloop(w: World) -> None:
    """Linux 6.18: a chain of five epolls is the longest (EP_MAX_NESTS = 4
    links), whichever end it grows from; a loop is ELOOP."""
    t = w.proc_task()
    up = [epoll(w, t) for _ in range(6)]
    for i in range(4):  # up[i+1] watches up[i]
        ctl(w, t, up[i + 1], EPOLL_CTL_ADD, up[i])
    assert ctl_err(w, t, up[5], EPOLL_CTL_ADD, up[4]) == E.ELOOP
    down = [epoll(w, t) for _ in range(6)]
    for i in range(4):  # down[i] watches down[i+1]
        ctl(w, t, down[i], EPOLL_CTL_ADD, down[i + 1])
    assert ctl_err(w, t, down[4], EPOLL_CTL_ADD, down[5]) == E.ELOOP
    a, b = epoll(w, t), epoll(w, t)
    ctl(w, t, a, EPOLL_CTL_ADD, b)
    assert ctl_err(w, t, b, EPOLL_CTL_ADD, a) == E.ELOOP
    c = epoll(w, t)
    ctl(w, t, b, EPOLL_CTL_ADD, c)
    assert ctl_err(w, t, c, EPOLL_CTL_ADD, a) == E.ELOOP  # through b


def _hub_chain(w: World, t: Task, e: int, nests: int) -> int:
    """``nests`` epolls in a chain over ``e`` (the first watches e); the top one."""
    top = e
    for _ in range(nests):
        hub = epoll(w, t)
        ctl(w, t, hub, EPOLL_CTL_ADD, top)
        top = hub
    return top


@pytest.mark.parametrize("nests", [1, 2, 3, 4])
def test_wakeup_paths_through_nested_epolls_stop_at_path_limits(w: World, nests: int) -> None:
    """reverse_path_check (checked on Linux 6.18): from one file at most
    500, 100, 50, 10 paths of 2 .. 5 epolls; the next ADD is EINVAL and
    undone (not watched: a wake-up reaches exactly the limit, DEL is
    ENOENT, the ADD stays refused)."""
    t = w.proc_task()
    e = efd(w, t)
    top = _hub_chain(w, t, e, nests)
    limit = ep_mod.PATH_LIMITS[nests]
    outers = [epoll(w, t) for _ in range(limit + 1)]
    for ep in outers[:limit]:
        ctl(w, t, ep, EPOLL_CTL_ADD, top)
    last = outers[limit]
    assert ctl_err(w, t, last, EPOLL_CTL_ADD, top) == E.EINVAL
    assert ctl_err(w, t, last, EPOLL_CTL_DEL, top) == E.ENOENT
    assert ctl_err(w, t, last, EPOLL_CTL_ADD, top) == E.EINVAL
    write(w, t, e)
    assert sum(1 for ep in outers if wait(w, t, ep) == [(top, EPOLLIN)]) == limit
    assert wait(w, t, last) == []


def test_one_epoll_paths_are_unlimited_and_a_watched_epoll_is_checked(w: World) -> None:
    """path_count_inc lets any number of one-epoll paths through (1001
    epolls watch one eventfd on Linux 6.18 too); the limit also holds when
    the target is no epoll but the epoll is watched (500 inner epolls, each
    watched by its outer one, may watch one eventfd: the 501st is EINVAL)."""
    t = w.proc_task()
    e = efd(w, t)
    direct = [epoll(w, t) for _ in range(1001)]
    for ep in direct:
        ctl(w, t, ep, EPOLL_CTL_ADD, e)
    outer = epoll(w, t)  # a full check from e now walks the 1001 paths too
    ctl(w, t, outer, EPOLL_CTL_ADD, direct[0])
    e2 = efd(w, t)
    inners = [epoll(w, t) for _ in range(501)]
    for inner in inners:
        ctl(w, t, epoll(w, t), EPOLL_CTL_ADD, inner)
    for inner in inners[:500]:
        ctl(w, t, inner, EPOLL_CTL_ADD, e2)
    assert ctl_err(w, t, inners[500], EPOLL_CTL_ADD, e2) == E.EINVAL
    assert ctl_err(w, t, inners[500], EPOLL_CTL_DEL, e2) == E.ENOENT


def test_a_layered_epoll_graph_cannot_make_one_wakeup_a_storm(
        w: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """5 layers of 8 epolls, each watching every epoll below, over one
    eventfd would be 8^5 = 32768 wake-up paths, an ep_poll_callback each;
    reverse_path_check refuses the ADDs past path_limits, so one write runs
    a few hundred callbacks, and each check's walk stops at the limits."""
    calls = {"callback": 0, "counted": 0}
    callback, count_inc = ep_mod.ep_poll_callback, ep_mod._path_count_inc

    def counting_callback(*args: Any) -> bool:
        calls["callback"] += 1
        return callback(*args)

    def counting_inc(*args: Any) -> bool:
        calls["counted"] += 1
        return count_inc(*args)

    monkeypatch.setattr(ep_mod, "ep_poll_callback", counting_callback)
    monkeypatch.setattr(ep_mod, "_path_count_inc", counting_inc)
    t = w.proc_task()
    e = efd(w, t)
    below, refused, adds = [e], 0, 0
    for _ in range(5):
        layer = [epoll(w, t) for _ in range(8)]
        for ep in layer:
            for fd in below:
                adds += 1
                try:
                    ctl(w, t, ep, EPOLL_CTL_ADD, fd)
                except KernelError as error:
                    assert error.errno == E.EINVAL
                    refused += 1
        below = layer
    assert refused > 0
    # each walk: the one-epoll paths (8) and at most sum(PATH_LIMITS[1:]) + 1 more
    assert calls["counted"] <= adds * (8 + sum(ep_mod.PATH_LIMITS[1:]) + 1)
    write(w, t, e)
    assert calls["callback"] < 8 + 8 * 8 + sum(ep_mod.PATH_LIMITS[2:]) * 2


def test_poll_on_the_epoll_file_is_pollin_when_an_event_is_ready(w: World) -> None:
    t, other = w.proc_task(), w.proc_task()
    ep, e = epoll(w, t), efd(w, t)
    ctl(w, t, ep, EPOLL_CTL_ADD, e)
    w.k.fork_process(t.process, other.process, [])
    assert w.call(t, "poll", 0.0, [ep, POLLIN | 0x4]) == [0]
    assert w.call(t, "poll", None, [ep, POLLIN]) is BLOCKED
    write(w, other, e)
    assert w.done() == [(t, [POLLIN])]
    assert w.call(t, "poll", 0.0, [ep, 0xFFFF]) == [POLLIN | EPOLLRDNORM]


def test_the_doorbell_follows_the_ready_list(w: World) -> None:
    """The epoll file is poll_dirty when its readiness may have changed; the
    daemon's poll of it (no task, no table) says what the doorbell shows."""
    t = w.proc_task()
    ep, e = epoll(w, t), efd(w, t)
    file = t.process.files.get(ep)

    def doorbell() -> int:
        """As the daemon does: take the dirty set, poll; the poll itself
        must leave the file clean (or every turn would poll it again)."""
        w.k.poll_dirty.clear()
        mask = vfs_poll(w.k, None, file, None)
        assert file not in w.k.poll_dirty
        return mask
    ctl(w, t, ep, EPOLL_CTL_ADD, e, EPOLLIN | EPOLLET)
    assert doorbell() == 0
    write(w, t, e)
    assert file in w.k.poll_dirty and doorbell() == POLLIN | EPOLLRDNORM
    write(w, t, e)  # a wake-up of an item on the ready list: it may have become not ready
    assert file in w.k.poll_dirty and doorbell() == POLLIN | EPOLLRDNORM
    assert wait(w, t, ep) == [(e, EPOLLIN)]  # ET: consumed
    assert file in w.k.poll_dirty and doorbell() == 0
    ctl(w, t, ep, EPOLL_CTL_MOD, e, EPOLLIN)  # LT now, and ready
    assert file in w.k.poll_dirty and doorbell() == POLLIN | EPOLLRDNORM
    read(w, t, e)  # drained: the read's wake-up brings the item back to a scan
    assert file in w.k.poll_dirty and doorbell() == 0
    write(w, t, e)
    assert doorbell() == POLLIN | EPOLLRDNORM
    ctl(w, t, ep, EPOLL_CTL_DEL, e)  # a ready item leaves
    assert file in w.k.poll_dirty and doorbell() == 0
    ctl(w, t, ep, EPOLL_CTL_ADD, e)
    assert file in w.k.poll_dirty and doorbell() == POLLIN | EPOLLRDNORM
    read(w, t, e)
    w.k.poll_dirty.clear()
    assert w.call(t, "poll", 0.0, [ep, POLLIN]) == [0]  # a task's poll prunes the list...
    assert not ep_of(w, t, ep).rdllist
    assert file in w.k.poll_dirty and doorbell() == 0  # ...and the doorbell follows


# --- wake-ups that name their events, and EPOLLEXCLUSIVE --------------------------------------
class _Bell:
    """A test file's state: the mask its ->poll reports, the queue it waits on."""

    def __init__(self) -> None:
        self.mask = 0
        self.q = WaitQueue()


class _BellOps(FileOps):
    """A file whose readiness the test sets and whose wake-ups it makes,
    naming events (a key) and waking one exclusive entry, as pipe_write's
    wake_up_interruptible_sync_poll does."""

    name = "bell"

    def poll(self, k: Any, task: Any, file: Any, pt: Any) -> int:
        poll_wait(file, file.private_data.q, pt)
        return file.private_data.mask

    def write(self, k: Any, task: Any, file: Any, data: bytes) -> int:
        """A write is "set the mask, wake the queue": (mask, key, nr_exclusive)."""
        mask, key, nr = _RING.unpack(data)
        file.private_data.mask = mask
        wake_up(k, file.private_data.q, key, nr)
        return len(data)


_RING = struct.Struct("<IIi")


def bell(w: World, t: Task) -> tuple[int, _Bell]:
    state = _Bell()
    return install(w, t, NewFile(alloc_file(w.k, t, _BellOps(), O_RDWR, state), False)), state


def ring(w: World, t: Task, b: int, mask: int, key: int, nr_exclusive: int = 1) -> None:
    """From inside a syscall, as every wake-up comes: set the mask, wake with ``key``."""
    w.call(t, "write", b, _RING.pack(mask, key, nr_exclusive))


def test_a_wake_up_naming_other_events_does_not_queue_the_item(w: World) -> None:
    t = w.proc_task()
    ep, (b, _) = epoll(w, t), bell(w, t)
    ctl(w, t, ep, EPOLL_CTL_ADD, b, EPOLLIN | EPOLLET)
    ring(w, t, b, EPOLLOUT, EPOLLOUT)
    assert not ep_of(w, t, ep).rdllist
    ring(w, t, b, EPOLLIN | EPOLLOUT, EPOLLIN)
    assert wait(w, t, ep) == [(b, EPOLLIN)]
    ring(w, t, b, EPOLLIN | EPOLLERR, EPOLLERR)  # ERR and HUP are always watched
    assert wait(w, t, ep) == [(b, EPOLLIN | EPOLLERR)]


def test_epollexclusive_wakes_one_waiting_epoll(w: World) -> None:
    """Two epolls, each with a sleeper, watch one file with EPOLLEXCLUSIVE:
    a wake-up of one exclusive entry reaches the first only.  An epoll with
    no sleeper, or an item not interested in the events named, does not
    count as woken (ep_poll_callback's ewake)."""
    t = w.proc_task()
    t2 = w.thread(t)
    a, c, (b, _) = epoll(w, t), epoll(w, t), bell(w, t)
    ctl(w, t, a, EPOLL_CTL_ADD, b, EPOLLIN | EPOLLEXCLUSIVE, data=1)
    ctl(w, t, c, EPOLL_CTL_ADD, b, EPOLLIN | EPOLLEXCLUSIVE, data=2)
    ring(w, t, b, EPOLLIN, EPOLLIN)  # nobody waits in a: c hears it too
    assert ep_of(w, t, a).rdllist and ep_of(w, t, c).rdllist
    assert wait(w, t, a) == [(1, EPOLLIN)] and wait(w, t, c) == [(2, EPOLLIN)]
    ring(w, t, b, 0, 0)
    assert wait(w, t, a) == [] and wait(w, t, c) == []
    t3 = w.thread(t)
    assert wait(w, t2, a, timeout=None) is BLOCKED
    assert wait(w, t3, c, timeout=None) is BLOCKED
    ring(w, t, b, EPOLLOUT, EPOLLOUT)  # not what they watch: no one counts as woken
    assert w.done() == []
    ring(w, t, b, EPOLLIN, EPOLLIN)
    assert [(task, pairs(got)) for task, got in w.done()] == [(t2, [(1, EPOLLIN)])]
    assert not ep_of(w, t, c).rdllist  # never heard of it
    ring(w, t, b, EPOLLIN, 0)  # a wake-up naming no event: c's sleeper counts
    assert [(task, pairs(got)) for task, got in w.done()] == [(t3, [(2, EPOLLIN)])]
    ring(w, t, b, 0, 0)
    assert wait(w, t2, a, timeout=None) is BLOCKED
    assert wait(w, t3, c, timeout=None) is BLOCKED
    ring(w, t, b, EPOLLIN, 0)  # naming no event, with both asleep: the first only
    assert [task for task, _ in w.done()] == [t2]
    ring(w, t, b, 0, 0)
    assert wait(w, t2, a, timeout=None) is BLOCKED
    ring(w, t, b, EPOLLIN | EPOLLOUT, EPOLLIN | EPOLLOUT)  # naming both: no one counts
    assert sorted(task.tid for task, _ in w.done()) == sorted([t2.tid, t3.tid])


def test_without_epollexclusive_every_epoll_hears(w: World) -> None:
    t = w.proc_task()
    t2 = w.thread(t)
    a, c, (b, _) = epoll(w, t), epoll(w, t), bell(w, t)
    ctl(w, t, a, EPOLL_CTL_ADD, b, EPOLLIN, data=1)
    ctl(w, t, c, EPOLL_CTL_ADD, b, EPOLLIN, data=2)
    t3 = w.thread(t)
    assert wait(w, t2, a, timeout=None) is BLOCKED
    assert wait(w, t3, c, timeout=None) is BLOCKED
    ring(w, t, b, EPOLLIN, EPOLLIN)
    assert sorted(task.tid for task, _ in w.done()) == sorted([t2.tid, t3.tid])


# --- more of sleeping ---------------------------------------------------------------------
def test_adding_or_arming_a_ready_item_wakes_a_sleeper(w: World) -> None:
    t = w.proc_task()
    t2 = w.thread(t)
    ep, e = epoll(w, t), efd(w, t, 1)
    assert wait(w, t, ep, timeout=None) is BLOCKED
    ctl(w, t2, ep, EPOLL_CTL_ADD, e, EPOLLIN | EPOLLONESHOT, data=3)
    assert [(task, pairs(got)) for task, got in w.done()] == [(t, [(3, EPOLLIN)])]
    assert wait(w, t, ep, timeout=None) is BLOCKED  # disarmed: asleep again
    ctl(w, t2, ep, EPOLL_CTL_MOD, e, EPOLLIN, data=4)
    assert [(task, pairs(got)) for task, got in w.done()] == [(t, [(4, EPOLLIN)])]
    assert w.call(t2, "poll", None, [ep, POLLIN]) == [POLLIN]
    ctl(w, t2, ep, EPOLL_CTL_MOD, e, EPOLLOUT | EPOLLONESHOT, data=5)
    assert wait(w, t, ep) == [(5, EPOLLOUT)]
    assert w.call(t2, "poll", None, [ep, POLLIN]) is BLOCKED  # a poller of the epoll
    ctl(w, t, ep, EPOLL_CTL_MOD, e, EPOLLIN, data=6)
    assert w.done() == [(t2, [POLLIN])]


def test_a_sleeper_woken_for_nothing_keeps_its_epoll_until_it_times_out(w: World) -> None:
    """A wake-up whose item is not ready puts the sleeper back to sleep with
    its reference; the timeout that ends it gives the reference back."""
    t = w.proc_task()
    t2 = w.thread(t)
    ep, (b, _) = epoll(w, t), bell(w, t)
    ctl(w, t, ep, EPOLL_CTL_ADD, b, EPOLLIN)
    held = w.k.quota.held("files", 0)
    assert wait(w, t, ep, timeout=3.0) is BLOCKED
    ring(w, t2, b, 0, 0)  # woken, nothing ready: asleep again
    assert w.done() == [] and ep_of(w, t, ep).wq
    w.call(t2, "close", ep, 0)
    assert w.k.quota.held("files", 0) == held
    w.tick(3.5)
    w.k.advance(w.now)
    assert w.done() == [(t, [])]
    assert w.k.quota.held("files", 0) == held - 1


# --- released files -------------------------------------------------------------------------
def test_an_epoll_closed_leaves_the_epolls_watching_it_at_once(w: World) -> None:
    t = w.proc_task()
    outer, inner = epoll(w, t), epoll(w, t)
    ctl(w, t, outer, EPOLL_CTL_ADD, inner)
    inner_file = t.process.files.get(inner)
    poll_q = inner_file.private_data.poll_wait
    assert len(poll_q) == 1
    w.call(t, "close", inner, 0)
    assert not ep_of(w, t, outer).rbr and len(poll_q) == 0
    assert inner_file not in ep_mod._state(w.k).f_ep


def test_items_of_released_files_leave_the_interest_list_at_once(w: World) -> None:
    t = w.proc_task()
    ep = epoll(w, t)
    eventpoll = ep_of(w, t, ep)
    fds = [efd(w, t) for _ in range(4)]
    for fd in fds:
        ctl(w, t, ep, EPOLL_CTL_ADD, fd)
    for fd in fds[:3]:
        w.call(t, "close", fd, 0)
    # __fput calls eventpoll_release: the items go with their files at once
    assert len(eventpoll.rbr) == 1
    assert sum(len(v) for v in ep_mod._state(w.k).f_ep.values()) == 1
    assert ep_mod._state(w.k).watches == {0: 1}


def test_a_released_ready_target_leaves_at_the_next_scan(w: World) -> None:
    t = w.proc_task()
    outer, ep, e = epoll(w, t), epoll(w, t), efd(w, t, 1)
    ctl(w, t, ep, EPOLL_CTL_ADD, e)
    ctl(w, t, outer, EPOLL_CTL_ADD, ep)
    w.call(t, "close", e, 0)
    assert wait(w, t, outer) == []  # its item went with it (eventpoll_release)
    assert not ep_of(w, t, ep).rbr and not ep_of(w, t, ep).rdllist


# --- the wake-ups of eventfd, mqueue and timerfd, as Linux makes them ------------------------
def mq(w: World, t: Task, name: str = "q", maxmsg: int = 3) -> int:
    """A queue of ``maxmsg`` messages of 16 bytes, installed as the daemon does."""
    return install(w, t, w.call(t, "mq_open", O_CREAT | O_RDWR, 0o600, 1, maxmsg, 16,
                                MQ_BYTES_MAX, name))


def mq_send(w: World, t: Task, q: int, msg: bytes = b"m") -> Any:
    return w.call(t, "mq_timedsend", q, 0, 0, 0, 0, msg)


def mq_recv(w: World, t: Task, q: int) -> Any:
    return w.call(t, "mq_timedreceive", q, 16, 0, 0, 0)


def test_an_eventfd_write_of_0_is_a_new_edge_and_no_doorbell_write(w: World) -> None:
    """eventfd_write wakes its queue (EPOLLIN) on every write, of 0 too: an
    edge-triggered item hears it again.  The counter's mask did not move, so
    the eventfd's doorbell is not touched."""
    t = w.proc_task()
    ep, e = epoll(w, t), efd(w, t, 1)
    ctl(w, t, ep, EPOLL_CTL_ADD, e, EPOLLIN | EPOLLET)
    assert wait(w, t, ep) == [(e, EPOLLIN)]
    assert wait(w, t, ep) == []
    w.k.poll_dirty.clear()
    write(w, t, e, 0)
    assert t.process.files.get(e) not in w.k.poll_dirty
    assert wait(w, t, ep) == [(e, EPOLLIN)]
    assert wait(w, t, ep) == []
    read(w, t, e)
    write(w, t, e, 0)  # heard, but the counter is 0: nothing to report
    assert wait(w, t, ep) == []


def test_a_semaphore_read_is_heard_only_by_items_watching_epollout(w: World) -> None:
    """eventfd_read wakes naming EPOLLOUT: ep_poll_callback skips an item
    that watches EPOLLIN alone, so a semaphore read that leaves the counter
    above 0 is no new edge for it; an item watching EPOLLOUT hears it."""
    t = w.proc_task()
    ep, e = epoll(w, t), efd(w, t, 3, 1)  # EFD_SEMAPHORE
    ctl(w, t, ep, EPOLL_CTL_ADD, e, EPOLLIN | EPOLLET, data=1)
    ctl(w, t, ep, EPOLL_CTL_ADD, e, EPOLLIN | EPOLLOUT | EPOLLET, data=2, tfd=e + 1)
    assert wait(w, t, ep) == [(1, EPOLLIN), (2, EPOLLIN | EPOLLOUT)]
    w.k.poll_dirty.clear()
    assert read(w, t, e) == 1
    assert t.process.files.get(e) not in w.k.poll_dirty  # 3 -> 2: the same mask
    assert not any(epi.data == 1 for epi in ep_of(w, t, ep).rdllist)
    assert wait(w, t, ep) == [(2, EPOLLIN | EPOLLOUT)]
    write(w, t, e, 0)  # EPOLLIN: both hear, the newest entry first
    assert wait(w, t, ep) == [(2, EPOLLIN | EPOLLOUT), (1, EPOLLIN)]


def test_every_message_queued_or_taken_is_a_new_edge_on_an_mq(w: World) -> None:
    """do_mq_timedsend wakes info->wait_q for every message queued
    (__do_notify), do_mq_timedreceive for every one taken while no sender
    waits (pipelined_receive), naming no event.  The queue's doorbells
    change only with its mask."""
    t = w.proc_task()
    ep, q = epoll(w, t), mq(w, t)
    qfile = t.process.files.get(q)
    ctl(w, t, ep, EPOLL_CTL_ADD, q, EPOLLIN | EPOLLET, data=1)
    ctl(w, t, ep, EPOLL_CTL_ADD, q, EPOLLOUT | EPOLLET, data=2, tfd=q + 1)
    assert wait(w, t, ep) == [(2, EPOLLOUT)]
    mq_send(w, t, q)
    assert wait(w, t, ep) == [(2, EPOLLOUT), (1, EPOLLIN)]
    w.k.poll_dirty.clear()
    mq_send(w, t, q)  # a second message: a new edge for both, no doorbell write
    assert qfile not in w.k.poll_dirty
    assert wait(w, t, ep) == [(2, EPOLLOUT), (1, EPOLLIN)]
    mq_recv(w, t, q)  # one left: the receive is an edge too
    assert qfile not in w.k.poll_dirty
    assert wait(w, t, ep) == [(2, EPOLLOUT), (1, EPOLLIN)]
    mq_recv(w, t, q)
    assert qfile in w.k.poll_dirty  # empty now: the mask changed
    assert wait(w, t, ep) == [(2, EPOLLOUT)]


def test_pipelined_sends_and_receives_wake_no_poller(w: World) -> None:
    """A message handed to a sleeping receiver, or a sleeping sender's
    message taking the room a receive made, leaves the queue's state as it
    was: Linux wakes no poller, and no edge is reported."""
    t, other = w.proc_task(), w.proc_task()
    ep, q = epoll(w, t), mq(w, t, maxmsg=1)
    w.k.fork_process(t.process, other.process, [])
    ctl(w, t, ep, EPOLL_CTL_ADD, q, EPOLLIN | EPOLLOUT | EPOLLET)
    assert wait(w, t, ep) == [(q, EPOLLOUT)]
    assert mq_recv(w, other, q) is BLOCKED
    mq_send(w, t, q)  # pipelined_send
    assert w.done() == [(other, (0, b"m"))]
    assert wait(w, t, ep) == []
    mq_send(w, t, q)
    assert wait(w, t, ep) == [(q, EPOLLIN)]
    assert mq_send(w, other, q, b"s") is BLOCKED
    assert mq_recv(w, t, q) == (0, b"m")  # pipelined_receive: the sender's message goes in
    assert w.done() == [(other, None)]
    assert wait(w, t, ep) == []


@pytest.mark.parametrize("kind", ["eventfd", "mqueue", "timerfd"])
def test_one_wake_up_counts_one_exclusive_item(w: World, kind: str) -> None:
    """eventfd's and timerfd's wake_up_locked_poll and mqueue's wake_up wake
    at most one exclusive entry that counts (nr_exclusive 1): of two
    epolls, each with a sleeper, watching the file with EPOLLEXCLUSIVE, the
    first only hears a wake-up.  (A wake-up naming EPOLLIN and EPOLLOUT
    would count for none and wake both: mqueue's names no event.)"""
    t = w.proc_task()
    t2, t3 = w.thread(t), w.thread(t)
    a, c = epoll(w, t), epoll(w, t)
    if kind == "eventfd":
        fd = efd(w, t)
    elif kind == "mqueue":
        fd = mq(w, t)
    else:
        fd = install(w, t, w.call(t, "timerfd_create", 1, 0))
    ctl(w, t, a, EPOLL_CTL_ADD, fd, EPOLLIN | EPOLLEXCLUSIVE, data=1)
    ctl(w, t, c, EPOLL_CTL_ADD, fd, EPOLLIN | EPOLLEXCLUSIVE, data=2)
    assert wait(w, t2, a, timeout=None) is BLOCKED
    assert wait(w, t3, c, timeout=None) is BLOCKED
    if kind == "eventfd":
        write(w, t, fd)
    elif kind == "mqueue":
        mq_send(w, t, fd)
    else:
        w.call(t, "timerfd_settime", fd, 0, 0, 0, 0, 1_000_000)
        w.tick(0.01)
        w.k.advance(w.now)
    assert [(task, pairs(got)) for task, got in w.done()] == [(t2, [(1, EPOLLIN)])]
    assert not ep_of(w, t, c).rdllist


def test_a_wake_up_naming_other_events_still_updates_the_epoll_doorbell(w: World) -> None:
    """A level-triggered EPOLLIN item on the ready list, its eventfd drained
    by a read (a wake-up naming EPOLLOUT, which the item skips): the epoll's
    doorbell is polled again and drops, as Linux's epoll file, polled,
    stops being readable."""
    t = w.proc_task()
    ep, e = epoll(w, t), efd(w, t, 1)
    file = t.process.files.get(ep)
    ctl(w, t, ep, EPOLL_CTL_ADD, e, EPOLLIN)
    w.k.poll_dirty.clear()
    assert vfs_poll(w.k, None, file, None) == POLLIN | EPOLLRDNORM  # the daemon's poll
    read(w, t, e)
    assert file in w.k.poll_dirty
    w.k.poll_dirty.clear()
    assert vfs_poll(w.k, None, file, None) == 0
