"""`uipc explain` and `uipc top` against the test daemon, with real blocked children.

Each blocked child is a forked process sleeping in msgrcv, msgsnd, semop,
mq_receive or sem_wait; a test waits until the introspection shows it
asleep before asking the command about it.  `uipc top`'s screen is driven
in a private tmux server (`tmux -S`), so no one's own tmux is touched.
"""
from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

import uipc
from tests.conftest import ROOT, wait_until
from tests.helpers import Child
from uipc.cli.explain import Context, explain_msg, explain_sem


def cli(module: str, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """`python -m uipc.cli.MODULE ARGS` with stdout and stderr captured (no TTY)."""
    return subprocess.run([sys.executable, "-m", f"uipc.cli.{module}", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=60,
                          env=dict(os.environ) if env is None else env)


def explain(*args: str) -> str:
    out = cli("explain", *args)
    assert out.returncode == 0, out.stderr
    return out.stdout


def sleepers(section: str, name: Any, lists: tuple[str, ...]) -> set[int]:
    """Pids asleep on one object, as the introspection shows them."""
    key = "id" if section in ("msg", "sem", "shm") else "name"
    return {w["pid"] for e in uipc.introspect.section(section) if e[key] == name
            for which in lists for w in e[which]}


def blocked(fn: Callable[[], object], section: str, name: Any,
            lists: tuple[str, ...]) -> Child:
    """A child asleep in fn(), once the introspection shows it asleep."""
    child = Child(fn)
    try:
        wait_until(lambda: child.pid in sleepers(section, name, lists),
                   what=f"pid {child.pid} asleep on {section} {name}")
    except BaseException:
        child.kill()
        raise
    return child


@pytest.fixture
def children() -> Iterator[list[Child]]:
    """Children to kill (and reap) when the test ends, whatever happens."""
    kids: list[Child] = []
    yield kids
    for kid in kids:
        kid.kill()


# --- uipc explain ------------------------------------------------------------------
def test_explain_msg_queue_names_the_blocked_receiver_and_the_full_sender(
        ns: str, children: list[Child]) -> None:
    q = uipc.msgget(uipc.IPC_PRIVATE, 0o600)
    try:
        uipc.msgsnd(q, 5, b"x" * 8192)
        uipc.msgsnd(q, 5, b"y" * 8192)  # 16384 bytes: msg_qbytes is full
        rcv = blocked(lambda: uipc.msgrcv(q, 100, 7), "msg", q, ("receivers",))  # no type 7
        children.append(rcv)
        snd = blocked(lambda: uipc.msgsnd(q, 1, b"abc"), "msg", q, ("senders",))
        children.append(snd)
        out = explain(str(q))
        assert f"Message queue {q} (key 0x00000000)" in out
        assert "holds 2 messages in 16384 bytes of its 16384 (msg_qbytes)" in out
        assert re.search(rf"pid {rcv.pid} waits in msgrcv \(since \d+\.\d s\) for a message of "
                         r"type 7: none of the 2 queued messages is one", out), out
        assert re.search(rf"pid {snd.pid} waits in msgsnd \(since \d+\.\d s\): the queue holds "
                         r"16384 of its 16384 bytes \(msg_qbytes\), 0 free", out), out
        assert f"Last msgsnd by pid {os.getpid()}" in out
    finally:
        uipc.msgctl(q, uipc.IPC_RMID)


def test_explain_semop_waiting_for_zero_names_the_last_changer_and_its_undo(
        ns: str, children: list[Child]) -> None:
    s = uipc.semget(uipc.IPC_PRIVATE, 3, 0o600)
    me = os.getpid()
    try:
        uipc.semop(s, [(2, 1, uipc.SEM_UNDO)])
        kid = blocked(lambda: uipc.semop(s, [(2, 0, 0)]), "sem", s, ("waiters",))
        children.append(kid)
        out = explain("-s", str(s))
        assert re.search(rf"pid {kid.pid} waits in semop for sem 2 of set {s} to reach 0 "
                         rf"\(it is 1; since \d+\.\d s\); pid {me} last changed it \(it has "
                         rf"added 1 with SEM_UNDO: that is undone when pid {me} exits\)\.",
                         out), out
        assert "values 0, 0, 1" in out
    finally:
        uipc.semctl(s, 0, uipc.IPC_RMID)


def test_explain_posix_queue_names_the_receiver_and_the_notified_process(
        ns: str, children: list[Child]) -> None:
    name = "/uipc-explain-q"
    mq = uipc.mq_open(name, os.O_CREAT | os.O_RDWR, 0o600)
    try:
        uipc.mq_notify(mq, uipc.SigEvent(uipc.SIGEV_NONE))
        kid = blocked(lambda: uipc.mq_receive(mq, 8192), "mqueue", name, ("receivers",))
        children.append(kid)
        out = explain(name)
        assert f"POSIX message queue {name}" in out and "holds 0 of its 10 messages" in out
        assert re.search(rf"pid {kid.pid} waits in mq_timedreceive \(since \d+\.\d s\): the "
                         r"queue is empty\.", out), out
        assert (f"pid {os.getpid()} is registered for notification (SIGEV_NONE): it is told "
                "when a message arrives on the empty queue, but not while a receiver waits") in out
    finally:
        uipc.mq_close(mq)
        uipc.mq_unlink(name)


def test_explain_posix_semaphore_names_its_waiter_and_openers(
        ns: str, children: list[Child]) -> None:
    name = "/uipc-explain-s"
    sem = uipc.sem_open(name, os.O_CREAT, 0o600, 0)
    try:
        kid = blocked(lambda: uipc.sem_wait(sem), "posix_sem", name, ("waiters",))
        children.append(kid)
        out = explain(name)
        assert f"POSIX semaphore {name}, owner uid {os.geteuid()}, mode 600, has value 0." in out
        assert re.search(rf"pid {kid.pid} waits in sem_wait \(since \d+\.\d s\) for the value "
                         r"to rise above 0 \(it is 0\)", out), out
        low, high = sorted((os.getpid(), kid.pid))  # (pids can wrap in a long run)
        assert f"pids {low} and {high}" in out
    finally:
        uipc.sem_close(sem)
        uipc.sem_unlink(name)


def test_explain_shm_lists_attachers_and_destruction(ns: str) -> None:
    shm = uipc.shmget(uipc.IPC_PRIVATE, 8192, 0o600)
    a1, a2 = uipc.shmat(shm), uipc.shmat(shm)
    me = os.getpid()
    try:
        out = explain("-m", str(shm))
        assert f"is attached 2 times, by pid {me} (2 mappings)" in out
        assert "It is not marked for destruction" in out
        uipc.shmctl(shm, uipc.IPC_RMID)  # attached: only marked
        out = explain("-m", str(shm))
        assert "It is marked for destruction (IPC_RMID): it goes when the last process " \
               "detaches." in out
    finally:
        uipc.shmdt(a1)
        uipc.shmdt(a2)
    assert cli("explain", "-m", str(shm)).returncode == 1  # gone with its last detach


def test_an_id_or_key_of_several_kinds_explains_each_unless_a_kind_is_chosen(ns: str) -> None:
    key = 0x5A17
    q = uipc.msgget(key, uipc.IPC_CREAT | 0o600)
    s = uipc.semget(key, 1, uipc.IPC_CREAT | 0o600)
    m = uipc.shmget(key, 4096, uipc.IPC_CREAT | 0o600)
    try:
        assert q == s == m  # each kind counts its ids from 0 in a fresh namespace
        for query in (str(q), "0x5a17"):
            out = explain(query)
            assert [line.split(" (key")[0] for line in out.split("\n\n")] == [
                f"Message queue {q}", f"Semaphore set {s}", f"Shared memory segment {m}"]
        only = json.loads(explain("--json", "-s", str(s)))
        assert only["namespace"] == ns
        assert [(o["kind"], o["object"]["id"]) for o in only["objects"]] == [("sem", s)]
        assert only["objects"][0]["sentences"][0].startswith(f"Semaphore set {s} (key 0x00005a17)")
    finally:
        uipc.msgctl(q, uipc.IPC_RMID)
        uipc.semctl(s, 0, uipc.IPC_RMID)
        uipc.shmctl(m, uipc.IPC_RMID)


def test_explain_unknown_objects_fail_with_status_1_naming_them(ns: str) -> None:
    out = cli("explain", "4242")
    assert (out.returncode, out.stdout) == (1, "")
    assert out.stderr == ("uipc explain: no message queue, semaphore set or shared memory "
                          f"segment with id 4242 in namespace {ns}\n")
    out = cli("explain", "-q", "0x77")
    assert out.returncode == 1
    assert out.stderr == f"uipc explain: no message queue with key 0x00000077 in namespace {ns}\n"
    out = cli("explain", "/no-such")
    assert out.returncode == 1 and out.stderr == (
        "uipc explain: no POSIX message queue, POSIX semaphore or POSIX shared memory object "
        f"with name /no-such in namespace {ns}\n")
    out = cli("explain", "-q", "/no-such")  # a kind of SysV for a POSIX name: a usage error
    assert out.returncode == 2 and "-q, -s and -m pick a SysV kind" in out.stderr


def test_explain_and_top_without_a_daemon_say_so() -> None:
    sockdir = Path(tempfile.mkdtemp(prefix="uipc-none-"))  # 0700, ours: trusted, but empty
    try:
        env = dict(os.environ, UIPC_SOCKET=str(sockdir / "uipc.sock"))
        for module, args in (("explain", ("0",)), ("top", ("--once",))):
            out = cli(module, *args, env=env)
            assert out.returncode == 1, out
            assert out.stderr.startswith(f"uipc {module}: uipc daemon is not running"), out.stderr
    finally:
        shutil.rmtree(sockdir)


def test_sentences_use_fields_the_introspection_may_add() -> None:
    """msgtyp, msgsz, qbytes, message types, sempids and timeouts, once
    procfs.py gives them, make the sentences precise (no daemon is asked:
    the Context is not live)."""
    ctx = Context(now=100.0, live=False)
    q = {"id": 3, "key": 0, "uid": 0, "perms": 0o600, "qnum": 2, "cbytes": 100, "qbytes": 120,
         "types": [[5, 2, 100]], "stime": 99, "lspid": 1, "rtime": 0, "lrpid": 0,
         "readable": True,
         "receivers": [{"pid": 7, "op": "msgrcv", "since": 97.0, "msgtyp": 4, "mode": 4}],
         "senders": [{"pid": 8, "op": "msgsnd", "since": 98.0, "msgsz": 40}]}
    text = explain_msg(q, ctx)
    assert "By type: type 5: 2 messages, 100 bytes." in text
    assert ("pid 7 waits in msgrcv (since 3.0 s) for a message of type 4 or lower: none of the "
            "2 queued messages is one.") in text
    assert ("pid 8 waits in msgsnd (since 2.0 s): the queue holds 100 of its 120 bytes "
            "(msg_qbytes), 20 free, and its 40-byte message does not fit.") in text
    s = {"id": 9, "key": 0, "uid": 0, "perms": 0o600, "nsems": 1, "otime": 0, "values": [0],
         "pids": [5], "undo": [{"pid": 5, "semadj": [1]}], "readable": True,
         "waiters": [{"pid": 6, "op": "semtimedop", "since": 99.5, "sops": [[0, -1, 0]],
                      "blocking": 0, "timeout": 4.0}]}
    assert explain_sem(s, ctx)[1] == (
        "pid 6 waits in semtimedop for sem 0 of set 9 to reach at least 1 (it is 0; since "
        "0.5 s, gives up in 4.0 s); "
        "pid 5 last changed it (it has taken 1 with SEM_UNDO: it is given back when pid 5 "
        "exits).")


# --- uipc top -------------------------------------------------------------------------
def test_top_without_a_tty_prints_one_table(ns: str, children: list[Child]) -> None:
    q = uipc.msgget(uipc.IPC_PRIVATE, 0o600)
    try:
        kid = blocked(lambda: uipc.msgrcv(q, 100, 0), "msg", q, ("receivers",))
        children.append(kid)
        for args in ((), ("--once",)):
            out = subprocess.run([sys.executable, "-m", "uipc.cli.top", *args], cwd=ROOT,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                 timeout=60)
            assert out.returncode == 0, out.stderr
            lines = out.stdout.splitlines()
            assert lines[0].startswith(f"uipc top - namespace {ns} - daemon pid ")
            assert "2 processes connected (besides this one), 1 blocked" in lines[0]
            [row] = [line for line in lines if line.startswith("msg ")]
            assert row.split()[:2] == ["msg", str(q)]
            assert re.search(rf"1: {kid.pid} msgrcv \d+\.\ds$", row), row
            assert re.search(rf"^{kid.pid} .* msgrcv on msg {q} for \d+\.\ds$", out.stdout,
                             re.M), out.stdout
    finally:
        uipc.msgctl(q, uipc.IPC_RMID)


class Tmux:
    """A private tmux server (its own socket) running one session."""

    def __init__(self, command: str) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="uipc-tmux-"))
        self.sock = self.dir / "tmux.sock"
        self.rc, self.err = self.dir / "rc", self.dir / "stderr"
        made = self("new-session", "-d", "-s", "top", "-x", "200", "-y", "50", "-c", str(ROOT),
                    f"{command} 2> {shlex.quote(str(self.err))}; "
                    f"echo $? > {shlex.quote(str(self.rc))}")
        assert made.returncode == 0, made.stderr

    def __call__(self, *args: str) -> subprocess.CompletedProcess:
        # tmux runs the command with $SHELL, else the user's login shell:
        # uid 65534's is nologin, which ends the session at once
        return subprocess.run(["tmux", "-S", str(self.sock), *args], capture_output=True,
                              text=True, timeout=30, env=dict(os.environ, SHELL="/bin/sh"))

    def screen(self) -> str:
        return self("capture-pane", "-p", "-t", "top").stdout

    def wait_screen(self, pattern: str, what: str) -> re.Match[str]:
        """Poll the pane until ``pattern`` shows on it."""
        found: list[re.Match[str]] = []

        def shown() -> bool:
            m = re.search(pattern, self.screen(), re.M)
            found[:] = [m] if m else []
            return m is not None
        try:
            wait_until(shown, timeout=20, what=what)
        except AssertionError:
            raise AssertionError(f"{what}; the screen:\n{self.screen()}\n{self.ended()}") \
                from None
        return found[0]

    def ended(self) -> str:
        """How the command ended, if it did: its status and stderr."""
        if not self.rc.exists():
            return "(still running)"
        return f"exit status {self.rc.read_text().strip()}, stderr: {self.err.read_text()!r}"

    def alive(self) -> bool:
        return self("has-session", "-t", "top").returncode == 0

    def close(self) -> None:
        self("kill-server")
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.mark.skipif(shutil.which("tmux") is None,
                    reason="tmux is not installed (apt-get install tmux): uipc top's screen "
                           "is tested in it")
