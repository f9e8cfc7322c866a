"""The descriptor and signal syscalls (pipes, FIFOs, splice/tee, fcntl/dup,
signals, signalfd, epoll, proc_read) attacked by real unprivileged
processes: forked children that setuid to 65534 (and, where a rule is per
process rather than per uid, a root process that is no relative).

Each test names the check it attacks; removing that check makes it fail.
"""
from __future__ import annotations

import ctypes
import errno
import os
import resource
import signal
import struct
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest

import uipc
from tests.conftest import wait_until
from tests.helpers import NOBODY, Child, Peer, as_nobody, as_user, close_all, errno_of
from uipc import protocol as P
from uipc.client.connection import call, call_many
from uipc.client.files import fd_inode
from uipc.kernel.eventpoll import EP_MAX_EVENTS
from uipc.kernel.signal import SIGPENDING_CAP
from uipc.uapi import fcntl as F

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="attackers with their own uids need "
                                "root to setuid them")

RT = 32  # the kernel's SIGRTMIN: uipc numbers signals as the kernel does
USR1 = int(signal.SIGUSR1)
PAGE = 4096
U64_MAX = (1 << 64) - 1
#: asm-generic's O_NONBLOCK, as the wire carries it
WIRE_O_NONBLOCK = 0o4000
POLLIN, POLLNVAL = 0x1, 0x20


# --- helpers ----------------------------------------------------------------------------
def raw(name: str, *args: int, tail: bytes = b"") -> bytes:
    """One request of op ``name`` with exactly these wire arguments (the
    client library's checks bypassed, as a hostile client would)."""
    return call(P.OPS_BY_NAME[name], args, tail)[0]


def raw_errno(name: str, *args: int, tail: bytes = b"") -> int:
    """The errno the daemon answers ``raw(name, ...)`` with (0: success)."""
    return errno_of(lambda: raw(name, *args, tail=tail))


def drop_to_nobody() -> None:
    os.setgroups([])
    os.setgid(NOBODY)
    os.setuid(NOBODY)






def daemon_rss_kib(pid: int) -> int:
    """The daemon's resident set (VmRSS), in KiB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError(f"no VmRSS for pid {pid}")


def waits_of(pid: int) -> list[str]:
    """What the process's threads sleep in, as the daemon shows it."""
    return [w["op"] for p in uipc.introspect.namespace()["process_details"] if p["pid"] == pid
            for w in p.get("waits") or []]


_libc = ctypes.CDLL(None, use_errno=True)


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


def take_real_siginfo(signo: int, timeout: int = 20) -> dict[str, int]:
    """sigtimedwait(2) for ``signo`` (blocked in the real mask): the _rt
    fields of its siginfo (Python's sigwaitinfo has no si_value)."""
    sset = ctypes.create_string_buffer(128)
    assert _libc.sigemptyset(sset) == 0 and _libc.sigaddset(sset, signo) == 0
    info = ctypes.create_string_buffer(128)
    ts = _Timespec(timeout, 0)
    if _libc.sigtimedwait(sset, info, ctypes.byref(ts)) < 0:
        raise OSError(ctypes.get_errno(), "sigtimedwait")
    raw_info = info.raw

    def at(off: int, size: int, signed: bool) -> int:
        return int.from_bytes(raw_info[off:off + size], "little", signed=signed)
    return {"signo": at(0, 4, True), "code": at(8, 4, True), "pid": at(16, 4, True),
            "uid": at(20, 4, False), "value": at(24, 8, False)}


def siginfo_fields(r: uipc.SignalfdSiginfo) -> tuple[int, int, int, int, int]:
    return r.ssi_signo, r.ssi_code, r.ssi_pid, r.ssi_uid, r.ssi_ptr


def drain_signalfd(sfd: int) -> int:
    """Read a non-blocking signalfd empty; the count of records read (65536
    a read: 8 MiB, under the frame limit)."""
    n = 0
    while True:
        try:
            n += len(uipc.read_siginfo(sfd, 65536))
        except OSError as exc:
            assert exc.errno == errno.EAGAIN
            return n


