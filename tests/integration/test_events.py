"""Pushed events and the integrity of the stream.

A frame with req_id 0 answers no request: the client dispatches an event
(status 0) to its handler and goes on waiting for its own reply, and raises
a connection error (nonzero status).  Frames are written whole: an interrupt
from another thread never lands inside a large request being sent.
"""
from __future__ import annotations

import errno
import socket
import threading
from pathlib import Path

import pytest

import uipc
from uipc import protocol as P
from uipc.client import connection as C


def _fake_daemon(path: Path, script) -> threading.Thread:  # type: ignore[no-untyped-def]
    """A listener of our own uid that answers hello, then runs ``script(sock)``."""
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(str(path))
    srv.listen(1)

    def serve() -> None:
        s, _ = srv.accept()
        dec = P.FrameDecoder()
        while (f := dec.next_frame()) is P.NEED_DATA:
            dec.feed(s.recv(4096))
        s.sendall(P.encode_reply(f[0], P.HELLO_RESULT.pack(P.VERSION, 1, 1, 7, P.MAX_FRAME)))
        script(s, dec)
        s.close()
        srv.close()
    t = threading.Thread(target=serve, daemon=True)
    t.start()
    return t


def _next_request(s: socket.socket, dec: P.FrameDecoder) -> tuple[int, int, bytes]:
    while (f := dec.next_frame()) is P.NEED_DATA:
        dec.feed(s.recv(4096))
    return f  # type: ignore[return-value]


def test_an_event_is_dispatched_while_a_call_waits_for_its_reply(tmp_path: Path) -> None:
    seen: list[bytes] = []
    C.on_event(1, seen.append)
    try:
        def script(s: socket.socket, dec: P.FrameDecoder) -> None:
            req_id, _, _ = _next_request(s, dec)
            s.sendall(P.encode_event(1, b"first") + P.encode_event(99, b"nobody listens")
                      + P.encode_event(1, b"second")
                      + P.encode_reply(req_id, P.INT_RESULT.pack(42)))
        t = _fake_daemon(tmp_path / "s", script)
        conn = C.Connection(tmp_path / "s")
        payload, _ = conn.call(P.OPS_BY_NAME["msgget"], (0, 0))
        conn.close()
        t.join(10)
    finally:
        C.on_event(1, None)
    assert P.INT_RESULT.unpack(payload) == (42,)
    assert seen == [b"first", b"second"]


def test_a_connection_error_frame_raises_its_errno(tmp_path: Path) -> None:
    def script(s: socket.socket, dec: P.FrameDecoder) -> None:
        _next_request(s, dec)
        s.sendall(P.encode_error(P.EVENT_REQ_ID, errno.EMFILE, "too many connections"))
    t = _fake_daemon(tmp_path / "s", script)
    conn = C.Connection(tmp_path / "s")
    with pytest.raises(OSError) as info:
        conn.call(P.OPS_BY_NAME["msgget"], (0, 0))
    assert info.value.errno == errno.EMFILE and "too many connections" in str(info.value)
    conn.close()
    t.join(10)


def test_an_interrupt_from_another_thread_never_splits_a_large_frame(ns: str) -> None:
    """A thread hammers interrupt_pending() while another sends 12 MiB on the
    same connection: every frame arrives whole, the message intact."""
    uipc.sysctl.set("kernel.msgmax", 16 << 20)
    uipc.sysctl.set("kernel.msgmnb", 64 << 20)
    q = uipc.msgget(uipc.IPC_PRIVATE, 0o600)
    conn = C.get_connection()
    text = bytes(range(256)) * (12 << 12)
    stop = threading.Event()

    def hammer() -> None:
        while not stop.is_set():
            conn.interrupt_pending()

    t = threading.Thread(target=hammer)
    t.start()
    try:
        for _ in range(3):
            uipc.msgsnd(q, 1, text)
    finally:
        stop.set()
        t.join()
    for _ in range(3):
        assert uipc.msgrcv(q, 16 << 20, 0) == (1, text)


def test_a_hello_of_another_protocol_version_is_refused(daemon) -> None:  # type: ignore[no-untyped-def]
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(str(daemon.socket))
    s.sendall(P.encode_request(P.OPS_BY_NAME["hello"], 1, (P.VERSION + 1, 0, 0), b""))
    dec = P.FrameDecoder(reply=True)
    while (f := dec.next_frame()) is P.NEED_DATA:
        dec.feed(s.recv(4096))
    s.close()
    assert f[1] == errno.EPROTO and b"protocol" in f[2]  # type: ignore[index]
