"""fs/splice.c on the pure core: splice and tee between pipes -- whole buffers
moved, the last one split, tee's duplicates, EOF, the errors in the
kernel's order, SPLICE_F_NONBLOCK and O_NONBLOCK, blocking on either pipe
and the wake-ups that end it, EINTR, SIGPIPE, the files a sleeper holds,
poll masks of both pipes, and what happens with a file that is not a pipe."""
from __future__ import annotations

import errno as E
from typing import Any

from tests.kernel.conftest import World
from tests.kernel.test_pipe import install, pipe  # one way to make pipes in the core tests
from uipc.kernel import BLOCKED, Task
from uipc.kernel.file import (
    O_NONBLOCK, O_RDWR, O_WRONLY, POLLERR, POLLIN, POLLOUT, POLLRDNORM, POLLWRNORM,
)
from uipc.uapi.mqueue import MQ_BYTES_MAX
from uipc.kernel.pipe import PIPE_BUF_FLAG_CAN_MERGE
from uipc.uapi.signalfd import SIGPIPE
from uipc.kernel.splice import (
    SPLICE_F_GIFT, SPLICE_F_MORE, SPLICE_F_MOVE, SPLICE_F_NONBLOCK,
)
from uipc.uapi.fcntl import F_SETFL, F_SETPIPE_SZ, O_APPEND, O_CREAT, O_DIRECT

IN, OUT = POLLIN | POLLRDNORM, POLLOUT | POLLWRNORM
NB = SPLICE_F_NONBLOCK
PAGE = 4096
S_IFIFO = 0o010000

def splice(w: World, t: Task, fd_in: int, fd_out: int, n: int, flags: int = 0,
           off_in: int | None = None, off_out: int | None = None) -> Any:
    """The wire's arguments: (null, offset) for each side."""
    return w.call(t, "splice", fd_in, int(off_in is None), off_in or 0, fd_out,
                  int(off_out is None), off_out or 0, n, flags)


def splice_err(w: World, t: Task, *args: Any, **kw: Any) -> int:
    try:
        splice(w, t, *args, **kw)
    except Exception as exc:  # noqa: BLE001 - KernelError carries errno
        return exc.errno  # type: ignore[attr-defined]
    raise AssertionError("splice did not fail")


def mask(w: World, t: Task, fd: int) -> int:
    file = t.process.files.get(fd)
    return file.f_op.poll(w.k, t, file, None)


def bufs(t: Task, fd: int) -> list[tuple[int, bool]]:
    """The pipe's ring: (len, may merge) of each buffer, oldest first."""
    pipe = t.process.files.get(fd).private_data.pipe
    return [(b.len, bool(b.flags & PIPE_BUF_FLAG_CAN_MERGE)) for b in pipe.bufs]


def forked(w: World, t: Task) -> Task:
    child = w.proc_task(t.cred.uid)
    w.k.fork_process(t.process, child.process, [])
    return child


def eventfd(w: World, t: Task, initval: int = 0, flags: int = 0) -> int:
    return install(w, t, w.call(t, "eventfd2", initval, flags))


# --- moving buffers ---------------------------------------------------------------------
def test_splice_moves_whole_buffers_and_splits_the_last(w: World) -> None:
    t = w.proc_task()
    ar, aw = pipe(w, t, O_NONBLOCK)
    br, bw = pipe(w, t, O_NONBLOCK)
    w.call(t, "write", aw, b"a" * 10)
    w.call(t, "write", aw, b"b" * PAGE)  # a page: a slot of its own
    assert bufs(t, ar) == [(10, True), (PAGE, True)]
    assert splice(w, t, ar, bw, 100) == 100
    # the first buffer moved as it was; the second's first 90 bytes were shared
    assert bufs(t, br) == [(10, True), (90, False)]
    assert bufs(t, ar) == [(PAGE - 90, True)]
    assert w.call(t, "read", br, 1000) == b"a" * 10 + b"b" * 90
    assert w.call(t, "read", ar, 10000) == b"b" * (PAGE - 90)


