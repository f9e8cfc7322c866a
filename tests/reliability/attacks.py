"""What a bystander sees while an unprivileged user attacks a system daemon.

A measurement, not a test: ``python -m tests.reliability.attacks [--quick]
[--json FILE] [--pace-us N]``, as root, from the repository.  It starts a private
``--system`` daemon (as tests/conftest.py ``start_daemon`` does), then

- a *bystander*, a forked child running as uid 1001, times ``semctl(GETVAL)``
  round trips on a set of its own (p50, p99 in microseconds);
- an *attacker*, a forked child running as uid 1000, attacks the daemon
  within what the per-uid quotas (uipc/kernel/quota.py) let it do: a
  connection flood, big semaphore sets, an introspection flood, descriptor
  exhaustion with shm segments, memory with queued messages.

Each attack is running (or holding what it took) before the bystander starts
and is stopped after it finishes.  The result is a Markdown table for
docs/security.md, with what each attack was refused with, and the daemon's
RSS before, during and after the memory attack.  Nothing is left behind:
the children are reaped, the daemon (which holds every object) is stopped
and its directory removed.

No exec: the Python binary may live where other uids cannot run it, so the
children only fork, and every module they use is imported here first.
"""
from __future__ import annotations

import argparse
import errno
import json
import os
import pickle
import select
import shutil
import signal
import socket
import statistics
import struct
import sys
import tempfile
import threading
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import uipc
import uipc.client.introspect  # noqa: F401 - imported before fork: children may not read /root
from tests.conftest import DaemonProc, reset_client, start_daemon, stop_daemon
from uipc import protocol as P

ATTACKER_UID = 1000
BYSTANDER_UID = 1001
#: round trips the bystander times per row (full run, --quick)
ROUND_TRIPS, QUICK_ROUND_TRIPS = 300, 50
#: one round trip started every this many microseconds (--pace-us): 300
#: back to back last ~8 ms, less than one cycle of some attacks (32 threads
#: walking a namespace stall the daemon for tens of ms, then leave it alone
#: for as long), so back-to-back figures swing from 1x to 1000x between
#: runs; paced, the sample spans ~0.3 s of the attack and repeats
PACE_US = 1000
#: untimed round trips before each row (the connection and caches warm up)
WARMUP = 20
#: untimed round trips once, at the start: a fresh daemon and client take a
#: few hundred calls to settle (scheduler placement, the daemon's adaptive
#: spin, uipc/spin.py); without them the idle row reads ~3x slow
SETTLE = 2000
#: semaphores per set in the big-sets attack (SEMMSL)
BIG_SET = 32000
#: threads of the introspection flood
INTROSPECT_THREADS = 32
#: requests in flight per connection in the connection flood
FLOOD_WINDOW = 256
#: bytes per message in the memory attack, and messages per queue
MSG_SIZE, MSGS_PER_QUEUE = 16384, 64
#: --quick lowers these quotas (root sets them) so a smoke run is quick;
#: the connection quota keeps its default (1024 connections open in no time)
QUICK_QUOTAS = {"objects": 1024, "segments": 256, "sems": 2 * BIG_SET, "msg_bytes": 16 << 20}
#: how long a step may take before the run gives up (setting up 8192 queues...)
STEP_TIMEOUT = 600.0

_SEMCTL = P.OPS_BY_NAME["semctl"]
_HELLO = P.OPS_BY_NAME["hello"]


# --- forked children that talk to the parent in pickles -------------------

class Channel:
    """Length-prefixed pickles over a pair of pipes."""

    _LEN = struct.Struct("<I")

    def __init__(self, rfd: int, wfd: int) -> None:
        self.rfd, self.wfd = rfd, wfd

    def send(self, obj: Any) -> None:
        data = pickle.dumps(obj)
        view = memoryview(self._LEN.pack(len(data)) + data)
        while view:
            view = view[os.write(self.wfd, view):]

    def recv(self, timeout: float | None = None) -> Any:
        head = self._read(self._LEN.size, timeout)
        return pickle.loads(self._read(self._LEN.unpack(head)[0], timeout))

    def _read(self, n: int, timeout: float | None) -> bytes:
        out = b""
        deadline = None if timeout is None else time.monotonic() + timeout
        while len(out) < n:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not select.select([self.rfd], [], [], left)[0]:
                raise TimeoutError("the child did not answer in time")
            chunk = os.read(self.rfd, n - len(out))
            if not chunk:
                raise EOFError("the child exited")
            out += chunk
        return out


