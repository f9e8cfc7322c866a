"""The uipc daemon: one event loop, one thread, one kernel.

A connection is one thread of a client process (a task).  Its process is
known by SO_PEERCRED, never by what the client says; supplementary groups are
read from /proc/PID/status.  Each process is watched with a pidfd, so a
``kill -9`` of a client still runs the kernel's exit path (undo, detach).

The loop: wait for sockets, pidfds or the kernel's next deadline; feed each
input to the kernel with the current time; write every result out.  The
kernel never blocks, so a client blocked in msgrcv costs nothing but a
record in a wait queue.
"""
from __future__ import annotations

import argparse
import ctypes
import errno
import faulthandler
import fcntl
import logging
import os
import select
import signal
import socket
import stat
import struct
import sys
import time
from collections import deque
from pathlib import Path
from typing import Any, Callable

from uipc import protocol as P
from uipc.kernel import BLOCKED, Cred, Kernel, KernelError, Process, Task
from uipc.kernel.syscalls import SYSCALLS
from uipc.kernel import sysctl as ksysctl
from uipc.kernel.namespace import IpcNamespace, ns_capable_owner
from uipc.kernel.task import CAP_SYS_ADMIN
from uipc.paths import SYSTEM_DIR, SOCKET_NAME, default_socket
from uipc.server import introspect
from uipc.server.dispatch import DECODERS, REPLY_ENCODERS
from uipc.server.memfd import MemfdAllocator
from uipc.server.procwatch import IdentityError, Peer, ProcWatch, parent_of, pidfd_exited
from uipc.spin import Spin
from uipc.uapi.ipc import IPC_NOWAIT

log = logging.getLogger("uipc.daemon")

#: replies buffered for a client that does not read them before it is dropped
#: (and per uid: uipc.quota.reply_bytes)
MAX_OUTPUT_BUFFER = 64 * 1024 * 1024
RECV_SIZE = 256 * 1024
#: frames handled per connection per loop turn, so a flooding client cannot
#: starve the others: the rest waits for the next turn
FRAMES_PER_TURN = 32
#: frames one uid's connections get per loop turn, together: 512 connections
#: of one user take no more turns than one connection of another
FRAMES_PER_UID_PER_TURN = 64
#: bytes of not-yet-complete frames buffered across all connections (and per
#: uid: uipc.quota.input_bytes)
MAX_PARTIAL_INPUT = 1024 * 1024 * 1024
#: a freed total this large since the last trim gives memory back (malloc_trim)
TRIM_AFTER_FREED = 16 * 1024 * 1024
#: how often one kind of warning may be logged
LOG_INTERVAL = 10.0
#: how long the loop polls for the next request before it sleeps (uipc.spin)
SPIN_US = 50
_INTERRUPT = P.OPS_BY_NAME["interrupt"].code
_INTERRUPT_ARGS = P.OPS_BY_NAME["interrupt"].struct
_REQ_HEADER = P.REQ_HEADER.unpack_from
_REQ_HDR = P.REQ_HEADER.size


READ = select.EPOLLIN
WRITE = select.EPOLLOUT
_ERR = select.EPOLLERR | select.EPOLLHUP


class Poller:
    """epoll with one handler per descriptor (lighter than the selectors module)."""

    def __init__(self) -> None:
        self._ep = select.epoll()
        self._handlers: dict[int, Any] = {}

    def register(self, fileobj: Any, events: int, handler: Any) -> None:
        fd = fileobj if isinstance(fileobj, int) else fileobj.fileno()
        self._ep.register(fd, events)
        self._handlers[fd] = handler

    def modify(self, fileobj: Any, events: int) -> None:
        self._ep.modify(fileobj if isinstance(fileobj, int) else fileobj.fileno(), events)

    def unregister(self, fileobj: Any) -> None:
        fd = fileobj if isinstance(fileobj, int) else fileobj.fileno()
        if self._handlers.pop(fd, None) is not None:
            self._ep.unregister(fd)

    def poll(self, timeout: float | None) -> list[tuple[Any, int]]:
        handlers = self._handlers
        return [(handlers[fd], ev if not ev & _ERR else ev | READ)
                for fd, ev in self._ep.poll(-1 if timeout is None else timeout) if fd in handlers]

    def close(self) -> None:
        self._ep.close()


class UidLoad:
    """What one uid's connections hold in the daemon (its fair share)."""

    __slots__ = ("conns", "partial", "out", "frames")

    def __init__(self) -> None:
        self.conns = 0
        #: unfinished and held-back input bytes
        self.partial = 0
        #: replies written but not read
        self.out = 0
        #: frames handled in this loop turn
        self.frames = 0


class Conn:
    """One client connection: one task once it has said hello."""

    __slots__ = ("sock", "decoder", "wbuf", "out", "out_bytes", "task", "pid", "uid", "gid",
                 "peer", "pidfd", "load", "forked", "blocked_req", "blocked_op", "blocked_flags", "blocked_more", "deferred", "chain_failed",
                 "writing", "closed", "handler")

    def __init__(self, sock: socket.socket, peer: Peer, pidfd: int, load: UidLoad) -> None:
        self.sock = sock
        #: the share of the uid it belongs to
        self.load = load
        #: it sent its fork report (accepted once)
        self.forked = False
        #: who connected, as read at accept (procwatch); only ever drops
        self.peer = peer
        #: the peer's pidfd until hello hands it to the process watch (-1 then)
        self.pidfd = pidfd
        self.decoder = P.FrameDecoder()
        #: replies of this loop turn, sent together at its end
        self.wbuf: list[bytes] = []
        #: what the socket did not take yet
        self.out: deque[tuple[memoryview, list[int]]] = deque()
        self.out_bytes = 0
        self.task: Task | None = None
        self.pid, self.uid, self.gid = peer.pid, peer.uid, peer.gid
        self.blocked_req = -1
        self.blocked_op: P.Op | None = None
        self.blocked_flags = 0
        #: what a multi-step request (msgsnd_many, msgrcv_many) does with the
        #: result of the step it sleeps in: a Continuation
        self.blocked_more: Continuation | None = None
        #: requests read behind a blocked one: (req_id, code, payload)
        self.deferred: deque[tuple[int, int, bytes]] = deque()
        #: a LINKed request failed: cancel the rest of its chain
        self.chain_failed = False
        self.writing = False
        self.closed = False
        self.handler: Any = None


