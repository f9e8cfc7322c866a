"""The floor itself, measured several ways: what does a Python server loop cost?

Each variant is an echo server in its own process answering a client with
uipc's frame sizes (a semctl GETVAL request and its reply).  The client is
the same for all: ``sendall`` then ``recv_into`` until the reply is whole.
The figures decide the daemon's I/O layer (issue #9 asks for the
comparison): blocking ``recv`` vs ``recv_into``, SOCK_STREAM vs
SOCK_SEQPACKET, and the event loops a multi-client daemon could use —
``select.epoll`` directly, ``selectors``, asyncio and uvloop.
"""
from __future__ import annotations

import os
import selectors
import select
import socket
from typing import Callable

from uipc.bench.cases import Env, Latency, _fork, _frame_sizes, _in_runner, _pingpong

Server = Callable[[socket.socket, int, bytes], None]


def _blocking_recv(sock: socket.socket, req_size: int, rep: bytes) -> None:
    while True:
        got = 0
        while got < req_size:
            data = sock.recv(65536)
            if not data:
                return
            got += len(data)
        sock.sendall(rep)


def _blocking_recv_into(sock: socket.socket, req_size: int, rep: bytes) -> None:
    buf = bytearray(65536)
    while True:
        got = 0
        while got < req_size:
            n = sock.recv_into(buf)
            if not n:
                return
            got += n
        sock.sendall(rep)


def _epoll(sock: socket.socket, req_size: int, rep: bytes) -> None:
    """What uipc's daemon does: epoll, non-blocking recv_into, send."""
    buf = bytearray(256 * 1024)
    sock.setblocking(False)
    ep = select.epoll()
    ep.register(sock.fileno(), select.EPOLLIN)
    got = 0
    while True:
        for _fd, _ev in ep.poll():
            try:
                n = sock.recv_into(buf)
            except BlockingIOError:
                continue
            if not n:
                return
            got += n
            while got >= req_size:
                got -= req_size
                sock.send(rep)


def _selectors(sock: socket.socket, req_size: int, rep: bytes) -> None:
    sel = selectors.DefaultSelector()
    sock.setblocking(False)
    sel.register(sock, selectors.EVENT_READ)
    got = 0
    while True:
        for _key, _ev in sel.select():
            try:
                data = sock.recv(65536)
            except BlockingIOError:
                continue
            if not data:
                return
            got += len(data)
            while got >= req_size:
                got -= req_size
                sock.send(rep)


def _asyncio_server(use_uvloop: bool) -> Server:
    def serve(sock: socket.socket, req_size: int, rep: bytes) -> None:
        import asyncio

        class Echo(asyncio.Protocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                self.t = transport
                self.got = 0

            def data_received(self, data: bytes) -> None:
                self.got += len(data)
                while self.got >= req_size:
                    self.got -= req_size
                    self.t.write(rep)  # type: ignore[attr-defined]

            def connection_lost(self, exc: Exception | None) -> None:
                done.set_result(None)

        async def main() -> None:
            global done
            loop = asyncio.get_running_loop()
            done = loop.create_future()
            await loop.connect_accepted_socket(Echo, sock)
            await done

        if use_uvloop:
            import uvloop
            uvloop.run(main())
        else:
            asyncio.run(main())
    return serve


done: object = None


def have_uvloop() -> bool:
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return False
    return True


#: variant name -> (socket type, server loop)
VARIANTS: dict[str, tuple[int, Server]] = {
    "blocking recv (the echo floor)": (socket.SOCK_STREAM, _blocking_recv),
    "blocking recv_into": (socket.SOCK_STREAM, _blocking_recv_into),
    "SOCK_SEQPACKET, blocking recv_into": (socket.SOCK_SEQPACKET, _blocking_recv_into),
    "epoll + recv_into (uipc's daemon loop)": (socket.SOCK_STREAM, _epoll),
    "selectors + recv": (socket.SOCK_STREAM, _selectors),
    "asyncio Protocol": (socket.SOCK_STREAM, _asyncio_server(False)),
    "uvloop Protocol": (socket.SOCK_STREAM, _asyncio_server(True)),
}


def floor_variant(env: Env, name: str, iters: int) -> Latency | None:
    """Round trip of one request/reply through the named server loop."""
    kind, server = VARIANTS[name]
    if "uvloop" in name and not have_uvloop():
        return None

    def body() -> Latency:
        req_size, rep_size = _frame_sizes()
        a, b = socket.socketpair(socket.AF_UNIX, kind)
        req, rep = b"q" * req_size, b"r" * rep_size
        spid = _fork(lambda: (env.pin_self(), a.close(), server(b, req_size, rep)))
        b.close()
        buf = bytearray(65536)

        def ping() -> None:
            a.sendall(req)
            got = 0
            while got < rep_size:
                got += a.recv_into(buf)

        def pong(n: int) -> None:  # the server is the partner; nothing to do here
            return None

        lat = _pingpong(ping, pong, iters, env)
        a.close()
        try:
            os.waitpid(spid, 0)
        except ChildProcessError:
            pass
        return lat

    return _in_runner(env, body, unshare=True)

