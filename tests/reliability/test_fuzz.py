"""Hostile frames: random and mutated, split anyhow.  The daemon answers or
disconnects, stays up, and nobody else's state changes."""
from __future__ import annotations

import os
import random
import socket
import struct

from hypothesis import HealthCheck, given, settings, strategies as st

import uipc
from tests.conftest import wait_until
from tests.helpers import Child
from uipc import protocol as P

FRAMES = int(os.environ.get("UIPC_FUZZ_FRAMES", "1500"))


def valid_frames(ns: str) -> list[bytes]:
    """Real requests of every op, recorded by encoding them."""
    op = P.OPS_BY_NAME
    ds = P.pack_struct(uipc.msgctl(uipc.msgget(uipc.IPC_PRIVATE, 0o600), uipc.IPC_STAT))
    return [
        P.encode_request(op["hello"], 1, (P.VERSION, 0, 0), ns.encode()),
        P.encode_request(op["msgget"], 2, (0, 0o1600)),
        P.encode_request(op["msgsnd"], 3, (0, 1, 0o4000), b"fuzz"),
        P.encode_request(op["msgrcv"], 4, (0, 100, 0, 0o4000)),
        P.encode_request(op["msgctl"], 5, (0, uipc.IPC_SET), ds),
        P.encode_request(op["semget"], 6, (0, 2, 0o1600)),
        P.encode_request(op["semtimedop"], 7, (0, 0), P.pack_sembufs([(0, 1, 0o4000)])),
        P.encode_request(op["semctl"], 8, (0, 0, uipc.SETALL, 0), P.pack_semvals([1, 2])),
        P.encode_request(op["shmget"], 9, (0, 4096, 0o1600)),
        P.encode_request(op["shmat"], 10, (0, 0, 0)),
        P.encode_request(op["shmdt"], 11, (1, 0)),
        P.encode_request(op["shmctl"], 12, (0, uipc.IPC_STAT)),
        P.encode_request(op["sysctl"], 13, (1,), b"kernel.msgmax=100"),
        P.encode_request(op["interrupt"], 14, (4,)),
        P.encode_request(op["fork"], 15, (1,), b"\x01" * 8),
        P.encode_request(op["introspect"], 16, (0, 1, 0, 0)),
        P.encode_request(op["mq_open"], 17, (0o102, 0o600, 1, 4, 64, 1 << 20), b"fuzzq"),
        P.encode_request(op["mq_timedsend"], 18, (1, 3, 1, 0, 5), b"m"),
        P.encode_request(op["mq_timedreceive"], 19, (1, 64, 0, 0, 0)),
        P.encode_request(op["mq_notify"], 20, (1, 1, 0, 10, 7, 0)),
        P.encode_request(op["mq_getsetattr"], 21, (1, 1, 0o4000)),
        P.encode_request(op["mq_unlink"], 22, (), b"fuzzq"),
        P.encode_request(op["sem_open"], 23, (0o100, 0o600, 1), b"/fuzzs"),
        P.encode_request(op["sem_timedwait"], 24, (1, 2, 0, 0)),
        P.encode_request(op["sem_post"], 25, (1,)),
        P.encode_request(op["sem_unlink"], 26, (), b"/fuzzs"),
        P.encode_request(op["shm_open"], 27, (0o102, 0o600), b"/fuzzm"),
        P.encode_request(op["shm_unlink"], 28, (), b"/fuzzm"),
        P.encode_request(op["close"], 29, (1, 0)),
        P.encode_request(op["trace"], 30, (0,), b"msgsnd"),
        P.encode_request(op["eventfd2"], 31, (3, 0o4000)),
        P.encode_request(op["read"], 32, (1, 8)),
        P.encode_request(op["write"], 33, (1,), b"\x01" + b"\0" * 7),
        P.encode_request(op["timerfd_create"], 34, (1, 0o4000)),
        P.encode_request(op["timerfd_settime"], 35, (1, 0, 0, 0, 1, 0)),
        P.encode_request(op["poll"], 36, (1000,), struct.pack("<qq", 1, 1)),
    ]


def mutate(rng: random.Random, frame: bytes) -> bytes:
    b = bytearray(frame)
    for _ in range(rng.randint(1, 4)):
        kind = rng.randrange(6)
        if kind == 0 and b:
            b[rng.randrange(len(b))] = rng.randrange(256)
        elif kind == 1:
            b = b[: rng.randrange(len(b) + 1)]
        elif kind == 2:
            b += bytes(rng.randrange(256) for _ in range(rng.randrange(40)))
        elif kind == 3 and len(b) >= 4:
            struct.pack_into("<I", b, 0, rng.choice([0, 1, 5, 0xFFFFFFF0, 2**31, len(b) + 7]))
        elif kind == 4 and len(b) >= 10:
            struct.pack_into("<H", b, 8, rng.randrange(65536))
        elif kind == 5 and len(b) >= 18:
            struct.pack_into("<q", b, 10, rng.choice([-1, 2**63 - 1, -(2**63), 2**31]))
    return bytes(b)


