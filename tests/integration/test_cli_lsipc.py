"""`uipc lsipc` against util-linux's lsipc on the real kernel.

The same System V objects are made twice by forked children of this test:
once on the kernel, in a private IPC namespace (``unshare(CLONE_NEWIPC)``,
so the machine's table is never touched), once on uipc in the test's fresh
namespace.  Each child then runs its lsipc -- /usr/bin/lsipc (util-linux
2.38.1) or ``python -m uipc.cli.main lsipc`` -- with the same arguments,
through a pipe or a pseudo-terminal of a given width, and the outputs are
compared line by line after only the children's pids and the times are
masked (same width, so the layout is compared too).  The children have pids
of the same number of digits, so column widths agree.

The POSIX views (-Q, -S, -M: util-linux 2.41) have no 2.38 to compare with;
their tests check uipc's output against the layout 2.41's lsipc.c prints.
"""
from __future__ import annotations

import dataclasses
import difflib
import errno
import fcntl
import json
import os
import pickle
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import threading
from pathlib import Path
from typing import Any, Callable

import pytest

import uipc
from tests.conftest import ROOT, wait_until
from uipc.cli import lsipc as lsipc_cli  # imported before any setuid child needs it

LSIPC = "/usr/bin/lsipc"


def _lsipc_version() -> str:
    try:
        return subprocess.run([LSIPC, "--version"], capture_output=True, text=True,
                              timeout=10).stdout.strip()
    except OSError:
        return ""


needs_kernel_lsipc = pytest.mark.skipif(
    os.geteuid() != 0 or _lsipc_version() != "lsipc from util-linux 2.38.1",
    reason="needs root (unshare(CLONE_NEWIPC) for a private kernel namespace) and "
           "util-linux 2.38.1's /usr/bin/lsipc")

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root: the expected tables "
                                "name root as the owner, or the test changes uid")

#: a fixed environment for both programs: times in UTC, a UTF-8 locale
ENV = {"TZ": "UTC", "LC_ALL": "C.UTF-8"}


# --- the machine's IPC table stays as it was ------------------------------------
def machine_ipc() -> dict[str, Any]:
    """What the machine's (this process's kernel namespace's) IPC shows."""
    out: dict[str, Any] = {}
    for kind in ("msg", "sem", "shm"):
        with open(f"/proc/sysvipc/{kind}") as f:
            out[kind] = f.read()
    for d in ("/dev/shm", "/dev/mqueue"):
        out[d] = sorted(os.listdir(d)) if os.path.isdir(d) else None
    return out


@pytest.fixture
def untouched_machine() -> Any:
    before = machine_ipc()
    yield
    assert machine_ipc() == before, "the test left something in the machine's IPC table"


# --- the objects -------------------------------------------------------------------
OTHER_UID, OTHER_GID = 54321, 12345  # ids no account names: OWNER falls back to the number


def with_perm(ds: Any, field: str, **changes: int) -> Any:
    return dataclasses.replace(ds, **{field: dataclasses.replace(getattr(ds, field), **changes)})


def make_sysv(api: Any) -> Callable[[], None]:
    """Queues, sets and segments covering every column, made by this process
    (its pid is the last sender, semop-er and attacher); returns a function
    that removes them (and wakes the sleepers it left)."""
    IPC_CREAT = uipc.IPC_CREAT
    q0 = api.msgget(0x1234, IPC_CREAT | 0o644)
    api.msgsnd(q0, 1, b"x" * 2000)  # USEDBYTES 2K, LSPID
    q1 = api.msgget(uipc.IPC_PRIVATE, IPC_CREAT | 0o600)
    api.msgsnd(q1, 2, b"hello")
    api.msgrcv(q1, 100, 0)  # LRPID, RECV
    os.setegid(100)  # a creator gid apart from the creator uid (2.38 shows cuid as CGID)
    try:
        q2 = api.msgget(0x999, IPC_CREAT | 0o666)
        s2 = api.semget(0x998, 2, IPC_CREAT | 0o600)
        m3 = api.shmget(0x997, 4096, IPC_CREAT | 0o640)
    finally:
        os.setegid(0)
    api.msgctl(q2, uipc.IPC_SET, with_perm(api.msgctl(q2, uipc.IPC_STAT), "msg_perm",
                                           uid=65534, gid=65534))
    s0 = api.semget(0x55, 3, IPC_CREAT | 0o640)
    api.semop(s0, [(1, 2, 0)])  # OTIME, a value, GETPID
    s1 = api.semget(0x56, 1, IPC_CREAT | 0o600)
    api.semctl(s2, 0, uipc.IPC_SET, with_perm(api.semctl(s2, 0, uipc.IPC_STAT), "sem_perm",
                                              uid=65534))
    m0 = api.shmget(0x77, 10000, IPC_CREAT | 0o600)
    attached = [api.shmat(m0)]  # NATTCH 1, LPID, ATTACH
    m1 = api.shmget(uipc.IPC_PRIVATE, 1 << 20, IPC_CREAT | 0o666)
    m2 = api.shmget(0x78, 5000, IPC_CREAT | 0o600)
    attached.append(api.shmat(m2))
    api.shmctl(m2, uipc.SHM_LOCK)
    api.shmctl(m2, uipc.IPC_RMID)  # STATUS dest,locked; KEY 0
    api.shmctl(m3, uipc.IPC_SET, with_perm(api.shmctl(m3, uipc.IPC_STAT), "shm_perm",
                                           uid=OTHER_UID, gid=OTHER_GID))
    m4 = api.shmget(0x79, 3000, IPC_CREAT | 0o600)
    api.shmdt(api.shmat(m4))  # DETACH
    sleepers = sem_sleepers(api, s0)

    def remove() -> None:
        for addr in attached:
            api.shmdt(addr)
        for q in (q0, q1, q2):
            api.msgctl(q, uipc.IPC_RMID)
        for s in (s0, s1, s2):
            api.semctl(s, 0, uipc.IPC_RMID)
        for m in (m0, m1, m3, m4):
            api.shmctl(m, uipc.IPC_RMID)
        for t in sleepers:
            t.join(10)
    return remove


