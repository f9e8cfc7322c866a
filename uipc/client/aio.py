"""asyncio support: uipc calls awaited on the event loop itself, thousands at once.

A blocked call in the daemon is one task, and a task is one connection (as a
thread blocks in at most one syscall), so N calls pending at once need N
connections.  Each event loop has a pool of them.  ``acall(op, args, tail)``
takes an idle connection or opens one (the normal ``Connection``
constructor: its ``hello`` is one blocking round trip on the loop's thread;
starting a daemon, if none runs, blocks the loop too), writes the request
frame without blocking and awaits a future that the loop's reader callback
for that socket resolves when the reply arrives: no thread per call, no
polling; the reply itself wakes the loop.  With its reply in, the
connection goes back to the pool for the next call.  Each connection's
reader is registered once, when it opens, and stays while it is idle (an
idle connection the daemon closes is noticed and dropped).
``amsgsnd``/``amsgrcv``/``asemtimedop`` build their requests as
``uipc.client.syscalls`` does and await them; the classes' async methods
(``MessageQueue.areceive``, ``Semaphore.aacquire``...) use them.  Errors
are those of the synchronous calls: ``OSError`` with Linux's errno,
ValueError/TypeError before anything is sent, UipcConnectionError if the
daemon goes away.

Cancellation is a signal (do_msgrcv's ``-ERESTARTNOHAND``, EINTR for us):
the request is sent an ``interrupt`` frame and the task waits for its
reply, which the daemon sends at once — EINTR, unless the call had already
completed.  Then, as Linux returns a syscall's result when the signal came
after it completed:

* EINTR (or any error): the call had no effect; CancelledError propagates
  (``wait_for`` turns it into TimeoutError).  No sleeper is left behind.
* success: the call took effect — a message left the queue, a semaphore was
  decremented.  Raising would lose the message (or leak the semaphore), so
  the result is returned and the cancellation is swallowed.  ``wait_for``
  and ``asyncio.timeout`` then return the result, as if it had come just in
  time.  A cancellation that nothing absorbed (``task.cancel()``, a
  TaskGroup) is owed to the task: its next uipc call raises CancelledError
  at once instead of running, so ``async for msg in queue`` ends.  Such a
  task should make no other long await before its next uipc call.
* cancelled again while waiting for that reply (or no reply within
  DRAIN_TIMEOUT): the connection is closed, which also cancels the request
  in the daemon; its outcome is then unknown (as for a process killed in
  the call).

A call cancelled before its request was fully written never ran (a partly
written one is dropped by closing its connection).

Lifetime: ``asyncio.run`` (and anything else that calls
``loop.shutdown_asyncgens()``) closes the loop's pool; a loop closed
otherwise closes its connections when it is garbage-collected, and
``close_pool()`` closes them at any time (from the loop's thread).  Nothing
global holds a pool or its loop.  At most ``MAX_IDLE`` idle connections are
kept; a loop opens as many as there are calls pending at once, with no
limit of its own — the daemon allows MAX_CONNECTIONS_PER_UID (1024) per
user.

Descriptors: each pending call holds a socket, so a thousand pending calls
need more than 1024 descriptors.  When opening a connection fails with
EMFILE, the soft RLIMIT_NOFILE is raised towards the hard limit (doubled,
at least +1024) and the open retried; only when the hard limit is reached
does EMFILE reach the caller.  Raising it is process-wide and has one
classic cost: ``select.select()`` cannot watch descriptors numbered 1024 or
more (FD_SETSIZE); use ``selectors``/``poll`` in such a process.  (The
daemon needs as many descriptors as its clients' connections.)

Fork: a child never uses its parent's pool: at fork its copies of the
pool's sockets are closed (the parent's calls go on undisturbed) and its
pools are forgotten.  A child must not go on running the parent's event
loop (asyncio does not support that: the epoll instance is shared).

``run_blocking(fn, *args)`` runs any blocking callable in the loop's default
executor instead (a thread per pending call, bounded by the executor); it
is kept for callers' own blocking code, uipc's own coroutines use ``acall``.
"""
from __future__ import annotations

import asyncio
import contextvars
import errno
import os
import resource
import socket
import struct
import weakref
from typing import Any, AsyncIterator, Callable, TypeVar

