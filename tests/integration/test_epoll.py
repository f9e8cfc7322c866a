"""uipc.epoll_* and uipc.aread/awrite with the real daemon and real processes:
an epoll over an eventfd, a timerfd and a POSIX queue; a blocked
epoll_wait woken by another process; the epoll descriptor itself in
select and asyncio; edge-triggered and one-shot items; a target released
by os.close; aread/awrite on the event loop, cancellation included."""
from __future__ import annotations

import asyncio
import errno
import os
import select
import struct

import pytest

import uipc
from tests.conftest import wait_until
from tests.helpers import Child, errno_of
from uipc.client import aio_files

U64 = struct.Struct("<Q")


def waits(pid: int) -> list[str]:
    """What the process's threads sleep in, as the daemon sees it."""
    return [w["op"] for p in uipc.introspect.namespace()["process_details"] if p["pid"] == pid
            for w in p["waits"] or []]


def readable(fd: int) -> bool:
    return select.select([fd], [], [], 0)[0] == [fd]


@pytest.fixture
def epfd(ns: str):
    fd = uipc.epoll_create1(uipc.EPOLL_CLOEXEC)
    yield fd
    uipc.close(fd)


def test_one_epoll_over_an_eventfd_a_timerfd_and_a_queue(ns: str, epfd: int) -> None:
    e = uipc.eventfd(0, uipc.EFD_NONBLOCK)
    t = uipc.timerfd_create(uipc.CLOCK_MONOTONIC, uipc.TFD_NONBLOCK)
    q = uipc.mq_open("/epoll-q", os.O_CREAT | os.O_RDWR, 0o600, uipc.MqAttr(mq_maxmsg=2,
                                                                            mq_msgsize=16))
    try:
        uipc.epoll_ctl(epfd, uipc.EPOLL_CTL_ADD, e, uipc.EPOLLIN, data=1)
        uipc.epoll_ctl(epfd, uipc.EPOLL_CTL_ADD, t, uipc.EPOLLIN, data=2)
        uipc.epoll_ctl(epfd, uipc.EPOLL_CTL_ADD, q, uipc.EPOLLIN | uipc.EPOLLOUT)  # data: q
        assert uipc.epoll_wait(epfd, -1, 0) == [(q, uipc.EPOLLOUT)]
        assert readable(epfd)  # an event is ready: the queue has room
        Child(lambda: uipc.mq_send(q, b"hi", 1)).result()
        Child(lambda: uipc.eventfd_write(e, 7)).result()
        got = dict(uipc.epoll_wait(epfd, -1, 0))
        assert got == {1: uipc.EPOLLIN, q: uipc.EPOLLIN | uipc.EPOLLOUT}
        uipc.epoll_ctl(epfd, uipc.EPOLL_CTL_MOD, q, uipc.EPOLLIN)
        assert uipc.eventfd_read(e) == 7
        assert uipc.mq_receive(q, 16) == (b"hi", 1)
        assert uipc.epoll_wait(epfd, -1, 0) == []
        assert not readable(epfd)
        uipc.timerfd_settime(t, 0, 0, 0.01)
        assert uipc.epoll_wait(epfd, -1, 10_000) == [(2, uipc.EPOLLIN)]  # asleep until it fires
        assert uipc.read(t, 8) == U64.pack(1)
        uipc.epoll_ctl(epfd, uipc.EPOLL_CTL_DEL, t)
        assert uipc.epoll_wait(epfd, -1, 0) == []
    finally:
        uipc.close(e)
        uipc.close(t)
        uipc.mq_close(q)
        uipc.mq_unlink("/epoll-q")