def test_splice_stops_at_the_inputs_end_and_at_a_full_output(w: World) -> None:
    t = w.proc_task()
    ar, aw = pipe(w, t, O_NONBLOCK)
    br, bw = pipe(w, t, O_NONBLOCK)
    w.call(t, "write", aw, b"x" * 3000)
    assert splice(w, t, ar, bw, 1 << 20) == 3000  # what the input held
    w.call(t, "fcntl", bw, F_SETPIPE_SZ, 2 * PAGE)  # two slots; one holds the 3000 bytes
    w.call(t, "write", aw, b"y" * (3 * PAGE))
    assert splice(w, t, ar, bw, 1 << 20) == PAGE  # one free slot: one buffer
    assert splice_err(w, t, ar, bw, 1) == E.EAGAIN  # full now
    assert len(w.call(t, "read", br, 1 << 20)) == 3000 + PAGE
    assert splice(w, t, ar, bw, (1 << 64) - 1) == 2 * PAGE  # any size_t: no rw_verify_area


def test_a_whole_buffer_moves_with_its_flags_and_still_merges(w: World) -> None:
    """A whole buffer moves with its flags: the output's next small write
    merges into it."""
    t = w.proc_task()
    ar, aw = pipe(w, t, O_NONBLOCK)
    br, bw = pipe(w, t, O_NONBLOCK)
    w.call(t, "fcntl", bw, F_SETPIPE_SZ, PAGE)  # one slot
    w.call(t, "write", aw, b"abc")
    assert splice(w, t, ar, bw, 3) == 3
    assert w.call(t, "write", bw, b"def") == 3  # merged: the one slot has room
    assert w.call(t, "read", br, 100) == b"abcdef"


def test_a_split_buffer_takes_no_merge(w: World) -> None:
    """The split copy never takes a merge, the input's rest still does: the
    page they share is only written past both windows."""
    t = w.proc_task()
    ar, aw = pipe(w, t, O_NONBLOCK)
    br, bw = pipe(w, t, O_NONBLOCK)
    w.call(t, "fcntl", bw, F_SETPIPE_SZ, PAGE)  # one slot
    w.call(t, "write", aw, b"ghijkl")
    assert splice(w, t, ar, bw, 2) == 2
    assert w.call(t, "write", aw, b"mn") == 2  # the input's rest still merges
    assert w.call(t, "read", ar, 100) == b"ijklmn"
    assert w.err(t, "write", bw, b"z") == E.EAGAIN  # no merge into "gh", no free slot
    assert w.call(t, "read", br, 100) == b"gh"


def test_packets_stay_packets(w: World) -> None:
    t = w.proc_task()
    ar, aw = pipe(w, t, O_NONBLOCK | O_DIRECT)
    br, bw = pipe(w, t, O_NONBLOCK)
    for data in (b"one", b"two", b"three"):
        w.call(t, "write", aw, data)
    assert splice(w, t, ar, bw, 4) == 4  # "one" whole, "t" of "two"
    assert w.call(t, "read", br, 100) == b"one"
    assert w.call(t, "read", br, 100) == b"t"
    assert w.call(t, "read", ar, 100) == b"wo"
    assert w.call(t, "tee", ar, bw, 100, 0) == 5
    assert w.call(t, "read", br, 2) == b"th"  # a packet: its rest dropped
    assert w.call(t, "read", ar, 100) == b"three"


def test_eof_is_zero_and_len_zero_is_zero(w: World) -> None:
    t = w.proc_task()
    ar, aw = pipe(w, t)
    br, bw = pipe(w, t)
    w.call(t, "close", aw, 0)
    assert splice(w, t, ar, bw, 10) == 0  # no data, no writer: EOF, blocking or not
    assert w.call(t, "tee", ar, bw, 10, 0) == 0
    assert splice(w, t, ar, bw, 10, NB) == 0
    assert splice(w, t, ar, bw, 0) == 0


# --- tee --------------------------------------------------------------------------------
def test_tee_duplicates_without_consuming(w: World) -> None:
    t = w.proc_task()
    ar, aw = pipe(w, t, O_NONBLOCK)
    br, bw = pipe(w, t, O_NONBLOCK)
    w.call(t, "write", aw, b"a" * 10)
    w.call(t, "write", aw, b"b" * PAGE)
    assert w.call(t, "tee", ar, bw, 100, 0) == 100
    assert bufs(t, ar) == [(10, True), (PAGE, True)]  # untouched
    assert bufs(t, br) == [(10, False), (90, False)]  # copies never merge
    assert w.call(t, "tee", ar, bw, 1 << 20, 0) == 10 + PAGE  # again: the same data
    assert w.call(t, "read", br, 1 << 20) == b"a" * 10 + b"b" * 90 + b"a" * 10 + b"b" * PAGE
    assert w.call(t, "read", ar, 1 << 20) == b"a" * 10 + b"b" * PAGE
    # a write merging into the input's last buffer does not show in a copy of it
    w.call(t, "write", aw, b"c")
    assert w.call(t, "tee", ar, bw, 1, 0) == 1
    w.call(t, "write", aw, b"d")
    assert w.call(t, "read", br, 10) == b"c"
    assert w.call(t, "read", ar, 10) == b"cd"