def test_top_screen_under_tmux_refreshes_explains_and_quits(ns: str,
                                                            children: list[Child]) -> None:
    q = uipc.msgget(uipc.IPC_PRIVATE, 0o600)
    kid = blocked(lambda: uipc.msgrcv(q, 100, 0), "msg", q, ("receivers",))
    children.append(kid)
    env = " ".join(f"{k}={shlex.quote(os.environ[k])}"
                   for k in ("UIPC_SOCKET", "UIPC_NO_AUTOSTART"))
    tmux = Tmux(f"env -u UIPC_NAMESPACE {env} {shlex.quote(sys.executable)} -m uipc.cli.top "
                f"--namespace {shlex.quote(ns)}")
    try:
        wait = rf"^msg +{q} .* 1: {kid.pid} msgrcv (\d+(?:\.\d)?)s$"
        first = float(tmux.wait_screen(wait, "the blocked receiver on the screen").group(1))
        assert f"namespace {ns}" in tmux.screen()

        def shown() -> float:
            m = re.search(wait, tmux.screen(), re.M)
            return float(m.group(1)) if m else 0.0
        # refreshed: the wait it shows grows by a second and more
        wait_until(lambda: shown() >= first + 1, timeout=20, what="the wait time growing")
        tmux("send-keys", "-t", "top", "Enter")  # the selected (only) object, explained
        tmux.wait_screen(rf"pid {kid.pid} waits in msgrcv \(since \d+\.\d s\) for a message of "
                         r"any type: the queue is empty\.", "the explain text")
        tmux("send-keys", "-t", "top", "Escape")
        tmux.wait_screen(r"^KIND +ID/NAME", "back to the table")
        tmux("send-keys", "-t", "top", "q")
        wait_until(lambda: not tmux.alive(), what="the session to end after q")
        assert tmux.rc.read_text().strip() == "0"
    finally:
        tmux.close()
        uipc.msgctl(q, uipc.IPC_RMID)


