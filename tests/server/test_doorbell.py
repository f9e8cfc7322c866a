"""uipc.server.doorbell: readiness the daemon sets, closes the daemon learns of.

Real pipes, a real inotify instance and real processes; no daemon.  The test
process plays both sides: the fd create() returns stands for the client's
(the daemon's sending copy, once "sent", is the same open file).  An event
is waited for by polling the inotify fd with a deadline; the absence of one
is checked right after the close that must not produce it, which is enough
because the last fput runs before close(2) or exit returns (task work).
"""
from __future__ import annotations

import asyncio
import errno
import fcntl
import itertools
import os
import resource
import select
import socket
import time
from typing import Callable, Iterator

import pytest

from tests.helpers import Child
from uipc.server import doorbell
from uipc.server.doorbell import PAGE_SIZE, Doorbells

POLLIN, POLLOUT = select.POLLIN, select.POLLOUT
EMPTY, PARTIAL, FULL = POLLOUT, POLLIN | POLLOUT, POLLIN
LEVELS = (EMPTY, PARTIAL, FULL)


def open_fds() -> set[int]:
    """The process's open descriptors (without the one listing them)."""
    fds = set()
    for name in os.listdir("/proc/self/fd"):
        try:
            os.fstat(int(name))
        except OSError:
            continue  # listdir's own directory fd, closed by now
        fds.add(int(name))
    return fds


def ready(fd: int) -> int:
    """What poll(2) says of fd right now (POLLIN/POLLOUT only)."""
    p = select.poll()
    p.register(fd, POLLIN | POLLOUT)
    return sum(ev for _, ev in p.poll(0)) & (POLLIN | POLLOUT)


class Bells:
    """A Doorbells and the inos its on_closed was called with."""

    def __init__(self) -> None:
        self.closed: list[int] = []
        self.d = Doorbells(self.closed.append)

    def pending(self) -> bool:
        return bool(select.select([self.d.fd], [], [], 0)[0])

    def wait_closed(self, ino: int, timeout: float = 10.0) -> None:
        """Poll the inotify fd until on_closed(ino) has run."""
        deadline = time.monotonic() + timeout
        while ino not in self.closed:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no close event for doorbell {ino}")
            select.select([self.d.fd], [], [], left)
            self.d.drain_events()

    def assert_no_event(self) -> None:
        assert not self.pending()
        self.d.drain_events()
        assert self.closed == []


@pytest.fixture
def bells() -> Iterator[Bells]:
    """A Bells; afterwards every descriptor the test made must be closed."""
    before = open_fds()
    b = Bells()
    try:
        yield b
    finally:
        b.d.close()
    assert open_fds() == before, "descriptors left open"


# -- identity and readiness ----------------------------------------------------

def test_create_is_an_empty_queue_named_by_its_inode(bells: Bells) -> None:
    c1, ino1 = bells.d.create()
    c2, ino2 = bells.d.create()
    try:
        assert (ino1, ino2) == (os.fstat(c1).st_ino, os.fstat(c2).st_ino)
        assert ino1 != ino2 and len(bells.d) == 2
        assert ready(c1) == ready(c2) == EMPTY
    finally:
        os.close(c1)
        os.close(c2)


@pytest.mark.parametrize("level", LEVELS, ids=["empty", "partly-full", "full"])
def test_each_level_polls_as_the_queue_would(bells: Bells, level: int) -> None:
    """poll, select and epoll on the client's fd all see mqueue_poll_file's answer."""
    client, ino = bells.d.create()
    try:
        bells.d.set(ino, level)
        assert ready(client) == level
        r, w, _ = select.select([client], [client], [], 0)
        assert (bool(r), bool(w)) == (bool(level & POLLIN), bool(level & POLLOUT))
        ep = select.epoll()
        try:
            ep.register(client, select.EPOLLIN | select.EPOLLOUT)
            [(_, ev)] = ep.poll(0)
            assert ev & (select.EPOLLIN | select.EPOLLOUT) == level
        finally:
            ep.close()
    finally:
        os.close(client)


