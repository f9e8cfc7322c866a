"""fs/pipe.c on the pure core: the ring, blocking and non-blocking reads and
writes, PIPE_BUF atomicity, packets, EOF/EPIPE/SIGPIPE, poll masks,
F_SETPIPE_SZ and the fs.pipe-* limits, F_SETFL, dup, and FIFOs' open rules."""
from __future__ import annotations

import errno as E
import itertools
from typing import Any

import pytest

from tests.kernel.conftest import World
from uipc.kernel import BLOCKED, Cred, Task
from uipc.kernel import sysctl
from uipc.kernel.file import (
    O_CLOEXEC, O_NONBLOCK, O_RDONLY, O_RDWR, O_WRONLY, POLLERR, POLLHUP, POLLIN, POLLOUT,
    POLLRDNORM, POLLWRNORM,
)
from uipc.kernel.pipe import pipe_ns
from uipc.uapi.signalfd import SI_QUEUE, SIGPIPE
from uipc.kernel.task import CAP_SYS_RESOURCE, ROOT_CAPS
from uipc.uapi.fcntl import (
    F_GETFL, F_GETPIPE_SZ, F_SETFL, F_SETPIPE_SZ, O_APPEND, O_CREAT, O_DIRECT, O_EXCL,
    O_LARGEFILE, O_NOATIME,
)

IN, OUT = POLLIN | POLLRDNORM, POLLOUT | POLLWRNORM
S_IFIFO = 0o010000
PAGE = 4096
_inos = itertools.count(7000)


def install(w: World, t: Task, new: Any) -> int:
    ino = next(_inos)
    w.k.install_file(t, new, ino)
    return ino


def pipe(w: World, t: Task, flags: int = 0) -> tuple[int, int]:
    r, wr = w.call(t, "pipe2", flags)
    return install(w, t, r), install(w, t, wr)


def mask(w: World, t: Task, fd: int) -> int:
    file = t.process.files.get(fd)
    return file.f_op.poll(w.k, t, file, None)


def forked(w: World, t: Task) -> Task:
    """A child of t's process (sharing its files), as fork makes it."""
    child = w.proc_task(t.cred.uid)
    w.k.fork_process(t.process, child.process, [])
    return child


def task_with(w: World, uid: int, caps: frozenset[str]) -> Task:
    w._pid += 1
    return w.k.new_task(w.k.new_process(w._pid, Cred.of(uid, uid, caps=caps)))


# --- pipe2 --------------------------------------------------------------------------
def test_pipe2_flags_and_the_ends_flags(w: World) -> None:
    t = w.proc_task()
    assert w.err(t, "pipe2", O_APPEND) == E.EINVAL
    assert w.err(t, "pipe2", O_EXCL) == E.ENOPKG  # O_NOTIFICATION_PIPE: no watch queues
    r, wr = pipe(w, t, O_NONBLOCK | O_DIRECT | O_CLOEXEC)
    # create_pipe_files: O_DIRECT only on the write end; O_CLOEXEC is the descriptors'
    assert w.call(t, "fcntl", r, F_GETFL, 0) == O_RDONLY | O_NONBLOCK
    assert w.call(t, "fcntl", wr, F_GETFL, 0) == O_WRONLY | O_NONBLOCK | O_DIRECT
    assert t.process.files.get_cloexec(r) and t.process.files.get_cloexec(wr)
    assert w.call(t, "fcntl", r, F_GETPIPE_SZ, 0) == 16 * PAGE


def test_each_end_counts_against_the_files_quota(w: World) -> None:
    t = w.proc_task(uid=1000)
    r, wr = pipe(w, t)
    assert w.k.quota.held("files", 1000) == 2
    w.k.quota.limits.files = 3
    assert w.err(t, "pipe2", 0) == E.EMFILE
    assert w.k.quota.held("files", 1000) == 2  # the first end's charge went back
    w.call(t, "close", r, 0)
    w.call(t, "close", wr, 0)
    assert w.k.quota.held("files", 1000) == 0
    assert pipe_ns(t.ns).user_bufs == {}  # the pages went with the pipe