class Worker:
    """A forked child that drops to ``uid`` (setgroups, setgid, setuid) and
    runs ``body(channel)``; an exception in it comes back as ("error", text)."""

    #: the parent's ends of every worker's pipes: a new child closes them, so
    #: each child sees EOF when the parent goes, whatever its siblings hold
    _parent_fds: set[int] = set()

    def __init__(self, uid: int, body: Callable[[Channel], None]) -> None:
        down_r, down_w = os.pipe()
        up_r, up_w = os.pipe()
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                for fd in (down_w, up_r, *self._parent_fds):
                    os.close(fd)
                chan = Channel(down_r, up_w)
                try:
                    os.setgroups([])
                    os.setgid(uid)
                    os.setuid(uid)
                    body(chan)
                    code = 0
                except BaseException:  # noqa: BLE001 - reported to the parent
                    chan.send(("error", traceback.format_exc()))
            finally:
                os._exit(code)
        os.close(down_r)
        os.close(up_w)
        self.pid: int | None = pid
        self.chan = Channel(up_r, down_w)
        self._parent_fds.update((up_r, down_w))

    def send(self, msg: Any) -> None:
        try:
            self.chan.send(msg)
        except BrokenPipeError:
            pass  # it exited already: expect() reads what it said last

    def expect(self, kind: str, timeout: float = STEP_TIMEOUT) -> Any:
        """The child's next message, which must be ``(kind, value)``."""
        got, value = self.chan.recv(timeout)
        if got == "error":
            raise RuntimeError(f"child {self.pid} failed:\n{value}")
        if got != kind:
            raise RuntimeError(f"child {self.pid} said {got!r}, expected {kind!r}")
        return value

    def ask(self, *command: Any) -> Any:
        self.send(command)
        return self.expect("result")

    def reap(self, timeout: float = 60.0) -> None:
        """Wait for the child to exit (it was told to); kill it past ``timeout``."""
        if self.pid is None:
            return
        deadline = time.monotonic() + timeout
        while os.waitpid(self.pid, os.WNOHANG) == (0, 0):
            if time.monotonic() > deadline:
                self.kill()
                return
            time.sleep(0.01)
        self._closed()

    def kill(self) -> None:
        if self.pid is None:
            return
        try:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
        self._closed()

    def _closed(self) -> None:
        self.pid = None
        for fd in (self.chan.rfd, self.chan.wfd):
            self._parent_fds.discard(fd)
            os.close(fd)


def describe(exc: OSError) -> str:
    """``"ENOSPC: uid 1000 holds ..."``: the errno's name and the daemon's
    explanation (the client appends it to strerror in parentheses)."""
    code = exc.errno or 0
    text = exc.strerror or str(exc)
    prefix = os.strerror(code) + " ("
    if text.startswith(prefix) and text.endswith(")"):
        text = text[len(prefix):-1]
    return f"{errno.errorcode.get(code, str(code))}: {text}"


# --- the bystander --------------------------------------------------------

def bystander(chan: Channel) -> None:
    """uid 1001 in a namespace of its own: a set, then commands until "quit"."""
    uipc.unshare_namespace()
    semid = uipc.semget(uipc.IPC_PRIVATE, 1, 0o600)
    round_trips(semid, SETTLE)
    chan.send(("ready", semid))
    while True:
        command = chan.recv()
        if command[0] == "measure":
            chan.send(("result", round_trips(semid, *command[1:])))
        elif command[0] == "shmget":
            chan.send(("result", try_shmget()))
        else:
            uipc.semctl(semid, 0, uipc.IPC_RMID)
            chan.send(("result", None))
            return


def round_trips(semid: int, n: int, pace_us: int = 0) -> list[float]:
    """Latencies of ``n`` semctl(GETVAL) calls, in microseconds, one started
    every ``pace_us`` (0: back to back)."""
    for _ in range(WARMUP):
        uipc.semctl(semid, 0, uipc.GETVAL)
    out = []
    clock = time.perf_counter
    pace = pace_us / 1e6
    for _ in range(n):
        t0 = clock()
        uipc.semctl(semid, 0, uipc.GETVAL)
        t1 = clock()
        out.append((t1 - t0) * 1e6)
        if t1 - t0 < pace:
            time.sleep(pace - (t1 - t0))  # pacing: the sample spans the attack's cycles
    return out


