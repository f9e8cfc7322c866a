"""One connection to the daemon per thread: connect, send, receive, close.

Like redis-py's connection module, this knows nothing of the syscalls: it
sends a request frame and returns the reply's payload (and any descriptors
that came with it).  A connection is one kernel task; the daemon learns the
process from SO_PEERCRED.  After ``fork()`` a child never reuses its parent's
connection (the daemon would take it for the parent): it opens its own.

A signal that interrupts a blocked call (Ctrl-C) is forwarded as an
``interrupt`` frame; the daemon completes the request with EINTR (or with
its result if it finished first), we read that reply so the stream stays in
step, and the signal's exception propagates: no ghost waiter is left behind.

Whom we talk to is checked, not assumed: the socket's directory must be
ours (or root's) and closed to others, and the process at the other end
must run as our uid or as root (SO_PEERCRED), so nobody can plant a fake
daemon where ours would be.  A connection carries the credentials the
process had when it connected; when they change (setuid, setgroups) the
next call opens a new one, so a process that dropped privileges does not
keep using them.  Each daemon instance has a boot id: a connection that
comes back to a different instance (the daemon restarted, every object is
gone) fails its first call with :class:`DaemonRestarted`.
"""
from __future__ import annotations

import atexit
import errno
import os
import socket
import struct
import threading
import time
from pathlib import Path
from typing import Any, Callable

from uipc import protocol as P
from uipc.paths import SYSTEM_DIR, default_socket, user_dir
from uipc.spin import Spin


#: tails up to this size are copied into the frame (one send); larger ones go
#: out scatter-gather
_COPY_TAIL = 16 * 1024
_REPLY_HEADER = P.REPLY_HEADER.unpack_from
_REPLY_HDR = P.REPLY_HEADER.size


class UipcConnectionError(ConnectionResetError):
    """The daemon went away (it was stopped or restarted) during a call.

    The call's effect is unknown.  The next call opens a new connection (and
    starts a daemon if none runs).
    """


class DaemonNotRunning(ConnectionRefusedError):
    """Nothing listens at the socket (and autostart is off or failed)."""


class DaemonRestarted(UipcConnectionError):
    """The daemon this process talked to was replaced by a new instance:
    every object, id and attachment from before is gone.  Raised once, by the
    first call on the new instance; later calls go through."""


class UntrustedDaemon(PermissionError):
    """The socket or its directory is controlled by someone else."""


_PEERCRED = struct.Struct("3i")


def creds() -> tuple[Any, ...]:
    """This process's credentials, compared before each call (three cheap
    syscalls): a connection opened under others is not used."""
    return os.getresuid(), os.getresgid(), os.getgroups()


def check_socket_dir(directory: Path) -> None:
    """Refuse a socket directory someone else could have prepared.

    Ours or root's, a real directory, and not writable by others (sticky
    directories such as /tmp excepted, where the daemon's own credentials are
    checked after connecting).  The per-user directory must be ours and 0700,
    as the daemon makes it.
    """
    euid = os.geteuid()
    try:
        st = os.lstat(directory)
    except FileNotFoundError:
        return  # nothing listens there: connect fails with DaemonNotRunning
    import stat as S
    if not S.S_ISDIR(st.st_mode):
        raise UntrustedDaemon(errno.EPERM, f"uipc: {directory} is not a directory; refusing it")
    if directory == user_dir() and (st.st_uid != euid or st.st_mode & 0o077):
        raise UntrustedDaemon(errno.EPERM, f"uipc: {directory} belongs to uid {st.st_uid} with "
                              f"mode {st.st_mode & 0o777:03o}; it must be ours (uid {euid}) and "
                              "0700: someone else may have made it. Remove it to go on.")
    if st.st_uid not in (euid, 0):
        raise UntrustedDaemon(errno.EPERM, f"uipc: {directory} belongs to uid {st.st_uid}, "
                              f"neither us (uid {euid}) nor root; refusing it")
    if st.st_mode & 0o022 and not st.st_mode & S.S_ISVTX:
        raise UntrustedDaemon(errno.EPERM, f"uipc: {directory} (mode {st.st_mode & 0o777:03o}) "
                              "is writable by others; refusing it")


