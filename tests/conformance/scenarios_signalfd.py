"""Signals and signalfd scenarios (kernel/signal.c, fs/signalfd.c), on the
kernel and on uipc, through the same calls: kill, sigqueue, sigprocmask,
sigpending, signalfd, read_siginfo (tests/conformance/libc_signal.py on the
kernel side), read/write/close, and select.poll on the descriptor.

Deterministic by construction: the scenario's process signals itself, and
every signal it sends is blocked first (pending, then read), except where a
scenario installs a handler to see delivery; a kill or sigqueue to oneself
is delivered before the call returns on both sides.  The records compare
field by field, ssi_pid as a role ("me")."""
from __future__ import annotations

import os
import resource
import select
import signal
from typing import Any

import uipc
from tests.conformance import libc_signal
from tests.conformance.harness import Recorder, Scenario, as_user

SIG_BLOCK, SIG_UNBLOCK, SIG_SETMASK = 0, 1, 2
SFD_NONBLOCK = os.O_NONBLOCK
HUP, BUS, KILL, USR1, SEGV, USR2, TERM, STOP, SYS = 1, 7, 9, 10, 11, 12, 15, 19, 31
#: real-time signals above glibc's own two (32, 33), which its sigprocmask hides
RT = 36
#: above the largest pid_max (2^22): no process has it
NO_PID = (1 << 22) + 1
#: a uid with no other process, whose count of queued signals starts at 0
UID = 4321


def sigs(rec: Recorder) -> Any:
    """The signal calls of this side: uipc's, or the kernel's."""
    return uipc if rec.api is uipc else libc_signal


def mask(fd: int) -> int:
    """What poll(2) says of the descriptor for POLLIN (0 if nothing)."""
    p = select.poll()
    p.register(fd, select.POLLIN)
    got = p.poll(0)
    return got[0][1] if got else 0


def records(rec: Recorder, got: list[Any]) -> list[dict[str, Any]]:
    """Each record's fields; ssi_pid by role."""
    out = []
    for r in got:
        d = rec.normalise(r)
        d["ssi_pid"] = rec.pid_role(d["ssi_pid"])
        out.append(d)
    return out


def queues(rec: Recorder) -> None:
    """Masks, errors, coalescing, real-time queues with values, next_signal's
    order (synchronous signals first), signalfd reads of several records."""
    api, do, s = rec.api, rec.do, sigs(rec)
    me = os.getpid()
    blocked = {HUP, BUS, USR1, USR2, TERM, SYS, RT, RT + 3}
    do("sigprocmask how 7", lambda: s.sigprocmask(7, {USR1}))
    do("block them and KILL, STOP: the old mask",
       lambda: sorted(s.sigprocmask(SIG_BLOCK, blocked | {KILL, STOP})))
    do("the mask (without KILL, STOP)", lambda: sorted(s.sigprocmask(SIG_BLOCK, None)))
    do("nothing pending", lambda: sorted(s.sigpending()))
    do("kill me 0", lambda: s.kill(me, 0))
    do("kill me 65", lambda: s.kill(me, 65))
    do("kill me -1", lambda: s.kill(me, -1))
    do("kill no such pid", lambda: s.kill(NO_PID, 0))
    do("kill no such pid, bad signal", lambda: s.kill(NO_PID, 99))
    do("sigqueue no such pid", lambda: s.sigqueue(NO_PID, RT, 1))
    do("sigqueue me 65", lambda: s.sigqueue(me, 65, 1))
    do("kill TERM", lambda: s.kill(me, TERM))
    do("kill HUP", lambda: s.kill(me, HUP))
    do("kill USR1", lambda: s.kill(me, USR1))
    do("kill USR1 again", lambda: s.kill(me, USR1))
    do("sigqueue RT+3 30", lambda: s.sigqueue(me, RT + 3, 30))
    do("sigqueue RT -1", lambda: s.sigqueue(me, RT, -1))
    do("kill RT", lambda: s.kill(me, RT))
    do("sigqueue RT+3 a pointer", lambda: s.sigqueue(me, RT + 3, 0x7F00_1234_5678_9ABC))
    do("sigqueue RT 2", lambda: s.sigqueue(me, RT, 2))
    do("sigqueue USR2 9", lambda: s.sigqueue(me, USR2, 9))
    do("sigqueue USR2 10 (coalesces)", lambda: s.sigqueue(me, USR2, 10))
    do("kill SYS", lambda: s.kill(me, SYS))
    do("kill BUS", lambda: s.kill(me, BUS))
    do("pending", lambda: sorted(s.sigpending()))
    fd = s.signalfd(-1, blocked, SFD_NONBLOCK)
    do("poll", lambda: mask(fd))
    do("read 127 bytes", lambda: api.read(fd, 127))
    do("read one record", lambda: records(rec, s.read_siginfo(fd, 1)))
    do("read three", lambda: records(rec, s.read_siginfo(fd, 3)))
    do("pending now", lambda: sorted(s.sigpending()))
    do("read the rest", lambda: records(rec, s.read_siginfo(fd)))
    do("read again", lambda: s.read_siginfo(fd))
    do("poll after", lambda: mask(fd))
    api.close(fd)