# --- reads and writes ---------------------------------------------------------------
def test_bytes_come_out_in_order_and_small_writes_merge(w: World) -> None:
    t = w.proc_task()
    r, wr = pipe(w, t, O_NONBLOCK)
    assert w.call(t, "write", wr, b"") == 0 and w.call(t, "read", r, 0) == b""
    assert w.call(t, "write", wr, b"abc") == 3
    assert w.call(t, "write", wr, b"def") == 3
    pipe_ = t.process.files.get(r).private_data.pipe
    assert len(pipe_.bufs) == 1  # merged into the last page
    assert w.call(t, "read", r, 4) == b"abcd"
    assert w.call(t, "read", r, 100) == b"ef"
    assert w.err(t, "read", r, 100) == E.EAGAIN


def test_a_nonblocking_write_is_partial_and_a_full_pipe_is_eagain(w: World) -> None:
    t = w.proc_task()
    r, wr = pipe(w, t, O_NONBLOCK)
    assert w.call(t, "write", wr, b"x" * 70000) == 65536
    assert w.err(t, "write", wr, b"y") == E.EAGAIN
    assert len(w.call(t, "read", r, 1 << 20)) == 65536


def test_a_write_of_pipe_buf_is_never_split(w: World) -> None:
    """15 pages and 4000 bytes held: 200 bytes neither merge (96 bytes of
    room) nor fit a free slot: EAGAIN, not 96; 96 bytes merge."""
    t = w.proc_task()
    r, wr = pipe(w, t, O_NONBLOCK)
    assert w.call(t, "write", wr, b"a" * (15 * PAGE + 4000)) == 15 * PAGE + 4000
    assert w.err(t, "write", wr, b"b" * 200) == E.EAGAIN
    assert w.call(t, "write", wr, b"c" * 96) == 96
    assert w.err(t, "write", wr, b"d" * PAGE) == E.EAGAIN
    assert w.call(t, "read", r, PAGE) == b"a" * PAGE
    assert w.call(t, "write", wr, b"d" * PAGE) == PAGE  # one free slot: all of it


def test_a_blocked_write_finishes_as_readers_make_room(w: World) -> None:
    t = w.proc_task()
    r, wr = pipe(w, t)
    reader = forked(w, t)
    data = bytes(range(256)) * 800  # 204800 bytes: three pipefuls and some
    assert w.call(t, "write", wr, data) is BLOCKED
    got = w.call(reader, "read", r, 1 << 20)
    assert got == data[:65536] and w.done() == []  # the writer goes on, still short
    got += w.call(reader, "read", r, 1 << 20)
    assert w.done() == []
    got += w.call(reader, "read", r, 1 << 20)
    assert w.done() == [(t, len(data))]  # the rest fitted
    got += w.call(reader, "read", r, 1 << 20)
    assert got == data


def test_blocked_pipe_buf_writes_land_whole(w: World) -> None:
    """Two writers of PIPE_BUF bytes asleep on a full pipe: each page read is
    one writer's whole write."""
    t = w.proc_task()
    r, wr = pipe(w, t)
    a, b = forked(w, t), forked(w, t)
    w.call(t, "write", wr, b"." * 65536)
    assert w.call(a, "write", wr, b"A" * PAGE) is BLOCKED
    assert w.call(b, "write", wr, b"B" * PAGE) is BLOCKED
    assert w.call(t, "read", r, 65536) == b"." * 65536
    assert w.done() == [(a, PAGE), (b, PAGE)]  # one woken, then the next by it
    pages = [w.call(t, "read", r, PAGE) for _ in range(2)]
    assert sorted(pages) == [b"A" * PAGE, b"B" * PAGE]


def test_a_blocked_read_wakes_for_data_and_for_eof(w: World) -> None:
    t = w.proc_task()
    r, wr = pipe(w, t)
    reader = forked(w, t)
    assert w.call(reader, "read", r, 10) is BLOCKED
    w.call(t, "write", wr, b"hi")
    assert w.done() == [(reader, b"hi")]
    assert w.call(reader, "read", r, 10) is BLOCKED
    w.call(w.thread(reader), "close", wr, 0)  # the reader's own copy of the write end
    assert w.done() == []
    w.call(t, "close", wr, 0)  # the last writer: EOF
    assert w.done() == [(reader, b"")]
    assert w.call(reader, "read", r, 10) == b""


