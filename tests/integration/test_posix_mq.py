"""POSIX message queues through the real daemon, with real processes.

What ipc/mqueue.c promises, checked across fork()ed processes: priority
order, blocking and timed sends and receives, mq_notify (a real signal
with SI_MESGQ's siginfo, SIGEV_THREAD, one registration per queue and
when it goes), unlink while open, a descriptor shared by fork, the
descriptor's readiness in select/poll/epoll/asyncio, what a killed sleeper
leaves, close-on-exec, other users' access, and ``uipc.posix.MessageQueue``.

Waiting for a sleeper: introspection shows SysV sleepers only, so
:meth:`Kid.wait_parked` reads the kernel's view of the child instead: it
sits in recvfrom/recvmsg on its uipc connection, the daemon has read all
it sent (the socket's SIOCOUTQ is 0), no reply waits (SIOCINQ is 0), and
that still holds, with no context switch of the child, after two round
trips of ours through the daemon (so the turn that handled the request
is over and answered nothing).  The socket is looked at through a
pidfd_getfd(2) copy, closed at once after.
"""
from __future__ import annotations

import asyncio
import ctypes
import errno
import fcntl
import os
import platform
import select
import signal
import struct
import threading
import time
import traceback
from typing import Any, Callable, Iterator

import pytest

import uipc
from tests.conftest import wait_until
from tests.helpers import NOBODY, errno_of, recv_obj, send_obj, snapshot
from uipc.posix import MessageQueue
from uipc.uapi.mqueue import SIGEV_NONE, SIGEV_SIGNAL, SIGEV_THREAD, SI_MESGQ, MqAttr, SigEvent

O_CREAT, O_EXCL, O_NONBLOCK, O_CLOEXEC = os.O_CREAT, os.O_EXCL, os.O_NONBLOCK, os.O_CLOEXEC
O_RDONLY, O_WRONLY, O_RDWR = os.O_RDONLY, os.O_WRONLY, os.O_RDWR

# --- the machine: syscall numbers the sleep detection reads -------------------------
#: recvfrom, recvmsg: a client waiting for its reply; select..epoll_pwait2: a poller asleep
_SYSCALLS = {
    "x86_64": ({"45", "47"}, {"23", "270", "7", "271", "232", "281", "441"}),
    "aarch64": ({"207", "212"}, {"72", "73", "22", "441"}),
}
RECV_SYSCALLS, POLL_SYSCALLS = _SYSCALLS.get(platform.machine(), (set(), set()))
pytestmark = pytest.mark.skipif(not RECV_SYSCALLS, reason="syscall numbers known for "
                                "x86_64 and aarch64 only")

SYS_PIDFD_GETFD = 438
SIOCINQ, SIOCOUTQ = 0x541B, 0x5411
_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


def in_syscall(pid: int, numbers: set[str]) -> bool:
    """Is ``pid``'s main thread asleep in one of these syscalls (/proc/PID/syscall)?"""
    try:
        with open(f"/proc/{pid}/syscall") as f:
            return f.read().split()[0] in numbers
    except (OSError, IndexError):
        return False


