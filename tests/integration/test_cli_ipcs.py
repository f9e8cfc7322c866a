"""`uipc ipcs` against util-linux's ipcs on the real kernel, byte for byte.

The same objects are made twice by one scenario (``build``): on the kernel,
in a forked child that first calls unshare(CLONE_NEWIPC) (so the objects
die with it and nothing reaches the machine's IPC table), through the
ctypes backend of tests/conformance; and on uipc, in a forked child in the
test's fresh namespace (the ``ns`` fixture). Each side then runs ipcs with
every option — /usr/bin/ipcs there; here ``python -m uipc.cli.main ipcs``,
or, for the long list, uipc.cli.main.main() in a forked child (the same
code without an interpreter's start each) — and the outputs, stderr and
exit statuses are compared. Every ipcs runs from a process forked before
the objects exist: on Linux a fork of a process with attachments moves
the segments' nattch, lpid and atime.

Normalised, and only these: times (each ctime is replaced by a token of its
width, "Not set" stays) and pids, where they are printed (``lspid=``...,
the -p columns, the pid column of ``-s -i``), by the role of the process
(the scenario's own, its helper): each pid becomes its role's mark repeated
to the pid's width. Ids, keys, owners, modes, sizes and counts must be
equal: both namespaces are fresh, so ids are allocated alike.
"""
from __future__ import annotations

import io
import os
import pwd
import re
import shlex
import signal
import subprocess
import sys
import traceback
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

import pytest

import uipc
from tests.conformance.harness import blocked, wait_for
from tests.helpers import NOBODY, Child
from uipc.cli import ipcs  # noqa: F401 - imported here: uid 65534 may not read the stdlib's directory
from uipc.cli.main import main as cli_main

ROOT = Path(__file__).resolve().parents[2]
IPCS = "/usr/bin/ipcs"


def _util_linux_version() -> str:
    try:
        out = subprocess.run([IPCS, "-V"], capture_output=True, text=True, timeout=30).stdout
    except OSError:
        return ""
    return out.strip().rpartition(" ")[2]


UTIL_LINUX = _util_linux_version() if os.path.exists(IPCS) else ""
pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not UTIL_LINUX.startswith("2.38"),
    reason="needs root (unshare(CLONE_NEWIPC), IPC_SET to other uids) and util-linux 2.38's ipcs")

#: a user with a name longer than ipcs's 10 columns, and ids with no passwd/group entry
LONG_NAME_UID = next((p.pw_uid for p in pwd.getpwall() if len(p.pw_name) > 10), NOBODY)
UNKNOWN_ID = 12345

# --- what is run, in three states of the namespace ------------------------------------

#: an empty namespace with Linux's default limits
FRESH = ["", "-a", "-t", "-p", "-c", "-l", "-l -b", "-l --human", "-u", "-u -b", "-u --human",
         "-q -i 0", "-m -i 0", "-s -i 0", "-q -i -1", "-m -i -1", "-s -i -1"]