# --- descriptors: rows in top, processes in explain ------------------------------------------
def _asleep_in(pid: int, op: str) -> bool:
    return any(w["op"] == op for p in uipc.introspect.section("processes") if p["pid"] == pid
               for w in p.get("waits") or [])


def test_top_without_a_tty_shows_a_pipe_row_with_its_blocked_reader(
        ns: str, children: list[Child]) -> None:
    r, w = uipc.pipe2()
    try:
        def reader() -> bytes:
            uipc.close(w)
            return uipc.read(r, 10)
        kid = Child(reader)
        children.append(kid)
        wait_until(lambda: _asleep_in(kid.pid, "pipe read"), what="the reader asleep")
        out = cli("top", "--once")
        assert out.returncode == 0, out.stderr
        r_ino, w_ino = os.fstat(r).st_ino, os.fstat(w).st_ino
        assert "1 blocked" in out.stdout.splitlines()[0]
        assert ", 2 descriptors" in out.stdout.splitlines()[1]
        [row] = [line for line in out.stdout.splitlines() if line.startswith(f"pipe   {r_ino} ")]
        # KEY is the access mode, COUNT readers/writers, BYTES held/size, ATT the holders
        assert row.split()[:7] == ["pipe", str(r_ino), "r", str(os.geteuid()), "1r/1w",
                                   "0/65536", "-"]
        assert re.search(rf" 2 +1: {kid.pid} pipe read \d+\.\ds$", row), row
        [wrow] = [line for line in out.stdout.splitlines() if line.startswith(f"pipe   {w_ino} ")]
        assert wrow.split()[2] == "w" and wrow.split()[-1] == "1"  # held by this process only
        assert re.search(rf"^{kid.pid} .* pipe read on pipe {r_ino} for \d+\.\ds$", out.stdout,
                         re.M), out.stdout
    finally:
        uipc.close(r)
        uipc.close(w)


