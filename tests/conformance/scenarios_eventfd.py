"""eventfd scenarios: fs/eventfd.c's reads, writes, flags and poll masks,
on the kernel (os.eventfd) and on uipc (uipc.eventfd), through the same
calls: eventfd, read, write, close, and select.poll on the descriptor."""
from __future__ import annotations

import os
import select
import struct

from tests.conformance.harness import Recorder, Scenario

U64 = struct.Struct("<Q")
MAX = (1 << 64) - 1
EFD_SEMAPHORE, EFD_NONBLOCK = 1, os.O_NONBLOCK


def mask(fd: int) -> int:
    """What poll(2) says of the descriptor now (0 if nothing)."""
    p = select.poll()
    p.register(fd, select.POLLIN | select.POLLOUT)
    got = p.poll(0)
    return got[0][1] if got else 0


def counters(rec: Recorder) -> None:
    api, do = rec.api, rec.do
    do("bad flags", lambda: api.eventfd(0, 0x8))
    fd = api.eventfd(0, EFD_NONBLOCK)
    do("empty: poll", lambda: mask(fd))
    do("empty: read", lambda: api.read(fd, 8))
    do("write 5", lambda: api.write(fd, U64.pack(5)))
    do("5: poll", lambda: mask(fd))
    do("read a short buffer", lambda: api.read(fd, 4))
    do("read a long buffer", lambda: api.read(fd, 100))
    do("write 4 bytes", lambda: api.write(fd, b"\1\0\0\0"))
    do("write 16 bytes", lambda: api.write(fd, U64.pack(2) + U64.pack(99)))
    do("write ULLONG_MAX", lambda: api.write(fd, U64.pack(MAX)))
    do("write to MAX-1", lambda: api.write(fd, U64.pack(MAX - 3)))
    do("full: poll", lambda: mask(fd))
    do("write 1 more", lambda: api.write(fd, U64.pack(1)))
    do("write 0", lambda: api.write(fd, U64.pack(0)))
    do("read all", lambda: api.read(fd, 8))
    do("drained: poll", lambda: mask(fd))
    do("close", lambda: api.close(fd))


def semaphore(rec: Recorder) -> None:
    api, do = rec.api, rec.do
    fd = api.eventfd(3, EFD_SEMAPHORE | EFD_NONBLOCK)
    for i in range(4):
        do(f"read {i}", lambda: api.read(fd, 8))
    do("write 2", lambda: api.write(fd, U64.pack(2)))
    do("poll", lambda: mask(fd))
    do("read", lambda: api.read(fd, 8))
    do("close", lambda: api.close(fd))
    big = api.eventfd(0xFFFFFFFF, 0)
    do("initval UINT_MAX: read", lambda: api.read(big, 8))
    do("close big", lambda: api.close(big))


def polled(rec: Recorder) -> None:
    """poll(2) over several counters and a timer: the exact masks asked for
    (POLLWRNORM and POLLRDNORM included), and nothing for one not ready."""
    api, do = rec.api, rec.do
    IN, OUT = select.POLLIN | select.POLLRDNORM, select.POLLOUT | select.POLLWRNORM
    a, b = api.eventfd(0, EFD_NONBLOCK), api.eventfd(2, EFD_NONBLOCK)
    t = api.timerfd_create(1, os.O_NONBLOCK)
    order = {a: "a", b: "b", t: "t"}

    def masks(pairs: list[tuple[int, int]]) -> list[tuple[str, int]]:
        return sorted((order[fd], m) for fd, m in api.poll(pairs, 0))
    do("all, both ways", lambda: masks([(a, IN | OUT), (b, IN | OUT), (t, IN | OUT)]))
    do("reading only", lambda: masks([(a, IN), (b, IN), (t, IN)]))
    do("fill b", lambda: api.write(b, U64.pack(MAX - 3)))
    do("b full", lambda: masks([(b, IN | OUT)]))
    do("the timer at once", lambda: api.timerfd_settime(t, 1, 0, 1.0) and None)
    do("t expired", lambda: masks([(t, IN | OUT)]))
    for fd in (a, b, t):
        api.close(fd)


SCENARIOS = [
    Scenario("eventfd counters, limits and poll", "eventfd", counters),
    Scenario("eventfd semaphore mode", "eventfd", semaphore),
    Scenario("poll over eventfds and a timerfd", "eventfd", polled),
]