def test_tee_stops_at_a_full_output_and_takes_an_empty_input_as_eagain(w: World) -> None:
    t = w.proc_task()
    ar, aw = pipe(w, t, O_NONBLOCK)
    br, bw = pipe(w, t, O_NONBLOCK)
    w.call(t, "fcntl", bw, F_SETPIPE_SZ, 2 * PAGE)
    assert w.err(t, "tee", ar, bw, 10, 0) == E.EAGAIN  # empty, a writer: would wait
    w.call(t, "write", aw, b"z" * (5 * PAGE))
    assert w.call(t, "tee", ar, bw, 1 << 20, 0) == 2 * PAGE
    assert w.err(t, "tee", ar, bw, 10, 0) == E.EAGAIN  # full


# --- errors, in the kernel's order ----------------------------------------------------
def test_the_checks_come_in_linuxs_order(w: World) -> None:
    t = w.proc_task()
    ar, aw = pipe(w, t)
    br, bw = pipe(w, t)
    # splice: len 0 before everything, then the flags, then the descriptors
    assert splice(w, t, 0, 0, 0, 0xF0) == 0
    assert splice_err(w, t, 0, 0, 1, 0x10) == E.EINVAL
    assert splice_err(w, t, 0, bw, 1) == E.EBADF
    assert splice_err(w, t, ar, 0, 1) == E.EBADF
    # tee: the flags before len 0
    assert w.err(t, "tee", 0, 0, 0, 0x10) == E.EINVAL
    assert w.call(t, "tee", 0, 0, 0, 0) == 0
    assert w.err(t, "tee", 0, bw, 1, 0) == E.EBADF
    # an offset with a pipe is ESPIPE, before the access modes
    assert splice_err(w, t, aw, br, 1, off_in=0) == E.ESPIPE
    assert splice_err(w, t, ar, bw, 1, off_out=5) == E.ESPIPE
    assert splice_err(w, t, aw, bw, 1) == E.EBADF  # the input is not open for reading
    assert splice_err(w, t, ar, br, 1) == E.EBADF  # the output is not open for writing
    assert w.err(t, "tee", aw, bw, 1, 0) == E.EBADF
    assert w.err(t, "tee", ar, br, 1, 0) == E.EBADF
    # the same pipe on both sides
    assert splice_err(w, t, ar, aw, 1) == E.EINVAL
    assert w.err(t, "tee", ar, aw, 1, 0) == E.EINVAL


def test_one_fifo_opened_rdwr_is_the_same_pipe_on_both_sides(w: World) -> None:
    t = w.proc_task()
    w.call(t, "mknod", S_IFIFO | 0o600, "/f")
    rw = install(w, t, w.call(t, "open", O_RDWR, "/f"))
    other = install(w, t, w.call(t, "open", O_WRONLY, "/f"))
    w.call(t, "write", other, b"x")
    assert splice_err(w, t, rw, other, 1) == E.EINVAL
    assert w.err(t, "tee", rw, rw, 1, 0) == E.EINVAL
    w.call(t, "unlink", "/f")


def test_the_flags_without_effect_are_accepted(w: World) -> None:
    t = w.proc_task()
    ar, aw = pipe(w, t, O_NONBLOCK)
    br, bw = pipe(w, t, O_NONBLOCK)
    w.call(t, "write", aw, b"hello")
    assert splice(w, t, ar, bw, 2, SPLICE_F_MOVE | SPLICE_F_MORE | SPLICE_F_GIFT) == 2
    assert w.call(t, "tee", br, aw, 2, SPLICE_F_MOVE | SPLICE_F_MORE | SPLICE_F_GIFT) == 2


