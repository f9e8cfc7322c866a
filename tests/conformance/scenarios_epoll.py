"""epoll scenarios (fs/eventpoll.c) over eventfds, a timerfd and a POSIX
queue (glibc's mq_* through ctypes on the kernel side), on the
kernel (glibc's epoll_* through ctypes, os.eventfd) and on uipc
(uipc.epoll_*, uipc.eventfd), through the same calls: which events each
epoll_wait reports and in what order (level- and edge-triggered, one-shot,
maxevents' round robin, two descriptors of one file), epoll_ctl's and
epoll_wait's errno, nesting limits, and whether select() finds the epoll
descriptor readable.

``data`` is given explicitly (small names), so results do not depend on
descriptor numbers, which differ between the sides.  Not compared (known
differences, docs/deviations.md): a regular file as target (EPERM on
Linux, EBADF on uipc, which does not know it); the epoll descriptor's
POLLOUT (a doorbell shows "writable" when not readable)."""
from __future__ import annotations

import os
import select
import struct

from tests.conformance.harness import Recorder, Scenario
from tests.conformance.scenarios_mq import PosixSleepers, _receiver, _sender, opened
from uipc.uapi.mqueue import MqAttr

U64 = struct.Struct("<Q")
NB = os.O_NONBLOCK
ADD, DEL, MOD = 1, 2, 3
IN, OUT, RDNORM = select.EPOLLIN, select.EPOLLOUT, select.EPOLLRDNORM
ET, ONESHOT, EXCLUSIVE = select.EPOLLET, select.EPOLLONESHOT, select.EPOLLEXCLUSIVE
EPOLL_CLOEXEC = select.EPOLL_CLOEXEC
EFD_SEMAPHORE = 1
O_CREAT, O_EXCL, O_RDWR = os.O_CREAT, os.O_EXCL, os.O_RDWR


def readable(fd: int) -> bool:
    """What select() says of the descriptor's readability now."""
    return select.select([fd], [], [], 0)[0] == [fd]


def triggered(rec: Recorder) -> None:
    """Level-triggered, edge-triggered and one-shot items side by side."""
    api, do = rec.api, rec.do
    ep = api.epoll_create1(0)
    lt, et, one = (api.eventfd(0, NB) for _ in range(3))
    do("add LT", lambda: api.epoll_ctl(ep, ADD, lt, IN, 1))
    do("add ET", lambda: api.epoll_ctl(ep, ADD, et, IN | ET, 2))
    do("add ONESHOT", lambda: api.epoll_ctl(ep, ADD, one, IN | ONESHOT, 3))
    do("nothing ready", lambda: api.epoll_wait(ep, -1, 0))
    do("epfd not readable", lambda: readable(ep))
    for fd in (lt, et, one):
        api.write(fd, U64.pack(1))
    do("epfd readable", lambda: readable(ep))
    do("all three, in the order they became ready", lambda: api.epoll_wait(ep, -1, 0))
    do("then only the level-triggered one", lambda: api.epoll_wait(ep, -1, 0))
    do("write ET and ONESHOT again", lambda: (api.write(et, U64.pack(1)),
                                              api.write(one, U64.pack(1))))
    do("ET again, ONESHOT disarmed", lambda: api.epoll_wait(ep, -1, 0))
    do("MOD re-arms ONESHOT with new data", lambda: api.epoll_ctl(ep, MOD, one, IN | ONESHOT, 4))
    do("ONESHOT reported once more", lambda: api.epoll_wait(ep, -1, 0))
    do("drain LT", lambda: api.read(lt, 8))
    do("LT gone", lambda: api.epoll_wait(ep, -1, 0))
    do("epfd readable (ET items consumed, LT drained)", lambda: readable(ep))
    do("MOD ET to IN|OUT|ET", lambda: api.epoll_ctl(ep, MOD, et, IN | OUT | ET, 5))
    do("reported with both", lambda: api.epoll_wait(ep, -1, 0))
    do("read ET", lambda: api.read(et, 8))
    do("the read is a new event: OUT", lambda: api.epoll_wait(ep, -1, 0))
    do("write ET", lambda: api.write(et, U64.pack(3)))
    do("the write is a new event: IN|OUT", lambda: api.epoll_wait(ep, -1, 0))
    do("and nothing more", lambda: api.epoll_wait(ep, -1, 0))
    do("epfd readable at the end", lambda: readable(ep))
    for fd in (lt, et, one, ep):
        api.close(fd)


