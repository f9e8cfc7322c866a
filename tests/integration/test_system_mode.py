"""System mode: one daemon for every user, permissions from SO_PEERCRED.

Children drop to uid 1000/1001 with setuid, as real users would connect.
"""
from __future__ import annotations

import dataclasses
import errno
import os
import socket

import pytest

import uipc
from tests.conftest import DaemonProc
from tests.helpers import as_user, errno_of

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="system mode tests need root")


def test_socket_is_world_connectable(system_daemon: DaemonProc) -> None:
    assert os.stat(system_daemon.socket).st_mode & 0o777 == 0o666
    assert os.stat(system_daemon.socket.parent).st_mode & 0o777 == 0o755


def test_permissions_follow_peer_credentials(system_daemon: DaemonProc) -> None:
    uipc.unshare_namespace()
    q = uipc.msgget(0x700, uipc.IPC_CREAT | 0o640)
    ds = uipc.msgctl(q, uipc.IPC_STAT)
    uipc.msgctl(q, uipc.IPC_SET, dataclasses.replace(
        ds, msg_perm=dataclasses.replace(ds.msg_perm, gid=1000)))
    uipc.msgsnd(q, 1, b"root's")

    def stranger() -> list[int]:
        return [errno_of(lambda: uipc.msgget(0x700, 0o400)),
                errno_of(lambda: uipc.msgget(0x700, 0)),
                errno_of(lambda: uipc.msgsnd(q, 1, b"x", uipc.IPC_NOWAIT)),
                errno_of(lambda: uipc.msgrcv(q, 100, 0, uipc.IPC_NOWAIT)),
                errno_of(lambda: uipc.msgctl(q, uipc.IPC_STAT)),
                errno_of(lambda: uipc.msgctl(q, uipc.IPC_RMID)),
                errno_of(lambda: uipc.msgctl(0, uipc.MSG_STAT_ANY))]

    def group_member() -> list[int]:
        return [errno_of(lambda: uipc.msgget(0x700, 0o040)),
                errno_of(lambda: uipc.msgsnd(q, 1, b"x", uipc.IPC_NOWAIT)),
                errno_of(lambda: uipc.msgctl(q, uipc.IPC_STAT))]

    assert as_user(1001, 1001, stranger) == [errno.EACCES, 0, errno.EACCES, errno.EACCES,
                                             errno.EACCES, errno.EPERM, 0]
    assert as_user(1001, 1001, group_member, groups=[1000]) == [0, errno.EACCES, 0]
    # the queue and its message are untouched
    assert uipc.msgrcv(q, 100, 0, uipc.IPC_NOWAIT) == (1, b"root's")


def test_owner_created_object_belongs_to_that_user(system_daemon: DaemonProc) -> None:
    name = uipc.unshare_namespace()

    def create() -> tuple[int, int, int]:
        q = uipc.msgget(0x701, uipc.IPC_CREAT | 0o600)
        ds = uipc.msgctl(q, uipc.IPC_STAT)
        return q, ds.msg_perm.uid, ds.msg_perm.cgid

    q, uid, cgid = as_user(1000, 1000, create)  # type: ignore[misc]
    assert (uid, cgid) == (1000, 1000)
    assert as_user(1001, 1001, lambda: errno_of(lambda: uipc.msgctl(q, uipc.IPC_RMID))) == errno.EPERM
    # root (CAP_SYS_ADMIN) may remove it
    assert uipc.msgctl(q, uipc.IPC_RMID) == 0
    assert name


def test_claimed_identity_is_ignored(system_daemon: DaemonProc) -> None:
    """The hello frame's spare field cannot carry a pid: the daemon uses SO_PEERCRED."""
    from uipc import protocol as P
    uipc.unshare_namespace()

    def liar() -> tuple[int, int]:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(str(system_daemon.socket))
        s.sendall(P.encode_request(P.OPS_BY_NAME["hello"], 1, (P.VERSION, 0, 1),
                                   os.environ["UIPC_NAMESPACE"].encode()))
        dec = P.FrameDecoder(reply=True)
        while (f := dec.next_frame()) is P.NEED_DATA:
            dec.feed(s.recv(4096))
        _, pid_seen, *_ = P.HELLO_RESULT.unpack_from(f[2])  # type: ignore[index]
        s.close()
        return pid_seen, os.getpid()

    seen, real = as_user(1000, 1000, liar)  # type: ignore[misc]
    assert seen == real


def test_credentials_are_those_of_each_connection(system_daemon: DaemonProc) -> None:
    """A child that inherited root's attachments (and so connected at fork)
    and then dropped to uid 1001 is checked as uid 1001, as Linux checks the
    current credentials."""
    uipc.unshare_namespace()
    q = uipc.msgget(uipc.IPC_PRIVATE, 0o600)
    shm = uipc.shmget(uipc.IPC_PRIVATE, 4096, 0o600)
    addr = uipc.shmat(shm)   # a fork child now reports itself at once, as root
    try:
        assert as_user(1001, 1001, lambda: errno_of(lambda: uipc.msgsnd(q, 1, b"x"))) == errno.EACCES
        assert uipc.shmctl(shm, uipc.IPC_STAT).shm_nattch == 1  # the child's copy went with it
    finally:
        uipc.shmdt(addr)
