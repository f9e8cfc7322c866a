"""SysV message queues through the real daemon, with real processes."""
from __future__ import annotations

import asyncio
import dataclasses
import errno
import os
import signal
import socket
import struct
import threading
import time

import pytest

import uipc
from tests.conftest import wait_until
from tests.helpers import Child, receivers, senders, snapshot


def test_readme_example(ns: str) -> None:
    qid = uipc.msgget(0x1234, uipc.IPC_CREAT | 0o600)
    uipc.msgsnd(qid, 1, b"hello")
    assert uipc.msgrcv(qid, 100, 0) == (1, b"hello")
    ds = uipc.msgctl(qid, uipc.IPC_STAT)
    assert isinstance(ds, uipc.MsqidDs) and ds.msg_lspid == os.getpid() == ds.msg_lrpid
    assert uipc.msgctl(qid, uipc.IPC_SET, dataclasses.replace(ds, msg_qbytes=4096)) == 0
    assert uipc.msgctl(qid, uipc.IPC_STAT).msg_qbytes == 4096
    assert uipc.msgctl(qid, uipc.IPC_RMID) == 0
    with pytest.raises(OSError) as info:
        uipc.msgctl(qid, uipc.IPC_STAT)
    assert info.value.errno == errno.EINVAL


def test_errors_are_oserror_with_explanation(ns: str) -> None:
    qid = uipc.msgget(uipc.IPC_PRIVATE, 0o600)
    with pytest.raises(OSError) as info:
        uipc.msgsnd(qid, 1, b"x" * 9000)
    assert info.value.errno == errno.EINVAL
    assert "kernel.msgmax (8192)" in str(info.value)
    with pytest.raises(OSError) as info:
        uipc.msgrcv(qid, 10, 0, uipc.IPC_NOWAIT)
    assert info.value.errno == errno.ENOMSG


def test_bad_python_arguments(ns: str) -> None:
    qid = uipc.msgget(uipc.IPC_PRIVATE, 0o600)
    with pytest.raises(TypeError):
        uipc.msgsnd(qid, 1, "text")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        uipc.msgget("key", 0)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        uipc.msgsnd(qid, 1 << 64, b"x")
    with pytest.raises(ValueError):
        uipc.msgget(1 << 40, 0)
    with pytest.raises(TypeError):
        uipc.msgctl(qid, uipc.IPC_SET, {"msg_qbytes": 5})
    # keys above 0x7fffffff are key_t's negative numbers, as in C
    q = uipc.msgget(0xFFFFFFF0, uipc.IPC_CREAT | 0o600)
    assert uipc.msgctl(q, uipc.IPC_STAT).msg_perm.key == -16
    # the connection still works after all that
    uipc.msgsnd(qid, 1, b"ok")
    assert uipc.msgrcv(qid, 10, 0) == (1, b"ok")


def test_two_processes_exchange_messages(ns: str) -> None:
    qid = uipc.msgget(0x42, uipc.IPC_CREAT | 0o600)

    def consumer() -> list[tuple[int, bytes]]:
        q = uipc.msgget(0x42, 0)
        return [uipc.msgrcv(q, 100, 0) for _ in range(100)]

    child = Child(consumer)
    for i in range(100):
        uipc.msgsnd(qid, 1 + i % 3, f"m{i}".encode())
    got = child.result()
    assert got == [(1 + i % 3, f"m{i}".encode()) for i in range(100)]
    ds = uipc.msgctl(qid, uipc.IPC_STAT)
    assert ds.msg_lrpid == child.pid and ds.msg_lspid == os.getpid()


def test_wake_order_of_receivers_with_different_types(ns: str) -> None:
    qid = uipc.msgget(uipc.IPC_PRIVATE, 0o600)
    report = uipc.msgget(uipc.IPC_PRIVATE, 0o600)  # children report here, in wake order

    def receiver(msgtyp: int, tag: int):
        def run() -> None:
            mtype, text = uipc.msgrcv(qid, 100, msgtyp)
            uipc.msgsnd(report, tag, text)
        return run

    kids = []
    for tag, msgtyp in enumerate([2, 0, -1, 2], start=1):
        kids.append(Child(receiver(msgtyp, tag)))
        wait_until(lambda n=tag: len(receivers(qid)) == n, what=f"receiver {tag} asleep")
    assert [r["pid"] for r in receivers(qid)] == [k.pid for k in kids]
    # type 1 goes to the first receiver that accepts it: #2 (type 0); type 1 for #3 (<= 1)
    for mtype, text in [(1, b"a"), (1, b"b"), (2, b"c"), (2, b"d")]:
        uipc.msgsnd(qid, mtype, text)
    for k in kids:
        k.result()
    got = [uipc.msgrcv(report, 100, 0) for _ in range(4)]
    assert sorted(got) == [(1, b"c"), (2, b"a"), (3, b"b"), (4, b"d")]