def test_transitions_in_every_order(bells: Bells) -> None:
    client, ino = bells.d.create()
    try:
        for a, b in itertools.product(LEVELS, repeat=2):
            bells.d.set(ino, a)
            assert ready(client) == a, (a, b)
            bells.d.set(ino, b)
            assert ready(client) == b, (a, b)
    finally:
        os.close(client)


def _read_all(fd: int) -> None:
    try:
        while os.read(fd, 65536):
            pass
    except BlockingIOError:
        pass


def _writer(n: int) -> Callable[[int], None]:
    def write(fd: int) -> None:
        try:
            os.write(fd, bytes(n))
        except BlockingIOError:
            pass
    write.__name__ = f"write_{n}"
    return write


def _resizer(size: int) -> Callable[[int], None]:
    def resize(fd: int) -> None:
        try:
            fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, size)
        except OSError:
            pass  # EBUSY: what is in the pipe does not fit
    resize.__name__ = f"resize_{size}"
    return resize


def _shrink_and_write(fd: int) -> None:
    """One slot, and a byte in it: the drain sees the byte and restores the size."""
    _resizer(PAGE_SIZE)(fd)
    _writer(1)(fd)


#: what a hostile client can do to its own doorbell
MEDDLES = [_read_all, _writer(1), _writer(PAGE_SIZE), _writer(PAGE_SIZE + 1),
           _writer(2 * PAGE_SIZE), _resizer(16 * PAGE_SIZE), _shrink_and_write]


@pytest.mark.parametrize("meddle", MEDDLES, ids=lambda m: m.__name__)
def test_a_client_meddling_with_its_fd_is_undone_by_the_next_change(
        bells: Bells, meddle: Callable[[int], None]) -> None:
    client, ino = bells.d.create()
    try:
        for a, b in itertools.permutations(LEVELS, 2):
            bells.d.set(ino, a)
            meddle(client)
            bells.d.set(ino, b)
            assert ready(client) == b, (meddle.__name__, a, b)
    finally:
        os.close(client)


def test_a_client_shrinking_its_pipe_is_undone_by_the_next_fill(bells: Bells) -> None:
    """One slot left: the next set(FULL) sees a short fill and restores two, so
    every level is right again (the documented late case is only PARTIAL before it)."""
    client, ino = bells.d.create()
    try:
        fcntl.fcntl(client, fcntl.F_SETPIPE_SZ, PAGE_SIZE)
        bells.d.set(ino, FULL)
        assert ready(client) == FULL
        assert fcntl.fcntl(client, fcntl.F_GETPIPE_SZ) == 2 * PAGE_SIZE
        for level in (PARTIAL, EMPTY, PARTIAL):
            bells.d.set(ino, level)
            assert ready(client) == level
    finally:
        os.close(client)


def test_set_refuses_a_mask_no_queue_has_and_ignores_unknown_doorbells(bells: Bells) -> None:
    client, ino = bells.d.create()
    try:
        with pytest.raises(ValueError):
            bells.d.set(ino, 0)
        bells.d.set(ino + 10**9, FULL)  # not ours: nothing happens
        assert ready(client) == EMPTY
    finally:
        os.close(client)


def test_asyncio_add_reader_fires_after_set_pollin(bells: Bells) -> None:
    client, ino = bells.d.create()
    loop = asyncio.new_event_loop()
    try:
        fired = loop.create_future()
        loop.add_reader(client, lambda: fired.done() or fired.set_result(True))
        loop.run_until_complete(asyncio.sleep(0))  # one turn: the fd is not readable yet
        assert not fired.done()
        loop.call_soon(bells.d.set, ino, PARTIAL)
        assert loop.run_until_complete(asyncio.wait_for(fired, 10)) is True
        loop.remove_reader(client)
    finally:
        loop.close()
        os.close(client)


# -- close detection ---------------------------------------------------------

