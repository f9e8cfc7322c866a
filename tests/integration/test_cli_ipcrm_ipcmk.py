"""`uipc ipcrm` and `uipc ipcmk` against util-linux's on the real kernel.

Each System V scenario runs twice: with /usr/bin/ipcmk and /usr/bin/ipcrm
(util-linux 2.38) in a forked child that unshare(CLONE_NEWIPC)'d, so that
it starts from an empty kernel IPC namespace, and with
`python -m uipc.cli.main ipcmk/ipcrm` subprocesses in a fresh uipc
namespace.  Every command's stdout, stderr and exit status, and the
objects left (id, mode, size or nsems), must be the same.  Keys a scenario
needs are made through the C library (kernel) or uipc's API, as ipcmk's
keys are random.  The POSIX options (util-linux 2.41, which this machine
does not have) are checked against 2.41's source: its messages, its
order and its --all rules.
"""
from __future__ import annotations

import ctypes
import errno
import os
import selectors
import stat
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

import uipc
from tests.conftest import ROOT, DaemonProc
from tests.helpers import NOBODY, Child

CLONE_NEWIPC = 0x08000000
REAL = {"ipcmk": "/usr/bin/ipcmk", "ipcrm": "/usr/bin/ipcrm"}

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="unshare(CLONE_NEWIPC) and setuid need root"),
    pytest.mark.skipif(not all(os.access(p, os.X_OK) for p in REAL.values()),
                       reason="util-linux's ipcmk/ipcrm are not installed"),
]


def _world_runnable(path: str) -> bool:
    """Can uid 65534 exec ``path`` (every directory on the way searchable)?"""
    real = Path(os.path.realpath(path))
    if not os.stat(real).st_mode & stat.S_IXOTH:
        return False
    return all(os.stat(d).st_mode & stat.S_IXOTH for d in real.parents)


#: a Python that uid 65534 can run (pyenv's may live under /root, 0700)
NOBODY_PYTHON = sys.executable if _world_runnable(sys.executable) else "/usr/bin/python3"


def _drop_to_nobody() -> None:
    os.setgroups([])
    os.setgid(NOBODY)
    os.setuid(NOBODY)


@dataclass(frozen=True)
class Result:
    stdout: str
    stderr: str
    rc: int

    @property
    def last_word(self) -> str:
        """The id or name ipcmk printed last ("Message queue id: 3" -> "3")."""
        return self.stdout.split()[-1]


def _base_env(extra: dict[str, str] | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k.startswith("UIPC_")}
    env.update(PATH="/usr/bin:/bin", LANG="C.UTF-8", PYTHONDONTWRITEBYTECODE="1")
    env.update(extra or {})
    return env


def run_cli(argv: list[str], *, real: bool, user: int | None = None,
            env: dict[str, str] | None = None, umask: int | None = None,
            exec_: bool = True, merge: bool = False) -> Result:
    """One command: util-linux's (argv[0] as the program name, as a shell
    runs it) or uipc's; as root or as ``user`` (65534).  uipc's runs as
    `python -m uipc.cli.main ...` (``exec_``) or, 20 times faster (no
    interpreter start, no `import uipc`), as that module's main() in a
    forked child whose descriptors 1 and 2 are pipes.  ``merge``: stderr
    on stdout's pipe (2>&1; processes only)."""
    def preexec() -> None:
        if umask is not None:
            os.umask(umask)
        if user is not None:
            _drop_to_nobody()
    if not real and (not exec_ or (user is not None and not _world_runnable(str(ROOT)))):
        # (a checkout uid 65534 cannot read, as a 0700 temporary clone: it
        # cannot start a Python that imports uipc from it, so main() runs
        # in a child forked after everything was imported)
        assert not merge, "2>&1 needs a real process"
        return _forked_main(argv, _base_env(env), preexec)
    if real:
        cmd, executable = argv, REAL[argv[0]]
    else:
        python = NOBODY_PYTHON if user is not None else sys.executable
        cmd, executable = [python, "-m", "uipc.cli.main", *argv], None
    out = subprocess.run(cmd, executable=executable, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT if merge else subprocess.PIPE, text=True,
                         cwd=ROOT, env=_base_env(env), preexec_fn=preexec, timeout=60)
    return Result(out.stdout, out.stderr or "", out.returncode)


