"""POSIX IPC of C programs under the shim, seen from outside the program.

What a differential program cannot show alone: the queue, semaphore and
shared memory object a C program makes under ``uipc run --preload`` live in
the uipc namespace it runs in -- uipc's Python API and ``uipc lsipc`` see
them there, a Python program exchanges messages with it, a notification
signal carries the Python sender's pid -- while the machine's own POSIX
IPC (its mqueue file system and /dev/shm) stays empty.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from uipc.posix import MessageQueue, Semaphore, SharedMemory
from tests.preload.conftest import RUN_TIMEOUT, shim_env, uipc_run_cmd

#: makes a queue, a semaphore and a shared memory object, says "ready", then
#: waits for "go" on stdin, takes what Python sent and cleans up
HOLDER_C = r"""
#include <fcntl.h>
#include <mqueue.h>
#include <semaphore.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int main(void)
{
    struct mq_attr a = {.mq_maxmsg = 4, .mq_msgsize = 64};
    mqd_t q = mq_open("/shim-q", O_RDWR | O_CREAT | O_EXCL, 0640, &a);
    sem_t *s = sem_open("/shim-sem", O_CREAT | O_EXCL, 0600, 0);
    int fd = shm_open("/shim-shm", O_RDWR | O_CREAT | O_EXCL, 0600);
    if (q < 0 || s == SEM_FAILED || fd < 0 || ftruncate(fd, 4096) < 0)
        return 1;
    char *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    strcpy(p, "written by C");
    if (mq_send(q, "from C", 6, 3) < 0)
        return 2;
    printf("ready\n");
    fflush(stdout);
    char line[16];
    if (!fgets(line, sizeof line, stdin))
        return 3;
    char buf[64] = {0};
    unsigned prio;
    ssize_t n = mq_receive(q, buf, sizeof buf, &prio);
    int w = sem_wait(s);
    printf("got %zd '%s' prio %u; sem_wait %d; shm '%s'\n", n, buf, prio, w, p + 100);
    mq_close(q);
    sem_close(s);
    close(fd);
    return mq_unlink("/shim-q") || sem_unlink("/shim-sem") || shm_unlink("/shim-shm");
}
"""

#: echoes COUNT messages from /to-c to /to-py with the priority plus one
ECHO_C = r"""
#include <fcntl.h>
#include <mqueue.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    int count = argc > 1 ? atoi(argv[1]) : 0;
    mqd_t in = mq_open("/to-c", O_RDONLY), out = mq_open("/to-py", O_WRONLY);
    if (in < 0 || out < 0)
        return 1;
    for (int i = 0; i < count; i++) {
        char buf[128];
        unsigned prio;
        ssize_t n = mq_receive(in, buf, sizeof buf, &prio);
        if (n < 0 || mq_send(out, buf, (size_t)n, prio + 1) < 0)
            return 2;
    }
    return mq_close(in) || mq_close(out);
}
"""

#: registers for SIGUSR1 on /notify, says so, and reports the signal
NOTIFIED_C = r"""
#include <fcntl.h>
#include <mqueue.h>
#include <signal.h>
#include <stdio.h>

