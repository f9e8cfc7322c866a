"""POSIX message queues in the client: mq_open(3) and friends, glibc's way.

A queue's descriptor is a real one: the daemon sends it with mq_open's
reply (a doorbell whose readiness follows the queue, so select, poll, epoll
and asyncio see it readable and writable when mq_poll would), and every
call names the queue by that descriptor's inode (``fstat``), so a
descriptor closed with ``os.close`` or replaced with ``dup2`` is never
mistaken for another.  ``mq_close`` tells the daemon, then closes it.

glibc's part is done here as glibc does it: the leading '/' of a name
(EINVAL without it), the umask applied to the mode, ``mq_send`` as
``mq_timedsend`` without a timeout, attributes only with O_CREAT, and
SIGEV_THREAD: a helper thread, started on the first such registration and
waiting in the daemon for fired notifications, runs each function in a
thread of its own with its ``sigev_value``.
"""
from __future__ import annotations

import errno
import itertools
import os
import resource
import threading
from typing import Any, Callable

from uipc import protocol as P
from uipc.client.args import abs_timespec, buffer, c_int, c_long, size_t
from uipc.client.connection import call, drop_connection, hold_anchor
from uipc.client.files import close, fd_inode, received
from uipc.uapi.mqueue import SIGEV_THREAD, MqAttr, SigEvent

_OPEN = P.OPS_BY_NAME["mq_open"]
_UNLINK = P.OPS_BY_NAME["mq_unlink"]
_SEND = P.OPS_BY_NAME["mq_timedsend"]
_RECV = P.OPS_BY_NAME["mq_timedreceive"]
_NOTIFY = P.OPS_BY_NAME["mq_notify"]
_GETSETATTR = P.OPS_BY_NAME["mq_getsetattr"]
_FILEINFO = P.OPS_BY_NAME["mq_fileinfo"]
_NOTIFY_WAIT = P.OPS_BY_NAME["mq_notify_wait"]
_MSG = P.MSG_RESULT
_U64 = (1 << 64) - 1

def umask() -> int:
    """The process's umask, without changing it (thread-safe: /proc)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    old = os.umask(0o22)
    os.umask(old)
    return old


def rlimit_msgqueue() -> int:
    soft = resource.getrlimit(resource.RLIMIT_MSGQUEUE)[0]
    return _U64 if soft == resource.RLIM_INFINITY else soft


def queue_name(name: Any) -> bytes:
    """glibc's check: one leading '/' (EINVAL without it), which the kernel does not see."""
    if isinstance(name, bytes):
        name = os.fsdecode(name)
    if not isinstance(name, str):
        raise TypeError(f"name must be str, not {type(name).__name__}")
    if not name.startswith("/"):
        raise OSError(22, "mq_open: the name must start with '/' (glibc)")
    return name[1:].encode("utf-8", "surrogateescape")


#: the inode naming the queue of a descriptor (uipc/client/files.py)
mqdes = fd_inode


def mq_open(name: str, oflag: int, mode: int = 0o600, attr: MqAttr | None = None) -> int:
    """Open (or, with O_CREAT, create) a message queue; returns its descriptor.  See mq_open(3)."""
    tail = queue_name(name)
    # the process's descriptors live as long as the process, not as one
    # thread's connection: a process whose connections all close is taken
    # as exec'd (its close-on-exec descriptors go)
    hold_anchor()
    oflag = c_int("oflag", oflag)
    mode = c_int("mode", mode) & 0xFFFFFFFF
    has_attr = bool(oflag & os.O_CREAT and attr is not None)
    if attr is not None and not isinstance(attr, MqAttr):
        raise TypeError(f"attr must be a uipc.MqAttr or None, not {type(attr).__name__}")
    maxmsg = c_long("mq_maxmsg", attr.mq_maxmsg) if has_attr else 0  # type: ignore[union-attr]
    msgsize = c_long("mq_msgsize", attr.mq_msgsize) if has_attr else 0  # type: ignore[union-attr]
    _, fds = call(_OPEN, (oflag, mode & ~umask() & 0xFFFFFFFF, int(has_attr), maxmsg, msgsize,
                          rlimit_msgqueue()), tail)
    return received(fds, "mq_open", cloexec=True)  # always close-on-exec, as Linux's


def mq_close(mqd: int) -> None:
    """Close a queue's descriptor (its notification goes if this process
    registered it; a dup of it keeps the queue open).  See mq_close(3)."""
    close(mqd)


def mq_unlink(name: str) -> None:
    """Remove a queue's name; it lives on while open.  See mq_unlink(3)."""
    try:
        call(_UNLINK, (), queue_name(name))
    except PermissionError as exc:  # glibc's mq_unlink reports the kernel's EPERM as EACCES
        if exc.errno == errno.EPERM:
            raise PermissionError(errno.EACCES, exc.strerror) from None
        raise


def _prio(prio: Any) -> int:
    return c_int("msg_prio", prio) & 0xFFFFFFFF


def mq_timedsend(mqd: int, msg: bytes, prio: int, abs_timeout: float | None) -> None:
    """Send, waiting at most until ``abs_timeout`` (CLOCK_REALTIME seconds) if full."""
    sec, nsec = (0, 0) if abs_timeout is None else abs_timespec("abs_timeout", abs_timeout)
    call(_SEND, (mqdes(mqd), _prio(prio), int(abs_timeout is not None), sec, nsec),
         buffer("msg", msg))


def mq_send(mqd: int, msg: bytes, prio: int = 0) -> None:
    """Send a message of priority ``prio`` (0 .. MQ_PRIO_MAX-1).  See mq_send(3)."""
    call(_SEND, (mqdes(mqd), _prio(prio), 0, 0, 0), buffer("msg", msg))