def test_explain_pid_json_carries_the_process_and_its_files(
        ns: str, children: list[Child]) -> None:
    t = uipc.timerfd_create(uipc.CLOCK_MONOTONIC)
    try:
        uipc.timerfd_settime(t, 0, 0.0, 3600.0)
        kid = Child(lambda: uipc.read(t, 8))
        children.append(kid)
        wait_until(lambda: _asleep_in(kid.pid, "timerfd read"), what="the reader asleep")
        record = json.loads(explain("--json", "--pid", str(kid.pid)))
        assert record["namespace"] == ns
        [obj] = record["objects"]
        assert (obj["kind"], obj["label"]) == ("process", f"pid {kid.pid}")
        assert [f["ino"] for f in obj["object"]["files"]] == [os.fstat(t).st_ino]
        [wait] = obj["object"]["waits"]
        assert wait["op"] == "timerfd read" and wait["on"]["files"][0]["armed"]
        assert re.search(rf"pid {kid.pid} is blocked reading timerfd {os.fstat(t).st_ino}: it "
                         r"has not expired yet: next expiry in 59 min \d+ s",
                         "\n".join(obj["sentences"])), obj["sentences"]
    finally:
        uipc.close(t)


@pytest.mark.skipif(shutil.which("tmux") is None,
                    reason="tmux is not installed (apt-get install tmux): uipc top's screen "
                           "is tested in it")