# --- (1) another process's descriptors --------------------------------------------------
def _victim_holding_files(me: Peer) -> Any:
    """Root's process holding a pipe with data, an eventfd watched by an
    epoll and a signalfd; it reports their inodes, waits for the attacks,
    then reports what its files hold."""
    r, w = uipc.pipe2()
    uipc.write(w, b"victim's bytes")
    e = uipc.eventfd(7)
    ep = uipc.epoll_create1()
    uipc.epoll_ctl(ep, uipc.EPOLL_CTL_ADD, e, uipc.EPOLLIN)
    uipc.sigprocmask(uipc.SIG_BLOCK, {RT})
    sfd = uipc.signalfd(-1, {RT}, uipc.SFD_NONBLOCK)
    me.say({"r": fd_inode(r), "w": fd_inode(w), "e": fd_inode(e), "e_fd": e,
            "ep": fd_inode(ep), "sfd": fd_inode(sfd)})
    me.hear()
    uipc.sigqueue(os.getpid(), RT, 5)  # its signalfd's mask must still take RT
    state = (uipc.epoll_wait(ep, 8, 0), uipc.read(r, 100), uipc.fcntl(r, uipc.F_GETFL),
             uipc.fcntl(w, uipc.F_GETPIPE_SZ), uipc.eventfd_read(e),
             [s.ssi_signo for s in uipc.read_siginfo(sfd)])
    close_all(r, w, e, ep, sfd)
    return state


def _forge(v: dict[str, int], victim_pid: int) -> dict[str, int]:
    """Every descriptor call naming the victim's inodes, from a process with
    pipes and an epoll of its own (so that only the victim's side is wrong):
    what errno each gets; and a forged fork report claiming the victim as
    parent, after which the victim's files are still not ours."""
    ar, aw = uipc.pipe2(os.O_NONBLOCK)
    uipc.write(aw, b"attacker's")
    aep = uipc.epoll_create1()
    mine = {"r": fd_inode(ar), "w": fd_inode(aw), "ep": fd_inode(aep)}
    nb = uipc.SPLICE_F_NONBLOCK
    add, delete, pollin = uipc.EPOLL_CTL_ADD, uipc.EPOLL_CTL_DEL, uipc.EPOLLIN
    out = {
        "read pipe": raw_errno("read", v["r"], 100),
        "write pipe": raw_errno("write", v["w"], tail=b"forged"),
        "read eventfd": raw_errno("read", v["e"], 8),
        "write eventfd": raw_errno("write", v["e"], tail=struct.pack("<Q", 1)),
        "F_GETFL": raw_errno("fcntl", v["r"], F.F_GETFL, 0),
        "F_SETFL": raw_errno("fcntl", v["r"], F.F_SETFL, WIRE_O_NONBLOCK),
        "F_SETPIPE_SZ": raw_errno("fcntl", v["w"], F.F_SETPIPE_SZ, PAGE),
        "dup": raw_errno("dup", v["r"], 0),
        "close": raw_errno("close", v["r"], 0),
        "splice out of it": raw_errno("splice", v["r"], 1, 0, mine["w"], 1, 0, 100, nb),
        "splice into it": raw_errno("splice", mine["r"], 1, 0, v["w"], 1, 0, 100, nb),
        "tee out of it": raw_errno("tee", v["r"], mine["w"], 100, nb),
        "tee into it": raw_errno("tee", mine["r"], v["w"], 100, nb),
        "epoll_ctl watching it": raw_errno("epoll_ctl", mine["ep"], add, v["e"], 3, pollin, 0),
        "epoll_ctl into its epoll": raw_errno("epoll_ctl", v["ep"], add, mine["r"], ar, pollin, 0),
        "epoll_ctl DEL in its epoll": raw_errno("epoll_ctl", v["ep"], delete, v["e"], v["e_fd"],
                                                0, 0),
        "epoll_wait": raw_errno("epoll_wait", v["ep"], 8, 0),
        "signalfd4 new mask": raw_errno("signalfd4", v["sfd"], 0, 0),
    }
    revents = P.unpack_ctl_result(raw("poll", 0, tail=struct.pack("<qq", v["r"], POLLIN)))
    out["poll"] = POLLNVAL if revents == [POLLNVAL] else -1
    out["forged fork"] = raw_errno("fork", victim_pid)
    out["read after the forged fork"] = raw_errno("read", v["r"], 100)
    close_all(ar, aw, aep)
    return out


def test_another_processes_pipe_eventfd_epoll_and_signalfd_inodes_name_nothing(ns: str) -> None:
    """Attacks fdget (uipc/kernel/read_write.py): a descriptor is looked up
    in the caller's own table.  uid 65534, and a root process that is no
    relative (the table is per process, not per uid), naming a root
    process's inodes in read, write, fcntl, dup, close, splice, tee,
    epoll_ctl (either side), epoll_wait and signalfd4 get EBADF, poll gets
    POLLNVAL; a forged fork report naming the victim as parent is refused
    (sys_fork's parent check); the victim's files are untouched."""
    victim = Peer(_victim_holding_files)
    try:
        inodes = victim.expect()
        try:
            by_nobody = as_nobody(lambda: _forge(inodes, victim.pid))
            by_root_stranger = Child(lambda: _forge(inodes, victim.pid)).result()
        finally:
            victim.tell("attacked")
        state = victim.result()
    finally:
        victim.cleanup()  # only if it is still there (a failed attack)
    for got in (by_nobody, by_root_stranger):
        fork = got.pop("forged fork")
        assert fork in (errno.EPERM, errno.EINVAL), fork
        assert got == {name: (POLLNVAL if name == "poll" else errno.EBADF) for name in got}
    events, data, flags, size, counter, signals = state
    assert events == [(inodes["e_fd"], uipc.EPOLLIN)]  # still watching only its eventfd
    assert data == b"victim's bytes"
    assert flags == os.O_RDONLY  # no O_NONBLOCK forced on it
    assert size == 16 * PAGE
    assert counter == 7
    assert signals == [RT]  # its signalfd's mask is its own