def sem_sleepers(api: Any, semid: int) -> list[threading.Thread]:
    """Two threads asleep on set ``semid``: one waiting to decrement
    semaphore 0 (NCOUNT 1), one waiting for semaphore 1 to be zero (ZCOUNT 1).
    They wake with EIDRM when the set goes."""
    def sleep(op: tuple[int, int, int]) -> None:
        # semop is never restarted: a SIGCHLD of one of the lsipc runs, left
        # pending while subprocess blocks signals around vfork, would end the
        # kernel's sleep with EINTR if this thread took it
        signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGCHLD])
        try:
            api.semop(semid, [op])
        except OSError as exc:
            assert exc.errno == errno.EIDRM
    threads = [threading.Thread(target=sleep, args=(op,), daemon=True)
               for op in ((0, -1, 0), (1, 0, 0))]
    for t in threads:
        t.start()
    wait_until(lambda: api.semctl(semid, 0, uipc.GETNCNT) == 1
               and api.semctl(semid, 1, uipc.GETZCNT) == 1, what="the sleepers")
    return threads


def kernel_sysctls(values: dict[str, str]) -> None:
    for name, value in values.items():
        with open(f"/proc/sys/kernel/{name}", "w") as f:
            f.write(value)


def uipc_sysctls(values: dict[str, str]) -> None:
    for name, value in values.items():
        uipc.sysctl.set(f"kernel.{name}", value)


# --- running both sides ----------------------------------------------------------
Run = tuple[list[str], str]  # (arguments, how: "pipe", "tty:WIDTH" or "user:UID")