def test_removal_wakes_blocked_process_with_eidrm(ns: str) -> None:
    qid = uipc.msgget(uipc.IPC_PRIVATE, 0o600)

    def blocked() -> int:
        try:
            uipc.msgrcv(qid, 10, 0)
        except OSError as exc:
            return exc.errno
        return 0

    child = Child(blocked)
    wait_until(lambda: len(receivers(qid)) == 1)
    uipc.msgctl(qid, uipc.IPC_RMID)
    assert child.result() == errno.EIDRM


def test_blocked_sender_released_by_receiver(ns: str) -> None:
    qid = uipc.msgget(uipc.IPC_PRIVATE, 0o600)
    ds = uipc.msgctl(qid, uipc.IPC_STAT)
    uipc.msgctl(qid, uipc.IPC_SET, dataclasses.replace(ds, msg_qbytes=4))
    uipc.msgsnd(qid, 1, b"full")
    child = Child(lambda: uipc.msgsnd(qid, 2, b"next"))
    wait_until(lambda: len(senders(qid)) == 1)
    assert uipc.msgrcv(qid, 10, 0) == (1, b"full")
    child.result()
    assert uipc.msgrcv(qid, 10, 0) == (2, b"next")


def test_fork_child_is_a_new_process(ns: str) -> None:
    qid = uipc.msgget(uipc.IPC_PRIVATE, 0o600)
    uipc.msgsnd(qid, 1, b"parent")  # the parent has a connection before forking
    child = Child(lambda: uipc.msgsnd(qid, 1, b"child"))
    child.result()
    assert uipc.msgctl(qid, uipc.IPC_STAT).msg_lspid == child.pid
    uipc.msgsnd(qid, 1, b"parent again")
    assert uipc.msgctl(qid, uipc.IPC_STAT).msg_lspid == os.getpid()


def test_ctrl_c_interrupts_blocked_msgrcv_without_ghost(ns: str) -> None:
    qid = uipc.msgget(uipc.IPC_PRIVATE, 0o600)

    def blocked() -> str:
        try:
            uipc.msgrcv(qid, 10, 0)
        except KeyboardInterrupt:
            # the connection is still in step: another call works
            uipc.msgsnd(qid, 7, b"after ctrl-c")
            return "KeyboardInterrupt"
        return "no interrupt"

    child = Child(blocked)
    wait_until(lambda: len(receivers(qid)) == 1)
    os.kill(child.pid, signal.SIGINT)
    assert child.result() == "KeyboardInterrupt"
    assert receivers(qid) == []
    assert uipc.msgrcv(qid, 100, 0, uipc.IPC_NOWAIT) == (7, b"after ctrl-c")


def test_kill_9_of_blocked_receiver_leaves_no_waiter(ns: str) -> None:
    qid = uipc.msgget(uipc.IPC_PRIVATE, 0o600)
    child = Child(lambda: uipc.msgrcv(qid, 10, 0))
    wait_until(lambda: len(receivers(qid)) == 1)
    child.kill(signal.SIGKILL)
    wait_until(lambda: receivers(qid) == [], what="the dead receiver to leave")
    wait_until(lambda: child.pid not in snapshot()["processes"])
    uipc.msgsnd(qid, 1, b"nobody took it")
    assert uipc.msgctl(qid, uipc.IPC_STAT).msg_qnum == 1


def test_blocked_thread_does_not_delay_other_threads(ns: str) -> None:
    qid = uipc.msgget(uipc.IPC_PRIVATE, 0o600)
    got: list[tuple[int, bytes]] = []
    t = threading.Thread(target=lambda: got.append(uipc.msgrcv(qid, 100, 5)))
    t.start()
    wait_until(lambda: len(receivers(qid)) == 1)
    other = uipc.msgget(uipc.IPC_PRIVATE, 0o600)  # this thread is served meanwhile
    for i in range(50):
        uipc.msgsnd(other, 1, b"x")
        uipc.msgrcv(other, 10, 0)
    uipc.msgsnd(qid, 5, b"for the thread")
    t.join(10)
    assert got == [(5, b"for the thread")]


