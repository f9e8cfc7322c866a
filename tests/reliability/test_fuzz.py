"""Hostile frames: random and mutated, split anyhow.  The daemon answers or
disconnects, stays up, and nobody else's state changes."""
from __future__ import annotations

import os
import random
import resource
import select
import signal
import socket
import struct
import time
import traceback

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import uipc
from tests.conftest import wait_until
from tests.helpers import Child, as_nobody, errno_of
from uipc import protocol as P

FRAMES = int(os.environ.get("UIPC_FUZZ_FRAMES", "1500"))


def valid_frames(ns: str, files: dict[str, int] | None = None) -> list[bytes]:
    """Real requests of every op, recorded by encoding them (kill and
    rt_sigqueueinfo are in signal_frames: see there); ``files``, from
    make_files, names real descriptors of the sending process."""
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
    ] + descriptor_frames(files or {})


#: asm-generic's O_NONBLOCK and O_RDWR, as the wire carries them
WIRE_O_NONBLOCK, WIRE_O_RDWR = 0o4000, 0o2
RT = 32  # the kernel's SIGRTMIN, in uipc's numbering
F_GETFL, F_SETFL, F_SETPIPE_SZ = 3, 4, 1031


def descriptor_frames(f: dict[str, int]) -> list[bytes]:
    """Valid requests of the descriptor and signal ops (pipe2 .. tee) but
    kill and rt_sigqueueinfo; ``f`` names the sender's own files by inode
    (make_files; missing ones are inode 1, which names nothing)."""
    op = P.OPS_BY_NAME
    r, w, r2, w2 = (f.get(k, 1) for k in ("r", "w", "r2", "w2"))
    e, ep, sfd = f.get("e", 1), f.get("ep", 1), f.get("sfd", 1)
    rt = 1 << (RT - 1)
    return [
        P.encode_request(op["pipe2"], 44, (WIRE_O_NONBLOCK,)),
        P.encode_request(op["mknod"], 45, (0o010600,), b"/fuzzf"),
        P.encode_request(op["open"], 46, (WIRE_O_RDWR | WIRE_O_NONBLOCK,), b"/fuzzf"),
        P.encode_request(op["dup"], 47, (r, 1)),
        P.encode_request(op["fcntl"], 48, (w, F_SETPIPE_SZ, 8192)),
        P.encode_request(op["fcntl"], 48, (r, F_SETFL, WIRE_O_NONBLOCK)),
        P.encode_request(op["fcntl"], 48, (r2, F_GETFL, 0)),
        P.encode_request(op["unlink"], 49, (), b"/fuzzf"),
        P.encode_request(op["write"], 50, (w,), b"pipe data"),
        P.encode_request(op["splice"], 50, (r, 1, 0, w2, 1, 0, 4096, 2)),
        P.encode_request(op["read"], 50, (r2, 64)),
        P.encode_request(op["rt_sigprocmask"], 53, (0, 1, rt)),
        P.encode_request(op["rt_sigpending"], 54, ()),
        P.encode_request(op["signalfd4"], 55, (-1, rt, WIRE_O_NONBLOCK)),
        P.encode_request(op["signalfd4"], 55, (sfd, rt | 1 << 9, 0)),
        P.encode_request(op["read"], 55, (sfd, 128)),
        P.encode_request(op["epoll_create1"], 56, (0,)),
        P.encode_request(op["epoll_ctl"], 57, (ep, 1, r, f.get("r_fd", 3), 1, 7)),
        P.encode_request(op["epoll_ctl"], 57, (ep, 3, e, f.get("e_fd", 4), 4, 8)),
        P.encode_request(op["epoll_wait"], 58, (ep, 16, 0)),
        P.encode_request(op["write"], 58, (e,), struct.pack("<Q", 1)),
        P.encode_request(op["proc_read"], 59, (0, 0), b"/proc/sysvipc/msg"),
        P.encode_request(op["proc_read"], 59, (0, 0), b"/proc/sys/fs/mqueue/msg_max"),
        P.encode_request(op["tee"], 60, (r, w2, 4096, 2)),
    ]


def signal_frames(pid: int) -> list[bytes]:
    """kill and sigqueue of RT (blocked: it queues) and of 0 to ``pid``.
    Only an unprivileged fuzzer sends these: mutated, the pid may become any
    process's, and a root one's could signal the test runner itself."""
    op = P.OPS_BY_NAME
    return [P.encode_request(op["kill"], 51, (pid, RT, 1000)),
            P.encode_request(op["kill"], 51, (pid, 0, 1000)),
            P.encode_request(op["rt_sigqueueinfo"], 52, (pid, RT, -5, 1000)),
            P.encode_request(op["rt_sigqueueinfo"], 52, (pid, RT, 2**63 - 1, (1 << 64) - 1))]