# --- (2) signals to another uid's process -----------------------------------------------
def _signal_victim(me: Peer) -> Any:
    """Root's process: RT+9 blocked only in its real mask (a uipc delivery
    would be a real signal, waiting for sigtimedwait), RT and SIGUSR1 blocked
    in its uipc mask (they would stay pending in the daemon)."""
    signal.pthread_sigmask(signal.SIG_BLOCK, {RT + 9})
    uipc.sigprocmask(uipc.SIG_BLOCK, {RT, USR1})
    sfd = uipc.signalfd(-1, {RT, USR1}, uipc.SFD_NONBLOCK)
    me.say("ready")
    me.hear()
    first_real = take_real_siginfo(RT + 9)
    real_left = {int(s) for s in signal.sigpending()}
    queued = [siginfo_fields(r) for r in uipc.read_siginfo(sfd)]
    return first_real, real_left, queued, uipc.sigpending()


def _unprivileged_signals(pid: int) -> list[int]:
    """kill and sigqueue of every kind to ``pid``, each one's errno."""
    return [errno_of(lambda: uipc.kill(pid, RT + 9)),
            errno_of(lambda: uipc.sigqueue(pid, RT + 9, 666)),
            errno_of(lambda: uipc.kill(pid, RT)),
            errno_of(lambda: uipc.sigqueue(pid, RT, 666)),
            errno_of(lambda: uipc.kill(pid, USR1)),
            errno_of(lambda: uipc.kill(pid, 0)),
            errno_of(lambda: uipc.sigqueue(pid, 0, 0)),
            errno_of(lambda: uipc.kill(pid, signal.SIGKILL)),
            errno_of(lambda: uipc.kill(pid, signal.SIGSTOP))]


def test_uid_65534_cannot_signal_or_queue_to_roots_process(ns: str) -> None:
    """Attacks check_kill_permission / kill_ok_by_cred (uipc/kernel/signal.py)
    and its place before any queueing: every kill and sigqueue of uid 65534
    to root's uipc process is EPERM, whether the signal would be delivered
    for real, queued in the daemon, or is SIGKILL/SIGSTOP/0.  Then root's own
    signals are sent: the first real signal the victim takes is root's (an
    attacker's delivered one would have come first), the only record queued
    is root's, and nothing else is pending."""
    victim = Peer(_signal_victim)
    try:
        assert victim.expect() == "ready"
        errors = as_nobody(lambda: _unprivileged_signals(victim.pid))
        uipc.sigqueue(victim.pid, RT + 9, 1)
        uipc.sigqueue(victim.pid, RT, 2)
        victim.tell("sent")
        first_real, real_left, queued, pending = victim.result()
    finally:
        victim.cleanup()
    assert errors == [errno.EPERM] * 9
    me = os.getpid()
    assert first_real == {"signo": RT + 9, "code": uipc.SI_QUEUE, "pid": me, "uid": 0, "value": 1}
    assert RT + 9 not in real_left
    assert queued == [(RT, uipc.SI_QUEUE, me, 0, 2)]
    assert pending == set()


# --- (3) a flood of real-time signals -----------------------------------------------------
def _honest_flood() -> tuple[int, int, int]:
    """uid 65534 with RLIMIT_SIGPENDING 64: sigqueue to itself until
    EAGAIN, one kill past the limit, then drain its signalfd."""
    _, hard = resource.getrlimit(resource.RLIMIT_SIGPENDING)
    resource.setrlimit(resource.RLIMIT_SIGPENDING, (64, hard))
    uipc.sigprocmask(uipc.SIG_BLOCK, {RT})
    queued = refused = 0
    for i in range(100):
        try:
            uipc.sigqueue(os.getpid(), RT, i)
            queued += 1
        except OSError as exc:
            assert exc.errno == errno.EAGAIN
            refused += 1
    uipc.kill(os.getpid(), RT)  # kill(2) is never EAGAIN: pending, its siginfo not queued
    sfd = uipc.signalfd(-1, {RT}, uipc.SFD_NONBLOCK)
    return queued, refused, drain_signalfd(sfd)