def test_asyncio_receive_does_not_block_the_loop(ns: str) -> None:
    async def main() -> tuple[int, bytes]:
        q = uipc.MessageQueue()
        task = asyncio.create_task(q.areceive(type=3))
        ticks = 0
        while len(receivers(q.id)) == 0:
            await asyncio.sleep(0.001)
            ticks += 1
        await q.asend(b"async", type=3)
        result = await task
        q.remove()
        return result

    assert asyncio.run(main()) == (3, b"async")


def test_asyncio_cancel_leaves_no_waiter(ns: str) -> None:
    async def main() -> None:
        q = uipc.MessageQueue()
        task = asyncio.create_task(q.areceive())
        while len(receivers(q.id)) == 0:
            await asyncio.sleep(0.001)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert receivers(q.id) == []
        q.send(b"still here")
        assert q.receive(block=False) == (1, b"still here")
        q.remove()

    asyncio.run(main())


def test_message_queue_class(ns: str) -> None:
    with uipc.MessageQueue("jobs", create=True, remove_on_exit=True) as q:
        assert q.key == uipc.key_from_name("jobs")
        same = uipc.MessageQueue("jobs")
        assert same.id == q.id
        with pytest.raises(OSError) as info:
            uipc.MessageQueue("jobs", exclusive=True)
        assert info.value.errno == errno.EEXIST
        q.send(b"a", type=2)
        q.send(b"b", type=1)
        assert q.current_messages == 2
        assert q.receive(type=1) == (1, b"b")
        q.send(b"c")
        assert list(q) == [(2, b"a"), (1, b"c")]
        with pytest.raises(OSError):
            q.receive(block=False)
    with pytest.raises(OSError):
        uipc.MessageQueue("jobs")


def test_namespaces_isolate_objects(daemon) -> None:
    first = uipc.unshare_namespace()
    q = uipc.msgget(0x99, uipc.IPC_CREAT | 0o600)
    uipc.msgsnd(q, 1, b"first ns")

    def other_ns() -> int:
        uipc.unshare_namespace()
        try:
            uipc.msgget(0x99, 0)
        except OSError as exc:
            return exc.errno
        return 0

    assert Child(other_ns).result() == errno.ENOENT
    assert uipc.msgrcv(q, 100, 0) == (1, b"first ns")
    assert first in snapshot()["namespace"]


def test_malformed_frames_do_not_hurt_others(ns: str, daemon) -> None:
    qid = uipc.msgget(uipc.IPC_PRIVATE, 0o600)
    uipc.msgsnd(qid, 1, b"precious")
    evil = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    evil.connect(str(daemon.socket))
    evil.sendall(struct.pack("<IIH", 0xFFFFFFF0, 1, 2))  # 4 GiB length
    evil.settimeout(5)
    reply = evil.recv(1000)
    assert struct.unpack_from("<IIi", reply)[2] == errno.EPROTO
    assert evil.recv(1000) == b""  # and it is disconnected
    evil.close()
    evil = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    evil.connect(str(daemon.socket))
    evil.sendall(struct.pack("<IIH", 6, 1, 2))  # msgsnd before hello
    evil.settimeout(5)
    assert struct.unpack_from("<IIi", evil.recv(1000))[2] == errno.EPROTO
    evil.close()
    assert uipc.msgrcv(qid, 100, 0, uipc.IPC_NOWAIT) == (1, b"precious")


def test_unknown_op_and_short_args(ns: str, daemon) -> None:
    from uipc import protocol as P
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(str(daemon.socket))
    s.settimeout(5)
    s.sendall(P.encode_request(P.OPS_BY_NAME["hello"], 1, (P.VERSION, 0, 0), ns.encode()))
    dec = P.FrameDecoder(reply=True)

    def reply() -> tuple[int, int, bytes]:
        while True:
            f = dec.next_frame()
            if f is not P.NEED_DATA:
                return f  # type: ignore[return-value]
            dec.feed(s.recv(4096))

    assert reply()[1] == 0
    s.sendall(struct.pack("<IIH", 6, 2, 999))
    assert reply()[1] == errno.ENOSYS
    s.sendall(struct.pack("<IIH", 8, 3, 2) + b"\x00\x00")
    assert reply()[1] == errno.EINVAL
    s.sendall(P.encode_request(P.OPS_BY_NAME["msgctl"], 4, (0, uipc.IPC_SET), b"\x01\x02"))
    assert reply()[1] == errno.EINVAL
    s.close()


