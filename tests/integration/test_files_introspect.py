"""The descriptor files in the introspection: the "files" section (each
process's pipes, FIFOs, eventfds, timerfds, signalfds and epolls with
their state), signal state in the processes section, what a blocked thread
waits on, and `uipc explain --pid` turning it into sentences -- with real
processes blocked in the real daemon.

The processes that block signals are children (the test process's own uipc
mask stays empty, as tests/integration/test_signal.py keeps it).  The
uid-65534 tests need root (the session daemon then runs in system mode).
"""
from __future__ import annotations

import errno
import os
import re
import signal
import subprocess
import sys
from typing import Any, Callable, Iterator

import pytest

import uipc
from tests.conftest import ROOT, wait_until
from tests.helpers import Child, as_nobody, recv_obj, send_obj
from uipc.cli.explain import context_of, plural, process_report

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to setuid a child")
USR1, USR2 = int(signal.SIGUSR1), int(signal.SIGUSR2)
SI_QUEUE = -1


def ino(fd: int) -> int:
    """The inode that names a uipc descriptor (its doorbell's st_ino)."""
    return os.fstat(fd).st_ino


def procs() -> dict[int, dict[str, Any]]:
    return {p["pid"]: p for p in uipc.introspect.section("processes")}


def files_of(pid: int) -> dict[int, dict[str, Any]]:
    """The pid's descriptors by inode, as the files section shows them."""
    [entry] = uipc.introspect.files(pid)
    return {f["ino"]: f for f in entry["files"]}


def wait_of(pid: int, op: str) -> dict[str, Any]:
    """The pid's wait in ``op``, once the processes section shows it."""
    found: list[dict[str, Any]] = []

    def asleep() -> bool:
        p = procs().get(pid)
        found[:] = [w for w in (p or {}).get("waits") or [] if w["op"] == op]
        return bool(found)
    wait_until(asleep, what=f"pid {pid} asleep in {op}")
    return found[0]