def try_shmget() -> str:
    """One segment made and removed: "ok", or what refused it."""
    try:
        shmid = uipc.shmget(uipc.IPC_PRIVATE, 4096, 0o600)
    except OSError as exc:
        return describe(exc)
    uipc.shmctl(shmid, uipc.IPC_RMID)
    return "ok"


# --- the attacks (each runs in the attacker, uid 1000) ---------------------

Ready = Callable[[dict[str, Any]], None]
Attack = Callable[[threading.Event, Ready], dict[str, Any]]


def attacker(attack: Attack) -> Callable[[Channel], None]:
    """The attacker's body: ``attack(stop, ready)`` calls ready(info) once
    it is running (or holds what it took), and returns when ``stop`` is set
    (the parent's "stop"), having given back what it took."""
    def body(chan: Channel) -> None:
        stop = threading.Event()

        def wait_for_stop() -> None:
            try:
                chan.recv()
            finally:
                stop.set()

        threading.Thread(target=wait_for_stop, daemon=True).start()
        done = attack(stop, lambda info: chan.send(("ready", info)))
        chan.send(("done", done))
    return body


def connection_flood(stop: threading.Event, ready: Ready) -> dict[str, Any]:
    """Every connection the quota allows, each with FLOOD_WINDOW GETVALs in
    flight, refilled as replies come (replies are read: not dropped for
    unread ones)."""
    ns = uipc.unshare_namespace()
    semid = uipc.semget(uipc.IPC_PRIVATE, 1, 0o600)
    socks, refusal = open_connections(ns)
    request = P.encode_request(_SEMCTL, 7, (semid, 0, uipc.GETVAL, 0))
    reply_len = probe_reply(socks[0], request)
    flood = Flood(socks, request, reply_len)
    info = {"connections": len(socks) + 1, "refused": refusal}
    flood.run(stop, lambda: ready(info))
    for s in socks:
        s.close()
    uipc.semctl(semid, 0, uipc.IPC_RMID)
    return {**info, "replies_per_s": flood.rate(), "dropped": flood.dropped,
            "did": f"{len(socks) + 1} connections, {flood.rate():,.0f} replies/s"}


def open_connections(ns: str) -> tuple[list[socket.socket], str]:
    """Raw connections (hello done) until the daemon refuses one; returns them
    and the refusal ("EMFILE: uid 1000 has 1024 connections open ...")."""
    path = os.environ["UIPC_SOCKET"]
    hello = P.encode_request(_HELLO, 1, (P.VERSION, 0, 0), ns.encode())
    socks: list[socket.socket] = []
    while len(socks) < 1 << 20:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(30)
        s.connect(path)
        try:
            s.sendall(hello)
        except OSError:
            pass  # refused and closed already: its error frame is still to read
        status, detail = read_reply(s)
        if status:
            s.close()
            return socks, f"{errno.errorcode.get(status, str(status))}: {detail}"
        socks.append(s)
    raise RuntimeError("the daemon never refused a connection")


def read_reply(s: socket.socket) -> tuple[int, str]:
    """One reply frame: its status and payload as text."""
    dec = P.FrameDecoder(reply=True)
    while (frame := dec.next_frame()) is P.NEED_DATA:
        data = s.recv(65536)
        if not data:
            return errno.ECONNRESET, "closed without a reply"
        dec.feed(data)
    _, status, payload = frame  # type: ignore[misc]
    return status, bytes(payload).decode("utf-8", "replace")


def probe_reply(s: socket.socket, request: bytes) -> int:
    """The size of one GETVAL reply on the wire (the flood counts replies by bytes)."""
    s.sendall(request)
    dec = P.FrameDecoder(reply=True)
    got = b""
    while (frame := dec.next_frame()) is P.NEED_DATA:
        data = s.recv(65536)
        got += data
        dec.feed(data)
    assert frame[1] == 0, frame  # type: ignore[index]
    return len(got)