def _forked_main(argv: list[str], env: dict[str, str], preexec: Callable[[], None]) -> Result:
    """uipc.cli.main.main(argv) as `python -m` runs it (SystemExit's code is
    the status, stdout and stderr flushed at exit), in a forked child."""
    from uipc.cli.main import main
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        status = 1
        try:
            os.dup2(out_w, 1)
            os.dup2(err_w, 2)
            for fd in (out_r, out_w, err_r, err_w):
                os.close(fd)
            sys.stdout = open(1, "w", closefd=False)
            sys.stderr = open(2, "w", buffering=1, closefd=False)
            os.environ.clear()
            os.environ.update(env)
            preexec()
            try:
                status = main(argv)
            except SystemExit as exc:
                status = exc.code if isinstance(exc.code, int) else 1
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(status)
    os.close(out_w)
    os.close(err_w)
    stdout, stderr = _read_both(out_r, err_r)
    _, wstatus = os.waitpid(pid, 0)
    return Result(stdout, stderr, os.waitstatus_to_exitcode(wstatus))


def _read_both(out_r: int, err_r: int) -> tuple[str, str]:
    """Both pipes to their end, whichever the child fills first."""
    data = {out_r: b"", err_r: b""}
    with selectors.DefaultSelector() as sel:
        for fd in data:
            sel.register(fd, selectors.EVENT_READ)
        while sel.get_map():
            for key, _ in sel.select(timeout=60):
                chunk = os.read(key.fd, 65536)
                if chunk:
                    data[key.fd] += chunk
                else:
                    sel.unregister(key.fd)
                    os.close(key.fd)
    return data[out_r].decode(), data[err_r].decode()


# --- the two sides ----------------------------------------------------------------------------
_libc = ctypes.CDLL(None, use_errno=True)
_libc.shmget.argtypes = [ctypes.c_int, ctypes.c_size_t, ctypes.c_int]


@dataclass
class Side:
    """Where a scenario runs; what it did, in order."""

    real: bool
    #: uipc's commands as `python -m uipc.cli.main` processes (else forked main())
    exec_: bool = False
    transcript: list[Any] = field(default_factory=list)

    def run(self, *argv: str, user: int | None = None, env: dict[str, str] | None = None,
            merge: bool = False) -> Result:
        result = run_cli(list(argv), real=self.real, user=user, env=env, exec_=self.exec_,
                         merge=merge)
        words = " ".join(repr(a) if not a or " " in a else a for a in argv)
        who = f"uid {user} " if user is not None else ""
        self.transcript.append((f"{who}{words}{' ' + str(env) if env else ''}", result))
        return result

    def make(self, kind: str, key: int, mode: int, n: int = 1) -> int:
        """An object with a chosen key (n: shm size or nsems)."""
        flags = mode | uipc.IPC_CREAT | uipc.IPC_EXCL
        if not self.real:
            return {"msg": lambda: uipc.msgget(key, flags),
                    "shm": lambda: uipc.shmget(key, n, flags),
                    "sem": lambda: uipc.semget(key, n, flags)}[kind]()
        k = ctypes.c_int32(key & 0xFFFFFFFF).value
        rc = {"msg": lambda: _libc.msgget(k, flags), "shm": lambda: _libc.shmget(k, n, flags),
              "sem": lambda: _libc.semget(k, n, flags)}[kind]()
        if rc < 0:
            raise OSError(ctypes.get_errno(), "make")
        return int(rc)

    def objects(self) -> list[tuple[str, int, int, int]]:
        """(kind, id, mode, size or nsems) of every object, in the transcript too."""
        found = kernel_objects() if self.real else uipc_objects()
        self.transcript.append(("objects", found))
        return found