def explain_pid(pid: int) -> str:
    """`uipc explain --pid PID` as the operator runs it (no TTY)."""
    out = subprocess.run([sys.executable, "-m", "uipc.cli.explain", "--pid", str(pid)],
                         cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout


class Channel:
    """Two plain pipes a child and the test talk over (pickled objects)."""

    def __init__(self) -> None:
        self.down = os.pipe()
        self.up = os.pipe()

    def say(self, obj: Any) -> None:  # in the child
        send_obj(self.up[1], obj)

    def hear(self) -> Any:  # in the child
        return recv_obj(self.down[0], 30)

    def tell(self, obj: Any) -> None:  # in the test
        send_obj(self.down[1], obj)

    def expect(self) -> Any:  # in the test
        return recv_obj(self.up[0], 30)

    def close(self) -> None:
        for fd in (*self.down, *self.up):
            os.close(fd)


@pytest.fixture
def children() -> Iterator[list[Child]]:
    """Children to kill (and reap) when the test ends, whatever happens."""
    kids: list[Child] = []
    yield kids
    for kid in kids:
        try:
            kid.kill()
        except (ProcessLookupError, ChildProcessError, OSError):
            pass


@pytest.fixture
def closing() -> Iterator[list[int]]:
    """uipc descriptors of the test process, closed when the test ends."""
    fds: list[int] = []
    yield fds
    for fd in fds:
        uipc.close(fd)


def spawn(children: list[Child], fn: Callable[[], object]) -> Child:
    kid = Child(fn)
    children.append(kid)
    return kid


# --- the files section --------------------------------------------------------------------
def test_the_files_section_shows_each_descriptor_with_its_state(
        ns: str, closing: list[int]) -> None:
    r, w = uipc.pipe2()
    e = uipc.eventfd(5, uipc.EFD_SEMAPHORE | uipc.EFD_CLOEXEC)
    t = uipc.timerfd_create(uipc.CLOCK_MONOTONIC)
    ep = uipc.epoll_create1()
    closing += [r, w, e, t, ep]
    uipc.write(w, b"abc")
    uipc.fcntl(w, uipc.F_SETPIPE_SZ, 2 * 65536)
    uipc.timerfd_settime(t, 0, 10.0, 600.0)
    uipc.epoll_ctl(ep, uipc.EPOLL_CTL_ADD, r, uipc.EPOLLIN)
    uipc.epoll_ctl(ep, uipc.EPOLL_CTL_ADD, e, uipc.EPOLLIN, data=77)
    uipc.epoll_ctl(ep, uipc.EPOLL_CTL_ADD, t, uipc.EPOLLIN)
    me = os.getpid()
    seen = files_of(me)
    assert sorted(seen) == sorted(map(ino, (r, w, e, t, ep)))
    rd, wr = seen[ino(r)], seen[ino(w)]
    assert (rd["type"], rd["mode"], wr["mode"]) == ("pipe", "r", "w")
    for end in (rd, wr):  # both ends show the one pipe
        assert (end["bytes"], end["capacity"], end["readers"], end["writers"]) == \
            (3, 131072, 1, 1)
        assert end["reader_pids"] == end["writer_pids"] == [me]
    assert seen[ino(e)] == {"ino": ino(e), "type": "eventfd", "flags": os.O_RDWR,
                            "mode": "rw", "count": 5, "semaphore": True, "cloexec": True}
    tf = seen[ino(t)]
    assert (tf["armed"], tf["interval"], tf["ticks"], tf["clockid"]) == \
        (True, 10.0, 0, uipc.CLOCK_MONOTONIC)
    assert 590 < tf["remaining"] <= 600
    epf = seen[ino(ep)]
    # the pipe holds data, the eventfd counts 5: two of the three ready
    assert (epf["type"], epf["items"], epf["ready"], epf["waiters"]) == ("epoll", 3, 2, 0)
    targets = {x["ino"]: x for x in epf["targets"]}
    assert targets[ino(e)]["data"] == 77 and targets[ino(e)]["ready"]
    assert targets[ino(r)]["type"] == "pipe" and not targets[ino(t)]["ready"]
    # reading the pipe empties it: its item is no longer counted ready
    assert uipc.read(r, 10) == b"abc"
    assert files_of(me)[ino(ep)]["ready"] == 1


def test_files_pages_by_pid(ns: str, closing: list[int], children: list[Child]) -> None:
    e = uipc.eventfd(0)
    closing.append(e)
    gate = uipc.eventfd(0, uipc.EFD_SEMAPHORE)  # each read takes one
    closing.append(gate)
    kids = [spawn(children, lambda: uipc.eventfd_read(gate)) for _ in range(3)]
    for kid in kids:
        wait_of(kid.pid, "eventfd read")
    pids = sorted([os.getpid()] + [k.pid for k in kids])
    seen, cursor = [], 0
    while cursor is not None:
        reply, cursor = uipc.introspect.page("files", cursor, 1)
        assert len(reply["entries"]) == 1
        seen += [x["pid"] for x in reply["entries"]]
    assert seen == pids
    # every child holds what it inherited, the same files (the same inodes)
    for kid in kids:
        assert sorted(files_of(kid.pid)) == sorted([ino(e), ino(gate)])
    uipc.eventfd_write(gate, 3)
    for kid in kids:
        assert kid.result() == 1
    children.clear()


# --- blocked processes, explained -----------------------------------------------------------
def test_a_blocked_pipe_reader_an_epoll_waiter_and_a_pending_signal_are_explained(
        ns: str, closing: list[int], children: list[Child]) -> None:
    r, w = uipc.pipe2()
    e = uipc.eventfd(0)
    closing += [r, w, e]
    me = os.getpid()
    chan = Channel()

    def reader() -> tuple[bytes, list[tuple[int, int]]]:
        uipc.close(w)  # the test holds the only write end
        uipc.sigprocmask(uipc.SIG_BLOCK, [USR1])
        s = uipc.signalfd(-1, [USR1])
        chan.say(ino(s))
        data = uipc.read(r, 100)  # blocks: empty, with a writer
        return data, [(i.ssi_signo, i.ssi_int) for i in uipc.read_siginfo(s)]

    def waiter() -> list[tuple[int, int]]:
        uipc.close(w)
        ep = uipc.epoll_create1()
        uipc.epoll_ctl(ep, uipc.EPOLL_CTL_ADD, r, uipc.EPOLLIN)
        uipc.epoll_ctl(ep, uipc.EPOLL_CTL_ADD, e, uipc.EPOLLIN)
        chan.say(ino(ep))
        return uipc.epoll_wait(ep, 4, -1)

    try:
        a = spawn(children, reader)
        s_ino = chan.expect()
        b = spawn(children, waiter)
        ep_ino = chan.expect()
        read = wait_of(a.pid, "pipe read")
        wait_of(b.pid, "epoll_wait")
        uipc.sigqueue(a.pid, USR1, 42)  # blocked by the reader: pending
        wait_until(lambda: procs()[a.pid]["signals"]["pending"] == [USR1],
                   what="SIGUSR1 pending for the reader")

        # what the section says of them
        [rf] = read["on"]["files"]
        assert (rf["ino"], rf["bytes"], rf["writers"], rf["writer_pids"]) == (ino(r), 0, 1, [me])
        assert read["timeout"] is None
        sfd = files_of(a.pid)[s_ino]
        assert (sfd["type"], sfd["sigmask"], sfd["owner"]) == ("signalfd", [USR1], a.pid)
        sig = procs()[a.pid]["signals"]
        assert (sig["blocked"], sig["pending"], sig["queued_total"]) == ([USR1], [USR1], 1)
        assert sig["queued"] == [{"signo": USR1, "code": SI_QUEUE, "pid": me, "uid": os.getuid(),
                                  "value": 42}]
        epf = files_of(b.pid)[ep_ino]
        assert (epf["items"], epf["ready"], epf["waiters"]) == (2, 0, 1)

        # and what `uipc explain --pid` makes of it
        out = explain_pid(a.pid)
        assert re.search(rf"^Pid {a.pid} \(uid {os.geteuid()}, \d+ tasks?\) holds 3 uipc "
                         rf"descriptors: "
                         rf".*pipe {ino(r)} \(read end\)", out, re.M), out
        assert re.search(rf"pid {a.pid} is blocked reading pipe {ino(r)} \(empty, 1 writer: "
                         rf"pid {me}\), since \d+\.\d s\.", out), out
        assert "It blocks SIGUSR1; pending: SIGUSR1." in out
        assert f"Queued: SIGUSR1 from pid {me} (uid {os.getuid()}, SI_QUEUE, value 42)." in out
        out = explain_pid(b.pid)
        assert re.search(rf"pid {b.pid} waits in epoll_wait on 2 descriptors, none ready "
                         rf"\(epoll {ep_ino}: pipe {ino(r)} \(fd {r}\), eventfd {ino(e)} "
                         rf"\(fd {e}\)\), since \d+\.\d s\.", out), out

        # the eventfd's count wakes the epoll waiter, then the pipe's data the
        # reader (which then reads its signal)
        uipc.eventfd_write(e, 1)
        assert b.result() == [(e, uipc.EPOLLIN)]
        uipc.write(w, b"wake")
        assert a.result() == (b"wake", [(USR1, 42)])
        children.clear()
    finally:
        chan.close()


def test_every_kind_of_descriptor_wait_says_what_it_waits_on(
        ns: str, closing: list[int], children: list[Child]) -> None:
    """timerfd and eventfd reads and writes, a full pipe's writer, a splice
    waiting for data, a poll, a FIFO open: each wait names its files and a
    sentence says why it waits."""
    t = uipc.timerfd_create(uipc.CLOCK_MONOTONIC)
    uipc.timerfd_settime(t, 0, 0.0, 1000.0)
    full = uipc.eventfd(0)
    uipc.eventfd_write(full, (1 << 64) - 2)  # the most it holds
    r1, w1 = uipc.pipe2()
    uipc.write(w1, b"x" * 65536)  # 16 slots of 4096: full
    r2, w2 = uipc.pipe2()
    r3, w3 = uipc.pipe2()
    e = uipc.eventfd(0)
    closing += [t, full, r1, w1, r2, w2, r3, w3, e]
    uipc.mkfifo("/rendezvous", 0o600)
    me = os.getpid()
    try:
        sleepers = {
            "timerfd read": spawn(children, lambda: uipc.read(t, 8)),
            "eventfd write": spawn(children, lambda: uipc.eventfd_write(full, 1)),
            "pipe write": spawn(children, lambda: uipc.write(w1, b"y")),
            "splice": spawn(children, lambda: uipc.splice(r2, w3, 100)),
            "poll": spawn(children, lambda: uipc.poll([(e, 1), (r3, 1)], -1)),
            "fifo open": spawn(children, lambda: uipc.open("/rendezvous", os.O_RDONLY)),
        }
        waits = {op: wait_of(kid.pid, op) for op, kid in sleepers.items()}
        on = {op: w["on"] for op, w in waits.items()}
        assert [f["ino"] for f in on["timerfd read"]["files"]] == [ino(t)]
        assert [f["ino"] for f in on["eventfd write"]["files"]] == [ino(full)]
        assert on["eventfd write"]["files"][0]["count"] == (1 << 64) - 2
        assert [(f["ino"], f["bytes"]) for f in on["pipe write"]["files"]] == [(ino(w1), 65536)]
        assert [f["ino"] for f in on["splice"]["files"]] == [ino(r2), ino(w3)]
        assert on["splice"]["for"] == "data"
        assert sorted(f["ino"] for f in on["poll"]["files"]) == sorted([ino(e), ino(r3)])
        assert on["fifo open"] == {"fifo": "/rendezvous", "for": "writer", "readers": 1,
                                   "writers": 0}

        def said(op: str) -> str:
            record = process_report(sleepers[op].pid, context_of())
            assert record is not None
            return "\n".join(record["sentences"])
        pid = {op: kid.pid for op, kid in sleepers.items()}
        assert re.search(rf"pid {pid['timerfd read']} is blocked reading timerfd {ino(t)}: it "
                         r"has not expired yet: next expiry in 1\d min \d+ s \(since",
                         said("timerfd read")), said("timerfd read")
        assert (f"pid {pid['eventfd write']} is blocked writing eventfd {ino(full)}: its "
                f"counter ({(1 << 64) - 2}) has no room") in said("eventfd write")
        assert re.search(rf"pid {pid['pipe write']} is blocked writing pipe {ino(w1)} \(full: "
                         rf"65536 of 65536 bytes, 1 reader: pids (\d+, )*\d+ and \d+\)",
                         said("pipe write")), said("pipe write")
        assert re.search(rf"pid {pid['splice']} is blocked in splice from pipe {ino(r2)} to "
                         rf"pipe {ino(w3)}: pipe {ino(r2)} is empty, 1 writer: pids ",
                         said("splice")), said("splice")
        assert re.search(rf"pid {pid['poll']} waits in poll on 2 descriptors \((eventfd|pipe) "
                         r"\d+, (eventfd|pipe) \d+\), none ready", said("poll")), said("poll")
        assert (f"pid {pid['fifo open']} is blocked opening FIFO /rendezvous for reading: no "
                "writer has opened it yet") in said("fifo open")
        assert me not in pid.values()
    finally:
        for kid in children:
            kid.kill()
        children.clear()
        uipc.unlink("/rendezvous")


def test_a_signalfd_read_says_which_signals_it_waits_for(
        ns: str, children: list[Child]) -> None:
    chan = Channel()

    def reader() -> int:
        uipc.sigprocmask(uipc.SIG_BLOCK, [USR2])  # USR1 left unblocked: never read
        s = uipc.signalfd(-1, [USR1, USR2])
        chan.say(ino(s))
        return uipc.read_siginfo(s)[0].ssi_signo

    try:
        kid = spawn(children, reader)
        s_ino = chan.expect()
        [f] = wait_of(kid.pid, "signalfd read")["on"]["files"]
        assert (f["ino"], f["sigmask"]) == (s_ino, [USR1, USR2])
        record = process_report(kid.pid, context_of())
        assert record is not None
        assert (f"pid {kid.pid} is blocked reading signalfd {s_ino} for SIGUSR1, SIGUSR2: none "
                "of them is pending (SIGUSR1 is not blocked: delivered as a signal, never read "
                "here)") in "\n".join(record["sentences"])
        uipc.kill(kid.pid, USR2)
        assert kid.result() == USR2
        children.clear()
    finally:
        chan.close()


# --- who may see what ----------------------------------------------------------------------
# The root processes here are children: a fork from a process that holds
# uipc descriptors would hand them (and the fork report) to the uid-65534
# child before it drops its uid.
@needs_root
def test_another_user_sees_roots_processes_as_proc_shows_them(
        ns: str, no_umask: None, children: list[Child]) -> None:
    """uid 65534 sees a root process's pid and signal masks (/proc/PID/status
    shows them to anyone), never its descriptors, waits or queued signals
    (/proc/PID/fd and fdinfo need ptrace access), and of a FIFO it shares
    with root, only its own end's holders."""
    uipc.mkfifo("/shared", 0o666)
    chan = Channel()

    def owner() -> bytes:
        fifo = uipc.open("/shared", os.O_RDWR)  # both ends: never waits
        uipc.sigprocmask(uipc.SIG_BLOCK, [USR1])
        chan.say(ino(fifo))
        return uipc.read(fifo, 10)  # it holds the write end itself

    try:
        kid = spawn(children, owner)
        fifo_ino = chan.expect()
        wait_of(kid.pid, "pipe read")
        uipc.sigqueue(kid.pid, USR1, 7)

        def look() -> dict[str, Any]:
            mine = uipc.open("/shared", os.O_WRONLY | os.O_NONBLOCK)  # root's end reads
            try:
                return {"procs": {p["pid"]: p for p in uipc.introspect.section("processes")},
                        "files": {e["pid"]: e["files"] for e in uipc.introspect.files()},
                        "me": os.getpid(), "fifo": ino(mine)}
            finally:
                uipc.close(mine)

        theirs = as_nobody(look)
        seen = theirs["procs"][kid.pid]
        assert seen["uid"] == 0 and "waits" not in seen and seen["undo"] is None
        assert seen["signals"] == {"blocked": [USR1], "pending": [USR1], "queued": None,
                                   "queued_total": None}
        assert theirs["files"][kid.pid] is None
        [own] = theirs["files"][theirs["me"]]
        assert (own["ino"], own["type"], own["name"], own["mode"]) == \
            (theirs["fifo"], "fifo", "/shared", "w")
        # root's end counts, but who holds it is root's business
        assert (own["readers"], own["writers"]) == (1, 2)
        assert own["reader_pids"] == [] and own["writer_pids"] == [theirs["me"]]

        # root (CAP_SYS_ADMIN) sees it all
        fifo = files_of(kid.pid)[fifo_ino]
        assert (fifo["reader_pids"], fifo["writer_pids"]) == ([kid.pid], [kid.pid])
        assert procs()[kid.pid]["signals"]["queued"][0]["value"] == 7
        record = process_report(kid.pid, context_of())
        assert record is not None
        assert (f"pid {kid.pid} is blocked reading FIFO /shared (empty, 1 writer: pid {kid.pid}; "
                f"pid {kid.pid} holds a write end itself, so it sees no end of file until it "
                "closes it)") in "\n".join(record["sentences"])
    finally:
        chan.close()
        for child in children:
            child.kill()
        children.clear()
        uipc.unlink("/shared")


@needs_root
def test_explain_pid_of_a_process_one_may_not_inspect_says_so(
        ns: str, children: list[Child]) -> None:
    chan = Channel()

    def reader() -> int:
        e = uipc.eventfd(0)
        chan.say(ino(e))
        return uipc.eventfd_read(e)

    def told() -> list[str]:
        record = process_report(kid.pid, context_of())
        assert record is not None
        return record["sentences"]

    try:
        kid = spawn(children, reader)
        e_ino = chan.expect()
        wait_of(kid.pid, "eventfd read")
        theirs = as_nobody(told)
        assert theirs[0] == (f"Pid {kid.pid} (uid 0, {plural(procs()[kid.pid]['tasks'], 'task')})"
                             ": its descriptors and waits are hidden (you may not inspect it).")
        assert not any("eventfd" in s for s in theirs)
        assert (f"pid {kid.pid} is blocked reading eventfd {e_ino}: its counter is 0"
                in "\n".join(told()))
    finally:
        chan.close()


def test_explain_pid_errors(ns: str) -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "uipc.cli.explain", *args], cwd=ROOT,
                              capture_output=True, text=True, timeout=60)
    out = run("--pid", "999999999")
    assert (out.returncode, out.stdout) == (1, "")
    assert out.stderr == f"uipc explain: no uipc process 999999999 in namespace {ns}\n"
    out = run("--pid", "1", "-q")
    assert out.returncode == 2 and "--pid explains a process" in out.stderr
    out = run()
    assert out.returncode == 2 and "an ID, KEY or NAME is required (or --pid PID)" in out.stderr