def run_pty(cmd: list[str], env: dict[str, str], width: int,
            executable: str | None = None) -> tuple[int, bytes, bytes]:
    """``cmd`` with stdout on a pseudo-terminal ``width`` columns wide."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, width, 0, 0))
    attrs = termios.tcgetattr(slave)
    attrs[1] &= ~termios.OPOST  # no \n -> \r\n
    termios.tcsetattr(slave, termios.TCSANOW, attrs)
    p = subprocess.Popen(cmd, executable=executable, stdout=slave, stderr=subprocess.PIPE,
                         env=env, cwd=ROOT)
    os.close(slave)
    out = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the terminal's last writer closed it
            break
        if not chunk:
            break
        out += chunk
    err = p.stderr.read() if p.stderr else b""
    os.close(master)
    return p.wait(timeout=60), out, err


def run_uipc_as(uid: int, args: list[str], ns: str) -> tuple[int, bytes, bytes]:
    """uipc's lsipc as ``uid``, in a forked child that calls main() (the
    interpreter under /root may be unreadable to that uid, /usr/bin/lsipc is not)."""
    ro, wo = os.pipe()
    re_, we = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.dup2(wo, 1)
            os.dup2(we, 2)
            # pytest's capture replaced sys.stdout and sys.stderr: write to the fds
            sys.stdout = open(1, "w", closefd=False)
            sys.stderr = open(2, "w", closefd=False)
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
            os.environ.update(ENV, UIPC_NAMESPACE=ns)
            code = lsipc_cli.main(args)
            sys.stdout.flush()
        except BaseException:  # noqa: BLE001 - shown on the stderr the parent reads
            import traceback
            traceback.print_exc()
            sys.stderr.flush()
        finally:
            os._exit(code)
    os.close(wo)
    os.close(we)
    with os.fdopen(ro, "rb") as f1, os.fdopen(re_, "rb") as f2:
        out, err = f1.read(), f2.read()
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), out, err


def run_one(kernel: bool, ns: str, args: list[str], how: str) -> tuple[int, bytes, bytes]:
    env = dict(os.environ, **ENV)
    if kernel:
        cmd, exe = ["lsipc", *args], LSIPC  # argv[0] "lsipc", as getopt's messages name it
    else:
        cmd, exe = [sys.executable, "-m", "uipc.cli.main", "lsipc", *args], None
        env["UIPC_NAMESPACE"] = ns
    if how.startswith("tty:"):
        return run_pty(cmd, env, int(how[4:]), exe)
    if how.startswith("user:"):
        uid = int(how[5:])
        if not kernel:
            return run_uipc_as(uid, args, ns)

        def drop() -> None:
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
        p = subprocess.run(cmd, executable=exe, capture_output=True, env=env, preexec_fn=drop,
                           timeout=60)
        return p.returncode, p.stdout, p.stderr
    p = subprocess.run(cmd, executable=exe, capture_output=True, env=env, cwd=ROOT, timeout=60)
    return p.returncode, p.stdout, p.stderr


def run_all(kernel: bool, ns: str, runs: list[Run]) -> list[tuple[int, bytes, bytes]]:
    """Every run, four at a time (the objects do not change while lsipc
    reads them); runs as another user fork this process, so they go alone."""
    from concurrent.futures import ThreadPoolExecutor
    with ThreadPoolExecutor(4) as pool:
        futures = {i: pool.submit(run_one, kernel, ns, a, how)
                   for i, (a, how) in enumerate(runs) if not how.startswith("user:")}
        results = {i: f.result() for i, f in futures.items()}
    for i, (a, how) in enumerate(runs):
        if how.startswith("user:"):
            results[i] = run_one(kernel, ns, a, how)
    return [results[i] for i in range(len(runs))]


class Side:
    """A forked child that, once told to go, makes the objects (on the kernel
    in a private IPC namespace, or on uipc), runs lsipc for every run and
    removes the objects; its outputs come back pickled."""

    def __init__(self, kernel: bool, ns: str, runs: list[Run],
                 setup: Callable[[], None] | None) -> None:
        go_r, self._go = os.pipe()
        self._res, res_w = os.pipe()
        self.kernel = kernel
        self.pid = os.fork()
        if self.pid == 0:
            os.close(self._go)
            os.close(self._res)
            self._child(go_r, res_w, ns, runs, setup)
        os.close(go_r)
        os.close(res_w)

    def _child(self, go_r: int, res_w: int, ns: str, runs: list[Run],
               setup: Callable[[], None] | None) -> None:
        try:
            if os.read(go_r, 1) != b"g":
                os._exit(0)  # cancelled
            try:
                if self.kernel:
                    from tests.conformance import libc
                    libc.unshare_ipc()
                    api: Any = libc
                else:
                    api = uipc
                if setup is not None:
                    setup()
                remove = make_sysv(api)
                try:
                    out: Any = ("ok", run_all(self.kernel, ns, runs))
                finally:
                    remove()
            except BaseException as exc:  # noqa: BLE001 - reported to the parent
                import traceback
                out = ("err", repr(exc), traceback.format_exc())
            with os.fdopen(res_w, "wb") as f:
                f.write(pickle.dumps(out))
        finally:
            os._exit(0)

    def go(self) -> None:
        os.write(self._go, b"g")
        os.close(self._go)

    def cancel(self) -> None:
        os.close(self._go)
        os.close(self._res)
        os.waitpid(self.pid, 0)

    def result(self, timeout: float = 240.0) -> list[tuple[int, bytes, bytes]]:
        data = b""
        while True:
            ready, _, _ = select.select([self._res], [], [], timeout)
            if not ready:
                os.kill(self.pid, 9)
                os.waitpid(self.pid, 0)
                raise AssertionError("lsipc child did not finish")
            chunk = os.read(self._res, 1 << 20)
            if not chunk:
                break
            data += chunk
        os.close(self._res)
        os.waitpid(self.pid, 0)
        out = pickle.loads(data)
        if out[0] == "err":
            raise AssertionError(f"{'kernel' if self.kernel else 'uipc'} side failed: {out[2]}")
        return out[1]


def both(ns: str, runs: list[Run], kernel_setup: Callable[[], None] | None = None,
         uipc_setup: Callable[[], None] | None = None) -> list[tuple[Any, Any]]:
    """Each run's (kernel, uipc) result, pids and times masked."""
    k = Side(True, ns, runs, kernel_setup)
    u = Side(False, ns, runs, uipc_setup)
    for _ in range(6):  # equal digit counts, so pid columns are equally wide
        if len(str(k.pid)) == len(str(u.pid)):
            break
        older_k = k.pid < u.pid
        if older_k:
            k.cancel()
            k = Side(True, ns, runs, kernel_setup)
        else:
            u.cancel()
            u = Side(False, ns, runs, uipc_setup)
    k.go()
    u.go()
    kout, uout = k.result(), u.result()
    return [(mask(r, k.pid), mask(s, u.pid)) for r, s in zip(kout, uout)]