def _lying_flood(count: int) -> tuple[int, int]:
    """``count`` sigqueues of RT to oneself claiming an infinite
    RLIMIT_SIGPENDING, 1024 a write: (queued, refused with EAGAIN)."""
    op, me = P.OPS_BY_NAME["rt_sigqueueinfo"], os.getpid()
    queued = refused = 0
    while queued + refused < count:
        n = min(1024, count - queued - refused)
        batch = [(op, (me, RT, i, U64_MAX), b"", P.OP_SKIP_SUCCESS) for i in range(n - 1)]
        for reply in call_many(batch + [(op, (me, RT, 0, U64_MAX), b"", 0)]):
            if isinstance(reply, OSError):
                assert reply.errno == errno.EAGAIN, reply
                refused += 1
            else:
                queued += 1
    return queued, refused


def _liar(me: Peer) -> Any:
    drop_to_nobody()
    uipc.sigprocmask(uipc.SIG_BLOCK, {RT})
    sfd = uipc.signalfd(-1, {RT}, uipc.SFD_NONBLOCK)
    me.say(_lying_flood(SIGPENDING_CAP + 4096))
    me.hear()
    me.say(_lying_flood(65536))
    me.hear()

    def elsewhere() -> int:
        # the same uid in a namespace of its own: the cap is the uid's
        uipc.unshare_namespace()
        return raw_errno("rt_sigqueueinfo", os.getpid(), RT, 0, U64_MAX)
    other = Child(elsewhere).result()
    # one record read frees exactly one place (a full drain is another
    # test's matter: see test_dequeueing_a_full_queue_is_cheap_for_the_daemon)
    read = len(uipc.read_siginfo(sfd, 1))
    return other, read, _lying_flood(2)


def test_a_realtime_signal_flood_stops_at_the_rlimit_and_at_the_daemons_cap(
        system_daemon) -> None:
    """Attacks __sigqueue_alloc's limit (uipc/kernel/signal.py
    _sigqueue_alloc: ``held + 1 > min(rlimit, SIGPENDING_CAP)``), its
    per-uid count and send_signal_locked's EAGAIN.  An honest uid 65534 with
    RLIMIT_SIGPENDING 64 queues 64 records, then EAGAIN; kill past the limit
    queues no record.  A lying client claiming an infinite limit queues
    exactly SIGPENDING_CAP records (2^18), then EAGAIN -- also from another
    namespace of the same uid; one record read makes room for exactly one.
    The daemon's memory grows by the cap's worth and not at all past it,
    and the records' charge goes back when the liar exits."""
    uipc.unshare_namespace()
    assert as_nobody(_honest_flood) == (64, 36, 64)

    liar = Peer(_liar)
    try:
        before = daemon_rss_kib(system_daemon.pid)
        queued, refused = liar.expect(timeout=120)
        at_cap = daemon_rss_kib(system_daemon.pid)
        liar.tell("measured")
        assert liar.expect(timeout=120) == (0, 65536)
        past_cap = daemon_rss_kib(system_daemon.pid)
        liar.tell("measured")
        other, read, room = liar.result(timeout=120)
    finally:
        liar.cleanup()
    assert (queued, refused) == (SIGPENDING_CAP, 4096)
    assert other == errno.EAGAIN
    assert (read, room) == (1, (1, 1))
    # a record is ~170 bytes in the daemon (SigQueue + SigInfo + its list slot)
    assert at_cap - before < SIGPENDING_CAP * 400 // 1024, (before, at_cap)
    assert past_cap - at_cap < 8 * 1024, (at_cap, past_cap)  # 65536 more would be ~11 MiB
    # the liar's exit gave its 2^18 records' charge back
    assert as_nobody(_honest_flood) == (64, 36, 64)


def _dequeue_time() -> float:
    """uid 65534, within an honest RLIMIT_SIGPENDING of 40960: 20480 records
    of RT+1 queued, then 20480 of RT; the seconds one read of 2048 records
    (all RT, the lowest, each behind every RT+1 record) costs."""
    _, hard = resource.getrlimit(resource.RLIMIT_SIGPENDING)
    resource.setrlimit(resource.RLIMIT_SIGPENDING, (40960, hard))
    uipc.sigprocmask(uipc.SIG_BLOCK, {RT, RT + 1})
    sfd = uipc.signalfd(-1, {RT, RT + 1}, uipc.SFD_NONBLOCK)
    op, me = P.OPS_BY_NAME["rt_sigqueueinfo"], os.getpid()
    for sig in (RT + 1, RT):
        for _ in range(20):
            batch = [(op, (me, sig, 0, 40960), b"", P.OP_SKIP_SUCCESS)] * 1023
            assert call_many(batch + [(op, (me, sig, 0, 40960), b"", 0)])[-1] is not None
    start = time.monotonic()
    got = uipc.read_siginfo(sfd, 2048)
    took = time.monotonic() - start
    assert [r.ssi_signo for r in got] == [RT] * 2048
    return took


