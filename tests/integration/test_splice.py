"""splice and tee between uipc pipes with the real daemon and real processes:
a mebibyte through a splicing middleman, tee(1)'s pattern feeding two
readers, a blocked splice woken by other processes' reads and writes, a
signal interrupting it without a ghost left behind, the real descriptors'
readiness after a splice, EPIPE with a real SIGPIPE, the API's errors, and
another process (uid 65534) kept away from descriptors it does not hold."""
from __future__ import annotations

import errno
import hashlib
import os
import select
import signal
import time
from typing import Any, Callable

import pytest

import uipc
from tests.conformance.harness import wait_for
from tests.helpers import Child, as_nobody, close_all, errno_of, read_all, read_all_now

MiB = 1 << 20
PAGE = 4096
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="setuid children need root")


def waits(pid: int) -> list[str]:
    """What the process's threads sleep in, as the daemon sees it."""
    return [w["op"] for p in uipc.introspect.namespace()["process_details"] if p["pid"] == pid
            for w in p["waits"] or []]






def only(keep: tuple[int, ...], ends: tuple[int, ...], fn: Callable[[], Any]) -> Callable[[], Any]:
    """A child's body: close the ends it does not use (else its copies keep
    EOF and EPIPE away), then fn()."""
    def run() -> Any:
        close_all(*(fd for fd in ends if fd not in keep))
        return fn()
    return run


def digest(data: bytes) -> tuple[int, str]:
    return len(data), hashlib.sha256(data).hexdigest()


def readable(fd: int) -> bool:
    return select.select([fd], [], [], 0)[0] == [fd]


def writable(fd: int) -> bool:
    return select.select([], [fd], [], 0)[1] == [fd]


# --- streams --------------------------------------------------------------------------
def test_a_mebibyte_through_a_splicing_middleman(ns: str) -> None:
    """writer -> A -> splice (another process, blocking) -> B -> reader: the
    same bytes in order, and the middleman sees EOF as 0."""
    data = os.urandom(MiB)
    ar, aw = uipc.pipe2()
    br, bw = uipc.pipe2()
    ends = (ar, aw, br, bw)

    def middleman() -> tuple[int, int]:
        moved = calls = 0
        while True:
            n = uipc.splice(ar, bw, MiB)
            calls += 1
            if not n:
                return moved, calls
            moved += n
    mid = Child(only((ar, bw), ends, middleman))
    reader = Child(only((br,), ends, lambda: digest(read_all(br))))
    close_all(ar, br, bw)
    try:
        start = time.perf_counter()
        assert uipc.write(aw, data) == MiB
        uipc.close(aw)
        moved, calls = mid.result(timeout=60)
        got = reader.result(timeout=60)
        elapsed = time.perf_counter() - start
    finally:
        close_all(aw)
    assert moved == MiB and got == digest(data)
    print(f"1 MiB through write -> splice -> read in {elapsed * 1e3:.1f} ms "
          f"({MiB / elapsed / 1e6:.1f} MB/s, {calls} splice calls)")


def test_tee_and_splice_feed_two_readers_the_same_stream(ns: str) -> None:
    """tee(1) with pipes: tee A -> B (A keeps the data), then splice exactly
    that much A -> C; two readers get the whole stream each."""
    data = os.urandom(256 * 1024)
    ar, aw = uipc.pipe2()
    br, bw = uipc.pipe2()
    cr, cw = uipc.pipe2()
    ends = (ar, aw, br, bw, cr, cw)

    def teer() -> int:
        total = 0
        while True:
            n = uipc.tee(ar, bw, MiB)
            if not n:
                return total
            while n:  # the same bytes leave A for C
                m = uipc.splice(ar, cw, n)
                n -= m
                total += m
    producer = Child(only((aw,), ends, lambda: uipc.write(aw, data)))
    tee_child = Child(only((ar, bw, cw), ends, teer))
    readers = [Child(only((fd,), ends, lambda fd=fd: digest(read_all(fd)))) for fd in (br, cr)]
    close_all(*ends)
    assert producer.result(timeout=60) == len(data)
    assert tee_child.result(timeout=60) == len(data)
    assert [r.result(timeout=60) for r in readers] == [digest(data)] * 2