def kernel_objects() -> list[tuple[str, int, int, int]]:
    """This namespace's objects from /proc/sysvipc (key msqid perms ...)."""
    found = []
    for kind, extra in (("msg", None), ("sem", 3), ("shm", 3)):
        with open(f"/proc/sysvipc/{kind}") as f:
            for line in list(f)[1:]:
                cols = line.split()
                found.append((kind, int(cols[1]), int(cols[2], 8),
                              int(cols[extra]) if extra else 0))
    return sorted(found)


def uipc_objects() -> list[tuple[str, int, int, int]]:
    found = []
    for kind, extra in (("msg", None), ("sem", "nsems"), ("shm", "size")):
        for e in uipc.introspect.section(kind):
            found.append((kind, e["id"], e["perms"], e[extra] if extra else 0))
    return sorted(found)


def on_kernel(scenario: Callable[[Side], None]) -> list[Any]:
    """The scenario with the real tools, in a private kernel IPC namespace."""
    def body() -> list[Any]:
        if _libc.unshare(CLONE_NEWIPC) != 0:
            raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWIPC)")
        side = Side(real=True)
        scenario(side)
        return side.transcript
    return Child(body).result(timeout=120)


def on_uipc(scenario: Callable[[Side], None], exec_: bool) -> list[Any]:
    """The scenario with uipc's commands, in this process's (fresh) namespace."""
    side = Side(real=False, exec_=exec_)
    scenario(side)
    return side.transcript


def compare(scenario: Callable[[Side], None], exec_: bool) -> list[Any]:
    """Both transcripts, step by step (the first difference names its command)."""
    kernel, ours = on_kernel(scenario), on_uipc(scenario, exec_)
    for (label, k), (_, u) in zip(kernel, ours):
        assert (label, u) == (label, k)
    assert len(ours) == len(kernel)
    return ours


def last_objects(transcript: list[Any]) -> Any:
    return [value for label, value in transcript if label == "objects"][-1]


# --- the host's IPC table stays as it was -------------------------------------------------------
def _host_ipc() -> dict[str, Any]:
    state: dict[str, Any] = {}
    for kind in ("msg", "sem", "shm"):
        with open(f"/proc/sysvipc/{kind}") as f:
            state[kind] = f.read().splitlines()[1:]
    for d in ("/dev/shm", "/dev/mqueue"):
        state[d] = sorted(os.listdir(d)) if os.path.isdir(d) else None
    return state


@pytest.fixture(autouse=True)
def host_ipc_untouched() -> Iterator[None]:
    before = _host_ipc()
    yield
    assert _host_ipc() == before


# --- System V: compared with util-linux 2.38 on the kernel ----------------------------------------
def scenario_create(t: Side) -> None:
    for args in (["-Q"], ["-Q", "-p", "600"], ["-M", "1K"], ["-M", "010"], ["-M", "0x10"],
                 ["-M", "0.5M"], ["-M", "1.25M"], ["-M", "1KB"], ["-M", "1kib"],
                 ["-M", "2MiB", "-p", "0640"], ["-M", " 1K"], ["-M", "+1K"], ["-M", "1.0K"],
                 ["-M", "1.05K"], ["-S", "3"], ["-S", " 2", "-p", "0400"],
                 ["-M", "4096", "-Q", "-S", "2", "-p", "1777"], ["-p", "0", "-Q"],
                 ["-Q", "extra", "operand"], ["--shmem=64", "--mode", "444"], ["--sem", "1"],
                 ["--que"]):
        t.run("ipcmk", *args)
    t.objects()
    t.run("ipcrm", "-a")
    t.objects()


