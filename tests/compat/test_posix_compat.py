"""An unmodified posix_ipc program under ``uipc run --compat --new-namespace``.

PROGRAM is written against posix_ipc 1.3.2 alone (it runs as is on the real
package): two processes -- the second one exec'd, so it finds uipc's
posix_ipc through the environment ``uipc run`` gave the first -- share a
MessageQueue drained by a thread-notification callback that rearms itself,
and a Semaphore-guarded SharedMemory ping-pong.  While everything is alive
the program pauses; the test then looks from inside the namespace
(``uipc run --namespace``: uipc.introspect's mqueue, posix_sem and
posix_shm sections) and at the machine: no file in /dev/shm (nor
/dev/mqueue) and no queue in the kernel's mqueue namespace (glibc's
mq_open says ENOENT).
"""
from __future__ import annotations

import ctypes
import ctypes.util
import json
import mmap
import os
import select
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from tests.conftest import ROOT, DaemonProc

JOBS = 50
ROUNDS = 100

PROGRAM = r'''
"""Producer/consumer over a MessageQueue and a SharedMemory ping-pong, with posix_ipc."""
import mmap
import struct
import subprocess
import sys
import threading

import posix_ipc

ROLE, TAG = sys.argv[1], sys.argv[2]
JOBS, ROUNDS = int(sys.argv[3]), int(sys.argv[4])
QUEUE, READY, PING, PONG, BOARD = (f"/{what}_{TAG}" for what in
                                   ("jobs", "ready", "ping", "pong", "board"))


def main():
    q = posix_ipc.MessageQueue(QUEUE, posix_ipc.O_CREX, max_messages=8, max_message_size=64)
    ready = posix_ipc.Semaphore(READY, posix_ipc.O_CREX)
    ping = posix_ipc.Semaphore(PING, posix_ipc.O_CREX)
    pong = posix_ipc.Semaphore(PONG, posix_ipc.O_CREX)
    board = posix_ipc.SharedMemory(BOARD, posix_ipc.O_CREX, size=posix_ipc.PAGE_SIZE)
    view = mmap.mmap(board.fd, board.size)
    board.close_fd()
    child = subprocess.Popen([sys.executable, __file__, "child", TAG, str(JOBS), str(ROUNDS)])
    ready.acquire(30)  # the child's notification is registered
    print(f"paused child={child.pid}", flush=True)
    sys.stdin.readline()
    for i in range(JOBS):  # the queue holds 8: this waits for the consumer
        q.send(f"job {i}", timeout=30, priority=i % 4)
    q.send("stop", timeout=30)  # priority 0, sent last: received last
    for r in range(ROUNDS):
        struct.pack_into("<q", view, 0, 2 * r)
        ping.release()
        pong.acquire(30)
        assert struct.unpack_from("<q", view, 0)[0] == 2 * r + 1
    print(f"pingpong: {ROUNDS} rounds, board {struct.unpack_from('<q', view, 0)[0]}", flush=True)
    rc = child.wait(60)
    q.close()
    q.unlink()
    for sem in (ready, ping, pong):
        sem.unlink()
        sem.close()
    view.close()
    board.unlink()
    print(f"done child rc={rc}", flush=True)
    return rc


def child():
    q = posix_ipc.MessageQueue(QUEUE)
    got, lock, stopped, threads = [], threading.Lock(), threading.Event(), set()

    def on_message(queue):
        # rearm first, then drain: a message arriving meanwhile is either
        # drained here or rings again
        queue.request_notification((on_message, queue))
        threads.add(threading.current_thread() is threading.main_thread())
        with lock:
            while True:
                try:
                    msg, prio = queue.receive(0)
                except posix_ipc.BusyError:
                    return
                if msg == b"stop":
                    stopped.set()
                    return
                got.append((prio, int(msg.split()[1])))

    q.request_notification((on_message, q))
    posix_ipc.Semaphore(READY).release()
    assert stopped.wait(60), "no stop message"
    by_prio = {p: [i for pr, i in got if pr == p] for p in range(4)}
    assert sorted(i for _, i in got) == list(range(JOBS)), got
    assert all(v == sorted(v) for v in by_prio.values()), by_prio  # FIFO within a priority
    print(f"consumer: {len(got)} jobs, main thread in callbacks: {sorted(threads)}", flush=True)
    q.close()
    ping, pong = posix_ipc.Semaphore(PING), posix_ipc.Semaphore(PONG)
    board = posix_ipc.SharedMemory(BOARD)
    view = mmap.mmap(board.fd, board.size)
    board.close_fd()
    for _ in range(ROUNDS):
        ping.acquire(30)
        struct.pack_into("<q", view, 0, struct.unpack_from("<q", view, 0)[0] + 1)
        pong.release()
    view.close()
    ping.close()
    pong.close()
    return 0


sys.exit(main() if ROLE == "main" else child())
'''

INSPECT = r'''
import json, uipc
print(json.dumps({s: uipc.introspect.section(s) for s in ("mqueue", "posix_sem", "posix_shm")}))
'''


def _env(daemon: DaemonProc) -> dict[str, str]:
    """The test run's daemon, and this tree's uipc before any installed copy."""
    env = dict(os.environ, UIPC_SOCKET=str(daemon.socket), UIPC_NO_AUTOSTART="1")
    env.pop("UIPC_NAMESPACE", None)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in env.get("PYTHONPATH", "")
                                                      .split(os.pathsep) if p])
    return env


