"""Request sequencing for one connection, sans-I/O (like h11's connection).

A :class:`Session` is fed bytes and handed the results of syscalls it went
to sleep in; it produces reply frames in ``outbox``.  It never touches a
socket, a clock or a pid: the :class:`Engine` it belongs to runs syscalls
on the kernel with the time the I/O layer gives it.  So everything that
decides *which* request runs *when* is here, and is unit-tested without a
daemon (tests/server/test_session.py):

- requests of a connection run in order, one at a time: a connection is a
  thread, and a thread is in at most one syscall;
- a request that blocks holds back (``deferred``) the ones read behind it
  until it completes;
- LINK: when a linked request fails, the rest of its chain is answered
  ECANCELED without running; SKIP_SUCCESS: no reply when it succeeds (a
  reply that carries descriptors is always sent: they must not be lost);
- ``interrupt`` is acted on at once, wherever it is in the stream: the
  blocked request fails with EINTR (unless it completed first) and the
  held-back ones are answered EINTR without running.
"""
from __future__ import annotations

import errno
import logging
import struct
from collections import deque
from typing import Any, Callable

from uipc import protocol as P
from uipc.kernel import BLOCKED, Kernel, KernelError, Task
from uipc.server.dispatch import Entry, build_entries
from uipc.server.trace import Tracers

log = logging.getLogger("uipc.daemon")

_INTERRUPT = P.OPS_BY_NAME["interrupt"].code
_INTERRUPT_ARGS = P.OPS_BY_NAME["interrupt"].struct
_HELLO = P.OPS_BY_NAME["hello"]
_TRACE = P.OPS_BY_NAME["trace"]
#: bytes a held-back request is charged beyond its payload (its Python objects)
DEFERRED_OVERHEAD = 128
#: a reply, the memory objects whose descriptors ride with it, and what to
#: answer instead (after undoing the result) if they cannot be made
Reply = tuple[bytes, list[tuple[Any, bool]], "Callable[[], bytes] | None"]
#: (session, req_id, hello's fixed args, namespace tail) -> the task, or KernelError
HelloFn = Callable[["Session", int, tuple[Any, ...], bytes], Task]
_NOFDS: list[tuple[Any, bool]] = []


class Engine:
    """Runs the sessions' requests on one kernel: the table's entries, the
    clock the I/O layer feeds, and who is blocked in what."""

    def __init__(self, kernel: Kernel, clock: Callable[[], tuple[float, float]]) -> None:
        self.kernel = kernel
        self.clock = clock
        self.entries: dict[int, Entry] = build_entries()
        #: the session of each task that said hello
        self.sessions: dict[Task, Session] = {}
        #: `uipc trace` subscribers (uipc/server/trace.py)
        self.tracers = Tracers()
        #: sessions completions were routed to in the middle of a request
        #: (an interrupt), whose replies the turn must still send
        self.touched: list[Session] = []

    def complete(self) -> list["Session"]:
        """Route the kernel's completions to the sleeping sessions; returns
        the sessions that now have replies (and may run held-back requests),
        with those routed earlier in the turn and not yet answered."""
        touched, self.touched = self.touched, []
        while True:
            done = self.kernel.take_completions()
            if not done:
                return touched
            for task, result in done:
                session = self.sessions.get(task)
                if session is not None and session.blocked is not None:
                    session.completed(result)
                    touched.append(session)