def check_daemon_peer(sock: socket.socket, path: str) -> None:
    """The process listening must be our uid or root; the system daemon root."""
    pid, uid, _ = _PEERCRED.unpack(sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED,
                                                   _PEERCRED.size))
    allowed = (0,) if Path(path).parent == SYSTEM_DIR else (os.geteuid(), 0)
    if uid not in allowed:
        raise UntrustedDaemon(errno.EPERM, f"uipc: the process at {path} (pid {pid}) runs as "
                              f"uid {uid}, not as us or root: refusing to talk to it")


def syscall_error(status: int, detail: str) -> OSError:
    """The OSError libc would set, with uipc's explanation appended."""
    text = os.strerror(status)
    return OSError(status, f"{text} ({detail})" if detail else text)


class Connection:
    """A connected task.  Not thread-safe: one per thread."""

    def __init__(self, path: Path | str, namespace: str = "", create_namespace: bool = False,
                 spin_us: int = 0) -> None:
        self.path = str(path)
        #: poll this long for a reply before sleeping in recv (uipc.spin)
        self.spin = Spin(spin_us)
        self.pid = os.getpid()
        self._next_id = 0
        self._decoder = P.FrameDecoder(reply=True)
        # replies are read into one buffer: a fresh recv() buffer per call
        # costs an allocation (and page faults when it is large)
        self._rbuf = bytearray(1 << 16)
        self._rview = memoryview(self._rbuf)
        #: replies larger than _rbuf are read whole into this one
        self._big = bytearray()
        #: the request id in flight, for interrupts sent from another thread
        self.pending: int | None = None
        #: one frame at a time on the socket: an interrupt sent from another
        #: thread must not land inside a large request being written
        self._wlock = threading.Lock()
        #: the process's credentials when it connected (the daemon's view of us)
        self.creds = creds()
        #: the largest frame the daemon takes (from hello)
        self.max_frame = P.MAX_FRAME
        check_socket_dir(Path(self.path).parent)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        try:
            sock.connect(self.path)
            check_daemon_peer(sock, self.path)
        except (FileNotFoundError, ConnectionRefusedError) as exc:
            sock.close()
            raise DaemonNotRunning(exc.errno, f"no uipc daemon listens at {self.path}") from None
        except BaseException:
            sock.close()
            raise
        self.sock = sock
        try:
            payload, _ = self.call(P.OPS_BY_NAME["hello"], (P.VERSION, int(create_namespace), 0),
                                   namespace.encode())
            version = P.LENGTH.unpack_from(payload)[0] if len(payload) >= 4 else 0
            if version != P.VERSION or len(payload) != P.HELLO_RESULT.size:
                raise UipcConnectionError(errno.EPROTO, f"daemon speaks protocol {version}, we "
                                          f"speak {P.VERSION}: restart it (uipc daemon --stop)")
        except BaseException:
            self.close()
            raise
        _, self.daemon_pid_seen, self.tid, self.boot_id, self.max_frame = \
            P.HELLO_RESULT.unpack_from(payload)

    def close(self) -> None:
        self.sock.close()

    def call(self, op: P.Op, args: tuple[Any, ...], tail: bytes = b"") -> tuple[bytes, list[int]]:
        """Send one request and wait for its reply.  Raises OSError on error status."""
        req_id = self._next_id = self._next_id % 0xFFFFFFFF + 1  # never 0
        st = P.REQUEST_STRUCTS[op.code]
        if st.size - 4 + len(tail) > self.max_frame:
            raise self._too_big(op, st.size + len(tail))
        try:
            frame = st.pack(st.size - 4 + len(tail), req_id, op.code, *args)
        except struct.error as exc:
            raise ValueError(f"{op.name}: argument out of range: {exc}") from None
        self.pending = req_id
        fds: list[int] = []
        with_fds = op.fds > 0
        try:
            self._send_frame(frame, tail)
            while True:
                rid, status, payload = self._next_reply(req_id, fds if with_fds else None)
                if rid == req_id:
                    break
                if rid == P.EVENT_REQ_ID:
                    frame_zero(status, payload)
                # else the late answer to a request we gave up on
        finally:
            self.pending = None
        if status:
            for fd in fds:
                os.close(fd)
            raise syscall_error(status, payload.decode("utf-8", "replace"))
        return payload, fds

    def next_event(self) -> tuple[int, bytes]:
        """Block for the next pushed event frame: (event code, payload)."""
        while True:
            rid, status, payload = self._next_reply(-1, None)
            if rid != P.EVENT_REQ_ID:
                continue
            if status:
                raise syscall_error(status, payload.decode("utf-8", "replace"))
            (code,) = P.EVENT_HEADER.unpack_from(payload)
            return code, payload[P.EVENT_HEADER.size:]

    def _too_big(self, op: P.Op, size: int) -> OSError:
        return OSError(errno.EINVAL, f"{os.strerror(errno.EINVAL)} ({op.name}: a request of "
                       f"{size} bytes exceeds the uipc daemon's frame limit ({self.max_frame} "
                       "bytes): messages that large are not supported)")

    def _send_frame(self, frame: bytes, tail: bytes | memoryview) -> None:
        with self._wlock:
            self._send_locked(frame, tail)

    def _send_locked(self, frame: bytes, tail: bytes | memoryview) -> None:
        try:
            if len(tail) <= _COPY_TAIL:
                self.sock.sendall(frame + tail if tail else frame)
                return
            # a large tail goes out scatter-gather, without a copy
            sent = self.sock.sendmsg([frame, tail])
            if sent < len(frame):
                self.sock.sendall(frame[sent:])
                sent = len(frame)
            if sent - len(frame) < len(tail):
                self.sock.sendall(memoryview(tail)[sent - len(frame):])
        except OSError as exc:
            raise UipcConnectionError(errno.ECONNRESET, f"uipc daemon connection lost: {exc}") from exc

    def interrupt_pending(self) -> bool:
        """From another thread: interrupt the request in flight, if any."""
        req_id = self.pending
        if req_id is None:
            return False
        try:
            with self._wlock:
                self.sock.sendall(P.encode_request(P.OPS_BY_NAME["interrupt"], 0, (req_id,)))
        except OSError:
            return False
        return True

    def _next_reply(self, target: int, fds: list[int] | None) -> tuple[int, int, bytes]:
        """The next reply frame (rid, status, payload); receives descriptors
        into ``fds`` if given.  A signal while waiting interrupts ``target``."""
        decoder = self._decoder
        while True:
            if decoder.buffered:
                frame = decoder.next_frame()
                if frame is not P.NEED_DATA:
                    return frame  # type: ignore[return-value]
            try:
                if fds is not None:
                    data, new_fds, _, _ = socket.recv_fds(self.sock, 1 << 16, 4)
                    fds.extend(new_fds)
                    n = len(data)
                else:
                    n = self._spin_recv() if self.spin.spin_ns else 0
                    if not n:
                        n = self.sock.recv_into(self._rbuf)
                    data = self._rview[:n]
            except BaseException as exc:
                self._receive_failed(exc, target)
                raise
            if not n:
                raise UipcConnectionError(errno.ECONNRESET, "uipc daemon closed the connection")
            if not decoder.buffered and n >= _REPLY_HDR:
                length, rid, status = _REPLY_HEADER(data)
                if length + 4 == n:  # the common case: exactly one whole reply arrived
                    return rid, status, bytes(data[_REPLY_HDR:])
                if n < length + 4 <= P.MAX_FRAME and fds is None:
                    return rid, status, self._rest_of_big_reply(length + 4, data, target)
            decoder.feed(data)

    def _spin_recv(self) -> int:
        """Poll the socket for up to the spin budget; 0 if nothing came."""
        budget = self.spin.budget_ns()
        if not budget:
            return 0
        clock = time.perf_counter_ns
        end = clock() + budget
        recv_into, rbuf = self.sock.recv_into, self._rbuf
        while clock() < end:
            try:
                n = recv_into(rbuf, 0, socket.MSG_DONTWAIT)
            except BlockingIOError:
                continue
            self.spin.caught(True)
            return n
        self.spin.caught(False)
        return 0

    def _rest_of_big_reply(self, size: int, head: memoryview, target: int) -> bytes:
        """A reply larger than the read buffer: the rest goes straight into a
        buffer of its size, kept for the next one.  Fed through the decoder
        it would be regrown and copied chunk by chunk (fresh pages each time)."""
        if len(self._big) < size:
            self._big = bytearray(size)
        with memoryview(self._big) as view:
            got = len(head)
            view[:got] = head
            try:
                while got < size:
                    k = self.sock.recv_into(view[got:size])
                    if not k:
                        raise UipcConnectionError(errno.ECONNRESET, "uipc daemon closed the connection")
                    got += k
            except BaseException as exc:
                self._decoder.feed(view[:got])  # keep the stream in step
                self._receive_failed(exc, target)
                raise
            return bytes(view[_REPLY_HDR:size])

    def _receive_failed(self, exc: BaseException, target: int) -> None:
        """A receive raised ``exc`` (the caller re-raises it).  A lost daemon
        becomes UipcConnectionError; a signal handler's exception
        (KeyboardInterrupt...) first interrupts ``target`` and resyncs."""
        if isinstance(exc, UipcConnectionError):
            return
        if isinstance(exc, OSError) and not isinstance(exc, InterruptedError):
            raise UipcConnectionError(errno.ECONNRESET, f"uipc daemon connection lost: {exc}") from exc
        self._interrupt(target)

    def call_many(self, requests: list[tuple[P.Op, tuple[Any, ...], bytes, int]]
                  ) -> list[bytes | OSError | None]:
        """Send a batch of requests in one write; wait for the last one's reply.

        ``requests`` are (op, args, tail, flags) with ``P.OP_LINK`` /
        ``P.OP_SKIP_SUCCESS`` flags.  Returns per request its reply payload,
        the OSError it failed with, or None (no reply: it succeeded with
        SKIP_SUCCESS).  The last request must not skip its reply.
        """
        if not requests:
            return []
        if requests[-1][3] & P.OP_SKIP_SUCCESS:
            raise ValueError("the last request of a batch must be answered")
        frames: list[bytes] = []
        index: dict[int, int] = {}  # req_id -> position in the batch
        for op, args, tail, flags in requests:
            if op.result == "shmat":
                raise ValueError("shmat cannot be batched (its descriptor comes with the reply)")
            req_id = self._next_id = self._next_id % 0xFFFFFFFF + 1
            index[req_id] = len(index)
            st = P.REQUEST_STRUCTS[op.code]
            if st.size - 4 + len(tail) > self.max_frame:
                raise self._too_big(op, st.size + len(tail))
            try:
                frames.append(st.pack(st.size - 4 + len(tail), req_id, op.code | flags, *args))
            except struct.error as exc:
                raise ValueError(f"{op.name}: argument out of range: {exc}") from None
            if tail:
                frames.append(tail)
        last = self._next_id
        results: list[bytes | OSError | None] = [None] * len(requests)
        self.pending = last
        try:
            self._send_frame(b"".join(frames), b"")
            while True:
                rid, status, payload = self._next_reply(last, None)
                i = index.get(rid)
                if i is None:
                    if rid == P.EVENT_REQ_ID:
                        frame_zero(status, payload)
                    continue  # the late answer to a request we gave up on
                results[i] = (syscall_error(status, payload.decode("utf-8", "replace"))
                              if status else payload)
                if rid == last:
                    return results
        finally:
            self.pending = None

    def _interrupt(self, req_id: int) -> None:
        """Tell the daemon our blocked request (or batch up to ``req_id``) was
        interrupted, and drain the replies up to ``req_id``'s."""
        try:
            with self._wlock:
                self.sock.sendall(P.encode_request(P.OPS_BY_NAME["interrupt"], 0, (req_id,)))
            self.sock.settimeout(10)
            while True:
                frame = self._decoder.next_frame()
                if frame is P.NEED_DATA:
                    data, fds, _, _ = socket.recv_fds(self.sock, 1 << 16, 4)
                    for fd in fds:
                        os.close(fd)
                    if not data:
                        break
                    self._decoder.feed(data)
                    continue
                if frame[0] == req_id:  # type: ignore[index]
                    break
            self.sock.settimeout(None)
        except BaseException:
            # a second interrupt or a dead daemon: dropping the connection
            # cancels the request in the daemon just as well
            self.sock.close()