def _context_switches(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("voluntary_ctxt_switches:"):
                return int(line.split()[1])
    raise AssertionError(f"no voluntary_ctxt_switches for pid {pid}")


def _queued(sock: int) -> tuple[int, int]:
    """(unread bytes, bytes sent but not yet read by the peer) of a unix socket."""
    zero = struct.pack("i", 0)
    inq = struct.unpack("i", fcntl.ioctl(sock, SIOCINQ, zero))[0]
    outq = struct.unpack("i", fcntl.ioctl(sock, SIOCOUTQ, zero))[0]
    return inq, outq


def round_trip() -> None:
    """One call of ours through the daemon (cheap, no side effect)."""
    uipc.introspect.page("processes", 0, 1)


# --- forked processes ---------------------------------------------------------------
class Kid:
    """A forked process running ``fn(kid)``: it can ``tell`` the parent
    things and wait for the parent's ``go``; its result (or its failure)
    comes last.  ``ready()`` says its next uipc call is the one to sleep in."""

    def __init__(self, fn: Callable[["Kid"], Any]) -> None:
        up_r, up_w = os.pipe()
        down_r, down_w = os.pipe()
        pid = os.fork()
        if pid == 0:
            try:
                os.close(up_r)
                os.close(down_w)
                self._up, self._down = up_w, down_r
                try:
                    out: Any = ("ok", fn(self))
                except BaseException as exc:  # noqa: BLE001 - reported to the parent
                    out = ("err", repr(exc), traceback.format_exc())
                try:
                    send_obj(up_w, out)
                except Exception:  # noqa: BLE001 - unpicklable result: say so
                    send_obj(up_w, ("err", "unpicklable result", traceback.format_exc()))
            finally:
                os._exit(0)
        os.close(up_w)
        os.close(down_r)
        self.pid = pid
        self._up, self._down = up_r, down_w
        self.reaped = False

    # -- in the child
    def tell(self, obj: Any = None) -> None:
        send_obj(self._up, ("tell", obj))

    def wait_go(self, timeout: float = 30.0) -> Any:
        return recv_obj(self._down, timeout)

    def ready(self) -> None:
        """Tell the parent which descriptor is this thread's uipc connection
        (opening it now): the next call's request goes there."""
        from uipc.client.connection import get_connection
        self.tell(("conn", get_connection().sock.fileno()))

    # -- in the parent
    def go(self, obj: Any = None) -> None:
        send_obj(self._down, obj)

    def hear(self, timeout: float = 10.0) -> Any:
        """The child's next ``tell``."""
        kind, *rest = recv_obj(self._up, timeout)
        if kind != "tell":
            self._reap()
            raise AssertionError(f"child ended instead of telling: {rest}")
        return rest[0]

    def result(self, timeout: float = 30.0) -> Any:
        while True:
            kind, *rest = recv_obj(self._up, timeout)
            if kind != "tell":
                break
        self._reap()
        if kind == "err":
            raise AssertionError(f"child failed: {rest[0]}\n{rest[1]}")
        return rest[0]

    def wait_parked(self, timeout: float = 10.0) -> None:
        """Wait until the child sleeps in the daemon, in the call after ready()."""
        kind, fd = self.hear()
        assert kind == "conn"
        pidfd = os.pidfd_open(self.pid)
        try:
            sock = _libc.syscall(SYS_PIDFD_GETFD, pidfd, fd, 0)
            if sock < 0:
                raise OSError(ctypes.get_errno(), "pidfd_getfd of the child's connection")
        finally:
            os.close(pidfd)
        try:
            wait_until(lambda: self._parked(sock), timeout, what=f"pid {self.pid} asleep in "
                       "the daemon")
        finally:
            os.close(sock)  # our copy would keep its connection open after it dies

    def _parked(self, sock: int) -> bool:
        def still() -> int | None:
            if not in_syscall(self.pid, RECV_SYSCALLS) or _queued(sock) != (0, 0):
                return None
            return _context_switches(self.pid)
        before = still()
        if before is None:
            return False
        round_trip()
        round_trip()
        return still() == before

    def kill(self, sig: int = signal.SIGKILL) -> None:
        os.kill(self.pid, sig)
        self._reap()

    def _reap(self) -> None:
        if not self.reaped:
            self.reaped = True
            os.waitpid(self.pid, 0)
            os.close(self._up)
            os.close(self._down)

    def cleanup(self) -> None:
        if not self.reaped:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self._reap()


@pytest.fixture
def kids() -> Iterator[Callable[[Callable[[Kid], Any]], Kid]]:
    """Fork Kids; whatever is left at the end is killed and reaped."""
    made: list[Kid] = []

    def spawn(fn: Callable[[Kid], Any]) -> Kid:
        kid = Kid(fn)
        made.append(kid)
        return kid

    yield spawn
    for kid in made:
        kid.cleanup()


class Queues:
    """mq_open for one test: every queue it creates is unlinked after it,
    every descriptor still open is closed."""

    def __init__(self) -> None:
        self.fds: list[int] = []
        self.names: set[str] = set()

    def open(self, name: str, oflag: int = O_CREAT | O_RDWR, mode: int = 0o600,
             maxmsg: int | None = 4, msgsize: int = 64) -> int:
        attr = MqAttr(0, maxmsg, msgsize) if maxmsg else None
        fd = uipc.mq_open(name, oflag, mode, attr)
        self.fds.append(fd)
        if oflag & O_CREAT:
            self.names.add(name)
        return fd

    def closed(self, fd: int) -> None:
        """The test closed ``fd`` itself."""
        self.fds.remove(fd)

    def cleanup(self) -> None:
        for fd in self.fds:
            try:
                uipc.mq_close(fd)
            except OSError:
                pass
        for name in self.names:
            try:
                uipc.mq_unlink(name)
            except OSError:
                pass


@pytest.fixture
def mq(ns: str) -> Iterator[Queues]:
    q = Queues()
    yield q
    q.cleanup()



def drain(fd: int, msgsize: int = 64) -> list[tuple[bytes, int]]:
    """Every message waiting now, in receive order."""
    out = []
    while uipc.mq_getattr(fd).mq_curmsgs:
        out.append(uipc.mq_receive(fd, msgsize))
    return out


# --- priorities ---------------------------------------------------------------------
PRIOS = (0, 7, 31, 7, 0, 32767)


def _sender(name: str, tag: int, count: int) -> Callable[[Kid], None]:
    def run(kid: Kid) -> None:
        fd = uipc.mq_open(name, O_WRONLY)
        kid.wait_go()  # every sender starts at once
        for i in range(count):
            uipc.mq_send(fd, f"{tag}:{i}".encode(), PRIOS[i % len(PRIOS)])
        uipc.mq_close(fd)
    return run


def _check_fifo_per_sender(got: list[tuple[bytes, int]], senders: int, count: int) -> None:
    """Nothing lost or duplicated; each sender's messages of one priority in its order."""
    expected = {(f"{t}:{i}".encode(), PRIOS[i % len(PRIOS)])
                for t in range(senders) for i in range(count)}
    assert len(got) == len(expected) and set(got) == expected
    for tag in range(senders):
        for prio in set(PRIOS):
            seq = [int(m.split(b":")[1]) for m, p in got if m.startswith(f"{tag}:".encode())
                   and p == prio]
            assert seq == sorted(seq), f"sender {tag}, priority {prio}: {seq}"


def test_priority_order_under_concurrent_senders(mq: Queues, kids) -> None:
    """msg_insert/msg_get: highest priority first, FIFO within one, whoever sent."""
    senders, count = 4, 12
    # the namespace's own limit (the tests may lack CAP_SYS_RESOURCE, which lifts it)
    uipc.sysctl.set("fs.mqueue.msg_max", senders * count)
    fd = mq.open("/prio", maxmsg=senders * count)
    procs = [kids(_sender("/prio", t, count)) for t in range(senders)]
    for p in procs:
        p.go()
    for p in procs:
        p.result()
    got = drain(fd)
    _check_fifo_per_sender(got, senders, count)
    prios = [p for _, p in got]
    assert prios == sorted(prios, reverse=True)


def test_concurrent_senders_blocking_on_a_small_queue_lose_nothing(mq: Queues, kids) -> None:
    """Senders sleeping on a full queue (pipelined_receive refills it) and
    a receiver in another process: every message arrives exactly once."""
    senders, count = 4, 25
    mq.open("/small", maxmsg=2)

    def receiver(kid: Kid) -> list[tuple[bytes, int]]:
        fd = uipc.mq_open("/small", O_RDONLY)
        return [uipc.mq_receive(fd, 64) for _ in range(senders * count)]

    rx = kids(receiver)
    procs = [kids(_sender("/small", t, count)) for t in range(senders)]
    for p in procs:
        p.go()
    for p in procs:
        p.result()
    _check_fifo_per_sender(rx.result(), senders, count)


# --- blocking, timeouts, errors ------------------------------------------------------
def test_blocking_receive_is_woken_by_a_send_from_another_process(mq: Queues, kids) -> None:
    fd = mq.open("/wake")

    def receiver(kid: Kid) -> tuple[bytes, int]:
        kid.ready()
        return uipc.mq_receive(fd, 64)

    rx = kids(receiver)
    rx.wait_parked()
    uipc.mq_send(fd, b"wake up", 9)
    assert rx.result() == (b"wake up", 9)
    # pipelined_send: handed to the sleeper, never queued
    assert uipc.mq_getattr(fd).mq_curmsgs == 0


def test_blocking_send_on_a_full_queue_is_woken_by_a_receive(mq: Queues, kids) -> None:
    fd = mq.open("/full", maxmsg=2)
    uipc.mq_send(fd, b"one", 1)
    uipc.mq_send(fd, b"two", 2)

    def sender(kid: Kid) -> str:
        kid.ready()
        uipc.mq_send(fd, b"three", 3)
        return "sent"

    tx = kids(sender)
    tx.wait_parked()
    assert uipc.mq_getattr(fd).mq_curmsgs == 2  # its message waits with it
    assert uipc.mq_receive(fd, 64) == (b"two", 2)
    assert tx.result() == "sent"
    # pipelined_receive put the sleeper's message in the room made
    assert drain(fd) == [(b"three", 3), (b"one", 1)]


def test_timed_receive_and_send_time_out(mq: Queues) -> None:
    fd = mq.open("/timed", maxmsg=1)
    start = time.monotonic()
    with pytest.raises(OSError) as info:
        uipc.mq_timedreceive(fd, 64, time.time() + 0.1)
    assert info.value.errno == errno.ETIMEDOUT
    assert time.monotonic() - start >= 0.09
    # a deadline already past fails a call that would sleep, at once
    assert errno_of(lambda: uipc.mq_timedreceive(fd, 64, time.time() - 10)) == errno.ETIMEDOUT
    uipc.mq_send(fd, b"x")
    start = time.monotonic()
    assert errno_of(lambda: uipc.mq_timedsend(fd, b"y", 0, time.time() + 0.1)) == errno.ETIMEDOUT
    assert time.monotonic() - start >= 0.09
    assert errno_of(lambda: uipc.mq_timedsend(fd, b"y", 0, 0)) == errno.ETIMEDOUT
    # ... and not one that would not: a message waits
    assert uipc.mq_timedreceive(fd, 64, time.time() - 10) == (b"x", 0)
    assert uipc.mq_getattr(fd).mq_curmsgs == 0


def test_negative_timeout_is_einval_even_when_no_wait_is_needed(mq: Queues) -> None:
    """prepare_timeout() runs first: tv_sec < 0 is EINVAL whatever the queue holds."""
    fd = mq.open("/neg", maxmsg=2)
    assert errno_of(lambda: uipc.mq_timedreceive(fd, 64, -1)) == errno.EINVAL
    assert errno_of(lambda: uipc.mq_timedsend(fd, b"a", 0, -0.5)) == errno.EINVAL
    assert uipc.mq_getattr(fd).mq_curmsgs == 0  # that send did nothing
    uipc.mq_send(fd, b"a")
    assert errno_of(lambda: uipc.mq_timedreceive(fd, 64, -1)) == errno.EINVAL
    assert uipc.mq_getattr(fd).mq_curmsgs == 1


def test_timed_receive_woken_before_its_deadline_and_a_timed_out_one_leaves_nothing(
        mq: Queues, kids) -> None:
    fd = mq.open("/deadline")

    def receiver(deadline: float) -> Callable[[Kid], Any]:
        def run(kid: Kid) -> Any:
            kid.ready()
            try:
                return uipc.mq_timedreceive(fd, 64, time.time() + deadline)
            except OSError as exc:
                return errno.errorcode[exc.errno]
        return run

    rx = kids(receiver(30))
    rx.wait_parked()
    uipc.mq_send(fd, b"in time", 1)
    assert rx.result() == (b"in time", 1)
    rx = kids(receiver(0.2))
    assert rx.result() == "ETIMEDOUT"
    uipc.mq_send(fd, b"after")
    assert uipc.mq_getattr(fd).mq_curmsgs == 1  # the timed-out receiver is not waiting


def test_a_signal_interrupts_a_blocked_receive_without_a_ghost(mq: Queues, kids) -> None:
    fd = mq.open("/sigint")

    def receiver(kid: Kid) -> str:
        kid.ready()
        try:
            uipc.mq_receive(fd, 64)
        except KeyboardInterrupt:
            # the connection is still in step: another call works
            uipc.mq_send(fd, b"after ctrl-c", 2)
            return "KeyboardInterrupt"
        return "no interrupt"

    rx = kids(receiver)
    rx.wait_parked()
    os.kill(rx.pid, signal.SIGINT)
    assert rx.result() == "KeyboardInterrupt"
    uipc.mq_send(fd, b"later")
    assert drain(fd) == [(b"after ctrl-c", 2), (b"later", 0)]


def test_nonblocking_eagain_and_emsgsize(mq: Queues) -> None:
    fd = mq.open("/nb", O_CREAT | O_RDWR | O_NONBLOCK, maxmsg=2, msgsize=16)
    assert uipc.mq_getattr(fd).mq_flags & O_NONBLOCK
    assert errno_of(lambda: uipc.mq_receive(fd, 16)) == errno.EAGAIN
    assert errno_of(lambda: uipc.mq_send(fd, b"x" * 17)) == errno.EMSGSIZE
    uipc.mq_send(fd, b"x" * 16)
    uipc.mq_send(fd, b"y")
    assert errno_of(lambda: uipc.mq_send(fd, b"z")) == errno.EAGAIN
    # O_NONBLOCK wins over a timeout
    assert errno_of(lambda: uipc.mq_timedsend(fd, b"z", 0, time.time() + 5)) == errno.EAGAIN
    # a buffer smaller than mq_msgsize, even if the message would fit
    assert errno_of(lambda: uipc.mq_receive(fd, 15)) == errno.EMSGSIZE
    assert drain(fd, 16) == [(b"x" * 16, 0), (b"y", 0)]


def test_name_attribute_and_priority_errors(mq: Queues) -> None:
    assert errno_of(lambda: uipc.mq_open("noslash", O_CREAT | O_RDWR)) == errno.EINVAL  # glibc
    assert errno_of(lambda: uipc.mq_open("/a/b", O_CREAT | O_RDWR)) == errno.EACCES
    assert errno_of(lambda: uipc.mq_open("/" + "n" * 256, O_CREAT | O_RDWR)) == errno.ENAMETOOLONG
    assert errno_of(lambda: uipc.mq_open("/zero", O_CREAT | O_RDWR, 0o600,
                                         MqAttr(0, 0, 8))) == errno.EINVAL
    fd = mq.open("/attrs", maxmsg=2, msgsize=8)
    assert errno_of(lambda: uipc.mq_send(fd, b"x", 32768)) == errno.EINVAL  # MQ_PRIO_MAX
    uipc.mq_send(fd, b"x", 32767)
    # mq_setattr: only O_NONBLOCK; it returns the old attributes
    assert errno_of(lambda: uipc.mq_setattr(fd, MqAttr(O_CREAT))) == errno.EINVAL
    old = uipc.mq_setattr(fd, MqAttr(O_NONBLOCK, 99, 99, 99))
    assert old == MqAttr(0, 2, 8, 1)
    assert uipc.mq_getattr(fd) == MqAttr(O_NONBLOCK, 2, 8, 1)  # maxmsg and msgsize untouched
    assert uipc.mq_setattr(fd, MqAttr(0)).mq_flags == O_NONBLOCK


needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="setuid children need root")