def test_readers_wake_one_at_a_time_and_pass_the_rest_on(w: World) -> None:
    t = w.proc_task()
    r, wr = pipe(w, t)
    one, two = forked(w, t), forked(w, t)
    assert w.call(one, "read", r, 3) is BLOCKED
    assert w.call(two, "read", r, 3) is BLOCKED
    w.call(t, "write", wr, b"abcdef")
    assert w.done() == [(one, b"abc"), (two, b"def")]  # in the order they slept


def test_no_reader_is_epipe_and_sigpipe(w: World) -> None:
    t = w.proc_task(uid=1000)
    r, wr = pipe(w, t)
    w.call(t, "close", r, 0)
    w.k.signals.clear()
    assert w.err(t, "write", wr, b"x") == E.EPIPE
    assert w.k.signals == [(t.pid, SIGPIPE, SI_QUEUE, t.pid, 1000, 0)]
    assert mask(w, t, wr) == OUT | POLLERR


def test_a_reader_leaving_fails_a_blocked_writer_with_what_it_wrote(w: World) -> None:
    t = w.proc_task()
    r, wr = pipe(w, t)
    writer = forked(w, t)
    assert w.call(writer, "write", wr, b"z" * 70000) is BLOCKED  # 65536 went in
    w.k.signals.clear()
    w.call(w.thread(writer), "close", r, 0)
    w.call(t, "close", r, 0)
    assert w.done() == [(writer, 65536)]
    assert [s[1] for s in w.k.signals] == [SIGPIPE]


def test_a_signal_ends_a_blocked_write_with_its_count_or_eintr(w: World) -> None:
    t = w.proc_task()
    r, wr = pipe(w, t)
    writer = forked(w, t)
    assert w.call(writer, "write", wr, b"z" * 70000) is BLOCKED
    assert w.k.interrupt(writer)
    assert w.done() == [(writer, 65536)]
    assert w.call(writer, "write", wr, b"y") is BLOCKED  # nothing written: EINTR
    assert w.k.interrupt(writer)
    [(task, result)] = w.done()
    assert task is writer and result.errno == E.EINTR


def test_packet_mode_reads_one_write_at_a_time(w: World) -> None:
    t = w.proc_task()
    r, wr = pipe(w, t, O_DIRECT | O_NONBLOCK)
    assert w.call(t, "write", wr, b"one") == 3
    assert w.call(t, "write", wr, b"two") == 3  # a packet is never merged into
    assert w.call(t, "write", wr, b"x" * 5000) == 5000  # split into 4096 + 904
    assert w.call(t, "read", r, 100) == b"one"
    assert w.call(t, "read", r, 2) == b"tw"  # the rest of the packet is dropped
    assert len(w.call(t, "read", r, 10000)) == PAGE
    assert len(w.call(t, "read", r, 10000)) == 904
    # F_SETFL turns it off: writes merge again
    w.call(t, "fcntl", wr, F_SETFL, O_NONBLOCK)
    w.call(t, "write", wr, b"ab")
    w.call(t, "write", wr, b"cd")
    assert w.call(t, "read", r, 100) == b"abcd"


# --- poll -----------------------------------------------------------------------------
def test_poll_masks_follow_the_pipe_and_its_ends(w: World) -> None:
    t = w.proc_task()
    r, wr = pipe(w, t, O_NONBLOCK)
    assert (mask(w, t, r), mask(w, t, wr)) == (0, OUT)
    w.k.poll_dirty.clear()
    w.call(t, "write", wr, b"x" * 65536)
    files = t.process.files
    assert {files.get(r), files.get(wr)} <= w.k.poll_dirty  # both doorbells follow
    assert (mask(w, t, r), mask(w, t, wr)) == (IN, 0)
    w.call(t, "read", r, 1)
    assert mask(w, t, wr) == 0  # the first slot still holds 4095 bytes
    w.call(t, "read", r, PAGE - 1)
    assert mask(w, t, wr) == OUT
    w.call(t, "close", wr, 0)
    assert mask(w, t, r) == IN | POLLHUP