# --- blocking -------------------------------------------------------------------------
def test_a_blocked_splice_waits_for_room_then_for_data(ns: str) -> None:
    ar, aw = uipc.pipe2()
    br, bw = uipc.pipe2(os.O_NONBLOCK)
    try:
        uipc.write(aw, b"first")
        assert uipc.write(bw, b"f" * (16 * PAGE)) == 16 * PAGE  # B full
        uipc.fcntl(bw, uipc.F_SETFL, 0)  # a blocking splice: neither file O_NONBLOCK
        child = Child(lambda: (uipc.splice(ar, bw, 100), uipc.splice(ar, bw, 100)))
        wait_for(lambda: waits(child.pid) == ["splice"], "the splice waiting for room")
        assert len(uipc.read(br, PAGE)) == PAGE  # another process's read frees a slot
        wait_for(lambda: not readable(ar), "the first splice done: A empty")
        wait_for(lambda: waits(child.pid) == ["splice"], "the second splice waiting for data")
        uipc.write(aw, b"second")  # another process's write wakes it...
        assert len(uipc.read(br, PAGE)) == PAGE  # ...into a full B again: this read too
        assert child.result() == (5, 6)
        uipc.fcntl(br, uipc.F_SETFL, os.O_NONBLOCK)
        assert read_all_now(br)[-11:] == b"firstsecond"
    finally:
        close_all(ar, aw, br, bw)




def test_a_signal_interrupts_a_blocked_splice_without_a_ghost(ns: str) -> None:
    """SIGINT (KeyboardInterrupt) ends the sleep with EINTR in the daemon; the
    connection stays in step and no splice is left asleep to take later data."""
    ar, aw = uipc.pipe2()
    br, bw = uipc.pipe2()  # neither O_NONBLOCK: the splice sleeps

    def splicer() -> str:
        try:
            uipc.splice(ar, bw, 100)
        except KeyboardInterrupt:
            return "KeyboardInterrupt: " + str(errno_of(
                lambda: uipc.splice(ar, bw, 100, uipc.SPLICE_F_NONBLOCK)))
        return "no interrupt"
    try:
        child = Child(splicer)
        wait_for(lambda: waits(child.pid) == ["splice"], "the splice asleep")
        os.kill(child.pid, signal.SIGINT)
        # after the interrupt the input was still empty: a non-blocking retry says EAGAIN
        assert child.result() == f"KeyboardInterrupt: {errno.EAGAIN}"
        assert waits(child.pid) == []
        uipc.write(aw, b"kept")  # no ghost splice takes it to B
        assert uipc.poll([(br, select.POLLIN)], 0) == [] and not readable(br)
        assert uipc.read(ar, 10) == b"kept"
    finally:
        close_all(ar, aw, br, bw)


# --- readiness, SIGPIPE, errors ---------------------------------------------------------
def test_the_real_descriptors_follow_both_pipes(ns: str) -> None:
    ar, aw = uipc.pipe2(os.O_NONBLOCK)
    br, bw = uipc.pipe2(os.O_NONBLOCK)
    try:
        assert uipc.write(aw, b"a" * (16 * PAGE)) == 16 * PAGE
        assert readable(ar) and not writable(aw) and not readable(br) and writable(bw)
        assert uipc.splice(ar, bw, PAGE) == PAGE
        assert readable(ar) and writable(aw) and readable(br) and writable(bw)
        assert uipc.tee(ar, bw, MiB) == 15 * PAGE  # fills B; A keeps its data
        assert readable(ar) and readable(br) and not writable(bw)
        assert uipc.splice(br, aw, MiB) == PAGE  # one slot of A was free
        assert uipc.poll([(ar, select.POLLIN), (aw, select.POLLOUT), (bw, select.POLLOUT)],
                         0) == [(ar, select.POLLIN), (bw, select.POLLOUT)]
        assert not writable(aw) and writable(bw)
    finally:
        close_all(ar, aw, br, bw)