def _become_nobody() -> None:
    os.setgroups([])
    os.setgid(NOBODY)
    os.setuid(NOBODY)


@needs_root
def test_unlinked_queue_gives_its_rlimit_bytes_back_at_its_last_close(mq: Queues, kids) -> None:
    """mqueue_evict_inode(): the creator's RLIMIT_MSGQUEUE bytes come back
    when the queue has neither name nor descriptor, not before."""
    import resource

    def creator(kid: Kid) -> list[int]:
        _become_nobody()
        # one queue of 1 x 8 bytes costs 8 + 48 + 48 (mq_treesize): room for one only
        resource.setrlimit(resource.RLIMIT_MSGQUEUE, (150, 150))
        attr = MqAttr(0, 1, 8)
        first = uipc.mq_open("/bytes1", O_CREAT | O_RDWR, 0o600, attr)
        out = [errno_of(lambda: uipc.mq_open("/bytes2", O_CREAT | O_RDWR, 0o600, attr))]
        uipc.mq_unlink("/bytes1")
        out.append(errno_of(lambda: uipc.mq_open("/bytes2", O_CREAT | O_RDWR, 0o600, attr)))
        uipc.mq_close(first)
        second = uipc.mq_open("/bytes2", O_CREAT | O_RDWR, 0o600, attr)
        uipc.mq_close(second)
        uipc.mq_unlink("/bytes2")
        return out

    assert kids(creator).result() == [errno.EMFILE, errno.EMFILE]


