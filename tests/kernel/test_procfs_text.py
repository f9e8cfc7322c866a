"""/proc/sysvipc/{msg,sem,shm} and the IPC /proc/sys files as text (the proc_read op).

Core tests on the fake clock: every row is compared with the kernel's own
printf format strings (sysvipc_{msg,sem,shm}_proc_show, rendered here by a
tiny C-printf), paging, the header, SHM_DEST/SHM_LOCKED, the sysctl files,
and who may open what for writing.  A differential test then populates a
real kernel IPC namespace (``unshare --ipc``) and the core the same way
(same pid, same times read back from the kernel's rows) and compares the
three files byte for byte.
"""
from __future__ import annotations

import dataclasses
import errno
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap

import pytest

from uipc.kernel import Cred
from uipc.kernel.mm import BytearrayAllocator
from uipc.kernel.procfs import PROC_PAGE, SYSVIPC_HEADERS
from uipc.uapi import IPC_CREAT, IPC_PRIVATE, IPC_RMID, IPC_SET, IPC_STAT
from uipc.uapi.shm import PAGE_SIZE, SHM_LOCK

from tests.kernel.conftest import World

MSG, SEM, SHM = "/proc/sysvipc/msg", "/proc/sysvipc/sem", "/proc/sysvipc/shm"

#: the format strings of ipc/msg.c, ipc/sem.c and ipc/shm.c (64-bit SIZE_SPEC)
MSG_FMT = "%10d %10d  %4o  %10lu %10lu %5u %5u %5u %5u %5u %5u %10llu %10llu %10llu\n"
SEM_FMT = "%10d %10d  %4o %10u %5u %5u %5u %5u %10llu %10llu\n"
SHM_FMT = ("%10d %10d  %4o %21lu %5u %5u  %5lu %5u %5u %5u %5u %10llu %10llu %10llu "
           "%21lu %21lu\n")


def cprintf(fmt: str, *args: int) -> str:
    """printf() for the integer conversions these formats use (%d, %u, %o with
    l/ll length modifiers: Python's % has no unsigned or length modifiers)."""
    return re.sub(r"%(\d*)(?:ll|l)?([duo])",
                  lambda m: "%" + m.group(1) + ("o" if m.group(2) == "o" else "d"), fmt) % args


def read(w: World, t, path: str, pos: int = 0, acc: int = 0) -> str:
    return w.call(t, "proc_read", pos, acc, path)


def rows(text: str) -> list[str]:
    return text.splitlines(keepends=True)


# --- the rows, against the kernel's format strings ---------------------------------
def test_msg_rows_are_sysvipc_msg_proc_show(w: World) -> None:
    t = w.proc_task(uid=1000, gid=100)
    q = w.call(t, "msgget", 0x7FFFFFFF, IPC_CREAT | 0o640)
    w.tick(5)
    w.call(t, "msgsnd", q, 3, b"x" * 17, 0)
    w.call(t, "msgsnd", q, 4, b"y" * 4, 0)
    neg = w.call(t, "msgget", -2, IPC_CREAT | 0o604)  # a key above INT_MAX prints negative
    r = w.proc_task(uid=0)
    w.tick(2)
    w.call(r, "msgrcv", q, 100, 4, 0)
    text = read(w, t, MSG)
    assert rows(text) == [
        SYSVIPC_HEADERS["msg"],
        cprintf(MSG_FMT, 0x7FFFFFFF, q, 0o640, 17, 1, t.pid, r.pid, 1000, 100, 1000, 100,
                1005, 1007, 1000),
        cprintf(MSG_FMT, -2, neg, 0o604, 0, 0, 0, 0, 1000, 100, 1000, 100, 0, 0, 1005),
    ]


def test_msg_uid_columns_follow_ipc_set(w: World) -> None:
    t = w.proc_task()
    q = w.call(t, "msgget", IPC_PRIVATE, 0o600)
    ds = w.call(t, "msgctl", q, IPC_STAT)[1]
    perm = dataclasses.replace(ds.msg_perm, uid=4242, gid=77, mode=0o666)
    w.tick(3)
    w.call(t, "msgctl", q, IPC_SET, dataclasses.replace(ds, msg_perm=perm))
    assert rows(read(w, t, MSG))[1] == cprintf(MSG_FMT, 0, q, 0o666, 0, 0, 0, 0, 4242, 77, 0, 0,
                                               0, 0, 1003)