_TIMES = [
    re.compile(rb"\b(Mon|Tue|Wed|Thu|Fri|Sat|Sun) [A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \d{4}\b"),
    re.compile(rb"\b\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d"),
    re.compile(rb"\b\d\d:\d\d\b"),
]


def mask(result: tuple[int, bytes, bytes], pid: int) -> tuple[int, str, str]:
    """Pids to P..P and times to t..t, each as wide as it was."""
    rc, out, err = result

    def clean(b: bytes) -> str:
        b = re.sub(rb"\b%d\b" % pid, b"P" * len(str(pid)), b)
        for pattern in _TIMES:
            b = pattern.sub(lambda m: b"t" * len(m.group(0)), b)
        return b.decode("utf-8", "replace")
    return rc, clean(out), clean(err)


def assert_same(runs: list[Run], results: list[tuple[Any, Any]]) -> None:
    """Every run printed the same lines, the same messages, the same status."""
    failures = []
    for (args, how), (k, u) in zip(runs, results):
        if k != u:
            diff = "\n".join(difflib.unified_diff(
                (k[1] + k[2]).splitlines(), (u[1] + u[2]).splitlines(),
                "util-linux lsipc", "uipc lsipc", lineterm=""))
            failures.append(f"lsipc {' '.join(args)} [{how}]: status {k[0]} vs {u[0]}\n{diff}")
    assert not failures, "\n\n".join(failures)


def runs_of(*specs: str, how: str = "pipe") -> list[Run]:
    return [(s.split(), how) for s in specs]


# --- System V: the same output as util-linux 2.38.1 -----------------------------
@needs_kernel_lsipc
def test_lists_and_columns_match_util_linux(ns: str, untouched_machine: None) -> None:
    """Default listings, every column, -c -t -P -b, -o (replace, +add, errors)."""
    runs = runs_of(
        "-q", "-s", "-m", "--queues", "--semaphores", "--shmems",
        "-q -c", "-s -c", "-m -c", "-q -t", "-s -t", "-m -t", "-m -t -c",
        "-q -P", "-s -P", "-m -P", "-m -b", "-q -b", "-q --bytes",
        "-q -o KEY,ID,OWNER,PERMS,CUID,CUSER,CGID,CGROUP,UID,USER,GID,GROUP,CTIME",
        "-q -o +USEDBYTES,MSGS,SEND,RECV,LSPID,LRPID",
        "-m -o SIZE,NATTCH,STATUS,ATTACH,DETACH,COMMAND,CPID,LPID,key,Id",
        "-s -o nsems,otime,ctime,cuser,cgroup,user,group",
        "-m -o +CUSER,CGROUP,USER,GROUP", "-q -oKEY,MSGS",
        "-q -o KEY,", "-q -o ,KEY", "-q -o", "-q -o +", "-q -o NSEMS", "-q -o FOO",
        "-s -o RESOURCE", "-q -q -q -q -q -q -q -q -q",
        "-q --time-format=iso -t", "-s -t --time-format=full", "-m -t --time-format short",
        "-q --time-format=bogus",
    )
    assert_same(runs, both(ns, runs))