# --- not a pipe ---------------------------------------------------------------------------
def test_a_pipe_into_an_eventfd_is_einval_and_leaves_the_pipe(w: World) -> None:
    t = w.proc_task()
    ar, aw = pipe(w, t, O_NONBLOCK)
    efd = eventfd(w, t, 5)
    w.call(t, "write", aw, b"kept")
    assert splice_err(w, t, ar, efd, 4) == E.EINVAL
    assert splice_err(w, t, ar, efd, 4, off_out=0) == E.EINVAL
    assert w.err(t, "tee", ar, efd, 4, 0) == E.EINVAL
    assert w.err(t, "tee", efd, aw, 4, 0) == E.EINVAL
    assert splice_err(w, t, efd, efd, 4) == E.EINVAL
    assert w.call(t, "read", ar, 10) == b"kept"


def test_an_eventfd_into_a_pipe_waits_for_room_first(w: World) -> None:
    """splice_file_to_pipe: wait_for_space before do_splice_read's EINVAL."""
    t = w.proc_task()
    efd = eventfd(w, t, 5)
    br, bw = pipe(w, t)
    assert splice_err(w, t, efd, bw, 8) == E.EINVAL  # room: then no ->splice_read
    assert splice_err(w, t, efd, bw, 8, off_in=0) == E.EINVAL  # no FMODE_PREAD
    assert splice_err(w, t, efd, bw, 1 << 63) == E.EINVAL  # rw_verify_area
    w.call(t, "fcntl", bw, F_SETFL, O_NONBLOCK)
    w.call(t, "write", bw, b"f" * (16 * PAGE))
    assert splice_err(w, t, efd, bw, 8) == E.EAGAIN  # full, and the pipe is O_NONBLOCK
    w.call(t, "fcntl", bw, F_SETFL, 0)
    assert splice_err(w, t, efd, bw, 8, NB) == E.EAGAIN
    sleeper = forked(w, t)
    assert splice(w, sleeper, efd, bw, 8) is BLOCKED  # full: it waits for room
    w.call(t, "read", br, 1)
    assert w.done() == []  # a byte is not a slot
    w.call(t, "read", br, PAGE)
    [(task, result)] = w.done()
    assert task is sleeper and result.errno == E.EINVAL
    w.k.exit_process(sleeper.process)
    w.call(t, "close", br, 0)
    w.k.signals.clear()
    assert splice_err(w, t, efd, bw, 8) == E.EPIPE  # no reader, full or not
    assert [s[1] for s in w.k.signals] == [SIGPIPE]


def test_an_mqueue_has_pread_so_an_offset_gets_as_far_as_the_wait(w: World) -> None:
    t = w.proc_task()
    new = w.call(t, "mq_open", O_CREAT | O_RDWR, 0o600, 0, 0, 0, MQ_BYTES_MAX, "q")
    mq = install(w, t, new)
    br, bw = pipe(w, t, O_NONBLOCK)
    w.call(t, "write", bw, b"f" * (16 * PAGE))
    assert splice_err(w, t, mq, bw, 8, off_in=0) == E.EAGAIN
    assert splice_err(w, t, mq, bw, 8, off_in=-1) == E.EINVAL
    w.call(t, "read", br, PAGE)
    assert splice_err(w, t, mq, bw, 8, off_in=0) == E.EINVAL
    w.call(t, "fcntl", mq, F_SETFL, O_APPEND)
    assert splice_err(w, t, br, mq, 8) == E.EINVAL
    w.call(t, "mq_unlink", "q")


# --- non-blocking --------------------------------------------------------------------------
def test_splice_f_nonblock_or_either_files_o_nonblock(w: World) -> None:
    t = w.proc_task()
    ar, aw = pipe(w, t)
    br, bw = pipe(w, t)
    assert splice_err(w, t, ar, bw, 1, NB) == E.EAGAIN  # both files blocking
    assert w.err(t, "tee", ar, bw, 1, NB) == E.EAGAIN
    w.call(t, "fcntl", bw, F_SETFL, O_NONBLOCK)  # the output's O_NONBLOCK is enough
    assert splice_err(w, t, ar, bw, 1) == E.EAGAIN
    assert w.err(t, "tee", ar, bw, 1, 0) == E.EAGAIN
    w.call(t, "fcntl", bw, F_SETFL, 0)
    w.call(t, "fcntl", ar, F_SETFL, O_NONBLOCK)  # so is the input's
    assert splice_err(w, t, ar, bw, 1) == E.EAGAIN
    # a full output, likewise
    w.call(t, "fcntl", ar, F_SETFL, 0)
    w.call(t, "write", aw, b"a")
    w.call(t, "write", bw, b"b" * (16 * PAGE))
    assert splice_err(w, t, ar, bw, 1, NB) == E.EAGAIN
    assert w.err(t, "tee", ar, bw, 1, NB) == E.EAGAIN
    assert t.waiter is None