def scenario_ipcmk_errors(t: Side) -> None:
    for args in (["-M", "abc"], ["-M", "1X"], ["-M", "-1"], ["-M", "1Y"], ["-M", ""],
                 ["-M", "18446744073709551616"], ["-M", "1.0"], ["-M", "1.5"], ["-M", "1."],
                 ["-M", "0"], ["-M", "18446744073709551615"], ["-S", "abc"], ["-S", "3000000000"],
                 ["-S", "0"], ["-S", "-3"], ["-S", "40000"], ["-Q", "-p", "abc"],
                 ["-Q", "-p", "99"], ["-Q", "-p", ""], ["-Q", "-p", "777777777777777777777777"],
                 [], ["-x"], ["--queue=1"], ["--shmem"], ["--s", "1"], ["-Q", "-M"]):
        t.run("ipcmk", *args)
    t.objects()  # nothing was made


def scenario_remove_by_id(t: Side) -> None:
    q, m, s = (t.run("ipcmk", o, *a).last_word for o, a in (("-Q", []), ("-M", ["1K"]),
                                                          ("-S", ["2"])))
    t.run("ipcrm", "-q", q)
    t.run("ipcrm", "-q", q)  # gone: Linux says EINVAL, not EIDRM
    m2 = t.run("ipcmk", "-M", "10").last_word
    t.run("ipcrm", "-v", "-m", m, "-q", "99999", "-s", s, "--shmem-id", m2)
    q2, q3, m3 = (t.run("ipcmk", *a).last_word for a in (["-Q"], ["-Q"], ["-M", "1"]))
    t.run("ipcrm", "msg", q2, "abc", "-1", "", "99999999999", q3)
    t.run("ipcrm", "shm", m3)
    t.run("ipcrm", "sem")
    s2 = t.run("ipcmk", "-S", "1").last_word
    t.run("ipcrm", "sem", s2, " +0")
    for args in (["-q", "abc"], ["-q", "3000000000"], ["-q", "-1"], ["-q", ""], ["-m", "12x"],
                 ["--queue-i=5"], ["-s", " 7"]):
        t.run("ipcrm", *args)
    t.objects()


def scenario_remove_by_key(t: Side) -> None:
    t.make("msg", 0x1234, 0o644)
    t.make("shm", 0x2345, 0o600, 4096)
    t.make("sem", 0x3456, 0o640, 2)
    t.make("msg", -1, 0o600)
    t.make("msg", 0x1235, 0o600)
    t.objects()
    t.run("ipcrm", "-Q", "0x1234")
    t.run("ipcrm", "-Q", "0x1234")
    t.run("ipcrm", "-v", "-M", "9029", "-S", "032126")  # decimal and octal keys
    t.run("ipcrm", "-Q", "4294967295")  # key -1, as key_t
    for args in (["-Q", "0"], ["-Q", "0x100000000"], ["-Q", "zz"], ["-Q", "0x1ffffffffffffffff"],
                 ["-Q", "-1"], ["-M", "0x99"], ["-S", "7"], ["-Q", "0x"]):
        t.run("ipcrm", *args)
    # an empty key fails before errno is reset: what setlocale() left shows
    t.run("ipcrm", "-Q", "", env={"LC_ALL": "C"})
    t.run("ipcrm", "-Q", "", env={"LC_ALL": "C.UTF-8"})
    t.run("ipcrm", "-q", "99999", "-Q", "")
    t.run("ipcrm", "-q", "5", "-Q", "")
    t.run("ipcrm", "--queue-key=0x1235", "--queue-key", "0x1235")
    t.objects()