from uipc import protocol as P
from uipc.client import connection
from uipc.client.connection import Connection, UipcConnectionError, syscall_error
from uipc.client.syscalls import msg_result, msgrcv_args, msgsnd_args, semtimedop_args

T = TypeVar("T")

#: idle connections a loop's pool keeps for its next calls; more are closed
#: (each holds a descriptor and one of the daemon's per-user connections)
MAX_IDLE = 64
#: how long a cancelled call waits for the daemon to answer its interrupt
#: before it closes the connection instead (as Connection._interrupt)
DRAIN_TIMEOUT = 10.0
#: tails up to this size are copied into the frame (one send), larger ones
#: go out scatter-gather (as Connection._send_frame)
_COPY_TAIL = 16 * 1024
_READ_SIZE = 1 << 16
_REPLY_HEADER = P.REPLY_HEADER.unpack_from
_REPLY_HDR = P.REPLY_HEADER.size
_INTERRUPT = P.OPS_BY_NAME["interrupt"]
_MSGSND = P.OPS_BY_NAME["msgsnd"]
_MSGRCV = P.OPS_BY_NAME["msgrcv"]
_SEMTIMEDOP = P.OPS_BY_NAME["semtimedop"]


# --- the calls -----------------------------------------------------------------
async def acall(op: P.Op, args: tuple[Any, ...], tail: bytes = b"") -> tuple[bytes, list[int]]:
    """Await one request on a connection of this loop's pool.

    The asyncio twin of ``connection.call``: returns the reply's payload and
    the descriptors that came with it; an error status raises the OSError
    ``syscall_error`` makes, a lost daemon UipcConnectionError.  Cancellable
    as the module docstring says (EINTR semantics).
    """
    loop = asyncio.get_running_loop()
    if _owed:
        _pay_owed_cancellation(loop)
    call = _pool_of(loop).start(loop, op, args, tail)
    if call.unsent:  # a big tail or a full socket buffer: write the rest as the socket drains
        await call.send_rest()
    try:
        await call.waiter
    except asyncio.CancelledError:
        if not await call.drain():
            raise  # it had no effect: the cancellation wins
        _owe_cancellation(loop)  # it completed first: its result wins
    return call.result()


async def amsgsnd(msqid: int, mtype: int, mtext: bytes, msgflg: int = 0) -> None:
    """msgsnd(2) awaited on the event loop (syscalls.msgsnd)."""
    await acall(_MSGSND, *msgsnd_args(msqid, mtype, mtext, msgflg))


async def amsgrcv(msqid: int, msgsz: int, msgtyp: int, msgflg: int = 0) -> tuple[int, bytes]:
    """msgrcv(2) awaited on the event loop (syscalls.msgrcv): (mtype, mtext)."""
    return msg_result((await acall(_MSGRCV, msgrcv_args(msqid, msgsz, msgtyp, msgflg)))[0])


async def asemtimedop(semid: int, sops: Any, timeout: float | None = None) -> None:
    """semtimedop(2) (semop(2) with ``timeout`` None) awaited on the event loop."""
    await acall(_SEMTIMEDOP, *semtimedop_args(semid, sops, timeout))


def close_pool(loop: asyncio.AbstractEventLoop | None = None) -> None:
    """Close the pool of ``loop`` (default: the running one) now: its idle
    connections close, calls still pending fail with UipcConnectionError
    (closing their connections cancels them in the daemon).  The next call
    on that loop starts a new pool."""
    ref = _pools.pop(loop or asyncio.get_running_loop(), None)
    pool = ref() if ref is not None else None
    if pool is not None:
        pool.close()


