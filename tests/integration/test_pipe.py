"""uipc pipes and FIFOs with the real daemon and real processes: streams
across fork, PIPE_BUF atomicity among concurrent writers, EOF/EPIPE and
SIGPIPE, non-blocking partial writes, FIFO rendezvous, select/poll/asyncio
readiness of the real descriptors, F_SETPIPE_SZ and the fs.pipe-* limits,
dup and fork sharing one open file, exec and kill -9 closing descriptors,
and another uid kept out of a private FIFO."""
from __future__ import annotations

import asyncio
import errno
import hashlib
import os
import select
import signal
import struct
import sys
import time
from typing import Any, Callable

import pytest

import uipc
from tests.conformance.harness import wait_for
from tests.helpers import Child, as_nobody, close_all, errno_of, read_all, read_all_now

MiB = 1 << 20
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="setuid children need root")
PAGE = 4096


def waits(pid: int) -> list[str]:
    """What the process's threads sleep in, as the daemon sees it."""
    return [w["op"] for p in uipc.introspect.namespace()["process_details"] if p["pid"] == pid
            for w in p["waits"] or []]


def forked(fn: Callable[[], Any]) -> Child:
    """Child(fn): fork returns in the parent only after the child has told
    the daemon of its fork (uipc.client.connection's fork handshake)."""
    return Child(fn)


def test_parent_closing_its_end_right_after_fork_leaves_the_childs(ns: str) -> None:
    """Linux copies the descriptor table at fork: the parent closing its end
    at once (the usual pipe idiom) does not close the child's copy."""
    r, w = uipc.pipe2()

    def child() -> bytes:
        uipc.close(r)
        uipc.write(w, b"from the child")
        uipc.close(w)
        return b""
    kid = Child(child)
    uipc.close(w)  # before the child has run at all
    data = b""
    while True:
        chunk = uipc.read(r, 100)
        if not chunk:
            break
        data += chunk
    kid.result()
    uipc.close(r)
    assert data == b"from the child"


def readable(fd: int, timeout: float = 0) -> bool:
    return select.select([fd], [], [], timeout)[0] == [fd]


def writable(fd: int, timeout: float = 0) -> bool:
    return select.select([], [fd], [], timeout)[1] == [fd]






# --- streams and atomicity ----------------------------------------------------------
def test_a_mebibyte_streams_from_parent_to_forked_child(ns: str) -> None:
    """One blocking write of 1 MiB (sixteen pipefuls) into a 64 KiB pipe, read
    by a forked child until EOF: the same bytes, in order."""
    data = os.urandom(MiB)
    r, w = uipc.pipe2()

    def reader() -> tuple[int, str]:
        uipc.close(w)  # the child's copy: else its own writer keeps EOF away
        got = read_all(r)
        return len(got), hashlib.sha256(got).hexdigest()
    child = forked(reader)
    try:
        start = time.perf_counter()
        assert uipc.write(w, data) == MiB
        uipc.close(w)
        n, digest = child.result(timeout=60)
        elapsed = time.perf_counter() - start
    finally:
        close_all(r)
    assert (n, digest) == (MiB, hashlib.sha256(data).hexdigest())
    print(f"1 MiB through a uipc pipe in {elapsed * 1e3:.1f} ms ({MiB / elapsed / 1e6:.1f} MB/s)")


RECORD = struct.Struct("<II")  # writer, sequence number; repeated to fill PIPE_BUF bytes


