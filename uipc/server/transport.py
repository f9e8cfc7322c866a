"""Connection I/O: reading, writing with descriptors, back-pressure, fair shares.

A :class:`Conn` is one client socket and its :class:`~uipc.server.session.Session`.
This layer moves bytes: it reads into one preallocated buffer, writes the
session's replies (a turn's replies to a connection in one write; a reply
with descriptors alone, SCM_RIGHTS), queues what the socket does not take
and watches for writability, and counts what each uid holds in the daemon
(:class:`UidLoad`): unread replies, unfinished input, connections, frames
this turn.
"""
from __future__ import annotations

import os
import socket
from collections import deque
from typing import Any, Callable

from uipc.server.loop import READ, WRITE, Poller
from uipc.server.procwatch import Peer
from uipc.server.session import Session

RECV_SIZE = 256 * 1024
#: replies buffered for a client that does not read them before it is dropped
#: (and per uid: uipc.quota.reply_bytes)
MAX_OUTPUT_BUFFER = 64 * 1024 * 1024
#: frames handled per connection per loop turn, so a flooding client cannot
#: starve the others: the rest waits for the next turn
FRAMES_PER_TURN = 32
#: frames one uid's connections get per loop turn, together: 512 connections
#: of one user take no more turns than one connection of another
FRAMES_PER_UID_PER_TURN = 64
#: and the daemon time they may take per turn, together: cheap requests are
#: bounded by the count, dear ones (an introspection page) by the time
NS_PER_UID_PER_TURN = 2_000_000


class UidLoad:
    """What one uid's connections hold in the daemon (its fair share)."""

    __slots__ = ("conns", "partial", "out", "frames", "spent", "poller", "grouped")

    def __init__(self) -> None:
        #: the nested epoll of its connections past the first ones, and how
        #: many are in it (it goes when the last one does)
        self.poller: Poller | None = None
        self.grouped = 0
        #: daemon time its requests took this turn (ns)
        self.spent = 0
        self.conns = 0
        #: unfinished and held-back input bytes
        self.partial = 0
        #: replies written but not read
        self.out = 0
        #: frames handled in this loop turn
        self.frames = 0


class Conn:
    """One client connection."""

    __slots__ = ("sock", "session", "peer", "pidfd", "load", "wbuf", "out", "out_bytes",
                 "writing", "closed", "handler", "charged", "pid", "uid", "poller")

    def __init__(self, sock: socket.socket, session: Session, peer: Peer, pidfd: int,
                 load: UidLoad) -> None:
        self.sock = sock
        self.session = session
        #: who connected, as read at accept (procwatch); only ever drops
        self.peer = peer
        #: the peer's pidfd until hello hands it to the process watch (-1 then)
        self.pidfd = pidfd
        self.pid, self.uid = peer.pid, peer.uid
        self.load = load
        #: replies of this loop turn, sent together at its end
        self.wbuf: list[bytes] = []
        #: what the socket did not take yet: (data, descriptors to close after)
        self.out: deque[tuple[memoryview, list[int]]] = deque()
        self.out_bytes = 0
        self.writing = False
        self.closed = False
        self.handler: Any = None
        #: the session's buffered input as last charged to the uid
        self.charged = 0
        #: its uid's poller group (Poller.group)
        self.poller: Poller | None = None


