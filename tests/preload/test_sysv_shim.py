"""SysV semaphores and queues under the shim, where one C program cannot show it alone.

- kill -9 of a C program asleep in semop gives back what its SEM_UNDO
  held (the daemon sees its pidfd: Linux's exit_sem), checked through
  uipc's Python client in the same uipc namespace;
- a sleeper woken by one process keeps its reply when another process's
  interrupt frame reaches the daemon in the same turn (the daemon is held
  with SIGSTOP so that both are read together);
- a C program's queue is in ``uipc ipcs -q`` while the machine's
  /proc/sysvipc/msg does not change;
- without a daemon, the SysV calls fail with ENOSYS (a kernel without
  CONFIG_SYSVIPC) and the shim says so once on stderr, however many calls.

The C sides are small programs written here (programs/ holds only the
differential ones, each run without arguments).
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest

from tests.conftest import ROOT, DaemonProc, wait_until
from tests.preload.conftest import RUN_TIMEOUT, shim_env, uipc_run_cmd

SEM_HOLDER = r"""
/* argv[1]: a semid.  +1 on semaphore 0 with SEM_UNDO, say "ready PID",
 * then sleep in semop on semaphore 1 until killed. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/sem.h>
int main(int argc, char **argv)
{
    int id = atoi(argv[1]);
    struct sembuf up = {0, 1, SEM_UNDO}, wait1 = {1, -1, 0};
    if (argc != 2 || semop(id, &up, 1) < 0) { perror("semop up"); return 1; }
    printf("ready %d\n", (int)getpid());
    fflush(stdout);
    semop(id, &wait1, 1);
    perror("semop returned");
    return 1;
}
"""

QUEUE_OWNER = r"""
/* argv[1]: a key.  Make its queue, send two messages, say "ready PID
 * MSQID", wait for stdin to close, remove the queue. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/msg.h>
int main(int argc, char **argv)
{
    struct { long mtype; char text[8]; } m = {1, "1234567"};
    int q = argc == 2 ? msgget((key_t)strtol(argv[1], NULL, 0), IPC_CREAT | 0640) : -1;
    if (q < 0 || msgsnd(q, &m, 7, 0) < 0 || msgsnd(q, &m, 5, 0) < 0) { perror("msg"); return 1; }
    printf("ready %d %d\n", (int)getpid(), q);
    fflush(stdout);
    char c;
    while (read(0, &c, 1) > 0)
        ;
    return msgctl(q, IPC_RMID, NULL) < 0;
}
"""

NO_DAEMON = r"""
/* Every SysV call a few times, with no daemon to reach. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/syscall.h>
#include <unistd.h>
#define SHOW(name, expr) do { errno = 0; long r = (expr); \
    printf("%s %ld %s\n", name, r, strerrorname_np(errno)); } while (0)
int main(void)
{
    struct sembuf sb = {0, 1, 0};
    struct { long mtype; char c; } m = {1, 'x'};
    for (int i = 0; i < 3; i++) {
        SHOW("msgget", msgget(IPC_PRIVATE, 0600));
        SHOW("msgsnd", msgsnd(0, &m, 1, 0));
        SHOW("msgrcv", msgrcv(0, &m, 1, 0, 0));
        SHOW("msgctl", msgctl(0, IPC_RMID, NULL));
        SHOW("semget", semget(IPC_PRIVATE, 1, 0600));
        SHOW("semop", semop(0, &sb, 1));
        SHOW("semctl", semctl(0, 0, GETVAL));
        SHOW("syscall", syscall(SYS_semget, IPC_PRIVATE, 1, 0600));
    }
    return 0;
}
"""


SEM_ACTOR = r"""
/* argv: MODE SEMID NUM.  sleep: -1 on NUM.  intr: the same, with a SIGUSR1
 * handler (no SA_RESTART).  wake: a first call (the connection is made),
 * then +1 on NUM once a line comes on stdin.  Each says "ready PID" first,
 * and prints its semop's result. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/sem.h>
static void on_usr1(int sig) { (void)sig; }
int main(int argc, char **argv)
{
    if (argc != 4)
        return 2;
    int id = atoi(argv[2]);
    struct sembuf sb = {(unsigned short)atoi(argv[3]), -1, 0};
    if (!strcmp(argv[1], "intr")) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_usr1;
        sigaction(SIGUSR1, &sa, NULL);
    }
    if (!strcmp(argv[1], "wake") && semctl(id, 0, GETVAL) < 0)
        return 3;
    printf("ready %d\n", (int)getpid());
    fflush(stdout);
    if (!strcmp(argv[1], "wake")) {
        char line[8];
        if (!fgets(line, sizeof line, stdin))
            return 4;
        sb.sem_op = 1;
    }
    int r = semop(id, &sb, 1);
    printf("%s %d %s\n", argv[1], r, r ? strerrorname_np(errno) : "-");
    return 0;
}
"""


def build(compile_c, tmp_path: Path, name: str, source: str) -> Path:
    src = tmp_path / f"{name}.c"
    src.write_text(source)
    return compile_c(src)


@pytest.fixture
def started(daemon: DaemonProc, shim_lib: Path) -> Iterator[list[subprocess.Popen[str]]]:
    """Processes a test starts under `uipc run`; none outlives it."""
    procs: list[subprocess.Popen[str]] = []
    yield procs
    for p in procs:
        if p.poll() is None:
            # the C program first: its `uipc run` has not reaped it, so the pid is still its
            c_pid = getattr(p, "c_pid", None)
            if c_pid is not None:
                os.kill(c_pid, signal.SIGKILL)
            p.kill()
        p.wait(timeout=RUN_TIMEOUT)
        for f in (p.stdin, p.stdout, p.stderr):
            if f is not None:
                f.close()


def run_in(daemon: DaemonProc, shim_lib: Path, ns: str, argv: list[str],
           procs: list[subprocess.Popen[str]]) -> subprocess.Popen[str]:
    p = subprocess.Popen(uipc_run_cmd("--preload", "--namespace", ns, "--", *argv),
                         env=shim_env(daemon, shim_lib), stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    procs.append(p)
    return p


def ready_line(p: subprocess.Popen[str]) -> int:
    """The C program's "ready PID ..." line: its pid (kept for the teardown)."""
    assert p.stdout is not None
    line = p.stdout.readline().split()
    if line[:1] != ["ready"]:
        p.kill()
        raise AssertionError(f"the C program did not start: {line!r} {p.communicate()[1]!r}")
    p.c_pid = int(line[1])  # type: ignore[attr-defined]
    p.ready = [int(x) for x in line[1:]]  # type: ignore[attr-defined]
    return int(line[1])


def test_kill_9_in_semop_gives_back_its_undo(daemon: DaemonProc, shim_lib: Path, compile_c,
                                             tmp_path: Path, ns: str, started) -> None:
    import uipc
    exe = build(compile_c, tmp_path, "sem_holder", SEM_HOLDER)
    semid = uipc.semget(uipc.IPC_PRIVATE, 2, 0o600)
    try:
        p = run_in(daemon, shim_lib, ns, [str(exe), str(semid)], started)
        pid = ready_line(p)
        # its +1 is there, and it sleeps in the daemon on semaphore 1
        wait_until(lambda: uipc.semctl(semid, 1, uipc.GETNCNT) == 1, what="the C program asleep")
        assert uipc.semctl(semid, 0, uipc.GETVAL) == 1
        assert uipc.semctl(semid, 0, uipc.GETPID) == pid
        os.kill(pid, signal.SIGKILL)
        p.communicate(timeout=RUN_TIMEOUT)
        assert p.returncode == 128 + signal.SIGKILL  # uipc run reports the signal as a shell does
        # exit_sem: the undo is applied (sempid is the dead process's) and
        # its sleep is gone
        wait_until(lambda: uipc.semctl(semid, 0, uipc.GETVAL) == 0, what="the undo applied")
        assert uipc.semctl(semid, 1, uipc.GETNCNT) == 0
        assert uipc.semctl(semid, 0, uipc.GETPID) == pid
        # and a later V is nobody's but ours: the dead sleeper does not take it
        uipc.semop(semid, [(1, 1, 0)])
        assert uipc.semctl(semid, 1, uipc.GETVAL) == 1
    finally:
        uipc.semctl(semid, 0, uipc.IPC_RMID)


#: (ppoll, recvmsg) by machine: where conn.c waits for a reply, and reads it
_WAIT_SYSCALLS = {"x86_64": (271, 47), "aarch64": (73, 212)}


def _state(pid: int) -> str:
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0]


def _in_syscall(pid: int) -> int:
    with open(f"/proc/{pid}/syscall") as f:
        first = f.read().split()[0]
    return int(first) if first.lstrip("-").isdigit() else -1


def test_wake_and_interrupt_in_one_daemon_turn(daemon: DaemonProc, shim_lib: Path, compile_c,
                                               tmp_path: Path, ns: str, started) -> None:
    """A sleeper woken by one connection's request keeps its reply when
    another connection's interrupt frame is read in the same daemon turn.

    The daemon is stopped while the waking semop and the interrupt go out,
    so it reads both in one turn, the semop first (the order they came).
    """
    import platform
    import uipc
    if platform.machine() not in _WAIT_SYSCALLS:
        pytest.skip(f"no syscall numbers known for {platform.machine()}")
    ppoll, recvmsg = _WAIT_SYSCALLS[platform.machine()]
    exe = str(build(compile_c, tmp_path, "sem_actor", SEM_ACTOR))
    semid = uipc.semget(uipc.IPC_PRIVATE, 2, 0o600)
    try:
        sleeper = run_in(daemon, shim_lib, ns, [exe, "sleep", str(semid), "0"], started)
        ready_line(sleeper)
        wait_until(lambda: uipc.semctl(semid, 0, uipc.GETNCNT) == 1, what="the sleeper asleep")
        intr = run_in(daemon, shim_lib, ns, [exe, "intr", str(semid), "1"], started)
        intr_pid = ready_line(intr)
        wait_until(lambda: uipc.semctl(semid, 1, uipc.GETNCNT) == 1, what="the other asleep")
        waker = run_in(daemon, shim_lib, ns, [exe, "wake", str(semid), "0"], started)
        waker_pid = ready_line(waker)
        os.kill(daemon.pid, signal.SIGSTOP)
        try:
            wait_until(lambda: _state(daemon.pid) == "T", what="the daemon stopped")
            assert waker.stdin is not None
            waker.stdin.write("go\n")
            waker.stdin.flush()
            wait_until(lambda: _in_syscall(waker_pid) == ppoll, what="the waking semop sent")
            os.kill(intr_pid, signal.SIGUSR1)
            wait_until(lambda: _in_syscall(intr_pid) == recvmsg, what="the interrupt sent")
        finally:
            os.kill(daemon.pid, signal.SIGCONT)
        outs = {}
        for name, p in (("wake", waker), ("intr", intr), ("sleep", sleeper)):
            try:
                outs[name] = p.communicate(timeout=10)[0].strip()
            except subprocess.TimeoutExpired:
                outs[name] = "(no answer)"
        assert outs == {"wake": "wake 0 -", "intr": "intr -1 EINTR", "sleep": "sleep 0 -"}
        assert [uipc.semctl(semid, n, uipc.GETNCNT) for n in (0, 1)] == [0, 0]
    finally:
        uipc.semctl(semid, 0, uipc.IPC_RMID)


def _user_name() -> str:
    import pwd
    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return str(os.geteuid())


def _proc_sysvipc_msg() -> list[str]:
    with open("/proc/sysvipc/msg") as f:
        return f.read().splitlines()


def test_c_programs_queue_is_in_uipc_ipcs_not_the_kernel(daemon: DaemonProc, shim_lib: Path,
                                                         compile_c, tmp_path: Path, ns: str,
                                                         started) -> None:
    import uipc
    exe = build(compile_c, tmp_path, "queue_owner", QUEUE_OWNER)
    key = 0x5EED
    kernel_before = _proc_sysvipc_msg()
    p = run_in(daemon, shim_lib, ns, [str(exe), hex(key)], started)
    ready_line(p)
    msqid = p.ready[1]  # type: ignore[attr-defined]
    env = dict(os.environ, UIPC_SOCKET=str(daemon.socket), UIPC_NAMESPACE=ns,
               PYTHONPATH=str(ROOT))
    ipcs = subprocess.run([sys.executable, "-m", "uipc.cli.main", "ipcs", "-q"], env=env,
                          capture_output=True, text=True, timeout=RUN_TIMEOUT)
    assert ipcs.returncode == 0, ipcs.stderr
    rows = [line.split() for line in ipcs.stdout.splitlines() if line.startswith("0x")]
    # key, msqid, owner, perms, used-bytes, messages: as util-linux prints them
    assert [r for r in rows if r[0] == f"0x{key:08x}"] == [
        [f"0x{key:08x}", str(msqid), _user_name(), "640", "12", "2"]]
    assert _proc_sysvipc_msg() == kernel_before  # the machine's table never saw it
    assert uipc.msgctl(msqid, uipc.IPC_STAT).msg_qnum == 2
    assert p.stdin is not None
    p.stdin.close()
    p.wait(timeout=RUN_TIMEOUT)
    assert p.returncode == 0, p.stderr.read() if p.stderr else ""
    with pytest.raises(FileNotFoundError):  # ENOENT: the program removed it
        uipc.msgget(key, 0)
    assert _proc_sysvipc_msg() == kernel_before


@pytest.mark.parametrize("where", ["no directory", "no listener"])
def test_no_daemon_is_enosys_with_one_line(shim_lib: Path, compile_c, tmp_path: Path,
                                           where: str) -> None:
    exe = build(compile_c, tmp_path, "no_daemon", NO_DAEMON)
    sock = tmp_path / "nowhere" / "uipc.sock"
    if where == "no listener":
        sock.parent.mkdir(mode=0o700)
    env = {k: v for k, v in os.environ.items() if not k.startswith("UIPC_")}
    env.update(LD_PRELOAD=str(shim_lib), UIPC_SOCKET=str(sock))
    p = subprocess.run([str(exe)], env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert len(lines) == 24
    assert all(line.split()[1:] == ["-1", "ENOSYS"] for line in lines), p.stdout
    err = p.stderr.splitlines()
    assert len(err) == 1 and err[0].startswith("uipc:"), p.stderr
    assert not sock.exists()  # the shim starts no daemon
