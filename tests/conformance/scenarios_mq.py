"""POSIX message-queue scenarios (ipc/mqueue.c and glibc's mq_*): names,
open flags and access modes, attributes and their limits (fs.mqueue.*
sysctls, CAP_SYS_RESOURCE, queues_max, RLIMIT_MSGQUEUE), priorities, timed
operations, unlink while open, mq_notify's registration and delivery,
blocking receivers and senders in several processes, other users.

The kernel's answers, printed: ``python -m tests.conformance.scenarios_mq
--kernel-only [-k SUBSTRING]`` (root; tests/conformance/scenarios_posix.py
has the same for named semaphores and shared memory).

Descriptors (mqd_t, shm_open's fd) are recorded as "fd", never by number:
which number a backend hands out is not semantics.  Queues that are not
about sizes use small attributes: RLIMIT_MSGQUEUE is charged per uid across
every IPC namespace, and a finished scenario's namespace is freed a moment
after it exits (ipc/namespace.c free_ipc, from a work queue).
"""
from __future__ import annotations

import argparse
import ctypes
import os
import resource
import select
import signal
import sys
import time
from typing import Any, Callable

import uipc
from tests.helpers import recv_obj, send_obj
from tests.conformance.harness import (
    CAPABLE_NEEDS_ROOT, Recorder, Scenario, Sleepers, Unsupported, as_user, blocked, wait_for,
)
from uipc.uapi.mqueue import MQ_PRIO_MAX, SIGEV_NONE, SIGEV_SIGNAL, SIGEV_THREAD, MqAttr, SigEvent

O_RDONLY, O_WRONLY, O_RDWR = os.O_RDONLY, os.O_WRONLY, os.O_RDWR
O_CREAT, O_EXCL, O_NONBLOCK = os.O_CREAT, os.O_EXCL, os.O_NONBLOCK
#: queues for scenarios that are not about sizes: 4 * (64 + 96) bytes of RLIMIT_MSGQUEUE
SMALL = MqAttr(mq_maxmsg=4, mq_msgsize=64)
NOBODY = 65534

_libc = ctypes.CDLL(None, use_errno=True)


# --- helpers shared with scenarios_posix -------------------------------------------
def opened(rec: Recorder, label: str, fn: Callable[[], Any], mark: str = "fd") -> Any:
    """rec.do for a call that returns a descriptor or handle: record ``mark``
    (numbers and handles differ between backends), return the real value."""
    box: list[Any] = []
    rec.do(label, lambda: (box.append(fn()), mark)[1])
    return box[0] if box else None


def as_fd(fn: Callable[[], Any], mark: str = "fd") -> Callable[[], str]:
    """For rec.outcomes in another process: the call, recorded as ``mark``."""
    return lambda: (fn(), mark)[1]


def mq_sysctl(rec: Recorder, name: str, value: Any) -> None:
    """Set fs.mqueue.NAME in this run's namespace, recorded (out of range: EINVAL)."""
    if rec.api is uipc:
        fn: Callable[[], Any] = lambda: uipc.sysctl.set(f"fs.mqueue.{name}", value)
    else:
        fn = lambda: rec.api.set_mq_sysctl(name, value)
    rec.do(f"sysctl fs.mqueue.{name}={value}", fn)


def read_mq_sysctl(api: Any, name: str) -> str:
    if api is uipc:
        return uipc.sysctl.get(f"fs.mqueue.{name}")
    return api.get_mq_sysctl(name)


#: x86_64 mq_timedsend, mq_timedreceive; futex (glibc's sem_wait/sem_timedwait)
MQ_SLEEP_SYSCALLS = frozenset({"242", "243"})
FUTEX_SLEEP_SYSCALLS = frozenset({"202"})


def asleep(api: Any, pid: int, syscalls: frozenset[str]) -> bool:
    """Is ``pid`` asleep in one of ``syscalls``?  The kernel side reads
    /proc/PID/syscall; uipc's is harness.blocked (the daemon's wait queues)."""
    if api is uipc:
        return blocked(api, pid)
    try:
        with open(f"/proc/{pid}/syscall") as f:
            return f.read().split()[0] in syscalls
    except (OSError, IndexError):
        return False


class PosixSleepers(Sleepers):
    """harness.Sleepers for calls that sleep in mq_* (or, with
    FUTEX_SLEEP_SYSCALLS, in sem_wait): the same reports, another test of
    "visibly asleep"."""

    def __init__(self, rec: Recorder, syscalls: frozenset[str] = MQ_SLEEP_SYSCALLS) -> None:
        super().__init__(rec)
        self.syscalls = syscalls

    def start(self, tag: str, fn: Callable[[], Any], sleeps: bool = True) -> int:
        pid = super().start(tag, fn, sleeps=False)
        if sleeps:
            wait_for(lambda: asleep(self.rec.api, pid, self.syscalls), f"{tag} to sleep")
        return pid

    def is_asleep(self, tag: str) -> bool:
        return asleep(self.rec.api, self.kids[tag], self.syscalls)


class Peer:
    """Another process of the scenario (forked; its pid gets the role
    ``tag``) that runs the named operations of ``ops`` when asked and
    reports each outcome, so two processes' calls interleave step by step.
    ``exit`` ends it and reaps it (its descriptors are closed by then)."""

    def __init__(self, rec: Recorder, tag: str, ops: dict[str, Callable[[], Any]]) -> None:
        self.rec, self.tag = rec, tag
        cmd_r, self.cmd_w = os.pipe()
        self.out_r, out_w = os.pipe()
        self.pid = os.fork()
        if self.pid == 0:
            os.close(self.cmd_w)
            os.close(self.out_r)
            try:
                while (name := recv_obj(cmd_r, timeout=60)) is not None:
                    try:
                        out = rec.outcome(ops[name])
                    except BaseException as exc:  # noqa: BLE001 - reported to the scenario
                        out = f"crash {exc!r}"
                    send_obj(out_w, out)
            finally:
                os._exit(0)
        os.close(cmd_r)
        os.close(out_w)
        rec.role(self.pid, tag)

    def run(self, name: str) -> Any:
        """Run ops[name] there; record and return its outcome."""
        send_obj(self.cmd_w, name)
        out = recv_obj(self.out_r)
        self.rec.note(f"{self.tag}: {name}", out)
        return out

    def exit(self) -> None:
        if self.pid:
            send_obj(self.cmd_w, None)
            os.waitpid(self.pid, 0)
            os.close(self.cmd_w)
            os.close(self.out_r)
            self.pid = 0

    def kill(self) -> None:
        """For a finally: block (exit is the normal way)."""
        if self.pid:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            os.waitpid(self.pid, 0)
            os.close(self.cmd_w)
            os.close(self.out_r)
            self.pid = 0


class _SigInfo(ctypes.Structure):
    """siginfo_t (128 bytes) as a queued signal fills it (the _rt member)."""

    _fields_ = [("si_signo", ctypes.c_int), ("si_errno", ctypes.c_int), ("si_code", ctypes.c_int),
                ("_pad", ctypes.c_int), ("si_pid", ctypes.c_int), ("si_uid", ctypes.c_uint),
                ("si_value", ctypes.c_long), ("_rest", ctypes.c_char * 96)]