class Transport:
    """Reads and writes connections; ``drop`` is called when one must go."""

    def __init__(self, poller: Poller, fd_of: Callable[[Any, bool, Conn], int],
                 drop: Callable[[Conn], None]) -> None:
        self.poller = poller
        self.fd_of = fd_of
        self.drop = drop
        self._rbuf = bytearray(RECV_SIZE)
        self.rview = memoryview(self._rbuf)
        #: connections with replies queued this turn
        self.dirty: list[Conn] = []
        #: input bytes buffered for every connection
        self.partial = 0
        self.reply_quota = 1 << 62
        #: uid -> its share
        self.loads: dict[int, UidLoad] = {}

    def watch(self, conn: Conn) -> None:
        """Poll the connection: a uid's first connections directly (no extra
        epoll_wait on the hot path), the ones past FRAMES_PER_UID_PER_TURN in
        its group, so a thousand of them cost a turn what 64 do."""
        load = conn.load
        if load.conns <= FRAMES_PER_UID_PER_TURN:
            conn.poller = self.poller
        else:
            if load.poller is None:
                load.poller = self.poller.group(FRAMES_PER_UID_PER_TURN)
            conn.poller = load.poller
            load.grouped += 1
        conn.poller.register(conn.sock, READ, conn.handler)

    def load_of(self, uid: int) -> UidLoad:
        load = self.loads.get(uid)
        if load is None:
            load = self.loads[uid] = UidLoad()
        return load

    def new_turn(self) -> None:
        for load in self.loads.values():  # one per uid seen: a handful
            load.frames = load.spent = 0

    @staticmethod
    def budget(conn: Conn) -> int:
        """Frames it may run now: its own cap per turn, within what its uid
        has left of FRAMES_PER_UID_PER_TURN and of NS_PER_UID_PER_TURN."""
        load = conn.load
        if load.spent >= NS_PER_UID_PER_TURN:
            return 0
        return min(FRAMES_PER_TURN, FRAMES_PER_UID_PER_TURN - load.frames)

    def recv(self, conn: Conn) -> int:
        """Read what is there into the shared buffer (``rview[:n]``); 0 at
        EOF or error, -1 if nothing was ready."""
        try:
            # recv_into one preallocated buffer: recv(256 KiB) would malloc
            # (mmap) and fault in a fresh buffer on every read
            return conn.sock.recv_into(self._rbuf)
        except (BlockingIOError, InterruptedError):
            return -1
        except OSError:
            return 0

    def charge_input(self, conn: Conn) -> None:
        """Count the session's buffered input for the daemon and its uid."""
        now = conn.session.buffered()
        delta, conn.charged = now - conn.charged, now
        self.partial += delta
        conn.load.partial += delta

    # --- output -----------------------------------------------------------
    def take_replies(self, conn: Conn) -> None:
        """Move the session's replies to the connection's output: plain ones
        join this turn's write, ones with descriptors go out on their own."""
        outbox = conn.session.outbox
        if not outbox or conn.closed:
            outbox.clear()
            return
        replies = list(outbox)
        outbox.clear()
        for frame, mems, undeliverable in replies:
            if mems:
                self.send_with_memory(conn, frame, mems, undeliverable)
            else:
                if not conn.wbuf:
                    self.dirty.append(conn)
                conn.wbuf.append(frame)

    def send_replies(self, conn: Conn) -> None:
        """Send the session's replies now (one plain reply, the common case,
        straight to the socket)."""
        outbox = conn.session.outbox
        if len(outbox) == 1 and not outbox[0][1] and not conn.wbuf:
            frame = outbox[0][0]
            outbox.clear()
            self._output(conn, frame, None)
            return
        self.take_replies(conn)
        self.flush(conn)

    def send_with_memory(self, conn: Conn, frame: bytes, mems: list[tuple[Any, bool]],
                         undeliverable: Callable[[], bytes] | None) -> None:
        """A reply whose memory objects travel as descriptors (SCM_RIGHTS);
        if they cannot be made (the table is full), ``undeliverable`` undoes
        the result and gives the error to send instead."""
        fds: list[int] = []
        try:
            try:
                for handle, readonly in mems:
                    fds.append(self.fd_of(handle, readonly, conn))
            except OSError:
                if undeliverable is None:
                    raise
                for fd in fds:
                    os.close(fd)
                fds = []
                frame = undeliverable()
            self.flush(conn)  # descriptors ride on their own message, after what is queued
            self._output(conn, frame, fds or None)
        finally:
            for fd in fds:
                os.close(fd)

    def flush_all(self) -> None:
        dirty, self.dirty = self.dirty, []
        for conn in dirty:
            self.flush(conn)

    def flush(self, conn: Conn) -> None:
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
                self.drop(conn)
                return
            if sent == len(data):
                return
            if sent:
                data, fds = data[sent:], None
        conn.out.append((memoryview(data), [os.dup(fd) for fd in fds] if fds else []))
        conn.out_bytes += len(data)
        conn.load.out += len(data)
        if conn.out_bytes > MAX_OUTPUT_BUFFER or conn.load.out > self.reply_quota:
            self.drop(conn)
            return
        if not conn.writing:
            conn.writing = True
            (conn.poller or self.poller).modify(conn.sock, READ | WRITE)

    def write(self, conn: Conn) -> None:
        """The socket is writable: send what waits."""
        while conn.out:
            data, fds = conn.out[0]
            try:
                sent = socket.send_fds(conn.sock, [data], fds) if fds else conn.sock.send(data)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                self.drop(conn)
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
            (conn.poller or self.poller).modify(conn.sock, READ)

    def flush_and_close(self, conn: Conn) -> None:
        """Send what can be sent in a moment (an error's explanation), then close."""
        try:
            self.take_replies(conn)
            self.flush(conn)
            conn.sock.setblocking(True)
            conn.sock.settimeout(0.1)
            while conn.out:
                self.write(conn)
                if conn.out:
                    break
        except OSError:
            pass
        self.drop(conn)

    def close(self, conn: Conn) -> None:
        """Release the connection's socket, queued descriptors and shares."""
        if conn.closed:
            return
        conn.closed = True
        conn.load.conns -= 1
        conn.load.out -= conn.out_bytes
        self.partial -= conn.charged
        conn.load.partial -= conn.charged
        conn.charged = 0
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
            (conn.poller or self.poller).unregister(conn.sock)
        except (KeyError, ValueError, OSError):
            pass
        conn.sock.close()
        load = conn.load
        if conn.poller is not None and conn.poller is load.poller:
            load.grouped -= 1
            if not load.grouped:  # the uid's group is empty: its epoll goes too
                self.poller.ungroup(load.poller)
                load.poller = None