# --- blocking --------------------------------------------------------------------------
def test_a_blocked_splice_wakes_for_data_in_the_input(w: World) -> None:
    t = w.proc_task()
    ar, aw = pipe(w, t)
    br, bw = pipe(w, t)
    sleeper = forked(w, t)
    assert splice(w, sleeper, ar, bw, 100) is BLOCKED
    assert sleeper.waiter is not None and sleeper.waiter.op == "splice"
    w.call(t, "write", aw, b"data")
    assert w.done() == [(sleeper, 4)]
    assert w.call(t, "read", br, 100) == b"data"


def test_a_blocked_splice_wakes_for_room_in_the_output(w: World) -> None:
    t = w.proc_task()
    ar, aw = pipe(w, t)
    br, bw = pipe(w, t)
    w.call(t, "write", aw, b"x" * 100)
    w.call(t, "write", bw, b"y" * (16 * PAGE))
    sleeper = forked(w, t)
    assert splice(w, sleeper, ar, bw, 1000) is BLOCKED
    w.call(t, "write", aw, b"more")  # the input's changes do not matter now
    assert w.done() == []
    assert len(w.call(t, "read", br, PAGE)) == PAGE  # a slot frees: it goes on
    assert w.done() == [(sleeper, 104)]


def test_a_blocked_tee_wakes_and_the_input_keeps_its_data(w: World) -> None:
    t = w.proc_task()
    ar, aw = pipe(w, t)
    br, bw = pipe(w, t)
    sleeper = forked(w, t)
    assert w.call(sleeper, "tee", ar, bw, 100, 0) is BLOCKED
    assert sleeper.waiter.op == "tee"
    w.call(t, "write", aw, b"twice")
    assert w.done() == [(sleeper, 5)]
    assert w.call(t, "read", br, 100) == b"twice"
    assert w.call(t, "read", ar, 100) == b"twice"


def test_the_last_writer_leaving_ends_a_blocked_splice_with_eof(w: World) -> None:
    t = w.proc_task()
    ar, aw = pipe(w, t)
    br, bw = pipe(w, t)
    sleeper = forked(w, t)
    assert splice(w, sleeper, ar, bw, 100) is BLOCKED
    w.call(w.thread(sleeper), "close", aw, 0)
    assert w.done() == []  # the parent still holds a writer
    w.call(t, "close", aw, 0)
    assert w.done() == [(sleeper, 0)]


def test_a_signal_ends_a_blocked_splice_with_eintr_and_drops_its_files(w: World) -> None:
    t = w.proc_task()
    ar, aw = pipe(w, t)
    br, bw = pipe(w, t)
    fin, fout = t.process.files.get(ar), t.process.files.get(bw)
    counts = (fin.f_count, fout.f_count)
    assert splice(w, t, ar, bw, 100) is BLOCKED
    assert (fin.f_count, fout.f_count) == (counts[0] + 1, counts[1] + 1)  # fdget's references
    assert w.k.interrupt(t)
    [(task, result)] = w.done()
    assert task is t and result.errno == E.EINTR
    assert (fin.f_count, fout.f_count) == counts
    assert w.call(t, "tee", ar, bw, 1, 0) is BLOCKED
    assert w.k.interrupt(t)
    assert w.done()[0][1].errno == E.EINTR
    assert (fin.f_count, fout.f_count) == counts
    w.call(t, "write", aw, b"x")  # nobody is left asleep on the pipe
    assert w.done() == [] and w.call(t, "read", ar, 10) == b"x"