def make_files() -> dict[str, int]:
    """This process's own descriptors for the fuzzer's valid frames: two
    pipes, an eventfd, an epoll watching both, a signalfd (RT blocked); by
    inode, with the descriptor numbers epoll_ctl pairs them with."""
    r, w = uipc.pipe2(os.O_NONBLOCK)
    r2, w2 = uipc.pipe2(os.O_NONBLOCK)
    e = uipc.eventfd(0, uipc.EFD_NONBLOCK)
    ep = uipc.epoll_create1()
    uipc.epoll_ctl(ep, uipc.EPOLL_CTL_ADD, e, uipc.EPOLLIN)
    uipc.sigprocmask(uipc.SIG_BLOCK, {RT})
    sfd = uipc.signalfd(-1, {RT}, uipc.SFD_NONBLOCK)
    names = {"r": r, "w": w, "r2": r2, "w2": w2, "e": e, "ep": ep, "sfd": sfd}
    return {**{k: os.fstat(fd).st_ino for k, fd in names.items()}, "r_fd": r, "e_fd": e}


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


#: values a hostile argument takes: the edges of every wire integer type
EDGES = (0, 1, -1, 2**31 - 1, -(2**31), 2**32 - 1, 2**63 - 1, -(2**63), 2**64 - 1)


def mutate_args(rng: random.Random, frame: bytes) -> bytes:
    """The frame with its op kept and its length right, but its arguments
    and tail hostile: bytes changed, 4- or 8-byte fields set to the edges,
    the body cut or grown.  Unlike :func:`mutate`, whose frames mostly end
    the connection at the framing, every one of these reaches its op's
    decoder and, often, the op itself."""
    body = bytearray(frame[10:])
    for _ in range(rng.randint(1, 3)):
        kind = rng.randrange(4)
        if kind == 0 and body:
            body[rng.randrange(len(body))] = rng.randrange(256)
        elif kind == 1 and len(body) >= 4:
            size = 8 if len(body) >= 8 and rng.random() < 0.5 else 4
            at = rng.randrange(len(body) - size + 1)
            body[at:at + size] = (rng.choice(EDGES) % (1 << 8 * size)).to_bytes(size, "little")
        elif kind == 2:
            del body[rng.randrange(len(body) + 1):]
        else:
            body += bytes(rng.randrange(256) for _ in range(rng.randrange(1, 24)))
    return struct.pack("<I", 6 + len(body)) + frame[4:10] + bytes(body)


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
        seeds = valid_frames(own, make_files())
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


#: uid 65534's fuzzers, one after another (each a process of its own)
BLASTERS = 5


def ignore_catchable_signals() -> None:
    """A fuzzer's kill frames may signal itself: only SIGKILL and SIGSTOP
    can then end or stop it (its parent copes with both)."""
    for sig in range(1, 65):
        if sig in (signal.SIGKILL, signal.SIGSTOP):
            continue
        try:
            signal.signal(sig, signal.SIG_IGN)
        except (OSError, ValueError):
            pass  # glibc's own (32, 33)


def unprivileged_blaster(ns: str, frames: int, seed: int) -> None:
    """One fuzzer process, uid 65534: real files of its own, then mutated
    and random frames of every op, the kill and sigqueue ones aimed at
    itself, on raw connections."""
    os.setgroups([])
    os.setgid(65534)
    os.setuid(65534)
    ignore_catchable_signals()
    seeds = valid_frames(ns, make_files()) + signal_frames(os.getpid())
    rng = random.Random(seed)

    def one() -> bytes:
        # mostly hostile arguments; some valid frames move the files' state along
        return (mutate_args(rng, rng.choice(seeds[1:])) if rng.random() < 0.85
                else rng.choice(seeds[1:]))
    sent = 0
    while sent < frames:
        # past hello, to reach the ops; a broken frame (the end of a
        # connection, usually) only last
        batch = [seeds[0]] + [one() for _ in range(20)]
        if rng.random() < 0.5:
            batch.append(mutate(rng, rng.choice(seeds)) if rng.random() < 0.7 else
                         bytes(rng.randrange(256) for _ in range(rng.randrange(1, 60))))
        blast(str(os.environ["UIPC_SOCKET"]), batch, rng)
        sent += len(batch)