@needs_kernel_lsipc
def test_output_formats_and_id_view_match_util_linux(ns: str, untouched_machine: None) -> None:
    """--raw --export --newline --json --shell --noheadings --list, and --id's
    pretty view (the semaphore elements with NCOUNT/ZCOUNT sleepers too)."""
    runs = runs_of(
        "-q -r", "-m --raw", "-s -e", "-m --export", "-q -n", "-s --newline", "-q -J",
        "-m --json", "-s -J", "-q -e -y", "-m -r -y", "-g -y -e", "-q -n -y", "-q -J -y",
        "-q --noheadings", "-m --noheadings -r", "-q -l", "-m --list",
        "-q -i 0", "-q -i 1", "-q --id=2", "-s -i 0", "-s -i 1", "-s -i 2", "-m -i 0",
        "-m -i 2", "-m -i 3", "-m --id 4", "-q -i 0 -J", "-s -i 0 -J", "-m -i 1 -e",
        "-s -i 0 -r", "-q -i 0 -l", "-q -i 0 -o KEY", "-q -i 0 -o +KEY", "-q -i 0 -c",
        "-s -i 0 -t", "-m -i 0 -t", "-s -i 0 -y", "-q -i 1 --noheadings",
        "-q -i 9", "-s -i 9", "-m -i 9", "-q -i 9 -J", "-s -i 9 -J", "-m -i 9 -e",
        "-q -i -1", "-q -i ' 1'",
    )
    assert_same(runs, both(ns, runs))


@needs_kernel_lsipc
def test_option_errors_match_util_linux(ns: str, untouched_machine: None) -> None:
    """getopt's messages, util-linux's exclusive options and its checks."""
    runs = runs_of(
        "-x", "--foo", "--foo=1", "--no", "--tim", "--json=1", "-i", "--id", "-q -i abc",
        "-q -i 99999999999", "-q -J -e", "-q -r -n", "-g -i 0", "-i 0 -g -q", "-m -q",
        "-s -q", "-c", "-t", "-i 0", "-q -t -c", "-q -o KEY -t", "-c -o KEY -q",
        "-q extra operands", "-q -- -s", "-qJ", "-i0 -q", "-q --notr", "-g -t", "-g -c",
    )
    assert_same(runs, both(ns, runs))


@needs_kernel_lsipc
def test_global_view_limits_and_use_match_util_linux(ns: str, untouched_machine: None) -> None:
    """-g with limits set in both namespaces: LIMIT, USED and USE% (2.38
    counts SEMMNS as sets x the first set's size; SHMALL in whole pages)."""
    limits = {"msgmni": "10", "msgmax": "4000", "msgmnb": "5000", "shmmni": "16",
              "shmall": "2000", "shmmax": str(1 << 30), "sem": "250 1000 32 20"}
    runs = runs_of("", "-g", "-g -b", "-g -J", "-g -r", "-g -e", "-g -n", "-q -g", "-m -g",
                   "-s -g -b", "-g --noheadings", "-g -o RESOURCE,USE%", "-g -o +LIMIT",
                   "-g -o KEY")
    results = both(ns, runs, lambda: kernel_sysctls(limits), lambda: uipc_sysctls(limits))
    assert_same(runs, results)
    table = results[1][1][1]
    assert re.search(r"MSGMNI +Number of message queues +10 +3 30\.00%", table), table
    assert re.search(r"SHMMAX .* 1G +- +-", table), table


@needs_kernel_lsipc
def test_global_json_parses_the_same(ns: str, untouched_machine: None) -> None:
    """--json parsed: the same documents, every value a string, libsmartcols'
    key names (lower case, "use%")."""
    runs = runs_of("-g -J", "-q -J", "-s -J", "-m -J", "-m -J -t -c", "-s -i 0 -J", "-q -i 9 -J",
                   "-g -J -y")
    results = both(ns, runs)
    assert_same(runs, results)
    docs = [(json.loads(k[1]), json.loads(u[1])) for k, u in results]
    for kdoc, udoc in docs:
        assert kdoc == udoc
    names = [next(iter(u)) for _, u in docs]
    assert names == ["ipclimits", "messages", "semaphores", "sharedmemory", "sharedmemory",
                     "semaphores", "", "ipclimits"]
    glob = docs[0][1]["ipclimits"]
    assert set(glob[0]) == {"resource", "description", "limit", "used", "use%"}
    assert set(docs[-1][1]["ipclimits"][0]) == {"resource", "description", "limit", "used",
                                                 "use_pct"}
    assert all(isinstance(v, str) for row in glob for v in row.values())
    segs = docs[3][1]["sharedmemory"]
    assert [s["status"] for s in segs].count("dest,locked") == 1
    assert all(s["status"] in (None, "dest,locked") for s in segs)  # "" prints as null


@needs_kernel_lsipc
def test_terminal_widths_match_util_linux(ns: str, untouched_machine: None) -> None:
    """On a terminal libsmartcols fits the table to its width: COMMAND is
    truncated (not with --notruncate), a STATUS wider than its column pushes
    the rest of the line down, the semaphore elements' table is not cut."""
    runs = [(a.split(), how) for a, how in (
        ("-m", "tty:80"), ("-m", "tty:60"), ("-m", "tty:50"), ("-m", "tty:30"),
        ("-m --notruncate", "tty:60"), ("-m -t", "tty:100"), ("-m -o STATUS,COMMAND,KEY", "tty:20"),
        ("-q", "tty:20"), ("-g", "tty:40"), ("-s -i 0", "tty:40"), ("-m -r", "tty:30"),
        ("-m -J", "tty:30"), ("-q -i 0", "tty:20"))]
    assert_same(runs, both(ns, runs))


