"""The uipc daemon: thin wiring of the parts that play the kernel.

- ``loop``: epoll, the spin before sleeping;
- ``listener``: the socket, its directory and lock, accepting, EMFILE;
- ``transport``: connection I/O, SCM_RIGHTS, back-pressure, per-uid shares;
- ``session``: sans-I/O request sequencing (blocked, deferred, LINK,
  SKIP_SUCCESS, interrupt) over the generic ``dispatch`` of the syscall table;
- ``procwatch``: identity (SO_PEERCRED, /proc, pidfds), where a new process
  lives, exits and the exec rule.

One thread: each loop turn waits for sockets, pidfds or the kernel's next
deadline, feeds every input to the kernel with both clocks, and writes every
result out.  The kernel never blocks, so a client blocked in msgrcv costs
nothing but a record in a wait queue.  Nothing a client sends stops the
daemon: an error serving one connection drops that connection.
"""
from __future__ import annotations

import errno
import functools
import os
import socket
import time
from pathlib import Path
from time import perf_counter_ns
from typing import Any, Callable

from uipc import protocol as P
from uipc.kernel import Kernel, KernelError, Task
from uipc.server.heap import malloc_trim
from uipc.server.listener import Listener, refuse
from uipc.server.loop import READ, WRITE, Poller
from uipc.server.memfd import MemfdAllocator
from uipc.server.procwatch import IdentityError, ProcessWatch
from uipc.server.ratelimit import RateLimitedLog
from uipc.server.session import Engine, Session
from uipc.server.transport import (
    FRAMES_PER_TURN, FRAMES_PER_UID_PER_TURN, NS_PER_UID_PER_TURN, Conn, Transport,
)
from uipc.spin import Spin

#: how long the loop polls for the next request before it sleeps (uipc.spin)
SPIN_US = 50
#: bytes of unfinished frames buffered across all connections (per uid: the quota)
MAX_PARTIAL_INPUT = 1024 * 1024 * 1024
#: a freed total this large since the last trim gives memory back (malloc_trim)
TRIM_AFTER_FREED = 16 * 1024 * 1024
_REQ_HEADER, _REQ_HDR = P.REQ_HEADER.unpack_from, P.REQ_HEADER.size
_INTERRUPT = P.OPS_BY_NAME["interrupt"].code
__all__ = ["Daemon", "FRAMES_PER_TURN", "FRAMES_PER_UID_PER_TURN"]


def clocks() -> tuple[float, float]:
    """CLOCK_REALTIME for stamps, CLOCK_MONOTONIC for deadlines."""
    return time.time(), time.monotonic()