def test_sem_rows_are_sysvipc_sem_proc_show(w: World) -> None:
    t = w.proc_task(uid=5, gid=6)
    s = w.call(t, "semget", 0x4D2, 7, IPC_CREAT | 0o660)
    other = w.call(t, "semget", IPC_PRIVATE, 1, 0o600)
    w.tick(9)
    w.call(t, "semop", s, [(2, 1, 0)])
    assert rows(read(w, t, SEM)) == [
        SYSVIPC_HEADERS["sem"],
        cprintf(SEM_FMT, 0x4D2, s, 0o660, 7, 5, 6, 5, 6, 1009, 1000),
        cprintf(SEM_FMT, 0, other, 0o600, 1, 5, 6, 5, 6, 0, 1000),
    ]


class TouchedPages(BytearrayAllocator):
    """Resident pages are the pages holding a nonzero byte (what a memfd's
    page cache holds once those pages were written)."""

    def resident_pages(self, handle: bytearray) -> int:
        return sum(1 for off in range(0, len(handle), PAGE_SIZE)
                   if any(handle[off:off + PAGE_SIZE]))


def test_shm_rows_are_sysvipc_shm_proc_show(w: World) -> None:
    w.k.memory = TouchedPages()
    t = w.proc_task(uid=1, gid=2)
    m = w.call(t, "shmget", 0x99, 3 * PAGE_SIZE + 1, IPC_CREAT | 0o640)
    w.tick(1)
    att = w.call(t, "shmat", m, 0, 0)
    att.handle[0] = att.handle[2 * PAGE_SIZE] = 1
    w.tick(1)
    other = w.call(t, "shmget", IPC_PRIVATE, 100, 0o600)
    assert rows(read(w, t, SHM)) == [
        SYSVIPC_HEADERS["shm"],
        cprintf(SHM_FMT, 0x99, m, 0o640, 3 * PAGE_SIZE + 1, t.pid, t.pid, 1, 1, 2, 1, 2, 1001,
                0, 1000, 2 * PAGE_SIZE, 0),
        cprintf(SHM_FMT, 0, other, 0o600, 100, t.pid, 0, 0, 1, 2, 1, 2, 0, 0, 1002, 0, 0),
    ]


def test_shm_perms_show_shm_dest_and_shm_locked(w: World) -> None:
    t = w.proc_task()
    m = w.call(t, "shmget", 0x77, PAGE_SIZE, IPC_CREAT | 0o600)
    att = w.call(t, "shmat", m, 0, 0)
    w.call(t, "shmctl", m, SHM_LOCK)
    w.call(t, "shmctl", m, IPC_RMID)
    row = rows(read(w, t, SHM))[1].split()
    # do_shm_rmid with an attachment: SHM_DEST set, the key hidden (IPC_PRIVATE)
    assert (row[0], row[2]) == ("0", "3600")
    w.call(t, "shmdt", att.attach_id)
    assert rows(read(w, t, SHM)) == [SYSVIPC_HEADERS["shm"]]


def test_empty_files_are_the_header_alone(w: World) -> None:
    t = w.proc_task()
    for kind, path in (("msg", MSG), ("sem", SEM), ("shm", SHM)):
        assert read(w, t, path) == SYSVIPC_HEADERS[kind]


def test_other_namespaces_are_not_shown(w: World) -> None:
    t = w.proc_task()
    w.call(t, "msgget", 0x10, IPC_CREAT | 0o600)
    w.k.create_namespace("other")
    o = w.proc_task(ns="other")
    assert read(w, o, MSG) == SYSVIPC_HEADERS["msg"]
    assert len(rows(read(w, t, MSG))) == 2