def mq_timedreceive(mqd: int, msgsize: int, abs_timeout: float | None) -> tuple[bytes, int]:
    """Receive the oldest message of the highest priority: (message, priority)."""
    sec, nsec = (0, 0) if abs_timeout is None else abs_timespec("abs_timeout", abs_timeout)
    payload = call(_RECV, (mqdes(mqd), size_t("msgsize", msgsize), int(abs_timeout is not None),
                           sec, nsec))[0]
    return payload[_MSG.size:], _MSG.unpack_from(payload)[0]


def mq_receive(mqd: int, msgsize: int) -> tuple[bytes, int]:
    """Receive a message: (message, priority).  See mq_receive(3)."""
    return mq_timedreceive(mqd, msgsize, None)


def _attr(values: list[int]) -> MqAttr:
    return MqAttr(*values)


def mq_getattr(mqd: int) -> MqAttr:
    """The queue's attributes and this descriptor's O_NONBLOCK.  See mq_getattr(3)."""
    return _attr(P.unpack_ctl_result(call(_GETSETATTR, (mqdes(mqd), 0, 0))[0]))


def mq_setattr(mqd: int, attr: MqAttr) -> MqAttr:
    """Set O_NONBLOCK (the only settable flag); returns the old attributes."""
    if not isinstance(attr, MqAttr):
        raise TypeError(f"attr must be a uipc.MqAttr, not {type(attr).__name__}")
    return _attr(P.unpack_ctl_result(call(_GETSETATTR, (mqdes(mqd), 1,
                                                        c_long("mq_flags", attr.mq_flags)))[0]))


def mq_fileinfo(mqd: int) -> str:
    """What reading the queue's file gives on Linux: ``QSIZE:... NOTIFY:...``."""
    return call(_FILEINFO, (mqdes(mqd),))[0].decode()


# --- mq_notify ---------------------------------------------------------------------
_cookies = itertools.count(1)
#: SIGEV_THREAD registrations of this process: cookie -> (function, value)
_threads: dict[int, tuple[Callable[[int], Any], int]] = {}
_helper: tuple[int, threading.Thread] | None = None
_helper_lock = threading.Lock()


def mq_notify(mqd: int, notification: SigEvent | None) -> None:
    """Register (or, with None, unregister) for a notification when a message
    arrives on the empty queue.  See mq_notify(3)."""
    ino = mqdes(mqd)
    if notification is None:
        call(_NOTIFY, (ino, 0, 0, 0, 0, 0))
        return
    if not isinstance(notification, SigEvent):
        raise TypeError(f"notification must be a uipc.SigEvent or None, not "
                        f"{type(notification).__name__}")
    n = notification
    notify, signo = c_int("sigev_notify", n.sigev_notify), c_int("sigev_signo", n.sigev_signo)
    value = c_long("sigev_value", n.sigev_value)
    cookie = 0
    if notify == SIGEV_THREAD:
        if not callable(n.sigev_notify_function):
            raise TypeError("SIGEV_THREAD needs a callable sigev_notify_function")
        _ensure_helper()
        cookie = next(_cookies)
        _threads[cookie] = (n.sigev_notify_function, value)
    try:
        call(_NOTIFY, (ino, 1, notify, signo, value, cookie))
    except BaseException:
        _threads.pop(cookie, None)
        raise


def _ensure_helper() -> None:
    """glibc's helper thread (its netlink socket's reader), once per process."""
    global _helper
    with _helper_lock:
        if _helper is not None and _helper[0] == os.getpid() and _helper[1].is_alive():
            return
        thread = threading.Thread(target=_helper_loop, daemon=True, name="uipc-mq-notify")
        _helper = (os.getpid(), thread)
        thread.start()


def _helper_loop() -> None:
    """Wait (on this thread's own connection) for fired notifications."""
    pid = os.getpid()
    try:
        while os.getpid() == pid:
            payload, _ = call(_NOTIFY_WAIT, ())
            (cookie,) = P.INT_RESULT.unpack_from(payload)
            entry = _threads.pop(abs(cookie), None)
            if entry is not None and cookie > 0:  # negative: removed without firing
                fn, value = entry
                threading.Thread(target=fn, args=(value,), daemon=True,
                                 name="uipc-mq-notify-fn").start()
    except Exception:  # noqa: BLE001 - the daemon went away: no more notifications
        pass
    finally:
        drop_connection()


def _forget_after_fork() -> None:
    global _helper
    _helper = None
    _threads.clear()  # registrations belong to the parent process


os.register_at_fork(after_in_child=_forget_after_fork)


# --- asyncio ------------------------------------------------------------------------
async def amq_send(mqd: int, msg: bytes, prio: int = 0, abs_timeout: float | None = None) -> None:
    """mq_timedsend awaited on the event loop (cancellable: nothing is left behind)."""
    from uipc.client.aio import acall
    sec, nsec = (0, 0) if abs_timeout is None else abs_timespec("abs_timeout", abs_timeout)
    await acall(_SEND, (mqdes(mqd), _prio(prio), int(abs_timeout is not None), sec, nsec),
                buffer("msg", msg))


async def amq_receive(mqd: int, msgsize: int, abs_timeout: float | None = None) -> tuple[bytes, int]:
    """mq_timedreceive awaited on the event loop: (message, priority)."""
    from uipc.client.aio import acall
    sec, nsec = (0, 0) if abs_timeout is None else abs_timespec("abs_timeout", abs_timeout)
    payload, _ = await acall(_RECV, (mqdes(mqd), size_t("msgsize", msgsize),
                                     int(abs_timeout is not None), sec, nsec))
    return payload[_MSG.size:], _MSG.unpack_from(payload)[0]
