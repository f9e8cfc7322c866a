"""fs/select.c's poll over the core's files: masks, sleeping on several
files at once, timeouts as zeros, POLLNVAL, interrupts."""
from __future__ import annotations

import errno as E
import struct

from tests.kernel.conftest import World
from uipc.kernel import BLOCKED
from uipc.kernel.file import POLLIN, POLLNVAL, POLLOUT, POLLRDNORM, POLLWRNORM
from uipc.kernel.timerfd import CLOCK_MONOTONIC

U64 = struct.Struct("<Q")


def test_ready_files_answer_at_once_and_others_show_nothing(w: World) -> None:
    t = w.proc_task()
    w.k.install_file(t, w.call(t, "eventfd2", 0, 0), 11)
    w.k.install_file(t, w.call(t, "timerfd_create", CLOCK_MONOTONIC, 0), 12)
    got = w.call(t, "poll", 0.0, [11, POLLIN | POLLOUT, 12, POLLIN | POLLOUT, 99, POLLIN,
                                  -1, POLLIN])
    assert got == [POLLOUT, 0, POLLNVAL, 0]
    # only the bits the file has and the caller asked for: an eventfd sets no WRNORM
    assert w.call(t, "poll", 0.0, [11, POLLOUT | POLLWRNORM | POLLRDNORM]) == [POLLOUT]


def test_a_sleeping_poll_wakes_when_any_file_becomes_ready(w: World) -> None:
    t, other = w.proc_task(), w.proc_task()
    w.k.install_file(t, w.call(t, "eventfd2", 0, 0), 21)
    w.k.install_file(t, w.call(t, "eventfd2", 0, 0), 22)
    w.k.fork_process(t.process, other.process, [])
    assert w.call(t, "poll", None, [21, POLLIN, 22, POLLIN]) is BLOCKED
    w.call(other, "write", 22, U64.pack(1))
    assert w.done() == [(t, [0, POLLIN])]


def test_a_timeout_is_zeros_and_a_signal_is_eintr(w: World) -> None:
    t = w.proc_task()
    w.k.install_file(t, w.call(t, "eventfd2", 0, 0), 31)
    assert w.call(t, "poll", 2.0, [31, POLLIN]) is BLOCKED
    w.tick(2.5)
    w.k.advance(w.now)
    assert w.done() == [(t, [0])]
    assert w.call(t, "poll", None, [31, POLLIN]) is BLOCKED
    w.k.interrupt(t)
    [(task, result)] = w.done()
    assert task is t and result.errno == E.EINTR


def test_odd_or_huge_lists_are_einval(w: World) -> None:
    t = w.proc_task()
    assert w.err(t, "poll", 0.0, [1]) == E.EINVAL
    assert w.err(t, "poll", 0.0, [1, 1] * 5000) == E.EINVAL