# --- pushed events -------------------------------------------------------------
#: event code -> handler of its payload (uipc.protocol.EVENTS)
_event_handlers: dict[int, Callable[[bytes], None]] = {}


def on_event(code: int, handler: Callable[[bytes], None] | None) -> None:
    """Run ``handler(payload)`` for each pushed event ``code`` (None: stop)."""
    if handler is None:
        _event_handlers.pop(code, None)
    else:
        _event_handlers[code] = handler


def frame_zero(status: int, payload: bytes) -> None:
    """A frame that answers no request: an event (dispatched, and the caller
    goes on waiting for its reply) or an error about the connection itself."""
    if status:
        raise syscall_error(status, payload.decode("utf-8", "replace"))
    if len(payload) < P.EVENT_HEADER.size:
        return
    (code,) = P.EVENT_HEADER.unpack_from(payload)
    handler = _event_handlers.get(code)
    if handler is not None:
        handler(payload[P.EVENT_HEADER.size:])


# --- per-thread connections -------------------------------------------------
_local = threading.local()
_config: dict[str, Any] = {}


def configure(*, socket_path: Path | str | None = None, namespace: str | None = None,
              create_namespace: bool | None = None, spin_us: int | None = None) -> None:
    """Override the environment for this process's future connections.

    ``spin_us`` (or $UIPC_SPIN_US): poll for a reply this long before
    sleeping, when this process may run on more than one CPU — lower
    latency across CPUs for some CPU time (uipc.spin).  Default 0.
    """
    for key, value in (("socket_path", socket_path), ("namespace", namespace),
                       ("create_namespace", create_namespace), ("spin_us", spin_us)):
        if value is not None:
            _config[key] = value
    drop_connection()