# --- mq_notify ----------------------------------------------------------------------
NOTIFY_SIG = signal.SIGRTMIN + 3


def _take_signal(signo: int, timeout: float = 10.0) -> dict[str, int] | None:
    """sigtimedwait() for a blocked ``signo``: the raw siginfo's fields
    (si_value at offset 24 on LP64), or None if none came."""
    mask = ctypes.create_string_buffer(128)
    _libc.sigemptyset(mask)
    _libc.sigaddset(mask, signo)
    info = ctypes.create_string_buffer(128)
    ts = struct.pack("ll", int(timeout), int((timeout % 1) * 1e9))
    if _libc.sigtimedwait(mask, info, ctypes.c_char_p(ts)) < 0:
        assert ctypes.get_errno() == errno.EAGAIN
        return None
    raw = info.raw
    signo_, errno_, code = struct.unpack_from("iii", raw, 0)
    pid, uid = struct.unpack_from("iI", raw, 16)
    (value,) = struct.unpack_from("q", raw, 24)
    return {"signo": signo_, "errno": errno_, "code": code, "pid": pid, "uid": uid,
            "value": value}


def _signal_registrant(name: str, value: int, rounds: int = 1) -> Callable[[Kid], Any]:
    """A process that registers for NOTIFY_SIG (blocked) and reports each
    signal it takes after a go; then whether another one is pending."""
    def run(kid: Kid) -> Any:
        signal.pthread_sigmask(signal.SIG_BLOCK, {NOTIFY_SIG})
        fd = uipc.mq_open(name, O_RDONLY)
        uipc.mq_notify(fd, SigEvent(SIGEV_SIGNAL, NOTIFY_SIG, value))
        kid.tell("registered")
        taken = []
        for _ in range(rounds):
            kid.wait_go()
            taken.append(_take_signal(NOTIFY_SIG))
            kid.tell("taken")
        kid.wait_go()
        # the daemon sends a notification before it answers the send that
        # caused it, so a signal owed now would already be pending
        return taken, NOTIFY_SIG in signal.sigpending()
    return run


@needs_root
def test_notify_signal_carries_si_mesgq_sender_and_value(mq: Queues, kids, no_umask) -> None:
    """__do_notify(): sigev_signo with si_code SI_MESGQ, si_pid and si_uid
    of the sending process, and the registered sigev_value (64 bits)."""
    fd = mq.open("/notify", mode=0o666)
    value = -0x123456789ABCDEF
    reg = kids(_signal_registrant("/notify", value))
    assert reg.hear() == "registered"
    assert f"NOTIFY_PID:{reg.pid}" in uipc.mq_fileinfo(fd).replace(" ", "")
    reg.go()

    def sender(kid: Kid) -> int:
        _become_nobody()
        q = uipc.mq_open("/notify", O_WRONLY)
        uipc.mq_send(q, b"news")
        return os.getpid()

    tx = kids(sender)
    sender_pid = tx.result()
    assert reg.hear() == "taken"
    reg.go()
    taken, pending = reg.result()
    assert taken == [{"signo": NOTIFY_SIG, "errno": 0, "code": SI_MESGQ, "pid": sender_pid,
                      "uid": NOBODY, "value": value}]
    assert SI_MESGQ == -3
    assert not pending
    assert uipc.mq_receive(fd, 64) == (b"news", 0)


