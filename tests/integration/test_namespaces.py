"""Namespaces, `uipc run` and sysctl with real processes."""
from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys

import pytest

import uipc
from tests.conftest import wait_until
from tests.helpers import Child


def names() -> set[str]:
    return {n["name"] for n in uipc.introspect.namespaces()}


def uipc_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "uipc.cli.main", *args]


def test_uipc_run_new_namespace_is_private_and_freed(ns: str) -> None:
    uipc.msgget(0x31, uipc.IPC_CREAT | 0o600)
    script = ("import uipc, os, sys\n"
              "ns = os.environ['UIPC_NAMESPACE']\n"
              "try:\n    uipc.msgget(0x31, 0)\n    print('visible')\n"
              "except OSError as e:\n    print('errno', e.errno)\n"
              "uipc.msgget(0x31, uipc.IPC_CREAT | 0o600)\n"
              "print(ns)\n")
    out = subprocess.run(uipc_cmd("run", "--new-namespace", "--name", "run-test", "--",
                                  sys.executable, "-c", script),
                         capture_output=True, text=True, timeout=60, env=dict(os.environ))
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["errno", str(errno.ENOENT), "run-test"]
    assert "run-test" not in names()  # freed with its last process
    assert uipc.msgget(0x31, 0) >= 0  # ours is untouched


def test_uipc_run_propagates_exit_code(ns: str) -> None:
    out = subprocess.run(uipc_cmd("run", "--new-namespace", "--", sys.executable, "-c",
                                  "raise SystemExit(7)"), timeout=60)
    assert out.returncode == 7