def unshare_namespace(name: str = "") -> str:
    """Move this process into a fresh IPC namespace (unshare(CLONE_NEWIPC)).

    Returns its name.  Threads of this process and children forked or
    executed afterwards join it too.  As in Linux, this process's semaphore
    undo list is applied first.
    """
    payload, _ = call(P.OPS_BY_NAME["unshare"], (0,), name.encode())
    new = payload.decode()
    _config["namespace"] = new
    _config["create_namespace"] = False
    os.environ["UIPC_NAMESPACE"] = new
    os.environ.pop("UIPC_NAMESPACE_CREATE", None)
    return new


def current_socket() -> Path:
    return Path(_config.get("socket_path") or default_socket())


def get_connection() -> Connection:
    """This thread's connection, opened (and the daemon started) on first use.

    A connection inherited across fork() belongs to the parent, and one
    opened under other credentials speaks for them: either is replaced (the
    new one first, so the process never has none while it has attachments).
    Raises DaemonRestarted once if the daemon is not the instance this
    process talked to before.
    """
    old: Connection | None = getattr(_local, "conn", None)
    if old is not None and old.pid == _pid and old.creds == creds():
        return old
    path = current_socket()
    ns, create = _namespace_args()
    try:
        conn = Connection(path, ns, create, _spin_us())
    except DaemonNotRunning:
        from uipc.client.control import ensure_daemon
        ensure_daemon(path)
        conn = Connection(path, ns, create, _spin_us())
    if old is not None:
        old.close()
    _local.conn = conn
    _check_boot(conn)
    return conn