# --- pages --------------------------------------------------------------------------
def test_pages_resume_at_an_id_index(w: World) -> None:
    """A page holds PROC_PAGE rows; the next starts after the last row's id
    index (sysvipc_find_ipc from a position), the header only on the first."""
    t = w.proc_task()
    w.k.namespaces[""].msg_ctlmni = 32000
    ids = [w.call(t, "msgget", IPC_PRIVATE, 0o600) for _ in range(PROC_PAGE + 10)]
    for q in ids[5:9]:  # holes in the index space are skipped
        w.call(t, "msgctl", q, IPC_RMID)
    first = rows(read(w, t, MSG))
    assert first[0] == SYSVIPC_HEADERS["msg"] and len(first) == PROC_PAGE + 1
    last_id = int(first[-1].split()[1])
    second = rows(read(w, t, MSG, pos=(last_id & 0x7FFF) + 1))
    assert len(second) == len(ids) - 4 - PROC_PAGE
    assert SYSVIPC_HEADERS["msg"] not in second
    shown = [int(r.split()[1]) for r in first[1:] + second]
    assert shown == ids[:5] + ids[9:]
    assert read(w, t, MSG, pos=(shown[-1] & 0x7FFF) + 1) == ""


# --- /proc/sys ----------------------------------------------------------------------
@pytest.mark.parametrize("path, text", [
    ("/proc/sys/kernel/msgmax", "8192\n"),
    ("/proc/sys/kernel/msgmnb", "16384\n"),
    ("/proc/sys/kernel/msgmni", "32000\n"),
    ("/proc/sys/kernel/msg_next_id", "-1\n"),
    ("/proc/sys/kernel/sem", "32000\t1024000000\t500\t32000\n"),
    ("/proc/sys/kernel/sem_next_id", "-1\n"),
    ("/proc/sys/kernel/shmmax", "18446744073692774399\n"),
    ("/proc/sys/kernel/shmall", "18446744073692774399\n"),
    ("/proc/sys/kernel/shmmni", "4096\n"),
    ("/proc/sys/kernel/shm_rmid_forced", "0\n"),
    ("/proc/sys/kernel/shm_next_id", "-1\n"),
    ("/proc/sys/fs/mqueue/msg_max", "10\n"),
    ("/proc/sys/fs/mqueue/msgsize_max", "8192\n"),
    ("/proc/sys/fs/mqueue/msg_default", "10\n"),
    ("/proc/sys/fs/mqueue/msgsize_default", "8192\n"),
    ("/proc/sys/fs/mqueue/queues_max", "256\n"),
])
def test_sysctl_files_show_the_value_and_a_newline(w: World, path: str, text: str) -> None:
    t = w.proc_task(uid=1000)
    assert read(w, t, path) == text
    assert read(w, t, path, pos=1) == ""


def test_sysctl_files_follow_the_namespace(w: World) -> None:
    t = w.proc_task()
    w.call(t, "sysctl", 1, "kernel.sem=250 32000 32 128")
    w.call(t, "sysctl", 1, "kernel.msgmax=100")
    assert read(w, t, "/proc/sys/kernel/sem") == "250\t32000\t32\t128\n"
    assert read(w, t, "/proc/sys/kernel/msgmax") == "100\n"
    w.k.create_namespace("fresh")
    assert read(w, w.proc_task(ns="fresh"), "/proc/sys/kernel/msgmax") == "8192\n"


@pytest.mark.parametrize("path", [
    "/proc/sysvipc/msg/", "/proc/sysvipc/", "/proc/sysvipc/foo", "/proc/sys/kernel/msgmax/",
    "/proc/sys/kernel/shmmax2", "/proc/sys/uipc/quota/objects", "/proc/sys/kernel",
    "/proc/sys/kernel/hostname", "proc/sysvipc/msg", "",
])
def test_other_paths_are_enoent(w: World, path: str) -> None:
    assert w.err(w.proc_task(), "proc_read", 0, 0, path) == errno.ENOENT


def test_bad_arguments_are_einval(w: World) -> None:
    t = w.proc_task()
    assert w.err(t, "proc_read", -1, 0, MSG) == errno.EINVAL
    assert w.err(t, "proc_read", 0, 3, MSG) == errno.EINVAL