def test_uipc_poll_sleeps_on_a_pipe_until_a_write(w: World) -> None:
    t = w.proc_task()
    r, wr = pipe(w, t)
    other = forked(w, t)
    assert w.call(t, "poll", None, [r, POLLIN]) is BLOCKED
    w.call(other, "write", wr, b"!")
    assert w.done() == [(t, [POLLIN])]


# --- F_SETPIPE_SZ and the limits -----------------------------------------------------------
def test_setpipe_sz_rounds_and_refuses(w: World) -> None:
    t = task_with(w, 0, ROOT_CAPS - {CAP_SYS_RESOURCE})
    r, wr = pipe(w, t, O_NONBLOCK)
    assert w.call(t, "fcntl", wr, F_SETPIPE_SZ, 0) == PAGE
    assert w.call(t, "fcntl", r, F_SETPIPE_SZ, 5000) == 2 * PAGE
    assert w.call(t, "fcntl", r, F_GETPIPE_SZ, 0) == 2 * PAGE
    assert w.call(t, "fcntl", r, F_SETPIPE_SZ, 1 << 20) == 1 << 20
    assert w.err(t, "fcntl", r, F_SETPIPE_SZ, (1 << 20) + 1) == E.EPERM  # over pipe-max-size
    assert w.err(t, "fcntl", r, F_SETPIPE_SZ, (1 << 31) + 1) == E.EINVAL
    assert w.err(t, "fcntl", r, F_SETPIPE_SZ, (1 << 64) - 1) == E.EINVAL  # an unsigned int
    w.call(t, "write", wr, b"x" * (3 * PAGE))
    assert w.err(t, "fcntl", r, F_SETPIPE_SZ, 2 * PAGE) == E.EBUSY  # 3 slots hold data
    assert w.call(t, "fcntl", r, F_SETPIPE_SZ, 3 * PAGE) == 4 * PAGE
    assert w.call(t, "write", wr, b"y" * (2 * PAGE)) == PAGE  # one free slot of four
    efd = install(w, t, w.call(t, "eventfd2", 0, 0))
    assert w.err(t, "fcntl", efd, F_GETPIPE_SZ, 0) == E.EBADF
    assert w.err(t, "fcntl", efd, 9999, 0) == E.EINVAL


def test_cap_sys_resource_passes_pipe_max_size(w: World) -> None:
    t = w.proc_task()  # root's capabilities, CAP_SYS_RESOURCE among them
    r, _ = pipe(w, t)
    assert w.call(t, "fcntl", r, F_SETPIPE_SZ, 4 << 20) == 4 << 20


def test_shrinking_wakes_nobody_and_growing_wakes_a_writer(w: World) -> None:
    t = w.proc_task()
    r, wr = pipe(w, t)
    writer = forked(w, t)
    assert w.call(writer, "write", wr, b"w" * 65537) is BLOCKED
    w.call(t, "fcntl", r, F_SETPIPE_SZ, 32 * PAGE)  # room: the writer goes on
    assert w.done() == [(writer, 65537)]


def test_pipe_max_size_bounds_new_pipes_and_rounds(w: World) -> None:
    t = w.proc_task(uid=1000)
    root = w.proc_task()
    sysctl.set(t.ns, "fs.pipe-max-size", 5000)
    assert sysctl.get(t.ns, "fs.pipe-max-size") == "8192"
    with pytest.raises(Exception):
        sysctl.set(t.ns, "fs.pipe-max-size", (1 << 31) + 1)
    r, _ = pipe(w, t)
    assert w.call(t, "fcntl", r, F_GETPIPE_SZ, 0) == 2 * PAGE
    assert w.err(t, "fcntl", r, F_SETPIPE_SZ, 4 * PAGE) == E.EPERM
    rr, _ = pipe(w, root)  # CAP_SYS_RESOURCE: the default size
    assert w.call(root, "fcntl", rr, F_GETPIPE_SZ, 0) == 16 * PAGE


