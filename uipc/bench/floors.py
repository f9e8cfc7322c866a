"""The floor itself, measured several ways: what does a Python server loop cost?

Each variant is an echo server in its own process answering a client with
uipc's frame sizes (a semctl GETVAL request and its reply).  The client is
the same for all: ``sendall`` then ``recv_into`` until the reply is whole.
The figures compare the I/O layers the daemon could use: blocking
``recv`` vs ``recv_into``, SOCK_STREAM vs SOCK_SEQPACKET, and the event
loops a multi-client daemon could use — ``select.epoll`` directly,
``selectors``, asyncio and uvloop.

One more floor is not a socket at all: a request/reply slot in shared memory
with futex wake-ups, the transport a shared-memory fast path would use.  It
says what such a design could gain before any semantics are added.
"""
from __future__ import annotations

import ctypes
import mmap
import os
import platform
import selectors
import select
import socket
import struct
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
            def __init__(self, done: asyncio.Future[None]) -> None:
                self.done = done

            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                self.t = transport
                self.got = 0

            def data_received(self, data: bytes) -> None:
                self.got += len(data)
                while self.got >= req_size:
                    self.got -= req_size
                    self.t.write(rep)  # type: ignore[attr-defined]

            def connection_lost(self, exc: Exception | None) -> None:
                self.done.set_result(None)

        async def main() -> None:
            done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            await asyncio.get_running_loop().connect_accepted_socket(lambda: Echo(done), sock)
            await done

        if use_uvloop:
            import uvloop
            uvloop.run(main())
        else:
            asyncio.run(main())
    return serve



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

    return _in_runner(env, body, ipc="none")



# --- shared memory + futex -------------------------------------------------------
#: futex(2)'s syscall number where we know it
_SYS_FUTEX = {"x86_64": 202, "aarch64": 98}.get(platform.machine())
_FUTEX_WAIT, _FUTEX_WAKE = 0, 1
_WORD = struct.Struct("<I")
_STOP = 0xFFFFFFFF
#: layout of the shared page: two sequence words, then the request and reply slots
_REQ_SEQ, _REP_SEQ, _REQ_AT, _REP_AT = 0, 64, 128, 2048

FUTEX_FLOOR = "shared memory + futex wake-ups (a shm fast path's floor)"
SPIN_FLOOR = "shared memory, spinning ~50 us before the futex when 2+ CPUs are allowed"
#: reads of the shared word before sleeping (~0.1 us each)
_SPINS = 500


def _futex() -> Callable[[int, int, int], int]:
    libc = ctypes.CDLL(None, use_errno=True)
    syscall = libc.syscall
    syscall.restype = ctypes.c_long
    syscall.argtypes = [ctypes.c_long, ctypes.c_void_p, ctypes.c_int, ctypes.c_int,
                        ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int]
    return lambda addr, op, val: syscall(_SYS_FUTEX, addr, op, val, None, None, 0)


def _wait_for(futex: Callable[[int, int, int], int], mm: mmap.mmap, offset: int, addr: int,
              want: int, spins: int) -> int:
    """Wait until the word at ``offset`` is ``want`` (or _STOP); returns it.
    Reads it ``spins`` times first (useful only if the writer runs on another
    CPU meanwhile), then sleeps on the futex."""
    for _ in range(spins):
        (v,) = _WORD.unpack_from(mm, offset)
        if v == want or v == _STOP:
            return v
    while True:
        (v,) = _WORD.unpack_from(mm, offset)
        if v == want or v == _STOP:
            return v
        futex(addr, _FUTEX_WAIT, v)  # returns at once if the word moved on


def futex_floor(env: Env, iters: int, spin: bool = False) -> Latency | None:
    """Round trip through a shared page: write the request, bump a word,
    FUTEX_WAKE; the server FUTEX_WAITs on it, answers the same way.  With
    ``spin``, each side first polls the word (adaptive spinning, as futex
    mutexes do), but only when it may run on more than one CPU: a spinner
    alone on its CPU would only keep its partner from running."""
    if _SYS_FUTEX is None:
        return None

    def body() -> Latency:
        req_size, rep_size = _frame_sizes()
        mm = mmap.mmap(-1, mmap.PAGESIZE)  # MAP_SHARED: the fork child sees the same page
        base = ctypes.addressof(ctypes.c_char.from_buffer(mm))
        req_word, rep_word = base + _REQ_SEQ, base + _REP_SEQ
        req, rep = b"q" * req_size, b"r" * rep_size

        def spins() -> int:
            return _SPINS if spin and len(os.sched_getaffinity(0)) > 1 else 0

        def server() -> None:
            env.pin_self()
            futex, n = _futex(), spins()
            seq = 1
            while _wait_for(futex, mm, _REQ_SEQ, req_word, seq, n) != _STOP:
                bytes(mm[_REQ_AT:_REQ_AT + req_size])  # take the request
                mm[_REP_AT:_REP_AT + rep_size] = rep
                _WORD.pack_into(mm, _REP_SEQ, seq)
                futex(rep_word, _FUTEX_WAKE, 1)
                seq += 1

        spid = _fork(server)
        futex, n = _futex(), spins()
        state = {"seq": 0}

        def ping() -> None:
            seq = state["seq"] = state["seq"] + 1
            mm[_REQ_AT:_REQ_AT + req_size] = req
            _WORD.pack_into(mm, _REQ_SEQ, seq)
            futex(req_word, _FUTEX_WAKE, 1)
            _wait_for(futex, mm, _REP_SEQ, rep_word, seq, n)
            bytes(mm[_REP_AT:_REP_AT + rep_size])  # take the reply

        lat = _pingpong(ping, lambda n: None, iters, env)
        _WORD.pack_into(mm, _REQ_SEQ, _STOP)
        futex(req_word, _FUTEX_WAKE, 1)
        os.waitpid(spid, 0)
        return lat

    return _in_runner(env, body, ipc="none")