def errors(rec: Recorder) -> None:
    """epoll_create1, epoll_ctl and epoll_wait errno, in the kernel's order."""
    api, do = rec.api, rec.do
    do("create1 with 1", lambda: api.epoll_create1(1))
    do("create1 with O_NONBLOCK", lambda: api.epoll_create1(NB))
    ep = api.epoll_create1(EPOLL_CLOEXEC)
    inner = api.epoll_create1(0)
    e, f = api.eventfd(0, NB), api.eventfd(0, NB)
    gone = api.eventfd(0, 0)
    api.close(gone)
    do("ADD a closed descriptor", lambda: api.epoll_ctl(ep, ADD, gone, IN, 1))
    do("a closed epfd", lambda: api.epoll_ctl(gone, ADD, e, IN, 1))
    do("epfd is an eventfd", lambda: api.epoll_ctl(e, ADD, f, IN, 1))
    do("epoll in itself", lambda: api.epoll_ctl(ep, ADD, ep, IN, 1))
    do("op 0", lambda: api.epoll_ctl(ep, 0, e, IN, 1))
    do("op 4", lambda: api.epoll_ctl(ep, 4, e, IN, 1))
    do("MOD not added", lambda: api.epoll_ctl(ep, MOD, e, IN, 1))
    do("DEL not added", lambda: api.epoll_ctl(ep, DEL, e, 0, 0))
    do("ADD", lambda: api.epoll_ctl(ep, ADD, e, IN, 1))
    do("ADD again", lambda: api.epoll_ctl(ep, ADD, e, IN, 1))
    do("MOD with EXCLUSIVE", lambda: api.epoll_ctl(ep, MOD, e, IN | EXCLUSIVE, 1))
    do("EXCLUSIVE with RDNORM", lambda: api.epoll_ctl(ep, ADD, f, IN | RDNORM | EXCLUSIVE, 2))
    do("EXCLUSIVE with ONESHOT", lambda: api.epoll_ctl(ep, ADD, f, IN | ONESHOT | EXCLUSIVE, 2))
    do("EXCLUSIVE on an epoll", lambda: api.epoll_ctl(ep, ADD, inner, IN | EXCLUSIVE, 2))
    do("EXCLUSIVE|ET", lambda: api.epoll_ctl(ep, ADD, f, IN | ET | EXCLUSIVE, 2))
    do("MOD of an EXCLUSIVE item", lambda: api.epoll_ctl(ep, MOD, f, IN, 2))
    do("write both", lambda: (api.write(e, U64.pack(1)), api.write(f, U64.pack(1))))
    do("both reported", lambda: api.epoll_wait(ep, -1, 0))
    do("DEL", lambda: api.epoll_ctl(ep, DEL, e, 0, 0))
    do("DEL again", lambda: api.epoll_ctl(ep, DEL, e, 0, 0))
    do("wait maxevents 0", lambda: api.epoll_wait(ep, 0, 0))
    do("wait maxevents -2", lambda: api.epoll_wait(ep, -2, 0))
    do("wait maxevents 0 on a closed fd", lambda: api.epoll_wait(gone, 0, 0))
    do("wait on a closed fd", lambda: api.epoll_wait(gone, 1, 0))
    do("wait on an eventfd", lambda: api.epoll_wait(e, 1, 0))
    do("wait 20 ms: nothing new (f is edge-triggered)", lambda: api.epoll_wait(ep, -1, 20))
    for fd in (e, f, inner, ep):
        api.close(fd)


def order(rec: Recorder) -> None:
    """The ready list's order: round robin under maxevents; descriptors of
    one file are items of their own, the newest woken first; items belong
    to the file, not to the descriptor."""
    api, do = rec.api, rec.do
    ep = api.epoll_create1(0)
    fds = [api.eventfd(1, NB) for _ in range(3)]
    for i, fd in enumerate(fds):
        api.epoll_ctl(ep, ADD, fd, IN, i + 1)
    for i in range(4):
        do(f"maxevents 1, #{i}", lambda: api.epoll_wait(ep, 1, 0))
    do("maxevents 2", lambda: api.epoll_wait(ep, 2, 0))
    do("maxevents 2 again", lambda: api.epoll_wait(ep, 2, 0))
    for fd in fds:
        api.close(fd)
    do("their files closed: nothing", lambda: api.epoll_wait(ep, -1, 0))
    e = api.eventfd(0, NB)
    d1, d2 = os.dup(e), os.dup(e)
    for n, fd in ((10, e), (11, d1), (12, d2)):
        do(f"add descriptor {n}", lambda: api.epoll_ctl(ep, ADD, fd, IN | ET, n))
    do("write", lambda: api.write(e, U64.pack(1)))
    do("three items, newest first", lambda: api.epoll_wait(ep, -1, 0))
    api.close(d1)
    do("write after closing one descriptor", lambda: api.write(e, U64.pack(1)))
    do("its item stays: the file is open", lambda: api.epoll_wait(ep, -1, 0))
    do("DEL of the closed descriptor", lambda: api.epoll_ctl(ep, DEL, d1, 0, 0))
    api.close(d2)
    api.close(e)
    do("the file closed: nothing", lambda: api.epoll_wait(ep, -1, 0))
    do("epfd not readable", lambda: readable(ep))
    api.close(ep)