def test_dequeueing_a_full_queue_is_cheap_for_the_daemon(ns: str) -> None:
    """Attacks dequeue_signal's cost per record (one deque per signal number
    in uipc/kernel/signal.py).  The daemon has one thread for every user,
    so a read of a signalfd must cost it about as much per record whatever
    else is queued; uid 65534 within its own honest limit queues 40960
    records ordered so that each RT one sits behind 20480 RT+1 ones, and one
    read of 2048 records must stay under 0.2 s of the daemon's time (with
    one list per process it took 1.2 s: a scan and a removal per record)."""
    took = as_nobody(_dequeue_time)
    assert took < 0.2, f"reading 2048 signalfd records took the daemon {took:.2f} s"


# --- (4) FIFOs in the namespace's directory -----------------------------------------------
def test_roots_0600_fifo_cannot_be_opened_or_unlinked_by_uid_65534(ns: str) -> None:
    """Attacks may_open's generic_permission (uipc/kernel/pipe.py
    _check_open: EACCES) and the sticky directory's check_sticky in
    sys_unlink (EPERM: the FIFO directory is 1777, root's, as /dev/shm --
    docs/deviations.md "pipes and FIFOs").  A 0666 FIFO of root's may be
    opened by 65534 (so the 0600 refusal is the mode's) but still not
    unlinked; 65534's own FIFO it may unlink, and root may unlink anyone's."""
    old = os.umask(0)
    try:
        uipc.mkfifo("/secret", 0o600)
        uipc.mkfifo("/open", 0o666)
    finally:
        os.umask(old)

    def attacker() -> dict[str, int]:
        rdwr = os.O_RDWR | os.O_NONBLOCK
        got = {"O_RDONLY": errno_of(lambda: uipc.open("/secret", os.O_RDONLY | os.O_NONBLOCK)),
               "O_WRONLY": errno_of(lambda: uipc.open("/secret", os.O_WRONLY | os.O_NONBLOCK)),
               "O_RDWR": errno_of(lambda: uipc.open("/secret", rdwr)),
               "unlink 0600": errno_of(lambda: uipc.unlink("/secret")),
               "unlink via ..": errno_of(lambda: uipc.unlink("/../secret")),
               "mkfifo over it": errno_of(lambda: uipc.mkfifo("/secret", 0o666)),
               "unlink 0666": errno_of(lambda: uipc.unlink("/open"))}
        fd = uipc.open("/open", rdwr)  # the mode grants it: this one opens
        uipc.write(fd, b"x")
        got["0666 opened"] = len(uipc.read(fd, 1))
        uipc.close(fd)
        uipc.mkfifo("/mine", 0o600)
        got["unlink own"] = errno_of(lambda: uipc.unlink("/mine"))
        uipc.mkfifo("/mine2", 0o600)
        return got

    assert as_nobody(attacker) == {
        "O_RDONLY": errno.EACCES, "O_WRONLY": errno.EACCES, "O_RDWR": errno.EACCES,
        "unlink 0600": errno.EPERM, "unlink via ..": errno.ENOENT, "mkfifo over it": errno.EEXIST,
        "unlink 0666": errno.EPERM, "0666 opened": 1, "unlink own": 0}
    fd = uipc.open("/secret", os.O_RDWR | os.O_NONBLOCK)  # still there, still root's
    uipc.close(fd)
    for name in ("/secret", "/open", "/mine2"):  # root (CAP_FOWNER, the directory's owner)
        uipc.unlink(name)
    assert errno_of(lambda: uipc.unlink("/secret")) == errno.ENOENT


