"""The uipc daemon: thin wiring of the parts that play the kernel.

- ``loop``: epoll, the spin before sleeping;
- ``listener``: the socket, its directory and lock, accepting, EMFILE;
- ``transport``: connection I/O, SCM_RIGHTS, back-pressure, per-uid shares;
- ``session``: sans-I/O request sequencing (blocked, deferred, LINK,
  SKIP_SUCCESS, interrupt) over the generic ``dispatch`` of the syscall table;
- ``serving``: each connection's turn: reading, fair shares, replies, drops;
- ``procwatch``: identity (SO_PEERCRED, /proc, pidfds), where a new process
  lives, exits and the exec rule.

One thread: each loop turn waits for sockets, pidfds or the kernel's next
deadline, feeds every input to the kernel with both clocks, and writes every
result out.  The kernel never blocks, so a client blocked in msgrcv costs
nothing but a record in a wait queue.  Nothing a client sends stops the
daemon: an error serving one connection drops that connection.
"""
from __future__ import annotations

import ctypes
import errno
import functools
import os
import socket
import time
from pathlib import Path
from typing import Any

from uipc import protocol as P
from uipc.kernel import Kernel, KernelError, Task
from uipc.server.files import FileEffects
from uipc.server.heap import malloc_trim
from uipc.server.listener import Listener, refuse
from uipc.server.loop import READ, Poller
from uipc.server.memfd import MemfdAllocator
from uipc.server.procwatch import IdentityError, ProcessWatch
from uipc.server.ratelimit import RateLimitedLog
from uipc.server.serving import Connections
from uipc.server.session import Engine, Session
from uipc.server.transport import FRAMES_PER_TURN, FRAMES_PER_UID_PER_TURN, Conn, Transport
from uipc.spin import Spin

#: how long the loop polls for the next request before it sleeps (uipc.spin)
SPIN_US = 50
#: the longest an idle loop sleeps before it looks at its stop flag again (s)
IDLE_TURN = 1.0
#: a freed total this large since the last trim gives memory back (malloc_trim)
TRIM_AFTER_FREED = 16 * 1024 * 1024
__all__ = ["Daemon", "FRAMES_PER_TURN", "FRAMES_PER_UID_PER_TURN"]


def clocks() -> tuple[float, float]:
    """CLOCK_REALTIME for stamps, CLOCK_MONOTONIC for deadlines."""
    return time.time(), time.monotonic()


class ClockSetWatch:
    """Learns that the machine's wall clock was set: a real timerfd on
    CLOCK_REALTIME armed TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET for a
    time that never comes, whose read fails with ECANCELED exactly when the
    clock is set (the way systemd watches for clock changes).  Python 3.11
    has no os.timerfd_*: libc through ctypes.  ``fd`` is -1 where that fails
    (the daemon then serves without, as before)."""

    #: include/uapi/linux/time.h, timerfd.h
    CLOCK_REALTIME, TFD_TIMER_ABSTIME, TFD_TIMER_CANCEL_ON_SET = 0, 1, 2
    TFD_NONBLOCK, TFD_CLOEXEC = os.O_NONBLOCK, os.O_CLOEXEC
    #: the expiry: beyond any real clock (ktime saturates at KTIME_MAX)
    NEVER = 1 << 40

    class _ITimerSpec(ctypes.Structure):
        _fields_ = [("interval_sec", ctypes.c_long), ("interval_nsec", ctypes.c_long),
                    ("value_sec", ctypes.c_long), ("value_nsec", ctypes.c_long)]

    def __init__(self) -> None:
        self.fd = -1
        try:
            self._libc = ctypes.CDLL(None, use_errno=True)
            fd = self._libc.timerfd_create(self.CLOCK_REALTIME,
                                           self.TFD_NONBLOCK | self.TFD_CLOEXEC)
        except (OSError, AttributeError):
            return
        if fd < 0:
            return
        self.fd = fd
        if not self.arm():
            self.close()

    def arm(self) -> bool:
        """(Re-)arm: after an ECANCELED read the next clock set is seen too."""
        spec = self._ITimerSpec(0, 0, self.NEVER, 0)
        flags = self.TFD_TIMER_ABSTIME | self.TFD_TIMER_CANCEL_ON_SET
        return self._libc.timerfd_settime(self.fd, flags, ctypes.byref(spec), None) == 0

    def was_set(self) -> bool:
        """The fd is readable: True if the read says ECANCELED (clock set)."""
        try:
            os.read(self.fd, 8)
        except OSError as exc:
            if exc.errno != errno.ECANCELED:
                return False
            self.arm()
            return True
        return False  # an expiry of NEVER: cannot happen

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