def nested(rec: Recorder) -> None:
    """An epoll watching epolls: readiness travels up; loops and chains of
    more than five epolls are ELOOP."""
    api, do = rec.api, rec.do
    chain = [api.epoll_create1(0) for _ in range(6)]
    for i in range(5):
        do(f"epoll {i + 1} watches epoll {i}",
           lambda: api.epoll_ctl(chain[i + 1], ADD, chain[i], IN, i))
    top = [api.epoll_create1(0) for _ in range(6)]
    for i in range(5):
        do(f"top {i} watches top {i + 1}",
           lambda: api.epoll_ctl(top[i], ADD, top[i + 1], IN, i))
    do("a loop", lambda: api.epoll_ctl(chain[0], ADD, chain[2], IN, 9))
    e = api.eventfd(0, NB)
    do("epoll 0 watches an eventfd", lambda: api.epoll_ctl(chain[0], ADD, e, IN, 100))
    do("epoll 2 not readable", lambda: readable(chain[2]))
    do("write", lambda: api.write(e, U64.pack(1)))
    do("epoll 2 readable", lambda: readable(chain[2]))
    do("epoll 2 reports epoll 1", lambda: api.epoll_wait(chain[2], -1, 0))
    do("epoll 0 reports the eventfd", lambda: api.epoll_wait(chain[0], -1, 0))
    do("read", lambda: api.read(e, 8))
    do("epoll 3 reports nothing", lambda: api.epoll_wait(chain[3], -1, 0))
    do("epoll 1 not readable", lambda: readable(chain[1]))
    for fd in (e, *chain, *top):
        api.close(fd)


def timer(rec: Recorder) -> None:
    """A timerfd's expiry wakes a sleeping epoll_wait."""
    api, do = rec.api, rec.do
    ep = api.epoll_create1(0)
    t = api.timerfd_create(1, NB)
    do("add", lambda: api.epoll_ctl(ep, ADD, t, IN | OUT, 1))
    do("not expired", lambda: api.epoll_wait(ep, -1, 0))
    api.timerfd_settime(t, 0, 0, 0.002)
    do("asleep until it expires", lambda: api.epoll_wait(ep, -1, 10_000))
    do("read", lambda: api.read(t, 8))
    do("read: nothing", lambda: api.epoll_wait(ep, -1, 0))
    api.close(t)
    api.close(ep)


def eventfd_edges(rec: Recorder) -> None:
    """Which eventfd reads and writes an edge-triggered item hears: every
    write (of 0 too) wakes naming EPOLLIN, every read naming EPOLLOUT, so a
    semaphore read is no new edge for an item watching EPOLLIN alone."""
    api, do = rec.api, rec.do
    ep = api.epoll_create1(0)
    e = api.eventfd(1, NB)
    do("add ET|IN", lambda: api.epoll_ctl(ep, ADD, e, IN | ET, 1))
    do("ready at once", lambda: api.epoll_wait(ep, -1, 0))
    do("nothing new", lambda: api.epoll_wait(ep, -1, 0))
    do("write 0", lambda: api.write(e, U64.pack(0)))
    do("a write of 0 is a new edge", lambda: api.epoll_wait(ep, -1, 0))
    do("and only one", lambda: api.epoll_wait(ep, -1, 0))
    do("read", lambda: api.read(e, 8))
    do("write 0 to a counter of 0", lambda: api.write(e, U64.pack(0)))
    do("heard, not ready: nothing", lambda: api.epoll_wait(ep, -1, 0))
    sem = api.eventfd(3, NB | EFD_SEMAPHORE)
    dup = os.dup(sem)
    do("add a semaphore ET|IN", lambda: api.epoll_ctl(ep, ADD, sem, IN | ET, 2))
    do("add its dup ET|IN|OUT", lambda: api.epoll_ctl(ep, ADD, dup, IN | OUT | ET, 3))
    do("both ready", lambda: api.epoll_wait(ep, -1, 0))
    do("semaphore read", lambda: api.read(sem, 8))
    do("only the item watching OUT hears it", lambda: api.epoll_wait(ep, -1, 0))
    do("write 0", lambda: api.write(sem, U64.pack(0)))
    do("both hear a write", lambda: api.epoll_wait(ep, -1, 0))
    do("two semaphore reads", lambda: (api.read(sem, 8), api.read(dup, 8)))
    do("the counter at 0: OUT, to the item watching it", lambda: api.epoll_wait(ep, -1, 0))
    do("a read of an empty semaphore", lambda: api.read(sem, 8))
    do("a failed read wakes no one", lambda: api.epoll_wait(ep, -1, 0))
    for fd in (e, sem, dup, ep):
        api.close(fd)