def test_the_soft_limit_shrinks_new_pipes_and_the_hard_one_refuses_them(w: World) -> None:
    t = w.proc_task(uid=1000)
    state = pipe_ns(t.ns)
    sysctl.set(t.ns, "fs.pipe-user-pages-soft", 20)
    r1, _ = pipe(w, t)  # 16 pages: under 20
    r2, _ = pipe(w, t)  # 32 > 20: 2 slots instead
    assert w.call(t, "fcntl", r2, F_GETPIPE_SZ, 0) == 2 * PAGE
    assert state.user_bufs[1000] == 18
    assert w.err(t, "fcntl", r2, F_SETPIPE_SZ, 8 * PAGE) == E.EPERM  # may not grow past soft
    assert w.call(t, "fcntl", r1, F_SETPIPE_SZ, PAGE) == PAGE  # shrinking always may
    assert state.user_bufs[1000] == 3
    sysctl.set(t.ns, "fs.pipe-user-pages-hard", 4)
    assert w.err(t, "pipe2", 0) == E.ENFILE  # 3 + 2 > 4
    assert state.user_bufs[1000] == 3 and w.k.quota.held("files", 1000) == 4
    root = w.proc_task()  # CAP_SYS_RESOURCE / CAP_SYS_ADMIN: exempt
    rr, _ = pipe(w, root)
    assert w.call(root, "fcntl", rr, F_GETPIPE_SZ, 0) == 16 * PAGE


# --- F_SETFL, dup, fork, exec -------------------------------------------------------------
def test_setfl_changes_what_it_may(w: World) -> None:
    t = w.proc_task(uid=1000)
    r, wr = pipe(w, t)
    assert w.call(t, "fcntl", r, F_SETFL, O_NONBLOCK | O_APPEND | O_CREAT) == 0
    assert w.call(t, "fcntl", r, F_GETFL, 0) == O_RDONLY | O_NONBLOCK | O_APPEND
    assert w.err(t, "read", r, 1) == E.EAGAIN
    assert w.call(t, "fcntl", r, F_SETFL, 0) == 0
    assert w.call(t, "read", r, 1) is BLOCKED
    w.k.interrupt(t)
    w.done()
    efd = install(w, t, w.call(t, "eventfd2", 0, 0))
    assert w.err(t, "fcntl", efd, F_SETFL, O_DIRECT) == E.EINVAL  # no direct I/O
    assert w.err(t, "fcntl", efd, F_SETFL, O_NOATIME) == E.EPERM  # root's anonymous inode
    assert w.call(t, "fcntl", r, F_SETFL, O_NOATIME) == 0  # the pipe's own inode
    assert w.err(t, "fcntl", 424242, F_GETFL, 0) == E.EBADF


def test_fork_shares_the_open_file_and_its_flags(w: World) -> None:
    t = w.proc_task()
    r, _ = pipe(w, t)
    child = forked(w, t)
    w.call(child, "fcntl", r, F_SETFL, O_NONBLOCK)
    assert w.call(t, "fcntl", r, F_GETFL, 0) == O_NONBLOCK  # one open file description
    assert w.err(t, "read", r, 1) == E.EAGAIN


def test_dup_keeps_the_file_across_exec_and_exec_closes_cloexec_ends(w: World) -> None:
    t = w.proc_task()
    r, wr = pipe(w, t, O_CLOEXEC)
    reader = forked(w, t)
    w.call(reader, "close", wr, 0)
    assert w.err(t, "dup", 424242, 0) == E.EBADF
    w.call(t, "dup", r, 0)  # a dup without FD_CLOEXEC: r survives exec
    assert w.call(reader, "read", r, 1) is BLOCKED
    w.k.exec_process(t.process)
    assert r in t.process.files and wr not in t.process.files
    assert w.done() == [(reader, b"")]  # the only write end closed at exec: EOF


def test_exit_releases_both_ends(w: World) -> None:
    t = w.proc_task(uid=1000)
    r, wr = pipe(w, t)
    reader = forked(w, t)
    w.call(reader, "close", wr, 0)
    assert w.call(reader, "read", r, 1) is BLOCKED
    w.k.exit_process(t.process)
    assert w.done() == [(reader, b"")]
    w.k.exit_process(reader.process)
    assert w.k.quota.held("files", 1000) == 0