def test_who_may_open_for_writing(w: World) -> None:
    root, user = w.proc_task(uid=0), w.proc_task(uid=1000)
    # /proc/sysvipc/*: 0444, so only CAP_DAC_OVERRIDE opens them for writing
    assert read(w, root, MSG, acc=1) == SYSVIPC_HEADERS["msg"]
    assert w.err(user, "proc_read", 0, 1, MSG) == errno.EACCES
    assert w.err(user, "proc_read", 0, 2, SEM) == errno.EACCES
    # sysctls: the namespace's owner (and root) may set them; anyone reads them
    assert w.err(user, "proc_read", 0, 1, "/proc/sys/kernel/msgmax") == errno.EACCES
    assert read(w, user, "/proc/sys/kernel/msgmax") == "8192\n"
    assert read(w, root, "/proc/sys/kernel/msgmax", acc=2) == "8192\n"
    w.k.create_namespace("mine", owner_uid=1000)
    mine = w.proc_task(uid=1000, ns="mine")
    assert read(w, mine, "/proc/sys/fs/mqueue/msg_max", acc=1) == "10\n"
    stranger = w.proc_task(uid=1001, ns="mine")
    assert w.err(stranger, "proc_read", 0, 2, "/proc/sys/fs/mqueue/msg_max") == errno.EACCES


def test_a_cap_dac_override_holder_may_open_sysvipc_for_writing(w: World) -> None:
    p = w.k.new_process(4000, Cred.of(1000, 1000, caps=frozenset({"CAP_DAC_OVERRIDE"})))
    assert read(w, w.k.new_task(p), SHM, acc=2) == SYSVIPC_HEADERS["shm"]


# --- the kernel's own files --------------------------------------------------------
def test_headers_are_the_running_kernels() -> None:
    """The header lines are this (64-bit) machine's kernel's, byte for byte."""
    for kind in ("msg", "sem", "shm"):
        try:
            with open(f"/proc/sysvipc/{kind}") as f:
                header = f.readline()
        except OSError:
            pytest.skip("no /proc/sysvipc here")
        assert header == SYSVIPC_HEADERS[kind]


#: run natively in a fresh IPC namespace: create and use objects, print the
#: three files and what the replay needs (our pid, a child's pid)
NATIVE = textwrap.dedent(r"""
    import ctypes, json, os, struct
    libc = ctypes.CDLL(None, use_errno=True)
    libc.shmat.restype = ctypes.c_void_p
    libc.shmat.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_int]
    libc.shmdt.argtypes = [ctypes.c_void_p]
    def ok(v):
        if v == -1 or v == ctypes.c_void_p(-1).value:
            raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))
        return v
    CREAT, RMID, SET, STAT = 0o1000, 0, 1, 2
    class Msg(ctypes.Structure):
        _fields_ = [("mtype", ctypes.c_long), ("mtext", ctypes.c_char * 64)]
    q0 = ok(libc.msgget(0x1234, CREAT | 0o640))
    ok(libc.msgsnd(q0, ctypes.byref(Msg(1, b"hello")), 5, 0))
    ok(libc.msgsnd(q0, ctypes.byref(Msg(2, b"x" * 20)), 20, 0))
    ok(libc.msgrcv(q0, ctypes.byref(Msg()), 64, 1, 0))
    q1 = ok(libc.msgget(0, 0o600))
    q2 = ok(libc.msgget(-5, CREAT | 0o666))
    buf = ctypes.create_string_buffer(256)
    ok(libc.msgctl(q2, STAT, buf))
    struct.pack_into("II", buf, 4, 4242, 77)        # msg_perm.uid, gid
    struct.pack_into("H", buf, 20, 0o604)           # msg_perm.mode
    ok(libc.msgctl(q2, SET, buf))
    child = os.fork()
    if child == 0:
        os.setgid(5678); os.setuid(1234)
        ok(libc.msgget(0x2222, CREAT | 0o620))
        os._exit(0)
    os.waitpid(child, 0)
    s0 = ok(libc.semget(0x4321, 3, CREAT | 0o640))
    ok(libc.semop(s0, struct.pack("Hhh", 1, 2, 0), 1))
    s1 = ok(libc.semget(0, 1, 0o600))
    m0 = ok(libc.shmget(0x5555, 10000, CREAT | 0o640))
    a = ok(libc.shmat(m0, None, 0))
    ctypes.memset(a, 1, 1); ctypes.memset(a + 8192, 1, 1)
    ok(libc.shmdt(ctypes.c_void_p(a)))
    ok(libc.shmctl(m0, 11, None))                   # SHM_LOCK
    m1 = ok(libc.shmget(0, 4096, 0o600))
    b = ok(libc.shmat(m1, None, 0))
    ok(libc.shmctl(m1, RMID, None))                 # SHM_DEST, key hidden
    text = {k: open("/proc/sysvipc/" + k).read() for k in ("msg", "sem", "shm")}
    print(json.dumps({"pid": os.getpid(), "child": child, "text": text}))
""")