class Daemon:
    """Serve a kernel on a unix socket until stopped."""

    def __init__(self, socket_path: Path, *, system: bool = False, spin_us: int = SPIN_US) -> None:
        self.path, self.system, self.spin = Path(socket_path), system, Spin(spin_us)
        self.memory = MemfdAllocator()
        self.kernel = Kernel(shm_allocator=self.memory, owner_uid=os.geteuid())
        self.poller = Poller()
        self.log = RateLimitedLog()
        self.engine = Engine(self.kernel, clocks)
        self.procs = ProcessWatch(self.kernel, self.poller, clocks,
                                  lambda tasks: self.serving.close_tasks(tasks))
        self.files = FileEffects(self.kernel, self.memory.fd_of, self.procs.pidfds, clocks)
        self.transport = Transport(self.poller, self.files.fd_of,
                                   lambda conn: self.serving.drop(conn))
        self.listener = Listener(self.path, system, self.poller, self._admit, self.log)
        self.serving = Connections(self.kernel, self.engine, self.transport, self.procs,
                                   self.listener, self.log, self.files)
        #: names this daemon instance: a client that reconnects to another
        #: one (after a restart) knows its ids point at nothing
        self.boot_id = int.from_bytes(os.urandom(8), "little") or 1
        self._stop = False
        self._wake_r, self._wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._freed = 0
        self.clock_watch = ClockSetWatch()

    def bind(self) -> bool:
        """Take the lock and listen.  False if another daemon holds the lock."""
        if not self.listener.bind():
            return False
        self.poller.register(self._wake_r, READ, lambda m: os.read(self._wake_r, 64))
        self.poller.register(self.files.doorbells.fd, READ, self.files.on_readable)
        if self.clock_watch.fd >= 0:
            self.poller.register(self.clock_watch.fd, READ, self._on_clock_watch)
        return True

    def _on_clock_watch(self, mask: int) -> None:
        """The wall clock may have been set: the core re-bases its absolute
        realtime timerfds and cancels the TFD_TIMER_CANCEL_ON_SET ones; the
        turn then answers and rings doorbells as for any input."""
        if self.clock_watch.was_set():
            self.kernel.clock_was_set(*clocks())

    @property
    def wakeup_fd(self) -> int:
        """Write a byte here to wake the loop (signal.set_wakeup_fd takes it)."""
        return self._wake_w

    def stop(self) -> None:
        """Ask the loop to end (safe from a signal handler)."""
        self._stop = True
        try:
            os.write(self._wake_w, b"x")
        except OSError:
            pass

    def close(self) -> None:
        for conn in list(self.serving.conns.values()):
            self.transport.close(conn)
        self.procs.close()
        self.files.close()
        self.listener.close()
        self.poller.close()
        self.clock_watch.close()

    @property
    def conns(self) -> dict[Task, Conn]:
        """task -> its connection (uipc.server.serving)."""
        return self.serving.conns

    def serve_forever(self) -> None:
        while not self._stop:
            # an idle loop still looks up once a second: a stop() whose wake-up
            # was lost (a signal handled late) is noticed within that second
            self.turn(IDLE_TURN)

    def turn(self, max_timeout: float | None = None) -> None:
        """One turn: wait for input (at most ``max_timeout``), serve it fairly,
        advance time, answer."""
        kernel, resume = self.kernel, self.listener.resume_at
        deadline = kernel.next_deadline()  # monotonic
        timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
        if resume is not None:
            timeout = max(0.0, min(timeout if timeout is not None else 1e9,
                                   resume - time.monotonic()))
        if self.serving.backlog:
            timeout = 0.0
        if max_timeout is not None:
            timeout = max_timeout if timeout is None else min(timeout, max_timeout)
        transport = self.transport
        transport.new_turn()
        try:
            for handler, mask in self.poller.wait(self.spin, timeout):
                handler(mask)
            serving = self.serving
            if serving.backlog:
                serving.serve_backlog()
            if resume is not None or deadline is not None:
                now, mono = clocks()
                if resume is not None and mono >= resume:
                    self.listener.resume()
                if deadline is not None:
                    kernel.advance(now, mono)
            if kernel.has_completions() or self.engine.touched:
                serving.answer(self.engine.complete())
            if self.files.pending():  # an exit, a timeout: doorbells and signals follow
                self.files.apply()
            if self.engine.tracers.touched:  # trace events out to their subscribers
                serving.answer(self.engine.tracers.take_touched())
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
        conn.handler = lambda m, c=conn: self.serving.on_conn(c, m)
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
        self.serving.conns[task] = conn
        self.engine.sessions[task] = session
        session.outbox.append((P.encode_reply(req_id, P.HELLO_RESULT.pack(
            P.VERSION, conn.pid, task.tid, self.boot_id, P.MAX_FRAME)), [], None))
        return task

    def _trim(self) -> None:
        """Give freed memory back to the system once much has been freed."""
        self._freed += self.kernel.take_freed_bytes()
        if self._freed >= TRIM_AFTER_FREED:
            self._freed = 0
            malloc_trim()
