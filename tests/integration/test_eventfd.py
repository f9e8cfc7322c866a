"""uipc.eventfd with real processes: a real descriptor that select and
asyncio see, blocking across processes, fork, close through os.close."""
from __future__ import annotations

import asyncio
import os
import select

import uipc
from tests.conformance.harness import wait_for
from tests.helpers import Child


def waits(pid: int) -> list[str]:
    """What the process's threads sleep in, as the daemon sees it."""
    return [w["op"] for p in uipc.introspect.namespace()["process_details"] if p["pid"] == pid
            for w in p["waits"] or []]


def test_select_and_asyncio_see_the_counter(ns: str) -> None:
    fd = uipc.eventfd(0, uipc.EFD_NONBLOCK)
    try:
        assert select.select([fd], [], [], 0)[0] == []
        uipc.eventfd_write(fd, 1)
        assert select.select([fd], [], [], 0)[0] == [fd]

        async def woken() -> int:
            loop = asyncio.get_running_loop()
            ready: asyncio.Future[None] = loop.create_future()
            loop.add_reader(fd, lambda: ready.done() or ready.set_result(None))
            try:
                await asyncio.wait_for(ready, 10)
            finally:
                loop.remove_reader(fd)
            return uipc.eventfd_read(fd)
        assert asyncio.run(woken()) == 1
        assert select.select([fd], [], [], 0)[0] == []
    finally:
        uipc.close(fd)


def test_a_read_blocked_in_one_process_is_woken_by_another(ns: str) -> None:
    fd = uipc.eventfd(0)
    try:
        reader = Child(lambda: uipc.eventfd_read(fd))  # the child shares the counter (fork)
        wait_for(lambda: waits(reader.pid) == ["eventfd read"], "the reader asleep")
        uipc.eventfd_write(fd, 42)
        assert reader.result(timeout=30) == 42
    finally:
        uipc.close(fd)


def test_os_close_of_the_last_descriptor_releases_it(ns: str) -> None:
    """The daemon learns of a plain close(2) through the doorbell: with room
    for one open file under uipc.quota.files, a second eventfd is EMFILE
    until the first is closed with os.close, then succeeds."""
    old = uipc.sysctl.get("uipc.quota.files")
    fd = uipc.eventfd(0)
    held: list[int] = []
    uipc.sysctl.set("uipc.quota.files", 1)
    try:
        try:
            uipc.eventfd(0)
            raise AssertionError("a second eventfd past the quota")
        except OSError as exc:
            assert exc.errno == 24  # EMFILE
        os.close(fd)

        def opens() -> bool:
            try:
                held.append(uipc.eventfd(0))
                return True
            except OSError:
                return False
        wait_for(opens, "the closed eventfd's slot given back")
    finally:
        uipc.sysctl.set("uipc.quota.files", old)
        for h in held:
            uipc.close(h)


def test_cloexec_and_inheritance(ns: str) -> None:
    a = uipc.eventfd(0)
    b = uipc.eventfd(0, uipc.EFD_CLOEXEC)
    try:
        assert os.get_inheritable(a) and not os.get_inheritable(b)
    finally:
        uipc.close(a)
        uipc.close(b)


def test_uipc_poll_waits_on_several_descriptors_across_processes(ns: str) -> None:
    """uipc.poll: an eventfd written by another process wakes it; a timerfd
    not yet expired shows nothing (exactly: no POLLOUT); a timeout is []."""
    e = uipc.eventfd(0)
    t = uipc.timerfd_create(uipc.CLOCK_MONOTONIC)
    try:
        assert uipc.poll([(e, select.POLLIN), (t, select.POLLIN | select.POLLOUT)], 0) == []
        assert uipc.poll([(e, select.POLLIN)], 10) == []
        writer = Child(lambda: uipc.eventfd_write(e, 3))
        assert uipc.poll([(t, select.POLLIN), (e, select.POLLIN)], -1) == [(e, select.POLLIN)]
        writer.result(timeout=30)
    finally:
        uipc.close(e)
        uipc.close(t)