def scenario_options(t: Side) -> None:
    q = t.run("ipcmk", "-Q").last_word
    for args in ([], ["foo"], ["--", "-q"], ["--s", "1"], ["--verbose=1"], ["--queue-id"],
                 ["--bogus=3"], ["--all=foo"], ["-x"], ["-q"], ["-v"], ["-"]):
        t.run("ipcrm", *args)
    t.run("ipcrm", "-q", q, "foo")  # removed, then the complaint
    q = t.run("ipcmk", "-Q").last_word
    t.run("ipcrm", "foo", "-q", q, env={"POSIXLY_CORRECT": "1"})  # options stop at foo
    t.run("ipcrm", "-vq", q)
    t.run("ipcmk", "-Q")
    t.run("ipcmk", "-M", "1")
    t.run("ipcrm", "-v", "-a", "shm")  # -a takes no separate word: all, then the complaint
    # one pipe for both (2>&1): stdout is buffered until exit, as C's stdio
    q1, q2 = (t.run("ipcmk", "-Q").last_word for _ in range(2))
    t.run("ipcrm", "-v", "-q", q1, "-q", "99", "msg", "-q", q2, merge=True,
          env={"PYTHONUNBUFFERED": "1"})
    t.objects()


def scenario_all(t: Side) -> None:
    for args in (["-Q"], ["-M", "1K"], ["-S", "1"], ["-Q"], ["-M", "2K"], ["-S", "2"]):
        t.run("ipcmk", *args)
    t.run("ipcrm", "-v", "--all=msg")
    t.objects()
    t.run("ipcrm", "--all=sem", "-v")
    t.objects()
    t.run("ipcmk", "-Q")
    t.run("ipcrm", "-v", "-a")
    t.objects()
    t.run("ipcrm", "-a")
    t.run("ipcrm", "-v", "--all=shm")


#: scenario, and whether uipc's side runs as `python -m uipc.cli.main` processes
#: (130 ms each, mostly `import uipc`) or as forked main() calls (6 ms)
SYSV_SCENARIOS = [(scenario_create, False), (scenario_ipcmk_errors, False),
                  (scenario_remove_by_id, False), (scenario_remove_by_key, False),
                  (scenario_options, True), (scenario_all, False)]


@pytest.mark.parametrize("scenario,exec_", SYSV_SCENARIOS,
                         ids=[f.__name__.removeprefix("scenario_") for f, _ in SYSV_SCENARIOS])
def test_sysv_matches_util_linux(ns: str, scenario: Callable[[Side], None], exec_: bool) -> None:
    ours = compare(scenario, exec_)
    assert last_objects(ours) == []


def scenario_permissions(t: Side) -> None:
    q644 = t.make("msg", 0x4444, 0o644)
    t.make("msg", 0x4445, 0o600)
    t.make("sem", 0x4446, 0o666, 1)
    m = t.run("ipcmk", "-M", "1K").last_word
    nobody = NOBODY
    t.run("ipcrm", "-q", str(q644), user=nobody)
    t.run("ipcrm", "-Q", "0x4444", user=nobody)
    t.run("ipcrm", "-Q", "0x4445", user=nobody)  # msgget(key, 0) asks nothing: IPC_RMID refuses
    t.run("ipcrm", "-S", "0x4446", "-m", m, user=nobody)
    t.run("ipcrm", "msg", str(q644), user=nobody)
    t.run("ipcrm", "-v", "-a", user=nobody)  # the 0600 queue is not even shown (MSG_STAT)
    own = t.run("ipcmk", "-Q", "-p", "600", user=nobody).last_word
    t.run("ipcrm", "-v", "-q", own, user=nobody)
    t.objects()
    t.run("ipcrm", "-a")
    t.objects()


def test_permission_denied_as_nobody_matches_util_linux(system_daemon: DaemonProc) -> None:
    uipc.unshare_namespace()
    ours = compare(scenario_permissions, exec_=True)
    assert last_objects(ours) == []
    assert any("permission denied for id" in r.stderr for _, r in ours if isinstance(r, Result))


# --- POSIX (util-linux 2.41's options), on uipc's objects ----------------------------------
def cli(*argv: str, user: int | None = None, umask: int = 0o022,
        env: dict[str, str] | None = None, exec_: bool = False) -> tuple[str, str, int]:
    """uipc's command (forked main(), or with ``exec_`` a real process)."""
    r = run_cli(list(argv), real=False, user=user, umask=umask, env=env, exec_=exec_)
    return r.stdout, r.stderr, r.rc