# --- one call in flight --------------------------------------------------------
class _Call:
    """A request on a pool connection; the pool's reader callback for that
    socket hands what it reads to ``on_readable``, which puts the reply in
    ``reply`` and wakes ``waiter``."""

    __slots__ = ("loop", "pool", "conn", "sock", "fd", "req_id", "fds", "unsent", "sent",
                 "decoder", "reply", "lost", "waiter")

    def __init__(self, loop: asyncio.AbstractEventLoop, pool: "_Pool", conn: Connection,
                 req_id: int, with_fds: bool) -> None:
        self.loop, self.pool, self.conn, self.req_id = loop, pool, conn, req_id
        self.sock = conn.sock
        self.fd = conn.sock.fileno()
        #: descriptors that came with the reply (shmat's memfd), or None
        self.fds: list[int] | None = [] if with_fds else None
        #: what is left to write of the request, and how much went out
        self.unsent: list[memoryview] = []
        self.sent = 0
        #: only for a reply that comes in pieces (the common one is read whole)
        self.decoder: P.FrameDecoder | None = None
        self.reply: tuple[int, int, bytes] | None = None
        self.lost: UipcConnectionError | None = None
        self.waiter: asyncio.Future[None] = loop.create_future()

    # writing ---------------------------------------------------------------
    def send_nowait(self, frame: bytes, tail: bytes) -> None:
        """Write what the socket takes now; the rest is left in ``unsent``."""
        parts = [frame + tail] if len(tail) <= _COPY_TAIL else [frame, tail]
        try:
            n = self.sock.send(parts[0]) if len(parts) == 1 else self.sock.sendmsg(parts)
        except BlockingIOError:
            n = 0
        except OSError as exc:
            self.abandon()
            self.pool.drop_idle()  # the daemon went away: they are as dead
            raise UipcConnectionError(errno.ECONNRESET, f"uipc daemon connection lost: {exc}") from exc
        self.sent = n
        if n < sum(len(p) for p in parts):
            self.unsent = _skip(parts, n)

    async def send_rest(self) -> None:
        """Finish a partial write as the socket drains (add_writer).

        Cancelled with nothing written, the connection is as good as new; with
        part of the frame written, only closing it makes the daemon forget the
        request (a partial frame is never run)."""
        loop = self.loop
        while self.unsent:
            writable = loop.create_future()
            loop.add_writer(self.fd, _wake, writable)
            try:
                await writable
            except asyncio.CancelledError:
                if self.sent:
                    self.abandon()
                else:
                    self.pool.detach(self)
                    self.pool.release(self.conn)
                raise
            finally:
                if not loop.is_closed():
                    loop.remove_writer(self.fd)
            try:
                n = self.sock.sendmsg(self.unsent)
            except BlockingIOError:
                continue
            except OSError as exc:
                self.abandon()
                self.pool.drop_idle()
                raise UipcConnectionError(errno.ECONNRESET, f"uipc daemon connection lost: {exc}") from exc
            self.sent += n
            self.unsent = _skip(self.unsent, n)

    # reading ---------------------------------------------------------------
    def on_readable(self) -> None:
        """Read what came, look for our reply (from the pool's reader callback)."""
        try:
            if self.fds is not None:
                data, fds, _, _ = socket.recv_fds(self.sock, _READ_SIZE, 4)
                self.fds.extend(fds)
                n = len(data)
            else:
                n = self.sock.recv_into(self.pool.rbuf)
                data = self.pool.rview[:n]
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._done(lost=UipcConnectionError(errno.ECONNRESET, f"uipc daemon connection lost: {exc}"))
            return
        if not n:
            self._done(lost=UipcConnectionError(errno.ECONNRESET, "uipc daemon closed the connection"))
            return
        decoder = self.decoder
        if decoder is None:
            if n >= _REPLY_HDR:
                length, rid, status = _REPLY_HEADER(data)
                if length + 4 == n and rid == self.req_id:  # the common case: exactly our reply
                    self._done(reply=(rid, status, bytes(data[_REPLY_HDR:])))
                    return
            decoder = self.decoder = P.FrameDecoder(reply=True)
        decoder.feed(data)
        try:
            while True:
                frame = decoder.next_frame()
                if frame is P.NEED_DATA:
                    return
                if frame[0] == self.req_id:  # type: ignore[index]
                    if decoder.buffered:  # nothing may follow: one request is in flight
                        raise P.ProtocolError(f"{decoder.buffered} bytes after the reply")
                    self._done(reply=frame)  # type: ignore[arg-type]
                    return
                # else the late answer to a request given up on
        except P.ProtocolError as exc:
            self._done(lost=UipcConnectionError(errno.EPROTO, f"uipc daemon sent garbage: {exc}"))

    def _done(self, reply: tuple[int, int, bytes] | None = None,
              lost: UipcConnectionError | None = None) -> None:
        self.pool.detach(self)
        self.reply, self.lost = reply, lost
        if not self.waiter.done():
            self.waiter.set_result(None)

    # after a cancellation -------------------------------------------------------
    async def drain(self) -> bool:
        """The task was cancelled while the request was in the daemon: interrupt
        it (do_msgrcv's EINTR) and read its reply.  True if it had completed,
        successfully, before the interrupt (the caller gets its result)."""
        if self.reply is None and self.lost is None:
            frame = P.encode_request(_INTERRUPT, 0, (self.req_id,))
            try:  # 16 bytes: a stream socket takes them whole or not at all
                sent = self.sock.send(frame)
            except OSError:
                sent = 0
            if sent != len(frame):
                self.abandon()  # closing cancels the request just as well
                return False
            self.waiter = self.loop.create_future()
            timer = self.loop.call_later(DRAIN_TIMEOUT, self.waiter.cancel)
            try:
                await self.waiter
            except asyncio.CancelledError:  # cancelled again, or no answer
                self.abandon()
                raise
            finally:
                timer.cancel()
        if self.lost is not None or self.reply is None:
            self.abandon()
            return False
        if self.reply[1]:  # EINTR (or it failed anyway): it had no effect
            self._close_fds()
            self.pool.release(self.conn)
            return False
        return True

    # the outcome -------------------------------------------------------------
    def result(self) -> tuple[bytes, list[int]]:
        if self.lost is not None or self.reply is None:
            self.abandon()
            self.pool.drop_idle()  # the daemon went away: the next call opens a new connection
            raise self.lost or UipcConnectionError(errno.ECONNRESET, "uipc call abandoned")
        _, status, payload = self.reply
        self.pool.release(self.conn)
        if status:
            self._close_fds()
            raise syscall_error(status, payload.decode("utf-8", "replace"))
        return payload, self.fds or []

    def abandon(self, lost: UipcConnectionError | None = None) -> None:
        """Close the connection (the daemon cancels what it was doing)."""
        self.pool.detach(self)
        self._close_fds()
        self.pool.close_conn(self.conn)
        if lost is not None and not self.waiter.done():
            self.lost = lost
            self.waiter.set_result(None)

    def _close_fds(self) -> None:
        for fd in self.fds or ():
            os.close(fd)
        if self.fds:
            self.fds.clear()