#: a msgrcv_many reply takes more messages while it holds fewer bytes than
#: this (replies of a few MiB would each be copied several times, cold in cache)
MSGS_REPLY_BYTES = 2 * 1024 * 1024
#: bytes a held-back request is charged beyond its payload (its Python objects)
DEFERRED_OVERHEAD = 128
#: takes the result (a value or a KernelError) of the step a multi-step request
#: slept in; returns the request's result, or BLOCKED if it sleeps again
Continuation = Callable[[Any], Any]


class Daemon:
    """Serve a kernel on a unix socket until stopped."""

    def __init__(self, socket_path: Path, *, system: bool = False, spin_us: int = SPIN_US) -> None:
        self.path = Path(socket_path)
        self.system = system
        self.spin = Spin(spin_us)
        self.kernel = Kernel(shm_allocator=MemfdAllocator(), owner_uid=os.geteuid())
        self.sel = Poller()
        self.conns: dict[Task, Conn] = {}
        self.pidfds: dict[int, int] = {}  # pid -> pidfd
        #: pid -> start time of the process the kernel knows by that pid
        self.start_times: dict[int, int] = {}
        self.procwatch = ProcWatch()
        #: names this daemon instance: a client that reconnects to another
        #: one (after a restart) knows its ids point at nothing
        self.boot_id = int.from_bytes(os.urandom(8), "little") or 1
        self._stop = False
        self._listener: socket.socket | None = None
        self._lock_fd = -1
        self._wake_r, self._wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        #: connections with complete frames waiting for their turn
        self._backlog: set[Conn] = set()
        self._partial = 0
        self._loads: dict[int, UidLoad] = {}
        #: uids whose frames this turn are counted (reset every turn)
        self._turn_uids: list[UidLoad] = []
        #: a descriptor kept spare, so that a full table still lets the daemon
        #: accept a connection to tell it so (the classic EMFILE reserve)
        self._reserve_fd = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
        #: when the listener, paused for lack of descriptors, is polled again
        self._listen_resume: float | None = None
        self._last_log: dict[str, list[float]] = {}
        self._freed_since_trim = 0
        self._rbuf = bytearray(RECV_SIZE)
        self._ops = self._build_ops()
        #: connections with replies queued this turn
        self._dirty: list[Conn] = []
        self._rview = memoryview(self._rbuf)
        #: set by a multi-step request that goes to sleep: its Continuation
        self._more: Continuation | None = None

    # --- setup -----------------------------------------------------------
    def bind(self) -> bool:
        """Take the lock and listen.  False if another daemon holds the lock."""
        prepare_socket_dir(self.path.parent, system=self.system)
        self._lock_fd = os.open(str(self.path) + ".lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._lock_fd)
            self._lock_fd = -1
            return False
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.bind(str(self.path))
        os.chmod(self.path, 0o666 if self.system else 0o600)
        sock.listen(512)
        sock.setblocking(False)
        self._listener = sock
        Path(str(self.path) + ".pid").write_text(f"{os.getpid()}\n")
        self.sel.register(sock, READ, self._accept)
        self.sel.register(self._wake_r, READ, self._woken)
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
            self._close(conn)
        for fd in self.pidfds.values():
            os.close(fd)
        if self._listener is not None:
            self._listener.close()
            for suffix in ("", ".pid"):
                try:
                    os.unlink(str(self.path) + suffix)
                except FileNotFoundError:
                    pass
        if self._lock_fd >= 0:
            os.close(self._lock_fd)
        self.sel.close()

    # --- the loop --------------------------------------------------------
    def serve_forever(self) -> None:
        while not self._stop:
            self.turn()

    def turn(self, max_timeout: float | None = None) -> None:
        """One turn of the loop: wait for input (at most ``max_timeout``), serve
        it fairly, advance time, answer."""
        kernel = self.kernel
        deadline = kernel.next_deadline()
        if self._listen_resume is not None:
            deadline = self._listen_resume if deadline is None else min(deadline,
                                                                        self._listen_resume)
        timeout = None if deadline is None else max(0.0, deadline - time.time())
        if self._backlog:
            timeout = 0.0
        if max_timeout is not None:
            timeout = max_timeout if timeout is None else min(timeout, max_timeout)
        for load in self._turn_uids:
            load.frames = 0
        self._turn_uids.clear()
        try:
            for handler, mask in self._events(timeout):
                handler(mask)
            for conn in list(self._backlog):
                self._guarded(conn, self._serve_frames)
            now = time.time()
            if self._listen_resume is not None and now >= self._listen_resume:
                self._resume_listening()
            if deadline is not None:
                kernel.advance(now)
            self._flush_completions()
            self._flush_replies()
            self._maybe_trim()
        except Exception:  # a bug in uipc outside any one connection: log it, go on
            self._warn("loop", "internal error in the daemon's loop", exc_info=True)

    def _guarded(self, conn: "Conn", fn: Callable[["Conn"], None]) -> None:
        """Serve one connection; whatever goes wrong drops that connection
        (and is logged), never the daemon."""
        try:
            fn(conn)
        except Exception:
            self._warn("conn", "internal error serving pid %d; dropping its connection",
                       conn.pid, exc_info=True)
            try:
                self._drop(conn)
            except Exception:
                log.exception("cannot drop pid %d's connection", conn.pid)

    def _warn(self, kind: str, msg: str, *args: Any, exc_info: bool = False) -> None:
        """log.warning, at most once per LOG_INTERVAL per kind (with a count of
        the ones left out): a flood must not become a flood of log lines."""
        now = time.monotonic()
        last = self._last_log.setdefault(kind, [0.0, 0])
        if now - last[0] < LOG_INTERVAL:
            last[1] += 1
            return
        if last[1]:
            msg += f" ({int(last[1])} more like it in the last {LOG_INTERVAL:.0f} s)"
        last[0], last[1] = now, 0
        log.warning(msg, *args, exc_info=exc_info)

    def _maybe_trim(self) -> None:
        """Give freed memory back to the system once much has been freed."""
        freed = self.kernel.take_freed_bytes() + self._freed_since_trim
        self._freed_since_trim = 0
        if freed >= TRIM_AFTER_FREED:
            malloc_trim()
        else:
            self._freed_since_trim = freed

    def _events(self, timeout: float | None) -> list[tuple[Any, int]]:
        """epoll_wait, polling first for up to the spin budget (uipc.spin)."""
        budget = self.spin.budget_ns() if timeout != 0.0 else 0
        if not budget:
            return self.sel.poll(timeout)
        clock = time.perf_counter_ns
        start = clock()
        if timeout is not None:
            budget = min(budget, int(timeout * 1e9))
        while True:
            events = self.sel.poll(0.0)
            if events:
                self.spin.caught(True)
                return events
            spent = clock() - start
            if spent >= budget:
                break
        self.spin.caught(False)
        return self.sel.poll(None if timeout is None else max(0.0, timeout - spent / 1e9))

    def _woken(self, mask: int) -> None:
        try:
            os.read(self._wake_r, 64)
        except BlockingIOError:
            pass

    def _accept(self, mask: int) -> None:
        assert self._listener is not None
        for _ in range(64):
            try:
                sock, _ = self._listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                if exc.errno in (errno.EMFILE, errno.ENFILE):
                    self._out_of_descriptors(exc)
                else:
                    self._warn("accept", "accept failed: %s", exc)
                return
            try:
                self._admit(sock)
            except Exception:
                self._warn("admit", "internal error admitting a connection", exc_info=True)
                sock.close()

    def _admit(self, sock: socket.socket) -> None:
        """A new connection: who it is (now, before the peer can hand the socket
        on or exec), whether its uid may have one more; then serve it."""
        sock.setblocking(False)
        try:
            peer, pidfd = self.procwatch.identify(sock)
        except (IdentityError, OSError) as exc:
            err, detail = ((exc.errno, exc.detail) if isinstance(exc, IdentityError)
                           else (exc.errno or errno.EIO, f"cannot identify the peer: {exc}"))
            self._warn("identify", "refusing a connection: %s", detail)
            _refuse(sock, err, detail)
            return
        load = self._loads.get(peer.uid)
        if load is None:
            load = self._loads[peer.uid] = UidLoad()
        limit = self.kernel.quota.limits.connections
        if load.conns >= limit:
            self._warn(f"conns{peer.uid}", "uid %d holds %d connections; refusing another",
                       peer.uid, limit)
            os.close(pidfd)
            _refuse(sock, errno.EMFILE, f"uid {peer.uid} has {limit} connections open "
                    "(uipc.quota.connections)")
            return
        load.conns += 1
        conn = Conn(sock, peer, pidfd, load)
        conn.handler = lambda m, c=conn: self._guarded(c, lambda c: self._on_conn(c, m))
        self.sel.register(sock, READ, conn.handler)

    def _out_of_descriptors(self, exc: OSError) -> None:
        """accept() found the descriptor table full.  Spend the spare
        descriptor on telling one waiting client so (instead of leaving it
        hanging), then stop polling the listener until a descriptor is freed
        or a moment has passed: no busy loop, no flood of log lines."""
        self._warn("emfile", "out of descriptors (%s): new connections wait", exc.strerror)
        assert self._listener is not None
        if self._reserve_fd >= 0:
            os.close(self._reserve_fd)
            self._reserve_fd = -1
            try:
                sock, _ = self._listener.accept()
                _refuse(sock, errno.EMFILE, "the uipc daemon is out of file descriptors; "
                        "try again later")
            except OSError:
                pass
            try:
                self._reserve_fd = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
            except OSError:
                pass
        if self._listen_resume is None:
            self.sel.modify(self._listener, 0)
        self._listen_resume = time.time() + 0.1

    def _resume_listening(self) -> None:
        """A descriptor may be free again: poll the listener (and the spare)."""
        if self._listen_resume is None or self._listener is None:
            return
        self._listen_resume = None
        if self._reserve_fd < 0:
            try:
                self._reserve_fd = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
            except OSError:
                pass
        self.sel.modify(self._listener, READ)

    def _on_conn(self, conn: Conn, mask: int) -> None:
        if mask & WRITE:
            self._write(conn)
        if mask & READ and not conn.closed:
            self._read(conn)
            # answer now, not at the end of the turn: with many clients ready,
            # each can go on while the others' requests are handled
            if conn.wbuf:
                self._flush(conn)

    def _turn_budget(self, conn: Conn) -> int:
        """Frames this connection may run now: its own cap per turn, within
        what its uid has left of FRAMES_PER_UID_PER_TURN."""
        load = conn.load
        if not load.frames:
            self._turn_uids.append(load)
        return min(FRAMES_PER_TURN, FRAMES_PER_UID_PER_TURN - load.frames)

    def _charge_input(self, conn: Conn, delta: int) -> None:
        """Bytes of input buffered for a connection (unfinished frames and
        held-back requests), counted for the daemon and for its uid."""
        self._partial += delta
        conn.load.partial += delta

    def _read(self, conn: Conn) -> None:
        if conn in self._backlog:
            return  # frames are still waiting for their turn: read more later
        if self._turn_budget(conn) <= 0:
            return  # its uid had its share of this turn: the socket stays readable
        try:
            # recv_into one preallocated buffer: recv(256 KiB) would malloc
            # (mmap) and fault in a fresh buffer on every read
            n = conn.sock.recv_into(self._rbuf)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            n = 0
        if not n:
            self._drop(conn)
            return
        if (n >= _REQ_HDR and not conn.decoder.buffered and conn.blocked_op is None
                and not conn.deferred and conn.task is not None):
            # the common case: exactly one whole request arrived; it needs no
            # decoder (a length that fills the read is within bounds)
            length, req_id, code = _REQ_HEADER(self._rbuf)
            if length + 4 == n and code != _INTERRUPT:
                conn.load.frames += 1
                self._handle(conn, req_id, code, bytes(self._rview[_REQ_HDR:n]))
                return
        self._charge_input(conn, n)
        conn.decoder.feed(self._rview[:n])
        self._serve_frames(conn)

    def _serve_frames(self, conn: Conn) -> None:
        """Run the requests of a connection in order, as many as its turn
        budget allows (_turn_budget); the rest wait in the backlog.

        Requests behind a blocked one are held back (``deferred``) until it
        completes; an ``interrupt`` is acted on at once, wherever it is.
        """
        decoder = conn.decoder
        deferred = conn.deferred
        handle = self._handle
        before = decoder.buffered
        budget = allowed = max(0, self._turn_budget(conn))
        while budget:
            budget -= 1
            if deferred and conn.blocked_op is None:
                frame = deferred.popleft()
                self._charge_input(conn, -(len(frame[2]) + DEFERRED_OVERHEAD))
                handle(conn, *frame)
            else:
                try:
                    frame = decoder.next_frame()  # type: ignore[assignment]
                except P.ProtocolError as exc:
                    self._send(conn, P.encode_error(0, errno.EPROTO, str(exc)))
                    self._flush_and_drop(conn)
                    break
                if frame is P.NEED_DATA:
                    budget = -1
                    break
                req_id, code, payload = frame
                if code == _INTERRUPT and conn.task is not None:
                    self._interrupt(conn, payload)
                elif conn.blocked_op is not None or deferred:
                    deferred.append(frame)
                    self._charge_input(conn, len(payload) + DEFERRED_OVERHEAD)
                else:
                    handle(conn, req_id, code, payload)
            if conn.closed:
                break
        conn.load.frames += allowed - max(budget, 0)
        self._charge_input(conn, decoder.buffered - before)
        if conn.closed:
            return
        if budget == 0 or (deferred and conn.blocked_op is None):
            self._backlog.add(conn)
        else:
            self._backlog.discard(conn)
        limit = self.kernel.quota.limits.input_bytes
        if conn.load.partial > limit or self._partial > MAX_PARTIAL_INPUT:
            self._warn("partial", "uid %d has %d bytes of unfinished frames buffered (quota "
                       "uipc.quota.input_bytes %d; all uids %d); dropping pid %d's connection",
                       conn.uid, conn.load.partial, limit, self._partial, conn.pid)
            self._drop(conn)

    # --- requests --------------------------------------------------------
    def _build_ops(self) -> dict[int, tuple[P.Op, int, Any, Any]]:
        """op code -> (op, fixed size, unpacker, runner(task, args, tail))."""
        kernel = self.kernel
        clock = time.time

        def syscall(op: P.Op) -> Any:
            decode, fn = DECODERS[op.name], SYSCALLS[op.name]
            return lambda task, args, tail: kernel.syscall(task, fn, *decode(args, tail), now=clock())

        msgrcv = SYSCALLS["msgrcv"]

        def msgrcv_many(task: Task, args: tuple[Any, ...], tail: bytes) -> Any:
            msqid, msgsz, msgtyp, msgflg, count = args
            if tail:
                raise P.ProtocolError("this operation takes no tail")
            if not 1 <= count <= P.MAX_MSGS:
                raise KernelError(errno.EINVAL, f"count {count} outside [1, {P.MAX_MSGS}]")
            first = kernel.syscall(task, msgrcv, msqid, msgsz, msgtyp, msgflg, now=clock())
            if first is BLOCKED:
                self._more = lambda res: (res if isinstance(res, KernelError)
                                          else self._more_msgs(task, args, res))
                return BLOCKED
            return self._more_msgs(task, args, first)

        def msgsnd_many(task: Task, args: tuple[Any, ...], tail: bytes) -> Any:
            msgs = P.unpack_msgs(tail)
            if not 1 <= len(msgs) <= P.MAX_MSGS:
                raise KernelError(errno.EINVAL, f"{len(msgs)} messages, outside [1, {P.MAX_MSGS}]")
            return self._send_msgs(task, args[0], args[1], msgs, 0)

        special = {
            "msgrcv_many": msgrcv_many,
            "msgsnd_many": msgsnd_many,
            "sysctl": lambda task, args, tail: ksysctl.request(task.ns, task.cred, args[0], tail.decode()),
            "fork": lambda task, args, tail: self._fork_child(task, args[0], tail),
            "unshare": lambda task, args, tail: kernel.unshare_ipc(task.process, tail.decode()).name,
            "introspect": lambda task, args, tail: introspect.request(kernel, task, args, tail),
        }
        table = {}
        for op in P.OPS:
            run = special.get(op.name) or (syscall(op) if op.name in DECODERS else None)
            table[op.code] = (op, op.struct.size, op.struct.unpack_from, run)
        return table

    def _handle(self, conn: Conn, req_id: int, code: int, payload: bytes) -> None:
        flags = code & P.OP_FLAGS
        entry = self._ops.get(code & P.OP_CODE_MASK)
        if conn.chain_failed:
            # the request before this one in a LINKed chain failed
            conn.chain_failed = bool(flags & P.OP_LINK)
            self._send(conn, P.encode_error(req_id, errno.ECANCELED, "an earlier request of "
                                            "the linked chain failed"))
            return
        if entry is None:
            self._fail(conn, req_id, flags, errno.ENOSYS, f"unknown operation {code & P.OP_CODE_MASK}")
            return
        op, size, unpack, run = entry
        task = conn.task
        if task is None or run is None:
            self._connection_op(conn, req_id, op, payload)
            return
        if len(payload) < size:
            self._fail(conn, req_id, flags, errno.EINVAL, f"{op.name}: {len(payload)} bytes, needs {size}")
            return
        self._more = None
        try:
            result = run(task, unpack(payload), payload[size:])
        except KernelError as exc:
            self._fail(conn, req_id, flags, exc.errno, exc.detail)
            return
        except (P.ProtocolError, UnicodeDecodeError, struct.error, ValueError) as exc:
            self._fail(conn, req_id, flags, errno.EINVAL, f"malformed {op.name}: {exc}")
            return
        except Exception:  # a bug in uipc: report it, keep serving everyone else
            log.exception("internal error in %s from pid %d", op.name, conn.pid)
            self._fail(conn, req_id, flags, errno.EIO, f"internal error in {op.name}")
            return
        if result is BLOCKED:
            conn.blocked_req, conn.blocked_op, conn.blocked_flags = req_id, op, flags
            conn.blocked_more = self._more
            return
        self._complete(conn, req_id, op, flags, result)

    def _connection_op(self, conn: Conn, req_id: int, op: P.Op, payload: bytes) -> None:
        """hello (the first frame, and only it) and interrupt."""
        if conn.task is None:
            if op.name != "hello":
                self._send(conn, P.encode_error(req_id, errno.EPROTO, "the first frame must be hello"))
                self._flush_and_drop(conn)
                return
            st = op.struct
            if len(payload) < st.size:
                self._send(conn, P.encode_error(req_id, errno.EINVAL,
                                                f"hello: {len(payload)} bytes, needs {st.size}"))
                return
            self._hello(conn, req_id, st.unpack_from(payload), payload[st.size:])
        elif op.name == "hello":
            self._send(conn, P.encode_error(req_id, errno.EISCONN, "hello already done"))
        else:  # an interrupt with flags set: the flags mean nothing to it
            self._interrupt(conn, payload)

    def _interrupt(self, conn: Conn, payload: bytes) -> None:
        """A signal reached the client while it waited for request ``target``.

        If that request has not been answered, the blocked one fails with
        EINTR (unless it completed first) and the held-back ones of the batch
        are answered with EINTR without running.  No reply of its own.
        """
        if len(payload) < _INTERRUPT_ARGS.size:
            return
        (target,) = _INTERRUPT_ARGS.unpack_from(payload)
        deferred = conn.deferred
        if conn.blocked_req != target and all(f[0] != target for f in deferred):
            return  # answered already: nothing to interrupt
        held = list(deferred)
        deferred.clear()
        for _, _, data in held:
            self._charge_input(conn, -(len(data) + DEFERRED_OVERHEAD))
        if conn.blocked_op is not None and conn.task is not None:
            self.kernel.interrupt(conn.task, time.time())
            self._flush_completions()
        for req_id, _, _ in held:
            self._send(conn, P.encode_error(req_id, errno.EINTR, "interrupted by a signal "
                                            "before it ran"))
        conn.chain_failed = False

    def _fail(self, conn: Conn, req_id: int, flags: int, err: int, detail: str) -> None:
        self._send(conn, P.encode_error(req_id, err, detail))
        if flags & P.OP_LINK:
            conn.chain_failed = True

    def _complete(self, conn: Conn, req_id: int, op: P.Op, flags: int, result: Any) -> None:
        """Answer a finished request (a value or a KernelError)."""
        if isinstance(result, KernelError):
            self._fail(conn, req_id, flags, result.errno, result.detail)
            return
        # (a shmat is always answered: the attachment exists, its descriptor must not be lost)
        if flags & P.OP_SKIP_SUCCESS and op.result != "shmat":
            return
        try:
            if op.result == "shmat":
                self._reply_shmat(conn, req_id, result)
            else:
                self._send(conn, REPLY_ENCODERS[op.result](req_id, result))
        except Exception:  # a bug in uipc: report it to this caller, keep serving
            log.exception("cannot encode the result of %s for pid %d", op.name, conn.pid)
            self._fail(conn, req_id, flags, errno.EIO, f"internal error encoding {op.name}")

    def _more_msgs(self, task: Task, args: tuple[Any, ...], first: Any) -> list[Any]:
        """msgrcv_many after its first message: take what is queued, no waiting,
        while the reply stays within one frame."""
        msqid, msgsz, msgtyp, msgflg, count = args
        msgs = [first]
        # no message is longer than msgsz (or msgmax): room for one more?
        room = MSGS_REPLY_BYTES - P.MSGS_ITEM.size - min(msgsz, task.ns.msg_ctlmax)
        size = len(first[1])
        msgrcv, now = SYSCALLS["msgrcv"], time.time()
        while len(msgs) < count and size <= room:
            try:
                msg = self.kernel.syscall(task, msgrcv, msqid, msgsz, msgtyp, msgflg | IPC_NOWAIT, now=now)
            except KernelError:
                break  # ENOMSG (or E2BIG...: the next call meets it again)
            msgs.append(msg)
            size += P.MSGS_ITEM.size + len(msg[1])
        return msgs

    def _send_msgs(self, task: Task, msqid: int, msgflg: int, msgs: list[tuple[int, bytes]],
                   done: int) -> Any:
        """msgsnd_many from message ``done`` on: sendmmsg's loop.  Returns how
        many were sent once one fails (raises if the first does), or BLOCKED
        with a continuation for the message it sleeps on."""
        msgsnd, now = SYSCALLS["msgsnd"], time.time()
        while done < len(msgs):
            mtype, mtext = msgs[done]
            try:
                r = self.kernel.syscall(task, msgsnd, msqid, mtype, mtext, msgflg, now=now)
            except KernelError:
                if done:
                    return done
                raise
            if r is BLOCKED:
                def sent(res: Any, done: int = done) -> Any:
                    if isinstance(res, KernelError):  # EIDRM, EINTR... after some were sent
                        return done or res
                    return self._send_msgs(task, msqid, msgflg, msgs, done + 1)
                self._more = sent
                return BLOCKED
            done += 1
        return done

    def _reply_shmat(self, conn: Conn, req_id: int, result: Any) -> None:
        """Answer a shmat with its descriptor (SCM_RIGHTS).

        The descriptor is made last and closed whatever happens: once sent,
        the client holds its own copy.  If the reply cannot be made (no
        descriptor left, a field out of range), the attachment the kernel
        counted is reverted, as do_shmat's error path does (shmdt with
        abort), and the error goes up to _complete, which answers it.
        """
        try:
            payload = P.SHMAT_RESULT.pack(result.attach_id, result.size, result.map_size,
                                          result.addr, int(result.readonly), int(result.remap))
            fd = self.kernel.shm_allocator.fd_of(result.handle, result.readonly)
        except BaseException:
            try:
                if conn.task is not None:
                    self.kernel.syscall(conn.task, SYSCALLS["shmdt"], result.attach_id, 1,
                                        now=time.time())
            except KernelError:
                pass  # already gone (the process exited): nothing left to revert
            raise
        try:
            self._send(conn, P.encode_reply(req_id, payload), [fd])
        finally:
            os.close(fd)

    def _flush_completions(self) -> None:
        """Answer sleepers the kernel completed; run what they held back."""
        while True:
            done = self.kernel.take_completions()
            if not done:
                return
            for task, result in done:
                conn = self.conns.get(task)
                if conn is None or conn.blocked_op is None:
                    continue
                req_id, op, flags, more = (conn.blocked_req, conn.blocked_op, conn.blocked_flags,
                                           conn.blocked_more)
                conn.blocked_req, conn.blocked_op, conn.blocked_flags, conn.blocked_more = -1, None, 0, None
                if more is not None:  # a multi-step request: its next steps
                    self._more = None
                    try:
                        result = more(result)
                    except Exception:  # a bug in uipc: report it to this caller, keep serving
                        log.exception("internal error continuing %s for pid %d", op.name, conn.pid)
                        result = KernelError(errno.EIO, f"internal error in {op.name}")
                    if result is BLOCKED:
                        conn.blocked_req, conn.blocked_op, conn.blocked_flags = req_id, op, flags
                        conn.blocked_more = self._more
                        continue
                self._complete(conn, req_id, op, flags, result)
                if conn.deferred and not conn.closed:
                    self._serve_frames(conn)

    def _hello(self, conn: Conn, req_id: int, args: tuple[Any, ...], tail: bytes) -> None:
        version, flags, _ = args
        try:
            ns_name = tail.decode()
            task = self._attach_task(conn, ns_name, bool(flags & P.HELLO_CREATE_NS))
        except (KernelError, IdentityError) as exc:
            self._send(conn, P.encode_error(req_id, exc.errno, exc.detail))
            return
        except UnicodeDecodeError:
            self._send(conn, P.encode_error(req_id, errno.EINVAL, "namespace name is not UTF-8"))
            return
        self._send(conn, P.encode_reply(req_id, P.HELLO_RESULT.pack(
            P.VERSION, conn.pid, task.tid, self.boot_id, P.MAX_FRAME)))

    def _attach_task(self, conn: Conn, ns_name: str, create: bool) -> Task:
        """The connection becomes a task of its process (a new process is
        placed in the namespace of its nearest known ancestor)."""
        kernel = self.kernel
        # credentials as of now, never more than at accept
        peer = conn.peer = self.procwatch.recheck(conn.peer)
        cred = Cred.of(peer.uid, peer.gid, peer.groups, peer.caps)
        proc = kernel.processes.get(peer.pid)
        if proc is not None and (self.start_times.get(peer.pid) != peer.start_time
                                 or self._reap_if_dead(peer.pid)):
            self._process_exited(peer.pid)  # the pid was reused after its old owner exited
            proc = None
        if proc is None:
            ns = self._namespace_of_new(peer, cred, ns_name, create)
            proc = kernel.new_process(peer.pid, cred, ns)
            pidfd, conn.pidfd = conn.pidfd, -1
            self.pidfds[peer.pid] = pidfd
            self.start_times[peer.pid] = peer.start_time
            self.sel.register(pidfd, READ, lambda m, pid=peer.pid: self._process_exited(pid))
        elif ns_name and proc.ns.name != ns_name:
            self._check_setns(ns_name, cred)
            raise KernelError(errno.EINVAL, f"process {conn.pid} lives in namespace "
                              f"{proc.ns.name!r}, not {ns_name!r}")
        task = kernel.new_task(proc, cred)
        conn.task = task
        self.conns[task] = conn
        return task

    def _namespace_of_new(self, peer: Peer, cred: Cred, name: str, create: bool) -> IpcNamespace:
        """A process the daemon has not seen lives where its nearest known
        ancestor lives (as a child inherits nsproxy at fork), whatever its
        environment says.  Naming another namespace is setns(): it needs the
        namespace's creator or CAP_SYS_ADMIN; ``create`` makes a missing one."""
        kernel = self.kernel
        inherited = kernel.init_ns
        for pid, started in self.procwatch.ancestors(peer.pid):
            parent = kernel.processes.get(pid)
            if parent is not None and self.start_times.get(pid) == started:
                inherited = parent.ns
                break
        if not name or name == inherited.name:
            return inherited
        if name not in kernel.namespaces and create:
            return kernel.create_namespace(name, peer.uid)
        return self._check_setns(name, cred)

    def _check_setns(self, name: str, cred: Cred) -> IpcNamespace:
        """The namespace ``name``, if ``cred`` may join it (setns)."""
        ns = self.kernel.namespaces.get(name)
        if ns is None:
            raise KernelError(errno.ENOENT, f"no IPC namespace named {name!r}")
        if not ns_capable_owner(ns, cred, CAP_SYS_ADMIN):
            raise KernelError(errno.EPERM, f"joining IPC namespace {name!r} (setns) needs its "
                              f"creator's uid ({ns.owner_uid}) or CAP_SYS_ADMIN")
        return ns

    def _fork_child(self, task: Task, parent_pid: int, tail: bytes) -> None:
        """A fork child reports the attachments it inherited (dup_mmap)."""
        if len(tail) % 8:
            raise P.ProtocolError("attach ids are i64s")
        ppid, _ = parent_of(task.pid)
        parent = self.kernel.processes.get(parent_pid)
        _, parent_started = parent_of(parent_pid)
        if (ppid != parent_pid or parent is None
                or self.start_times.get(parent_pid) != parent_started):
            raise KernelError(errno.EPERM, f"pid {parent_pid} is not the parent of {task.pid}")
        if len(tail) // 8 > len(parent.shm_attachments):
            raise KernelError(errno.EINVAL, f"{len(tail) // 8} attachments reported; the parent "
                              f"holds {len(parent.shm_attachments)}")
        ids = [int.from_bytes(tail[i:i + 8], "little", signed=True) for i in range(0, len(tail), 8)]
        self.kernel.fork_process(parent, task.process, ids, time.time())
        return None

    # --- exits -----------------------------------------------------------
    def _reap_if_dead(self, pid: int) -> bool:
        pidfd = self.pidfds.get(pid)
        if pidfd is None:
            return False
        if pidfd_exited(pidfd):
            self._process_exited(pid)
            return True
        return False

    def _process_exited(self, pid: int) -> None:
        pidfd = self.pidfds.pop(pid, None)
        self.start_times.pop(pid, None)
        if pidfd is not None:
            self.sel.unregister(pidfd)
            os.close(pidfd)
        proc: Process | None = self.kernel.processes.get(pid)
        if proc is None:
            return
        for task in list(proc.tasks):
            conn = self.conns.pop(task, None)
            if conn is not None:
                self._close(conn)
        self.kernel.exit_process(proc, time.time())
        log.debug("process %d exited", pid)

    def _drop(self, conn: Conn) -> None:
        """The connection closed: that thread is gone."""
        if conn.closed:
            return
        self._close(conn)
        task = conn.task
        if task is not None:
            self.conns.pop(task, None)
            proc = task.process
            self.kernel.exit_task(task, time.time())
            # Connections are close-on-exec and a client keeps one open while
            # it has attachments, so a live process without connections has
            # executed a new image (or dropped all state): its mappings are gone.
            if not proc.tasks and not proc.exited and not self._reap_if_dead(proc.pid):
                self.kernel.exec_process(proc, time.time())

    def _close(self, conn: Conn) -> None:
        if not conn.closed:
            conn.closed = True
            conn.load.conns -= 1
            conn.load.out -= conn.out_bytes
            self._resume_listening()  # a descriptor is free
            self._backlog.discard(conn)
            self._charge_input(conn, -(conn.decoder.buffered + sum(
                len(f[2]) + DEFERRED_OVERHEAD for f in conn.deferred)))
            conn.deferred.clear()
            conn.wbuf.clear()
            for _, fds in conn.out:  # descriptors of replies it never took
                for fd in fds:
                    os.close(fd)
            conn.out.clear()
            conn.out_bytes = 0
            if conn.pidfd >= 0:
                os.close(conn.pidfd)
                conn.pidfd = -1
            try:
                self.sel.unregister(conn.sock)
            except (KeyError, ValueError):
                pass
            conn.sock.close()

    def _flush_and_drop(self, conn: Conn) -> None:
        try:
            self._flush(conn)
            conn.sock.setblocking(True)
            conn.sock.settimeout(0.1)
            while conn.out:
                self._write(conn)
                if conn.out:
                    break
        except OSError:
            pass
        self._drop(conn)

    # --- output ------------------------------------------------------------
    def _send(self, conn: Conn, data: bytes, fds: list[int] | None = None) -> None:
        """Queue a reply; the turn's replies to a connection go out in one write."""
        if conn.closed:
            return
        if fds:  # descriptors ride on their own message, after what is queued
            self._flush(conn)
            self._output(conn, data, fds)
            return
        if not conn.wbuf:
            self._dirty.append(conn)
        conn.wbuf.append(data)

    def _flush_replies(self) -> None:
        dirty, self._dirty = self._dirty, []
        for conn in dirty:
            self._flush(conn)

    def _flush(self, conn: Conn) -> None:
        wbuf = conn.wbuf
        if not wbuf or conn.closed:
            return
        data = wbuf[0] if len(wbuf) == 1 else b"".join(wbuf)
        wbuf.clear()
        self._output(conn, data, None)

    def _output(self, conn: Conn, data: bytes, fds: list[int] | None) -> None:
        if not conn.out:
            try:
                sent = (socket.send_fds(conn.sock, [data], fds) if fds
                        else conn.sock.send(data))
            except (BlockingIOError, InterruptedError):
                sent = 0
            except OSError:
                self._drop(conn)
                return
            if sent == len(data):
                return
            if sent:
                data, fds = data[sent:], None
        conn.out.append((memoryview(data), [os.dup(fd) for fd in fds] if fds else []))
        conn.out_bytes += len(data)
        conn.load.out += len(data)
        limit = self.kernel.quota.limits.reply_bytes
        if conn.out_bytes > MAX_OUTPUT_BUFFER or conn.load.out > limit:
            self._warn("unread", "pid %d (uid %d) does not read its replies (%d bytes; its uid's "
                       "%d, quota uipc.quota.reply_bytes %d); dropping the connection",
                       conn.pid, conn.uid, conn.out_bytes, conn.load.out, limit)
            self._drop(conn)
            return
        if not conn.writing:
            conn.writing = True
            self.sel.modify(conn.sock, READ | WRITE)

    def _write(self, conn: Conn) -> None:
        while conn.out:
            data, fds = conn.out[0]
            try:
                sent = socket.send_fds(conn.sock, [data], fds) if fds else conn.sock.send(data)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                self._drop(conn)
                return
            for fd in fds:
                os.close(fd)
            conn.out_bytes -= sent
            conn.load.out -= sent
            if sent < len(data):
                conn.out[0] = (data[sent:], [])
                return
            conn.out.popleft()
        if conn.writing and not conn.closed:
            conn.writing = False
            self.sel.modify(conn.sock, READ)


def _refuse(sock: socket.socket, err: int, detail: str) -> None:
    """Answer a connection we will not serve with one error frame, and close it."""
    try:
        sock.send(P.encode_error(0, err, detail))
    except OSError:
        pass
    sock.close()


def malloc_trim() -> bool:
    """glibc's malloc_trim(0): return free heap pages to the system."""
    try:
        return bool(ctypes.CDLL(None).malloc_trim(0))
    except (OSError, AttributeError):
        return False


def prepare_socket_dir(path: Path, *, system: bool) -> None:
    """Create the socket directory, refusing one that someone else controls.

    As tmux and gpg-agent do: the per-user directory must be ours and 0700;
    the system directory must be root's and not writable by others.
    """
    path.mkdir(mode=0o755 if system else 0o700, parents=True, exist_ok=True)
    st = os.lstat(path)
    if not stat.S_ISDIR(st.st_mode):
        raise SystemExit(f"uipc: {path} is not a directory")
    if st.st_uid != os.geteuid():
        raise SystemExit(f"uipc: {path} is owned by uid {st.st_uid}, not {os.geteuid()}; refusing")
    if st.st_mode & (0o022 if system else 0o077):
        raise SystemExit(f"uipc: {path} has mode {st.st_mode & 0o777:03o}; "
                         f"it must not be accessible by others")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="uipc daemon", description="Run the uipc daemon in the foreground.")
    p.add_argument("--socket", type=Path, help="socket path (default: $UIPC_SOCKET or per-user)")
    p.add_argument("--system", action="store_true", help=f"serve every user at {SYSTEM_DIR}/{SOCKET_NAME}")
    p.add_argument("--ready-fd", type=int, default=-1, help=argparse.SUPPRESS)
    p.add_argument("-v", "--verbose", action="store_true")
    p.add_argument("--spin-us", type=int, default=SPIN_US, metavar="US",
                   help=f"poll this long for the next request before sleeping, when the daemon may "
                        f"run on more than one CPU (default {SPIN_US}; 0: never spin)")
    p.add_argument("--status", action="store_true", help="say whether a daemon is running")
    p.add_argument("--stop", action="store_true", help="stop the running daemon")
    return p


