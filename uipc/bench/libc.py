"""The kernel's SysV IPC through ctypes, minimal, for the kernel rows; and
glibc's POSIX message queues (mq_open(3): the kernel's ipc/mqueue.c) and
named semaphores (sem_open(3): a file in /dev/shm and futexes, no system
call of its own).

Where the kernel rows run (:func:`kernel_ns_mode`), best first:

- ``private``: unshare(CLONE_NEWIPC), a fresh IPC namespace whose limits
  (/proc/sys/kernel/msg*) the row sets as uipc's.  Needs CAP_SYS_ADMIN.
- ``userns``: unshare(CLONE_NEWUSER | CLONE_NEWIPC) with our uid mapped to 0
  inside, as ``unshare --map-root-user --ipc`` does: the same fresh,
  settable namespace for a user who is not root, where the machine allows
  unprivileged user namespaces.
- ``shared``: the caller's own IPC namespace.  Every object is made with
  IPC_PRIVATE (a key no one else can find) and removed when the row ends;
  the machine's limits stay as they are (changing them needs root).
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
from typing import Callable

libc = ctypes.CDLL(None, use_errno=True)
libc.msgsnd.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
libc.msgrcv.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_long, ctypes.c_int]
libc.msgrcv.restype = ctypes.c_ssize_t
libc.semop.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t]
libc.shmget.argtypes = [ctypes.c_int, ctypes.c_size_t, ctypes.c_int]
libc.shmat.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_int]
libc.shmat.restype = ctypes.c_void_p
libc.shmdt.argtypes = [ctypes.c_void_p]
libc.msgctl.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_void_p]
libc.shmctl.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_void_p]


def _lib_with(symbol: str, *fallbacks: str) -> ctypes.CDLL:
    """The library defining ``symbol``: libc itself since glibc 2.34 (mq_* were
    in librt, sem_* in libpthread before)."""
    if hasattr(libc, symbol):
        return libc
    for name in fallbacks:
        found = ctypes.util.find_library(name)
        if found and hasattr(lib := ctypes.CDLL(found, use_errno=True), symbol):
            return lib
    return libc


class _MqAttr(ctypes.Structure):
    """struct mq_attr: four longs and four reserved ones."""

    _fields_ = [("mq_flags", ctypes.c_long), ("mq_maxmsg", ctypes.c_long),
                ("mq_msgsize", ctypes.c_long), ("mq_curmsgs", ctypes.c_long),
                ("_reserved", ctypes.c_long * 4)]


librt = _lib_with("mq_open", "rt")
# mq_open and sem_open are variadic; these are their four-argument (O_CREAT) forms
librt.mq_open.argtypes = [ctypes.c_char_p, ctypes.c_int, ctypes.c_uint, ctypes.POINTER(_MqAttr)]
librt.mq_send.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint]
librt.mq_receive.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_size_t,
                             ctypes.POINTER(ctypes.c_uint)]
librt.mq_receive.restype = ctypes.c_ssize_t
librt.mq_unlink.argtypes = [ctypes.c_char_p]
libsem = _lib_with("sem_open", "pthread")
libsem.sem_open.argtypes = [ctypes.c_char_p, ctypes.c_int, ctypes.c_uint, ctypes.c_uint]
libsem.sem_open.restype = ctypes.c_void_p
libsem.sem_post.argtypes = [ctypes.c_void_p]
libsem.sem_wait.argtypes = [ctypes.c_void_p]
libsem.sem_unlink.argtypes = [ctypes.c_char_p]
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
IPC_PRIVATE = 0
IPC_RMID = 0
PRIVATE, USERNS, SHARED = "private", "userns", "shared"
#: how each mode isolates the kernel rows, for the table's method notes
MODE_NOTES = {
    PRIVATE: "in a private IPC namespace (unshare(CLONE_NEWIPC)), limits set as uipc's",
    USERNS: "in a private IPC namespace made without root (unshare(CLONE_NEWUSER | "
            "CLONE_NEWIPC), our uid mapped to 0), limits set as uipc's",
    SHARED: "in this machine's IPC namespace (a private one is not permitted here): "
            "IPC_PRIVATE keys, every object removed afterwards, the machine's limits",
}


def check(ret: int) -> int:
    if ret == -1:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
    return ret


def unshare_ipc() -> None:
    check(libc.unshare(CLONE_NEWIPC))


def _write(path: str, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)


def unshare_user_ipc() -> None:
    """unshare(CLONE_NEWUSER | CLONE_NEWIPC), then map our uid and gid to 0:
    root of the new IPC namespace without being root.  setgroups must be
    denied before an unprivileged process may write gid_map."""
    uid, gid = os.geteuid(), os.getegid()
    check(libc.unshare(CLONE_NEWUSER | CLONE_NEWIPC))
    _write("/proc/self/setgroups", "deny")
    _write("/proc/self/uid_map", f"0 {uid} 1\n")
    _write("/proc/self/gid_map", f"0 {gid} 1\n")


def enter_kernel_ns(mode: str) -> None:
    """Move this (single-threaded) process where ``mode`` runs the kernel rows."""
    if mode == PRIVATE:
        unshare_ipc()
    elif mode == USERNS:
        unshare_user_ipc()
    elif mode != SHARED:
        raise ValueError(f"unknown kernel namespace mode {mode!r}")


def _works_in_child(fn: Callable[[], None]) -> bool:
    pid = os.fork()
    if pid == 0:
        try:
            fn()
        except BaseException:  # noqa: BLE001 - the answer is the exit status
            os._exit(1)
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    return status == 0


def kernel_ns_mode() -> str:
    """The best isolation this user may have for the kernel rows, tried in
    throw-away children: PRIVATE, USERNS or SHARED."""
    if _works_in_child(unshare_ipc):
        return PRIVATE
    if _works_in_child(lambda: (unshare_user_ipc(), write_sysctl("msgmnb", 16384))):
        return USERNS
    return SHARED


def read_sysctl(name: str) -> int:
    with open(f"/proc/sys/kernel/{name}") as f:
        return int(f.read().split()[0])


def write_sysctl(name: str, value: int) -> None:
    _write(f"/proc/sys/kernel/{name}", str(value))


def read_mq_sysctl(name: str) -> int:
    """/proc/sys/fs/mqueue/``name``: per IPC namespace, as kernel/msg*."""
    with open(f"/proc/sys/fs/mqueue/{name}") as f:
        return int(f.read().split()[0])


def write_mq_sysctl(name: str, value: int) -> None:
    _write(f"/proc/sys/fs/mqueue/{name}", str(value))


def msg_rmid(qid: int) -> None:
    check(libc.msgctl(qid, IPC_RMID, None))


def sem_rmid(semid: int) -> None:
    check(libc.semctl(semid, 0, IPC_RMID))


def shm_rmid(shmid: int) -> None:
    check(libc.shmctl(shmid, IPC_RMID, None))


class KernelMsg:
    """msgsnd/msgrcv with preallocated buffers (what a C program would do)."""

    def __init__(self, qid: int, size: int) -> None:
        self.qid = qid
        self.buf = ctypes.create_string_buffer(8 + max(size, 1))

    def send(self, mtype: int, size: int) -> None:
        ctypes.c_long.from_buffer(self.buf).value = mtype
        check(libc.msgsnd(self.qid, self.buf, size, 0))

    def recv(self, size: int, mtype: int) -> int:
        return check(libc.msgrcv(self.qid, self.buf, size, mtype, 0))


class _Sembuf(ctypes.Structure):
    _fields_ = [("sem_num", ctypes.c_ushort), ("sem_op", ctypes.c_short), ("sem_flg", ctypes.c_short)]


def sembuf(num: int, op: int) -> _Sembuf:
    return _Sembuf(num, op, 0)


#: every queue and semaphore a row makes is O_CREAT | O_EXCL: a name it owns
_NEW = os.O_CREAT | os.O_EXCL


def mq_open_new(name: str, maxmsg: int, msgsize: int) -> int:
    """mq_open a new queue O_RDWR, then mq_unlink it at once: it lives on in
    the descriptor (this process's and its fork children's) and no name is
    left in the namespace, whatever becomes of the row."""
    attr = _MqAttr(0, maxmsg, msgsize, 0)
    mqd = check(librt.mq_open(os.fsencode(name), os.O_RDWR | _NEW, 0o600, ctypes.byref(attr)))
    check(librt.mq_unlink(os.fsencode(name)))
    return mqd


class KernelMq:
    """mq_send/mq_receive with a preallocated buffer of the queue's msgsize
    (mq_receive's EMSGSIZE rule: never shorter than mq_msgsize)."""

    def __init__(self, mqd: int, msgsize: int) -> None:
        self.mqd = mqd
        self.buf = ctypes.create_string_buffer(msgsize)
        self.prio = ctypes.c_uint()

    def send(self, size: int) -> None:
        check(librt.mq_send(self.mqd, self.buf, size, 0))

    def recv(self) -> int:
        return check(librt.mq_receive(self.mqd, self.buf, len(self.buf), ctypes.byref(self.prio)))


def sem_open_new(name: str, value: int) -> int:
    """sem_open a new named semaphore (glibc's sem_t *, as an address), then
    sem_unlink it at once: the mapping outlives the name in this process and
    its fork children, and nothing is left in /dev/shm."""
    sem = libsem.sem_open(os.fsencode(name), _NEW, 0o600, value)
    if not sem:  # SEM_FAILED is NULL in glibc
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
    check(libsem.sem_unlink(os.fsencode(name)))
    return sem


def sem_post(sem: int) -> None:
    check(libsem.sem_post(sem))


def sem_wait(sem: int) -> None:
    check(libsem.sem_wait(sem))
