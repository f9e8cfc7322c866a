"""asyncio at scale: a thousand pending calls on one event loop (uipc.client.aio).

Each pending call is one connection (one task in the daemon), read by the
loop's reader callback: no thread per call, no polling.  Cancelled, a call
interrupts its request (EINTR) and leaves no sleeper; a call that completed
before its interrupt delivers its result instead of losing it.
"""
from __future__ import annotations

import asyncio
import errno
import gc
import os
import resource
import threading
import time
import weakref
from typing import Callable

import pytest

import uipc
from tests.conftest import wait_until
from tests.helpers import Child, receivers
from uipc.client import aio

N = 1000
#: how long a thousand cancellations may take (the daemon answers each at once)
PROMPT = 5.0


async def until(predicate: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    """Poll an observable state from the loop (letting it run meanwhile)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.005)


def pending(q: uipc.MessageQueue, n: int) -> Callable[[], bool]:
    return lambda: len(receivers(q.id)) == n


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_thousand_receives_each_get_one_message_from_asend_on_the_same_loop(ns: str) -> None:
    async def main() -> None:
        q = uipc.MessageQueue()
        threads = threading.active_count()
        tasks = [asyncio.create_task(q.areceive()) for _ in range(N)]
        await until(pending(q, N), f"{N} receivers")
        assert threading.active_count() <= threads + 2  # no thread per call
        for i in range(N):
            await q.asend(b"%d" % i)  # the old executor (6 threads) deadlocked here
        got = await asyncio.wait_for(asyncio.gather(*tasks), 20)
        assert sorted(int(m) for _, m in got) == list(range(N))  # each exactly once
        assert threading.active_count() <= threads + 2
        assert q.current_messages == 0
        q.remove()

    asyncio.run(main())


def test_thousand_receives_each_get_one_message_from_another_process(ns: str) -> None:
    q = uipc.MessageQueue()

    def sender() -> int:  # forked before the loop exists: its pipe stays below fd 1024
        wait_until(pending(q, N), 30, f"{N} receivers")
        for i in range(N):
            q.send(b"%d" % i)
        return os.getpid()

    kid = Child(sender)

    async def main() -> list[tuple[int, bytes]]:
        threads = threading.active_count()
        tasks = [asyncio.create_task(q.areceive()) for _ in range(N)]
        got = await asyncio.wait_for(asyncio.gather(*tasks), 30)
        assert threading.active_count() <= threads + 2
        return got

    got = asyncio.run(main())
    kid_pid = kid.result()
    assert sorted(int(m) for _, m in got) == list(range(N))
    assert q.stat.msg_lspid == kid_pid
    assert q.current_messages == 0
    q.remove()


def test_thousand_wait_for_timeouts_leave_no_sleeper(ns: str) -> None:
    timeout = 3.0  # long enough for a thousand to be pending first

    async def main() -> None:
        q = uipc.MessageQueue()
        start = time.monotonic()
        tasks = [asyncio.create_task(asyncio.wait_for(q.areceive(), timeout)) for _ in range(N)]
        await until(lambda: len(receivers(q.id)) == N or any(t.done() for t in tasks),
                    f"{N} receivers")
        assert len(receivers(q.id)) == N, "the machine is too slow for this test's timeout"
        results = await asyncio.gather(*tasks, return_exceptions=True)
        elapsed = time.monotonic() - start
        assert all(isinstance(r, TimeoutError) for r in results), {type(r) for r in results}
        assert elapsed < timeout + PROMPT
        assert receivers(q.id) == []
        q.send(b"after")  # no ghost receiver takes it
        assert q.receive(block=False) == (1, b"after")
        q.remove()

    asyncio.run(main())


def test_thousand_cancelled_receives_leave_no_sleeper(ns: str) -> None:
    async def main() -> None:
        q = uipc.MessageQueue()
        tasks = [asyncio.create_task(q.areceive()) for _ in range(N)]
        await until(pending(q, N), f"{N} receivers")
        start = time.monotonic()
        for t in tasks:
            t.cancel()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        assert time.monotonic() - start < PROMPT
        assert all(isinstance(r, asyncio.CancelledError) for r in results), {type(r) for r in results}
        assert receivers(q.id) == []
        q.send(b"after")
        assert q.receive(block=False) == (1, b"after")
        # the connections went back to the pool: calls go on working
        await q.asend(b"again")
        assert await q.areceive() == (1, b"again")
        q.remove()

    asyncio.run(main())


def test_semaphore_acquire_storm(ns: str) -> None:
    async def main() -> None:
        sem = uipc.Semaphore(value=0)
        tasks = [asyncio.create_task(sem.aacquire()) for _ in range(N)]
        await until(lambda: sem.waiting_to_decrement() == N, f"{N} waiters")
        sem.release(delta=N)
        await asyncio.wait_for(asyncio.gather(*tasks), 20)
        assert sem.value() == 0 and sem.waiting_to_decrement() == 0

        # cancelled waiters leave nothing: no sleeper, no value taken
        tasks = [asyncio.create_task(sem.aacquire()) for _ in range(N)]
        await until(lambda: sem.waiting_to_decrement() == N, f"{N} waiters again")
        for t in tasks:
            t.cancel()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        assert all(isinstance(r, asyncio.CancelledError) for r in results)
        assert sem.waiting_to_decrement() == 0 and sem.value() == 0

        # as a lock: many tasks, one holder at a time
        sem.release()
        holders, most = 0, 0

        async def worker() -> None:
            nonlocal holders, most
            for _ in range(5):
                async with sem:
                    holders += 1
                    most = max(most, holders)
                    await asyncio.sleep(0)
                    holders -= 1

        await asyncio.wait_for(asyncio.gather(*(worker() for _ in range(200))), 30)
        assert most == 1 and sem.value() == 1
        sem.remove()

    asyncio.run(main())


def test_asend_works_while_many_receives_are_pending(ns: str) -> None:
    """The old deadlock: six pending receives took the default executor's six
    threads (two CPUs) and asend never ran.  Sync calls are unaffected: the
    thread's own connection is not the pool's."""
    from uipc.client import connection
    conn = connection.get_connection()

    async def main() -> None:
        q = uipc.MessageQueue()
        tasks = [asyncio.create_task(q.areceive()) for _ in range(8)]
        await until(pending(q, 8), "8 receivers")
        await asyncio.wait_for(q.asend(b"through"), 5)
        done, rest = await asyncio.wait(tasks, timeout=5, return_when=asyncio.FIRST_COMPLETED)
        assert [t.result() for t in done] == [(1, b"through")]
        q.send(b"sync")  # the thread's connection, while the pool's wait
        done, rest = await asyncio.wait(rest, timeout=5, return_when=asyncio.FIRST_COMPLETED)
        assert [t.result() for t in done] == [(1, b"sync")]
        assert connection.get_connection() is conn
        for t in rest:
            t.cancel()
        await asyncio.gather(*rest, return_exceptions=True)
        assert receivers(q.id) == []
        q.remove()

    asyncio.run(main())


def test_a_receive_completed_before_its_cancellation_delivers_the_message(ns: str) -> None:
    """As Linux returns msgrcv's message when the signal came after it
    completed: the message is not lost, and the cancellation still ends the
    task at its next uipc call."""
    async def main() -> None:
        q = uipc.MessageQueue()
        got: list[tuple[int, bytes]] = []

        async def consumer() -> None:
            while True:
                got.append(await q.areceive())

        task = asyncio.create_task(consumer())
        await until(pending(q, 1), "the receiver")
        q.send(b"raced")  # the daemon completes the pending msgrcv now...
        wait_until(pending(q, 0), what="the message handed over")
        task.cancel()  # ...before the loop has read its reply
        with pytest.raises(asyncio.CancelledError):
            await task
        assert got == [(1, b"raced")]
        assert receivers(q.id) == []  # the owed cancellation ran no second msgrcv

        # a timeout that fires as the reply comes: the result, not TimeoutError
        async def with_timeout() -> tuple[tuple[int, bytes], tuple[int, bytes]]:
            async with asyncio.timeout(None) as cm:
                scope.append(cm)
                first = await q.areceive()
            await q.asend(b"next")  # nothing owed: the timeout absorbed its cancellation
            return first, await q.areceive()

        scope: list[asyncio.Timeout] = []
        task2 = asyncio.create_task(with_timeout())
        await until(pending(q, 1), "the receiver")
        q.send(b"just in time")
        wait_until(pending(q, 0), what="the message handed over")
        scope[0].reschedule(asyncio.get_running_loop().time())  # expire now
        assert await task2 == ((1, b"just in time"), (1, b"next"))
        assert scope[0].expired()
        q.remove()

    asyncio.run(main())


def test_errors_are_the_sync_calls(ns: str) -> None:
    async def main() -> None:
        q = uipc.MessageQueue()
        with pytest.raises(OSError) as info:
            await q.areceive(block=False)
        assert info.value.errno == errno.ENOMSG
        with pytest.raises(ValueError):
            await q.areceive(type=1 << 70)  # c_long: refused before anything is sent
        await q.asend(b"x" * 100)
        with pytest.raises(OSError) as info:
            await q.areceive(max_size=10)
        assert info.value.errno == errno.E2BIG
        assert await q.areceive(max_size=10, truncate=True) == (1, b"x" * 10)

        # removing the queue wakes every pending receiver with EIDRM
        tasks = [asyncio.create_task(q.areceive()) for _ in range(100)]
        await until(pending(q, 100), "100 receivers")
        q.remove()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        assert {r.errno for r in results if isinstance(r, OSError)} == {errno.EIDRM}
        assert len(results) == 100 and all(isinstance(r, OSError) for r in results)

        sem = uipc.SemaphoreSet(n=2, initial=[0, 1])
        with pytest.raises(OSError) as info:
            await sem.aacquire(0, timeout=0.01)
        assert info.value.errno == errno.EAGAIN
        await sem.aapply([(0, 1), (1, -1)])
        assert sem.values == [1, 0]
        await sem.await_zero(1)
        with pytest.raises(TypeError):
            await sem.aapply([(0, 1)], bogus=True)
        sem.remove()

    asyncio.run(main())


def test_messages_bigger_than_the_socket_buffers(ns: str) -> None:
    """Partial writes (add_writer) and replies read in many pieces."""
    size = 4 << 20
    uipc.sysctl.set("kernel.msgmax", size)
    uipc.sysctl.set("kernel.msgmnb", 2 * size)

    async def main() -> None:
        q = uipc.MessageQueue(max_message_size=size)
        big = os.urandom(size)
        threads = threading.active_count()
        receiver = asyncio.create_task(q.areceive())
        await until(pending(q, 1), "the receiver")
        sender = asyncio.create_task(q.asend(big))
        await asyncio.sleep(0)  # the sender writes what the socket takes...
        assert threading.active_count() == threads  # ...on the loop, not in a thread
        await sender
        assert await receiver == (1, big)
        await q.asend(big[::-1])
        assert await q.areceive() == (1, big[::-1])
        with pytest.raises(OSError) as info:  # past the daemon's frame limit (hello's)
            await q.asend(b"x" * (17 << 20))
        assert info.value.errno == errno.EINVAL
        q.remove()

    asyncio.run(main())


def test_pool_closes_with_the_loop(ns: str) -> None:
    q = uipc.MessageQueue()
    before = open_fds()

    loops: list[weakref.ref[asyncio.AbstractEventLoop]] = []

    async def main() -> int:
        loops.append(weakref.ref(asyncio.get_running_loop()))
        tasks = [asyncio.create_task(q.areceive()) for _ in range(50)]
        await until(pending(q, 50), "50 receivers")
        during = open_fds()
        for i in range(50):
            await q.asend(b"%d" % i)
        await asyncio.gather(*tasks)
        return during

    assert asyncio.run(main()) >= before + 50
    assert open_fds() == before  # asyncio.run closed the loop's pool
    gc.collect()
    assert loops[0]() is None  # and the pool keeps no loop alive

    async def explicit() -> None:
        base = open_fds()  # this loop's own descriptors included
        await q.asend(b"x")
        assert open_fds() == base + 1  # one connection, kept for the next call
        aio.close_pool()
        assert open_fds() == base
        assert await q.areceive() == (1, b"x")  # a new pool
        assert open_fds() == base + 1

    asyncio.run(explicit())
    assert open_fds() == before

    # a loop closed without shutdown_asyncgens: its pool closes when it is collected
    loop = asyncio.new_event_loop()
    loop.run_until_complete(q.asend(b"y"))
    loop.close()
    assert open_fds() == before + 1  # the pool's idle connection
    del loop
    gc.collect()
    assert open_fds() == before
    assert q.receive(block=False) == (1, b"y")
    q.remove()


def test_a_fork_child_never_uses_the_parents_connections(ns: str) -> None:
    async def main() -> None:
        q = uipc.MessageQueue()
        tasks = [asyncio.create_task(q.areceive()) for _ in range(20)]
        await until(pending(q, 20), "20 receivers")
        parent_fds = open_fds()

        def child() -> tuple[int, int]:
            inherited = open_fds()  # the pool's sockets were closed at fork

            async def send() -> None:
                await q.asend(b"from the child")

            asyncio.run(send())  # its own loop, its own connections
            return inherited, os.getpid()

        kid = Child(child)
        inherited, kid_pid = kid.result()
        assert inherited <= parent_fds - 20
        # the child's copies closing disturbed none of ours
        done, rest = await asyncio.wait(tasks, timeout=10, return_when=asyncio.FIRST_COMPLETED)
        assert [t.result() for t in done] == [(1, b"from the child")]
        assert q.stat.msg_lspid == kid_pid  # sent on the child's own connection
        assert len(receivers(q.id)) == 19
        for t in rest:
            t.cancel()
        await asyncio.gather(*rest, return_exceptions=True)
        assert receivers(q.id) == []
        q.remove()

    asyncio.run(main())


def test_emfile_raises_the_soft_descriptor_limit(ns: str) -> None:
    q = uipc.MessageQueue()

    def child() -> tuple[int, int, int]:  # in a child: the limit is per process
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        low = open_fds() + 16
        resource.setrlimit(resource.RLIMIT_NOFILE, (low, hard))

        async def main() -> int:
            tasks = [asyncio.create_task(q.areceive()) for _ in range(200)]
            await until(pending(q, 200), "200 receivers")
            for i in range(200):
                await q.asend(b"%d" % i)
            return len(await asyncio.gather(*tasks))

        got = asyncio.run(main())
        return low, resource.getrlimit(resource.RLIMIT_NOFILE)[0], got

    low, raised, got = Child(child).result(timeout=60)
    assert got == 200
    assert raised > low + 200
    q.remove()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to setuid a child")
def test_a_pooled_connection_never_speaks_for_credentials_dropped_since(ns: str) -> None:
    """As get_connection: a connection opened as root is not used once the
    process is uid 65534 (the daemon would still take it for root)."""
    nobody = 65534
    q = uipc.MessageQueue(mode=0o600)  # root's: nobody may not write to it

    def child() -> int:
        async def main() -> int:
            await q.asend(b"as root")  # the pool keeps this connection...
            os.setgroups([])
            os.setgid(nobody)
            os.setuid(nobody)
            try:
                await q.asend(b"as nobody")  # ...and must not use it now
            except OSError as exc:
                return exc.errno
            return 0

        return asyncio.run(main())

    assert Child(child).result() == errno.EACCES
    assert q.receive(block=False) == (1, b"as root")
    assert q.current_messages == 0
    q.remove()