@needs_kernel_lsipc
def test_unprivileged_reader_matches_util_linux(ns: str, untouched_machine: None) -> None:
    """As uid 65534: every object is listed (as /proc/sysvipc lists them),
    --id of a set it cannot read fails as semctl(GETVAL) does.  (Segments'
    NATTCH, LPID and times are left out: the kernel's lsipc is a fork of the
    attached child, which the kernel counts as an attach and a detach.)"""
    runs = runs_of("-q", "-s", "-m -o KEY,ID,PERMS,OWNER,SIZE,STATUS,CPID,COMMAND", "-g",
                   "-s -i 1", "-s -i 2", "-m -i 0", "-q -i 2 -c", how="user:65534")
    results = both(ns, runs)
    assert_same(runs, results)
    assert results[4][1][:3] == (1, "", "lsipc: semctl(GETVAL) failed: Permission denied\n")


# --- POSIX views: util-linux 2.41's format ----------------------------------------
def uipc_lsipc(*args: str, ns: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "uipc.cli.main", "lsipc", *args],
                          capture_output=True, text=True, timeout=60, cwd=ROOT,
                          env=dict(os.environ, **ENV, UIPC_NAMESPACE=ns))


@pytest.fixture
def posix_objects(ns: str) -> Any:
    """Two queues (one with 12 bytes in 2 messages), two named semaphores,
    two shm objects (8 KiB and empty), an unlinked queue still open."""
    q1 = uipc.mq_open("/lsipc-q1", os.O_CREAT | os.O_RDWR, 0o640, uipc.MqAttr(mq_maxmsg=4,
                                                                             mq_msgsize=64))
    uipc.mq_send(q1, b"hello", 1)
    uipc.mq_send(q1, b"goodbye", 0)
    q2 = uipc.mq_open("/lsipc-q2", os.O_CREAT | os.O_RDWR, 0o600)
    gone = uipc.mq_open("/lsipc-gone", os.O_CREAT | os.O_RDWR, 0o666)
    uipc.mq_unlink("/lsipc-gone")
    s1 = uipc.sem_open("/lsipc-s1", os.O_CREAT, 0o644, 3)
    s2 = uipc.sem_open("/lsipc-s2", os.O_CREAT, 0o600, 0)
    m1 = uipc.shm_open("/lsipc-m1", os.O_CREAT | os.O_RDWR, 0o644)
    os.ftruncate(m1, 8192)
    m2 = uipc.shm_open("/lsipc-m2", os.O_CREAT | os.O_RDWR, 0o600)
    yield
    for q in (q1, q2, gone):
        uipc.mq_close(q)
    for name in ("/lsipc-q1", "/lsipc-q2"):
        uipc.mq_unlink(name)
    for s in (s1, s2):
        uipc.sem_close(s)
    for name in ("/lsipc-s1", "/lsipc-s2"):
        uipc.sem_unlink(name)
    for fd in (m1, m2):
        os.close(fd)
    for name in ("/lsipc-m1", "/lsipc-m2"):
        uipc.shm_unlink(name)


def times_masked(text: str) -> str:
    return re.sub(r"\b\d\d:\d\d\b", "hh:mm", text)


@needs_root
def test_posix_mqueues_in_2_41_layout(posix_objects: None, ns: str) -> None:
    """-Q: NAME PERMS OWNER MTIME USEDBYTES MSGS (QSIZE and mq_curmsgs); the
    unlinked queue is not listed (no name in /dev/mqueue)."""
    out = uipc_lsipc("-Q", ns=ns)
    assert out.returncode == 0, out.stderr
    assert times_masked(out.stdout) == (
        "NAME          PERMS OWNER MTIME USEDBYTES MSGS\n"
        "/lsipc-q1 rw-r-----  root hh:mm       12B 2\n"
        "/lsipc-q2 rw-------  root hh:mm        0B 0\n")
    out = uipc_lsipc("-Q", "-b", "-P", "-c", "-o", "+CUSER,CGROUP", ns=ns)
    assert times_masked(out.stdout) == (
        "NAME      PERMS OWNER MTIME USEDBYTES MSGS CUID CGID CUSER CGROUP\n"
        "/lsipc-q1  0640  root hh:mm        12 2       0    0 root  root\n"
        "/lsipc-q2  0600  root hh:mm         0 0       0    0 root  root\n")
    doc = json.loads(uipc_lsipc("-Q", "-J", ns=ns).stdout)
    assert [q["name"] for q in doc["posix-messages"]] == ["/lsipc-q1", "/lsipc-q2"]
    assert set(doc["posix-messages"][0]) == {"name", "perms", "owner", "mtime", "usedbytes",
                                             "msgs"}


