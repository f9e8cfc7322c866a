"""Serving connections: reading requests, fair turns, replies, drops.

The per-connection half of the daemon's loop.  A connection's socket is
ready: its uid's share of the turn (frames and time, uipc.server.transport)
decides whether it is read now; exactly one whole request goes straight to
the session, anything else through its frame decoder; replies go out at
once.  Sleepers the kernel completed get their replies here too, and their
held-back requests run.  Whatever goes wrong serving one connection drops
that connection (logged), never the daemon.
"""
from __future__ import annotations

from time import perf_counter_ns
from typing import Callable

from uipc import protocol as P
from uipc.kernel import Kernel, Task
from uipc.server.listener import Listener
from uipc.server.loop import READ, WRITE
from uipc.server.procwatch import ProcessWatch
from uipc.server.files import FileEffects
from uipc.server.ratelimit import RateLimitedLog
from uipc.server.session import Engine, Session
from uipc.server.transport import FRAMES_PER_UID_PER_TURN, NS_PER_UID_PER_TURN, Conn, Transport

#: bytes of unfinished frames buffered across all connections (per uid: the quota)
MAX_PARTIAL_INPUT = 1024 * 1024 * 1024
_REQ_HEADER, _REQ_HDR = P.REQ_HEADER.unpack_from, P.REQ_HEADER.size
_INTERRUPT = P.OPS_BY_NAME["interrupt"].code


class Connections:
    """The daemon's connections and how each is served."""

    def __init__(self, kernel: Kernel, engine: Engine, transport: Transport, procs: ProcessWatch,
                 listener: Listener, log: RateLimitedLog, effects: FileEffects) -> None:
        self.kernel, self.engine, self.transport = kernel, engine, transport
        self.procs, self.listener, self.log = procs, listener, log
        #: the core's outputs on descriptors and signals, applied before replies
        self.effects = effects
        #: task -> its connection, once it said hello
        self.conns: dict[Task, Conn] = {}
        #: connections with frames waiting for their turn
        self.backlog: set[Conn] = set()

    def serve_backlog(self) -> None:
        for conn in list(self.backlog):
            self.guarded(conn, self.serve)

    def on_conn(self, conn: Conn, mask: int) -> None:
        """Its socket is ready.  Whatever goes wrong drops it (logged)."""
        try:
            if mask & WRITE:
                self.transport.write(conn)
            if mask & READ and not conn.closed and conn not in self.backlog:
                self.read(conn)
                # answer now, not at the end of the turn: with many clients ready,
                # each can go on while the others' requests are handled
                if conn.session.outbox and not conn.closed:
                    if self.effects.pending():  # doorbells first: the reply may be acted on
                        self.effects.apply()
                    self.transport.send_replies(conn)
        except Exception:  # (inline, not through guarded: this is the hot path)
            self.failed(conn)

    def read(self, conn: Conn) -> None:
        load = conn.load
        # Transport.budget's test, inline on the hot path (one whole request a read)
        if load.frames >= FRAMES_PER_UID_PER_TURN or load.spent >= NS_PER_UID_PER_TURN:
            return  # its uid had its share of this turn: the socket stays readable
        n = self.transport.recv(conn)
        if n <= 0:
            if n == 0:
                self.drop(conn)
            return
        session, view = conn.session, self.transport.rview
        if (n >= _REQ_HDR and session.task is not None and session.blocked is None
                and not session.deferred and not session.decoder.buffered):
            # the common case: exactly one whole request arrived; it needs no decoder
            length, req_id, code = _REQ_HEADER(view)
            if length + 4 == n and code != _INTERRUPT:
                load.frames += 1
                started = perf_counter_ns()
                session.request(req_id, code, bytes(view[_REQ_HDR:n]))
                load.spent += perf_counter_ns() - started
                return
        session.feed(view[:n])
        self.serve(conn)

    def serve(self, conn: Conn) -> None:
        session = conn.session
        started = perf_counter_ns()
        used, more = session.serve(max(0, self.transport.budget(conn)))
        conn.load.frames += used
        conn.load.spent += perf_counter_ns() - started
        self.transport.charge_input(conn)
        if session.closing:
            self.transport.flush_and_close(conn)
            return
        if more or session.ready():
            self.backlog.add(conn)
        else:
            self.backlog.discard(conn)
        limit = self.kernel.quota.limits.input_bytes
        if conn.load.partial > limit or self.transport.partial > MAX_PARTIAL_INPUT:
            self.log.warn("partial", "uid %d has %d bytes of unfinished frames buffered (quota "
                          "uipc.quota.input_bytes %d); dropping pid %d's connection",
                          conn.uid, conn.load.partial, limit, conn.pid)
            self.drop(conn)

    def answer(self, sessions: list[Session]) -> None:
        """Sleepers completed: their replies out, their held-back requests on."""
        conns, transport = self.conns, self.transport
        if self.effects.pending():
            self.effects.apply()
        for session in sessions:
            conn = conns.get(session.task)  # type: ignore[arg-type]
            if conn is None or conn.closed:
                continue
            transport.send_replies(conn)
            if session.ready():
                self.guarded(conn, self.serve)

    def guarded(self, conn: Conn, fn: Callable[[Conn], None]) -> None:
        """Serve one connection; whatever goes wrong drops it (and is logged)."""
        try:
            fn(conn)
            if self.effects.pending():
                self.effects.apply()
            if conn.session.outbox and not conn.closed:
                self.transport.take_replies(conn)
        except Exception:
            self.failed(conn)

    def failed(self, conn: Conn) -> None:
        """A bug in uipc while serving ``conn``: log it, drop that connection."""
        self.log.warn("conn", "internal error serving pid %d; dropping its connection",
                      conn.pid, exc_info=True)
        self.drop(conn)

    def drop(self, conn: Conn) -> None:
        """The connection closed (or must): that thread is gone."""
        if conn.closed:
            return
        self.backlog.discard(conn)
        self.transport.close(conn)
        self.listener.resume()  # a descriptor is free
        task = conn.session.task
        self.engine.tracers.drop(conn.session)
        if task is not None:
            self.conns.pop(task, None)
            self.engine.sessions.pop(task, None)
            self.procs.task_gone(task)

    def close_tasks(self, tasks: list[Task]) -> None:
        """Their process exited: close their connections, quietly."""
        for task in tasks:
            conn = self.conns.pop(task, None)
            session = self.engine.sessions.pop(task, None)
            if session is not None:
                self.engine.tracers.drop(session)
            if conn is not None:
                self.backlog.discard(conn)
                self.transport.close(conn)