def mq_edges(rec: Recorder) -> None:
    """Which sends and receives an edge-triggered item on a POSIX queue
    hears: every message queued and every message taken while no sender
    waits wakes the queue's pollers (naming no event); a message handed to
    a sleeping receiver, or a sleeping sender's message taking the room, is
    no event.  The queue lives in the scenario's own IPC namespace."""
    api, do = rec.api, rec.do
    q = opened(rec, "queue (3, 16)", lambda: api.mq_open(
        "/ep", O_CREAT | O_EXCL | O_RDWR, 0o600, MqAttr(mq_maxmsg=3, mq_msgsize=16)))
    ep = api.epoll_create1(0)
    do("add ET|IN", lambda: api.epoll_ctl(ep, ADD, q, IN | ET, 1))
    do("empty: nothing", lambda: api.epoll_wait(ep, -1, 0))
    do("send", lambda: api.mq_send(q, b"a"))
    do("one message: IN", lambda: api.epoll_wait(ep, -1, 0))
    do("nothing new", lambda: api.epoll_wait(ep, -1, 0))
    do("send a second", lambda: api.mq_send(q, b"b"))
    do("a second message is a new edge", lambda: api.epoll_wait(ep, -1, 0))
    do("receive", lambda: api.mq_receive(q, 16))
    do("a receive that leaves one is an edge too", lambda: api.epoll_wait(ep, -1, 0))
    do("receive the last", lambda: api.mq_receive(q, 16))
    do("empty: nothing", lambda: api.epoll_wait(ep, -1, 0))
    do("MOD to OUT|ET", lambda: api.epoll_ctl(ep, MOD, q, OUT | ET, 2))
    do("room: OUT", lambda: api.epoll_wait(ep, -1, 0))
    do("send", lambda: api.mq_send(q, b"c"))
    do("a send is an edge for OUT too", lambda: api.epoll_wait(ep, -1, 0))
    do("fill", lambda: (api.mq_send(q, b"d"), api.mq_send(q, b"e")))
    do("full: heard, not ready", lambda: api.epoll_wait(ep, -1, 0))
    s = PosixSleepers(rec)
    try:
        s.start("sender", _sender(api, "/ep", b"s", 0))
        do("MOD to IN|OUT|ET", lambda: api.epoll_ctl(ep, MOD, q, IN | OUT | ET, 3))
        do("full: IN", lambda: api.epoll_wait(ep, -1, 0))
        do("receive: the sleeping sender's message takes the room",
           lambda: api.mq_receive(q, 16))
        rec.note("sender", s.completed(1))
        do("still full: no event", lambda: api.epoll_wait(ep, -1, 0))
        do("drain", lambda: [api.mq_receive(q, 16) for _ in range(3)])
        do("drained: OUT", lambda: api.epoll_wait(ep, -1, 0))
        s.start("receiver", _receiver(api, "/ep", 16))
        do("send to the sleeping receiver", lambda: api.mq_send(q, b"r"))
        rec.note("receiver", s.completed(1))
        do("still empty: no event", lambda: api.epoll_wait(ep, -1, 0))
    finally:
        s.close()
    api.close(ep)
    api.mq_close(q)
    api.mq_unlink("/ep")


SCENARIOS = [
    Scenario("epoll level, edge and one-shot over eventfds", "epoll", triggered),
    Scenario("epoll edges of eventfd reads and writes", "epoll", eventfd_edges),
    Scenario("epoll edges of mq sends and receives", "epoll", mq_edges),
    Scenario("epoll_create1, epoll_ctl and epoll_wait errors", "epoll", errors),
    Scenario("epoll ready list order and descriptors of one file", "epoll", order),
    Scenario("nested epolls and ELOOP", "epoll", nested),
    Scenario("epoll over a timerfd", "epoll", timer),
]
