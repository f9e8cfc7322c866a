"""The daemon's request sequencing, sans-I/O: no socket, no daemon, a fake clock.

Frames go in with Session.feed/serve, replies come out of Session.outbox;
the kernel is the real one.  Event order is checked as sequences, as trio's
tests do.
"""
from __future__ import annotations

import errno

from uipc import protocol as P
from uipc.kernel import Cred, Kernel
from uipc.server.session import Engine, Session
from uipc.uapi import GETVAL, IPC_NOWAIT, IPC_PRIVATE

OP = P.OPS_BY_NAME


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> tuple[float, float]:
        return self.now, self.now


def make(kernel: Kernel | None = None, pid: int = 100,
         engine: Engine | None = None) -> tuple[Session, Engine]:
    """A session that said hello, on ``engine`` (default: a new one)."""
    engine = engine or Engine(kernel or Kernel(), Clock())
    kernel = engine.kernel

    def hello(session: Session, req_id: int, args: tuple, tail: bytes):  # type: ignore[no-untyped-def]
        proc = kernel.processes.get(pid) or kernel.new_process(pid, Cred.of(0, 0), "")
        task = kernel.new_task(proc)
        engine.sessions[task] = session
        session.outbox.append((P.encode_reply(req_id, b"hi"), [], None))
        return task

    s = Session(engine, hello)
    s.feed(P.encode_request(OP["hello"], 1, (P.VERSION, 0, 0)))
    s.serve(32)
    s.outbox.clear()
    return s, engine


def replies(s: Session) -> list[tuple[int, int]]:
    """(req_id, status) of what the session answered, in order; clears the outbox."""
    out = [P.REPLY_HEADER.unpack_from(frame)[1:] for frame, _, _ in s.outbox]
    s.outbox.clear()
    return out


def req(code: str, req_id: int, args: tuple, tail: bytes = b"", flags: int = 0) -> bytes:
    op = OP[code]
    st = P.REQUEST_STRUCTS[op.code]
    return st.pack(st.size - 4 + len(tail), req_id, op.code | flags, *args) + tail


def test_requests_run_in_order_and_a_blocked_one_holds_back_the_rest() -> None:
    s, engine = make()
    s.feed(req("msgget", 2, (IPC_PRIVATE, 0o600)))
    s.serve(32)
    (rid, status), = replies(s)
    assert (rid, status) == (2, 0)
    # a blocking msgrcv, then a GETVAL behind it: the second waits for the first
    s.feed(req("msgrcv", 3, (0, 64, 0, 0)) + req("semctl", 4, (0, 0, GETVAL, 0)))
    s.serve(32)
    assert replies(s) == [] and s.blocked is not None and len(s.deferred) == 1
    # another task sends: the receiver completes, then the held-back request runs
    other, _ = make(engine.kernel, pid=101)
    other.feed(req("msgsnd", 9, (0, 1, 0), b"x"))
    other.serve(32)
    for done in engine.complete():
        done.serve(32)
    assert replies(s) == [(3, 0), (4, errno.EINVAL)]


def test_link_cancels_the_rest_of_a_failed_chain_and_skip_success_is_silent() -> None:
    s, _ = make()
    s.feed(req("msgrcv", 2, (12345, 64, 0, IPC_NOWAIT), flags=P.OP_LINK)
           + req("msgget", 3, (IPC_PRIVATE, 0o600), flags=P.OP_LINK)
           + req("msgget", 4, (IPC_PRIVATE, 0o600))
           + req("msgget", 5, (IPC_PRIVATE, 0o600), flags=P.OP_SKIP_SUCCESS)
           + req("msgget", 6, (IPC_PRIVATE, 0o600)))
    s.serve(32)
    assert replies(s) == [(2, errno.EINVAL), (3, errno.ECANCELED), (4, errno.ECANCELED), (6, 0)]


def test_interrupt_ends_the_blocked_request_and_the_held_back_ones() -> None:
    s, _ = make()
    s.feed(req("msgget", 2, (IPC_PRIVATE, 0o600)))
    s.serve(32)
    replies(s)
    s.feed(req("msgrcv", 3, (0, 64, 0, 0)) + req("msgget", 4, (IPC_PRIVATE, 0o600))
           + req("interrupt", 0, (4,)))
    s.serve(32)
    assert replies(s) == [(3, errno.EINTR), (4, errno.EINTR)]
    assert s.blocked is None and not s.deferred
    # an interrupt for a request already answered does nothing
    s.feed(req("interrupt", 0, (3,)) + req("msgget", 5, (IPC_PRIVATE, 0o600)))
    s.serve(32)
    assert replies(s) == [(5, 0)]


def test_an_interrupt_keeps_the_completions_of_others_for_the_turn() -> None:
    """A sleeper another call completed earlier in the turn must still be
    answered when an interrupt routes the completions first."""
    x, engine = make(pid=100)
    x.feed(req("msgget", 2, (IPC_PRIVATE, 0o600)) + req("msgget", 3, (IPC_PRIVATE, 0o600)))
    x.serve(32)
    replies(x)
    x.feed(req("msgrcv", 4, (0, 64, 0, 0)))            # x sleeps on queue 0
    x.serve(32)
    y, _ = make(pid=101, engine=engine)                # one daemon: one engine
    y.feed(req("msgrcv", 5, (1, 64, 0, 0)))            # y sleeps on queue 1
    y.serve(32)
    a, _ = make(pid=102, engine=engine)
    a.feed(req("msgsnd", 6, (0, 1, 0), b"x"))          # completes x, not yet routed
    a.serve(32)
    y.feed(req("interrupt", 0, (5,)))                  # routes every completion
    y.serve(32)
    assert replies(y) == [(5, errno.EINTR)]
    touched = engine.complete()                        # the end of the turn
    assert x in touched and replies(x) == [(4, 0)]
    assert engine.touched == [] and engine.complete() == []


def test_the_first_frame_must_be_hello_and_bad_frames_close() -> None:
    engine = Engine(Kernel(), Clock())
    s = Session(engine, lambda *a: None)  # type: ignore[arg-type, return-value]
    s.feed(req("msgget", 1, (IPC_PRIVATE, 0o600)))
    s.serve(32)
    assert replies(s) == [(1, errno.EPROTO)] and s.closing
    s2, _ = make()
    s2.feed(b"\xff\xff\xff\xff" + b"\0" * 8)  # a length past the frame limit
    s2.serve(32)
    assert replies(s2) == [(0, errno.EPROTO)] and s2.closing


def test_a_budget_leaves_the_rest_for_another_turn() -> None:
    s, _ = make()
    s.feed(b"".join(req("msgget", i, (IPC_PRIVATE, 0o600)) for i in range(2, 12)))
    used, more = s.serve(4)
    assert (used, more) == (4, True) and len(replies(s)) == 4
    used, more = s.serve(32)
    assert (used, more) == (6, False) and [r for r, _ in replies(s)] == list(range(6, 12))