# --- (5) pipe pages -------------------------------------------------------------------------
def _fill_pipes() -> dict[str, Any]:
    """uid 65534 under fs.pipe-user-pages-soft 32 and -hard 48 (pages)."""
    out: dict[str, Any] = {}
    first = uipc.pipe2(os.O_NONBLOCK)
    second = uipc.pipe2(os.O_NONBLOCK)  # 32 pages: at the soft limit, not over it
    third = uipc.pipe2(os.O_NONBLOCK)  # 48 > 32: shrunk to PIPE_MIN_DEF_BUFFERS
    held = [*first, *second, *third]
    out["sizes"] = [uipc.fcntl(p[0], uipc.F_GETPIPE_SZ) for p in (first, second, third)]
    out["grow small"] = errno_of(lambda: uipc.fcntl(third[1], uipc.F_SETPIPE_SZ, 16 * PAGE))
    out["grow full"] = errno_of(lambda: uipc.fcntl(first[1], uipc.F_SETPIPE_SZ, 32 * PAGE))
    out["shrink"] = uipc.fcntl(first[1], uipc.F_SETPIPE_SZ, 1)  # to one page: always allowed
    # what the daemon holds for a pipe is bounded by its slots
    out["filled"] = uipc.write(third[1], b"z" * (64 * PAGE))
    out["full"] = errno_of(lambda: uipc.write(third[1], b"z"))
    # 34 - 15 = 19 pages now; each new pipe is shrunk (2 pages) until 19 + 2k > 48
    more = []
    while True:
        try:
            more.append(uipc.pipe2(os.O_NONBLOCK))
        except OSError as exc:
            out["pipe2 past hard"] = exc.errno
            break
        assert len(more) < 100, "fs.pipe-user-pages-hard never bound"
    held += [fd for p in more for fd in p]
    out["more"] = len(more)
    uipc.mkfifo("/fifo", 0o600)
    out["fifo open past hard"] = errno_of(lambda: uipc.open("/fifo", os.O_RDWR))
    uipc.unlink("/fifo")
    out["raise the limit"] = errno_of(lambda: uipc.sysctl.set("fs.pipe-user-pages-hard", 0))
    close_all(*held)
    fresh = uipc.pipe2()  # the pages came back with the pipes
    out["after closing"] = uipc.fcntl(fresh[0], uipc.F_GETPIPE_SZ)
    close_all(*fresh)
    return out


def test_pipe_pages_of_uid_65534_are_bounded_by_the_soft_and_hard_limits(ns: str) -> None:
    """Attacks alloc_pipe_info's too_many_pipe_buffers_soft (a new pipe past
    the soft limit gets PIPE_MIN_DEF_BUFFERS, 2 pages, as Linux >= 5.13 --
    not 1), its _hard (ENFILE for pipe2, ENOMEM for a FIFO's first open),
    pipe_set_size's refusal to grow past either (EPERM; shrinking is always
    allowed), the per-uid count (root and uid 1000 are unaffected) and
    free_pipe_info's giving the pages back."""
    uipc.sysctl.set("fs.pipe-user-pages-soft", 32)
    uipc.sysctl.set("fs.pipe-user-pages-hard", 48)
    got = as_nobody(_fill_pipes)
    assert got == {"sizes": [16 * PAGE, 16 * PAGE, 2 * PAGE], "grow small": errno.EPERM,
                   "grow full": errno.EPERM, "shrink": PAGE, "filled": 2 * PAGE,
                   "full": errno.EAGAIN, "more": 14, "pipe2 past hard": errno.ENFILE,
                   "fifo open past hard": errno.ENOMEM, "raise the limit": errno.EACCES,
                   "after closing": 16 * PAGE}

    # while 65534 sits over its soft limit, uid 1000 and root get full pipes
    hog = Peer(_hold_pipes)
    try:
        assert hog.expect() == 2 * PAGE
        assert as_user(1000, 1000, _new_pipe_size) == 16 * PAGE
        assert _new_pipe_size() == 16 * PAGE
        hog.tell("done")
        hog.result()
    finally:
        hog.cleanup()


def _hold_pipes(me: Peer) -> None:
    """uid 65534 holding 34 pages (16 + 16 + a shrunk 2) until told."""
    drop_to_nobody()
    held = [uipc.pipe2() for _ in range(3)]
    me.say(uipc.fcntl(held[-1][0], uipc.F_GETPIPE_SZ))
    me.hear()
    close_all(*[fd for p in held for fd in p])


def _new_pipe_size() -> int:
    r, w = uipc.pipe2()
    try:
        return uipc.fcntl(r, uipc.F_GETPIPE_SZ)
    finally:
        close_all(r, w)


# --- (6) epoll loops and nesting ----------------------------------------------------------
def _epoll_shapes() -> dict[str, Any]:
    """uid 65534 tries to make epoll loops and over-deep chains."""
    add, pollin = uipc.EPOLL_CTL_ADD, uipc.EPOLLIN
    out: dict[str, Any] = {}
    a, b, c = (uipc.epoll_create1() for _ in range(3))
    out["itself"] = errno_of(lambda: uipc.epoll_ctl(a, add, a, pollin))
    uipc.epoll_ctl(a, add, b, pollin)
    out["two-loop"] = errno_of(lambda: uipc.epoll_ctl(b, add, a, pollin))
    uipc.epoll_ctl(b, add, c, pollin)
    out["three-loop"] = errno_of(lambda: uipc.epoll_ctl(c, add, a, pollin))
    # a chain: chain[i] watches chain[i+1], the last watches an eventfd
    e = uipc.eventfd(0)
    chain = [uipc.epoll_create1() for _ in range(6)]
    uipc.epoll_ctl(chain[4], add, e, pollin)
    links = 0
    for i in (3, 2, 1, 0):
        uipc.epoll_ctl(chain[i], add, chain[i + 1], pollin)
        links += 1
    out["links"] = links
    out["fifth link, below"] = errno_of(lambda: uipc.epoll_ctl(chain[4], add, chain[5], pollin))
    out["fifth link, above"] = errno_of(lambda: uipc.epoll_ctl(chain[5], add, chain[0], pollin))
    # an event at the bottom reaches the top through the four links
    uipc.eventfd_write(e, 1)
    out["top sees it"] = uipc.epoll_wait(chain[0], 4, 1000)
    close_all(a, b, c, e, *chain)
    return out