def test_a_blocked_epoll_wait_is_woken_by_another_process(ns: str, epfd: int) -> None:
    e = uipc.eventfd(0)
    try:
        uipc.epoll_ctl(epfd, uipc.EPOLL_CTL_ADD, e, uipc.EPOLLIN, data=77)
        me = os.getpid()

        def writer() -> None:
            wait_until(lambda: waits(me) == ["epoll_wait"], what="the parent asleep in epoll_wait")
            uipc.eventfd_write(e, 1)
        child = Child(writer)
        assert uipc.epoll_wait(epfd, 8, -1) == [(77, uipc.EPOLLIN)]
        child.result()
    finally:
        uipc.close(e)


def test_a_fork_child_waits_on_the_shared_epoll(ns: str, epfd: int) -> None:
    """fork shares the epoll: the child's wait sees the parent's items."""
    e = uipc.eventfd(0, uipc.EFD_NONBLOCK)
    try:
        uipc.epoll_ctl(epfd, uipc.EPOLL_CTL_ADD, e, uipc.EPOLLIN | uipc.EPOLLET, data=5)
        child = Child(lambda: uipc.epoll_wait(epfd, -1, 30_000))
        wait_until(lambda: waits(child.pid) == ["epoll_wait"], what="the child asleep")
        uipc.eventfd_write(e, 2)
        assert child.result() == [(5, uipc.EPOLLIN)]
        assert uipc.epoll_wait(epfd, -1, 0) == []  # edge-triggered: the child had it
    finally:
        uipc.close(e)


def test_the_epoll_descriptor_in_select_and_asyncio(ns: str, epfd: int) -> None:
    e = uipc.eventfd(0, uipc.EFD_NONBLOCK)
    try:
        uipc.epoll_ctl(epfd, uipc.EPOLL_CTL_ADD, e, uipc.EPOLLIN)
        assert not readable(epfd)
        uipc.eventfd_write(e, 1)
        assert readable(epfd)
        uipc.eventfd_read(e)
        assert not readable(epfd)  # the read's wake-up brought the doorbell back

        async def woken() -> list[tuple[int, int]]:
            loop = asyncio.get_running_loop()
            ready: asyncio.Future[None] = loop.create_future()
            loop.add_reader(epfd, lambda: ready.done() or ready.set_result(None))
            try:
                child = Child(lambda: uipc.eventfd_write(e, 3))
                await asyncio.wait_for(ready, 10)
            finally:
                loop.remove_reader(epfd)
            child.result()
            return uipc.epoll_wait(epfd, -1, 0)
        assert asyncio.run(woken()) == [(e, uipc.EPOLLIN)]
        p = select.epoll()  # the kernel's epoll watching uipc's epoll
        try:
            p.register(epfd, select.EPOLLIN)
            assert p.poll(0) == [(epfd, select.EPOLLIN)]
        finally:
            p.close()
    finally:
        uipc.close(e)


def test_oneshot_and_mod_and_ctl_errors(ns: str, epfd: int) -> None:
    e = uipc.eventfd(1, uipc.EFD_NONBLOCK)
    try:
        uipc.epoll_ctl(epfd, uipc.EPOLL_CTL_ADD, e, uipc.EPOLLIN | uipc.EPOLLONESHOT)
        assert uipc.epoll_wait(epfd, -1, 0) == [(e, uipc.EPOLLIN)]
        assert uipc.epoll_wait(epfd, -1, 0) == []
        assert not readable(epfd)
        uipc.epoll_ctl(epfd, uipc.EPOLL_CTL_MOD, e, uipc.EPOLLIN, data=(1 << 64) - 1)
        assert uipc.epoll_wait(epfd, -1, 0) == [((1 << 64) - 1, uipc.EPOLLIN)]
        assert errno_of(lambda: uipc.epoll_ctl(epfd, uipc.EPOLL_CTL_ADD, e)) == errno.EEXIST
        assert errno_of(lambda: uipc.epoll_ctl(epfd, uipc.EPOLL_CTL_ADD, epfd)) == errno.EINVAL
        assert errno_of(lambda: uipc.epoll_ctl(e, uipc.EPOLL_CTL_ADD, epfd)) == errno.EINVAL
        assert errno_of(lambda: uipc.epoll_ctl(epfd, uipc.EPOLL_CTL_ADD, 0)) == errno.EBADF
        assert errno_of(lambda: uipc.epoll_wait(epfd, 0, 0)) == errno.EINVAL
        assert errno_of(lambda: uipc.epoll_create1(1)) == errno.EINVAL
        uipc.epoll_ctl(epfd, uipc.EPOLL_CTL_DEL, e)
        assert errno_of(lambda: uipc.epoll_ctl(epfd, uipc.EPOLL_CTL_DEL, e)) == errno.ENOENT
        with pytest.raises(TypeError):
            uipc.epoll_ctl(epfd, uipc.EPOLL_CTL_ADD, e, "IN")  # type: ignore[arg-type]
    finally:
        uipc.close(e)