#: after build(): every listing, every detail page, the option errors
FULL = [
    "", "-a", "-q", "-m", "-s", "-t", "-p", "-c", "-u", "-l", "-b", "--human",
    "-q -t", "-q -p", "-q -c", "-q -b", "-q --human", "-q -u", "-q -u -b", "-q -u --human",
    "-m -t", "-m -p", "-m -c", "-m -b", "-m --human", "-m -u", "-m -l --human",
    "-s -t", "-s -p", "-s -c", "-s -u", "-s -l", "-s --human",
    "-qt", "--qu --ti", "--shm --creat", "-q -m -p", "-a -l -t", "-c -u", "--bytes --human -m",
    "-q -i {q0}", "-q -i {q0} --human", "-q -i {q0} -b", "-q -i {q1}", "-q -i {q2}",
    "--queues --id={q2}", "-q -i {q0_next_seq}", "-q -i 99999", "-q -i -1", "-q -i -2147483648",
    "-m -i {m0}", "-m -i {m0} --human", "-m -i {m1}", "-m -i {m1} --human", "-m -i {m2} --human",
    "-m -i {m2} -b", "-m -i {m3}", "-m -i -7", "-m -i 99999", "-mi{m1}",
    "-s -i {s0}", "-s -i {s1}", "--semaphores --id {s1}", "-s -i 32769", "-s -i ' {s1}'",
    "-s -i +{s1}",
    "-i {q0}", "-a -i 0", "-q -s -i 0", "-i x -q", "-i 99999999999 -q", "-i 5x -q", "-i '' -q",
    "-i 99999999999999999999x -q", "-x", "-qx", "--s", "--id", "-i", "--foo", "--foo=1",
    "--human=1", "-q extra words", "-- -q", "-q -- -s", "--h",
]
#: util-linux crashes here (print_sem() reads the NULL elements of the first
#: set); uipc prints that set's page (checked on its own, below)
KERNEL_CRASHES = {"full: -s -i -1"}
FULL.append("-s -i -1")
#: after new limits (sysctls of the namespace)
TUNED = ["-l", "-l -b", "-l --human", "-q -l", "-m -l", "-m -l -b", "-s -l"]
TUNED_SYSCTLS = (("msgmni", 1000), ("msgmax", 4000), ("msgmnb", 20000), ("shmmni", 2000),
                 ("shmmax", 4 << 30), ("shmall", 1 << 20), ("sem", "250 32000 32 128"))
#: as uid 65534: /proc/sysvipc (and *_STAT_ANY) list everything; -q -i of a
#: queue it cannot read shows qbytes=0; -s -i of a set it cannot read fails
NOBODY_RUNS = ["", "-c", "-q -i {q1}", "-s -i {s0}", "-s -i {s1}", "-m -i {m0}"]

Result = tuple[int, str, str]  # exit status, stdout, stderr


# --- the scenario: the same calls on either backend ------------------------------------

def _set_owner(api: Any, kind: str, ident: int, uid: int, gid: int, mode: int | None = None) -> None:
    """IPC_SET of uid, gid (and mode), keeping the rest: what `ipcs -c` shows."""
    if kind == "msg":
        ds = api.msgctl(ident, uipc.IPC_STAT)
        perm = replace(ds.msg_perm, uid=uid, gid=gid, mode=ds.msg_perm.mode if mode is None else mode)
        api.msgctl(ident, uipc.IPC_SET, replace(ds, msg_perm=perm))
    elif kind == "sem":
        ds = api.semctl(ident, 0, uipc.IPC_STAT)
        perm = replace(ds.sem_perm, uid=uid, gid=gid, mode=ds.sem_perm.mode if mode is None else mode)
        api.semctl(ident, 0, uipc.IPC_SET, replace(ds, sem_perm=perm))
    else:
        ds = api.shmctl(ident, uipc.IPC_STAT)
        perm = replace(ds.shm_perm, uid=uid, gid=gid, mode=ds.shm_perm.mode if mode is None else mode)
        api.shmctl(ident, uipc.IPC_SET, replace(ds, shm_perm=perm))


def _in_process(fn: Callable[[], Any]) -> int:
    """fn() in a forked child that then exits; returns its pid (for its role)."""
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            fn()
            code = 0
        except BaseException:  # noqa: BLE001 - reported through the exit status
            traceback.print_exc()
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert status == 0, f"helper process failed: {status}"
    return pid


def _sleeper(api: Any, fn: Callable[[], Any]) -> int:
    """A child asleep in fn() (a semop that waits) until it is killed."""
    pid = os.fork()
    if pid == 0:
        try:
            fn()
        finally:
            os._exit(0)
    wait_for(lambda: blocked(api, pid), f"process {pid} to sleep")
    return pid


def _as_user(uid: int, fn: Callable[[], Any]) -> tuple[Any, int]:
    """fn() in a child that became ``uid``: its result and its pid (a cpid)."""
    def run() -> Any:
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)
        return fn()
    child = Child(run)
    return child.result(), child.pid