def posix_objects() -> dict[str, list[tuple[Any, ...]]]:
    return {"mqueue": [(e["name"], e["mode"] & 0o7777) for e in uipc.introspect.section("mqueue")],
            "posix_sem": [(e["name"], e["mode"] & 0o7777, e["value"])
                          for e in uipc.introspect.section("posix_sem")],
            "posix_shm": [(e["name"], e["mode"] & 0o7777, e["size"])
                          for e in uipc.introspect.section("posix_shm")]}


def test_ipcmk_posix_objects_as_util_linux_2_41(ns: str) -> None:
    assert cli("ipcmk", "-q", "-n", "/mq1") == ("POSIX message queue name: /mq1\n", "", 0)
    assert cli("ipcmk", "--posix-semaphore", "--name", "/sem1", "-p", "600") == \
        ("POSIX semaphore name: /sem1\n", "", 0)
    assert cli("ipcmk", "-m", "1K", "-n", "/shm1", umask=0o027) == \
        ("POSIX shared memory name: /shm1\n", "", 0)
    # -M and -m share one size in util-linux: both are 200 bytes
    assert cli("ipcmk", "-M", "100", "-m", "200", "-n", "/both") == \
        ("Shared memory id: 0\nPOSIX shared memory name: /both\n", "", 0)
    # O_CREAT without O_EXCL: making it again is fine
    assert cli("ipcmk", "-q", "-n", "/mq1", "-p", "0") == \
        ("POSIX message queue name: /mq1\n", "", 0)
    assert posix_objects() == {
        "mqueue": [("/mq1", 0o644)],
        "posix_sem": [("/sem1", 0o600, 0)],
        "posix_shm": [("/shm1", 0o640, 1024), ("/both", 0o644, 200)],  # umask 027 for /shm1
    }
    assert uipc_objects() == [("shm", 0, 0o644, 200)]
    # every kind at once, in util-linux's order
    out = cli("ipcmk", "-s", "-S", "1", "-q", "-Q", "-m", "2K", "-M", "1K", "-n", "/every")
    assert out == ("Shared memory id: 1\nPOSIX shared memory name: /every\nMessage queue id: 0\n"
                   "POSIX message queue name: /every\nSemaphore id: 0\n"
                   "POSIX semaphore name: /every\n", "", 0)


def test_ipcmk_posix_errors_as_util_linux_2_41(ns: str) -> None:
    try_help = "Try 'ipcmk --help' for more information.\n"
    for args in (["-q"], ["-s", "-Q"], ["-m", "1K"]):
        # the check comes before anything is made, even the System V queue
        assert cli("ipcmk", *args) == ("", "ipcmk: name is required for POSIX IPC\n" + try_help, 1)
    assert cli("ipcmk", "-q", "-n", "noslash") == \
        ("", "ipcmk: create POSIX message queue failed: Invalid argument\n", 1)
    assert cli("ipcmk", "-m", "1X", "-n", "/x") == \
        ("", "ipcmk: failed to parse size: '1X': Invalid argument\n", 1)
    # what was made before a failure stays made, as err() exits there
    assert cli("ipcmk", "-Q", "-q", "-n", "bad") == \
        ("Message queue id: 0\n", "ipcmk: create POSIX message queue failed: Invalid argument\n", 1)
    assert cli("ipcmk", "--p", "-n", "/x")[1].startswith(
        "ipcmk: option '--p' is ambiguous; possibilities: '--posix-shmem' '--posix-semaphore' "
        "'--posix-mqueue'\n")
    assert posix_objects() == {"mqueue": [], "posix_sem": [], "posix_shm": []}
    uipc.msgctl(0, uipc.IPC_RMID)


def _glibc_unlink_errno(fn: str, name: str) -> int:
    """What glibc's shm_unlink/sem_unlink/mq_unlink say about a name that
    names nothing on this machine (no object is touched)."""
    f = getattr(_libc, fn)
    f.argtypes = [ctypes.c_char_p]
    assert f(name.encode()) == -1
    return ctypes.get_errno()