def test_splice_into_a_pipe_without_reader_is_epipe_with_a_real_sigpipe(ns: str) -> None:
    def splicer() -> tuple[int, int, int]:
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGPIPE})
        ar, aw = uipc.pipe2()
        br, bw = uipc.pipe2()
        uipc.write(aw, b"lost")
        uipc.close(br)
        err = errno_of(lambda: uipc.splice(ar, bw, 10))
        info = signal.sigtimedwait({signal.SIGPIPE}, 10)
        assert info is not None, "no SIGPIPE"
        left = uipc.read(ar, 10)
        close_all(ar, aw, bw)
        return err, info.si_signo, len(left)
    assert Child(splicer).result() == (errno.EPIPE, signal.SIGPIPE, 4)


def test_the_apis_errors(ns: str) -> None:
    ar, aw = uipc.pipe2(os.O_NONBLOCK)
    efd = uipc.eventfd(3)
    try:
        uipc.write(aw, b"data")
        assert errno_of(lambda: uipc.splice(ar, aw, 1)) == errno.EINVAL  # the same pipe
        assert errno_of(lambda: uipc.splice(ar, efd, 1)) == errno.EINVAL  # not a pipe
        assert errno_of(lambda: uipc.splice(efd, aw, 1)) == errno.EINVAL
        assert errno_of(lambda: uipc.tee(ar, efd, 1)) == errno.EINVAL
        assert errno_of(lambda: uipc.splice(ar, aw, 1, off_in=0)) == errno.ESPIPE
        assert errno_of(lambda: uipc.splice(aw, ar, 1)) == errno.EBADF  # access modes
        assert errno_of(lambda: uipc.splice(ar, aw, 1, 0x100)) == errno.EINVAL  # flags
        assert uipc.splice(-1, -1, 0) == 0  # len 0 first, as Linux
        assert errno_of(lambda: uipc.tee(-1, aw, 1)) == errno.EBADF
        with pytest.raises(TypeError):
            uipc.splice(ar, aw, "1")  # type: ignore[arg-type]
        with pytest.raises(ValueError):
            uipc.splice(ar, aw, 1 << 64)
        assert uipc.read(ar, 10) == b"data"  # nothing of it moved
        assert (uipc.SPLICE_F_MOVE, uipc.SPLICE_F_NONBLOCK, uipc.SPLICE_F_MORE,
                uipc.SPLICE_F_GIFT) == (os.SPLICE_F_MOVE, os.SPLICE_F_NONBLOCK,
                                        os.SPLICE_F_MORE, 8)
    finally:
        close_all(ar, aw, efd)


@needs_root
def test_another_process_cannot_splice_descriptors_it_does_not_hold(ns: str) -> None:
    """The daemon names files by inode in each process's own table: a
    process (uid 65534) that closed its inherited copies and forges the
    inodes in raw requests gets EBADF, and nothing moves."""
    from uipc import protocol as P
    from uipc.client.connection import call
    from uipc.client.files import fd_inode

    ar, aw = uipc.pipe2(os.O_NONBLOCK)
    br, bw = uipc.pipe2(os.O_NONBLOCK)
    inos = [fd_inode(fd) for fd in (ar, aw, br, bw)]
    try:
        uipc.write(aw, b"secret")

        def attacker() -> list[int]:
            close_all(ar, aw, br, bw)
            ia, _, _, ib = inos
            out = []
            for op, args in (("splice", (ia, 1, 0, ib, 1, 0, 100, 0)),
                             ("tee", (ia, ib, 100, 0))):
                try:
                    call(P.OPS_BY_NAME[op], args)
                    out.append(0)
                except OSError as exc:
                    out.append(exc.errno)
            return out
        assert as_nobody(attacker) == [errno.EBADF, errno.EBADF]
        assert errno_of(lambda: uipc.read(br, 10)) == errno.EAGAIN
        assert uipc.read(ar, 10) == b"secret"
    finally:
        close_all(ar, aw, br, bw)