#: socket path -> boot id of the daemon instance this process last talked to
_boot_ids: dict[str, int] = {}


def _check_boot(conn: Connection) -> None:
    seen = _boot_ids.get(conn.path)
    _boot_ids[conn.path] = conn.boot_id
    if seen is not None and seen != conn.boot_id:
        raise DaemonRestarted(errno.ECONNRESET, f"the uipc daemon at {conn.path} restarted (boot "
                              f"id {seen:#x}, now {conn.boot_id:#x}): every object, id and "
                              "attachment from before is gone; later calls use the new daemon")


def drop_connection() -> None:
    """Close this thread's connection (the next call opens a new one)."""
    conn = getattr(_local, "conn", None)
    if conn is not None:
        conn.close()
        _local.conn = None


def call(op: P.Op, args: tuple[Any, ...], tail: bytes = b"") -> tuple[bytes, list[int]]:
    """Run one request on this thread's connection."""
    conn = getattr(_local, "conn", None)
    if conn is None or conn.pid != _pid or conn.creds != creds():
        conn = get_connection()
    try:
        return conn.call(op, args, tail)
    except UipcConnectionError:
        drop_connection()
        raise


def call_many(requests: list[tuple[P.Op, tuple[Any, ...], bytes, int]]) -> list[bytes | OSError | None]:
    """Run a batch of requests on this thread's connection (Connection.call_many)."""
    conn = getattr(_local, "conn", None)
    if conn is None or conn.pid != _pid or conn.creds != creds():
        conn = get_connection()
    try:
        return conn.call_many(requests)
    except UipcConnectionError:
        drop_connection()
        raise


#: callables returning the attach ids a fork child inherits (uipc.client.shm)
_fork_state: list[Callable[[], list[int]]] = []
_pid_before_fork = 0