def test_notify_fires_once_then_is_unregistered(mq: Queues, kids) -> None:
    fd = mq.open("/once")
    reg = kids(_signal_registrant("/once", 5))
    assert reg.hear() == "registered"
    reg.go()
    uipc.mq_send(fd, b"first")
    assert reg.hear() == "taken"
    assert "NOTIFY_PID:0" in uipc.mq_fileinfo(fd).replace(" ", "")
    assert uipc.mq_receive(fd, 64) == (b"first", 0)
    uipc.mq_send(fd, b"second")  # empty queue again, but nobody registered
    reg.go()
    taken, pending = reg.result()
    assert taken[0]["code"] == SI_MESGQ and taken[0]["value"] == 5
    assert not pending
    uipc.mq_notify(fd, SigEvent(SIGEV_NONE))  # free for anyone now
    uipc.mq_notify(fd, None)


def test_notify_is_not_fired_while_a_receiver_waits(mq: Queues, kids) -> None:
    """pipelined_send() hands the message over: no notification, and the
    registration stays for the next message that does queue."""
    fd = mq.open("/busyrx")
    reg = kids(_signal_registrant("/busyrx", 11, rounds=1))
    assert reg.hear() == "registered"

    def receiver(kid: Kid) -> tuple[bytes, int]:
        q = uipc.mq_open("/busyrx", O_RDONLY)
        kid.ready()
        return uipc.mq_receive(q, 64)

    rx = kids(receiver)
    rx.wait_parked()
    uipc.mq_send(fd, b"taken by the sleeper")
    assert rx.result() == (b"taken by the sleeper", 0)
    assert f"NOTIFY_PID:{reg.pid}" in uipc.mq_fileinfo(fd).replace(" ", "")
    assert NOTIFY_SIG not in _pending_of(reg.pid)
    uipc.mq_send(fd, b"queued")  # now it fires
    reg.go()
    assert reg.hear() == "taken"
    reg.go()
    taken, pending = reg.result()
    assert taken[0]["value"] == 11 and not pending


def _pending_of(pid: int) -> set[int]:
    """The signals pending for process ``pid`` (ShdPnd of /proc/PID/status)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("ShdPnd:"):
                mask = int(line.split()[1], 16)
                return {n + 1 for n in range(64) if mask >> n & 1}
    return set()


def test_notify_thread_runs_the_function_in_another_thread(mq: Queues, kids) -> None:
    """SIGEV_THREAD: the function runs in a thread of the registering
    process, with sigev_value."""
    fd = mq.open("/thread")

    def registrant(kid: Kid) -> list[tuple[int, bool, bool]]:
        q = uipc.mq_open("/thread", O_RDONLY)
        ran: list[tuple[int, int, int]] = []
        done = threading.Semaphore(0)

        def fn(value: int) -> None:
            ran.append((value, threading.get_ident(), os.getpid()))
            if value == 4242:  # mq_notify(3)'s example: register again from the function
                uipc.mq_notify(q, SigEvent(SIGEV_THREAD, 0, 4343, fn))
            done.release()

        uipc.mq_notify(q, SigEvent(SIGEV_THREAD, 0, 4242, fn))
        kid.tell("registered")
        assert done.acquire(timeout=10), "the notification function did not run"
        kid.tell("ran")
        assert done.acquire(timeout=10), "the second notification did not run"
        return [(value, ident != threading.get_ident(), pid == os.getpid())
                for value, ident, pid in ran]

    reg = kids(registrant)
    assert reg.hear() == "registered"
    uipc.mq_send(fd, b"go")
    assert reg.hear() == "ran"
    # the function registered again before it returned; the queue must be empty to fire
    wait_until(lambda: f"NOTIFY_PID:{reg.pid}" in uipc.mq_fileinfo(fd).replace(" ", ""),
               what="the second registration")
    assert uipc.mq_receive(fd, 64) == (b"go", 0)
    uipc.mq_send(fd, b"again")
    assert reg.result() == [(4242, True, True), (4343, True, True)]
    assert "NOTIFY_PID:0" in uipc.mq_fileinfo(fd).replace(" ", "")


def test_second_registration_is_ebusy(mq: Queues, kids) -> None:
    fd = mq.open("/ebusy")
    uipc.mq_notify(fd, SigEvent(SIGEV_NONE))
    assert errno_of(lambda: uipc.mq_notify(fd, SigEvent(SIGEV_NONE))) == errno.EBUSY

    def other(kid: Kid) -> list[int]:
        q = uipc.mq_open("/ebusy", O_RDONLY)
        first = errno_of(lambda: uipc.mq_notify(q, SigEvent(SIGEV_NONE)))
        # unregistering someone else's registration does nothing
        uipc.mq_notify(q, None)
        kid.tell("tried")
        kid.wait_go()
        return [first, errno_of(lambda: uipc.mq_notify(q, SigEvent(SIGEV_NONE)))]

    kid = kids(other)
    assert kid.hear() == "tried"
    assert f"NOTIFY_PID:{os.getpid()}" in uipc.mq_fileinfo(fd).replace(" ", "")
    uipc.mq_notify(fd, None)
    kid.go()
    assert kid.result() == [errno.EBUSY, 0]


def _registered_then(name: str, end: str) -> Callable[[Kid], Any]:
    """Open ``name`` (a description of its own), register, then drop the
    descriptor by ``end`` ("mq_close", "os.close" or "stay"), and wait."""
    def run(kid: Kid) -> None:
        q = uipc.mq_open(name, O_RDONLY)
        uipc.mq_notify(q, SigEvent(SIGEV_NONE))
        if end == "mq_close":
            uipc.mq_close(q)
        elif end == "os.close":
            os.close(q)
        kid.tell("done")
        kid.wait_go(60)
    return run


def _may_register(fd: int) -> bool:
    """Try to register (SIGEV_NONE); True if it worked (EBUSY: someone holds it)."""
    err = errno_of(lambda: uipc.mq_notify(fd, SigEvent(SIGEV_NONE)))
    assert err in (0, errno.EBUSY)
    return err == 0


@pytest.mark.parametrize("end", ["mq_close", "os.close", "kill -9"])
def test_registration_goes_with_its_process_descriptor(mq: Queues, kids, end: str) -> None:
    """mqueue_flush_file(): the owner's close unregisters (os.close too: the
    daemon sees the doorbell's last close through inotify); so does exit."""
    fd = mq.open("/owner")
    kid = kids(_registered_then("/owner", "stay" if end == "kill -9" else end))
    assert kid.hear() == "done"
    if end == "mq_close":
        assert _may_register(fd)  # mq_close told the daemon before it returned
    else:
        if end == "kill -9":
            assert not _may_register(fd)
            kid.kill()
        wait_until(lambda: _may_register(fd), what=f"the registration to go ({end})")
    assert f"NOTIFY_PID:{os.getpid()}" in uipc.mq_fileinfo(fd).replace(" ", "")
    uipc.mq_notify(fd, None)