class Flood:
    """Non-blocking sockets in one epoll: each keeps FLOOD_WINDOW requests in
    flight, topped up whenever half of them have been answered."""

    def __init__(self, socks: list[socket.socket], request: bytes, reply_len: int) -> None:
        self.request, self.reply_len = request, reply_len
        self.frames = memoryview(request * FLOOD_WINDOW)
        self.ep = select.epoll()
        #: fd -> [socket, bytes sent, bytes received, unsent rest]
        self.conns: dict[int, list[Any]] = {}
        for s in socks:
            s.setblocking(False)
            self.conns[s.fileno()] = [s, 0, 0, b""]
            self.ep.register(s.fileno(), select.EPOLLIN)
        self.replies = 0
        self.dropped = 0
        self._t0 = self._t1 = 0.0
        self._replies0 = 0
        self._buf = bytearray(1 << 16)

    def run(self, stop: threading.Event, ready: Callable[[], None]) -> None:
        for fd in list(self.conns):
            self._refill(fd)
        announced = False
        while not stop.is_set():
            for fd, mask in self.ep.poll(0.05):
                if fd in self.conns:
                    self._event(fd, mask)
            if not announced and self.replies >= 1000:
                announced = True
                self._t0, self._replies0 = time.monotonic(), self.replies
                ready()
        self._t1 = time.monotonic()
        self.ep.close()

    def rate(self) -> float:
        return (self.replies - self._replies0) / max(self._t1 - self._t0, 1e-9)

    def _event(self, fd: int, mask: int) -> None:
        c = self.conns[fd]
        if mask & (select.EPOLLIN | select.EPOLLHUP | select.EPOLLERR):
            while True:
                try:
                    n = c[0].recv_into(self._buf)
                except BlockingIOError:
                    break
                except OSError:
                    n = 0
                if not n:
                    self._lost(fd)
                    return
                before = c[2] // self.reply_len
                c[2] += n
                self.replies += c[2] // self.reply_len - before
        self._refill(fd)

    def _refill(self, fd: int) -> None:
        c = self.conns[fd]
        data = c[3]
        if not data:
            in_flight = c[1] // len(self.request) - c[2] // self.reply_len
            room = FLOOD_WINDOW - in_flight
            if room < FLOOD_WINDOW // 2:
                return
            data = self.frames[:room * len(self.request)]
        try:
            sent = c[0].send(data)
        except BlockingIOError:
            sent = 0
        except OSError:
            self._lost(fd)
            return
        c[1] += sent
        rest = data[sent:]
        if bool(rest) != bool(c[3]):  # write interest only while a rest waits
            self.ep.modify(fd, select.EPOLLIN | (select.EPOLLOUT if rest else 0))
        c[3] = rest

    def _lost(self, fd: int) -> None:
        """The daemon dropped this connection (counted, and reported)."""
        self.dropped += 1
        self.ep.unregister(fd)
        self.conns.pop(fd)[0].close()


def big_sets(stop: threading.Event, ready: Ready) -> dict[str, Any]:
    """semget(IPC_PRIVATE, 32000) until the sems quota says ENOSPC; remove
    them all and start over, until stopped."""
    uipc.unshare_namespace()
    made = made0 = 0
    held: list[int] = []
    refusal = ""
    t0 = time.monotonic()
    while not stop.is_set():
        try:
            held.append(uipc.semget(uipc.IPC_PRIVATE, BIG_SET, 0o600))
            made += 1
        except OSError as exc:
            if exc.errno != errno.ENOSPC:
                raise
            if not refusal:
                refusal = describe(exc)
                t0, made0 = time.monotonic(), made
                ready({"refused": refusal, "sets_held": len(held)})
            for semid in held:
                uipc.semctl(semid, 0, uipc.IPC_RMID)
            held.clear()
    rate = (made - made0) / max(time.monotonic() - t0, 1e-9)
    for semid in held:
        uipc.semctl(semid, 0, uipc.IPC_RMID)
    return {"refused": refusal, "sets_per_s": rate,
            "did": f"{rate:,.1f} semget({BIG_SET})/s, each round up to the quota"}