class Daemon:
    """Serve a kernel on a unix socket until stopped."""

    def __init__(self, socket_path: Path, *, system: bool = False, spin_us: int = SPIN_US) -> None:
        self.path, self.system, self.spin = Path(socket_path), system, Spin(spin_us)
        self.memory = MemfdAllocator()
        self.kernel = Kernel(shm_allocator=self.memory, owner_uid=os.geteuid())
        self.poller = Poller()
        self.log = RateLimitedLog()
        self.engine = Engine(self.kernel, clocks)
        self.procs = ProcessWatch(self.kernel, self.poller, clocks, self._close_tasks)
        self.transport = Transport(self.poller, self.memory.fd_of, self._drop)
        self.listener = Listener(self.path, system, self.poller, self._admit, self.log)
        #: names this daemon instance: a client that reconnects to another
        #: one (after a restart) knows its ids point at nothing
        self.boot_id = int.from_bytes(os.urandom(8), "little") or 1
        self.conns: dict[Task, Conn] = {}
        #: connections with frames waiting for their turn
        self._backlog: set[Conn] = set()
        self._stop = False
        self._wake_r, self._wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._freed = 0

    def bind(self) -> bool:
        """Take the lock and listen.  False if another daemon holds the lock."""
        if not self.listener.bind():
            return False
        self.poller.register(self._wake_r, READ, lambda m: os.read(self._wake_r, 64))
        return True

    def stop(self) -> None:
        """Ask the loop to end (safe from a signal handler)."""
        self._stop = True
        try:
            os.write(self._wake_w, b"x")
        except OSError:
            pass

    def close(self) -> None:
        for conn in list(self.conns.values()):
            self.transport.close(conn)
        self.procs.close()
        self.listener.close()
        self.poller.close()

    def serve_forever(self) -> None:
        while not self._stop:
            self.turn()

    def turn(self, max_timeout: float | None = None) -> None:
        """One turn: wait for input (at most ``max_timeout``), serve it fairly,
        advance time, answer."""
        kernel, resume = self.kernel, self.listener.resume_at
        deadline = kernel.next_deadline()  # monotonic
        timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
        if resume is not None:
            timeout = max(0.0, min(timeout if timeout is not None else 1e9,
                                   resume - time.monotonic()))
        if self._backlog:
            timeout = 0.0
        if max_timeout is not None:
            timeout = max_timeout if timeout is None else min(timeout, max_timeout)
        transport = self.transport
        transport.new_turn()
        try:
            for handler, mask in self.poller.wait(self.spin, timeout):
                handler(mask)
            if self._backlog:
                for conn in list(self._backlog):
                    self._guarded(conn, self._serve)
            if resume is not None or deadline is not None:
                now, mono = clocks()
                if resume is not None and mono >= resume:
                    self.listener.resume()
                if deadline is not None:
                    kernel.advance(now, mono)
            if kernel.has_completions():
                self._answer(self.engine.complete())
            if transport.dirty:
                transport.flush_all()
            if kernel.freed_bytes:
                self._trim()
        except Exception:  # a bug in uipc outside any one connection: log it, go on
            self.log.warn("loop", "internal error in the daemon's loop", exc_info=True)

    # --- connections ------------------------------------------------------
    def _admit(self, sock: socket.socket) -> None:
        sock.setblocking(False)
        try:
            peer, pidfd = self.procs.identity.identify(sock)
        except (IdentityError, OSError) as exc:
            err, detail = ((exc.errno, exc.detail) if isinstance(exc, IdentityError)
                           else (exc.errno or errno.EIO, f"cannot identify the peer: {exc}"))
            self.log.warn("identify", "refusing a connection: %s", detail)
            refuse(sock, err, detail)
            return
        load = self.transport.load_of(peer.uid)
        limits = self.kernel.quota.limits
        if load.conns >= limits.connections:
            self.log.warn(f"conns{peer.uid}", "uid %d holds %d connections; refusing another",
                          peer.uid, limits.connections)
            os.close(pidfd)
            refuse(sock, errno.EMFILE, f"uid {peer.uid} has {limits.connections} connections open "
                   "(uipc.quota.connections)")
            return
        load.conns += 1
        self.transport.reply_quota = limits.reply_bytes
        conn = Conn(sock, None, peer, pidfd, load)  # type: ignore[arg-type]
        conn.session = Session(self.engine, functools.partial(self._hello, conn), f"pid {peer.pid}")
        conn.handler = lambda m, c=conn: self._on_conn(c, m)
        self.transport.watch(conn)

    def _hello(self, conn: Conn, session: Session, req_id: int, args: tuple[Any, ...],
               tail: bytes) -> Task:
        """The first frame: the connection becomes a task (procwatch)."""
        version, flags, _ = args
        if version != P.VERSION:
            raise KernelError(errno.EPROTO, f"this daemon speaks protocol {P.VERSION}, the client "
                              f"{version}: use the same uipc on both sides")
        try:
            ns_name = tail.decode()
        except UnicodeDecodeError:
            raise KernelError(errno.EINVAL, "namespace name is not UTF-8") from None
        try:
            task, conn.peer, took = self.procs.attach(conn.peer, conn.pidfd, ns_name,
                                                     bool(flags & P.HELLO_CREATE_NS))
        except IdentityError as exc:
            raise KernelError(exc.errno, exc.detail) from None
        if took:
            conn.pidfd = -1
        self.conns[task] = conn
        self.engine.sessions[task] = session
        session.outbox.append((P.encode_reply(req_id, P.HELLO_RESULT.pack(
            P.VERSION, conn.pid, task.tid, self.boot_id, P.MAX_FRAME)), [], None))
        return task

    def _on_conn(self, conn: Conn, mask: int) -> None:
        """Its socket is ready.  Whatever goes wrong drops it (logged)."""
        try:
            if mask & WRITE:
                self.transport.write(conn)
            if mask & READ and not conn.closed and conn not in self._backlog:
                self._read(conn)
                # answer now, not at the end of the turn: with many clients ready,
                # each can go on while the others' requests are handled
                if conn.session.outbox and not conn.closed:
                    self.transport.send_replies(conn)
        except Exception:
            self.log.warn("conn", "internal error serving pid %d; dropping its connection",
                          conn.pid, exc_info=True)
            self._drop(conn)

    def _read(self, conn: Conn) -> None:
        load = conn.load
        if load.frames >= FRAMES_PER_UID_PER_TURN or load.spent >= NS_PER_UID_PER_TURN:
            return  # its uid had its share of this turn: the socket stays readable
        n = self.transport.recv(conn)
        if n <= 0:
            if n == 0:
                self._drop(conn)
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
        self._serve(conn)

    def _serve(self, conn: Conn) -> None:
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
            self._backlog.add(conn)
        else:
            self._backlog.discard(conn)
        limit = self.kernel.quota.limits.input_bytes
        if conn.load.partial > limit or self.transport.partial > MAX_PARTIAL_INPUT:
            self.log.warn("partial", "uid %d has %d bytes of unfinished frames buffered (quota "
                          "uipc.quota.input_bytes %d); dropping pid %d's connection",
                          conn.uid, conn.load.partial, limit, conn.pid)
            self._drop(conn)

    def _answer(self, sessions: list[Session]) -> None:
        """Sleepers completed: their replies out, their held-back requests on."""
        conns, transport = self.conns, self.transport
        for session in sessions:
            conn = conns.get(session.task)  # type: ignore[arg-type]
            if conn is None or conn.closed:
                continue
            transport.send_replies(conn)
            if session.ready():
                self._guarded(conn, self._serve)

    def _guarded(self, conn: Conn, fn: Callable[[Conn], None]) -> None:
        """Serve one connection; whatever goes wrong drops it (and is logged)."""
        try:
            fn(conn)
            if conn.session.outbox and not conn.closed:
                self.transport.take_replies(conn)
        except Exception:
            self.log.warn("conn", "internal error serving pid %d; dropping its connection",
                          conn.pid, exc_info=True)
            self._drop(conn)

    def _drop(self, conn: Conn) -> None:
        """The connection closed (or must): that thread is gone."""
        if conn.closed:
            return
        self._backlog.discard(conn)
        self.transport.close(conn)
        self.listener.resume()  # a descriptor is free
        task = conn.session.task
        if task is not None:
            self.conns.pop(task, None)
            self.engine.sessions.pop(task, None)
            self.procs.task_gone(task)

    def _close_tasks(self, tasks: list[Task]) -> None:
        """Their process exited: close their connections, quietly."""
        for task in tasks:
            conn = self.conns.pop(task, None)
            self.engine.sessions.pop(task, None)
            if conn is not None:
                self._backlog.discard(conn)
                self.transport.close(conn)

    def _trim(self) -> None:
        """Give freed memory back to the system once much has been freed."""
        self._freed += self.kernel.take_freed_bytes()
        if self._freed >= TRIM_AFTER_FREED:
            self._freed = 0
            malloc_trim()