def test_os_close_of_a_duplicated_descriptor(mq: Queues) -> None:
    """docs/deviations.md ("closing one of several descriptors of a queue"):
    Linux unregisters at every close(2) of the owner; uipc sees a plain
    os.close only when the open description's last descriptor goes."""
    fd = mq.open("/dup")
    other = mq.open("/dup", O_RDONLY)  # a description of its own, to try registering with
    uipc.mq_notify(fd, SigEvent(SIGEV_NONE))
    copy = os.dup(fd)
    os.close(fd)
    mq.closed(fd)
    assert not _may_register(other)  # the copy keeps the description, and the registration
    uipc.mq_send(copy, b"the copy works")
    os.close(copy)
    wait_until(lambda: _may_register(other), what="the registration to go with the last close")
    assert uipc.mq_receive(other, 64) == (b"the copy works", 0)


def test_mq_close_leaves_a_duplicated_descriptor_usable(mq: Queues) -> None:
    fd = mq.open("/dupclose")
    copy = os.dup(fd)
    mq.fds.append(copy)
    uipc.mq_close(fd)
    mq.closed(fd)
    uipc.mq_send(copy, b"still open")
    assert uipc.mq_receive(copy, 64) == (b"still open", 0)


# --- names --------------------------------------------------------------------------
def test_unlink_while_open_and_name_reused_at_once(mq: Queues) -> None:
    old = mq.open("/reuse", maxmsg=3, msgsize=32)
    uipc.mq_send(old, b"old", 3)
    uipc.mq_unlink("/reuse")
    assert errno_of(lambda: uipc.mq_open("/reuse", O_RDWR)) == errno.ENOENT
    assert errno_of(lambda: uipc.mq_unlink("/reuse")) == errno.ENOENT
    new = mq.open("/reuse", O_CREAT | O_EXCL | O_RDWR, maxmsg=2, msgsize=16)
    a, b = uipc.mq_getattr(old), uipc.mq_getattr(new)
    assert (a.mq_maxmsg, a.mq_msgsize, a.mq_curmsgs) == (3, 32, 1)
    assert (b.mq_maxmsg, b.mq_msgsize, b.mq_curmsgs) == (2, 16, 0)
    uipc.mq_send(new, b"new", 1)
    uipc.mq_send(old, b"old2", 2)
    assert drain(old, 32) == [(b"old", 3), (b"old2", 2)]
    assert drain(new, 16) == [(b"new", 1)]
    # the unlinked queue lives until its last descriptor goes; then nothing of it is left
    uipc.mq_close(old)
    mq.closed(old)
    again = mq.open("/reuse", O_RDONLY)  # the name is the new queue's
    assert uipc.mq_getattr(again).mq_msgsize == 16


# --- fork ---------------------------------------------------------------------------
def test_fork_child_shares_the_open_description(mq: Queues, kids) -> None:
    fd = mq.open("/fork")
    uipc.mq_send(fd, b"for the child", 4)

    def child(kid: Kid) -> tuple[bytes, int]:
        got = uipc.mq_receive(fd, 64)
        uipc.mq_send(fd, b"from the child", 5)
        uipc.mq_setattr(fd, MqAttr(O_NONBLOCK))  # the description's flag: the parent's too
        return got

    assert kids(child).result() == (b"for the child", 4)
    attr = uipc.mq_getattr(fd)
    assert attr.mq_flags & O_NONBLOCK and attr.mq_curmsgs == 1
    assert uipc.mq_receive(fd, 64) == (b"from the child", 5)
    assert errno_of(lambda: uipc.mq_receive(fd, 64)) == errno.EAGAIN
    # a descriptor of its own is another description: blocking as opened
    own = mq.open("/fork", O_RDWR)
    assert not uipc.mq_getattr(own).mq_flags & O_NONBLOCK
    # the child's exit closed its copy only
    uipc.mq_send(fd, b"still open")
    assert uipc.mq_receive(own, 64) == (b"still open", 0)


# --- readiness of the descriptor --------------------------------------------------------
def _select(fd: int) -> tuple[bool, bool]:
    r, w, _ = select.select([fd], [fd], [], 0)
    return bool(r), bool(w)


def _poll(fd: int) -> tuple[bool, bool]:
    p = select.poll()
    p.register(fd, select.POLLIN | select.POLLOUT)
    events = dict(p.poll(0)).get(fd, 0)
    return bool(events & select.POLLIN), bool(events & select.POLLOUT)


def _epoll(fd: int) -> tuple[bool, bool]:
    with select.epoll() as ep:
        ep.register(fd, select.EPOLLIN | select.EPOLLOUT)
        events = dict(ep.poll(0)).get(fd, 0)
    return bool(events & select.EPOLLIN), bool(events & select.EPOLLOUT)


@pytest.mark.parametrize("probe", [_select, _poll, _epoll], ids=["select", "poll", "epoll"])
def test_readiness_follows_the_queue(mq: Queues, probe: Callable[[int], tuple[bool, bool]]) -> None:
    """mqueue_poll_file(): readable iff a message waits, writable iff there is room."""
    fd = mq.open("/ready", maxmsg=3)
    other = mq.open("/ready", O_RDONLY)  # another description of the same queue
    assert probe(fd) == (False, True)
    for n in range(1, 4):
        uipc.mq_send(fd, b"m%d" % n)
        want = (True, n < 3)
        assert probe(fd) == want and probe(other) == want, f"{n} messages"
    for n in (2, 1, 0):
        uipc.mq_receive(other, 64)
        want = (n > 0, True)
        assert probe(fd) == want and probe(other) == want, f"{n} messages"