def build(api: Any) -> tuple[dict[str, int], dict[int, str], list[int]]:
    """Make the objects every listing shows; returns their ids, the roles of
    the pids that appear (this process '@', its helper '#') and the sleepers."""
    creat = uipc.IPC_CREAT
    ids: dict[str, int] = {}
    # queues: messages (1.5K of them), a hole left by a removed one, owners
    # with a long name, and with no passwd/group entry, a creator who is not root
    ids["q0"] = q0 = api.msgget(0x1234, creat | 0o640)
    api.msgsnd(q0, 1, b"hello")
    api.msgsnd(q0, 2, b"x" * 1531)
    api.msgctl(api.msgget(uipc.IPC_PRIVATE, creat | 0o600), uipc.IPC_RMID)
    ids["q1"] = q1 = api.msgget(uipc.IPC_PRIVATE, creat | 0o600)
    _set_owner(api, "msg", q1, LONG_NAME_UID, NOBODY)
    q2, _ = _as_user(NOBODY, lambda: api.msgget(-2, creat | 0o666))
    ids["q2"] = q2
    _set_owner(api, "msg", q2, UNKNOWN_ID, UNKNOWN_ID, 0o664)
    ids["q0_next_seq"] = q0 + uipc.SEQ_MULTIPLIER  # q0's index, another sequence number
    # sets: values, a last semop by the helper, sleepers for ncount and zcount
    ids["s0"] = s0 = api.semget(0x55, 3, creat | 0o600)
    api.semctl(s0, 1, uipc.SETVAL, 7)
    ids["s1"] = s1 = api.semget(0x56, 2, creat | 0o660)
    _set_owner(api, "sem", s1, LONG_NAME_UID, LONG_NAME_UID, 0o664)
    # segments: one locked with two pages written, one removed while attached
    # (dest), a big one (1.5G, never touched), a tiny one made by nobody
    ids["m0"] = m0 = api.shmget(0x77, 10000, creat | 0o600)
    view = api.shm_view(api.shmat(m0))
    view[0] = view[4096] = 1
    api.shmctl(m0, uipc.SHM_LOCK)
    ids["m1"] = m1 = api.shmget(uipc.IPC_PRIVATE, 1 << 20, creat | 0o640)
    api.shmat(m1)
    api.shmctl(m1, uipc.IPC_RMID)
    ids["m2"] = m2 = api.shmget(0x78, 0x60000000, creat | uipc.SHM_NORESERVE | 0o644)
    _set_owner(api, "shm", m2, UNKNOWN_ID, UNKNOWN_ID)
    ids["m3"], m3_creator = _as_user(NOBODY, lambda: api.shmget(-0x79, 1, creat | 0o600))

    def helper() -> None:
        api.msgrcv(q0, 100, 1)
        api.semop(s0, [(2, 2, 0)])
        api.shmdt(api.shmat(m0))

    roles = {os.getpid(): "@", _in_process(helper): "#", m3_creator: "$"}
    sleepers = [_sleeper(api, lambda: api.semop(s0, [(0, -1, 0)])),
                _sleeper(api, lambda: api.semop(s0, [(1, 0, 0)]))]
    return ids, roles, sleepers


# --- running ipcs ------------------------------------------------------------------

#: how a stage runs ipcs: "exec" a new process (`python -m uipc.cli.main ipcs`
#: for uipc), "fork" (uipc: uipc.cli.main.main() in a forked child, which
#: spares the interpreter's start; the kernel side execs anyway), "nobody"
#: (uid 65534, forked: this interpreter may live where nobody can exec it)
Run = Callable[[str, list[list[str]]], list[Result]]


def _decode(data: bytes) -> str:
    return data.decode("utf-8", "surrogateescape")


def _run_all(commands: list[list[str]], env: dict[str, str],
             preexec_fn: Callable[[], None] | None = None) -> list[Result]:
    """Run the commands at once (they only read), then collect them in order.
    util-linux's runs as an operator runs it: argv[0] "ipcs" (getopt's
    messages start with argv[0])."""
    procs = [subprocess.Popen(["ipcs", *cmd[1:]] if cmd[0] == IPCS else cmd, executable=cmd[0],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=ROOT,
                              preexec_fn=preexec_fn)
             for cmd in commands]
    results = []
    for p in procs:
        out, err = p.communicate(timeout=100)
        results.append((p.returncode, _decode(out), _decode(err)))
    return results