def test_close_is_reported_once(bells: Bells) -> None:
    client, ino = bells.d.create()
    bells.assert_no_event()
    os.close(client)
    bells.wait_closed(ino)
    assert bells.closed == [ino] and len(bells.d) == 0
    bells.d.release(ino)  # the daemon's own release afterwards is harmless
    bells.d.drain_events()
    assert bells.closed == [ino]


def _fork_holding(gate_r: int) -> int:
    """A child that keeps every inherited fd until ``gate_r`` is written, then exits."""
    pid = os.fork()
    if pid == 0:
        try:
            select.select([gate_r], [], [], 30)
        finally:
            os._exit(0)
    return pid


def test_a_forked_child_holding_it_delays_the_event_to_its_exit(bells: Bells) -> None:
    client, ino = bells.d.create()
    gate_r, gate_w = os.pipe()
    pid = _fork_holding(gate_r)
    try:
        os.close(client)
        bells.assert_no_event()  # the child's reference is the last one
    finally:
        os.write(gate_w, b"x")
        os.waitpid(pid, 0)
        os.close(gate_r)
        os.close(gate_w)
    bells.wait_closed(ino)
    assert bells.closed == [ino]


def test_exec_with_cloexec_is_a_close(bells: Bells) -> None:
    """The client's fd is O_CLOEXEC here: exec drops it while the process lives on."""
    client, ino = bells.d.create()
    gate_r, gate_w = os.pipe()
    stdin_r, stdin_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            select.select([gate_r], [], [], 30)
            os.dup2(stdin_r, 0)
            os.execv("/bin/cat", ["cat"])  # blocks reading stdin_r
        finally:
            os._exit(127)
    try:
        os.close(client)
        bells.assert_no_event()
        os.write(gate_w, b"x")
        bells.wait_closed(ino)
        assert os.waitpid(pid, os.WNOHANG) == (0, 0), "cat should still be running"
    finally:
        for fd in (stdin_w, stdin_r, gate_r, gate_w):
            os.close(fd)
        os.waitpid(pid, 0)


def test_client_closing_before_the_sender_makes_the_senders_close_the_event(
        bells: Bells) -> None:
    """The client receives the fd over SCM_RIGHTS and closes it at once; the
    daemon's sending copy is then the last reference, and its close counts."""
    client, ino = bells.d.create()
    ours, theirs = socket.socketpair()

    def receive_and_close() -> bool:
        ours.close()
        _, fds, _, _ = socket.recv_fds(theirs, 16, 1)
        os.close(fds[0])
        return True
    child = Child(receive_and_close)
    theirs.close()
    try:
        socket.send_fds(ours, [b"x"], [client])
        assert child.result() is True
        bells.assert_no_event()
    finally:
        ours.close()
    os.close(client)  # the sender's close, after the client's
    bells.wait_closed(ino)


def test_a_message_never_received_is_a_close(bells: Bells) -> None:
    """An fd in flight is a reference; purging the unread message drops it."""
    client, ino = bells.d.create()
    ours, theirs = socket.socketpair()
    try:
        socket.send_fds(ours, [b"x"], [client])
        os.close(client)
        bells.assert_no_event()  # the message holds it
    finally:
        ours.close()
        theirs.close()
    bells.wait_closed(ino)


def test_released_doorbell_reports_nothing(bells: Bells) -> None:
    client, ino = bells.d.create()
    bells.d.release(ino)
    bells.d.release(ino)  # idempotent
    assert len(bells.d) == 0
    os.close(client)
    bells.d.drain_events()  # the IN_IGNORED of the removed watch, nothing else
    assert bells.closed == [] and not bells.pending()
    bells.d.set(ino, FULL)  # a released doorbell is an unknown one


def test_close_releases_everything(bells: Bells) -> None:
    made = [bells.d.create() for _ in range(3)]
    bells.d.close()
    bells.d.close()
    for client, _ in made:
        os.close(client)
    assert bells.closed == []