def keep_freed_memory() -> bool:
    """Ask glibc's malloc to keep big freed blocks instead of unmapping them.

    By default a block of more than 128 KiB (a batch's frame, a 64 KiB
    message's copy) is mmap'ed and unmapped on free, so each one faults its
    pages in afresh: measured, that is a fifth of the daemon's time in 4 KiB
    batches.  Only the daemon's own process is tuned.  False where malloc
    is not glibc's.
    """
    try:
        libc = ctypes.CDLL(None)
        return bool(libc.mallopt(_M_MMAP_THRESHOLD, 32 * 1024 * 1024)
                    and libc.mallopt(_M_TRIM_THRESHOLD, 64 * 1024 * 1024))
    except (OSError, AttributeError):
        return False


#: mallopt(3) parameters (glibc's malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3


def raise_nofile_limit() -> int:
    """Raise RLIMIT_NOFILE's soft limit to its hard limit: every segment and
    every connection holds a descriptor here.  Returns the new soft limit."""
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):
            pass
    return soft


def run(socket_path: Path, *, system: bool, ready_fd: int = -1, verbose: bool = False,
        spin_us: int = SPIN_US) -> int:
    keep_freed_memory()
    raise_nofile_limit()
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, stream=sys.stderr,
                        format="uipc-daemon[%(process)d] %(levelname)s %(message)s")
    daemon = Daemon(socket_path, system=system, spin_us=spin_us)
    if not daemon.bind():
        log.info("another daemon already serves %s", socket_path)
        _notify(ready_fd, b"busy\n")
        return 0
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda *_: daemon.stop())
    # `kill -USR1 <daemon>` prints where it is to stderr (a stuck daemon explains itself)
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    log.info("listening on %s", socket_path)
    _notify(ready_fd, b"ready\n")
    try:
        daemon.serve_forever()
    finally:
        daemon.close()
        log.info("stopped")
    return 0


def _notify(fd: int, msg: bytes) -> None:
    if fd >= 0:
        try:
            os.write(fd, msg)
            os.close(fd)
        except OSError:
            pass


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    path = args.socket or (SYSTEM_DIR / SOCKET_NAME if args.system else default_socket())
    if args.status or args.stop:
        from uipc.client.control import daemon_status, stop_daemon
        return stop_daemon(path) if args.stop else daemon_status(path)
    if args.system and os.geteuid() != 0:
        print("uipc daemon: --system needs root", file=sys.stderr)
        return 1
    return run(path, system=args.system, ready_fd=args.ready_fd, verbose=args.verbose,
               spin_us=args.spin_us)