def _drop_to_nobody() -> None:
    os.setgroups([])
    os.setgid(NOBODY)
    os.setuid(NOBODY)


def kernel_run(how: str, argvs: list[list[str]]) -> list[Result]:
    return _run_all([[IPCS, *a] for a in argvs], dict(os.environ, LC_ALL="C"),
                    _drop_to_nobody if how == "nobody" else None)


def _fork_main(argv: list[str], env: dict[str, str], nobody: bool) -> tuple[int, list[int]]:
    """`uipc ipcs ARGV` as uipc.cli.main.main() in a forked child whose
    stdout and stderr are pipes; returns its pid and the pipes' read ends."""
    pipes = [os.pipe(), os.pipe()]
    pid = os.fork()
    if pid == 0:
        rc = 99
        try:
            if nobody:
                _drop_to_nobody()
            os.environ.update(env)
            for fd, (_, w) in zip((1, 2), pipes):
                os.dup2(w, fd)
            sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), write_through=True)
            sys.stderr = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), write_through=True)
            rc = cli_main(["ipcs", *argv])
            sys.stdout.flush()
            sys.stderr.flush()
        except BaseException:  # noqa: BLE001 - shows in the compared stderr
            traceback.print_exc()
        os._exit(rc)
    for r, w in pipes:
        os.close(w)
    return pid, [r for r, _ in pipes]


def _collect(pid: int, fds: list[int]) -> Result:
    outs = []
    for fd in fds:
        with os.fdopen(fd, "rb") as f:
            outs.append(_decode(f.read()))
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), outs[0], outs[1]


def uipc_run(ns: str, socket: str) -> Run:
    env = {"LC_ALL": "C", "UIPC_NAMESPACE": ns, "UIPC_SOCKET": socket}

    def run(how: str, argvs: list[list[str]]) -> list[Result]:
        if how == "exec":
            return _run_all([[sys.executable, "-m", "uipc.cli.main", "ipcs", *a] for a in argvs],
                            dict(os.environ, **env))
        nobody = how == "nobody"  # says its namespace with --namespace (no UIPC_NAMESPACE)
        started = [_fork_main([*a, "--namespace", ns] if nobody else a,
                              {k: v for k, v in env.items() if not nobody or k != "UIPC_NAMESPACE"},
                              nobody) for a in argvs]
        return [_collect(pid, fds) for pid, fds in started]
    return run


class Launcher:
    """Runs ipcs on request from a process forked before build(): it has no
    attachments, so the processes it forks change no segment (on Linux a
    fork counts as an attach: nattch, lpid and atime move)."""

    def __init__(self, run: Run) -> None:
        import multiprocessing
        self.conn, theirs = multiprocessing.Pipe()
        self.pid = os.fork()
        if self.pid == 0:
            self.conn.close()
            self._serve(theirs, run)
        theirs.close()

    @staticmethod
    def _serve(conn: Any, run: Run) -> None:
        while True:
            try:
                how, argvs = conn.recv()
            except EOFError:
                os._exit(0)
            try:
                reply: Any = ("ok", run(how, argvs))
            except BaseException:  # noqa: BLE001 - re-raised in the scenario
                reply = ("err", traceback.format_exc())
            conn.send(reply)

    def __call__(self, how: str, argvs: list[list[str]]) -> list[Result]:
        self.conn.send((how, argvs))
        if not self.conn.poll(100):
            raise AssertionError("ipcs runs did not finish")
        status, value = self.conn.recv()
        if status != "ok":
            raise AssertionError(value)
        return value

    def close(self) -> None:
        self.conn.close()
        os.waitpid(self.pid, 0)


