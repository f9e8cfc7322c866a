"""The measurements.  Each contender runs in fresh processes it forks itself.

Latency rows are two-process ping-pongs of 64-byte messages (the eventfd
rows: 8-byte counters; median and p99 of the round trip, timed in the
initiating process).  Throughput rows send N messages one way (the pipe
rows: N writes, a byte stream) and time them at the receiver.  ``pin`` puts every process
involved (the daemon too) on CPU 0: then a figure is CPU cost per round
trip, stable to a few percent; unpinned figures include the cross-CPU
wake-up (~35 us on these machines) and swing between runs.
"""
from __future__ import annotations

import ctypes
import os
import resource
import selectors
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from uipc.spin import AFFINITY_RECHECK_S

MSG = 64
ALL_CPUS = set(range(os.cpu_count() or 1))


@dataclass
class Env:
    """What every contender needs: the private daemon, the pinning, and where
    the kernel rows run (uipc.bench.libc: "private", "userns" or "shared")."""

    socket: Path
    daemon_pid: int
    pin: bool
    kernel_ns: str = "private"

    def pin_self(self) -> None:
        os.sched_setaffinity(0, {0} if self.pin else ALL_CPUS)


@dataclass
class Latency:
    median_us: float
    p99_us: float


def _summarise(samples: list[int]) -> Latency:
    samples.sort()
    return Latency(statistics.median(samples) / 1000, samples[int(len(samples) * 0.99) - 1] / 1000)


def _fork(fn: Callable[[], None]) -> int:
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            fn()
        except BaseException:  # noqa: BLE001
            import traceback
            traceback.print_exc()
            code = 1
        os._exit(code)
    return pid


def _in_runner(env: Env, body: Callable[[], Any], ipc: str = "uipc") -> Any:
    """Run body() in a fresh process (pinned as asked); return its result.

    ``ipc`` is what body uses: "uipc" (a fresh uipc namespace of the bench
    daemon), "kernel" (the kernel's SysV IPC, where env.kernel_ns says) or
    "none" (neither: pipes, sockets, shared memory of its own)."""
    import pickle
    r, w = os.pipe()

    def run() -> None:
        os.close(r)
        env.pin_self()
        if ipc == "kernel":
            from uipc.bench.libc import enter_kernel_ns
            enter_kernel_ns(env.kernel_ns)
        elif ipc == "uipc":
            import uipc
            uipc.configure(socket_path=env.socket, namespace="", create_namespace=False)
            uipc.unshare_namespace()
        out = body()
        with os.fdopen(w, "wb") as f:
            f.write(pickle.dumps(out))

    pid = _fork(run)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        data = f.read()
    _, status = os.waitpid(pid, 0)
    if status or not data:
        raise RuntimeError("benchmark runner failed")
    return pickle.loads(data)


