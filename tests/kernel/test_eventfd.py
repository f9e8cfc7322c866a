"""fs/eventfd.c on the pure core: counters, semaphore mode, blocking, poll."""
from __future__ import annotations

import errno as E
import itertools
import struct

from tests.kernel.conftest import World
from uipc.kernel import BLOCKED
from uipc.kernel.eventfd import EFD_NONBLOCK, EFD_SEMAPHORE
from uipc.kernel.file import POLLIN, POLLOUT

U64 = struct.Struct("<Q")
_inos = itertools.count(1000)


def efd(w: World, t, initval: int = 0, flags: int = 0) -> int:  # type: ignore[no-untyped-def]
    new = w.call(t, "eventfd2", initval, flags)
    ino = next(_inos)
    w.k.install_file(t, new, ino)
    return ino


def test_read_takes_the_counter_write_adds(w: World) -> None:
    t = w.proc_task()
    fd = efd(w, t, 2, EFD_NONBLOCK)
    assert w.call(t, "write", fd, U64.pack(3)) == 8
    assert w.call(t, "read", fd, 8) == U64.pack(5)
    assert w.err(t, "read", fd, 8) == E.EAGAIN


def test_semaphore_mode_reads_one(w: World) -> None:
    t = w.proc_task()
    fd = efd(w, t, 2, EFD_SEMAPHORE | EFD_NONBLOCK)
    assert [w.call(t, "read", fd, 8) for _ in range(2)] == [U64.pack(1)] * 2
    assert w.err(t, "read", fd, 8) == E.EAGAIN


def test_sizes_flags_and_ullong_max_are_einval(w: World) -> None:
    t = w.proc_task()
    assert w.err(t, "eventfd2", 0, 0x8) == E.EINVAL
    fd = efd(w, t, 1, EFD_NONBLOCK)
    assert w.err(t, "read", fd, 7) == E.EINVAL
    assert w.err(t, "write", fd, b"\0" * 7) == E.EINVAL
    assert w.err(t, "write", fd, b"\0" * 9) == E.EINVAL
    assert w.err(t, "write", fd, U64.pack((1 << 64) - 1)) == E.EINVAL


def test_a_blocked_read_is_woken_by_a_write_and_a_blocked_write_by_a_read(w: World) -> None:
    t, other = w.proc_task(), w.proc_task()
    fd = efd(w, t)
    w.k.fork_process(t.process, other.process, [])
    assert w.call(t, "read", fd, 8) is BLOCKED
    assert w.call(other, "write", fd, U64.pack(4)) == 8
    assert w.done() == [(t, U64.pack(4))]
    assert w.call(t, "write", fd, U64.pack((1 << 64) - 2)) == 8
    assert w.call(other, "write", fd, U64.pack(1)) is BLOCKED  # would reach ULLONG_MAX
    assert w.call(t, "read", fd, 8) == U64.pack((1 << 64) - 2)
    assert w.done() == [(other, 8)]


def test_poll_mask_and_doorbell_follow_the_counter(w: World) -> None:
    t = w.proc_task()
    fd = efd(w, t, 0, EFD_NONBLOCK)
    file = t.process.files.get(fd)
    # eventfd_poll sets EPOLLIN/EPOLLOUT alone, never the RDNORM/WRNORM bits
    assert file.f_op.poll(w.k, t, file, None) == POLLOUT
    w.k.poll_dirty.clear()
    w.call(t, "write", fd, U64.pack(1))
    assert file in w.k.poll_dirty
    assert file.f_op.poll(w.k, t, file, None) == POLLIN | POLLOUT
    w.k.poll_dirty.clear()
    w.call(t, "write", fd, U64.pack(1))  # the same mask: nothing to tell the doorbell
    assert file not in w.k.poll_dirty
    w.call(t, "write", fd, U64.pack((1 << 64) - 4))
    assert file.f_op.poll(w.k, t, file, None) == POLLIN


def test_close_releases_it_and_frees_the_quota(w: World) -> None:
    t = w.proc_task(uid=1000)
    fd = efd(w, t)
    assert w.k.quota.held("files", 1000) == 1
    w.call(t, "close", fd, 0)
    assert w.k.quota.held("files", 1000) == 0
    assert [f.f_ino for f in w.k.take_files_released()] == [fd]
    assert w.err(t, "read", fd, 8) == E.EBADF