def test_readiness_with_a_sleeping_sender_stays_full(mq: Queues, kids) -> None:
    """A receive that makes room lets the first sleeping sender's message in
    (pipelined_receive): the queue stays full, so never writable."""
    fd = mq.open("/stayfull", maxmsg=1)
    uipc.mq_send(fd, b"first")

    def sender(kid: Kid) -> None:
        kid.ready()
        uipc.mq_send(fd, b"second")

    tx = kids(sender)
    tx.wait_parked()
    assert _select(fd) == (True, False)
    assert uipc.mq_receive(fd, 64) == (b"first", 0)
    assert _select(fd) == (True, False) and _epoll(fd) == (True, False)
    tx.result()
    assert uipc.mq_receive(fd, 64) == (b"second", 0)
    assert _select(fd) == (False, True)


def _when_parent_polls(name: str, then: Callable[[int], None]) -> Callable[[Kid], None]:
    """A process that waits until its parent is asleep in select/poll/epoll,
    then acts on the queue ``name`` (a descriptor of its own)."""
    def run(kid: Kid) -> None:
        q = uipc.mq_open(name, O_RDWR)
        parent = os.getppid()
        kid.wait_go()
        wait_until(lambda: in_syscall(parent, POLL_SYSCALLS), what="the parent to poll")
        then(q)
        uipc.mq_close(q)
    return run


def test_select_wakes_on_a_send_from_another_process(mq: Queues, kids) -> None:
    fd = mq.open("/selrx", O_CREAT | O_RDONLY)
    kid = kids(_when_parent_polls("/selrx", lambda q: uipc.mq_send(q, b"ring", 2)))
    kid.go()
    r, _, _ = select.select([fd], [], [], 20)
    assert r == [fd]
    kid.result()
    assert uipc.mq_receive(fd, 64) == (b"ring", 2)


def test_select_wakes_writable_when_another_process_receives(mq: Queues, kids) -> None:
    fd = mq.open("/seltx", maxmsg=2)
    uipc.mq_send(fd, b"a")
    uipc.mq_send(fd, b"b")
    assert _select(fd) == (True, False)
    kid = kids(_when_parent_polls("/seltx", lambda q: uipc.mq_receive(q, 64)))
    kid.go()
    _, w, _ = select.select([], [fd], [], 20)
    assert w == [fd]
    kid.result()
    assert uipc.mq_getattr(fd).mq_curmsgs == 1


def test_asyncio_add_reader_sees_a_message_from_another_process(mq: Queues, kids) -> None:
    fd = mq.open("/aio")
    kid = kids(_when_parent_polls("/aio", lambda q: uipc.mq_send(q, b"async", 6)))

    async def main() -> tuple[bytes, int]:
        loop = asyncio.get_running_loop()
        readable = loop.create_future()
        loop.add_reader(fd, lambda: readable.done() or readable.set_result(None))
        try:
            kid.go()
            await asyncio.wait_for(readable, 20)
            return uipc.mq_receive(fd, 64)
        finally:
            loop.remove_reader(fd)

    assert asyncio.run(main()) == (b"async", 6)
    kid.result()
    assert _select(fd) == (False, True)


# --- a killed sleeper -----------------------------------------------------------------
def test_kill_9_of_a_blocked_receiver_leaves_nothing(mq: Queues, kids) -> None:
    fd = mq.open("/killed")

    def receiver(kid: Kid) -> Any:
        kid.ready()
        return uipc.mq_receive(fd, 64)

    rx = kids(receiver)
    rx.wait_parked()
    rx.kill()
    wait_until(lambda: rx.pid not in snapshot()["processes"], what="the dead receiver to go")
    uipc.mq_send(fd, b"nobody took it")
    assert uipc.mq_getattr(fd).mq_curmsgs == 1  # not handed to a ghost
    assert uipc.mq_receive(fd, 64) == (b"nobody took it", 0)


def test_kill_9_of_a_blocked_sender_leaves_nothing(mq: Queues, kids) -> None:
    fd = mq.open("/killedtx", maxmsg=1)
    uipc.mq_send(fd, b"full")

    def sender(kid: Kid) -> None:
        kid.ready()
        uipc.mq_send(fd, b"ghost")

    tx = kids(sender)
    tx.wait_parked()
    tx.kill()
    wait_until(lambda: tx.pid not in snapshot()["processes"], what="the dead sender to go")
    assert uipc.mq_receive(fd, 64) == (b"full", 0)
    assert uipc.mq_getattr(fd).mq_curmsgs == 0  # its message did not come in


# --- descriptor flags -------------------------------------------------------------------
def test_mq_descriptors_are_always_close_on_exec(mq: Queues) -> None:
    """do_mq_open() takes its descriptor with get_unused_fd_flags(O_CLOEXEC),
    whatever oflag says (checked on this machine's kernel: FD_CLOEXEC is set
    on a plain mq_open's descriptor)."""
    plain = mq.open("/cloexec")
    closing = mq.open("/cloexec", O_RDWR | O_CLOEXEC)
    assert not os.get_inheritable(plain)
    assert not os.get_inheritable(closing)
    # both work, and name the same queue
    uipc.mq_send(closing, b"x")
    assert uipc.mq_getattr(plain).mq_curmsgs == 1


def test_access_modes_are_enforced(mq: Queues) -> None:
    fd = mq.open("/acc")
    ro = mq.open("/acc", O_RDONLY)
    wo = mq.open("/acc", O_WRONLY)
    assert errno_of(lambda: uipc.mq_send(ro, b"x")) == errno.EBADF
    uipc.mq_send(wo, b"x")
    assert errno_of(lambda: uipc.mq_receive(wo, 64)) == errno.EBADF
    assert uipc.mq_receive(ro, 64) == (b"x", 0)
    assert errno_of(lambda: uipc.mq_open("/acc", O_CREAT | O_EXCL | O_RDWR)) == errno.EEXIST
    assert errno_of(lambda: uipc.mq_open("/nosuch", O_RDWR)) == errno.ENOENT
    assert fd >= 0