def test_uipc_run_joins_named_namespace(ns: str) -> None:
    q = uipc.msgget(0x32, uipc.IPC_CREAT | 0o600)
    out = subprocess.run(uipc_cmd("run", "--namespace", ns, "--", sys.executable, "-c",
                                  "import uipc; print(uipc.msgget(0x32, 0))"),
                         capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == str(q)
    out = subprocess.run(uipc_cmd("run", "--namespace", "no-such-ns", "--", "true"),
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 1 and "no-such-ns" in out.stderr


def test_namespace_freed_after_kill_9_of_last_process(ns: str) -> None:
    def member() -> None:
        name = uipc.unshare_namespace("doomed")
        uipc.msgget(0x33, uipc.IPC_CREAT | 0o600)
        uipc.msgrcv(uipc.msgget(0x33, 0), 10, 0)  # blocks until killed
        assert name

    child = Child(member)
    wait_until(lambda: "doomed" in names())
    wait_until(lambda: [n for n in uipc.introspect.namespaces() if n["name"] == "doomed"][0]["msg"] == 1)
    child.kill(signal.SIGKILL)
    wait_until(lambda: "doomed" not in names(), what="namespace freed")


def test_sysctl_limits_take_effect_and_are_range_checked(ns: str) -> None:
    assert uipc.sysctl.get("kernel.msgmax") == "8192"
    uipc.sysctl.set("kernel.msgmax", 100)
    q = uipc.msgget(uipc.IPC_PRIVATE, 0o600)
    uipc.msgsnd(q, 1, b"x" * 100)
    with pytest.raises(OSError) as info:
        uipc.msgsnd(q, 1, b"x" * 101)
    assert info.value.errno == errno.EINVAL and "kernel.msgmax (100)" in str(info.value)
    for name, bad in [("kernel.msgmni", 32769), ("kernel.msgmax", -1), ("kernel.shm_rmid_forced", 2),
                      ("kernel.sem", "1 2 3 40000"), ("kernel.msg_next_id", -5), ("kernel.msgmnb", "x")]:
        with pytest.raises(OSError) as info:
            uipc.sysctl.set(name, bad)
        # semmni above IPCMNI: sem_check_semmni's ERANGE; the rest proc_dointvec's EINVAL
        assert info.value.errno == (errno.ERANGE if name == "kernel.sem" else errno.EINVAL), name
    with pytest.raises(OSError) as info:
        uipc.sysctl.get("kernel.nope")
    assert info.value.errno == errno.ENOENT
    uipc.sysctl.set("kernel.msgmnb", 50)
    assert uipc.msgctl(uipc.msgget(uipc.IPC_PRIVATE, 0o600), uipc.IPC_STAT).msg_qbytes == 50
    uipc.sysctl.set("kernel.msg_next_id", 32768 * 2 + 7)
    assert uipc.msgget(uipc.IPC_PRIVATE, 0o600) == 32768 * 2 + 7
    assert uipc.sysctl.get("kernel.msg_next_id") == "-1"
    # a new namespace starts from Linux's defaults
    assert Child(lambda: (uipc.unshare_namespace(), uipc.sysctl.get("kernel.msgmax"))[1]).result() == "8192"


def test_sysctl_cli(ns: str) -> None:
    out = subprocess.run(uipc_cmd("sysctl", "kernel.msgmax=123", "kernel.msgmni=99999"),
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 1
    assert "kernel.msgmax = 123" in out.stdout and "outside" in out.stderr
    assert uipc.sysctl.get("kernel.msgmax") == "123"
    out = subprocess.run(uipc_cmd("sysctl", "-a"), capture_output=True, text=True, timeout=60)
    assert "kernel.sem = 32000\t1024000000\t500\t32000" in out.stdout


def test_thread_exit_drops_only_that_task(ns: str) -> None:
    """A thread's connection goes with the thread; the process keeps its undo
    list and attachments (thread exit is not process exit)."""
    import gc
    import threading

    s = uipc.semget(uipc.IPC_PRIVATE, 1, 0o600)
    shm = uipc.shmget(uipc.IPC_PRIVATE, 4096, 0o600)

    def worker() -> None:
        uipc.semop(s, [(0, 2, uipc.SEM_UNDO)])
        uipc.shmat(shm)

    def me() -> dict:
        return [p for p in uipc.introspect.namespace()["process_details"] if p["pid"] == os.getpid()][0]

    uipc.semctl(s, 0, uipc.GETVAL)  # this thread's own connection
    t = threading.Thread(target=worker)
    t.start()
    t.join()
    gc.collect()  # the thread's connection object is freed with the thread
    # left: this thread's connection and the anchor that owns the attachment
    wait_until(lambda: me()["tasks"] == 2, what="the thread's task to go")
    info = me()
    assert info["undo"] == {str(s): [-2]} and info["shm_attachments"] == 1
    assert uipc.shmctl(shm, uipc.IPC_STAT).shm_nattch == 1
    assert uipc.semctl(s, 0, uipc.GETVAL) == 2
    for att in uipc.client.shm.attachments():
        uipc.shmdt(att.addr)


def test_uipc_run_new_namespace_isolates_posix_objects(ns: str) -> None:
    """POSIX queues (an IPC namespace's mqueue mount, as Linux), and named
    semaphores and shm_open objects (a container's own /dev/shm, in uipc's
    namespace: docs/deviations.md) are private to a new namespace."""
    q = uipc.mq_open("/iso", os.O_CREAT | os.O_RDWR)
    s = uipc.sem_open("/iso", os.O_CREAT, 0o600, 3)
    m = uipc.shm_open("/iso", os.O_CREAT | os.O_RDWR)
    script = ("import uipc, os\n"
              "for name, fn in [('mq', lambda: uipc.mq_open('/iso', os.O_RDWR)),\n"
              "                 ('sem', lambda: uipc.sem_open('/iso', 0)),\n"
              "                 ('shm', lambda: uipc.shm_open('/iso', os.O_RDWR))]:\n"
              "    try:\n        fn()\n        print(name, 'visible')\n"
              "    except OSError as e:\n        print(name, e.errno)\n"
              "print(uipc.sem_getvalue(uipc.sem_open('/iso', os.O_CREAT, 0o600, 9)))\n")
    try:
        out = subprocess.run(uipc_cmd("run", "--new-namespace", "--", sys.executable, "-c", script),
                             capture_output=True, text=True, timeout=60, env=dict(os.environ))
        assert out.returncode == 0, out.stderr
        assert out.stdout.split() == ["mq", str(errno.ENOENT), "sem", str(errno.ENOENT),
                                      "shm", str(errno.ENOENT), "9"]
        assert uipc.sem_getvalue(s) == 3  # ours is untouched
    finally:
        uipc.mq_close(q)
        uipc.mq_unlink("/iso")
        uipc.sem_close(s)
        uipc.sem_unlink("/iso")
        os.close(m)
        uipc.shm_unlink("/iso")