def register_fork_state(fn: Callable[[], list[int]]) -> None:
    _fork_state.append(fn)


#: callables saying whether the process holds uipc descriptors (mq_open's):
#: a fork child shares them, so it reports its fork even with no attachment
_fork_files: list[Callable[[], bool]] = []


def register_fork_files(fn: Callable[[], bool]) -> None:
    _fork_files.append(fn)


#: the fork handshake: the child closes its end once it has reported its fork
_fork_pipe: tuple[int, int] | None = None


def _holds_state() -> bool:
    return any(fn() for fn in _fork_state) or any(fn() for fn in _fork_files)


def _before_fork() -> None:
    """Linux copies the descriptor table and the mappings at fork; the
    daemon learns of the fork only when the child reports it.  So that
    nothing the parent does right after fork (closing its end of a pipe,
    shmdt) comes first, a parent that holds uipc state waits in
    _after_fork_in_parent until the child has reported (or died)."""
    global _pid_before_fork, _fork_pipe
    _pid_before_fork = os.getpid()
    _fork_pipe = os.pipe2(os.O_CLOEXEC) if _holds_state() else None


def _after_fork_in_parent() -> None:
    global _fork_pipe
    if _fork_pipe is None:
        return
    r, w = _fork_pipe
    _fork_pipe = None
    os.close(w)
    try:
        while True:
            try:
                if not os.read(r, 1):
                    break  # EOF: the child reported, exec'd or died
            except InterruptedError:
                continue
    finally:
        os.close(r)


#: a connection held while this process has shm attachments, so that the
#: daemon never takes a process whose threads all left for an exec'd one
_anchor: Connection | None = None


def hold_anchor() -> None:
    """Keep one connection open for the process (its mappings' owner)."""
    global _anchor
    path = str(current_socket())
    if _anchor is None or _anchor.pid != os.getpid() or _anchor.path != path:
        if _anchor is not None and _anchor.pid == os.getpid():
            _anchor.close()  # it belongs to a daemon this process no longer uses
        try:
            _anchor = Connection(current_socket(), *_namespace_args())
        except DaemonNotRunning:
            from uipc.client.control import ensure_daemon
            ensure_daemon(current_socket())
            _anchor = Connection(current_socket(), *_namespace_args())


def _close_anchor_at_exit() -> None:
    """The interpreter ends: the anchor and this thread's connection go
    quietly (no unclosed-socket warning)."""
    for conn in (_anchor, getattr(_local, "conn", None)):
        if conn is not None and conn.pid == os.getpid():
            conn.close()


atexit.register(_close_anchor_at_exit)


def _spin_us() -> int:
    value = _config.get("spin_us", os.environ.get("UIPC_SPIN_US", "0"))
    try:
        return max(0, int(value))
    except ValueError:
        return 0


def _namespace_args() -> tuple[str, bool]:
    ns = _config.get("namespace", os.environ.get("UIPC_NAMESPACE", ""))
    create = _config.get("create_namespace", os.environ.get("UIPC_NAMESPACE_CREATE") == "1")
    return ns, create


#: this process's pid, kept current by the fork hook (getpid() is a syscall)
_pid = os.getpid()


def _after_fork_in_child() -> None:
    global _fork_pipe
    pipe, _fork_pipe = _fork_pipe, None
    if pipe is not None:
        os.close(pipe[0])
    try:
        _report_fork()
    finally:
        if pipe is not None:
            os.close(pipe[1])  # the parent goes on


def _report_fork() -> None:
    global _anchor, _pid
    _pid = os.getpid()
    conn = getattr(_local, "conn", None)
    if conn is not None:
        conn.close()
        _local.conn = None
    if _anchor is not None:
        _anchor.close()
        _anchor = None
    ids = [i for fn in _fork_state for i in fn()]
    if ids or any(fn() for fn in _fork_files):
        # tell the daemon at once: our copies of the parent's mappings count
        try:
            hold_anchor()
            assert _anchor is not None
            _anchor.call(P.OPS_BY_NAME["fork"], (_pid_before_fork,),
                         b"".join(i.to_bytes(8, "little", signed=True) for i in ids))
        except Exception:  # noqa: BLE001 - the child must run on even if this fails
            pass


os.register_at_fork(before=_before_fork, after_in_parent=_after_fork_in_parent,
                   after_in_child=_after_fork_in_child)