def test_epoll_loops_are_refused_and_nesting_is_bounded(ns: str) -> None:
    """Attacks _check_ctl's ``file is tfile`` (EINVAL) and ep_loop_check
    (ELOOP for a loop through any number of epolls, and for a chain of more
    than EP_MAX_NESTS + 1 = 5 epolls, grown from either end): uid 65534
    cannot make the daemon's wake-up recursion loop or go deep."""
    got = as_nobody(_epoll_shapes)
    top_events = got.pop("top sees it")
    assert got == {"itself": errno.EINVAL, "two-loop": errno.ELOOP, "three-loop": errno.ELOOP,
                   "links": 4, "fifth link, below": errno.ELOOP,
                   "fifth link, above": errno.ELOOP}
    assert [events for _, events in top_events] == [uipc.EPOLLIN]


def _wakeup_storm(width: int, levels: int) -> tuple[int, float]:
    """A layered graph of epolls over one eventfd: ``levels`` layers of
    ``width`` epolls, each watching every epoll of the layer below (paths
    from the eventfd: width ** levels).  ADDs the daemon refuses are
    skipped.  Returns (ADDs refused, the slowest eventfd write in seconds)."""
    e = uipc.eventfd(0)
    below, refused, held = [e], 0, [e]
    for _ in range(levels):
        layer = [uipc.epoll_create1() for _ in range(width)]
        held += layer
        for ep in layer:
            for fd in below:
                if errno_of(lambda: uipc.epoll_ctl(ep, uipc.EPOLL_CTL_ADD, fd, uipc.EPOLLIN)):
                    refused += 1
        below = layer
    slowest = 0.0
    for _ in range(2):
        start = time.monotonic()
        uipc.eventfd_write(e, 1)
        slowest = max(slowest, time.monotonic() - start)
        uipc.eventfd_read(e)
    close_all(*held)
    return refused, slowest


def test_an_epoll_graph_cannot_make_one_wakeup_a_storm(ns: str) -> None:
    """Attacks reverse_path_check (fs/eventpoll.c: at most 1000, 500, 100, 50,
    10 wake-up paths of length 1 .. 5 from one file, EINVAL past them):
    uid 65534's layered graph of 5 x 16 epolls over one eventfd would have
    16^5 = 1 M wake-up paths, each an ep_poll_callback in the daemon's one
    thread; Linux refuses the ADDs past the limits, so that an eventfd write
    stays cheap for everyone."""
    refused, slowest = as_nobody(lambda: _wakeup_storm(16, 5))
    assert refused > 0, "no ADD refused"
    assert slowest < 0.2, f"one eventfd write took {slowest:.2f} s in the daemon"