def play(api: Any, run: Run, set_sysctl: Callable[[str, Any], None]) -> dict[str, Any]:
    """The whole run on one side: FRESH, build(), FULL and NOBODY_RUNS, new
    limits, TUNED. Returns the ids, the pid roles and every result by label."""
    results: dict[str, Result] = {}
    launch = Launcher(run)

    def stage(name: str, commands: list[str], ids: dict[str, int], how: str) -> None:
        argvs = [shlex.split(c.format(**ids)) for c in commands]
        for command, result in zip(commands, launch(how, argvs)):
            results[f"{name}: {command}"] = result

    sleepers: list[int] = []
    try:
        stage("fresh", FRESH, {}, "exec")
        ids, roles, sleepers = build(api)
        stage("full", FULL, ids, "fork")
        stage("nobody", NOBODY_RUNS, ids, "nobody")
        for name, value in TUNED_SYSCTLS:
            set_sysctl(name, value)
        stage("tuned", TUNED, ids, "exec")
    finally:
        for pid in sleepers:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        launch.close()  # after the sleepers, who hold copies of its pipe
    return {"ids": ids, "roles": roles, "results": results}


def kernel_side() -> dict[str, Any]:
    from tests.conformance import libc
    libc.unshare_ipc()  # a private IPC namespace: it dies with this child
    return play(libc, kernel_run, libc.set_sysctl)


def uipc_side(ns: str, socket: str) -> dict[str, Any]:
    return play(uipc, uipc_run(ns, socket), lambda name, value: uipc.sysctl.set(f"kernel.{name}", value))


# --- normalising and comparing -----------------------------------------------------

_DAY = "(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)"
_MONTH = "(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)"
CTIME = re.compile(rf"{_DAY} {_MONTH} [ \d]\d \d\d:\d\d:\d\d \d{{4}}")
CTIME16 = re.compile(rf"{_MONTH} [ \d]\d \d\d:\d\d:\d\d ")  # %.16s of ctime + 4
PID_KEYS = re.compile(r"\b(lspid|lrpid|lpid|cpid)=(\d+)")
SEM_ELEM_ROW = re.compile(r"^(\d+ +\d+ +\d+ +\d+ +)(\d+)( *)$")
PID_ROW = re.compile(r"^(\S+ +\S+ +)(\d+)( +)(\d+)( *)$")


def normalise(text: str, roles: dict[int, str]) -> str:
    """Times to tokens of their width; pids, where ipcs prints them, to their role."""
    def pid(value: str) -> str:
        mark = roles.get(int(value))
        return value if mark is None else mark * len(value)

    text = CTIME16.sub("~" * 16, CTIME.sub("~" * 24, text))
    text = PID_KEYS.sub(lambda m: f"{m.group(1)}={pid(m.group(2))}", text)
    lines, in_pids = [], False
    for line in text.split("\n"):
        if line.startswith("------ "):
            in_pids = "PIDs" in line
        elif in_pids and PID_ROW.match(line) and not line.startswith(("msqid", "shmid")):
            m = PID_ROW.match(line)
            assert m
            line = m.group(1) + pid(m.group(2)) + m.group(3) + pid(m.group(4)) + m.group(5)
        elif SEM_ELEM_ROW.match(line):
            m = SEM_ELEM_ROW.match(line)
            assert m
            line = m.group(1) + pid(m.group(2)) + m.group(3)
        lines.append(line)
    return "\n".join(lines)


def _loose(text: str) -> str:
    """For pids of different widths on the two sides only: marks and the
    blanks around them collapsed."""
    return re.sub(r" +", " ", re.sub(r"([@#$])\1*", r"\1", text))


def mismatches(kernel: dict[str, Any], ours: dict[str, Any]) -> list[str]:
    widths_differ = (sorted((m, len(str(p))) for p, m in kernel["roles"].items())
                     != sorted((m, len(str(p))) for p, m in ours["roles"].items()))
    problems = []
    for label, (k_rc, k_out, k_err) in kernel["results"].items():
        if label in KERNEL_CRASHES:
            continue
        u_rc, u_out, u_err = ours["results"][label]
        k_norm, u_norm = normalise(k_out, kernel["roles"]), normalise(u_out, ours["roles"])
        if widths_differ:
            k_norm, u_norm = _loose(k_norm), _loose(u_norm)
        if (k_rc, k_norm, k_err) != (u_rc, u_norm, u_err):
            problems.append(f"--- ipcs {label}\nexit {k_rc} / {u_rc}\nstderr {k_err!r} / {u_err!r}\n"
                            + _diff(k_norm, u_norm))
    return problems