@needs_root
def test_posix_mqueue_by_name_and_global(posix_objects: None, ns: str) -> None:
    """-Q -N /NAME: the pretty view in 2.41's column order; names must start
    with '/'; -g -Q: MQUMNI (with USE%), MQUMAX, MQUMNB from fs.mqueue.*."""
    out = uipc_lsipc("-Q", "-N", "/lsipc-q1", ns=ns)
    assert out.returncode == 0, out.stderr
    pad = lambda head, value: f"{head}:{' ' * (35 - len(head))}{value:<36}\n"  # noqa: E731
    when = "W" * 24  # asctime()'s "Tue Dec  1 23:59:59 2026"
    pretty = re.sub(r"\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}", when, out.stdout)
    assert pretty == "".join([
        pad("Owner", "root"), pad("Permissions", "rw-r-----"), pad("Creator UID", "0"),
        pad("Creator user", "root"), pad("Creator GID", "0"), pad("Creator group", "root"),
        pad("Name", "/lsipc-q1"), pad("Last action", when), pad("Bytes used", "12B"),
        pad("Messages", "2")])
    bad = uipc_lsipc("-Q", "-N", "lsipc-q1", ns=ns)
    assert (bad.returncode, bad.stdout, bad.stderr) == (
        0, "", "lsipc: message queue name must start with '/': lsipc-q1\n")
    missing = uipc_lsipc("-Q", "--name", "/nope", ns=ns)
    assert (missing.returncode, missing.stdout, missing.stderr) == (
        0, "", "lsipc: message queue /nope not found\n")
    uipc.sysctl.set("fs.mqueue.queues_max", 8)
    glob = uipc_lsipc("-g", "-Q", "-o", "RESOURCE,DESCRIPTION,LIMIT,USED,USE%", ns=ns)
    assert glob.stdout == (
        "RESOURCE DESCRIPTION                               LIMIT USED   USE%\n"
        "MQUMNI   Number of POSIX message queues                8    2 25.00%\n"
        "MQUMAX   Max size of POSIX message (bytes)            8K    -      -\n"
        "MQUMNB   Number of messages in POSIX message queue    10    -      -\n"), glob.stdout
    # without -o, -Q's own columns come first, empty (as 2.38's `lsipc -m -g`)
    glob = uipc_lsipc("-g", "-Q", ns=ns)
    assert glob.stdout.splitlines()[:2] == [
        "NAME PERMS OWNER MTIME USEDBYTES MSGS RESOURCE DESCRIPTION"
        "                               LIMIT USED   USE%",
        " " * 38 + "MQUMNI   Number of POSIX message queues                8    2 25.00%"]


@needs_root
def test_posix_semaphores_and_shm_in_2_41_layout(posix_objects: None, ns: str) -> None:
    """-S (SVAL) and -M (SIZE): names without the slash, as /dev/shm lists
    them; -c adds CUID and CGID only; the 2.41 messages for a missing name."""
    out = uipc_lsipc("-S", "-o", "NAME,PERMS,OWNER", ns=ns)
    assert out.stdout == ("NAME         PERMS OWNER\n"
                          "lsipc-s1 rw-r--r--  root\n"
                          "lsipc-s2 rw-------  root\n"), out.stdout
    doc = json.loads(uipc_lsipc("-S", "-J", ns=ns).stdout)["posix-semaphores"]
    assert [(s["name"], s["sval"]) for s in doc] == [("lsipc-s1", "3"), ("lsipc-s2", "0")]
    assert set(doc[0]) == {"name", "perms", "owner", "mtime", "sval"}
    assert all(s["mtime"] is None or re.fullmatch(r"\d\d:\d\d", s["mtime"]) for s in doc)
    out = uipc_lsipc("-M", ns=ns)  # SIZE is -M's own, but -o SIZE "does not apply" (2.41)
    no_mtime = [re.sub(r" (MTIME|\d\d:\d\d)?$", "", line) for line in out.stdout.splitlines()]
    assert no_mtime == ["NAME         PERMS OWNER SIZE",
                        "lsipc-m1 rw-r--r--  root   8K",
                        "lsipc-m2 rw-------  root   0B"], out.stdout + out.stderr
    doc = json.loads(uipc_lsipc("-M", "-c", "-b", "-J", ns=ns).stdout)["posix-sharedmemory"]
    assert [(m["name"], m["size"], m["cuid"], m["cgid"]) for m in doc] == [
        ("lsipc-m1", "8192", "0", "0"), ("lsipc-m2", "0", "0", "0")]
    assert list(doc[0]) == ["name", "perms", "owner", "size", "mtime", "cuid", "cgid"]
    for args, message in ((("-S", "-N", "nope"), "message queue nope not found"),
                          (("-M", "-N", "nope"), "shared memory segment nope not found"),
                          (("-S", "-o", "SVAL"), "column SVAL does not apply to the specified IPC"),
                          (("-M", "-o", "SIZE"), "column SIZE does not apply to the specified IPC"),
                          (("-Q", "-o", "NSEMS"), "column NSEMS does not apply to the specified IPC")):
        res = uipc_lsipc(*args, ns=ns)
        assert res.stderr == f"lsipc: {message}\n", (args, res.stderr)
    shown = uipc_lsipc("-S", "-N", "lsipc-s1", ns=ns).stdout.splitlines()
    assert [line for line in shown if not line.startswith("Last action:")] == [
        f"{head}:{' ' * (35 - len(head))}{value:<36}" for head, value in (
            ("Owner", "root"), ("Permissions", "rw-r--r--"), ("Creator UID", "0"),
            ("Creator user", "root"), ("Creator GID", "0"), ("Creator group", "root"),
            ("Name", "lsipc-s1"), ("Value", "3"))]