def descriptors(rec: Recorder) -> None:
    """signalfd4's flags and descriptors, its mask (KILL and STOP dropped),
    updates through an existing descriptor, write."""
    api, do, s = rec.api, rec.do, sigs(rec)
    me = os.getpid()
    s.sigprocmask(SIG_BLOCK, {USR1, USR2})
    do("bad flags", lambda: s.signalfd(-1, {USR1}, 0x1))
    do("a descriptor not open", lambda: s.signalfd(4000, {USR1}, 0))
    e = api.eventfd(0, 0)
    do("an eventfd", lambda: s.signalfd(e, {USR1}, 0))
    api.close(e)
    fd = s.signalfd(-1, {USR1, KILL, STOP}, SFD_NONBLOCK)
    do("kill USR2", lambda: s.kill(me, USR2))
    do("USR2 is not its mask: poll", lambda: mask(fd))
    do("read", lambda: s.read_siginfo(fd))
    do("update to USR2: the same descriptor", lambda: s.signalfd(fd, {USR2}, 0) == fd)
    do("poll", lambda: mask(fd))
    do("write", lambda: api.write(fd, bytes(128)))
    do("read (still non-blocking)", lambda: records(rec, s.read_siginfo(fd)))
    do("read again", lambda: s.read_siginfo(fd))
    do("kill USR1", lambda: s.kill(me, USR1))
    do("not read: pending", lambda: sorted(s.sigpending()))
    do("unblock USR2: the old mask", lambda: sorted(s.sigprocmask(SIG_UNBLOCK, {USR2})))
    other = s.signalfd(-1, {USR1}, SFD_NONBLOCK)
    do("a second signalfd reads USR1", lambda: records(rec, s.read_siginfo(other)))
    api.close(other)
    api.close(fd)


def rlimit(rec: Recorder) -> None:
    """RLIMIT_SIGPENDING: sigqueue of a real-time signal past it is EAGAIN;
    a kill, or a standard signal, is pending without its siginfo.  The count
    is per uid over the whole system, so this runs as a uid nothing else uses."""
    s = sigs(rec)

    def body() -> list[tuple[str, Any]]:
        me = os.getpid()
        rec.role(me, "me")
        _, hard = resource.getrlimit(resource.RLIMIT_SIGPENDING)
        resource.setrlimit(resource.RLIMIT_SIGPENDING, (3, hard))
        s.sigprocmask(SIG_BLOCK, {USR1, RT, RT + 1})
        fd = s.signalfd(-1, {USR1, RT, RT + 1}, SFD_NONBLOCK)
        calls: list[tuple[str, Any]] = [
            (f"sigqueue RT {v}", lambda v=v: s.sigqueue(me, RT, v)) for v in range(1, 5)]
        calls += [("kill RT+1", lambda: s.kill(me, RT + 1)),
                  ("sigqueue USR1", lambda: s.sigqueue(me, USR1, 5)),
                  ("pending", lambda: sorted(s.sigpending())),
                  ("read them", lambda: records(rec, s.read_siginfo(fd))),
                  ("room again", lambda: s.sigqueue(me, RT, 6)),
                  ("read it", lambda: records(rec, s.read_siginfo(fd)))]
        return rec.outcomes(calls)

    for label, value in as_user(UID, UID, body, rec=rec):
        rec.note(label, value)


def delivery(rec: Recorder) -> None:
    """A blocked signal stays pending until unblocked, then its handler runs
    (before sigprocmask returns); an unblocked one is handled at once."""
    do, s = rec.do, sigs(rec)
    me = os.getpid()
    got: list[int] = []
    for sig in (USR1, RT + 2):
        signal.signal(sig, lambda n, f: got.append(n))
    try:
        s.sigprocmask(SIG_BLOCK, {USR1, RT + 2})
        do("kill USR1", lambda: s.kill(me, USR1))
        # one instance each: Python runs a handler once for instances that
        # arrive together, and on uipc's side they may arrive apart
        do("sigqueue RT+2", lambda: s.sigqueue(me, RT + 2, 1))
        do("pending", lambda: sorted(s.sigpending()))
        do("handled while blocked", lambda: list(got))
        do("unblock: the old mask", lambda: sorted(s.sigprocmask(SIG_UNBLOCK, {USR1, RT + 2})))
        # sorted: on uipc's side the two arrive one by one, and Python runs the
        # handlers of signals that arrive together by number, whatever the order
        do("handled once unblocked", lambda: sorted(got))
        do("pending after", lambda: sorted(s.sigpending()))
        do("kill USR1, unblocked", lambda: s.kill(me, USR1))
        do("handled", lambda: sorted(got))
    finally:
        for sig in (USR1, RT + 2):
            signal.signal(sig, signal.SIG_DFL)


SCENARIOS = [
    Scenario("signals: masks, errors, coalescing, real-time queues, dequeue order", "signalfd",
             queues),
    Scenario("signalfd descriptors, masks and updates", "signalfd", descriptors),
    Scenario("RLIMIT_SIGPENDING: EAGAIN and lost siginfo", "signalfd", rlimit),
    Scenario("blocked, unblocked and delivered signals", "signalfd", delivery),
]