def test_a_sleeping_splice_keeps_its_files_open_across_a_close(w: World) -> None:
    """Another thread closing the output while the splice waits for data:
    the pipe keeps its reader... and its writer until the splice returns."""
    t = w.proc_task()
    ar, aw = pipe(w, t)
    br, bw = pipe(w, t)
    opipe = t.process.files.get(bw).private_data.pipe
    assert splice(w, t, ar, bw, 100) is BLOCKED
    w.call(w.thread(t), "close", bw, 0)
    assert opipe.writers == 1  # the sleeper's reference holds the write end
    w.call(w.thread(t), "write", aw, b"late")
    assert w.done() == [(t, 4)]
    assert opipe.writers == 0  # released with the splice's end
    assert w.call(t, "read", br, 100) == b"late"
    assert w.call(t, "read", br, 100) == b""  # then EOF


def test_exit_of_a_sleeper_drops_its_files(w: World) -> None:
    t = w.proc_task()
    ar, aw = pipe(w, t)
    br, bw = pipe(w, t)
    sleeper = forked(w, t)
    fin = t.process.files.get(ar)
    before = fin.f_count
    assert splice(w, sleeper, ar, bw, 100) is BLOCKED
    assert fin.f_count == before + 1
    w.k.exit_process(sleeper.process)
    assert fin.f_count == before - 1  # the child's descriptor and the sleeper's hold


# --- wake-ups, SIGPIPE, poll masks ------------------------------------------------------
def test_splice_wakes_the_outputs_reader_and_the_inputs_writer(w: World) -> None:
    t = w.proc_task()
    ar, aw = pipe(w, t)
    br, bw = pipe(w, t)
    writer, reader = forked(w, t), forked(w, t)
    assert w.call(writer, "write", aw, b"w" * (17 * PAGE)) is BLOCKED  # a page left over
    assert w.call(reader, "read", br, 10) is BLOCKED
    assert splice(w, t, ar, bw, PAGE) == PAGE  # a whole buffer leaves the input
    assert sorted(w.done(), key=lambda d: d[0].pid) == sorted(
        [(writer, 17 * PAGE), (reader, b"w" * 10)], key=lambda d: d[0].pid)


def test_tee_wakes_the_outputs_reader(w: World) -> None:
    t = w.proc_task()
    ar, aw = pipe(w, t)
    br, bw = pipe(w, t)
    reader = forked(w, t)
    w.call(t, "write", aw, b"hi")
    assert w.call(reader, "read", br, 10) is BLOCKED
    assert w.call(t, "tee", ar, bw, 10, 0) == 2
    assert w.done() == [(reader, b"hi")]


def test_no_reader_on_the_output_is_epipe_and_sigpipe(w: World) -> None:
    t = w.proc_task()
    ar, aw = pipe(w, t, O_NONBLOCK)
    br, bw = pipe(w, t, O_NONBLOCK)
    w.call(t, "close", br, 0)
    w.k.signals.clear()
    w.call(t, "write", aw, b"x")
    assert splice_err(w, t, ar, bw, 1) == E.EPIPE
    assert w.err(t, "tee", ar, bw, 1, 0) == E.EPIPE
    w.call(t, "read", ar, 1)
    w.call(t, "close", aw, 0)
    assert splice_err(w, t, ar, bw, 1) == E.EPIPE  # before the EOF test
    assert w.err(t, "tee", ar, bw, 1, 0) == E.EPIPE
    assert [s[1] for s in w.k.signals] == [SIGPIPE] * 4


def test_both_pipes_doorbells_follow_a_splice(w: World) -> None:
    t = w.proc_task()
    ar, aw = pipe(w, t, O_NONBLOCK)
    br, bw = pipe(w, t, O_NONBLOCK)
    w.call(t, "write", aw, b"a" * (16 * PAGE))  # the input full
    assert (mask(w, t, ar), mask(w, t, aw), mask(w, t, br), mask(w, t, bw)) == (IN, 0, 0, OUT)
    files = t.process.files
    w.k.poll_dirty.clear()
    assert splice(w, t, ar, bw, PAGE) == PAGE
    assert {files.get(fd) for fd in (ar, aw, br, bw)} <= w.k.poll_dirty
    assert (mask(w, t, ar), mask(w, t, aw), mask(w, t, br), mask(w, t, bw)) == (IN, OUT, IN, OUT)
    w.k.poll_dirty.clear()
    assert w.call(t, "tee", ar, bw, 1 << 20, 0) == 15 * PAGE  # fills the output
    assert {files.get(br), files.get(bw)} <= w.k.poll_dirty
    assert (mask(w, t, br), mask(w, t, bw)) == (IN, 0)
    w.call(t, "close", br, 0)
    assert mask(w, t, bw) == POLLERR