def _columns(text: str) -> list[list[int]]:
    return [[int(v, 8) if i == 2 else int(v) for i, v in enumerate(line.split())]
            for line in text.splitlines()[1:]]


@pytest.mark.kernel_oracle
def test_same_text_as_the_kernel(w: World) -> None:
    """The same objects, made the same way in a kernel namespace and in the
    core (same pids; each call at the time the kernel's row shows for it),
    give the same three files byte for byte."""
    if os.geteuid() != 0 or not shutil.which("unshare"):
        pytest.skip("needs root and unshare(1) for a private kernel IPC namespace")
    p = subprocess.run(["unshare", "--ipc", sys.executable, "-c", NATIVE], capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    native = json.loads(p.stdout)
    msg, sem, shm = (_columns(native["text"][k]) for k in ("msg", "sem", "shm"))
    w.k.memory = TouchedPages()
    me = w.k.new_task(w.k.new_process(native["pid"], Cred.of(0, 0)))

    def at(t: float, name: str, *args):
        w.now = t
        return w.call(me, name, *args)
    # msg: q0 (ctime, stime, rtime), q1, q2 (IPC_SET at its ctime), the child's
    q0 = at(msg[0][13], "msgget", 0x1234, IPC_CREAT | 0o640)
    at(msg[0][11], "msgsnd", q0, 1, b"hello", 0)
    at(msg[0][11], "msgsnd", q0, 2, b"x" * 20, 0)
    at(msg[0][12], "msgrcv", q0, 64, 1, 0)
    at(msg[1][13], "msgget", IPC_PRIVATE, 0o600)
    q2 = at(msg[2][13], "msgget", -5, IPC_CREAT | 0o666)
    ds = w.call(me, "msgctl", q2, IPC_STAT)[1]
    perm = dataclasses.replace(ds.msg_perm, uid=4242, gid=77, mode=0o604)
    at(msg[2][13], "msgctl", q2, IPC_SET, dataclasses.replace(ds, msg_perm=perm))
    kid = w.k.new_task(w.k.new_process(native["child"], Cred.of(1234, 5678)))
    w.now = msg[3][13]
    w.call(kid, "msgget", 0x2222, IPC_CREAT | 0o620)
    # sem
    s0 = at(sem[0][9], "semget", 0x4321, 3, IPC_CREAT | 0o640)
    at(sem[0][8], "semop", s0, [(1, 2, 0)])
    at(sem[1][9], "semget", IPC_PRIVATE, 1, 0o600)
    # shm: m0 touched on pages 0 and 2, detached, locked; m1 attached and removed
    m0 = at(shm[0][13], "shmget", 0x5555, 10000, IPC_CREAT | 0o640)
    a = at(shm[0][11], "shmat", m0, 0, 0)
    a.handle[0] = a.handle[8192] = 1
    at(shm[0][12], "shmdt", a.attach_id)
    at(shm[0][13], "shmctl", m0, SHM_LOCK)
    m1 = at(shm[1][13], "shmget", IPC_PRIVATE, 4096, 0o600)
    at(shm[1][11], "shmat", m1, 0, 0)
    at(shm[1][13], "shmctl", m1, IPC_RMID)
    for kind, path in (("msg", MSG), ("sem", SEM), ("shm", SHM)):
        assert read(w, me, path) == native["text"][kind], kind