class Session:
    """The request state machine of one connection."""

    __slots__ = ("engine", "hello", "decoder", "task", "blocked", "deferred", "deferred_bytes",
                 "chain_failed", "outbox", "closing", "label", "traced")

    def __init__(self, engine: Engine, hello: HelloFn, label: str = "") -> None:
        self.engine = engine
        self.hello = hello
        self.decoder = P.FrameDecoder()
        self.task: Task | None = None
        #: the request asleep in the kernel: (req_id, entry, flags)
        self.blocked: tuple[int, Entry, int] | None = None
        #: requests read behind a blocked one: (req_id, code, payload)
        self.deferred: deque[tuple[int, int, bytes]] = deque()
        self.deferred_bytes = 0
        self.chain_failed = False
        self.outbox: list[Reply] = []
        #: a fatal error was answered: close once the outbox is sent
        self.closing = False
        self.label = label
        #: the blocked request's arguments and start (CLOCK_MONOTONIC), while traced
        self.traced: tuple[tuple[Any, ...], float] | None = None

    # --- input ------------------------------------------------------------
    def buffered(self) -> int:
        """Input bytes held: unfinished frames and held-back requests."""
        return self.decoder.buffered + self.deferred_bytes

    def feed(self, data: bytes | memoryview) -> None:
        """Bytes read off the socket (kept until they make whole frames)."""
        self.decoder.feed(data)

    def ready(self) -> bool:
        """Can it run something now without new input?"""
        return self.blocked is None and bool(self.deferred)

    def serve(self, budget: int) -> tuple[int, bool]:
        """Run up to ``budget`` frames (held-back ones first, then fed ones).
        Returns (frames taken, whether more wait for another turn)."""
        used = 0
        decoder, deferred = self.decoder, self.deferred
        while used < budget and not self.closing:
            if deferred and self.blocked is None:
                frame = deferred.popleft()
                self.deferred_bytes -= len(frame[2]) + DEFERRED_OVERHEAD
                used += 1
                self.request(*frame)
                continue
            try:
                frame = decoder.next_frame()  # type: ignore[assignment]
            except P.ProtocolError as exc:
                self._error(0, errno.EPROTO, str(exc))
                self.closing = True
                break
            if frame is P.NEED_DATA:
                return used, False
            used += 1
            self.frame(*frame)  # type: ignore[misc]
        return used, not self.closing and (used >= budget)

    def frame(self, req_id: int, code: int, payload: bytes) -> None:
        """One frame read off the stream."""
        if code == _INTERRUPT and self.task is not None:
            self.interrupt(payload)
        elif self.blocked is not None or self.deferred:
            self.deferred.append((req_id, code, payload))
            self.deferred_bytes += len(payload) + DEFERRED_OVERHEAD
        else:
            self.request(req_id, code, payload)

    # --- requests ---------------------------------------------------------
    def request(self, req_id: int, code: int, payload: bytes) -> None:
        """Run one request now (nothing is blocked or held back before it)."""
        flags = code & P.OP_FLAGS
        if self.chain_failed:
            # the request before this one in a LINKed chain failed
            self.chain_failed = bool(flags & P.OP_LINK)
            self._error(req_id, errno.ECANCELED, "an earlier request of the linked chain failed")
            return
        task = self.task
        entry = self.engine.entries.get(code & P.OP_CODE_MASK)
        if task is None or entry is None:
            self._control(req_id, code, flags, payload)
            return
        op = entry.op
        if len(payload) < entry.size:
            self._fail(req_id, flags, errno.EINVAL, f"{op.name}: {len(payload)} bytes, needs "
                       f"{entry.size}")
            return
        engine = self.engine
        args: tuple[Any, ...] = ()
        try:
            args = entry.decode(entry.unpack(payload), payload[entry.size:])
            now, mono = engine.clock()
            result = engine.kernel.syscall(task, entry.spec.fn, *args, now=now, mono=mono)
        except KernelError as exc:
            if engine.tracers.subs:
                engine.tracers.emit(task, entry, args, exc, engine.clock()[0], None)
            self._fail(req_id, flags, exc.errno, exc.detail)
            return
        except (P.ProtocolError, UnicodeDecodeError, struct.error, ValueError) as exc:
            self._fail(req_id, flags, errno.EINVAL, f"malformed {op.name}: {exc}")
            return
        except Exception:  # a bug in uipc: report it, keep serving everyone else
            log.exception("internal error in %s from %s", op.name, self.label)
            self._fail(req_id, flags, errno.EIO, f"internal error in {op.name}")
            return
        if result is BLOCKED:
            self.blocked = (req_id, entry, flags)
            if engine.tracers.subs:
                self.traced = (args, mono)
            return
        if engine.tracers.subs:  # a dict test: the whole cost untraced
            engine.tracers.emit(task, entry, args, result, now, None)
        self._reply(req_id, entry, flags, result)

    def completed(self, result: Any) -> None:
        """The blocked request finished (a value or a KernelError)."""
        assert self.blocked is not None
        req_id, entry, flags = self.blocked
        self.blocked = None
        if self.traced is not None:
            (args, started), self.traced = self.traced, None
            if self.engine.tracers.subs and self.task is not None:
                now, mono = self.engine.clock()
                self.engine.tracers.emit(self.task, entry, args, result, now, mono - started)
        self._reply(req_id, entry, flags, result)

    def _control(self, req_id: int, code: int, flags: int, payload: bytes) -> None:
        """hello (the first frame, and only it), interrupt, unknown ops."""
        op = P.OPS_BY_CODE.get(code & P.OP_CODE_MASK)
        if self.task is None:
            if op is not _HELLO:
                self._error(req_id, errno.EPROTO, "the first frame must be hello")
                self.closing = True
                return
            st = _HELLO.struct
            if len(payload) < st.size:
                self._error(req_id, errno.EINVAL, f"hello: {len(payload)} bytes, needs {st.size}")
                return
            try:
                self.task = self.hello(self, req_id, st.unpack_from(payload), payload[st.size:])
            except KernelError as exc:
                self._error(req_id, exc.errno, exc.detail)
            return
        if op is _HELLO:
            self._error(req_id, errno.EISCONN, "hello already done")
        elif op is _TRACE:
            st = _TRACE.struct
            if len(payload) < st.size:
                self._error(req_id, errno.EINVAL, f"trace: {len(payload)} bytes, needs {st.size}")
                return
            try:
                names = payload[st.size:].decode()
            except UnicodeDecodeError:
                self._error(req_id, errno.EINVAL, "trace: syscall names are not UTF-8")
                return
            self.engine.tracers.subscribe(self, self.task, st.unpack_from(payload)[0], names)
            self.outbox.append((P.encode_reply(req_id), _NOFDS, None))
        elif op is not None and op.code == _INTERRUPT:  # with flags set: they mean nothing
            self.interrupt(payload)
        else:
            self._fail(req_id, flags, errno.ENOSYS, f"unknown operation {code & P.OP_CODE_MASK}")

    def interrupt(self, payload: bytes) -> None:
        """A signal reached the client while it waited for request ``target``.

        If that request has not been answered, the blocked one fails with
        EINTR (unless it completed first) and the held-back ones are answered
        with EINTR without running.  No reply of its own.
        """
        if len(payload) < _INTERRUPT_ARGS.size:
            return
        (target,) = _INTERRUPT_ARGS.unpack_from(payload)
        deferred = self.deferred
        if (self.blocked is None or self.blocked[0] != target) and \
                all(f[0] != target for f in deferred):
            return  # answered already: nothing to interrupt
        held = list(deferred)
        deferred.clear()
        self.deferred_bytes = 0
        if self.blocked is not None and self.task is not None:
            now, mono = self.engine.clock()
            self.engine.kernel.interrupt(self.task, now, mono)
            # other sleepers completed earlier in this turn are routed too:
            # keep them, the turn answers them (else their replies are lost)
            self.engine.touched = self.engine.complete()
        for req_id, _, _ in held:
            self._error(req_id, errno.EINTR, "interrupted by a signal before it ran")
        self.chain_failed = False

    # --- output -----------------------------------------------------------
    def _reply(self, req_id: int, entry: Entry, flags: int, result: Any) -> None:
        """Answer a finished request (a value or a KernelError)."""
        if isinstance(result, KernelError):
            self._fail(req_id, flags, result.errno, result.detail)
            return
        try:
            plain = entry.plain
            if plain is not None:
                if not flags & P.OP_SKIP_SUCCESS:
                    self.outbox.append((plain(req_id, result), _NOFDS, None))
                return
            frame, mems = entry.encode(req_id, result)
        except Exception:  # a bug in uipc: report it to this caller, keep serving
            log.exception("cannot encode the result of %s for %s", entry.op.name, self.label)
            self._fail(req_id, flags, errno.EIO, f"internal error encoding {entry.op.name}")
            return
        if not mems:
            if not flags & P.OP_SKIP_SUCCESS:
                self.outbox.append((frame, _NOFDS, None))
            return
        # descriptors are always delivered (SKIP_SUCCESS or not): they must not be lost

        def undeliverable() -> bytes:
            """The descriptors cannot be made: undo the result, answer EIO."""
            undo, task = entry.spec.undo, self.task
            if undo is not None and task is not None:
                now, mono = self.engine.clock()
                try:
                    self.engine.kernel.syscall(task, undo, result, now=now, mono=mono)
                except KernelError:
                    pass
            if flags & P.OP_LINK:
                self.chain_failed = True
            return P.encode_error(req_id, errno.EIO, f"{entry.op.name}: the daemon cannot "
                                  "make the descriptor it must send")
        self.outbox.append((frame, mems, undeliverable))

    def _fail(self, req_id: int, flags: int, err: int, detail: str) -> None:
        self._error(req_id, err, detail)
        if flags & P.OP_LINK:
            self.chain_failed = True

    def _error(self, req_id: int, err: int, detail: str) -> None:
        self.outbox.append((P.encode_error(req_id, err, detail), _NOFDS, None))