@needs_root
def test_posix_objects_hidden_from_who_could_not_open_them(posix_objects: None, ns: str) -> None:
    """As uid 65534: util-linux opens each queue read-only and each semaphore
    read-write to read it, and skips what it cannot; /dev/shm lists every file."""
    rc, out, err = run_uipc_as(65534, ["-Q", "-o", "NAME"], ns)
    assert (rc, out, err) == (0, b"", b"")  # 0640 and 0600 root queues: neither readable
    rc, out, err = run_uipc_as(65534, ["-S", "-o", "NAME"], ns)
    assert (rc, out) == (0, b""), err  # 0644 is not writable, 0600 not readable
    rc, out, err = run_uipc_as(65534, ["-M", "-o", "NAME", "--noheadings"], ns)
    assert (rc, out) == (0, b"lsipc-m1\nlsipc-m2\n"), err


# --- uipc's own options -----------------------------------------------------------
def test_namespace_option_looks_at_another_namespace(ns: str) -> None:
    """--namespace NAME from a process of another namespace shows NAME's
    objects; without it that process sees its own (empty) namespace."""
    q = uipc.msgget(0x4242, uipc.IPC_CREAT | 0o600)
    try:
        script = ("import subprocess, sys\n"
                  "cmd = [sys.executable, '-m', 'uipc.cli.main', 'lsipc', '-q', '-o', 'KEY,ID']\n"
                  f"print(subprocess.run(cmd + ['--namespace', {ns!r}], capture_output=True, "
                  "text=True).stdout, end='')\n"
                  "print('--')\n"
                  "print(subprocess.run(cmd, capture_output=True, text=True).stdout, end='')\n")
        out = subprocess.run([sys.executable, "-m", "uipc.cli.main", "run", "--new-namespace",
                              "--", sys.executable, "-c", script], capture_output=True,
                             text=True, timeout=60, cwd=ROOT)
        assert out.returncode == 0, out.stderr
        assert out.stdout == f"KEY        ID\n0x00004242 {q}\n--\n"
        bad = uipc_lsipc("-q", "--namespace", "no-such-namespace", ns=ns)
        assert bad.returncode == 1 and bad.stderr.startswith("lsipc: ") and not bad.stdout
    finally:
        uipc.msgctl(q, uipc.IPC_RMID)


def test_no_daemon_and_help(ns: str, tmp_path: Path) -> None:
    """Without a daemon: util-linux's err() shape and status 1; --help names
    2.38's columns and the 2.41 POSIX options."""
    out = subprocess.run([sys.executable, "-m", "uipc.cli.main", "lsipc", "-q"],
                         capture_output=True, text=True, timeout=60, cwd=ROOT,
                         env=dict(os.environ, UIPC_SOCKET=str(tmp_path / "none.sock")))
    assert out.returncode == 1 and out.stderr.startswith("lsipc: uipc daemon is not running")
    help_ = uipc_lsipc("--help", ns=ns)
    assert help_.returncode == 0
    for word in ("--posix-mqueues", "--posix-semaphores", "--posix-shmems", "--name <name>",
                 "--namespace", "USEDBYTES", "COMMAND", "USE%", "SVAL", "MTIME"):
        assert word in help_.stdout
