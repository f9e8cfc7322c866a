"""fs/select.c's poll(2) over uipc's files (queues, eventfds, timerfds).

``do_sys_poll``: each entry's file is asked for its events (``vfs_poll``)
with a poll table that adds the caller to the file's wait queue
(``poll_initwait``); if none is ready and the timeout allows, the caller
sleeps on all of them at once and rescans when any wakes it; POLLERR and
POLLHUP are reported whether asked for or not; a descriptor that names no
file of the process gives POLLNVAL; a negative one is skipped (revents 0).
A timeout gives every revents 0, not an error.
"""
from __future__ import annotations

import errno
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from uipc.kernel.entry import syscall
from uipc.kernel.errors import KernelError
from uipc.kernel.file import POLL_ALWAYS, POLLNVAL, poll_initwait, vfs_poll
from uipc.kernel.task import Task
from uipc.kernel.wait import Waiter

if TYPE_CHECKING:
    from uipc.kernel.kernel import Kernel

#: the most entries one poll takes (RLIMIT_NOFILE's default hard limit)
POLL_MAX = 4096


@dataclass(eq=False)
class PollWaiter(Waiter):
    """A sleeping poll: woken (RETRY) by any file it waits on, it rescans."""


def _scan(k: "Kernel", task: Task, pairs: list[tuple[int, int]], pt: Any) -> tuple[list[int], int]:
    files = task.process.files
    revents, ready = [], 0
    for fd, events in pairs:
        if fd < 0:
            revents.append(0)
            continue
        file = files.get(fd) if fd > 0 and fd in files else None
        mask = POLLNVAL if file is None else vfs_poll(k, task, file, pt) & (events | POLL_ALWAYS)
        revents.append(mask)
        ready += bool(mask)
    return revents, ready


@syscall(43, "poll", "timeout:timeout fds:ids", result="ctl",
         doc="poll(2) over uipc descriptors: the tail is i64 pairs (descriptor's st_ino, "
             "events); timeout -1: none. Result: the revents of each pair, in order")
def sys_poll(k: "Kernel", task: Task, timeout: float | None, fds: list[int]) -> object:
    """do_sys_poll()."""
    if len(fds) % 2:
        raise KernelError(errno.EINVAL, "poll's list is (descriptor, events) pairs")
    pairs = list(zip(fds[0::2], fds[1::2]))
    if len(pairs) > POLL_MAX:
        raise KernelError(errno.EINVAL, f"{len(pairs)} descriptors: more than {POLL_MAX}")
    revents, ready = _scan(k, task, pairs, None)
    if ready or timeout == 0:
        return revents
    waiter = PollWaiter(task=task, op="poll",
                        deadline=None if timeout is None else k.mono + timeout,
                        timeout_errno=errno.ETIME)

    def attempt() -> object:
        got, n = _scan(k, task, pairs, pt)
        if n:
            return got
        return k.park(None, waiter)  # asleep again, on the entries this scan added

    def finish(result: object) -> object:
        """The sleep's end: a timeout is every revents 0, not an error."""
        if isinstance(result, KernelError):
            if result.errno == errno.ETIME:
                return [0] * len(pairs)
            raise result
        return result

    waiter.restart = attempt
    waiter.then = finish
    pt = poll_initwait(waiter)
    _scan(k, task, pairs, pt)  # registers on every file's queue
    return k.park(None, waiter)