def test_os_close_of_a_target_removes_it(ns: str, epfd: int) -> None:
    """The daemon hears of a plain close(2) of the last descriptor (the
    doorbell's inotify): the file is released and leaves the epoll."""
    e = uipc.eventfd(1)
    uipc.epoll_ctl(epfd, uipc.EPOLL_CTL_ADD, e, uipc.EPOLLIN)
    assert uipc.epoll_wait(epfd, -1, 0) == [(e, uipc.EPOLLIN)]
    os.close(e)
    wait_until(lambda: uipc.epoll_wait(epfd, -1, 0) == [], what="the closed eventfd gone")
    assert not readable(epfd)


def test_nested_epolls(ns: str, epfd: int) -> None:
    inner = uipc.epoll_create1()
    e = uipc.eventfd(0, uipc.EFD_NONBLOCK)
    try:
        uipc.epoll_ctl(inner, uipc.EPOLL_CTL_ADD, e, uipc.EPOLLIN)
        uipc.epoll_ctl(epfd, uipc.EPOLL_CTL_ADD, inner, uipc.EPOLLIN)
        assert errno_of(lambda: uipc.epoll_ctl(inner, uipc.EPOLL_CTL_ADD, epfd)) == errno.ELOOP
        uipc.eventfd_write(e, 1)
        assert uipc.epoll_wait(epfd, -1, 0) == [(inner, uipc.EPOLLIN)]
        assert readable(epfd) and readable(inner)
    finally:
        uipc.close(e)
        uipc.close(inner)


# --- aread / awrite -------------------------------------------------------------------------
def _no_watches() -> bool:
    return not any(aio_files._watches.values())


def test_aread_waits_for_a_write_from_another_process(ns: str) -> None:
    """The coroutine waits on the descriptor itself: nothing sleeps in the
    daemon meanwhile; another process's write wakes it."""
    e = uipc.eventfd(0)
    go_r, go_w = os.pipe()

    def writer() -> None:
        assert select.select([go_r], [], [], 30)[0], "the parent never said go"
        uipc.eventfd_write(e, 9)

    async def main() -> bytes:
        task = asyncio.create_task(uipc.aread(e, 8))
        await asyncio.sleep(0)  # it runs up to its wait for readiness
        assert not task.done() and waits(os.getpid()) == []
        os.write(go_w, b"!")
        return await asyncio.wait_for(task, 30)
    try:
        child = Child(writer)
        assert asyncio.run(main()) == U64.pack(9)
        child.result()
        assert _no_watches()
    finally:
        os.close(go_r)
        os.close(go_w)
        uipc.close(e)


def test_awrite_waits_for_room(ns: str) -> None:
    e = uipc.eventfd((1 << 32) - 1, uipc.EFD_NONBLOCK)
    uipc.eventfd_write(e, (1 << 64) - 2 - ((1 << 32) - 1))  # full: ULLONG_MAX - 1

    async def main() -> int:
        task = asyncio.create_task(uipc.awrite(e, U64.pack(5)))
        await asyncio.sleep(0)
        assert not task.done()
        child = Child(lambda: uipc.eventfd_read(e))
        n = await asyncio.wait_for(task, 30)
        assert child.result() == (1 << 64) - 2
        return n
    try:
        assert asyncio.run(main()) == 8
        assert uipc.eventfd_read(e) == 5
    finally:
        uipc.close(e)