class _Ts(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


assert ctypes.sizeof(_SigInfo) == 128


def take_signal(rec: Recorder, signo: int, timeout: float = 5.0) -> Any:
    """sigtimedwait for ``signo`` (blocked by the caller): what arrived, as a
    dict (si_pid as a role), or "errno 11" (EAGAIN) if nothing did."""
    mask = ctypes.create_string_buffer(128)
    _libc.sigemptyset(mask)
    _libc.sigaddset(mask, signo)
    info = _SigInfo()
    ts = _Ts(int(timeout), int((timeout - int(timeout)) * 1e9))
    if _libc.sigtimedwait(mask, ctypes.byref(info), ctypes.byref(ts)) == -1:
        return f"errno {ctypes.get_errno()}"
    return {"signo": info.si_signo, "code": info.si_code, "errno": info.si_errno,
            "pid": rec.pid_role(info.si_pid), "uid": info.si_uid, "value": info.si_value}


def pending(signo: int) -> bool:
    return signo in signal.sigpending()


def kernel_only(scenarios: list[Scenario], argv: list[str] | None = None) -> int:
    """``--kernel-only [-k SUBSTRING]``: run scenarios on the kernel side
    only and print every recorded result: the oracle the uipc side must match."""
    p = argparse.ArgumentParser(description="print the kernel's answers to the scenarios")
    p.add_argument("--kernel-only", action="store_true", required=True)
    p.add_argument("-k", default="", help="only scenarios whose name contains this")
    args = p.parse_args(argv)
    from tests.conformance.harness import run_on_kernel
    holder = _hold_userns() if os.geteuid() != 0 else None
    try:
        for sc in scenarios:
            if args.k not in sc.name:
                continue
            try:
                log = run_on_kernel(sc)
            except Unsupported as exc:
                print(f"== {sc.name}: SKIPPED ({exc})\n")
                continue
            print(f"== {sc.name} ({len(log)} operations)")
            for label, value in log:
                print(f"  {label}: {value!r}")
            print()
    finally:
        if holder is not None:
            _release_userns(holder)
    return 0


def _hold_userns() -> tuple[int, int] | None:
    """Not root: what harness.start_oracle does for the kernel side, without
    its daemon: a child in a new user namespace where we are uid 0, holding
    it open for run_on_kernel to join (ORACLE.userns_fd).  None, with the
    reason printed, where user namespaces are not allowed."""
    from tests.conformance import userns
    from tests.conformance.harness import ORACLE
    why = userns.probe()
    if why:
        print(f"not root, and no user namespace ({why}): every scenario is skipped")
        return None
    r, w = os.pipe()
    ready_r, ready_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(w)
        userns.enter_new_userns()
        os.write(ready_w, b"x")
        os.read(r, 1)  # until the parent closes its end
        os._exit(0)
    os.close(r)
    os.read(ready_r, 1)
    os.close(ready_r)
    os.close(ready_w)
    ORACLE.userns_fd = os.open(f"/proc/{pid}/ns/user", os.O_RDONLY | os.O_CLOEXEC)
    return pid, w


def _release_userns(holder: tuple[int, int] | None) -> None:
    from tests.conformance.harness import ORACLE
    if holder is None or ORACLE.userns_fd is None:
        return
    pid, w = holder
    os.close(ORACLE.userns_fd)
    ORACLE.userns_fd = None
    os.close(w)
    os.waitpid(pid, 0)


# --- names and open flags ----------------------------------------------------------
def names(rec: Recorder) -> None:
    api, do = rec.api, rec.do
    c = O_CREAT | O_RDWR
    for label, name in [("plain", "/q"), ("no leading slash", "q"), ("empty", ""), ("slash only", "/"),
                        ("double slash", "//q"), ("inner slash", "/a/b"), ("trailing slash", "/q2/"),
                        ("dot", "/."), ("dotdot", "/.."), ("dot-prefixed", "/.q"),
                        ("space and unicode", "/a b\u00fc"), ("255 chars", "/" + "n" * 255),
                        ("256 chars", "/" + "n" * 256), ("4096 chars", "/" + "n" * 4096),
                        ("5000 chars", "/" + "n" * 5000)]:
        fd = opened(rec, f"create {label}", lambda: api.mq_open(name, c, 0o600, SMALL))
        if fd is not None:
            do(f"close {label}", lambda: api.mq_close(fd))
    do("open again without O_CREAT", lambda: api.mq_close(api.mq_open("/q", O_RDONLY)))
    do("the 255-char name reopens", lambda: api.mq_close(api.mq_open("/" + "n" * 255, O_RDONLY)))
    for label, name in [("no leading slash", "q"), ("empty", ""), ("slash only", "/"),
                        ("inner slash", "/a/b"), ("dotdot", "/.."), ("256 chars", "/" + "n" * 256),
                        ("missing", "/missing"), ("plain", "/q"), ("plain again", "/q"),
                        ("255 chars", "/" + "n" * 255), ("unicode", "/a b\u00fc")]:
        do(f"unlink {label}", lambda: api.mq_unlink(name))


def open_flags(rec: Recorder) -> None:
    api, do = rec.api, rec.do
    os.umask(0o022)
    do("missing", lambda: api.mq_open("/f", O_RDWR))
    a = opened(rec, "create excl", lambda: api.mq_open("/f", O_CREAT | O_EXCL | O_RDWR, 0o600, SMALL))
    do("excl again", lambda: api.mq_open("/f", O_CREAT | O_EXCL | O_RDWR, 0o600, SMALL))
    do("excl again, invalid attr", lambda: api.mq_open("/f", O_CREAT | O_EXCL | O_RDWR, 0o600,
                                                        MqAttr(mq_maxmsg=-1, mq_msgsize=-1)))
    b = opened(rec, "O_CREAT on existing, invalid attr ignored",
               lambda: api.mq_open("/f", O_CREAT | O_RDWR, 0o600, MqAttr(mq_maxmsg=-1, mq_msgsize=0)))
    do("its attributes are the queue's", lambda: api.mq_getattr(b))
    c = opened(rec, "O_EXCL without O_CREAT", lambda: api.mq_open("/f", O_EXCL | O_RDWR))
    d = opened(rec, "attr without O_CREAT ignored",
               lambda: api.mq_open("/f", O_RDWR, 0o600, MqAttr(mq_maxmsg=1, mq_msgsize=1)))
    for fd in (b, c, d):
        api.mq_close(fd)
    ro = opened(rec, "O_RDONLY", lambda: api.mq_open("/f", O_RDONLY))
    wo = opened(rec, "O_WRONLY", lambda: api.mq_open("/f", O_WRONLY))
    do("send on read-only", lambda: api.mq_send(ro, b"x"))
    do("send on write-only", lambda: api.mq_send(wo, b"x"))
    do("receive on write-only", lambda: api.mq_receive(wo, 64))
    do("receive on write-only, small buffer", lambda: api.mq_receive(wo, 1))
    do("receive on read-only", lambda: api.mq_receive(ro, 64))
    do("getattr on write-only", lambda: api.mq_getattr(wo))
    do("getattr on read-only", lambda: api.mq_getattr(ro))
    do("setattr on read-only", lambda: api.mq_setattr(ro, MqAttr(mq_flags=O_NONBLOCK)))
    do("accmode 3 on existing", lambda: api.mq_open("/f", O_WRONLY | O_RDWR))
    do("accmode 3 with O_CREAT on existing", lambda: api.mq_open("/f", O_CREAT | O_WRONLY | O_RDWR))
    three = opened(rec, "accmode 3 creating", lambda: api.mq_open(
        "/three", O_CREAT | O_WRONLY | O_RDWR, 0o600, SMALL))
    do("accmode 3 fd: send", lambda: api.mq_send(three, b"x"))
    do("accmode 3 fd: receive", lambda: api.mq_receive(three, 64))
    do("accmode 3 fd: getattr", lambda: api.mq_getattr(three))
    do("accmode 3 fd: notify", lambda: api.mq_notify(three, SigEvent(SIGEV_NONE)))
    do("accmode 3 fd: close", lambda: api.mq_close(three))
    nb = opened(rec, "O_NONBLOCK at open", lambda: api.mq_open("/f", O_RDONLY | O_NONBLOCK))
    do("its flags", lambda: api.mq_getattr(nb))
    do("its receive", lambda: api.mq_receive(nb, 64))
    do("close it", lambda: api.mq_close(nb))
    do("close it twice", lambda: api.mq_close(nb))
    r, w = os.pipe()
    try:
        do("getattr on a pipe", lambda: api.mq_getattr(r))
        do("send on a pipe", lambda: api.mq_send(w, b"x"))
        do("receive on a pipe", lambda: api.mq_receive(r, 64))
        do("notify on a pipe", lambda: api.mq_notify(r, SigEvent(SIGEV_NONE)))
    finally:
        os.close(r)
        os.close(w)
    for label, fn in [("getattr", lambda: api.mq_getattr(9999)),
                      ("setattr", lambda: api.mq_setattr(9999, MqAttr())),
                      ("send", lambda: api.mq_send(9999, b"x")),
                      ("receive", lambda: api.mq_receive(9999, 64)),
                      ("close", lambda: api.mq_close(9999)),
                      ("notify", lambda: api.mq_notify(9999, SigEvent(SIGEV_NONE))),
                      ("notify None", lambda: api.mq_notify(9999, None))]:
        do(f"{label} on fd 9999", fn)
    do("-1: getattr", lambda: api.mq_getattr(-1))
    for fd in (a, ro, wo):
        api.mq_close(fd)
    do("unlink", lambda: api.mq_unlink("/f"))
    do("unlink three", lambda: api.mq_unlink("/three"))


# --- attributes and limits --------------------------------------------------------
def attributes(rec: Recorder) -> None:
    api, do = rec.api, rec.do
    c = O_CREAT | O_EXCL | O_RDWR
    a = opened(rec, "default attributes", lambda: api.mq_open("/d", c, 0o600))
    do("getattr default", lambda: api.mq_getattr(a))
    api.mq_close(a)
    api.mq_unlink("/d")
    b = opened(rec, "attr with flags", lambda: api.mq_open(
        "/b", c, 0o600, MqAttr(mq_flags=O_NONBLOCK, mq_maxmsg=3, mq_msgsize=20, mq_curmsgs=7)))
    do("flags come from oflag, curmsgs from the queue", lambda: api.mq_getattr(b))
    for label, attr in [("maxmsg 0", MqAttr(0, 0, 10)), ("maxmsg -1", MqAttr(0, -1, 10)),
                        ("msgsize 0", MqAttr(0, 1, 0)), ("msgsize -1", MqAttr(0, 1, -1)),
                        ("both 0", MqAttr(0, 0, 0)), ("maxmsg at msg_max", MqAttr(0, 10, 16)),
                        ("msgsize at msgsize_max", MqAttr(0, 1, 8192)),
                        ("maxmsg 65537 (HARD_MSGMAX + 1)", MqAttr(0, 65537, 1)),
                        ("msgsize 16 MiB + 1", MqAttr(0, 1, 16 * 1024 * 1024 + 1)),
                        ("maxmsg 2**32 + 1", MqAttr(0, 2**32 + 1, 1)),
                        ("maxmsg 0, msgsize 16 MiB + 1", MqAttr(0, 0, 16 * 1024 * 1024 + 1))]:
        fd = opened(rec, f"create {label}", lambda: api.mq_open("/x", c, 0o600, attr))
        if fd is not None:
            do(f"getattr {label}", lambda: api.mq_getattr(fd))
            api.mq_close(fd)
            api.mq_unlink("/x")
    # beyond msg_max / msgsize_max: capable(CAP_SYS_RESOURCE) lets root up to the hard limits
    # (with CAP_SYS_RESOURCE, the last two pass those checks and meet RLIMIT_MSGQUEUE: EMFILE)
    for label, attr in [("maxmsg 11 > msg_max", MqAttr(0, 11, 16)),
                        ("msgsize 8193 > msgsize_max", MqAttr(0, 1, 8193)),
                        ("maxmsg 65536 = HARD_MSGMAX", MqAttr(0, 65536, 1)),
                        ("msgsize 16 MiB = HARD_MSGSIZEMAX", MqAttr(0, 1, 16 * 1024 * 1024))]:
        def create(attr: MqAttr = attr) -> Any:
            fd = api.mq_open("/x", c, 0o600, attr)
            got = api.mq_getattr(fd)
            api.mq_close(fd)
            api.mq_unlink("/x")
            return got
        rec.real_root(f"root: {label}", create, CAPABLE_NEEDS_ROOT)
    # mq_setattr: only mq_flags counts, and only O_NONBLOCK of it
    do("set O_NONBLOCK: the old attributes", lambda: api.mq_setattr(b, MqAttr(mq_flags=O_NONBLOCK)))
    do("getattr nonblocking", lambda: api.mq_getattr(b))
    do("send, receive nonblocking", lambda: (api.mq_send(b, b"m"), api.mq_getattr(b))[1])
    do("set other fields: ignored", lambda: api.mq_setattr(
        b, MqAttr(mq_flags=O_NONBLOCK, mq_maxmsg=99, mq_msgsize=1, mq_curmsgs=5)))
    do("getattr unchanged", lambda: api.mq_getattr(b))
    do("set O_NONBLOCK|O_CREAT", lambda: api.mq_setattr(b, MqAttr(mq_flags=O_NONBLOCK | O_CREAT)))
    do("set flags -1", lambda: api.mq_setattr(b, MqAttr(mq_flags=-1)))
    do("set O_RDWR", lambda: api.mq_setattr(b, MqAttr(mq_flags=O_RDWR)))
    do("set invalid flags on a bad fd", lambda: api.mq_setattr(9999, MqAttr(mq_flags=1)))
    do("still nonblocking", lambda: api.mq_getattr(b))
    other = opened(rec, "second descriptor", lambda: api.mq_open("/b", O_RDWR))
    do("its own flags", lambda: api.mq_getattr(other))
    do("set it nonblocking", lambda: api.mq_setattr(other, MqAttr(mq_flags=O_NONBLOCK)))
    do("set the first blocking", lambda: api.mq_setattr(b, MqAttr(mq_flags=0)))
    do("first", lambda: api.mq_getattr(b))
    do("second", lambda: api.mq_getattr(other))
    do("receive via the second", lambda: api.mq_receive(other, 20))
    do("empty via the second", lambda: api.mq_receive(other, 20))
    for i in range(3):
        do(f"fill {i}", lambda: api.mq_send(b, bytes([65 + i]) * (i + 1), i))
        do(f"curmsgs {i}", lambda: api.mq_getattr(b).mq_curmsgs)
    do("full via the second", lambda: api.mq_send(other, b"z"))
    do("getattr full", lambda: api.mq_getattr(b))
    api.mq_close(other)
    api.mq_close(b)
    api.mq_unlink("/b")


def sysctls(rec: Recorder) -> None:
    api, do = rec.api, rec.do
    names_ = ("msg_max", "msgsize_max", "msg_default", "msgsize_default", "queues_max")
    rec.note("defaults", {n: read_mq_sysctl(api, n) for n in names_})
    for name, value in [("msg_max", 0), ("msg_max", 65537), ("msg_max", -1), ("msg_max", 1),
                        ("msg_max", 65536), ("msgsize_max", 127), ("msgsize_max", 16777217),
                        ("msgsize_max", 128), ("msgsize_max", 16777216), ("msg_default", 0),
                        ("msg_default", 65537), ("msg_default", 65536), ("msgsize_default", 127),
                        ("msgsize_default", 16777217), ("msgsize_default", 16777216),
                        ("queues_max", -1), ("queues_max", 0), ("queues_max", 2**31),
                        ("queues_max", 1000000)]:
        mq_sysctl(rec, name, value)
    rec.note("after writes", {n: read_mq_sysctl(api, n) for n in names_})
    for name, value in [("msg_max", 5), ("msg_default", 8), ("msgsize_max", 1024),
                        ("msgsize_default", 2048), ("queues_max", 256)]:
        mq_sysctl(rec, name, value)
    c = O_CREAT | O_EXCL | O_RDWR
    a = opened(rec, "default queue: min(default, max)", lambda: api.mq_open("/s", c, 0o600))
    do("its attributes", lambda: api.mq_getattr(a))
    api.mq_close(a)
    api.mq_unlink("/s")
    mq_sysctl(rec, "msg_default", 3)
    mq_sysctl(rec, "msgsize_default", 200)
    a = opened(rec, "default queue below the max", lambda: api.mq_open("/s", c, 0o600))
    do("its attributes now", lambda: api.mq_getattr(a))
    api.mq_close(a)
    api.mq_unlink("/s")
    create = lambda attr: _create_and_drop(api, attr)  # noqa: E731
    do("maxmsg 5 = msg_max", lambda: create(MqAttr(0, 5, 10)))
    rec.real_root("root: maxmsg 6 > msg_max", lambda: create(MqAttr(0, 6, 10)), CAPABLE_NEEDS_ROOT)
    rec.real_root("root: msgsize 1025 > msgsize_max", lambda: create(MqAttr(0, 1, 1025)),
                  CAPABLE_NEEDS_ROOT)
    keep = opened(rec, "a queue (5, 10)", lambda: api.mq_open("/keep", c, 0o600, MqAttr(0, 5, 10)))
    mq_sysctl(rec, "msg_max", 2)
    do("keeps its size under a lower msg_max", lambda: api.mq_getattr(keep))
    api.mq_close(keep)
    api.mq_unlink("/keep")
    mq_sysctl(rec, "queues_max", 2)
    qs = [opened(rec, f"queue {i}", lambda: api.mq_open(f"/r{i}", c, 0o600, MqAttr(0, 1, 8)))
          for i in range(2)]
    rec.real_root("root: past queues_max", lambda: create(MqAttr(0, 1, 8)), CAPABLE_NEEDS_ROOT)
    do("opening an existing one past queues_max", lambda: api.mq_close(api.mq_open("/r0", O_RDWR)))
    for fd in qs:
        api.mq_close(fd)


def _create_and_drop(api: Any, attr: MqAttr | None) -> MqAttr:
    c = O_CREAT | O_EXCL | O_RDWR
    fd = api.mq_open("/t", c, 0o600, attr) if attr is not None else api.mq_open("/t", c, 0o600)
    got = api.mq_getattr(fd)
    api.mq_close(fd)
    api.mq_unlink("/t")
    return got


def unprivileged_limits(rec: Recorder) -> None:
    """The limits as a user without CAP_SYS_RESOURCE meets them: the
    fs.mqueue sysctls bound its attributes, queues_max its queue count."""
    api, do = rec.api, rec.do
    c = O_CREAT | O_EXCL | O_RDWR
    create = lambda attr: _create_and_drop(api, attr)  # noqa: E731
    rec.note("uid 65534 at the default limits", as_user(NOBODY, NOBODY, lambda: rec.outcomes([
        ("maxmsg 11", lambda: create(MqAttr(0, 11, 16))),
        ("msgsize 8193", lambda: create(MqAttr(0, 1, 8193))),
        ("maxmsg 10, msgsize 8192", lambda: create(MqAttr(0, 10, 8192))),
        ("default queue", lambda: create(None))]), rec=rec))
    for name, value in [("msg_max", 5), ("msg_default", 3), ("msgsize_max", 1024),
                        ("msgsize_default", 200)]:
        mq_sysctl(rec, name, value)
    rec.note("uid 65534 under the new limits", as_user(NOBODY, NOBODY, lambda: rec.outcomes([
        ("maxmsg 5", lambda: create(MqAttr(0, 5, 10))),
        ("maxmsg 6", lambda: create(MqAttr(0, 6, 10))),
        ("msgsize 1024", lambda: create(MqAttr(0, 1, 1024))),
        ("msgsize 1025", lambda: create(MqAttr(0, 1, 1025))),
        ("default queue", lambda: create(None)),
        ("write a sysctl", lambda: (uipc.sysctl.set("fs.mqueue.msg_max", 7) if api is uipc
                                    else api.set_mq_sysctl("msg_max", 7)))]), rec=rec))
    rec.note("msg_max after uid 65534's write", read_mq_sysctl(api, "msg_max"))
    # queues_max: every queue of the namespace counts, whoever made it; CAP_SYS_RESOURCE is exempt
    mq_sysctl(rec, "queues_max", 3)
    qs = [opened(rec, f"root queue {i}", lambda: api.mq_open(f"/r{i}", c, 0o600, MqAttr(0, 1, 8)))
          for i in range(2)]
    rec.note("uid 65534: third and fourth queue", as_user(NOBODY, NOBODY, lambda: rec.outcomes([
        ("third", as_fd(lambda: api.mq_open("/u0", c, 0o600, MqAttr(0, 1, 8)))),
        ("fourth", as_fd(lambda: api.mq_open("/u1", c, 0o600, MqAttr(0, 1, 8)))),
        ("opening an existing one", as_fd(lambda: api.mq_open("/u0", O_RDWR)))]), rec=rec))
    do("unlink root queue 0 (still open)", lambda: api.mq_unlink("/r0"))
    rec.note("uid 65534 while it is open", as_user(NOBODY, NOBODY, lambda: rec.outcomes([
        ("fourth", as_fd(lambda: api.mq_open("/u1", c, 0o600, MqAttr(0, 1, 8))))]), rec=rec))
    do("close root queue 0", lambda: api.mq_close(qs[0]))
    rec.note("uid 65534 after the close", as_user(NOBODY, NOBODY, lambda: rec.outcomes([
        ("fourth", as_fd(lambda: api.mq_open("/u1", c, 0o600, MqAttr(0, 1, 8)))),
        ("fifth", as_fd(lambda: api.mq_open("/u2", c, 0o600, MqAttr(0, 1, 8)))),
        ("unlink own", lambda: api.mq_unlink("/u0")),
        ("then fifth", as_fd(lambda: api.mq_open("/u2", c, 0o600, MqAttr(0, 1, 8))))]), rec=rec))
    mq_sysctl(rec, "queues_max", 0)
    rec.note("uid 65534 with queues_max 0", as_user(NOBODY, NOBODY, lambda: rec.outcomes([
        ("create", as_fd(lambda: api.mq_open("/u3", c, 0o600, MqAttr(0, 1, 8)))),
        ("open existing", as_fd(lambda: api.mq_open("/u1", O_RDWR)))]), rec=rec))
    api.mq_close(qs[1])


#: sizeof(struct msg_msg), sizeof(struct posix_msg_tree_node) on x86_64
_MSG_MSG, _TREE_NODE = 48, 48


def mq_bytes(maxmsg: int, msgsize: int) -> int:
    """What mqueue_get_inode charges to RLIMIT_MSGQUEUE for one queue."""
    return maxmsg * msgsize + maxmsg * _MSG_MSG + min(maxmsg, MQ_PRIO_MAX) * _TREE_NODE


def rlimit_uids() -> tuple[int, int, int]:
    """Three uids nobody else charges: RLIMIT_MSGQUEUE is counted per uid
    across every IPC namespace of the machine, so the thresholds are exact
    only if no other run (a test session at the same time) uses the same
    uids.  Both sides of one comparison are children of the same runner:
    the uids come from its pid."""
    base = 40000 + (os.getppid() % 8000) * 3
    return base, base + 1, base + 2


def rlimit_msgqueue(rec: Recorder) -> None:
    api = rec.api
    RLIMIT_UIDS = rlimit_uids()  # noqa: N806 - constants of this run
    c = O_CREAT | O_EXCL | O_RDWR
    small = MqAttr(0, 2, 100)
    rec.note("bytes of (2, 100)", mq_bytes(2, 100))
    soft, hard = resource.getrlimit(resource.RLIMIT_MSGQUEUE)
    rec.note("RLIMIT_MSGQUEUE", (soft, hard))

    def exact() -> list:
        resource.setrlimit(resource.RLIMIT_MSGQUEUE, (mq_bytes(2, 100), hard))
        fds: dict[str, int] = {}

        def make(name: str, attr: MqAttr) -> Callable[[], str]:
            return as_fd(lambda: fds.__setitem__(name, api.mq_open(name, c, 0o600, attr)))
        out = rec.outcomes([
            ("A (2, 100) at exactly the limit", make("/A", small)),
            ("B (1, 1)", make("/B", MqAttr(0, 1, 1))),
            ("unlink A", lambda: api.mq_unlink("/A")),
            ("B while A is open", make("/B", MqAttr(0, 1, 1))),
            ("close A", lambda: api.mq_close(fds["/A"])),
            ("B after the close", make("/B", MqAttr(0, 1, 1))),
            ("lower to B's bytes - 1", lambda: resource.setrlimit(
                resource.RLIMIT_MSGQUEUE, (mq_bytes(1, 1) - 1, hard))),
            ("opening B again", as_fd(lambda: api.mq_open("/B", O_RDWR))),
            ("C (1, 1)", make("/C", MqAttr(0, 1, 1))),
            ("unlink B", lambda: api.mq_unlink("/B")),
            ("close B", lambda: api.mq_close(fds["/B"])),
            ("limit one byte short", lambda: resource.setrlimit(
                resource.RLIMIT_MSGQUEUE, (mq_bytes(2, 100) - 1, hard))),
            ("A again", make("/A", small)),
            ("invalid attr under the limit", make("/A", MqAttr(0, 0, 100))),
            ("limit 0", lambda: resource.setrlimit(resource.RLIMIT_MSGQUEUE, (0, hard))),
            ("smallest queue", make("/A", MqAttr(0, 1, 1))),
        ])
        return out
    rec.note("a fresh uid: the byte threshold", as_user(RLIMIT_UIDS[0], RLIMIT_UIDS[0], exact,
                                                                  rec=rec))

    def defaults() -> list:
        made = 0
        fds = []
        while made < 20:
            try:
                fds.append(api.mq_open(f"/d{made}", c, 0o600))
            except OSError as exc:
                return [("default queues before the error", made), ("error", f"errno {exc.errno}"),
                        ("bytes each", mq_bytes(10, 8192))]
            made += 1
        return [("default queues", made)]
    rec.note("a fresh uid: default queues under 819200", as_user(
        RLIMIT_UIDS[1], RLIMIT_UIDS[1], defaults, rec=rec))
    # maxmsg above MQ_PRIO_MAX: the tree nodes stop at MQ_PRIO_MAX of them
    mq_sysctl(rec, "msg_max", 40000)
    big = mq_bytes(32769, 1)
    rec.note("bytes of (32769, 1)", big)
    if hard != resource.RLIM_INFINITY and hard < big:
        # raising the hard limit needs CAP_SYS_RESOURCE, which even root may lack (a container)
        rec.note("(32769, 1) needs a hard RLIMIT_MSGQUEUE of", big)
        return
    resource.setrlimit(resource.RLIMIT_MSGQUEUE, (big, hard))  # the child inherits it
    many = MqAttr(0, 32769, 1)
    uid = RLIMIT_UIDS[2]
    rec.note("a fresh uid: 32769 messages", as_user(uid, uid, lambda: rec.outcomes([
        ("(32769, 1) at exactly the limit", as_fd(lambda: api.mq_open("/P", c, 0o600, many))),
        ("unlink", lambda: api.mq_unlink("/P")),
        ("one byte short", lambda: resource.setrlimit(resource.RLIMIT_MSGQUEUE, (big - 1, big))),
        ("(32769, 1) again", as_fd(lambda: api.mq_open("/P", c, 0o600, many)))]), rec=rec))
    resource.setrlimit(resource.RLIMIT_MSGQUEUE, (soft, hard))


# --- messages ------------------------------------------------------------------------
def send_receive(rec: Recorder) -> None:
    api, do = rec.api, rec.do
    q = opened(rec, "queue (8, 16)", lambda: api.mq_open(
        "/m", O_CREAT | O_EXCL | O_RDWR, 0o600, MqAttr(0, 8, 16)))
    for prio, text in [(0, b"p0 first"), (5, b"p5 first"), (5, b"p5 second"), (31, b"p31"),
                       (1, b"p1"), (MQ_PRIO_MAX - 1, b"p32767"), (0, b"p0 second"), (5, b"")]:
        do(f"send prio {prio} {text!r}", lambda: api.mq_send(q, text, prio))
    do("getattr 8", lambda: api.mq_getattr(q))
    do("receive, buffer 15 < msgsize", lambda: api.mq_receive(q, 15))
    for i in range(8):
        do(f"receive {i}", lambda: api.mq_receive(q, 16 if i % 2 else 1000))
    do("prio MQ_PRIO_MAX", lambda: api.mq_send(q, b"x", MQ_PRIO_MAX))
    do("prio -1 (unsigned: 4294967295)", lambda: api.mq_send(q, b"x", -1))
    do("prio MQ_PRIO_MAX on a bad fd", lambda: api.mq_send(9999, b"x", MQ_PRIO_MAX))
    do("17 bytes > msgsize", lambda: api.mq_send(q, b"x" * 17))
    do("16 bytes", lambda: api.mq_send(q, b"y" * 16))
    do("empty message", lambda: api.mq_send(q, b""))
    do("receive 16", lambda: api.mq_receive(q, 16))
    do("receive the empty one", lambda: api.mq_receive(q, 16))
    do("nonblocking", lambda: api.mq_setattr(q, MqAttr(mq_flags=O_NONBLOCK)))
    do("empty: EAGAIN", lambda: api.mq_receive(q, 16))
    do("empty, small buffer: EMSGSIZE first", lambda: api.mq_receive(q, 15))
    for i in range(8):
        do(f"fill {i}", lambda: api.mq_send(q, bytes([48 + i]), i % 3))
    do("full: EAGAIN", lambda: api.mq_send(q, b"z"))
    do("full, too big: EMSGSIZE first", lambda: api.mq_send(q, b"z" * 17))
    do("full, bad prio: EINVAL first", lambda: api.mq_send(q, b"z", MQ_PRIO_MAX))
    do("getattr full", lambda: api.mq_getattr(q))
    rec.note("drain", [api.mq_receive(q, 16) for _ in range(8)])
    ro = opened(rec, "read-only descriptor", lambda: api.mq_open("/m", O_RDONLY | O_NONBLOCK))
    do("send on it, bad prio", lambda: api.mq_send(ro, b"x", MQ_PRIO_MAX))
    do("send on it, too big", lambda: api.mq_send(ro, b"x" * 17))
    api.mq_close(ro)
    a = opened(rec, "second queue (2, 8192)", lambda: api.mq_open(
        "/big", O_CREAT | O_EXCL | O_RDWR, 0o600, MqAttr(0, 2, 8192)))
    do("send 8192", lambda: api.mq_send(a, bytes(range(256)) * 32, 7))
    do("receive 8192: (length, intact, prio)", lambda: (
        lambda m: (len(m[0]), m[0] == bytes(range(256)) * 32, m[1]))(api.mq_receive(a, 8192)))
    api.mq_close(a)
    api.mq_close(q)


def timeouts(rec: Recorder) -> None:
    api, do = rec.api, rec.do
    past = time.time() - 10
    q = opened(rec, "queue (2, 16)", lambda: api.mq_open(
        "/t", O_CREAT | O_EXCL | O_RDWR, 0o600, MqAttr(0, 2, 16)))
    do("receive empty, past", lambda: api.mq_timedreceive(q, 16, past))
    do("receive empty, the epoch", lambda: api.mq_timedreceive(q, 16, 0.0))
    do("receive empty, -1 s", lambda: api.mq_timedreceive(q, 16, -1.0))
    do("receive empty, -0.5 s (tv_nsec < 0)", lambda: api.mq_timedreceive(q, 16, -0.5))
    do("receive empty, -1e10 s", lambda: api.mq_timedreceive(q, 16, -1e10))
    do("receive empty, 50 ms ahead", lambda: api.mq_timedreceive(q, 16, time.time() + 0.05))
    do("send, not full, past", lambda: api.mq_timedsend(q, b"a", 1, past))
    do("send, not full, -1 s", lambda: api.mq_timedsend(q, b"b", 1, -1.0))
    do("send, not full, -0.5 s", lambda: api.mq_timedsend(q, b"b", 1, -0.5))
    do("send, not full, far future", lambda: api.mq_timedsend(q, b"c", 2, time.time() + 1e6))
    do("send, full, past", lambda: api.mq_timedsend(q, b"d", 1, past))
    do("send, full, -1 s", lambda: api.mq_timedsend(q, b"d", 1, -1.0))
    do("send, full, 50 ms ahead", lambda: api.mq_timedsend(q, b"d", 1, time.time() + 0.05))
    do("send, bad fd, -1 s: timeout checked first", lambda: api.mq_timedsend(9999, b"d", 1, -1.0))
    do("send, bad fd, past", lambda: api.mq_timedsend(9999, b"d", 1, past))
    do("send, bad prio, -1 s", lambda: api.mq_timedsend(q, b"d", MQ_PRIO_MAX, -1.0))
    do("send, too big, -1 s", lambda: api.mq_timedsend(q, b"d" * 17, 1, -1.0))
    do("send, too big, past", lambda: api.mq_timedsend(q, b"d" * 17, 1, past))
    do("receive, not empty, -1 s", lambda: api.mq_timedreceive(q, 16, -1.0))
    do("receive, not empty, past", lambda: api.mq_timedreceive(q, 16, past))
    do("receive, bad fd, -1 s", lambda: api.mq_timedreceive(9999, 16, -1.0))
    do("receive, small buffer, -1 s", lambda: api.mq_timedreceive(q, 1, -1.0))
    do("receive, small buffer, past", lambda: api.mq_timedreceive(q, 1, past))
    do("nonblocking", lambda: api.mq_setattr(q, MqAttr(mq_flags=O_NONBLOCK)))
    do("nonblocking: receive, not empty, past", lambda: api.mq_timedreceive(q, 16, past))
    do("nonblocking: receive, empty, past", lambda: api.mq_timedreceive(q, 16, past))
    do("nonblocking: receive, empty, -1 s", lambda: api.mq_timedreceive(q, 16, -1.0))
    do("nonblocking: receive, empty, future", lambda: api.mq_timedreceive(q, 16, time.time() + 60))
    for text in (b"e", b"f"):
        do(f"nonblocking: send {text!r}, past", lambda: api.mq_timedsend(q, text, 0, past))
    do("nonblocking: send, full, past", lambda: api.mq_timedsend(q, b"g", 0, past))
    do("nonblocking: send, full, -0.5 s", lambda: api.mq_timedsend(q, b"g", 0, -0.5))
    do("getattr", lambda: api.mq_getattr(q))
    api.mq_close(q)


def unlink_while_open(rec: Recorder) -> None:
    api, do = rec.api, rec.do
    c = O_CREAT | O_RDWR
    a = opened(rec, "create /u", lambda: api.mq_open("/u", c, 0o600, MqAttr(0, 3, 10)))
    do("send old", lambda: api.mq_send(a, b"old", 1))
    b = opened(rec, "second descriptor", lambda: api.mq_open("/u", O_RDWR))
    do("unlink", lambda: api.mq_unlink("/u"))
    do("unlink again", lambda: api.mq_unlink("/u"))
    do("open without O_CREAT", lambda: api.mq_open("/u", O_RDWR))
    do("the second still works: send", lambda: api.mq_send(b, b"old 2", 2))
    do("getattr via the first", lambda: api.mq_getattr(a))
    n = opened(rec, "O_CREAT makes a new queue", lambda: api.mq_open("/u", c | O_EXCL, 0o600,
                                                                       MqAttr(0, 5, 20)))
    do("new queue's attributes", lambda: api.mq_getattr(n))
    do("send new", lambda: api.mq_send(n, b"new"))
    do("old queue via the first", lambda: api.mq_receive(a, 10))
    do("old queue via the second", lambda: api.mq_receive(b, 10))
    do("old queue: getattr", lambda: api.mq_getattr(b))
    do("new queue", lambda: api.mq_receive(n, 20))
    do("close the first", lambda: api.mq_close(a))
    do("close the second", lambda: api.mq_close(b))
    do("close the new", lambda: api.mq_close(n))
    do("reopen the new (still linked)", lambda: api.mq_getattr(api.mq_open("/u", O_RDONLY)))
    do("unlink the new", lambda: api.mq_unlink("/u"))


# --- notification -------------------------------------------------------------------
def notify_rules(rec: Recorder) -> None:
    api, do = rec.api, rec.do
    none, sig = SigEvent(SIGEV_NONE), SigEvent(SIGEV_SIGNAL, signal.SIGUSR1, 5)
    q = opened(rec, "queue", lambda: api.mq_open("/n", O_CREAT | O_EXCL | O_RDWR, 0o600, SMALL))
    do("sigev_notify 7", lambda: api.mq_notify(q, SigEvent(7)))
    do("sigev_notify 7 on a bad fd: EINVAL first", lambda: api.mq_notify(9999, SigEvent(7)))
    do("sigev_notify -1", lambda: api.mq_notify(q, SigEvent(-1)))
    do("SIGEV_SIGNAL signo 65", lambda: api.mq_notify(q, SigEvent(SIGEV_SIGNAL, 65)))
    do("SIGEV_SIGNAL signo -1", lambda: api.mq_notify(q, SigEvent(SIGEV_SIGNAL, -1)))
    do("SIGEV_SIGNAL signo 65 on a bad fd", lambda: api.mq_notify(9999, SigEvent(SIGEV_SIGNAL, 65)))
    do("SIGEV_NONE with signo 65: not checked", lambda: api.mq_notify(q, SigEvent(SIGEV_NONE, 65)))
    do("unregister", lambda: api.mq_notify(q, None))
    do("None when nobody is registered", lambda: api.mq_notify(q, None))
    do("register SIGEV_NONE", lambda: api.mq_notify(q, none))
    do("the owner again", lambda: api.mq_notify(q, none))
    do("the owner, SIGEV_SIGNAL", lambda: api.mq_notify(q, sig))
    do("the owner, invalid: EINVAL before EBUSY", lambda: api.mq_notify(q, SigEvent(7)))
    q2 = opened(rec, "second descriptor", lambda: api.mq_open("/n", O_RDONLY))
    do("via the second descriptor", lambda: api.mq_notify(q2, none))
    do("unregister via the second", lambda: api.mq_notify(q2, None))
    do("register SIGEV_SIGNAL signo 0", lambda: api.mq_notify(q, SigEvent(SIGEV_SIGNAL, 0)))
    do("unregister", lambda: api.mq_notify(q, None))
    do("register SIGEV_SIGNAL", lambda: api.mq_notify(q, sig))
    fds: dict[str, int] = {}
    peer = Peer(rec, "peer", {
        "open": as_fd(lambda: fds.__setitem__("q", api.mq_open("/n", O_RDWR))),
        "register": lambda: api.mq_notify(fds["q"], none),
        "unregister": lambda: api.mq_notify(fds["q"], None),
        "close": lambda: api.mq_close(fds["q"]),
    })
    try:
        peer.run("open")
        peer.run("register")  # EBUSY: another process owns it
        peer.run("unregister")  # not the owner: silently nothing
        do("still registered", lambda: api.mq_notify(q, none))
        do("unregister", lambda: api.mq_notify(q, None))
        peer.run("register")
        do("now the peer owns it", lambda: api.mq_notify(q, none))
        do("unregister from here: not the owner", lambda: api.mq_notify(q, None))
        do("still the peer's", lambda: api.mq_notify(q, none))
        peer.run("close")  # the owner closing a descriptor drops its registration
        do("after the peer's close", lambda: api.mq_notify(q, none))
        peer.run("open")
        peer.run("register")
        peer.run("close")  # a non-owner's close changes nothing
        do("still mine after the peer's close", lambda: api.mq_notify(q, sig))
        do("the owner closes its second descriptor", lambda: api.mq_close(q2))
        peer.run("open")
        peer.run("register")  # that close dropped the owner's registration
        peer.run("unregister")
        do("register again", lambda: api.mq_notify(q, none))
        do("close descriptor of another queue", lambda: api.mq_close(api.mq_open(
            "/other", O_CREAT | O_RDWR, 0o600, SMALL)))
        peer.run("register")
        do("unregister", lambda: api.mq_notify(q, None))
        peer.run("register")
        peer.exit()  # exiting closes its descriptors: registration dropped
        do("after the peer exited", lambda: api.mq_notify(q, none))
        do("unlink while registered", lambda: api.mq_unlink("/n"))
        do("still registered after unlink", lambda: api.mq_notify(q, none))
    finally:
        peer.kill()
    api.mq_close(q)
    api.mq_unlink("/other")


def _blocked_signals(*signos: int) -> Any:
    return signal.pthread_sigmask(signal.SIG_BLOCK, signos)


def notify_delivery(rec: Recorder) -> None:
    api, do = rec.api, rec.do
    os.umask(0)
    usr1, usr2 = signal.SIGUSR1, signal.SIGUSR2
    _blocked_signals(usr1, usr2)
    q = opened(rec, "queue 0666", lambda: api.mq_open("/sig", O_CREAT | O_EXCL | O_RDWR, 0o666, SMALL))
    do("register SIGUSR1, value 1234", lambda: api.mq_notify(q, SigEvent(SIGEV_SIGNAL, usr1, 1234)))
    do("send to the empty queue", lambda: api.mq_send(q, b"one"))
    rec.note("signal", take_signal(rec, usr1))
    do("the registration is used up", lambda: api.mq_notify(q, SigEvent(SIGEV_SIGNAL, usr1, -7)))
    do("send to a non-empty queue", lambda: api.mq_send(q, b"two"))
    rec.note("no signal while not empty", pending(usr1))
    do("still registered", lambda: api.mq_notify(q, SigEvent(SIGEV_NONE)))
    do("receive 1", lambda: api.mq_receive(q, 64))
    do("receive 2", lambda: api.mq_receive(q, 64))
    do("send to the emptied queue", lambda: api.mq_send(q, b"three", 3))
    rec.note("signal, value -7", take_signal(rec, usr1))
    do("receive 3", lambda: api.mq_receive(q, 64))
    do("register signo 0", lambda: api.mq_notify(q, SigEvent(SIGEV_SIGNAL, 0, 9)))
    do("send (signo 0)", lambda: api.mq_send(q, b"four"))
    rec.note("pending after signo 0", sorted(signal.sigpending()))
    do("signo 0 used up too", lambda: api.mq_notify(q, SigEvent(SIGEV_NONE)))
    do("receive 4", lambda: api.mq_receive(q, 64))
    do("send (SIGEV_NONE)", lambda: api.mq_send(q, b"five"))
    do("SIGEV_NONE used up", lambda: api.mq_notify(q, SigEvent(SIGEV_SIGNAL, usr2, 22)))
    do("receive 5", lambda: api.mq_receive(q, 64))
    s = PosixSleepers(rec)
    try:
        s.start("R waiting", lambda: api.mq_receive(api.mq_open("/sig", O_RDONLY), 64))
        do("send while R waits", lambda: api.mq_send(q, b"to R"))
        rec.note("R", s.completed(1))
        rec.note("no signal: R took it", pending(usr2))
        do("curmsgs", lambda: api.mq_getattr(q).mq_curmsgs)
        do("still registered after R", lambda: api.mq_notify(q, SigEvent(SIGEV_NONE)))
    finally:
        s.close()
    fds: dict[str, int] = {}
    peer = Peer(rec, "sender", {
        "open": as_fd(lambda: fds.__setitem__("q", api.mq_open("/sig", O_WRONLY))),
        "send": lambda: api.mq_send(fds["q"], b"from the peer", 4),
    })
    try:
        peer.run("open")
        peer.run("send")
        rec.note("signal from the peer's send", take_signal(rec, usr2))
        do("receive the peer's", lambda: api.mq_receive(q, 64))
    finally:
        peer.exit()
    do("register SIGUSR1, then close the descriptor", lambda: (
        api.mq_notify(q, SigEvent(SIGEV_SIGNAL, usr1, 1)), api.mq_close(q))[1])
    do("send via a new descriptor", lambda: api.mq_send(api.mq_open("/sig", O_WRONLY), b"x"))
    rec.note("no signal after the owner's close", pending(usr1))
    signal.pthread_sigmask(signal.SIG_UNBLOCK, (usr1, usr2))


def notify_other_user(rec: Recorder) -> None:
    """si_uid and si_pid are the sender's, whoever registered."""
    api, do = rec.api, rec.do
    os.umask(0)
    _blocked_signals(signal.SIGUSR1)
    q = opened(rec, "queue 0666", lambda: api.mq_open("/sig", O_CREAT | O_EXCL | O_RDWR, 0o666, SMALL))
    do("register SIGUSR1, value 31", lambda: api.mq_notify(q, SigEvent(SIGEV_SIGNAL, signal.SIGUSR1, 31)))
    rec.note("uid 65534 sends", as_user(NOBODY, NOBODY, lambda: rec.outcomes([
        ("send", lambda: api.mq_send(api.mq_open("/sig", O_WRONLY), b"nobody's")),
        ("register", lambda: api.mq_notify(api.mq_open("/sig", O_WRONLY), SigEvent(SIGEV_NONE)))]),
        rec=rec))
    rec.note("signal from uid 65534's send", take_signal(rec, signal.SIGUSR1))
    do("receive nobody's", lambda: api.mq_receive(q, 64))
    do("uid 65534's registration went with its exit", lambda: api.mq_notify(q, SigEvent(SIGEV_NONE)))
    signal.pthread_sigmask(signal.SIG_UNBLOCK, (signal.SIGUSR1,))
    api.mq_close(q)


def notify_thread(rec: Recorder) -> None:
    api, do = rec.api, rec.do
    r, w = os.pipe()

    def read_calls() -> Any:
        ready, _, _ = select.select([r], [], [], 5)
        return os.read(r, 100).decode() if ready else "no call within 5 s"

    def fn(value: int) -> None:
        os.write(w, f"called with {value};".encode())
    ev = SigEvent(SIGEV_THREAD, sigev_value=77, sigev_notify_function=fn)
    q = opened(rec, "queue", lambda: api.mq_open("/th", O_CREAT | O_EXCL | O_RDWR, 0o600, SMALL))
    try:
        do("register SIGEV_THREAD", lambda: api.mq_notify(q, ev))
        do("again", lambda: api.mq_notify(q, ev))
        do("send", lambda: api.mq_send(q, b"go"))
        rec.note("the function", read_calls())
        do("used up: register again", lambda: api.mq_notify(
            q, SigEvent(SIGEV_THREAD, sigev_value=78, sigev_notify_function=fn)))
        do("send to a non-empty queue", lambda: api.mq_send(q, b"more"))
        do("drain", lambda: [api.mq_receive(q, 64) for _ in range(2)])
        do("send to the empty queue", lambda: api.mq_send(q, b"again"))
        rec.note("the function, second time", read_calls())
        do("register, then unregister", lambda: (api.mq_notify(q, ev), api.mq_notify(q, None))[1])
        do("drain 2", lambda: api.mq_receive(q, 64))
        do("send after unregistering", lambda: api.mq_send(q, b"nobody"))
        do("register SIGEV_SIGNAL now", lambda: api.mq_notify(q, SigEvent(SIGEV_SIGNAL, 0)))
    finally:
        api.mq_close(q)
        os.close(r)
        os.close(w)


# --- several processes ------------------------------------------------------------------
def _receiver(api: Any, name: str, size: int = 32, timeout: float | None = None) -> Callable[[], Any]:
    """A sleeper's call: its own descriptor, then one (timed) receive."""
    def fn() -> Any:
        fd = api.mq_open(name, O_RDONLY)
        if timeout is None:
            return api.mq_receive(fd, size)
        return api.mq_timedreceive(fd, size, time.time() + timeout)
    return fn


def _sender(api: Any, name: str, msg: bytes, prio: int, timeout: float | None = None) -> Callable[[], Any]:
    def fn() -> Any:
        fd = api.mq_open(name, O_WRONLY)
        if timeout is None:
            return api.mq_send(fd, msg, prio)
        return api.mq_timedsend(fd, msg, prio, time.time() + timeout)
    return fn


def blocking_receivers(rec: Recorder) -> None:
    api, do = rec.api, rec.do
    q = opened(rec, "queue (4, 32)", lambda: api.mq_open(
        "/w", O_CREAT | O_EXCL | O_RDWR, 0o600, MqAttr(0, 4, 32)))
    s = PosixSleepers(rec)
    try:
        for tag in ("R1", "R2", "R3"):
            s.start(tag, _receiver(api, "/w"))
        do("R with a small buffer does not sleep", lambda: api.mq_receive(
            api.mq_open("/w", O_RDONLY), 31))
        do("send a (prio 1)", lambda: api.mq_send(q, b"a", 1))
        rec.note("first", s.completed(1))
        do("handed over: curmsgs", lambda: api.mq_getattr(q).mq_curmsgs)
        do("send b (prio 9)", lambda: api.mq_send(q, b"b", 9))
        rec.note("second", s.completed(1))
        do("unlink while R3 sleeps", lambda: api.mq_unlink("/w"))
        rec.note("R3 still asleep", s.is_asleep("R3"))
        do("send c to the unlinked queue", lambda: api.mq_send(q, b"c", 0))
        rec.note("third", s.completed(1))
        do("recreate /w", lambda: api.mq_close(api.mq_open("/w", O_CREAT | O_RDWR, 0o600, SMALL)))
        s.start("R4 timed 300 ms", _receiver(api, "/w", 64, 0.3))
        rec.note("R4", s.completed(1))
        s.start("R5 on the new /w", _receiver(api, "/w", 64))
        do("send to the old queue: not R5's", lambda: api.mq_send(q, b"old"))
        rec.note("R5 still asleep", s.is_asleep("R5 on the new /w"))
        do("the old queue has it", lambda: api.mq_getattr(q).mq_curmsgs)
        do("send to the new /w", lambda: api.mq_send(api.mq_open("/w", O_WRONLY), b"new", 2))
        rec.note("R5", s.completed(1))
    finally:
        s.close()
    api.mq_close(q)


def blocked_senders(rec: Recorder) -> None:
    api, do = rec.api, rec.do
    q = opened(rec, "queue (1, 16)", lambda: api.mq_open(
        "/f", O_CREAT | O_EXCL | O_RDWR, 0o600, MqAttr(0, 1, 16)))
    do("fill", lambda: api.mq_send(q, b"first", 0))
    s = PosixSleepers(rec)
    try:
        s.start("S1 prio 1", _sender(api, "/f", b"s1", 1))
        s.start("S2 prio 9", _sender(api, "/f", b"s2", 9))
        do("receive: makes room", lambda: api.mq_receive(q, 16))
        rec.note("woken", s.completed(1))  # the first sleeper, whatever its message's priority
        do("curmsgs", lambda: api.mq_getattr(q).mq_curmsgs)
        do("receive", lambda: api.mq_receive(q, 16))
        rec.note("woken next", s.completed(1))
        do("receive", lambda: api.mq_receive(q, 16))
        do("empty now", lambda: api.mq_getattr(q).mq_curmsgs)
        do("fill again", lambda: api.mq_send(q, b"x", 0))
        s.start("S3 timed 300 ms", _sender(api, "/f", b"s3", 0, 0.3))
        rec.note("S3", s.completed(1))
        s.start("S4", _sender(api, "/f", b"s4", 3))
        do("nonblocking receive makes room too", lambda: (
            api.mq_setattr(q, MqAttr(mq_flags=O_NONBLOCK)), api.mq_receive(q, 16))[1])
        rec.note("S4", s.completed(1))
        do("S4's message", lambda: api.mq_receive(q, 16))
        do("nonblocking send on the empty queue", lambda: api.mq_send(q, b"y"))
        do("nonblocking send, full", lambda: api.mq_send(q, b"z"))
    finally:
        s.close()
    api.mq_close(q)


def waiter_priority(rec: Recorder) -> None:
    """ipc/mqueue.c wq_add queues sleepers by task priority (nice), FIFO
    among equals: the first woken is the highest priority, not the first."""
    api, do = rec.api, rec.do
    q = opened(rec, "queue", lambda: api.mq_open("/p", O_CREAT | O_EXCL | O_RDWR, 0o600, SMALL))

    def niced(n: int) -> Callable[[], Any]:
        recv = _receiver(api, "/p", 64)
        return lambda: (os.nice(n), recv())[1]
    s = PosixSleepers(rec)
    try:
        for tag, n in [("R nice 10", 10), ("R nice 0, first", 0), ("R nice 5", 5),
                       ("R nice 0, second", 0)]:
            s.start(tag, niced(n))
        for i in range(4):
            do(f"send {i}", lambda: api.mq_send(q, f"m{i}".encode()))
            rec.note(f"woken {i}", s.completed(1))
        do("fill", lambda: [api.mq_send(q, b"f") for _ in range(4)])
        for tag, n in [("S nice 7", 7), ("S nice 1", 1)]:
            send = _sender(api, "/p", tag.encode(), 0)
            s.start(tag, lambda n=n, send=send: (os.nice(n), send())[1])
        for i in range(2):
            do(f"make room {i}", lambda: api.mq_receive(q, 64))
            rec.note(f"sender woken {i}", s.completed(1))
        rec.note("left", [api.mq_receive(q, 64) for _ in range(4)])
    finally:
        s.close()
    api.mq_close(q)


def other_users(rec: Recorder) -> None:
    api, do = rec.api, rec.do
    os.umask(0)
    c = O_CREAT | O_EXCL | O_RDWR
    for mode in (0o600, 0o644, 0o640, 0o622, 0o666, 0o606, 0o000):
        do(f"root creates {mode:o}", lambda: api.mq_close(api.mq_open(f"/p{mode:o}", c, mode, SMALL)))

    def stranger() -> list:
        calls = []
        for mode in (0o600, 0o644, 0o622, 0o666, 0o606, 0o000):
            for acc, acc_name in [(O_RDONLY, "r"), (O_WRONLY, "w"), (O_RDWR, "rw")]:
                calls.append((f"{mode:o} {acc_name}", as_fd(
                    lambda mode=mode, acc=acc: api.mq_close(api.mq_open(f"/p{mode:o}", acc)))))
        calls += [
            ("O_CREAT on root's 600", as_fd(lambda: api.mq_open("/p600", O_CREAT | O_RDWR, 0o666, SMALL))),
            ("O_CREAT|O_EXCL on root's 600", as_fd(lambda: api.mq_open("/p600", c, 0o666, SMALL))),
            ("unlink root's 666", lambda: api.mq_unlink("/p666")),
            ("unlink missing", lambda: api.mq_unlink("/nothing")),
            ("send to 622", lambda: api.mq_send(api.mq_open("/p622", O_WRONLY), b"from nobody", 2)),
            ("getattr of 622 via a write-only fd", lambda: api.mq_getattr(api.mq_open("/p622", O_WRONLY))),
            ("notify on 622", lambda: api.mq_notify(api.mq_open("/p622", O_WRONLY), SigEvent(SIGEV_NONE))),
            ("create own 600", as_fd(lambda: api.mq_open("/mine", c, 0o600, SMALL))),
            ("create own 000, use it", lambda: api.mq_getattr(api.mq_open("/zero", c, 0o000, SMALL))),
            ("send via the creating fd of 000", lambda: api.mq_send(api.mq_open(
                "/zero2", c, 0o000, SMALL), b"ok")),
            ("reopen own 000", as_fd(lambda: api.mq_open("/zero", O_RDONLY))),
        ]
        return rec.outcomes(calls)
    rec.note("uid 65534", as_user(NOBODY, NOBODY, stranger, rec=rec))
    do("root reads nobody's message", lambda: api.mq_receive(api.mq_open("/p622", O_RDONLY), 64))
    do("root opens nobody's 600", lambda: api.mq_close(api.mq_open("/mine", O_RDWR)))
    do("root opens nobody's 000", lambda: api.mq_getattr(api.mq_open("/zero2", O_RDWR)))
    do("root unlinks nobody's", lambda: api.mq_unlink("/mine"))
    rec.note("uid 65534 in group 0", as_user(NOBODY, NOBODY, lambda: rec.outcomes([
        ("640 r", as_fd(lambda: api.mq_open("/p640", O_RDONLY))),
        ("640 w", as_fd(lambda: api.mq_open("/p640", O_WRONLY))),
        ("606 r: group bits first", as_fd(lambda: api.mq_open("/p606", O_RDONLY)))]),
        groups=(0,), rec=rec))
    # the umask applies to the mode at creation (prepare_open: mode & ~current_umask())
    for umask, name in [(0o077, "/um077"), (0o022, "/um022"), (0o002, "/um002")]:
        os.umask(umask)
        do(f"create 0666 under umask {umask:03o}", lambda: api.mq_close(api.mq_open(name, c, 0o666, SMALL)))
    os.umask(0)
    rec.note("uid 65534 against the umasks", as_user(NOBODY, NOBODY, lambda: rec.outcomes([
        (f"{name} {acc_name}", as_fd(lambda name=name, acc=acc: api.mq_close(api.mq_open(name, acc))))
        for name in ("/um077", "/um022", "/um002")
        for acc, acc_name in [(O_RDONLY, "r"), (O_WRONLY, "w")]]), rec=rec))
    rec.note("uid 65534's umask is its own", as_user(NOBODY, NOBODY, lambda: rec.outcomes([
        ("create under umask 0o066", as_fd(lambda: (os.umask(0o066),
                                                     api.mq_open("/nu", c, 0o666, SMALL))[1]))]),
        rec=rec))
    do("root opens it (root bypasses)", lambda: api.mq_close(api.mq_open("/nu", O_RDONLY)))
    rec.note("uid 1000 and /nu", as_user(1000, 1000, lambda: rec.outcomes([
        ("r", as_fd(lambda: api.mq_open("/nu", O_RDONLY)))]), rec=rec))


def fork_inherit(rec: Recorder) -> None:
    """An mqd is a descriptor: a forked child has it, open, on the same queue."""
    api, do = rec.api, rec.do
    import fcntl
    q = opened(rec, "queue", lambda: api.mq_open("/i", O_CREAT | O_EXCL | O_RDWR, 0o600, SMALL))
    do("close-on-exec", lambda: bool(fcntl.fcntl(q, fcntl.F_GETFD) & fcntl.FD_CLOEXEC))
    peer = Peer(rec, "child", {
        "getattr": lambda: api.mq_getattr(q),
        "send": lambda: api.mq_send(q, b"from the child", 3),
        "nonblocking": lambda: api.mq_setattr(q, MqAttr(mq_flags=O_NONBLOCK)),
        "close": lambda: api.mq_close(q),
    })
    try:
        peer.run("getattr")
        peer.run("send")
        do("receive the child's", lambda: api.mq_receive(q, 64))
        peer.run("nonblocking")  # the open file description is shared
        do("flags here too", lambda: api.mq_getattr(q))
        peer.run("close")
        do("still open here", lambda: api.mq_send(q, b"x"))
    finally:
        peer.exit()
    do("after the child's exit", lambda: api.mq_receive(q, 64))
    api.mq_close(q)


def poll_fd(rec: Recorder) -> None:
    """An mqd polls: readable with messages, writable while not full
    (mqueue_poll_file)."""
    api, do = rec.api, rec.do
    q = opened(rec, "queue (2, 8)", lambda: api.mq_open(
        "/po", O_CREAT | O_EXCL | O_RDWR, 0o600, MqAttr(0, 2, 8)))

    def state() -> tuple[bool, bool]:
        p = select.poll()
        p.register(q, select.POLLIN | select.POLLOUT)
        ev = dict(p.poll(0)).get(q, 0)
        return bool(ev & select.POLLIN), bool(ev & select.POLLOUT)
    rec.note("empty (in, out)", state())
    do("send", lambda: api.mq_send(q, b"a"))
    rec.note("one (in, out)", state())
    do("send", lambda: api.mq_send(q, b"b"))
    rec.note("full (in, out)", state())
    do("receive", lambda: api.mq_receive(q, 8))
    rec.note("one again (in, out)", state())
    api.mq_close(q)


SCENARIOS = [
    Scenario("mq names", "mq", names),
    Scenario("mq open flags and access modes", "mq", open_flags),
    Scenario("mq attributes and mq_setattr", "mq", attributes),
    Scenario("mq sysctls", "mq", sysctls),
    Scenario("mq limits of an unprivileged user", "mq", unprivileged_limits),
    Scenario("mq RLIMIT_MSGQUEUE", "mq", rlimit_msgqueue),
    Scenario("mq send/receive and priorities", "mq", send_receive),
    Scenario("mq timed operations", "mq", timeouts),
    Scenario("mq unlink while open", "mq", unlink_while_open),
    Scenario("mq_notify registration", "mq", notify_rules),
    Scenario("mq_notify delivery", "mq", notify_delivery),
    Scenario("mq_notify signal from another user", "mq", notify_other_user),
    Scenario("mq_notify SIGEV_THREAD", "mq", notify_thread),
    Scenario("mq blocking receivers", "mq", blocking_receivers),
    Scenario("mq blocked senders", "mq", blocked_senders),
    Scenario("mq waiters by scheduling priority", "mq", waiter_priority),
    Scenario("mq permissions of other users", "mq", other_users),
    Scenario("mq descriptor across fork", "mq", fork_inherit),
    Scenario("mq descriptor polls", "mq", poll_fd),
]
#: what the conformance test compares: all but the order of sleepers of
#: different nice values (uipc has no task priorities: docs/deviations.md)
COMPARED = [s for s in SCENARIOS if s.fn is not waiter_priority]


if __name__ == "__main__":
    sys.exit(kernel_only(SCENARIOS))