def _read_line(proc: subprocess.Popen[str], timeout: float) -> str:
    """The program's next stdout line, or AssertionError past ``timeout``."""
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([proc.stdout], [], [], left)[0]:
            raise AssertionError("the program printed nothing in time")
        return proc.stdout.readline()


def _kernel_has_queue(name: str) -> bool:
    """Whether the machine's kernel has a message queue ``name`` (glibc's mq_open)."""
    rt = ctypes.CDLL(ctypes.util.find_library("rt") or "librt.so.1", use_errno=True)
    rt.mq_open.restype = ctypes.c_int
    mqd = rt.mq_open(name.encode(), os.O_RDONLY)
    if mqd >= 0:
        rt.mq_close(mqd)
        return True
    assert ctypes.get_errno() == 2, os.strerror(ctypes.get_errno())  # ENOENT
    return False


def _machine_files(tag: str) -> list[str]:
    """Files of ``tag`` in the machine's /dev/shm and /dev/mqueue."""
    out = []
    for d in (Path("/dev/shm"), Path("/dev/mqueue")):
        if d.is_dir():
            out += [str(p) for p in d.iterdir() if tag in p.name]
    return out


def _inspect(env: dict[str, str], namespace: str) -> dict[str, list[dict[str, Any]]]:
    """The three POSIX sections, seen from a process inside ``namespace``."""
    out = subprocess.run([sys.executable, "-m", "uipc.cli.main", "run", "--namespace", namespace,
                          "--", sys.executable, "-c", INSPECT], env=env, cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_unmodified_posix_ipc_program_lives_in_uipc(daemon: DaemonProc, tmp_path: Path) -> None:
    tag = uuid.uuid4().hex[:8]
    namespace = f"compat-{tag}"
    prog = tmp_path / "prog.py"
    prog.write_text(PROGRAM)
    env = _env(daemon)
    proc = subprocess.Popen(
        [sys.executable, "-m", "uipc.cli.main", "run", "--compat", "--new-namespace",
         "--name", namespace, "--", sys.executable, str(prog), "main", tag, str(JOBS),
         str(ROUNDS)],
        env=env, cwd=tmp_path, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        start_new_session=True)
    try:
        paused = _read_line(proc, 60)
        assert paused.startswith("paused child="), paused
        child_pid = int(paused.split("=")[1])

        seen = _inspect(env, namespace)
        queues = {q["name"]: q for q in seen["mqueue"]}
        assert set(queues) == {f"/jobs_{tag}"}
        queue = queues[f"/jobs_{tag}"]
        assert (queue["maxmsg"], queue["msgsize"], queue["curmsgs"]) == (8, 64, 0)
        assert queue["notify"] is not None  # the child's SIGEV_THREAD registration
        assert f"NOTIFY_PID:{child_pid}" in queue["fileinfo"]
        sems = {s["name"]: s for s in seen["posix_sem"]}
        assert set(sems) == {f"/{w}_{tag}" for w in ("ready", "ping", "pong")}
        assert sems[f"/ready_{tag}"]["value"] == 0  # posted by the child, taken by main
        shms = {m["name"]: m for m in seen["posix_shm"]}
        assert set(shms) == {f"/board_{tag}"}
        assert shms[f"/board_{tag}"]["size"] == mmap.PAGESIZE

        assert _machine_files(tag) == []
        assert not _kernel_has_queue(f"/jobs_{tag}")

        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.close()
        rest = proc.stdout.read() if proc.stdout else ""
        assert proc.wait(120) == 0, rest
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert f"consumer: {JOBS} jobs, main thread in callbacks: [False]" in rest
    assert f"pingpong: {ROUNDS} rounds, board {2 * ROUNDS - 1}" in rest
    assert "done child rc=0" in rest
    assert _machine_files(tag) == []
    assert not _kernel_has_queue(f"/jobs_{tag}")


def test_shadow_module_is_uipcs(daemon: DaemonProc, tmp_path: Path) -> None:
    """Under --compat, ``import posix_ipc`` is uipc.compat.posix_ipc, whatever is installed."""
    code = "import posix_ipc; print(posix_ipc.MessageQueue.__init__.__module__, posix_ipc.VERSION)"
    out = subprocess.run([sys.executable, "-m", "uipc.cli.main", "run", "--compat",
                          "--new-namespace", "--", sys.executable, "-c", code],
                         env=_env(daemon), cwd=tmp_path, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["uipc.compat.posix_ipc", "1.3.2"]


def test_install_makes_the_imports_the_drop_ins_in_process() -> None:
    """uipc.compat.install(): `import sysv_ipc` / `import posix_ipc` give
    uipc's modules in this process, even after the real ones were imported."""
    import subprocess
    import sys
    code = ("import sys, uipc.compat\n"
            "sys.modules['sysv_ipc'] = object()  # as if the real package were imported\n"
            "uipc.compat.install()\n"
            "import sysv_ipc, posix_ipc\n"
            "print(sysv_ipc.__name__, posix_ipc.__name__)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, cwd=str(ROOT) if "ROOT" in globals() else None)
    assert out.stdout.split() == ["uipc.compat.sysv_ipc", "uipc.compat.posix_ipc"], out.stderr