def _pingpong(ping: Callable[[], None], pong_loop: Callable[[int], None], iters: int,
              env: Env) -> Latency:
    """Fork the partner (pong_loop), time `ping` round trips here."""
    warm = min(200, iters // 10)
    child = _fork(lambda: (env.pin_self(), pong_loop(iters + warm)))
    samples = []
    clock = time.perf_counter_ns
    for i in range(iters + warm):
        t0 = clock()
        ping()
        if i >= warm:
            samples.append(clock() - t0)
    os.waitpid(child, 0)
    return _summarise(samples)


# --- latency contenders -------------------------------------------------------------
def uipc_msg_pingpong(env: Env, iters: int, spin_us: int = 0) -> Latency:
    def body() -> Latency:
        import uipc
        if spin_us:
            uipc.configure(spin_us=spin_us)  # the ponger, forked below, inherits it
        q = uipc.msgget(uipc.IPC_PRIVATE, 0o600)
        payload = b"x" * MSG

        def ping() -> None:
            uipc.msgsnd(q, 1, payload)
            uipc.msgrcv(q, MSG, 2)

        def pong(n: int) -> None:
            for _ in range(n):
                uipc.msgrcv(q, MSG, 1)
                uipc.msgsnd(q, 2, payload)

        return _pingpong(ping, pong, iters, env)
    return _in_runner(env, body)


#: the C program of the shim rows (also examples/c/msg_pingpong.c)
C_PINGPONG = Path(__file__).resolve().parent / "c" / "msg_pingpong.c"
_c_exe: list[Path] = []


def _c_pingpong_exe() -> Path | None:
    """msg_pingpong.c compiled once per run (None without gcc)."""
    if not _c_exe:
        gcc = shutil.which("gcc")
        if not gcc:
            return None
        out = Path(tempfile.mkdtemp(prefix="uipc-bench-c-")) / "msg_pingpong"
        subprocess.run([gcc, "-O2", "-o", str(out), str(C_PINGPONG)], check=True)
        _c_exe.append(out)
    return _c_exe[0]


def c_msg_pingpong(env: Env, iters: int, shim: bool) -> Latency | None:
    """An unmodified C program's msgsnd/msgrcv ping-pong: under the LD_PRELOAD
    shim on uipc (``shim``), or on the kernel's queues."""
    exe = _c_pingpong_exe()
    if exe is None:
        return None
    if shim:
        from uipc.preload import library_path
        try:
            lib = str(library_path())
        except FileNotFoundError:
            return None

    def body() -> Latency:
        run_env = dict(os.environ)
        if shim:  # the program is placed in this runner's fresh uipc namespace
            run_env.update(LD_PRELOAD=lib, UIPC_SOCKET=str(env.socket))
        out = subprocess.run([str(exe), str(iters)], env=run_env, check=True,
                             capture_output=True, text=True).stdout.split()
        return Latency(int(out[0]) / 1000, int(out[1]) / 1000)
    return _in_runner(env, body, ipc="uipc" if shim else "kernel")


def uipc_msg_pingpong_batched(env: Env, iters: int) -> Latency:
    """As uipc_msg_pingpong, each side's msgsnd + msgrcv sent as one batch."""
    def body() -> Latency:
        import uipc
        q = uipc.msgget(uipc.IPC_PRIVATE, 0o600)
        payload = b"x" * MSG

        def ping() -> None:
            b = uipc.Batch()
            b.msgsnd(q, 1, payload)
            b.msgrcv(q, MSG, 2)
            b.submit()

        def pong(n: int) -> None:
            uipc.msgrcv(q, MSG, 1)
            for _ in range(n - 1):
                b = uipc.Batch()
                b.msgsnd(q, 2, payload)  # the answer to the last ping
                b.msgrcv(q, MSG, 1)      # and wait for the next
                b.submit()
            uipc.msgsnd(q, 2, payload)

        return _pingpong(ping, pong, iters, env)
    return _in_runner(env, body)


def kernel_msg_pingpong(env: Env, iters: int) -> Latency:
    def body() -> Latency:
        from uipc.bench.libc import IPC_PRIVATE, KernelMsg, check, libc, msg_rmid
        qid = check(libc.msgget(IPC_PRIVATE, 0o600))
        m = KernelMsg(qid, MSG)

        def ping() -> None:
            m.send(1, MSG)
            m.recv(MSG, 2)

        def pong(n: int) -> None:
            mm = KernelMsg(qid, MSG)
            for _ in range(n):
                mm.recv(MSG, 1)
                mm.send(2, MSG)

        try:
            return _pingpong(ping, pong, iters, env)
        finally:
            msg_rmid(qid)  # the namespace may be the machine's: leave nothing behind
    return _in_runner(env, body, ipc="kernel")


def uipc_sem_pingpong(env: Env, iters: int) -> Latency:
    def body() -> Latency:
        import uipc
        s = uipc.semget(uipc.IPC_PRIVATE, 2, 0o600)
        up0, down1 = [(0, 1, 0)], [(1, -1, 0)]
        down0, up1 = [(0, -1, 0)], [(1, 1, 0)]

        def ping() -> None:
            uipc.semop(s, up0)
            uipc.semop(s, down1)

        def pong(n: int) -> None:
            for _ in range(n):
                uipc.semop(s, down0)
                uipc.semop(s, up1)

        return _pingpong(ping, pong, iters, env)
    return _in_runner(env, body)


def kernel_sem_pingpong(env: Env, iters: int) -> Latency:
    def body() -> Latency:
        from uipc.bench.libc import IPC_PRIVATE, check, libc, sem_rmid, sembuf
        s = check(libc.semget(IPC_PRIVATE, 2, 0o600))
        up0, down1 = sembuf(0, 1), sembuf(1, -1)
        down0, up1 = sembuf(0, -1), sembuf(1, 1)
        ref = ctypes.byref

        def ping() -> None:
            check(libc.semop(s, ref(up0), 1))
            check(libc.semop(s, ref(down1), 1))

        def pong(n: int) -> None:
            for _ in range(n):
                check(libc.semop(s, ref(down0), 1))
                check(libc.semop(s, ref(up1), 1))

        try:
            return _pingpong(ping, pong, iters, env)
        finally:
            sem_rmid(s)
    return _in_runner(env, body, ipc="kernel")


# POSIX message queues and named semaphores: every one is made O_CREAT | O_EXCL
# under a name of the runner's own and unlinked as soon as it is open, so
# that nothing is left behind however the row ends (the descriptors, and
# glibc's mappings, outlive the names in the runner and its fork children)
#: mq_maxmsg of the ping-pong queues: a round trip holds one message each way
MQ_PINGPONG_MAXMSG = 1


def _posix_name(tag: str) -> str:
    """A POSIX IPC name no one else uses: this runner's pid and ``tag``."""
    return f"/uipc-bench-{os.getpid()}-{tag}"


def have_posix_ipc() -> bool:
    """Whether the posix_ipc package (the [bench] extra) is installed."""
    import importlib.util
    return importlib.util.find_spec("posix_ipc") is not None


def _uipc_mq_new(tag: str, maxmsg: int, msgsize: int) -> int:
    """As uipc.bench.libc.mq_open_new, in uipc: a new queue, its name gone."""
    import uipc
    name = _posix_name(tag)
    mqd = uipc.mq_open(name, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600,
                       uipc.MqAttr(0, maxmsg, msgsize))
    uipc.mq_unlink(name)
    return mqd


def _posix_ipc_mq_new(tag: str, maxmsg: int, msgsize: int) -> Any:
    """As uipc.bench.libc.mq_open_new, through posix_ipc.MessageQueue."""
    import posix_ipc
    mq = posix_ipc.MessageQueue(_posix_name(tag), posix_ipc.O_CREX, 0o600, maxmsg, msgsize)
    mq.unlink()
    return mq


def uipc_mq_pingpong(env: Env, iters: int) -> Latency:
    """mq_send to one queue, mq_receive the answer from another (two queues)."""
    def body() -> Latency:
        import uipc
        a, b = (_uipc_mq_new(t, MQ_PINGPONG_MAXMSG, MSG) for t in "ab")
        payload = b"x" * MSG

        def ping() -> None:
            uipc.mq_send(a, payload)
            uipc.mq_receive(b, MSG)

        def pong(n: int) -> None:
            for _ in range(n):
                uipc.mq_receive(a, MSG)
                uipc.mq_send(b, payload)

        return _pingpong(ping, pong, iters, env)
    return _in_runner(env, body)


def kernel_mq_pingpong(env: Env, iters: int) -> Latency:
    """As uipc_mq_pingpong, glibc's mq_send/mq_receive (ipc/mqueue.c) through ctypes."""
    def body() -> Latency:
        from uipc.bench.libc import KernelMq, mq_open_new
        a, b = (mq_open_new(_posix_name(t), MQ_PINGPONG_MAXMSG, MSG) for t in "ab")
        to_pong, from_pong = KernelMq(a, MSG), KernelMq(b, MSG)

        def ping() -> None:
            to_pong.send(MSG)
            from_pong.recv()

        def pong(n: int) -> None:
            inbox, outbox = KernelMq(a, MSG), KernelMq(b, MSG)
            for _ in range(n):
                inbox.recv()
                outbox.send(MSG)

        return _pingpong(ping, pong, iters, env)
    # the kernel's queues live in its IPC namespace (its internal mqueue mount)
    return _in_runner(env, body, ipc="kernel")


def posix_ipc_mq_pingpong(env: Env, iters: int) -> Latency | None:
    """As kernel_mq_pingpong, through posix_ipc; None when it is not installed."""
    if not have_posix_ipc():
        return None

    def body() -> Latency:
        a, b = (_posix_ipc_mq_new(t, MQ_PINGPONG_MAXMSG, MSG) for t in "ab")
        payload = b"x" * MSG

        def ping() -> None:
            a.send(payload)
            b.receive()

        def pong(n: int) -> None:
            for _ in range(n):
                a.receive()
                b.send(payload)

        return _pingpong(ping, pong, iters, env)
    return _in_runner(env, body, ipc="kernel")


def uipc_posix_sem_pingpong(env: Env, iters: int) -> Latency:
    """sem_post one named semaphore, sem_wait the other."""
    def body() -> Latency:
        import uipc

        def new(tag: str) -> Any:
            name = _posix_name(tag)
            sem = uipc.sem_open(name, os.O_CREAT | os.O_EXCL, 0o600, 0)
            uipc.sem_unlink(name)
            return sem

        a, b = new("a"), new("b")

        def ping() -> None:
            uipc.sem_post(a)
            uipc.sem_wait(b)

        def pong(n: int) -> None:
            for _ in range(n):
                uipc.sem_wait(a)
                uipc.sem_post(b)

        return _pingpong(ping, pong, iters, env)
    return _in_runner(env, body)


def glibc_sem_pingpong(env: Env, iters: int) -> Latency:
    """As uipc_posix_sem_pingpong, glibc's sem_open(3) through ctypes."""
    def body() -> Latency:
        from uipc.bench.libc import sem_open_new, sem_post, sem_wait
        a, b = sem_open_new(_posix_name("a"), 0), sem_open_new(_posix_name("b"), 0)

        def ping() -> None:
            sem_post(a)
            sem_wait(b)

        def pong(n: int) -> None:
            for _ in range(n):
                sem_wait(a)
                sem_post(b)

        return _pingpong(ping, pong, iters, env)
    # a glibc named semaphore is a /dev/shm file and futexes: no IPC namespace
    return _in_runner(env, body, ipc="none")


def posix_ipc_sem_pingpong(env: Env, iters: int) -> Latency | None:
    """As glibc_sem_pingpong, through posix_ipc.Semaphore; None when it is not installed."""
    if not have_posix_ipc():
        return None

    def body() -> Latency:
        import posix_ipc

        def new(tag: str) -> Any:
            sem = posix_ipc.Semaphore(_posix_name(tag), posix_ipc.O_CREX, 0o600, 0)
            sem.unlink()
            return sem

        a, b = new("a"), new("b")

        def ping() -> None:
            a.release()
            b.acquire()

        def pong(n: int) -> None:
            for _ in range(n):
                a.acquire()
                b.release()

        return _pingpong(ping, pong, iters, env)
    return _in_runner(env, body, ipc="none")


# Descriptors: eventfds (fs/eventfd.c) and pipes (fs/pipe.c).  uipc's and the
# kernel's rows share their loops (FdOps), so that they differ only in the
# read/write/close they call: uipc's (a daemon round trip each) or os's (a
# syscall each).  The kernel's pipes and eventfds belong to no IPC namespace.
#: bytes a throughput reader asks for at each read: a default pipe's capacity
PIPE_READ = 65536


@dataclass(frozen=True)
class FdOps:
    """read(2), write(2) and close(2) of one kind of descriptor: uipc's or os's."""

    read: Callable[[int, int], bytes]
    write: Callable[[int, bytes], int]
    close: Callable[[int], None]


def _uipc_fd_ops() -> FdOps:
    import uipc
    return FdOps(uipc.read, uipc.write, uipc.close)


KERNEL_FD_OPS = FdOps(os.read, os.write, os.close)


def _read_exact(read: Callable[[int, int], bytes], fd: int, want: int) -> None:
    """Read ``want`` bytes from the pipe ``fd`` (pipe_read returns what it holds)."""
    got = 0
    while got < want:
        chunk = read(fd, want - got)
        if not chunk:
            raise RuntimeError("the pipe's writer ended early")
        got += len(chunk)


def _eventfd_pingpong(env: Env, iters: int, ops: FdOps, a: int, b: int, one: bytes) -> Latency:
    """Add 1 to eventfd ``a`` (eventfd_write), then wait for ``b``'s counter
    (eventfd_read); the partner does the converse."""
    read, write = ops.read, ops.write

    def ping() -> None:
        write(a, one)
        read(b, 8)

    def pong(n: int) -> None:
        for _ in range(n):
            read(a, 8)
            write(b, one)

    return _pingpong(ping, pong, iters, env)


def uipc_eventfd_pingpong(env: Env, iters: int) -> Latency:
    """Two uipc eventfds, blocking uipc.read/uipc.write of 8-byte counters."""
    def body() -> Latency:
        import uipc
        a, b = uipc.eventfd(0), uipc.eventfd(0)
        return _eventfd_pingpong(env, iters, _uipc_fd_ops(), a, b, (1).to_bytes(8, "little"))
    return _in_runner(env, body)


def kernel_eventfd_pingpong(env: Env, iters: int) -> Latency:
    """As uipc_eventfd_pingpong, os.eventfd's (the counter in native byte order)."""
    def body() -> Latency:
        a, b = os.eventfd(0), os.eventfd(0)
        return _eventfd_pingpong(env, iters, KERNEL_FD_OPS, a, b, (1).to_bytes(8, sys.byteorder))
    return _in_runner(env, body, ipc="none")


def _pipe_pingpong(env: Env, iters: int, ops: FdOps, there: tuple[int, int],
                   back: tuple[int, int]) -> Latency:
    """A 64-byte message down the pipe ``there`` (read end, write end), its
    answer back up ``back``."""
    read, write = ops.read, ops.write
    payload = b"x" * MSG

    def ping() -> None:
        write(there[1], payload)
        _read_exact(read, back[0], MSG)

    def pong(n: int) -> None:
        for _ in range(n):
            _read_exact(read, there[0], MSG)
            write(back[1], payload)

    return _pingpong(ping, pong, iters, env)


def uipc_pipe_pingpong(env: Env, iters: int) -> Latency:
    """Two uipc pipes (uipc.pipe2), blocking uipc.read/uipc.write."""
    def body() -> Latency:
        import uipc
        return _pipe_pingpong(env, iters, _uipc_fd_ops(), uipc.pipe2(), uipc.pipe2())
    return _in_runner(env, body)


def kernel_pipe_pingpong(env: Env, iters: int) -> Latency:
    """As uipc_pipe_pingpong, os.pipe's."""
    def body() -> Latency:
        return _pipe_pingpong(env, iters, KERNEL_FD_OPS, os.pipe(), os.pipe())
    return _in_runner(env, body, ipc="none")


def mp_queue_pingpong(env: Env, iters: int) -> Latency:
    def body() -> Latency:
        import multiprocessing as mp
        ctx = mp.get_context("fork")
        a, b = ctx.Queue(), ctx.Queue()
        payload = b"x" * MSG

        def ping() -> None:
            a.put(payload)
            b.get()

        def pong(n: int) -> None:
            for _ in range(n):
                a.get()
                b.put(payload)
            b.close()
            b.join_thread()  # os._exit would drop what the feeder thread holds

        return _pingpong(ping, pong, iters, env)
    return _in_runner(env, body, ipc="none")


def mp_pipe_pingpong(env: Env, iters: int) -> Latency:
    def body() -> Latency:
        import multiprocessing as mp
        here, there = mp.Pipe()
        payload = b"x" * MSG

        def ping() -> None:
            here.send_bytes(payload)
            here.recv_bytes()

        def pong(n: int) -> None:
            for _ in range(n):
                there.recv_bytes()
                there.send_bytes(payload)

        return _pingpong(ping, pong, iters, env)
    return _in_runner(env, body, ipc="none")


def _frame_sizes() -> tuple[int, int]:
    """A non-blocking uipc call on the wire: semctl GETVAL request and reply."""
    from uipc import protocol as P
    req = P.encode_request(P.OPS_BY_NAME["semctl"], 1, (0, 0, 12, 0))
    rep = P.encode_reply(1, P.pack_ctl_result(0))
    return len(req), len(rep)


def echo_floor(env: Env, iters: int) -> Latency:
    """Bare Python AF_UNIX request/reply with uipc's frame sizes."""
    def body() -> Latency:
        req_size, rep_size = _frame_sizes()
        a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        req, rep = b"q" * req_size, b"r" * rep_size

        def ping() -> None:
            a.sendall(req)
            got = 0
            while got < rep_size:
                got += len(a.recv(65536))

        def pong(n: int) -> None:
            for _ in range(n):
                got = 0
                while got < req_size:
                    got += len(b.recv(65536))
                b.sendall(rep)

        return _pingpong(ping, pong, iters, env)
    return _in_runner(env, body, ipc="none")


#: the client's spin budget in the "client spinning" rows (UIPC_SPIN_US)
CLIENT_SPIN_US = 50


def uipc_nonblocking_call(env: Env, iters: int, spin_us: int = 0, traced: bool = False) -> Latency:
    """One uipc call that never blocks: semctl(GETVAL); ``traced``: while a
    `uipc trace` subscriber (a thread of the runner) takes every record."""
    def body() -> Latency:
        import uipc
        if spin_us:
            uipc.configure(spin_us=spin_us)
        if traced:
            import threading
            from uipc.client.trace import records
            ready = threading.Event()

            def drain() -> None:
                for _ in records(on_ready=ready.set):
                    pass
            threading.Thread(target=drain, daemon=True).start()
            ready.wait(10)
        s = uipc.semget(uipc.IPC_PRIVATE, 1, 0o600)
        samples = []
        clock = time.perf_counter_ns
        for i in range(iters + 200):
            t0 = clock()
            uipc.semctl(s, 0, uipc.GETVAL)
            if i >= 200:
                samples.append(clock() - t0)
        return _summarise(samples)
    return _in_runner(env, body)


def relay_floor(env: Env, iters: int) -> Latency:
    """Two clients ping-pong 64-byte frames through a minimal Python relay."""
    def body() -> Latency:
        a_client, a_relay = socket.socketpair()
        b_client, b_relay = socket.socketpair()

        def relay() -> None:
            env.pin_self()
            sel = selectors.DefaultSelector()
            sel.register(a_relay, selectors.EVENT_READ, b_relay)
            sel.register(b_relay, selectors.EVENT_READ, a_relay)
            while True:
                for key, _ in sel.select():
                    data = key.fileobj.recv(65536)  # type: ignore[union-attr]
                    if not data:
                        return
                    key.data.sendall(data)

        rpid = _fork(relay)
        payload = b"x" * MSG

        def recv_exact(s: socket.socket) -> None:
            got = 0
            while got < MSG:
                got += len(s.recv(65536))

        def ping() -> None:
            a_client.sendall(payload)
            recv_exact(a_client)

        def pong(n: int) -> None:
            for _ in range(n):
                recv_exact(b_client)
                b_client.sendall(payload)

        lat = _pingpong(ping, pong, iters, env)
        a_client.close()
        a_relay.close()
        b_relay.close()
        b_client.close()
        os.kill(rpid, signal.SIGKILL)
        os.waitpid(rpid, 0)
        return lat
    return _in_runner(env, body, ipc="none")


def redis_pingpong(env: Env, iters: int) -> Latency | None:
    """LPUSH/BRPOP over a unix socket, when redis-server and redis-py exist."""
    server = shutil.which("redis-server")
    try:
        import redis  # noqa: F401
    except ImportError:
        return None
    if server is None:
        return None
    tmp = Path(tempfile.mkdtemp(prefix="uipc-redis-"))
    sock = tmp / "redis.sock"
    proc = subprocess.Popen([server, "--port", "0", "--unixsocket", str(sock), "--save", "",
                             "--appendonly", "no"], stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while not sock.exists():
            if time.monotonic() > deadline:
                return None
            time.sleep(0.01)
        if env.pin:
            os.sched_setaffinity(proc.pid, {0})

        def body() -> Latency:
            import redis as r
            c = r.Redis(unix_socket_path=str(sock))
            payload = b"x" * MSG

            def ping() -> None:
                c.lpush("a", payload)
                c.brpop(["b"])

            def pong(n: int) -> None:
                cc = r.Redis(unix_socket_path=str(sock))
                for _ in range(n):
                    cc.brpop(["a"])
                    cc.lpush("b", payload)

            return _pingpong(ping, pong, iters, env)
        return _in_runner(env, body, ipc="none")
    finally:
        proc.terminate()
        proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)


# --- throughput -----------------------------------------------------------------------
def _oneway(send: Callable[[], None], recv_all: Callable[[int], None], n: int, env: Env,
            flush: Callable[[], None] = lambda: None) -> float:
    """Messages per second: n sends from a child, timed at this receiver."""
    return _oneway_all(lambda k: ([send() for _ in range(k)], flush()), recv_all, n, env)


def _oneway_all(send_all: Callable[[int], Any], recv_all: Callable[[int], None], n: int,
                env: Env) -> float:
    """Messages per second: a child sends n (send_all(n)), timed at this receiver."""
    child = _fork(lambda: (env.pin_self(), send_all(n)))
    t0 = time.perf_counter()
    recv_all(n)
    dt = time.perf_counter() - t0
    os.waitpid(child, 0)
    return n / dt


#: messages per msgsnd_many / msgrcv_many call in the batched throughput rows
BATCH = 256


def queue_bytes(size: int) -> int:
    """kernel.msgmnb for the throughput rows, kernel and uipc alike: room for
    a batch of messages (the default 16 KiB holds four of 4 KiB, and a
    sender that fills the queue waits for the receiver at every message)."""
    return max(16384, BATCH * size)


def _uipc_queue(size: int) -> int:
    """A private queue in this namespace, limits set for messages of ``size``."""
    import uipc
    uipc.sysctl.set("kernel.msgmax", max(size, 8192))
    uipc.sysctl.set("kernel.msgmnb", queue_bytes(size))
    return uipc.msgget(uipc.IPC_PRIVATE, 0o600)


def uipc_msg_throughput(env: Env, n: int, size: int) -> float:
    def body() -> float:
        import uipc
        q = _uipc_queue(size)
        payload = b"x" * size

        def recv_all(k: int) -> None:
            for _ in range(k):
                uipc.msgrcv(q, size, 0)

        return _oneway(lambda: uipc.msgsnd(q, 1, payload), recv_all, n, env)
    return _in_runner(env, body)


def uipc_msg_throughput_batched(env: Env, n: int, size: int) -> float:
    """As uipc_msg_throughput, with msgsnd_many / msgrcv_many of BATCH messages."""
    def body() -> float:
        import uipc
        q = _uipc_queue(size)
        payload = b"x" * size
        batch = [(1, payload)] * BATCH

        def send_all(left: int) -> None:
            while left:
                left -= uipc.msgsnd_many(q, batch[:min(left, BATCH)])

        def recv_all(k: int) -> None:
            while k > 0:
                k -= len(uipc.msgrcv_many(q, size, 0, BATCH))

        return _oneway_all(send_all, recv_all, n, env)
    return _in_runner(env, body)


def kernel_msg_throughput(env: Env, n: int, size: int) -> float | None:
    """None where the machine's kernel.msgmax is below ``size`` and may not
    be changed (the caller's namespace, not root)."""
    def body() -> float | None:
        from uipc.bench.libc import (
            IPC_PRIVATE, SHARED, KernelMsg, check, libc, msg_rmid, read_sysctl, write_sysctl,
        )
        if env.kernel_ns == SHARED:  # the machine's limits: read, never written
            if read_sysctl("msgmax") < size:
                return None
        else:
            write_sysctl("msgmax", max(size, 8192))
            write_sysctl("msgmnb", queue_bytes(size))
        qid = check(libc.msgget(IPC_PRIVATE, 0o600))
        m = KernelMsg(qid, size)

        def recv_all(k: int) -> None:
            for _ in range(k):
                m.recv(size, 0)

        sender = KernelMsg(qid, size)
        try:
            return _oneway(lambda: sender.send(1, size), recv_all, n, env)
        finally:
            msg_rmid(qid)
    return _in_runner(env, body, ipc="kernel")


#: mq_maxmsg of the throughput queues: a batch, as queue_bytes gives the SysV rows
MQ_DEPTH = BATCH
#: what mqueue_get_inode charges RLIMIT_MSGQUEUE per message beyond its
#: payload (its struct msg_msg pointer and a priority-tree node), rounded up
MQ_MSG_CHARGE = 128


def mq_depth_within_rlimit(depth: int, size: int) -> int:
    """Raise this runner's RLIMIT_MSGQUEUE (a throw-away process) for a queue
    of ``depth`` messages of ``size``, as far as this user may; the depth
    that then fits (what mq_open charges its creator, mqueue_get_inode)."""
    lim, inf = resource.RLIMIT_MSGQUEUE, resource.RLIM_INFINITY
    per_msg = size + MQ_MSG_CHARGE
    soft, hard = resource.getrlimit(lim)
    if soft != inf and soft < depth * per_msg:
        try:
            resource.setrlimit(lim, (inf, inf))  # CAP_SYS_RESOURCE raises the hard limit
        except (ValueError, OSError):
            resource.setrlimit(lim, (hard, hard))  # anyone may raise the soft one to it
        soft = resource.getrlimit(lim)[0]
    return depth if soft == inf else min(depth, soft // per_msg)


def _uipc_mq_depth(size: int) -> int:
    """fs.mqueue limits of this uipc namespace set for MQ_DEPTH messages of ``size``."""
    import uipc
    uipc.sysctl.set("fs.mqueue.msg_max", MQ_DEPTH)
    uipc.sysctl.set("fs.mqueue.msgsize_max", max(size, 8192))
    return mq_depth_within_rlimit(MQ_DEPTH, size)


def _kernel_mq_depth(env: Env, size: int) -> int | None:
    """As _uipc_mq_depth, in the kernel rows' IPC namespace; where that is
    the machine's, its limits are read, never written: the depth is then at
    most its fs.mqueue.msg_max, and None when ``size`` is above its msgsize_max."""
    from uipc.bench.libc import SHARED, read_mq_sysctl, write_mq_sysctl
    if env.kernel_ns != SHARED:
        try:
            write_mq_sysctl("msg_max", MQ_DEPTH)
            write_mq_sysctl("msgsize_max", max(size, 8192))
        except PermissionError:  # a kernel whose user namespaces may not set them: as shared
            pass
    if read_mq_sysctl("msgsize_max") < size:
        return None
    return mq_depth_within_rlimit(min(MQ_DEPTH, read_mq_sysctl("msg_max")), size) or None


def uipc_mq_throughput(env: Env, n: int, size: int) -> float:
    def body() -> float:
        import uipc
        q = _uipc_mq_new("q", _uipc_mq_depth(size), size)
        payload = b"x" * size

        def recv_all(k: int) -> None:
            for _ in range(k):
                uipc.mq_receive(q, size)

        return _oneway(lambda: uipc.mq_send(q, payload), recv_all, n, env)
    return _in_runner(env, body)


def kernel_mq_throughput(env: Env, n: int, size: int) -> float | None:
    """None where ``size`` is above the machine's fs.mqueue.msgsize_max and
    may not be changed (the caller's namespace, not root)."""
    def body() -> float | None:
        from uipc.bench.libc import KernelMq, mq_open_new
        depth = _kernel_mq_depth(env, size)
        if depth is None:
            return None
        q = mq_open_new(_posix_name("q"), depth, size)
        receiver, sender = KernelMq(q, size), KernelMq(q, size)

        def recv_all(k: int) -> None:
            for _ in range(k):
                receiver.recv()

        return _oneway(lambda: sender.send(size), recv_all, n, env)
    return _in_runner(env, body, ipc="kernel")


def posix_ipc_mq_throughput(env: Env, n: int, size: int) -> float | None:
    """As kernel_mq_throughput, through posix_ipc; None also when it is not installed."""
    if not have_posix_ipc():
        return None

    def body() -> float | None:
        depth = _kernel_mq_depth(env, size)
        if depth is None:
            return None
        q = _posix_ipc_mq_new("q", depth, size)
        payload = b"x" * size

        def recv_all(k: int) -> None:
            for _ in range(k):
                q.receive()

        return _oneway(lambda: q.send(payload), recv_all, n, env)
    return _in_runner(env, body, ipc="kernel")


def mp_queue_throughput(env: Env, n: int, size: int) -> float:
    def body() -> float:
        import multiprocessing as mp
        q = mp.get_context("fork").Queue(maxsize=1000)
        payload = b"x" * size

        def recv_all(k: int) -> None:
            for _ in range(k):
                q.get()

        return _oneway(lambda: q.put(payload), recv_all, n, env,
                       flush=lambda: (q.close(), q.join_thread()))
    return _in_runner(env, body, ipc="none")


def mp_pipe_throughput(env: Env, n: int, size: int) -> float:
    def body() -> float:
        import multiprocessing as mp
        here, there = mp.Pipe(duplex=False)
        payload = b"x" * size

        def recv_all(k: int) -> None:
            for _ in range(k):
                here.recv_bytes()

        return _oneway(lambda: there.send_bytes(payload), recv_all, n, env)
    return _in_runner(env, body, ipc="none")


def _pipe_stream(env: Env, n: int, size: int, ops: FdOps, r: int, w: int) -> float:
    """Writes per second: a child streams ``n`` writes of ``size`` bytes into
    the pipe (r, w); this process reads PIPE_READ at a time, counting the bytes."""
    payload = b"x" * size

    def writer() -> None:
        env.pin_self()
        ops.close(r)  # a reader gone then fails the writer (EPIPE), never leaves it blocked
        write = ops.write
        for _ in range(n):
            done = write(w, payload)
            while done < size:  # pipe_write returns short only when interrupted
                done += write(w, payload[done:])

    child = _fork(writer)
    t0 = time.perf_counter()
    ops.close(w)  # a writer that dies is then EOF here, not a hang
    read, got, total = ops.read, 0, n * size
    while got < total:
        chunk = read(r, PIPE_READ)
        if not chunk:
            raise RuntimeError("the pipe's writer ended early")
        got += len(chunk)
    dt = time.perf_counter() - t0
    os.waitpid(child, 0)
    return n / dt


def uipc_pipe_throughput(env: Env, n: int, size: int) -> float:
    """A uipc pipe (uipc.pipe2): blocking uipc.write of ``size``, uipc.read."""
    def body() -> float:
        import uipc
        return _pipe_stream(env, n, size, _uipc_fd_ops(), *uipc.pipe2())
    return _in_runner(env, body)


def kernel_pipe_throughput(env: Env, n: int, size: int) -> float:
    """As uipc_pipe_throughput, an os.pipe."""
    def body() -> float:
        return _pipe_stream(env, n, size, KERNEL_FD_OPS, *os.pipe())
    return _in_runner(env, body, ipc="none")


# --- shared memory ------------------------------------------------------------------
def shm_bandwidth(env: Env, total_mb: int, kernel: bool) -> float:
    """MB/s writing into an attached segment (memcpy into shared memory)."""
    size = 16 << 20

    def body() -> float:
        block = b"\xab" * size
        if kernel:
            from uipc.bench.libc import IPC_PRIVATE, check, libc, shm_rmid
            sid = check(libc.shmget(IPC_PRIVATE, size, 0o600))
            addr = libc.shmat(sid, None, 0)
            # removed now, destroyed at the last detach: at our exit, whatever happens
            shm_rmid(sid)
            if addr in (None, ctypes.c_void_p(-1).value):
                raise OSError(ctypes.get_errno(), "shmat")
            view = memoryview((ctypes.c_char * size).from_address(addr)).cast("B")
        else:
            import uipc
            sid = uipc.shmget(uipc.IPC_PRIVATE, size, 0o600)
            view = uipc.shm_view(uipc.shmat(sid))
        view[:] = block  # fault the pages in first
        rounds = max(1, total_mb // 16)
        t0 = time.perf_counter()
        for _ in range(rounds):
            view[:] = block
        return rounds * 16 / (time.perf_counter() - t0)
    return _in_runner(env, body, ipc="kernel" if kernel else "uipc")


# --- scaling and load ---------------------------------------------------------------
def scaling(env: Env, clients: int, calls: int) -> float:
    """Total non-blocking calls per second with ``clients`` processes."""
    def body() -> float:
        import uipc
        s = uipc.semget(uipc.IPC_PRIVATE, 1, 0o600)
        r, w = os.pipe()
        go_r, go_w = os.pipe()

        def client() -> None:
            env.pin_self()
            uipc.semctl(s, 0, uipc.GETVAL)  # connect before the clock starts
            os.write(w, b"r")
            os.read(go_r, 1)
            for _ in range(calls):
                uipc.semctl(s, 0, uipc.GETVAL)

        pids = [_fork(client) for _ in range(clients)]
        for _ in range(clients):
            os.read(r, 1)
        t0 = time.perf_counter()
        os.write(go_w, b"g" * clients)
        for pid in pids:
            os.waitpid(pid, 0)
        return clients * calls / (time.perf_counter() - t0)
    return _in_runner(env, body)


def latency_under_load(env: Env, hammers: int, iters: int) -> tuple[Latency, Latency]:
    """One client's call latency idle, then while ``hammers`` others hammer."""
    def body() -> tuple[Latency, Latency]:
        import uipc
        s = uipc.semget(uipc.IPC_PRIVATE, 1, 0o600)

        def measure() -> Latency:
            samples = []
            clock = time.perf_counter_ns
            for _ in range(iters):
                t0 = clock()
                uipc.semctl(s, 0, uipc.GETVAL)
                samples.append(clock() - t0)
            return _summarise(samples)

        idle = measure()
        r, w = os.pipe()

        def hammer() -> None:
            env.pin_self()
            uipc.semctl(s, 0, uipc.GETVAL)
            os.write(w, b"r")
            while True:
                uipc.semctl(s, 0, uipc.GETVAL)

        pids = [_fork(hammer) for _ in range(hammers)]
        for _ in range(hammers):
            os.read(r, 1)
        loaded = measure()
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        return idle, loaded
    return _in_runner(env, body)


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def daemon_memory(env: Env, queues: int, messages: int) -> tuple[float, float]:
    """Daemon bytes per idle queue and per queued 64-byte message (beyond it)."""
    def body() -> tuple[float, float]:
        import uipc
        # the bench owns its daemon: it may lift the per-uid quotas its own
        # measurement would otherwise meet (uipc.quota.*, docs/security.md)
        uipc.sysctl.set("uipc.quota.objects", max(queues, 8192))
        uipc.sysctl.set("uipc.quota.msg_bytes", max(messages * (MSG + 1), 256 << 20))
        base = rss_kib(env.daemon_pid)
        ids = [uipc.msgget(uipc.IPC_PRIVATE, 0o600) for _ in range(queues)]
        per_queue = (rss_kib(env.daemon_pid) - base) * 1024 / queues
        for q in ids:
            uipc.msgctl(q, uipc.IPC_RMID)
        uipc.sysctl.set("kernel.msgmnb", 2**31 - 1)
        q = uipc.msgget(uipc.IPC_PRIVATE, 0o600)
        base = rss_kib(env.daemon_pid)
        payload = b"x" * MSG
        for _ in range(messages):
            uipc.msgsnd(q, 1, payload)
        per_msg = (rss_kib(env.daemon_pid) - base) * 1024 / messages - MSG
        uipc.msgctl(q, uipc.IPC_RMID)
        return per_queue, per_msg
    return _in_runner(env, body)


@dataclass
class Daemon:
    path: Path
    proc: subprocess.Popen[bytes]
    tmp: Path = field(default_factory=Path)

    @classmethod
    def start(cls) -> "Daemon":
        tmp = Path(tempfile.mkdtemp(prefix="uipc-bench-"))
        path = tmp / "uipc.sock"
        r, w = os.pipe()
        proc = subprocess.Popen([sys.executable, "-m", "uipc.server", "--socket", str(path),
                                 "--ready-fd", str(w)], pass_fds=(w,), stderr=subprocess.DEVNULL)
        os.close(w)
        with os.fdopen(r, "rb") as pipe:
            if pipe.readline() != b"ready\n":
                raise RuntimeError("benchmark daemon did not start")
        return cls(path, proc, tmp)

    def pin(self, pin: bool) -> None:
        os.sched_setaffinity(self.proc.pid, {0} if pin else ALL_CPUS)
        # the daemon re-reads its affinity (to decide whether to spin) every
        # AFFINITY_RECHECK_S; let it notice before anything is measured
        time.sleep(3 * AFFINITY_RECHECK_S)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)
        shutil.rmtree(self.tmp, ignore_errors=True)