def test_on_closed_errors_do_not_lose_the_other_closes() -> None:
    seen: list[int] = []

    def on_closed(ino: int) -> None:
        seen.append(ino)
        raise RuntimeError("daemon bug")
    d = Doorbells(on_closed)
    try:
        made = [d.create() for _ in range(2)]
        for client, _ in made:
            os.close(client)
        deadline = time.monotonic() + 10
        while len(seen) < 2 and time.monotonic() < deadline:
            select.select([d.fd], [], [], 1)
            with pytest.raises(RuntimeError):
                d.drain_events()
        assert sorted(seen) == sorted(ino for _, ino in made) and len(d) == 0
    finally:
        d.close()


# -- descriptor exhaustion -----------------------------------------------------

def _limit_leaving(free: int) -> int:
    """The RLIMIT_NOFILE that leaves exactly ``free`` descriptor numbers unused."""
    used = open_fds()
    limit = 0
    while limit - len([fd for fd in used if fd < limit]) < free or limit in used:
        limit += 1
    return limit


def test_emfile_during_create_leaves_no_descriptor() -> None:
    """In a child with RLIMIT_NOFILE lowered so that 0..5 descriptors are free."""
    def run() -> list[tuple[int, object, bool]]:
        d = Doorbells(lambda ino: None)
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        before = open_fds()
        out: list[tuple[int, object, bool]] = []
        for free in range(6):
            resource.setrlimit(resource.RLIMIT_NOFILE, (_limit_leaving(free), hard))
            try:
                client, ino = d.create()
                outcome: object = "ok"
            except OSError as exc:
                client, outcome = -1, exc.errno
            finally:
                resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
            if client >= 0:
                d.release(ino)
                os.close(client)
            out.append((free, outcome, open_fds() == before))
        d.close()
        return out
    results = Child(run).result()
    # pipe2 needs two, then client and ctl one each: at most three at once
    assert [r[1] for r in results] == [errno.EMFILE] * 3 + ["ok"] * 3, results
    assert all(r[2] for r in results), results


def test_a_failed_watch_leaves_no_descriptor(bells: Bells, monkeypatch) -> None:
    def no_watch(self: Doorbells, ctl: int) -> int:
        raise OSError(errno.ENOSPC, "fs.inotify.max_user_watches")
    monkeypatch.setattr(Doorbells, "_add_watch", no_watch)
    with pytest.raises(OSError) as exc:
        bells.d.create()
    assert exc.value.errno == errno.ENOSPC and len(bells.d) == 0


def test_watch_limit_is_the_sysctl() -> None:
    with open("/proc/sys/fs/inotify/max_user_watches") as f:
        assert doorbell.watch_limit() == int(f.read())


# -- inotify queue overflow ----------------------------------------------------

def _max_queued_events() -> int:
    with open("/proc/sys/fs/inotify/max_queued_events") as f:
        return int(f.read())


@pytest.mark.skipif(_max_queued_events() + 64 > resource.getrlimit(resource.RLIMIT_NOFILE)[1],
                    reason="needs more descriptors than fs.inotify.max_queued_events")
def test_overflow_finds_the_lost_closes_and_keeps_the_held_ones() -> None:
    """More closes than the inotify queue holds: the one whose event was dropped
    is found by its flock, the two still held are not reported."""
    def run() -> dict[str, object]:
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        b = Bells()
        probes: list[bool] = []
        probe = b.d._probe_all
        b.d._probe_all = lambda overflow: probes.append(overflow) or probe(overflow)
        held = [b.d.create() for _ in range(2)]
        gone = []
        for _ in range(_max_queued_events() + 1):
            client, ino = b.d.create()
            os.close(client)
            gone.append(ino)
        b.d.drain_events()
        out = {"probes": list(probes), "all_gone_found": sorted(b.closed) == sorted(gone),
               "left": len(b.d)}
        os.close(held[0][0])  # the queue works again, and the recheck runs once
        b.wait_closed(held[0][1])
        out["after"] = (list(probes), b.closed[-1] == held[0][1], len(b.d))
        os.close(held[1][0])
        b.d.close()
        return out
    got = Child(run).result(timeout=120)
    assert got == {"probes": [True], "all_gone_found": True, "left": 2,
                   "after": ([True, False], True, 1)}