def test_bad_files_requests_are_refused(ns: str) -> None:
    from uipc import protocol as P
    from uipc.client.connection import call
    with pytest.raises(OSError) as info:  # "files" is the last section
        call(P.OPS_BY_NAME["introspect"], (0, 8, 0, 0))
    assert info.value.errno == errno.EINVAL
    with pytest.raises(ValueError):
        uipc.introspect.files(0)
    with pytest.raises(TypeError):
        uipc.introspect.files("1")  # type: ignore[arg-type]
    assert uipc.introspect.files(999999999) == []


# --- uipc trace ----------------------------------------------------------------------------
def test_trace_decodes_the_descriptor_calls_flags(ns: str) -> None:
    """pipe2, eventfd2, epoll_ctl, signalfd4 and splice show their flags,
    ops, events and signal sets by name, as strace does."""
    from uipc.client.connection import current_socket
    calls = "pipe2,eventfd2,epoll_ctl,epoll_wait,signalfd4,splice,rt_sigprocmask"
    env = dict(os.environ, UIPC_SOCKET=str(current_socket()), UIPC_NAMESPACE=ns)
    t = subprocess.Popen([sys.executable, "-m", "uipc.cli.main", "trace", "--count", "8",
                          "--syscall", calls], env=env, cwd=ROOT, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    try:
        assert t.stderr is not None and "listening" in t.stderr.readline()

        def run() -> None:
            r, w = uipc.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
            r2, w2 = uipc.pipe2()
            e = uipc.eventfd(0, uipc.EFD_SEMAPHORE | uipc.EFD_NONBLOCK)
            ep = uipc.epoll_create1()
            uipc.epoll_ctl(ep, uipc.EPOLL_CTL_ADD, e, uipc.EPOLLIN | uipc.EPOLLET, data=9)
            uipc.epoll_wait(ep, 4, 0)
            uipc.sigprocmask(uipc.SIG_BLOCK, [USR1, 34])
            uipc.signalfd(-1, [USR1, 34], uipc.SFD_CLOEXEC)
            uipc.write(w, b"abc")
            uipc.splice(r, w2, 10, uipc.SPLICE_F_NONBLOCK | uipc.SPLICE_F_MOVE)
        Child(run).result()
        out, err = t.communicate(timeout=30)
    finally:
        if t.poll() is None:
            t.kill()
            t.wait()
    calls_seen = [re.sub(r"^\S+ \[pid \d+\] ", "", line) for line in out.splitlines()]
    ino = r"\d+"
    expected = [
        r"pipe2\(O_NONBLOCK\|O_CLOEXEC\) = \[<descriptor>, <descriptor>\]",
        r"pipe2\(0\) = \[<descriptor>, <descriptor>\]",
        r"eventfd2\(0, EFD_SEMAPHORE\|EFD_NONBLOCK\) = <descriptor>",
        rf"epoll_ctl\({ino}, EPOLL_CTL_ADD, {ino}, \d+, EPOLLIN\|EPOLLET, 9\) = 0",
        rf"epoll_wait\({ino}, 4, 0\) = 0 \[\]",
        r"rt_sigprocmask\(SIG_BLOCK, \[USR1 RT_2\]\) = \[\]",
        r"signalfd4\(-1, \[USR1 RT_2\], SFD_CLOEXEC\) = <descriptor>",
        rf"splice\({ino}, NULL, {ino}, NULL, 10, SPLICE_F_MOVE\|SPLICE_F_NONBLOCK\) = 3",
    ]
    assert len(calls_seen) == len(expected), (out, err)
    for line, pattern in zip(calls_seen, expected):
        assert re.fullmatch(pattern, line), (line, pattern)