def test_ipcrm_posix_names_as_util_linux_2_41(ns: str) -> None:
    for args in (["-q", "-n", "/mq1"], ["-s", "-n", "/sem1"], ["-m", "8", "-n", "/shm1"]):
        assert cli("ipcmk", *args)[2] == 0
    assert cli("ipcrm", "--posix-mqueue", "/mq1") == ("", "", 0)
    assert cli("ipcrm", "--posix-mqueue", "/mq1") == ("", "ipcrm: name `/mq1' not found\n", 1)
    assert cli("ipcrm", "-v", "--posix-semaphore", "/sem1", "--posix-shmem=/shm1") == \
        ("removing POSIX semaphore `/sem1'\nremoving POSIX shared memory `/shm1'\n", "", 0)
    # glibc's mq_unlink refuses a name without '/': remove_name() err()s
    assert cli("ipcrm", "--posix-mqueue", "noslash", "-q", "0") == \
        ("", "ipcrm: name failed: Invalid argument\n", 1)
    # each unlink's errno, as glibc gives it for a name too long
    long = "/" + "n" * 300
    messages = {errno.ENAMETOOLONG: f"ipcrm: name `{long}' too long\n",
                errno.ENOENT: f"ipcrm: name `{long}' not found\n",
                errno.EINVAL: "ipcrm: name failed: Invalid argument\n"}
    for option, fn in (("--posix-shmem", "shm_unlink"), ("--posix-semaphore", "sem_unlink"),
                       ("--posix-mqueue", "mq_unlink")):
        assert cli("ipcrm", option, long) == ("", messages[_glibc_unlink_errno(fn, long)], 1), fn
    assert posix_objects() == {"mqueue": [], "posix_sem": [], "posix_shm": []}


def test_ipcrm_all_posix_as_util_linux_2_41(ns: str) -> None:
    for args in (["-q", "-n", "/qa"], ["-q", "-n", "/qb"], ["-s", "-n", "/sa"],
                 ["-m", "10", "-n", "/ma"], ["-Q"]):
        assert cli("ipcmk", *args)[2] == 0
    # 2.41 prints the verbose line twice (remove_all, then remove_name);
    # queues keep their '/', semaphores and shm objects are named as /dev/shm lists them
    assert cli("ipcrm", "-v", "--all=pmsg") == (
        "removing POSIX message queue `/qa'\n" * 2 + "removing POSIX message queue `/qb'\n" * 2,
        "", 0)
    assert cli("ipcrm", "-v", "-a=psem") == ("removing POSIX semaphore `sa'\n" * 2, "", 0)
    assert cli("ipcrm", "-v", "-a") == (
        "removing POSIX shared memory `ma'\n" * 2 + "removing message queue id `0'\n", "", 0)
    assert posix_objects() == {"mqueue": [], "posix_sem": [], "posix_shm": []}
    assert uipc_objects() == []
    assert cli("ipcrm", "--all=pshm") == ("", "", 0)


def test_ipcrm_all_equals_short_form_as_2_41(ns: str) -> None:
    """2.41 takes "-a=shm" (2.38 says "unknown argument: =shm")."""
    assert cli("ipcmk", "-Q", "-M", "1") == ("Shared memory id: 0\nMessage queue id: 0\n", "", 0)
    assert cli("ipcrm", "-a=shm") == ("", "", 0)
    assert uipc_objects() == [("msg", 0, 0o644, 0)]
    assert cli("ipcrm", "-a=bogus") == ("", "ipcrm: unknown argument: bogus\n", 1)
    assert cli("ipcrm", "-a=msg") == ("", "", 0)