def run_blaster(ns: str, frames: int, seed: int) -> str:
    """unprivileged_blaster in a forked process; how it ended: "exited", or
    killed by the signal its own frames sent (a stopped one is killed)."""
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            unprivileged_blaster(ns, frames, seed)
            code = 0
        except BaseException:  # noqa: BLE001 - its exit status tells the parent
            traceback.print_exc()
        finally:
            os._exit(code)
    status: list[int] = []

    def ended() -> bool:
        got, st = os.waitpid(pid, os.WNOHANG | os.WUNTRACED)
        if got and os.WIFSTOPPED(st):
            os.kill(pid, signal.SIGKILL)  # it stopped itself with SIGSTOP
            return False
        if got:
            status.append(st)
        return bool(got)
    wait_until(ended, timeout=120, what="a fuzzer's end")
    st = status[0]
    if os.WIFSIGNALED(st):
        return f"signal {os.WTERMSIG(st)}"
    assert os.WEXITSTATUS(st) == 0, "a fuzzer failed (its traceback is on stderr)"
    return "exited"


def own_state(f: dict[str, int]) -> tuple:
    """What the test's own descriptors hold (the fuzzers must not change it)."""
    return (uipc.epoll_wait(f["ep"], 8, 0), uipc.read(f["r"], 100), uipc.eventfd_read(f["e"]),
            uipc.fcntl(f["w"], uipc.F_GETPIPE_SZ), uipc.sysctl.get("fs.pipe-max-size"))


@pytest.mark.skipif(os.geteuid() != 0, reason="the fuzzers setuid to 65534")
def test_unprivileged_fuzzers_of_the_descriptor_and_signal_ops(ns: str, daemon) -> None:
    """uid 65534's fuzzers, each with real pipes, an eventfd, an epoll and
    a signalfd of its own named in their frames, and kill/sigqueue frames
    aimed at themselves: every op (pipe2 .. tee) mutated and random.  The
    daemon lives and keeps serving this client meanwhile (its round trips
    stay short), its descriptors do not grow, this namespace's pipe, epoll,
    eventfd, FIFO and sysctls are as they were, the fuzzers' processes are
    gone from the daemon, and their uid's queued-signal charge is back to
    nothing."""
    r, w = uipc.pipe2()
    uipc.write(w, b"precious")
    e = uipc.eventfd(5)
    ep = uipc.epoll_create1()
    uipc.epoll_ctl(ep, uipc.EPOLL_CTL_ADD, e, uipc.EPOLLIN)
    uipc.mkfifo("/keep", 0o600)
    mine = {"r": r, "w": w, "e": e, "ep": ep}
    fds_before = len(os.listdir(f"/proc/{daemon.pid}/fd"))
    processes_before = uipc.introspect.daemon()["processes"]

    def fuzz() -> list[str]:
        own = uipc.unshare_namespace()  # the fuzzers' namespace (root's: they may not set it)
        return [run_blaster(own, FRAMES // BLASTERS, 1000 + i) for i in range(BLASTERS)]

    fuzzer = Child(fuzz)
    slowest, probe = 0.0, uipc.eventfd(0)
    try:
        while not select.select([fuzzer._r], [], [], 0.01)[0]:
            start = time.monotonic()
            uipc.eventfd_write(probe, 1)
            uipc.eventfd_read(probe)
            slowest = max(slowest, time.monotonic() - start)
        ends = fuzzer.result(timeout=10)
    finally:
        uipc.close(probe)
    assert daemon.proc.poll() is None, "the daemon died"
    assert len(ends) == BLASTERS
    assert slowest < 2.0, f"a round trip took {slowest:.2f} s during the fuzzing"
    assert own_state(mine) == ([(e, uipc.EPOLLIN)], b"precious", 5, 65536, "1048576")
    fifo = uipc.open("/keep", os.O_RDWR)
    for fd in (fifo, r, w, e, ep):
        uipc.close(fd)
    uipc.unlink("/keep")
    wait_until(lambda: uipc.introspect.daemon()["processes"] <= processes_before,
               what="the fuzzers gone from the daemon")
    assert len(os.listdir(f"/proc/{daemon.pid}/fd")) <= fds_before + 2

    def queue_until_full() -> int:
        _, hard = resource.getrlimit(resource.RLIMIT_SIGPENDING)
        resource.setrlimit(resource.RLIMIT_SIGPENDING, (8, hard))
        uipc.sigprocmask(uipc.SIG_BLOCK, {RT})
        n = 0
        while not errno_of(lambda: uipc.sigqueue(os.getpid(), RT, n)) and n < 100:
            n += 1
        return n
    assert as_nobody(queue_until_full) == 8  # nothing the fuzzers queued is still charged


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
                + [w for x in state["sem"] + state["posix_sem"] for w in x["waiters"]]
                # a pipe read, an epoll_wait, a FIFO open... of the hung-up connection's task
                + [w for p in state["process_details"] for w in p.get("waits") or []])

    # nobody in this namespace sleeps but what the hung-up connection left: it must go
    wait_until(lambda: sleepers() == [], what="no sleeper left by a closed connection")
    # a raw rt_sigprocmask changed this process's own uipc mask (the
    # connection was this process's): put it back for the tests after this one
    uipc.sigprocmask(uipc.SIG_SETMASK, ())