def test_top_screen_under_tmux_explains_a_blocked_eventfd_reader(
        ns: str, children: list[Child]) -> None:
    e = uipc.eventfd(0)
    e_ino = os.fstat(e).st_ino
    kid = Child(lambda: uipc.eventfd_read(e))
    children.append(kid)
    wait_until(lambda: _asleep_in(kid.pid, "eventfd read"), what="the reader asleep")
    env = " ".join(f"{k}={shlex.quote(os.environ[k])}"
                   for k in ("UIPC_SOCKET", "UIPC_NO_AUTOSTART"))
    tmux = Tmux(f"env -u UIPC_NAMESPACE {env} {shlex.quote(sys.executable)} -m uipc.cli.top "
                f"--namespace {shlex.quote(ns)}")
    try:
        # the only row: the eventfd both processes hold, its reader blocked
        tmux.wait_screen(rf"^efd +{e_ino} +rw .* val 0 .* 2 +1: {kid.pid} eventfd read "
                         r"\d+(\.\d)?s$", "the eventfd row with its reader")
        tmux.wait_screen(rf"^{kid.pid} .* eventfd read on eventfd {e_ino} for ",
                         "the reader's process line")
        tmux("send-keys", "-t", "top", "Enter")
        tmux.wait_screen(rf"pid {kid.pid} is blocked reading eventfd {e_ino}: its counter is",
                         "the explain text")
        assert f"Eventfd {e_ino} counts 0." in tmux.screen()
        tmux("send-keys", "-t", "top", "q")
        wait_until(lambda: not tmux.alive(), what="the session to end after q")
        assert tmux.rc.read_text().strip() == "0"
    finally:
        tmux.close()
        uipc.close(e)