# --- FIFOs ------------------------------------------------------------------------------
def test_mkfifo_names_and_errors(w: World) -> None:
    t = w.proc_task(uid=1000)
    assert w.call(t, "mknod", S_IFIFO | 0o600, "/jobs") is None
    assert w.err(t, "mknod", S_IFIFO | 0o600, "jobs") == E.EEXIST  # the same name
    assert w.err(t, "mknod", S_IFIFO, "/") == E.EEXIST  # the directory itself
    assert w.err(t, "mknod", S_IFIFO, "") == E.ENOENT
    assert w.err(t, "mknod", S_IFIFO, "/a/b") == E.ENOENT  # no subdirectories
    assert w.err(t, "mknod", S_IFIFO, "/" + "n" * 256) == E.ENAMETOOLONG
    assert w.err(t, "mknod", 0o040000 | 0o700, "/d") == E.EPERM  # mkdir's job
    assert w.err(t, "mknod", 0o100000, "/f") == E.EOPNOTSUPP  # FIFOs only
    assert w.err(t, "mknod", 0o170000, "/f") == E.EINVAL
    assert w.err(t, "open", O_RDONLY, "/nothing") == E.ENOENT
    assert w.err(t, "open", O_RDONLY | O_CREAT, "/nothing") == E.EOPNOTSUPP
    assert w.err(t, "open", O_RDONLY | O_CREAT | O_EXCL, "/jobs") == E.EEXIST
    assert w.err(t, "open", O_RDONLY | O_DIRECT | O_NONBLOCK, "/jobs") == E.EINVAL
    assert w.err(t, "unlink", "/nothing") == E.ENOENT
    assert w.err(t, "unlink", "/") == E.EISDIR
    assert w.call(t, "unlink", "/jobs") is None
    assert w.err(t, "open", O_RDONLY, "/jobs") == E.ENOENT


def test_fifo_rendezvous_a_reader_waits_for_a_writer(w: World) -> None:
    t, u = w.proc_task(), w.proc_task()
    w.call(t, "mknod", S_IFIFO | 0o666, "/f")
    assert w.err(u, "open", O_WRONLY | O_NONBLOCK, "/f") == E.ENXIO
    assert w.call(t, "open", O_RDONLY, "/f") is BLOCKED
    new = w.call(u, "open", O_WRONLY | O_NONBLOCK, "/f")  # a reader is there (asleep)
    wfd = install(w, u, new)
    [(task, rnew)] = w.done()
    rfd = install(w, t, rnew)
    assert task is t
    assert w.call(t, "fcntl", rfd, F_GETFL, 0) == O_RDONLY | O_LARGEFILE
    w.call(u, "write", wfd, b"through the fifo")
    assert w.call(t, "read", rfd, 100) == b"through the fifo"
    w.call(u, "close", wfd, 0)
    assert w.call(t, "read", rfd, 100) == b""


def test_fifo_rendezvous_a_writer_waits_for_a_reader_and_rdwr_never_waits(w: World) -> None:
    t, u = w.proc_task(), w.proc_task()
    w.call(t, "mknod", S_IFIFO | 0o666, "/f")
    assert w.call(t, "open", O_WRONLY, "/f") is BLOCKED
    rfd = install(w, u, w.call(u, "open", O_RDONLY | O_NONBLOCK, "/f"))
    [(task, wnew)] = w.done()
    wfd = install(w, t, wnew)
    assert task is t
    rw = install(w, u, w.call(u, "open", O_RDWR, "/f"))
    w.call(t, "write", wfd, b"12")
    assert w.call(u, "read", rw, 1) == b"1" and w.call(u, "read", rfd, 1) == b"2"