def record(writer: int, seq: int) -> bytes:
    return RECORD.pack(writer, seq) * (uipc.PIPE_BUF // RECORD.size)


def test_pipe_buf_writes_of_four_processes_never_interleave(ns: str) -> None:
    """Four processes write 4096-byte records concurrently into one pipe that
    is often full: the stream is whole records, each writer's in order."""
    per_writer = 300
    r, w = uipc.pipe2()

    def writer(i: int) -> int:
        uipc.close(r)
        for seq in range(per_writer):
            assert uipc.write(w, record(i, seq)) == uipc.PIPE_BUF
        return per_writer
    children = [forked(lambda i=i: writer(i)) for i in range(4)]
    try:
        uipc.close(w)
        stream = read_all(r)
        assert [c.result(timeout=60) for c in children] == [per_writer] * 4
    finally:
        close_all(r)
    assert len(stream) == 4 * per_writer * uipc.PIPE_BUF
    seen: dict[int, list[int]] = {i: [] for i in range(4)}
    for off in range(0, len(stream), uipc.PIPE_BUF):
        block = stream[off:off + uipc.PIPE_BUF]
        who, seq = RECORD.unpack_from(block)
        assert block == record(who, seq), f"record at {off} is torn"
        seen[who].append(seq)
    assert all(seqs == list(range(per_writer)) for seqs in seen.values())


# --- EOF, EPIPE, SIGPIPE, non-blocking --------------------------------------------------
def test_eof_when_the_last_writer_goes_and_a_blocked_reader_wakes(ns: str) -> None:
    r, w = uipc.pipe2()
    try:
        reader = forked(lambda: (uipc.close(w), uipc.read(r, 10), uipc.read(r, 10))[1:])
        wait_for(lambda: waits(reader.pid) == ["pipe read"], "the reader asleep")
        uipc.write(w, b"bye")
        wait_for(lambda: waits(reader.pid) == ["pipe read"], "the reader asleep again")
        uipc.close(w)
        assert reader.result() == (b"bye", b"")
    finally:
        close_all(r)


def test_epipe_and_a_real_sigpipe_for_the_writer(ns: str) -> None:
    def writer() -> tuple[int, int, int, int]:
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGPIPE})
        r, w = uipc.pipe2()
        uipc.close(r)
        err = errno_of(lambda: uipc.write(w, b"into the void"))
        info = signal.sigtimedwait({signal.SIGPIPE}, 10)
        assert info is not None, "no SIGPIPE"
        uipc.close(w)
        return err, info.si_signo, info.si_code, info.si_pid
    child = Child(writer)
    err, signo, code, pid = child.result()
    # SI_QUEUE, not Linux's SI_USER: pidfd_send_signal takes no SI_USER (docs/deviations.md)
    assert (err, signo, code, pid) == (errno.EPIPE, signal.SIGPIPE, -1, child.pid)


def test_nonblocking_writes_are_partial_then_eagain(ns: str) -> None:
    r, w = uipc.pipe2(os.O_NONBLOCK)
    try:
        assert uipc.write(w, b"a" * 100_000) == 65536  # partial: what the ring holds
        assert errno_of(lambda: uipc.write(w, b"b")) == errno.EAGAIN
        assert len(uipc.read(r, 5000)) == 5000  # one slot freed, another partly
        assert uipc.write(w, b"c" * 10_000) == 4096  # only the freed slot: whole pages
        assert len(read_all_now(r)) == 65536 - 5000 + 4096
        assert errno_of(lambda: uipc.read(r, 1)) == errno.EAGAIN
    finally:
        close_all(r, w)




# --- readiness of the real descriptors ---------------------------------------------------
def test_select_poll_and_asyncio_see_each_end(ns: str) -> None:
    r, w = uipc.pipe2()
    try:
        assert not readable(r) and writable(w)
        writer = Child(lambda: uipc.write(w, b"x"))
        assert readable(r, 10)  # another process's write
        writer.result()
        p = select.poll()
        p.register(r, select.POLLIN)
        assert p.poll(0) == [(r, select.POLLIN)]
        assert uipc.poll([(r, select.POLLIN | select.POLLRDNORM), (w, select.POLLOUT)], 0) == [
            (r, select.POLLIN | select.POLLRDNORM), (w, select.POLLOUT)]
        uipc.fcntl(w, uipc.F_SETFL, os.O_NONBLOCK)
        while errno_of(lambda: uipc.write(w, b"y" * PAGE)) != errno.EAGAIN:
            pass
        assert not writable(w)  # full: not writable, as on Linux
        assert uipc.poll([(w, select.POLLOUT)], 0) == []
        read_all_nonblocking_until(r, 2 * PAGE)
        assert writable(w)

        async def woken() -> bytes:
            loop = asyncio.get_running_loop()
            ready: asyncio.Future[None] = loop.create_future()
            loop.add_reader(r, lambda: ready.done() or ready.set_result(None))
            try:
                await asyncio.wait_for(ready, 10)
            finally:
                loop.remove_reader(r)
            return uipc.read(r, 10)
        uipc.fcntl(r, uipc.F_SETFL, os.O_NONBLOCK)
        read_all_now(r)
        assert not readable(r)
        late = Child(lambda: uipc.write(w, b"late"))
        assert asyncio.run(woken()) == b"late"
        late.result()
        uipc.close(w)
        assert readable(r)  # the hang-up reads as EOF, as select shows it
        assert uipc.read(r, 10) == b""
        assert uipc.poll([(r, select.POLLIN)], 0) == [(r, select.POLLHUP)]
    finally:
        close_all(r, w)


def read_all_nonblocking_until(fd: int, n: int) -> None:
    uipc.fcntl(fd, uipc.F_SETFL, os.O_NONBLOCK)
    got = 0
    while got < n:
        got += len(uipc.read(fd, n - got))
    uipc.fcntl(fd, uipc.F_SETFL, 0)


