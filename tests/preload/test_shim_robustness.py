"""Malformed replies never crash a C program under the shim.

A fake daemon (a thread of this test, on a socket of its own) answers the
shim's hello correctly and then each request with one kind of garbage; the
C program's calls must fail with an errno and the program must run to its
end.
"""
from __future__ import annotations

import os
import socket
import struct
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import Callable

import pytest

HELLO_RESULT = struct.Struct("<IqqQI")
REPLY = struct.Struct("<IIi")
REQ = struct.Struct("<IIH")

PROGRAM = r"""
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/sem.h>
struct m { long mtype; char text[64]; };
int main(void)
{
    struct m b;
    struct msqid_ds ds;
    for (int i = 0; i < 3; i++) {
        errno = 0;
        long r1 = msgget(IPC_PRIVATE, 0600);
        int e1 = errno;
        errno = 0;
        long r2 = msgrcv(0, &b, sizeof b.text, 0, 0);
        int e2 = errno;
        errno = 0;
        long r3 = msgctl(0, IPC_STAT, &ds);
        int e3 = errno;
        printf("%ld %d %ld %d %ld %d\n", r1, e1, r2, e2, r3, e3);
    }
    puts("done");
    return 0;
}
"""


def _read_frame(conn: socket.socket) -> tuple[int, int, bytes] | None:
    head = b""
    while len(head) < 4:
        chunk = conn.recv(4 - len(head))
        if not chunk:
            return None
        head += chunk
    (length,) = struct.unpack("<I", head)
    body = b""
    while len(body) < length:
        chunk = conn.recv(length - len(body))
        if not chunk:
            return None
        body += chunk
    req_id, op = struct.unpack_from("<IH", body)
    return req_id, op, body[6:]


def _serve(sock: socket.socket, answer: Callable[[int, int], bytes | None], stop: threading.Event) -> None:
    sock.settimeout(0.2)
    while not stop.is_set():
        try:
            conn, _ = sock.accept()
        except socket.timeout:
            continue
        threading.Thread(target=_session, args=(conn, answer), daemon=True).start()


def _session(conn: socket.socket, answer: Callable[[int, int], bytes | None]) -> None:
    with conn:
        while True:
            frame = _read_frame(conn)
            if frame is None:
                return
            req_id, op, _ = frame
            if op == 0:  # hello: a correct answer
                payload = HELLO_RESULT.pack(2, os.getpid(), 1, 7, 16 * 1024 * 1024 + 64)
                conn.sendall(REPLY.pack(8 + len(payload), req_id, 0) + payload)
                continue
            data = answer(req_id, op)
            if data is None:
                return  # hang up
            try:
                conn.sendall(data)
            except OSError:
                return


GARBAGE: dict[str, Callable[[int, int], bytes | None]] = {
    "hang up": lambda rid, op: None,
    "empty payload": lambda rid, op: REPLY.pack(8, rid, 0),
    "length too large": lambda rid, op: REPLY.pack(0xFFFFFFF0, rid, 0),
    "length too small": lambda rid, op: REPLY.pack(3, rid, 0),
    "truncated ctl": lambda rid, op: REPLY.pack(8 + 5, rid, 0) + b"\x01\x00\x00\x00\x00",
    "wrong struct tag": lambda rid, op: REPLY.pack(8 + 9, rid, 0) + b"\x05" + b"\x00" * 8,
    "negative errno": lambda rid, op: REPLY.pack(8, rid, -5),
    "huge errno": lambda rid, op: REPLY.pack(8 + 3, rid, 1 << 30) + b"bad",
    "unknown event then garbage": lambda rid, op: (REPLY.pack(8 + 2, 0, 0) + b"\x63\x00"
                                                   + REPLY.pack(8 + 1, rid, 0) + b"\x00"),
    "other request id first": lambda rid, op: (REPLY.pack(8 + 8, rid + 1000, 0) + b"\x00" * 8
                                               + REPLY.pack(8 + 4, rid, 22) + b"why!"),
}


@pytest.mark.parametrize("kind", list(GARBAGE))
def test_garbage_replies_do_not_crash(shim_lib: Path, compile_c, tmp_path: Path, kind: str) -> None:
    src = tmp_path / "calls.c"
    src.write_text(PROGRAM)
    exe = compile_c(src)
    d = Path(tempfile.mkdtemp(prefix="uipc-fake-"))
    path = d / "uipc.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(path))
    sock.listen(16)
    stop = threading.Event()
    server = threading.Thread(target=_serve, args=(sock, GARBAGE[kind], stop), daemon=True)
    server.start()
    try:
        env = dict(os.environ, LD_PRELOAD=str(shim_lib), UIPC_SOCKET=str(path))
        p = subprocess.run([str(exe)], env=env, capture_output=True, text=True, timeout=30)
    finally:
        stop.set()
        server.join()
        sock.close()
        path.unlink()
        d.rmdir()
    assert p.returncode == 0, (kind, p.returncode, p.stdout, p.stderr)
    lines = p.stdout.splitlines()
    assert lines[-1] == "done" and len(lines) == 4, p.stdout
    for line in lines[:3]:
        r1, e1, r2, e2, r3, e3 = map(int, line.split())
        # every call either failed with an errno or (other request id, empty
        # payload...) returned a value the program could use; none crashed
        for r, e in ((r1, e1), (r2, e2), (r3, e3)):
            assert r != -1 or 0 < e < 4096, (kind, line)