def test_a_nonblocking_fifo_reader_sees_no_hangup_before_a_writer(w: World) -> None:
    t = w.proc_task()
    w.call(t, "mknod", S_IFIFO | 0o666, "/f")
    rfd = install(w, t, w.call(t, "open", O_RDONLY | O_NONBLOCK, "/f"))
    assert mask(w, t, rfd) == 0  # no POLLHUP: no writer was ever seen
    assert w.call(t, "read", rfd, 10) == b""  # EOF all the same: no writer
    wfd = install(w, t, w.call(t, "open", O_WRONLY, "/f"))
    assert mask(w, t, wfd) == OUT
    w.call(t, "close", wfd, 0)
    assert mask(w, t, rfd) == POLLHUP  # a writer came and went


def test_a_fifo_open_interrupted_or_killed_leaves_no_reader(w: World) -> None:
    t, u = w.proc_task(uid=1000), w.proc_task(uid=1000)
    w.call(t, "mknod", S_IFIFO | 0o666, "/f")
    assert w.call(t, "open", O_RDONLY, "/f") is BLOCKED
    assert w.k.interrupt(t)
    [(_, result)] = w.done()
    assert result.errno == E.EINTR
    assert w.err(u, "open", O_WRONLY | O_NONBLOCK, "/f") == E.ENXIO
    assert w.call(t, "open", O_RDONLY, "/f") is BLOCKED
    w.k.exit_process(t.process)
    assert w.err(u, "open", O_WRONLY | O_NONBLOCK, "/f") == E.ENXIO
    assert w.k.quota.held("files", 1000) == 0
    assert pipe_ns(u.ns).fifos["f"].pipe is None  # the last one freed its pipe


def test_fifo_permissions_and_the_sticky_directory(w: World) -> None:
    root, nobody = w.proc_task(), w.proc_task(uid=65534, gid=65534)
    w.call(root, "mknod", S_IFIFO | 0o600, "/private")
    w.call(root, "mknod", S_IFIFO | 0o644, "/public")
    assert w.err(nobody, "open", O_RDONLY | O_NONBLOCK, "/private") == E.EACCES
    assert w.err(nobody, "open", O_WRONLY | O_NONBLOCK, "/public") == E.EACCES
    assert w.err(nobody, "open", O_RDONLY | O_NONBLOCK | 0o1000, "/public") == E.EACCES  # O_TRUNC
    assert w.err(nobody, "open", O_RDONLY | O_NONBLOCK | O_NOATIME, "/public") == E.EPERM
    install(w, nobody, w.call(nobody, "open", O_RDONLY | O_NONBLOCK, "/public"))
    assert w.err(nobody, "unlink", "/public") == E.EPERM  # root's, in a sticky directory
    w.call(nobody, "mknod", S_IFIFO | 0o600, "/mine")
    w.call(root, "unlink", "/mine")  # root may


def test_an_unlinked_fifo_lives_on_in_its_open_files(w: World) -> None:
    t = w.proc_task()
    w.call(t, "mknod", S_IFIFO | 0o666, "/f")
    rw = install(w, t, w.call(t, "open", O_RDWR, "/f"))
    w.call(t, "write", rw, b"kept")
    w.call(t, "unlink", "/f")
    w.call(t, "mknod", S_IFIFO | 0o666, "/f")  # a new FIFO of that name: another pipe
    other = install(w, t, w.call(t, "open", O_RDWR | O_NONBLOCK, "/f"))
    assert w.err(t, "read", other, 10) == E.EAGAIN
    assert w.call(t, "read", rw, 10) == b"kept"


def test_fifo_names_belong_to_the_namespace_and_go_with_it(w: World) -> None:
    w.k.create_namespace("a", 1000)
    w.k.create_namespace("b", 1000)
    ta, tb = w.proc_task(uid=1000, ns="a"), w.proc_task(uid=1000, ns="b")
    w.call(ta, "mknod", S_IFIFO | 0o600, "/f")
    assert w.err(tb, "open", O_RDWR, "/f") == E.ENOENT
    w.call(tb, "mknod", S_IFIFO | 0o600, "/f")
    ns_a = ta.ns
    assert w.k.quota.held("objects", 1000, key=(ns_a, 1000)) == 1
    w.k.exit_process(ta.process)  # the last process of "a": freed with its FIFOs
    assert "a" not in w.k.namespaces
    assert w.k.quota.held("objects", 1000, key=(ns_a, 1000)) == 0