int main(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    sigprocmask(SIG_BLOCK, &set, NULL);
    mqd_t q = mq_open("/notify", O_RDONLY);
    struct sigevent ev = {.sigev_notify = SIGEV_SIGNAL, .sigev_signo = SIGUSR1};
    ev.sigev_value.sival_int = 99;
    if (q < 0 || mq_notify(q, &ev) < 0)
        return 1;
    printf("registered\n");
    fflush(stdout);
    siginfo_t si;
    if (sigwaitinfo(&set, &si) != SIGUSR1)
        return 2;
    printf("signal code %d value %d pid %d uid %d\n", si.si_code, si.si_value.sival_int,
           (int)si.si_pid, (int)si.si_uid);
    return mq_close(q);
}
"""


def _c_program(compile_c, tmp_path: Path, name: str, source: str) -> Path:
    src = tmp_path / f"{name}.c"
    src.write_text(source)
    return compile_c(src)


def _start(daemon, shim_lib, ns: str, argv: list[str]) -> subprocess.Popen[str]:
    """A C program under the shim in the test's namespace ``ns``."""
    # a session of its own: a test that fails can kill the C program with
    # `uipc run` (which leaves it running when it is killed alone)
    return subprocess.Popen(uipc_run_cmd("--preload", "--namespace", ns, "--", *argv),
                            env=shim_env(daemon, shim_lib), stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


def _lsipc(daemon, ns: str, option: str) -> str:
    p = subprocess.run([sys.executable, "-m", "uipc.cli.main", "lsipc", option, "--namespace", ns],
                       env=shim_env(daemon, Path("/nonexistent")), capture_output=True, text=True,
                       timeout=RUN_TIMEOUT)
    assert p.returncode == 0, p.stderr
    return p.stdout


def _machine_mqueues() -> list[str]:
    """The queues of the machine's IPC namespace (its mqueue file system,
    mounted in a private mount namespace: this machine may not mount it)."""
    with tempfile.TemporaryDirectory() as d:
        p = subprocess.run(["unshare", "--mount", "sh", "-c",
                            'mount -t mqueue none "$1" && ls -A "$1"', "sh", d],
                           capture_output=True, text=True, timeout=RUN_TIMEOUT)
    assert p.returncode == 0, p.stderr
    return p.stdout.split()


def _finish(proc: subprocess.Popen[str], stdin: str = "", ok: bool = True) -> tuple[int, str, str]:
    """Its exit status and output; ``ok`` False (the test failed while it
    runs): it is killed, with its children."""
    try:
        if ok:
            out, err = proc.communicate(stdin, timeout=RUN_TIMEOUT)
            return proc.returncode, out, err
    except subprocess.TimeoutExpired:
        pass
    os.killpg(proc.pid, signal.SIGKILL)
    out, err = proc.communicate()
    return proc.returncode, out, err


def test_objects_live_in_the_uipc_namespace(daemon, shim_lib, compile_c, ns, tmp_path) -> None:
    """A C program's queue, semaphore and shm object are uipc's: the Python
    API opens them, lsipc lists them, the machine's IPC never has them."""
    if os.geteuid() != 0:
        pytest.skip("looking at the machine's mqueue file system needs root (mount)")
    exe = _c_program(compile_c, tmp_path, "holder", HOLDER_C)
    shm_before = sorted(os.listdir("/dev/shm"))
    mq_before = _machine_mqueues()
    proc = _start(daemon, shim_lib, ns, [str(exe)])
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == "ready\n", proc.stderr.read() if proc.stderr else ""
        # uipc's Python API, in the same namespace, sees what C made
        with MessageQueue("/shim-q") as q:
            assert (q.maxmsg, q.msgsize) == (4, 64)
            assert q.receive(timeout=10) == (b"from C", 3)
            q.send(b"from Python", 7)
        sem = Semaphore("/shim-sem")
        try:
            assert sem.value == 0
            sem.release()
        finally:
            sem.close()
        shm = SharedMemory("/shim-shm")
        try:
            assert shm.size == 4096
            assert bytes(shm.buf[:12]) == b"written by C"
            shm.buf[100:112] = b"from Python\0"
        finally:
            shm.close()
        # the operator's tools see them there
        assert "/shim-q" in _lsipc(daemon, ns, "-Q")
        assert "shim-sem" in _lsipc(daemon, ns, "-S")
        assert "shim-shm" in _lsipc(daemon, ns, "-M")
        # and the machine has none of them
        assert _machine_mqueues() == mq_before
        assert sorted(os.listdir("/dev/shm")) == shm_before
    except BaseException:
        _finish(proc, ok=False)
        raise
    rc, out, err = _finish(proc, "go\n")
    assert rc == 0, err
    assert out == "got 11 'from Python' prio 7; sem_wait 0; shm 'from Python'\n"
    assert "/shim-q" not in _lsipc(daemon, ns, "-Q")


def test_c_and_python_exchange_messages(daemon, shim_lib, compile_c, ns, tmp_path) -> None:
    """Python makes the queues; a C program opens them by name and echoes
    every message back, in order, with its priority plus one."""
    exe = _c_program(compile_c, tmp_path, "echo", ECHO_C)
    count = 200
    with MessageQueue("/to-c", os.O_CREAT | os.O_EXCL, maxmsg=8, msgsize=128) as to_c, \
            MessageQueue("/to-py", os.O_CREAT | os.O_EXCL, maxmsg=8, msgsize=128) as to_py:
        proc = _start(daemon, shim_lib, ns, [str(exe), str(count)])
        try:
            got = []
            for i in range(count):
                to_c.send(f"message {i}".encode() * (i % 4 + 1), i % 30)
                got.append(to_py.receive(timeout=30))
        except BaseException:
            _finish(proc, ok=False)
            raise
        rc, _, err = _finish(proc)
        to_c.unlink()
        to_py.unlink()
    assert rc == 0, err
    assert got == [(f"message {i}".encode() * (i % 4 + 1), i % 30 + 1) for i in range(count)]


def test_notification_signal_from_a_python_sender(daemon, shim_lib, compile_c, ns,
                                                  tmp_path) -> None:
    """The C program's SIGEV_SIGNAL registration fires when Python sends: the
    real signal carries SI_MESGQ, the value, and the Python sender's pid and uid."""
    exe = _c_program(compile_c, tmp_path, "notified", NOTIFIED_C)
    with MessageQueue("/notify", os.O_CREAT | os.O_EXCL, maxmsg=2, msgsize=16) as q:
        proc = _start(daemon, shim_lib, ns, [str(exe)])
        try:
            assert proc.stdout is not None
            assert proc.stdout.readline() == "registered\n"
            q.send(b"wake", 0)
        except BaseException:
            _finish(proc, ok=False)
            raise
        rc, out, err = _finish(proc)
        q.unlink()
    assert rc == 0, err
    SI_MESGQ = -3
    assert out == f"signal code {SI_MESGQ} value 99 pid {os.getpid()} uid {os.getuid()}\n"