def test_autostart_race_starts_one_daemon(tmp_path) -> None:
    path = tmp_path / "d" / "uipc.sock"
    env = dict(os.environ, UIPC_SOCKET=str(path))
    env.pop("UIPC_NO_AUTOSTART", None)
    env.pop("UIPC_NAMESPACE", None)
    import subprocess
    import sys
    code = ("import uipc,os; q=uipc.msgget(0x5, uipc.IPC_CREAT|0o600); "
            "from uipc.client.control import daemon_pid; print(daemon_pid(uipc.client.connection.current_socket()))")
    procs = [subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE)
             for _ in range(4)]
    pids = {p.communicate(timeout=60)[0].strip() for p in procs}
    assert all(p.returncode == 0 for p in procs)
    assert len(pids) == 1
    assert oct(os.stat(path.parent).st_mode & 0o777) == "0o700"
    from uipc.client.control import stop_daemon
    assert stop_daemon(path) == 0
    time.sleep(0)  # nothing to wait for: stop_daemon waited until it was gone


def test_spinning_client_behaves_the_same(ns: str) -> None:
    """A client that polls for replies (UIPC_SPIN_US) gets the same results,
    sleeps when the wait outlasts the spin, and is still interruptible."""
    from uipc.spin import Spin
    qid = uipc.msgget(uipc.IPC_PRIVATE, 0o600)

    def spinning() -> tuple:
        uipc.configure(spin_us=200)
        from uipc.client.connection import get_connection
        assert get_connection().spin.spin_ns == 200_000
        got = uipc.msgrcv(qid, 64, 1)            # waits far longer than the spin
        uipc.msgsnd(qid, 2, got[1].upper())
        try:
            uipc.msgrcv(qid, 64, 9)              # until Ctrl-C
        except KeyboardInterrupt:
            return got, uipc.msgrcv(qid, 64, 3, uipc.IPC_NOWAIT)
        return got, None

    child = Child(spinning)
    wait_until(lambda: len(receivers(qid)) == 1)
    uipc.msgsnd(qid, 1, b"ping")
    assert uipc.msgrcv(qid, 64, 2) == (2, b"PING")
    wait_until(lambda: len(receivers(qid)) == 1)
    uipc.msgsnd(qid, 3, b"after")
    os.kill(child.pid, signal.SIGINT)
    assert child.result() == ((1, b"ping"), (3, b"after"))
    assert receivers(qid) == []

    # one allowed CPU: spinning could only delay the partner, so it is off
    def pinned_budget() -> tuple[int, int]:
        spin = Spin(50)
        before = spin.budget_ns()
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
        spin._checked = -1.0  # re-read the affinity now
        return before, spin.budget_ns()

    before, after = Child(pinned_budget).result()
    assert after == 0 and before == (50_000 if len(os.sched_getaffinity(0)) > 1 else 0)
    assert Spin(0).budget_ns() == 0


def test_sigusr1_makes_the_daemon_print_where_it_is(tmp_path) -> None:
    import subprocess
    import sys
    r, w = os.pipe()
    proc = subprocess.Popen([sys.executable, "-m", "uipc.server", "--socket", str(tmp_path / "s"),
                             "--ready-fd", str(w)], pass_fds=(w,), stderr=subprocess.PIPE)
    os.close(w)
    with os.fdopen(r, "rb") as ready:
        assert ready.readline() == b"ready\n"
    # "ready" comes just before the loop starts: a hello answered means it runs
    from uipc.client.connection import Connection
    Connection(tmp_path / "s").close()
    proc.send_signal(signal.SIGUSR1)
    proc.send_signal(signal.SIGTERM)  # after the dump: signals are handled in order
    _, err = proc.communicate(timeout=10)
    assert proc.returncode == 0
    assert b"in serve_forever" in err