# --- F_SETPIPE_SZ and the limits ---------------------------------------------------------
def _capable_sys_resource() -> bool:
    with open("/proc/self/status") as f:
        caps = next(int(line.split()[1], 16) for line in f if line.startswith("CapEff:"))
    return bool(caps >> 24 & 1)


@needs_root
def test_setpipe_sz_rules(ns: str) -> None:
    def rules() -> list[int | str]:
        r, w = uipc.pipe2(os.O_NONBLOCK)
        out: list[int | str] = []
        for size in (5000, MiB, 2 * MiB):
            try:
                out.append(uipc.fcntl(w, uipc.F_SETPIPE_SZ, size))
            except OSError as exc:
                out.append(errno.errorcode[exc.errno])
        uipc.write(w, b"z" * (3 * PAGE))
        out.append(errno.errorcode[errno_of(lambda: uipc.fcntl(r, uipc.F_SETPIPE_SZ, PAGE))])
        out.append(uipc.fcntl(r, uipc.F_GETPIPE_SZ))
        close_all(r, w)
        return out
    assert as_nobody(rules) == [8192, MiB, "EPERM", "EBUSY", MiB]
    # root: over fs.pipe-max-size only with CAP_SYS_RESOURCE, which root may lack here
    mine = rules()
    assert mine[2] == (2 * MiB if _capable_sys_resource() else "EPERM")


@needs_root
def test_pipe_user_pages_limits_bind_an_unprivileged_user(ns: str) -> None:
    uipc.sysctl.set("fs.pipe-user-pages-soft", 16)
    uipc.sysctl.set("fs.pipe-user-pages-hard", 19)

    def pipes() -> list[int | str]:
        out: list[int | str] = []
        held = []
        for _ in range(3):
            try:
                r, w = uipc.pipe2()
            except OSError as exc:
                out.append(errno.errorcode[exc.errno])
                continue
            held += [r, w]
            out.append(uipc.fcntl(r, uipc.F_GETPIPE_SZ))
        close_all(*held)
        return out
    # 16 pages; then 2 past the soft limit (18); then 20 > 19: refused
    assert as_nobody(pipes) == [65536, 8192, "ENFILE"]
    assert pipes() == [65536] * 3  # root (CAP_SYS_ADMIN) is exempt
    # the limits are the namespace's: its creator's (root's) to set
    assert as_nobody(lambda: errno_of(lambda: uipc.sysctl.set("fs.pipe-max-size", 4096))) == \
        errno.EACCES


# --- dup, fork, exec, kill -9 ---------------------------------------------------------------
def test_dup_and_fork_share_the_open_file_and_its_o_nonblock(ns: str) -> None:
    r, w = uipc.pipe2()
    d = uipc.dup(r)
    try:
        assert d != r and os.get_inheritable(d)  # dup(2) leaves FD_CLOEXEC clear
        uipc.fcntl(d, uipc.F_SETFL, os.O_NONBLOCK)
        assert uipc.fcntl(r, uipc.F_GETFL) & os.O_NONBLOCK
        assert errno_of(lambda: uipc.read(r, 1)) == errno.EAGAIN
        flags = Child(lambda: (uipc.fcntl(r, uipc.F_SETFL, 0), uipc.fcntl(r, uipc.F_GETFL))[1])
        assert flags.result() == os.O_RDONLY  # the child cleared it, for everyone
        assert uipc.fcntl(d, uipc.F_GETFL) == os.O_RDONLY
        uipc.close(r)
        uipc.write(w, b"via the dup")
        assert uipc.read(d, 100) == b"via the dup"
        assert errno_of(lambda: uipc.dup(0)) == errno.EBADF  # not a uipc descriptor
    finally:
        close_all(d, w, r)


def _exec_sleeper() -> Child:
    """A child that execs a program that sleeps, keeping what exec keeps."""
    return forked(lambda: os.execv(sys.executable, [sys.executable, "-c",
                                                    "import time; time.sleep(60)"]))


def tasks(pid: int) -> int | None:
    """The daemon's count of the process's threads (0 once it exec'd: its
    connections were close-on-exec); None if it is unknown."""
    return next((p["tasks"] for p in uipc.introspect.namespace()["process_details"]
                 if p["pid"] == pid), None)


