"""`uipc demo`: producer and consumer processes over a SysV message queue,
then over a POSIX one.

Shows, with real processes: typed messages, a receiver blocked until a
matching message arrives, FIFO order within a type, and the queue's stat;
then a POSIX queue: priorities, a real descriptor that select() sees
readable, and mq_notify's signal with the sender's pid.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import uipc


def build_parser() -> argparse.ArgumentParser:
    return argparse.ArgumentParser(prog="uipc demo", description=__doc__)


def say(text: str) -> None:
    print(text, flush=True)


def main(argv: list[str] | None = None) -> int:
    build_parser().parse_args(argv)
    q = uipc.MessageQueue()  # IPC_PRIVATE: a fresh queue only we know the id of
    say(f"created a private message queue: msqid {q.id}")
    try:
        rc = _run(q)
    finally:
        q.remove()
        say(f"removed msqid {q.id}")
    return rc or _run_posix()


def _run_posix() -> int:
    """A POSIX queue: priorities, select() on its descriptor, mq_notify."""
    import select
    import signal
    name = f"/uipc-demo-{os.getpid()}"
    mqd = uipc.mq_open(name, os.O_CREAT | os.O_RDWR, 0o600, uipc.MqAttr(0, 8, 64))
    uipc.mq_unlink(name)  # it lives while open; nothing is left behind
    say(f"\ncreated a POSIX message queue {name}: descriptor {mqd}, a real one")
    got: list[tuple[int, int]] = []
    old = signal.signal(signal.SIGUSR1, lambda s, f: got.append((s, 0)))
    try:
        uipc.mq_notify(mqd, uipc.SigEvent(uipc.SIGEV_SIGNAL, signal.SIGUSR1))
        say("registered for SIGUSR1 when a message arrives on the empty queue")
        pid = os.fork()
        if pid == 0:
            for prio, text in ((1, "low"), (9, "urgent"), (5, "normal")):
                uipc.mq_send(mqd, text.encode(), prio)
            os._exit(0)
        os.waitpid(pid, 0)
        ready = select.select([mqd], [], [], 5)[0]
        say(f"sender {pid} sent priorities 1, 9, 5; select() says readable: {ready == [mqd]}")
        deadline = time.monotonic() + 5
        while not got and time.monotonic() < deadline:
            time.sleep(0.01)  # the daemon sends it (pidfd_send_signal, si_code SI_MESGQ)
        say(f"the notification signal arrived: {bool(got)}")
        order = [uipc.mq_receive(mqd, 64) for _ in range(3)]
        say("received, highest priority first: " + ", ".join(f"{m.decode()} ({p})"
                                                             for m, p in order))
        ok = [p for _, p in order] == [9, 5, 1] and ready == [mqd] and bool(got)
    finally:
        signal.signal(signal.SIGUSR1, old)
        uipc.mq_close(mqd)
    say("posix demo ok" if ok else "posix demo FAILED")
    return 0 if ok else 1


def _run(q: uipc.MessageQueue) -> int:
    pid = os.fork()
    if pid == 0:  # the consumer: wants type 2 first, then anything
        code = 0
        try:
            mtype, text = q.receive(type=2)
            say(f"  consumer {os.getpid()}: woke up with type {mtype}: {text.decode()!r}")
            for mtype, text in (q.receive(), q.receive()):
                say(f"  consumer {os.getpid()}: got type {mtype}: {text.decode()!r}")
        except BaseException as exc:  # report, never fall back into the parent's code
            say(f"  consumer failed: {exc!r}")
            code = 1
        os._exit(code)
    # wait until the consumer is visibly asleep in msgrcv (its pid shows in
    # no field yet, so watch the daemon: the queue has a sleeping receiver)
    deadline = time.monotonic() + 10
    while _receivers(q.id) == 0:
        if time.monotonic() > deadline:
            say("consumer never blocked")
            return 1
        time.sleep(0.01)
    say(f"consumer {pid} is blocked in msgrcv(type=2) on an empty queue")
    q.send(b"first, type 1", type=1)
    q.send(b"second, type 1", type=1)
    say("producer sent two type-1 messages: the consumer stays asleep (wrong type)")
    st = q.stat
    say(f"queue stat: {st.msg_qnum} messages, {st.msg_cbytes} bytes, lspid {st.msg_lspid}")
    q.send(b"urgent, type 2", type=2)
    say("producer sent a type-2 message: handed straight to the sleeping consumer")
    _, status = os.waitpid(pid, 0)
    st = q.stat
    say(f"queue stat: {st.msg_qnum} messages, lspid {st.msg_lspid}, lrpid {st.msg_lrpid}")
    ok = os.waitstatus_to_exitcode(status) == 0 and st.msg_qnum == 0
    say("demo ok" if ok else "demo FAILED")
    return 0 if ok else 1


def _receivers(msqid: int) -> int:
    import uipc
    return sum(len(m["receivers"]) for m in uipc.introspect.section("msg") if m["id"] == msqid)


if __name__ == "__main__":
    sys.exit(main())