# --- (7) epoll_wait with hostile sizes and timeouts ------------------------------------------
def _hostile_waits(me: Peer) -> Any:
    drop_to_nobody()
    ep = uipc.epoll_create1()
    ino = fd_inode(ep)
    bad = [raw_errno("epoll_wait", ino, n, 0) for n in (-(1 << 31), -1, 0, (1 << 31) - 1,
                                                         EP_MAX_EVENTS + 1)]
    ready = [uipc.eventfd(1) for _ in range(200)]
    for fd in ready:
        uipc.epoll_ctl(ep, uipc.EPOLL_CTL_ADD, fd, uipc.EPOLLIN)
    # the largest maxevents: as many events as are ready, no more
    got = P.unpack_ctl_result(raw("epoll_wait", ino, EP_MAX_EVENTS, 0))
    empty = uipc.epoll_create1()
    nothing = P.unpack_ctl_result(raw("epoll_wait", fd_inode(empty), EP_MAX_EVENTS, 0))
    me.say((bad, len(got) // 2, len(nothing)))
    # now a wait of 292 years on an empty epoll: the test kills us in it
    raw("epoll_wait", fd_inode(empty), EP_MAX_EVENTS, (1 << 63) - 1)
    return "woke"


def test_epoll_wait_with_hostile_maxevents_or_timeout_is_einval_or_bounded(ns: str) -> None:
    """Attacks sys_epoll_wait's maxevents check (EINVAL outside [1,
    EP_MAX_EVENTS], before any scan): uid 65534's maxevents of -2^31, -1, 0,
    2^31 - 1 or EP_MAX_EVENTS + 1 is EINVAL; EP_MAX_EVENTS gives as many
    events as are ready (200) and an empty reply when none is; a wait with
    a 2^63 - 1 ns timeout sleeps without stalling the daemon for others
    (round trips stay fast) and goes when its process is killed."""
    attacker = Peer(_hostile_waits)
    try:
        bad, events, nothing = attacker.expect()
        wait_until(lambda: waits_of(attacker.pid) == ["epoll_wait"], what="the attacker asleep")
        slowest = 0.0
        e = uipc.eventfd(0)
        for _ in range(50):
            start = time.monotonic()
            uipc.eventfd_write(e, 1)
            uipc.eventfd_read(e)
            slowest = max(slowest, time.monotonic() - start)
        uipc.close(e)
    finally:
        attacker.cleanup()
    wait_until(lambda: attacker.pid not in uipc.introspect.namespace()["processes"],
               what="the killed sleeper gone from the daemon")
    assert bad == [errno.EINVAL] * 5
    assert (events, nothing) == (200, 0)
    assert slowest < 0.5, f"a round trip took {slowest:.3f} s beside the long wait"


# --- (8) proc_read outside its list ---------------------------------------------------------
_IN_OPEN, _IN_ACCESS, _IN_NONBLOCK = 0x20, 0x1, 0o4000


class OpenWatch:
    """inotify(7) on one file: did anyone open or read it?"""

    def __init__(self, path: str) -> None:
        self.fd = _libc.inotify_init1(_IN_NONBLOCK)
        if self.fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1")
        if _libc.inotify_add_watch(self.fd, path.encode(), _IN_OPEN | _IN_ACCESS) < 0:
            err = ctypes.get_errno()
            os.close(self.fd)
            raise OSError(err, f"inotify_add_watch {path}")

    def touched(self) -> bool:
        """Events since the last call (inotify queues them at the open itself)."""
        try:
            return bool(os.read(self.fd, 4096))
        except BlockingIOError:
            return False

    def close(self) -> None:
        os.close(self.fd)


def test_proc_read_outside_its_files_is_enoent_and_reads_no_file(ns: str, daemon) -> None:
    """Attacks sys_proc_read's list (uipc/kernel/procfs.py: SYSVIPC_HEADERS
    and proc_sys_name's sysctl lookup; nothing is ever opened): uid 65534's
    proc_read of /etc/shadow, relative paths, '..' walks out of /proc/sysvipc
    and /proc/sys, the daemon's own /proc entries, uipc's quota sysctls and
    a secret file of root's is ENOENT (EINVAL for a path that is not UTF-8),
    and inotify sees no open of the secret file (it does see the test's own
    read of it, so the watch works)."""
    secret_dir = Path(tempfile.mkdtemp(prefix="uipc-secret-"))
    secret = secret_dir / "secret"
    secret.write_text("root's secret\n")
    os.chmod(secret, 0o600)
    watch = OpenWatch(str(secret))
    s = str(secret)
    paths = ["/etc/shadow", "/etc/passwd", "../", "..", "", "/", "etc/passwd",
             "/proc/sysvipc/../../etc/passwd", "/proc/sysvipc/msg/../../../etc/passwd",
             "/proc/sys/kernel/../../../etc/passwd",
             "/proc/sys/kernel/msgmax/../../../../etc/shadow",
             "/proc/sysvipc/msg\0/etc/passwd", "/proc/sysvipc/",
             "/proc/sys/uipc/quota/files", "/proc/self/environ", f"/proc/{daemon.pid}/environ",
             f"/proc/{daemon.pid}/root{s}", s, f"/proc/sysvipc/../..{s}",
             f"/proc/sys/kernel/../../..{s}", f"/proc/sys/fs/mqueue/../../../..{s}"]
    try:
        def attacker() -> tuple[dict[str, int], int, str]:
            got = {p: errno_of(lambda p=p: raw("proc_read", 0, 0, tail=p.encode()))
                   for p in paths}
            not_utf8 = raw_errno("proc_read", 0, 0, tail=b"/proc/sysvipc/\xff\xfe")
            allowed = raw("proc_read", 0, 0, tail=b"/proc/sys/kernel/msgmax").decode()
            return got, not_utf8, allowed

        got, not_utf8, allowed = as_nobody(attacker)
        assert not watch.touched(), "the daemon opened or read the secret file"
        assert secret.read_text() == "root's secret\n"
        assert watch.touched()  # the watch sees an open when one happens
    finally:
        watch.close()
        secret.unlink()
        secret_dir.rmdir()
    assert got == {p: errno.ENOENT for p in paths}
    assert not_utf8 == errno.EINVAL
    assert allowed == "8192\n"  # the op itself works for the attacker