def _diff(a: str, b: str) -> str:
    import difflib
    return "\n".join(difflib.unified_diff(a.split("\n"), b.split("\n"), "util-linux", "uipc",
                                          lineterm=""))


# --- the tests ---------------------------------------------------------------------

def test_ipcs_matches_util_linux_for_every_option(ns: str, daemon: Any) -> None:
    kernel = Child(kernel_side).result(timeout=180)
    ours = Child(lambda: uipc_side(ns, str(daemon.socket))).result(timeout=180)
    assert kernel["ids"] == ours["ids"]
    assert kernel["results"].keys() == ours["results"].keys()
    problems = mismatches(kernel, ours)
    assert not problems, "\n\n".join(problems)
    # the scenario reached what it means to show (so equal output is not equal emptiness)
    full = ours["results"]["full: "][1]
    assert "dest" in full and "locked" in full
    assert f" {pwd.getpwuid(LONG_NAME_UID).pw_name[:10]} " in full  # truncated to 10 columns
    assert "1.5G" in ours["results"]["full: --human"][1]
    assert "semctl(GETVAL) failed: Permission denied" in ours["results"]["nobody: -s -i {s0}"][2]
    assert "qbytes=0\t" in ours["results"]["nobody: -q -i {q1}"][1]
    assert re.search(r"^0 +0 +1 +0 +0 ", ours["results"]["full: -s -i {s0}"][1], re.M)  # ncount
    assert "max number of arrays = 128" in ours["results"]["tuned: -l"][1]


def test_negative_id_of_a_set_shows_the_first_set(ns: str, daemon: Any) -> None:
    """util-linux's `ipcs -s -i -1` takes the first set (its id > -1 test)
    and crashes on its NULL element array; uipc prints that set's page."""
    first = uipc.semget(0x99, 2, uipc.IPC_CREAT | 0o600)
    uipc.semget(0x9A, 1, uipc.IPC_CREAT | 0o600)
    run = uipc_run(ns, str(daemon.socket))
    (rc, page, err), (rc1, first_page, _) = run("exec", [["-s", "-i", "-1"], ["-s", "-i", str(first)]])
    assert rc == rc1 == 0 and err == ""
    assert page == first_page.replace(f"semid={first}\n", "semid=-1\n")
    assert "nsems = 2\n" in page


def test_help_version_and_namespace_errors(ns: str, daemon: Any) -> None:
    """--help is util-linux's text plus the --namespace line; -V names uipc;
    a namespace that does not exist, or no daemon, is a one-line error."""
    run = uipc_run(ns, str(daemon.socket))
    (rc, help_text, _), (vrc, version, _), (nrc, nout, nerr) = run(
        "exec", [["--help"], ["-V"], ["--namespace", "no-such-namespace", "-q"]])
    real = subprocess.run([IPCS, "--help"], capture_output=True, text=True,
                          env=dict(os.environ, LC_ALL="C"), timeout=30).stdout
    ours = [line for line in help_text.split("\n") if "--namespace" not in line]
    assert rc == 0 and ours == real.split("\n")
    assert vrc == 0 and version == f"ipcs from uipc {uipc.__version__} (util-linux 2.38.1)\n"
    assert nrc == 1 and nout == "" and nerr.startswith("ipcs: ") and nerr.count("\n") == 1
    assert "Traceback" not in nerr
    env = dict(os.environ, UIPC_SOCKET=str(Path(daemon.socket).parent / "none.sock"))
    out = subprocess.run([sys.executable, "-m", "uipc.cli.main", "ipcs"], capture_output=True,
                         text=True, env=env, cwd=ROOT, timeout=60)
    assert out.returncode == 1 and out.stdout == ""
    assert out.stderr == "ipcs: uipc daemon is not running for this user; start it with " \
                         "`uipc daemon` or make any uipc call\n"