@pytest.mark.parametrize("cloexec", [True, False])
def test_exec_closes_o_cloexec_ends_and_kill_9_closes_the_rest(ns: str, cloexec: bool) -> None:
    """A child inherits the write end and execs: with O_CLOEXEC the exec
    closes it (the reader sees EOF while the child lives on); without it the
    new image keeps it until kill -9."""
    r, w = uipc.pipe2(os.O_CLOEXEC if cloexec else 0)
    try:
        child = _exec_sleeper()
        uipc.close(w)
        uipc.fcntl(r, uipc.F_SETFL, os.O_NONBLOCK)
        wait_for(lambda: _exec_done(child.pid) and tasks(child.pid) == 0,
                 "the child's exec, seen by the daemon")
        if cloexec:
            wait_for(lambda: read_or_eagain(r) == b"", "EOF after the exec")
            assert os.waitpid(child.pid, os.WNOHANG) == (0, 0)  # still alive
        else:
            assert read_or_eagain(r) is None  # the exec'd image still holds the write end
        child.kill(signal.SIGKILL)
        wait_for(lambda: read_or_eagain(r) == b"", "EOF after kill -9")
    finally:
        close_all(r)


def _exec_done(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return b"time.sleep(60)" in f.read()
    except OSError:
        return False


def read_or_eagain(fd: int) -> bytes | None:
    try:
        return uipc.read(fd, 10)
    except BlockingIOError:
        return None


# --- FIFOs ------------------------------------------------------------------------------------
def test_fifo_rendezvous_between_two_processes(ns: str) -> None:
    uipc.mkfifo("/rendezvous", 0o600)
    try:
        assert not os.path.exists("/rendezvous") and not os.path.exists("/dev/shm/rendezvous")
        assert errno_of(lambda: uipc.open("/rendezvous", os.O_WRONLY | os.O_NONBLOCK)) == \
            errno.ENXIO  # no reader yet

        def reader() -> bytes:
            fd = uipc.open("/rendezvous", os.O_RDONLY)  # waits for a writer
            try:
                return read_all(fd)
            finally:
                uipc.close(fd)
        child = Child(reader)
        wait_for(lambda: waits(child.pid) == ["fifo open"], "the reader waiting for a writer")
        w = uipc.open("/rendezvous", os.O_WRONLY | os.O_NONBLOCK)  # a reader is there now
        uipc.write(w, b"met")
        uipc.close(w)
        assert child.result() == b"met"

        def writer() -> int:
            fd = uipc.open("/rendezvous", os.O_WRONLY)  # waits for a reader
            try:
                return uipc.write(fd, b"the other way")
            finally:
                uipc.close(fd)
        child = Child(writer)
        wait_for(lambda: waits(child.pid) == ["fifo open"], "the writer waiting for a reader")
        r = uipc.open("/rendezvous", os.O_RDONLY)
        try:
            assert child.result() == 13
            assert read_all(r) == b"the other way"
        finally:
            uipc.close(r)
    finally:
        uipc.unlink("/rendezvous")


def test_a_killed_fifo_opener_leaves_no_reader(ns: str) -> None:
    uipc.mkfifo("/f", 0o600)
    try:
        child = Child(lambda: uipc.open("/f", os.O_RDONLY))
        wait_for(lambda: waits(child.pid) == ["fifo open"], "the reader waiting")
        w = uipc.open("/f", os.O_WRONLY | os.O_NONBLOCK)
        uipc.close(w)
        # the child took the writer and returned; now one that dies waiting
        child.result()
        child = Child(lambda: uipc.open("/f", os.O_RDONLY))
        wait_for(lambda: waits(child.pid) == ["fifo open"], "the reader waiting again")
        child.kill(signal.SIGKILL)
        wait_for(lambda: errno_of(lambda: close_all(uipc.open("/f", os.O_WRONLY | os.O_NONBLOCK)))
                 == errno.ENXIO, "the killed reader gone")
    finally:
        uipc.unlink("/f")


@needs_root
def test_another_uid_cannot_open_roots_private_fifo(ns: str) -> None:
    old = os.umask(0o022)
    try:
        uipc.mkfifo("/private", 0o600)
        uipc.mkfifo("/shared", 0o666)  # 0644 after the umask
    finally:
        os.umask(old)
    try:
        def attempts() -> list[int]:
            out = []
            for path, flags in (("/private", os.O_RDONLY), ("/private", os.O_WRONLY),
                                ("/shared", os.O_WRONLY), ("/shared", os.O_RDONLY)):
                try:
                    uipc.close(uipc.open(path, flags | os.O_NONBLOCK))
                    out.append(0)
                except OSError as exc:
                    out.append(exc.errno)
            out.append(errno_of(lambda: uipc.unlink("/shared")))
            return out
        # uid 65534: neither end of root's 0600 FIFO, only reading the 0644 one,
        # and no unlinking root's FIFO in the sticky directory
        assert as_nobody(attempts) == [errno.EACCES, errno.EACCES, errno.EACCES, 0,
                                       errno.EPERM]
    finally:
        uipc.unlink("/private")
        uipc.unlink("/shared")