def test_posix_permission_denied_as_nobody(system_daemon: DaemonProc) -> None:
    uipc.unshare_namespace()
    for args in (["-q", "-n", "/rq", "-p", "644"], ["-q", "-n", "/rq6", "-p", "600"],
                 ["-s", "-n", "/rs", "-p", "644"], ["-s", "-n", "/rs6", "-p", "666"],
                 ["-m", "1", "-n", "/rm", "-p", "600"]):
        assert cli("ipcmk", *args, umask=0)[2] == 0
    assert cli("ipcrm", "--posix-mqueue", "/rq", user=NOBODY) == \
        ("", "ipcrm: permission denied for name `/rq'\n", 1)
    assert cli("ipcrm", "--posix-shmem", "/rm", "--posix-semaphore", "/rs", user=NOBODY) == \
        ("", "ipcrm: permission denied for name `/rm'\n"
             "ipcrm: permission denied for name `/rs'\n", 1)
    # --all lists every shm object, the semaphores it can open read-write
    # (not /rs) and the queues it can read (not /rq6)
    assert cli("ipcrm", "-a", user=NOBODY) == ("", "ipcrm: permission denied for name `rm'\n"
                                                   "ipcrm: permission denied for name `rs6'\n"
                                                   "ipcrm: permission denied for name `/rq'\n", 1)
    assert len(sum(posix_objects().values(), [])) == 5
    assert cli("ipcrm", "-a") == ("", "", 0)
    assert posix_objects() == {"mqueue": [], "posix_sem": [], "posix_shm": []}


# --- uipc's own: --namespace, and no daemon -----------------------------------------------------
def test_namespace_option_acts_in_that_namespace(ns: str) -> None:
    def elsewhere(*argv: str) -> tuple[str, str, int]:
        """The command run from a fresh namespace of its own (uipc run)."""
        return cli("run", "--new-namespace", "--", sys.executable, "-m", "uipc.cli.main", *argv)

    assert elsewhere("ipcmk", "-Q", "--namespace", ns) == ("Message queue id: 0\n", "", 0)
    assert elsewhere("ipcmk", "--namespace", ns, "-q", "-n", "/nsq") == \
        ("POSIX message queue name: /nsq\n", "", 0)
    assert uipc_objects() == [("msg", 0, 0o644, 0)]
    assert posix_objects()["mqueue"] == [("/nsq", 0o644)]
    # without it, the fresh namespace has no such queue
    assert elsewhere("ipcrm", "-q", "0") == ("", "ipcrm: invalid id (0)\n", 1)
    assert elsewhere("ipcrm", f"--namespace={ns}", "msg", "0") == ("resource(s) deleted\n", "", 0)
    assert elsewhere("ipcrm", "--namespace", ns, "--posix-mqueue", "/nsq") == ("", "", 0)
    assert uipc_objects() == [] and posix_objects()["mqueue"] == []
    out = cli("ipcrm", "--namespace", "no-such-namespace", "-q", "0")
    assert out[0] == "" and out[2] == 1
    assert out[1].startswith("ipcrm: ") and "no-such-namespace" in out[1]


def test_without_a_daemon_nothing_is_started(ns: str) -> None:
    with tempfile.TemporaryDirectory() as d:
        env = {"UIPC_SOCKET": str(Path(d) / "uipc.sock")}
        for tool, args in (("ipcrm", ["-q", "0"]), ("ipcrm", ["-a"]), ("ipcmk", ["-Q"])):
            out, err, rc = cli(tool, *args, env=env, exec_=True)
            assert (out, rc) == ("", 1)
            assert err.startswith(f"{tool}: uipc daemon is not running"), err
        assert cli("ipcrm", env=env) == ("", "", 0)  # 2.38: no arguments, nothing to do
        assert cli("ipcrm", "-h", env=env)[0].startswith("\nUsage:\n ipcrm [options]\n")
        assert cli("ipcmk", "-h", env=env)[0].startswith("\nUsage:\n ipcmk [options]\n")
        assert cli("ipcmk", env=env) == \
            ("", "ipcmk: bad usage\nTry 'ipcmk --help' for more information.\n", 1)
        assert os.listdir(d) == []  # no daemon was started there