def test_a_cancelled_aread_leaves_nothing_behind(ns: str) -> None:
    """Cancelled while waiting for readiness (wait_for's timeout) and
    cancelled while its read sleeps in the daemon (two readers woken by one
    count of a blocking semaphore eventfd: the second sleeps): neither
    consumed anything, no sleeper stays in the daemon, no reader stays on
    the loop."""
    e = uipc.eventfd(0, uipc.EFD_SEMAPHORE)

    async def main() -> None:
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(uipc.aread(e, 8), 0.05)
        assert _no_watches()
        first = asyncio.create_task(uipc.aread(e, 8))
        second = asyncio.create_task(uipc.aread(e, 8))
        await asyncio.sleep(0)
        uipc.eventfd_write(e, 1)
        done, _ = await asyncio.wait({first, second}, return_when=asyncio.FIRST_COMPLETED)
        assert [t.result() for t in done] == [U64.pack(1)]
        [late] = {first, second} - done
        await asyncio.get_running_loop().run_in_executor(
            None, wait_until, lambda: waits(os.getpid()) == ["eventfd read"], 10.0,
            "the second read asleep in the daemon")
        late.cancel()
        with pytest.raises(asyncio.CancelledError):
            await late
        assert waits(os.getpid()) == []
        assert _no_watches()
    try:
        asyncio.run(main())
        uipc.eventfd_write(e, 1)  # the cancelled reads took nothing: one count, one read
        assert uipc.eventfd_read(e) == 1
        assert uipc.poll([(e, select.POLLIN)], 0) == []
    finally:
        uipc.close(e)


def test_aread_of_a_timerfd_and_of_a_closed_descriptor(ns: str) -> None:
    t = uipc.timerfd_create(uipc.CLOCK_MONOTONIC, uipc.TFD_NONBLOCK)

    async def main() -> bytes:
        uipc.timerfd_settime(t, 0, 0, 0.01)
        got = await asyncio.wait_for(uipc.aread(t, 8), 30)
        uipc.close(t)  # (with the loop running: no new descriptor takes its number)
        with pytest.raises(OSError) as info:
            await uipc.aread(t, 8)
        assert info.value.errno == errno.EBADF
        return got
    try:
        assert asyncio.run(main()) == U64.pack(1)
    finally:
        if uipc.client.files.fd_inode(t):  # main failed before its close
            uipc.close(t)


@pytest.mark.skipif(not hasattr(uipc, "pipe2"), reason="uipc.pipe2 is not there yet")
def test_epoll_over_a_pipe_between_processes(ns: str, epfd: int) -> None:
    """A child writes into a uipc pipe, then exits: the parent's epoll
    reports the data (edge-triggered: once), then the hang-up."""
    r, w = uipc.pipe2(os.O_NONBLOCK)
    try:
        uipc.epoll_ctl(epfd, uipc.EPOLL_CTL_ADD, r, uipc.EPOLLIN | uipc.EPOLLET, data=1)
        child = Child(lambda: uipc.write(w, b"ping"))
        assert uipc.epoll_wait(epfd, -1, 30_000) == [(1, uipc.EPOLLIN)]
        child.result()
        assert uipc.epoll_wait(epfd, -1, 0) == []
        assert uipc.read(r, 16) == b"ping"
        uipc.close(w)
        w = -1
        assert uipc.epoll_wait(epfd, -1, 30_000) == [(1, uipc.EPOLLHUP)]
    finally:
        uipc.close(r)
        if w >= 0:
            uipc.close(w)