def test_a_closed_descriptor_is_ebadf(mq: Queues) -> None:
    fd = mq.open("/closed")
    uipc.mq_close(fd)
    mq.closed(fd)
    assert errno_of(lambda: uipc.mq_getattr(fd)) == errno.EBADF
    # a descriptor that is not a queue's, even an open one
    r, w = os.pipe()
    try:
        assert errno_of(lambda: uipc.mq_send(w, b"x")) == errno.EBADF
    finally:
        os.close(r)
        os.close(w)


# --- other users (system mode) ----------------------------------------------------------

def _as_nobody(fn: Callable[[], Any]) -> Any:
    def run(kid: Kid) -> Any:
        _become_nobody()
        return fn()
    kid = Kid(run)
    try:
        return kid.result()
    finally:
        kid.cleanup()


@needs_root
def test_other_users_access_in_system_mode(system_daemon, no_umask) -> None:
    uipc.unshare_namespace()
    q = Queues()
    try:
        secret = q.open("/secret", mode=0o600)
        shared = q.open("/shared", mode=0o666)
        uipc.mq_send(secret, b"root only")
        uipc.mq_send(shared, b"for anyone", 1)

        def stranger() -> list[Any]:
            out: list[Any] = [errno_of(lambda: uipc.mq_open("/secret", O_RDWR)),
                              errno_of(lambda: uipc.mq_open("/secret", O_RDONLY)),
                              errno_of(lambda: uipc.mq_open("/secret", O_WRONLY)),
                              errno_of(lambda: uipc.mq_unlink("/secret")),
                              errno_of(lambda: uipc.mq_unlink("/shared"))]
            s = uipc.mq_open("/shared", O_RDWR)
            out.append(uipc.mq_receive(s, 64))
            uipc.mq_send(s, b"from nobody", 2)
            # its own queue it may unlink
            own = uipc.mq_open("/nobodys", O_CREAT | O_RDWR, 0o600, MqAttr(0, 1, 8))
            uipc.mq_close(own)
            out.append(errno_of(lambda: uipc.mq_unlink("/nobodys")))
            uipc.mq_close(s)
            return out

        # mq_unlink: the kernel's EPERM (the sticky mqueue root), which glibc reports as EACCES
        assert _as_nobody(stranger) == [errno.EACCES, errno.EACCES, errno.EACCES, errno.EACCES,
                                        errno.EACCES, (b"for anyone", 1), 0]
        assert uipc.mq_receive(shared, 64) == (b"from nobody", 2)
        assert uipc.mq_receive(secret, 64) == (b"root only", 0)
    finally:
        q.cleanup()


# --- uipc.posix.MessageQueue ------------------------------------------------------------
def test_message_queue_class(ns: str) -> None:
    with MessageQueue("/cls", os.O_CREAT | os.O_EXCL, maxmsg=4, msgsize=32) as q:
        try:
            assert (q.maxmsg, q.msgsize) == (4, 32)
            assert q.fileno() == q.mqd and not q.nonblocking
            for i, prio in enumerate([1, 3, 1, 2]):
                q.send(b"m%d" % i, prio)
            assert q.current_messages == 4
            # iteration drains what waits now, in receive order, and never blocks
            assert list(q) == [(b"m1", 3), (b"m3", 2), (b"m0", 1), (b"m2", 1)]
            assert list(q) == []
            # relative timeouts
            start = time.monotonic()
            with pytest.raises(OSError) as info:
                q.receive(timeout=0.1)
            assert info.value.errno == errno.ETIMEDOUT and time.monotonic() - start >= 0.09
            for i in range(4):
                q.send(b"f%d" % i)
            assert errno_of(lambda: q.send(b"over", timeout=0.05)) == errno.ETIMEDOUT
            with pytest.raises(ValueError):
                q.receive(timeout=-1)
            q.nonblocking = True
            assert q.nonblocking and errno_of(lambda: q.send(b"over")) == errno.EAGAIN
            assert len(list(q)) == 4
            with MessageQueue("/cls", os.O_WRONLY) as writer:
                writer.send(b"w", 9)
            assert q.receive() == (b"w", 9)
        finally:
            q.unlink()
    assert errno_of(lambda: q.attr) == errno.EBADF  # closed by the with
    assert errno_of(lambda: MessageQueue("/cls")) == errno.ENOENT


def test_areceive_cancelled_leaves_no_sleeper(ns: str) -> None:
    """asyncio.wait_for around areceive: the cancelled receive is gone from
    the daemon, so the next message goes to the next receive, not a ghost."""
    async def main() -> tuple[bytes, int]:
        with MessageQueue("/acancel", os.O_CREAT, maxmsg=2, msgsize=16) as q:
            try:
                with pytest.raises(asyncio.TimeoutError):
                    await asyncio.wait_for(q.areceive(), 0.05)
                q.send(b"after", 4)
                assert q.current_messages == 1  # queued: nobody was waiting
                got = await asyncio.wait_for(q.areceive(), 10)
                # and a send awaited the same way, on a full queue
                q.send(b"1")
                q.send(b"2")
                with pytest.raises(asyncio.TimeoutError):
                    await asyncio.wait_for(q.asend(b"3"), 0.05)
                assert [m for m, _ in q] == [b"1", b"2"]  # the cancelled send sent nothing
                return got
            finally:
                q.unlink()

    assert asyncio.run(main()) == (b"after", 4)


def test_areceive_woken_by_another_process(ns: str, kids) -> None:
    """The loop sleeps in epoll_wait with the receive pending; a send from
    another process completes it."""
    async def main(q: MessageQueue, kid: Kid) -> tuple[bytes, int]:
        kid.go()
        return await asyncio.wait_for(q.areceive(), 20)

    with MessageQueue("/awake", os.O_CREAT, maxmsg=2, msgsize=16) as q:
        try:
            kid = kids(_when_parent_polls("/awake", lambda fd: uipc.mq_send(fd, b"hello", 3)))
            assert asyncio.run(main(q, kid)) == (b"hello", 3)
            kid.result()
        finally:
            q.unlink()