def blast(path: str, frames: list[bytes], rng: random.Random) -> None:
    """Send frames on one connection, in random splits, reading what comes back."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    s.settimeout(0.05)
    data = b"".join(frames)
    pos = 0
    try:
        while pos < len(data):
            n = rng.choice([1, 2, 7, 64, 4096])
            s.sendall(data[pos:pos + n])
            pos += n
        try:
            while s.recv(65536):
                pass
        except (socket.timeout, OSError):
            pass
    except OSError:
        pass  # disconnected by the daemon: allowed
    finally:
        s.close()


def victim_state(q: int, s: int) -> tuple:
    return (uipc.msgctl(q, uipc.IPC_STAT).msg_qnum, uipc.semctl(s, 0, uipc.GETALL),
            uipc.msgrcv(q, 100, 0, uipc.IPC_NOWAIT | uipc.MSG_COPY))


def test_mutated_and_random_frames(ns: str, daemon) -> None:
    q = uipc.msgget(0x7777, uipc.IPC_CREAT | 0o600)
    uipc.msgsnd(q, 5, b"precious")
    s = uipc.semget(0x7778, 2, uipc.IPC_CREAT | 0o600)
    uipc.semctl(s, 0, uipc.SETALL, [3, 4])
    before = victim_state(q, s)
    fds_before = len(os.listdir(f"/proc/{daemon.pid}/fd"))

    def attacker() -> int:
        # another client, in its own namespace: what it does must not reach ours
        own = uipc.unshare_namespace()
        seeds = valid_frames(own)
        rng = random.Random(12345)
        sent = 0
        while sent < FRAMES:
            batch = [mutate(rng, rng.choice(seeds)) if rng.random() < 0.8 else
                     bytes(rng.randrange(256) for _ in range(rng.randrange(1, 60))) for _ in range(20)]
            if rng.random() < 0.5:
                batch.insert(0, seeds[0])  # often get past hello first
            blast(str(daemon.socket), batch, rng)
            sent += len(batch)
        return sent

    assert Child(attacker).result(timeout=300) >= FRAMES
    assert daemon.proc.poll() is None, "the daemon died"
    assert victim_state(q, s) == before
    assert uipc.sysctl.get("kernel.msgmax") == "8192"  # fuzzers live in other namespaces
    assert len(os.listdir(f"/proc/{daemon.pid}/fd")) <= fds_before + 2


@settings(max_examples=int(os.environ.get("UIPC_FUZZ_EXAMPLES", "150")), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(code=st.integers(0, max(P.OPS_BY_CODE) + 2), flags=st.sampled_from([0, P.OP_LINK, P.OP_SKIP_SUCCESS, P.OP_FLAGS]),
       fixed=st.binary(max_size=40), tail=st.binary(max_size=40), repeat=st.integers(1, 3))
def test_any_op_with_any_arguments(code: int, flags: int, fixed: bytes, tail: bytes, repeat: int,
                                   ns: str, daemon) -> None:
    """A hello, then a batch of requests of any op and batch flags with
    arbitrary argument bytes: answers, a blocked request (cancelled when we
    hang up, with what it held back) or a disconnect — and the daemon lives,
    with no sleeper left behind."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(str(daemon.socket))
    s.settimeout(0.03)
    try:
        s.sendall(P.encode_request(P.OPS_BY_NAME["hello"], 1, (P.VERSION, 0, 0), ns.encode()))
        body = fixed + tail
        s.sendall(b"".join(struct.pack("<IIH", 6 + len(body), 2 + i, code | flags) + body
                           for i in range(repeat)))
        try:
            while s.recv(65536):
                pass
        except (socket.timeout, OSError):
            pass
    finally:
        s.close()
    assert daemon.proc.poll() is None

    def sleepers() -> list:
        state = uipc.introspect.namespace()
        return ([w for m in state["msg"] + state["mqueue"] for w in m["receivers"] + m["senders"]]
                + [w for x in state["sem"] + state["posix_sem"] for w in x["waiters"]])

    # nobody in this namespace sleeps but what the hung-up connection left: it must go
    wait_until(lambda: sleepers() == [], what="no sleeper left by a closed connection")