def introspection_flood(stop: threading.Event, ready: Ready) -> dict[str, Any]:
    """As many queues as the objects quota allows, then namespace() (every
    page) from INTROSPECT_THREADS threads, each on its own connection."""
    uipc.unshare_namespace()
    queues, refusal = fill(lambda: uipc.msgget(uipc.IPC_PRIVATE, 0o600), errno.ENOSPC)
    calls = [0] * INTROSPECT_THREADS
    errors: list[str] = []

    def loop(i: int) -> None:
        while not stop.is_set():
            try:
                uipc.introspect.namespace()
                calls[i] += 1
            except OSError as exc:
                errors.append(describe(exc))
                return

    threads = [threading.Thread(target=loop, args=(i,)) for i in range(INTROSPECT_THREADS)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + STEP_TIMEOUT
    while sum(calls) < INTROSPECT_THREADS and not errors and time.monotonic() < deadline:
        time.sleep(0.01)  # polling the threads' counters
    t0, calls0 = time.monotonic(), sum(calls)
    ready({"refused": refusal, "queues": len(queues)})
    stop.wait()
    for t in threads:
        t.join()  # each finishes the walk it is in: counted, over the time it took
    rate = (sum(calls) - calls0) / max(time.monotonic() - t0, 1e-9)
    for q in queues:
        uipc.msgctl(q, uipc.IPC_RMID)
    return {"refused": refusal, "queues": len(queues), "introspect_errors": errors[:3],
            "namespaces_per_s": rate,
            "did": f"{len(queues)} queues, {INTROSPECT_THREADS} threads: "
                   f"{rate:,.1f} namespace() walks/s"}


def descriptor_exhaustion(stop: threading.Event, ready: Ready) -> dict[str, Any]:
    """1-byte segments (each a memfd in the daemon) until the segments quota
    refuses one, held until stopped.  kernel.shmmni (4096, per namespace) is
    raised in its own namespace so the per-uid quota is what stops it."""
    uipc.unshare_namespace()
    uipc.sysctl.set("kernel.shmmni", 32768)
    segments, refusal = fill(lambda: uipc.shmget(uipc.IPC_PRIVATE, 1, 0o600), errno.ENOSPC)
    ready({"refused": refusal, "segments": len(segments)})
    stop.wait()
    for shmid in segments:
        uipc.shmctl(shmid, uipc.IPC_RMID)
    return {"refused": refusal, "segments": len(segments), "did": f"holds {len(segments)} segments"}


def memory(stop: threading.Event, ready: Ready) -> dict[str, Any]:
    """16 KiB messages in queues of its own namespace (kernel.msgmax raised
    to 16384, kernel.msgmnb to 64 of them) until the msg_bytes quota says
    EAGAIN; held until stopped, then the queues are removed."""
    uipc.unshare_namespace()
    uipc.sysctl.set("kernel.msgmax", MSG_SIZE)
    uipc.sysctl.set("kernel.msgmnb", MSG_SIZE * MSGS_PER_QUEUE)
    text = b"m" * MSG_SIZE
    queues: list[int] = []
    queued, refusal = 0, ""
    while not refusal:
        queues.append(uipc.msgget(uipc.IPC_PRIVATE, 0o600))
        while True:
            try:
                uipc.msgsnd(queues[-1], 1, text, uipc.IPC_NOWAIT)
                queued += MSG_SIZE
            except OSError as exc:
                if exc.errno != errno.EAGAIN:
                    raise
                if "uipc.quota.msg_bytes" in str(exc):
                    refusal = describe(exc)
                break  # this queue is full (kernel.msgmnb): the next one
    ready({"refused": refusal, "queued": queued, "queues": len(queues)})
    stop.wait()
    for q in queues:
        uipc.msgctl(q, uipc.IPC_RMID)
    return {"refused": refusal, "queued": queued, "queues": len(queues),
            "did": f"holds {queued >> 20} MiB in {len(queues)} queues"}


def fill(make: Callable[[], int], err: int) -> tuple[list[int], str]:
    """make() until it fails with ``err``: what was made, and the refusal."""
    made: list[int] = []
    while True:
        try:
            made.append(make())
        except OSError as exc:
            if exc.errno != err:
                raise
            return made, describe(exc)


# --- the parent: run the rows, print the table -----------------------------

@dataclass
class Row:
    attack: str
    p50: float
    p99: float
    did: str = "-"
    refused: str = "-"
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


ATTACKS: list[tuple[str, Attack]] = [
    ("1. connection flood", connection_flood),
    ("2. big semaphore sets", big_sets),
    ("3. introspection flood", introspection_flood),
    ("4. descriptor exhaustion", descriptor_exhaustion),
    ("5. memory", memory),
]


def percentiles(latencies: list[float]) -> tuple[float, float]:
    cuts = statistics.quantiles(latencies, n=100, method="inclusive")
    return statistics.median(latencies), cuts[98]


def rss(pid: int) -> int:
    """The daemon's VmRSS, in bytes."""
    with open(f"/proc/{pid}/status") as f:
        return int(next(line for line in f if line.startswith("VmRSS:")).split()[1]) * 1024


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def wait_for(predicate: Callable[[], bool], what: str, timeout: float = 120.0) -> None:
    """Poll an observable state until it holds (as conftest.wait_until)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.01)


class Run:
    """One measurement run against one daemon."""

    def __init__(self, daemon: DaemonProc, n: int, pace_us: int = PACE_US) -> None:
        self.daemon, self.n, self.pace_us = daemon, n, pace_us
        self.workers: list[Worker] = []
        self.by: Worker | None = None
        self.quiet_fds = 0
        self.rss: dict[str, int] = {}

    def start(self) -> None:
        """The bystander, and the daemon's descriptor count with it connected."""
        self.by = self._worker(BYSTANDER_UID, bystander)
        self.by.expect("ready")
        self.quiet_fds = open_fds(self.daemon.pid)
        self.rss["fresh"] = rss(self.daemon.pid)

    def _worker(self, uid: int, body: Callable[[Channel], None]) -> Worker:
        w = Worker(uid, body)
        self.workers.append(w)
        return w

    def measure(self, attack: str) -> Row:
        assert self.by is not None
        p50, p99 = percentiles(self.by.ask("measure", self.n, self.pace_us))
        return Row(attack, p50, p99)

    def attack(self, name: str, fn: Attack) -> Row:
        """The bystander's figures while ``fn`` runs (it is ready first and
        stopped after); then wait until the daemon is back to its quiet
        descriptor count (the attacker's connections and pidfd closed)."""
        pid = self.daemon.pid
        if fn is memory:
            self.rss["before"] = rss(pid)
        a = self._worker(ATTACKER_UID, attacker(fn))
        info = a.expect("ready")
        row = self.measure(name)
        row.extra["rss_during"] = rss(pid)
        if fn is descriptor_exhaustion:
            self._probe_descriptors(row)
        a.send(("stop",))
        done = a.expect("done")
        a.reap()
        if fn is memory:
            self.rss["full"] = row.extra["rss_during"]
            # the daemon trims what it freed at the end of the turn that freed
            # it: a measurement window of about a second, not synchronisation
            time.sleep(1.0)
            self.rss["after"] = rss(pid)
        wait_for(lambda: open_fds(pid) <= self.quiet_fds, "the daemon to close the attacker's fds")
        row.extra["rss_after"] = rss(pid)
        row.did, row.refused = done.get("did", "-"), done.get("refused") or info.get("refused", "-")
        if done.get("dropped"):
            row.note = "; ".join(filter(None, (row.note, f"the daemon dropped {done['dropped']} "
                                               "of its connections")))
        row.extra.update({k: v for k, v in done.items() if k not in ("did", "refused")})
        return row

    def _probe_descriptors(self, row: Row) -> None:
        """While the attacker holds its segments: the daemon's descriptor
        count, and whether the bystander can still make a segment."""
        assert self.by is not None
        row.extra["daemon_fds"] = fds = open_fds(self.daemon.pid)
        row.extra["bystander_shmget"] = got = self.by.ask("shmget")
        row.note = f"the daemon has {fds} fds open; the bystander's shmget: {got}"

    def close(self) -> None:
        if self.by is not None and self.by.pid is not None:
            try:
                self.by.ask("quit")
                self.by.reap()
            except (OSError, EOFError, TimeoutError, RuntimeError):
                pass
        for w in self.workers:
            w.kill()


def run_all(quick: bool, pace_us: int = PACE_US) -> dict[str, Any]:
    """Start the daemon, run every row, stop it; nothing is left behind."""
    shm_before = set(os.listdir("/dev/shm"))
    saved_autostart = os.environ.get("UIPC_NO_AUTOSTART")
    os.environ["UIPC_NO_AUTOSTART"] = "1"  # a bug must not start a real per-user daemon
    tmp = Path(tempfile.mkdtemp(prefix="uipc-attacks-"))
    try:
        daemon = start_daemon(tmp, system=True)
        saved = reset_client(socket=str(daemon.socket))
        try:
            return run_rows(daemon, quick, pace_us)
        finally:
            reset_client(**saved)
            rc = stop_daemon(daemon)
            if rc != 0:
                print(f"warning: the daemon exited with {rc}", file=sys.stderr)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if saved_autostart is None:
            os.environ.pop("UIPC_NO_AUTOSTART", None)
        else:
            os.environ["UIPC_NO_AUTOSTART"] = saved_autostart
        left = set(os.listdir("/dev/shm")) - shm_before
        if left:
            print(f"warning: new in /dev/shm: {sorted(left)}", file=sys.stderr)


def run_rows(daemon: DaemonProc, quick: bool, pace_us: int) -> dict[str, Any]:
    """Idle, each attack, idle again; the children are gone when it returns."""
    if quick:
        for name, value in QUICK_QUOTAS.items():
            uipc.sysctl.set(f"uipc.quota.{name}", value)
    quotas = {k: v for k, v in uipc.sysctl.get_all().items() if k.startswith("uipc.quota.")}
    run = Run(daemon, QUICK_ROUND_TRIPS if quick else ROUND_TRIPS, pace_us)
    try:
        run.start()
        rows = [run.measure("0. idle")]
        for name, fn in ATTACKS:
            rows.append(run.attack(name, fn))
        rows.append(run.measure("idle again, after the attacks"))
    finally:
        run.close()
    return {"quick": quick, "round_trips": run.n, "pace_us": pace_us, "cpus": os.cpu_count(),
            "quotas": quotas, "rows": [asdict(r) for r in rows], "rss": dict(run.rss)}


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|")


def table(results: dict[str, Any]) -> str:
    """The Markdown for docs/security.md."""
    rows = results["rows"]
    idle = rows[0]
    mib = 1 << 20
    lines = ["| attack (uid 1000) | bystander p50 (µs) | p99 (µs) | p50 / idle | p99 / idle "
             "| daemon RSS during → after (MiB) | the attacker | refused with |",
             "|---|---:|---:|---:|---:|---:|---|---|"]
    for r in rows:
        did = r["did"] + (f"; {r['note']}" if r["note"] else "")
        during, after = r["extra"].get("rss_during"), r["extra"].get("rss_after")
        mem = f"{during / mib:.0f} → {after / mib:.0f}" if during and after else "-"
        lines.append(f"| {r['attack']} | {r['p50']:.0f} | {r['p99']:.0f} "
                     f"| {r['p50'] / idle['p50']:.1f}x | {r['p99'] / idle['p99']:.1f}x "
                     f"| {mem} | {_cell(did)} | {_cell(r['refused'])} |")
    m = {k: v / mib for k, v in results["rss"].items()}
    lines += ["", "| daemon VmRSS (MiB) | fresh | before attack 5 "
              "| full (attack 5 holds its quota) | after its queues are removed (+1 s) |",
              "|---|---:|---:|---:|---:|",
              f"| | {m.get('fresh', 0):.0f} | {m.get('before', 0):.0f} | {m.get('full', 0):.0f} "
              f"| {m.get('after', 0):.0f} |"]
    q = results["quotas"]
    quotas = ", ".join(f"{k.split('.')[-1]} {q[k]}" for k in sorted(q))
    pace = (f"one started every {results['pace_us']} µs" if results["pace_us"]
            else "back to back")
    lines += ["", f"{results['round_trips']} timed `semctl(GETVAL)` round trips per row, {pace} "
              f"(uid 1001, in its own namespace); {results['cpus']} CPUs; quotas"
              f"{' (lowered: --quick)' if results['quick'] else ''}: {quotas}."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.reliability.attacks",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="fewer round trips and lowered quotas: a smoke run")
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    parser.add_argument("--pace-us", type=int, default=PACE_US, metavar="US",
                        help=f"start a round trip every US microseconds (default {PACE_US}; "
                        "0: back to back)")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print("attacks: needs root (to setuid the attacker and the bystander)", file=sys.stderr)
        return 2
    results = run_all(args.quick, max(0, args.pace_us))
    print(table(results))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