def _wake(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


def _skip(parts: list[Any], n: int) -> list[memoryview]:
    """``parts`` without their first ``n`` bytes."""
    rest = []
    for part in parts:
        if n >= len(part):
            n -= len(part)
            continue
        rest.append(memoryview(part)[n:])
        n = 0
    return rest


# --- the pools -------------------------------------------------------------------
class _Pool:
    """One event loop's connections, each watched by one reader callback from
    its opening to its closing (not added and removed per call: that would
    be two epoll_ctl and the selector's bookkeeping every time).

    Only the loop keeps it alive (through those callbacks and the calls in
    flight): ``_pools`` refers to it weakly, and the async generator that
    closes it at shutdown holds the loop (its finalizer hook), so anything
    global holding the pool would keep the loop alive for ever.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = weakref.ref(loop)
        #: every open connection, by descriptor; the idle ones; the calls in flight
        self.conns: dict[int, Connection] = {}
        self.idle: list[Connection] = []
        self.calls: dict[int, _Call] = {}
        self.closed = False
        # one read buffer for all its sockets: the loop runs one callback at a time
        self.rbuf = bytearray(_READ_SIZE)
        self.rview = memoryview(self.rbuf)
        # asyncio.run() closes the loop's async generators before the loop:
        # one that closes the pool gets it closed then, deterministically
        self._closer = _close_at_shutdown(self)
        try:
            self._closer.asend(None).send(None)
        except StopIteration:
            pass
        # a loop closed without shutdown_asyncgens: close them when it is collected
        weakref.finalize(loop, _close_all, self.conns)

    def start(self, loop: asyncio.AbstractEventLoop, op: P.Op, args: tuple[Any, ...],
              tail: bytes) -> _Call:
        """Take a connection, pack the request (as Connection.call) and write it."""
        conn = self._take(loop)
        req_id = conn._next_id = conn._next_id % 0xFFFFFFFF + 1  # never 0
        st = P.REQUEST_STRUCTS[op.code]
        if st.size - 4 + len(tail) > conn.max_frame:  # the limit hello told us
            self.release(conn)
            raise conn._too_big(op, st.size + len(tail))
        try:
            frame = st.pack(st.size - 4 + len(tail), req_id, op.code, *args)
        except struct.error as exc:
            self.release(conn)
            raise ValueError(f"{op.name}: argument out of range: {exc}") from None
        call = _Call(loop, self, conn, req_id, op.result == "shmat")
        self.calls[call.fd] = call
        call.send_nowait(frame, tail)
        return call

    def _take(self, loop: asyncio.AbstractEventLoop) -> Connection:
        """An idle connection, or a new one.  As get_connection: one opened
        under other credentials speaks for them and is not used; a new one
        raises DaemonRestarted once if the daemon is a new instance."""
        now = connection.creds()
        while self.idle:
            conn = self.idle.pop()
            if conn.creds == now:
                return conn
            self.close_conn(conn)
        conn = _open()
        fd = conn.sock.fileno()
        loop.add_reader(fd, self._readable, fd)
        self.conns[fd] = conn
        try:
            connection._check_boot(conn)
        except connection.DaemonRestarted:
            self.release(conn)  # good for the next call
            raise
        return conn

    def _readable(self, fd: int) -> None:
        """The reader callback of connection ``fd``."""
        call = self.calls.get(fd)
        if call is not None:
            call.on_readable()
            return
        # no request in flight: only the daemon closing it (or garbage) comes here
        conn = self.conns.get(fd)
        if conn is not None:
            if conn in self.idle:
                self.idle.remove(conn)
            self.close_conn(conn)

    def detach(self, call: _Call) -> None:
        """The call reads no more (its reply is in, or it is given up)."""
        if self.calls.get(call.fd) is call:
            del self.calls[call.fd]

    def release(self, conn: Connection) -> None:
        """Its call is over and the stream in step: keep it for the next."""
        if (self.closed or len(self.idle) >= MAX_IDLE or conn.pid != _pid
                or self.conns.get(conn.sock.fileno()) is not conn):
            self.close_conn(conn)
        else:
            self.idle.append(conn)

    def close_conn(self, conn: Connection) -> None:
        """Close a connection, its reader first (a descriptor number reused by
        the next socket must not find a stale entry in the loop's selector)."""
        fd = conn.sock.fileno()
        if fd >= 0 and self.conns.get(fd) is conn:
            del self.conns[fd]
            loop = self._loop()
            if loop is not None and not loop.is_closed():
                loop.remove_reader(fd)
        conn.close()

    def drop_idle(self) -> None:
        idle, self.idle = self.idle, []
        for conn in idle:
            self.close_conn(conn)

    def close(self) -> None:
        """Close every connection; calls still pending fail (UipcConnectionError)."""
        self.closed = True
        self.drop_idle()
        for call in list(self.calls.values()):
            call.abandon(UipcConnectionError(errno.ECONNRESET, "uipc's asyncio pool was closed"))
        for conn in list(self.conns.values()):  # replies in, their callers not yet woken
            self.close_conn(conn)

    def forget(self) -> None:
        """In a fork child: close our copies of the parent's sockets without
        touching the loop (its epoll instance is the parent's too)."""
        self.closed = True
        _close_all(self.conns)
        self.idle.clear()
        self.calls.clear()


def _close_all(conns: dict[int, Connection]) -> None:
    """Close sockets without touching the loop (collected, or the parent's)."""
    for conn in conns.values():
        conn.close()
    conns.clear()


async def _close_at_shutdown(pool: _Pool) -> AsyncIterator[None]:
    try:
        yield
    finally:
        pool.close()


#: each loop's pool, both held weakly (see _Pool)
_pools: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, weakref.ref[_Pool]]" = \
    weakref.WeakKeyDictionary()


def _pool_of(loop: asyncio.AbstractEventLoop) -> _Pool:
    ref = _pools.get(loop)
    pool = ref() if ref is not None else None
    if pool is None or pool.closed:
        pool = _Pool(loop)
        _pools[loop] = weakref.ref(pool)
    return pool


def _open() -> Connection:
    """A new connection to the daemon, as get_connection opens one (the daemon
    started if none runs); EMFILE raises the descriptor limit and retries."""
    path = connection.current_socket()
    ns, create = connection._namespace_args()
    while True:
        try:
            try:
                conn = Connection(path, ns, create)
            except connection.DaemonNotRunning:
                from uipc.client.control import ensure_daemon
                ensure_daemon(path)
                conn = Connection(path, ns, create)
        except OSError as exc:
            if exc.errno != errno.EMFILE or not raise_nofile_limit():
                raise
            continue
        # hello done (blocking, once); from now on the loop's callbacks drive it
        conn.sock.setblocking(False)
        _shed_buffers(conn)
        return conn


def _shed_buffers(conn: Connection) -> None:
    """Free the connection's own read buffers (Connection.call's): the pool
    reads into one buffer of its own and decodes only a reply that comes in
    pieces.  At 2 x 64 KiB each, a thousand pending calls would hold 128 MiB."""
    decoder = getattr(conn, "_decoder", None)
    if decoder is not None and decoder.buffered:  # nothing may follow hello's reply
        conn.close()
        raise UipcConnectionError(errno.EPROTO, "uipc daemon sent more than hello's reply")
    for name, empty in (("_rbuf", bytearray()), ("_big", bytearray()), ("_decoder", None)):
        if hasattr(conn, name):
            setattr(conn, name, empty)
    if hasattr(conn, "_rview"):
        conn._rview = memoryview(conn._rbuf)


def raise_nofile_limit() -> bool:
    """Raise the soft RLIMIT_NOFILE towards the hard one (doubled, at least
    +1024); False if it is at the hard limit already (or may not be raised)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = max(2 * soft, soft + 1024)
    if hard != resource.RLIM_INFINITY:
        want = min(want, hard)
    if want <= soft:
        return False
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    except (ValueError, OSError):
        return False
    return True


# --- cancellations owed ----------------------------------------------------------
#: tasks whose cancellation a call that completed first swallowed -> the
#: task's cancelling() count then (a timeout that absorbs it lowers the count)
_owed: "weakref.WeakKeyDictionary[asyncio.Task[Any], int]" = weakref.WeakKeyDictionary()


def _cancelling(task: asyncio.Task[Any]) -> int:
    counter = getattr(task, "cancelling", None)
    return counter() if counter is not None else 1


def _owe_cancellation(loop: asyncio.AbstractEventLoop) -> None:
    task = asyncio.current_task(loop)
    if task is not None:
        _owed[task] = _cancelling(task)


def _pay_owed_cancellation(loop: asyncio.AbstractEventLoop) -> None:
    task = asyncio.current_task(loop)
    if task is None:
        return
    count = _owed.pop(task, None)
    if count is not None and _cancelling(task) >= count:
        raise asyncio.CancelledError("cancelled while an earlier uipc call completed")


# --- fork ----------------------------------------------------------------------
#: this process's pid, kept current by the fork hook (getpid() is a syscall)
_pid = os.getpid()


def _after_fork_in_child() -> None:
    global _pid
    _pid = os.getpid()
    for ref in list(_pools.values()):
        pool = ref()
        if pool is not None:
            pool.forget()
    _pools.clear()


os.register_at_fork(after_in_child=_after_fork_in_child)


# --- any blocking callable, in a thread -------------------------------------------
class _Handle:
    def __init__(self) -> None:
        self.conn: connection.Connection | None = None


def _run(handle: _Handle, fn: Callable[..., T], args: tuple[Any, ...]) -> T:
    handle.conn = connection.get_connection()
    return fn(*args)


async def run_blocking(fn: Callable[..., T], *args: Any) -> T:
    """Await ``fn(*args)`` (blocking uipc calls) in a worker thread; cancellable.

    One executor thread per pending call: for the caller's own blocking
    code.  uipc's coroutines use ``acall``, which needs no thread."""
    loop = asyncio.get_running_loop()
    handle = _Handle()
    ctx = contextvars.copy_context()
    fut = loop.run_in_executor(None, ctx.run, _run, handle, fn, args)
    try:
        return await asyncio.shield(fut)
    except asyncio.CancelledError:
        # interrupt until the worker's call has finished (it may not have
        # sent its request yet when the cancellation arrived)
        while not fut.done():
            if handle.conn is not None:
                handle.conn.interrupt_pending()
            await asyncio.wait({fut}, timeout=0.05)
        exc = fut.exception()
        if exc is not None and not (isinstance(exc, OSError) and exc.errno == errno.EINTR):
            raise exc
        raise


__all__ = ["acall", "amsgrcv", "amsgsnd", "asemtimedop", "close_pool", "raise_nofile_limit",
           "run_blocking", "MAX_IDLE"]
