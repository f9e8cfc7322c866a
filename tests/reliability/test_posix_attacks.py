"""POSIX IPC attacked by real unprivileged processes (a --system daemon,
setuid children): nobody reaches another's descriptions, exhausts the daemon
or spoils another's readiness.
"""
from __future__ import annotations

import errno
import os
import select

import pytest

import uipc
from tests.helpers import Child, as_user, errno_of
from uipc import protocol as P

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="attackers with their own uids need "
                                "root to setuid them, and quotas are set by root")


def test_a_forged_descriptor_inode_names_nothing(system_daemon) -> None:
    """Descriptions are per process: uid 1000 sending the inode of a queue
    descriptor another process holds (which it can learn) as mqdes gets
    EBADF, and that queue is untouched."""
    uipc.unshare_namespace()
    r, w = os.pipe()
    done_r, done_w = os.pipe()

    def victim() -> int:  # root, holding the queue; the attacker is not its descendant
        q = uipc.mq_open("/victim", os.O_CREAT | os.O_RDWR, 0o600)
        os.write(w, os.fstat(q).st_ino.to_bytes(8, "little"))
        os.read(done_r, 1)
        n = uipc.mq_getattr(q).mq_curmsgs
        uipc.mq_close(q)
        uipc.mq_unlink("/victim")
        return n

    held = Child(victim)
    ino = int.from_bytes(os.read(r, 8), "little")

    def attacker() -> tuple[int, int]:
        from uipc.client.connection import call
        send = errno_of(lambda: call(P.OPS_BY_NAME["mq_timedsend"], (ino, 0, 0, 0, 0), b"forged"))
        recv = errno_of(lambda: call(P.OPS_BY_NAME["mq_timedreceive"], (ino, 8192, 0, 0, 0)))
        return send, recv

    try:
        assert as_user(1000, 1000, attacker) == (errno.EBADF, errno.EBADF)
    finally:
        os.write(done_w, b"d")
    assert held.result(timeout=30) == 0  # nothing reached the victim's queue
    for fd in (r, w, done_r, done_w):
        os.close(fd)


def test_open_descriptions_per_uid_are_bounded(system_daemon) -> None:
    """uipc.quota.files: each open description holds a descriptor in the
    daemon; past the quota mq_open is EMFILE naming it; closing gives it back;
    other uids are unaffected."""
    uipc.unshare_namespace()
    uipc.sysctl.set("uipc.quota.files", 3)
    old = os.umask(0)
    uipc.mq_close(uipc.mq_open("/shared", os.O_CREAT | os.O_RDWR, 0o666))
    os.umask(old)

    def attacker() -> tuple[int, str, bool]:
        fds = [uipc.mq_open("/shared", os.O_RDWR) for _ in range(3)]
        try:
            uipc.mq_open("/shared", os.O_RDWR)
            err, text = 0, ""
        except OSError as exc:
            err, text = exc.errno or 0, str(exc)
        uipc.mq_close(fds.pop())
        again = uipc.mq_open("/shared", os.O_RDWR) >= 0
        return err, text, again

    err, text, again = as_user(1000, 1000, attacker)
    assert err == errno.EMFILE and "uipc.quota.files" in text and again
    assert as_user(1001, 1001, lambda: uipc.mq_open("/shared", os.O_RDWR) >= 0)
    uipc.mq_unlink("/shared")


def test_queued_bytes_per_uid_are_bounded(system_daemon) -> None:
    """A user with a namespace of its own may raise its queue limits, and a
    lying client may claim any RLIMIT_MSGQUEUE, but the bytes it queues in
    the daemon count against uipc.quota.msg_bytes: ENOMEM (a failed
    load_msg) past it, and receiving gives them back."""
    uipc.sysctl.set("uipc.quota.msg_bytes", 64 * 1024)

    def attacker() -> tuple[int, str, bool]:
        uipc.unshare_namespace()
        uipc.sysctl.set("fs.mqueue.msg_max", 1000)
        uipc.sysctl.set("fs.mqueue.msgsize_max", 65536)
        from uipc.client import mqueue
        real = mqueue.rlimit_msgqueue
        mqueue.rlimit_msgqueue = lambda: 1 << 62  # the lie, on the wire
        try:
            q = uipc.mq_open("/hog", os.O_CREAT | os.O_RDWR, 0o600, uipc.MqAttr(0, 1000, 65536))
        finally:
            mqueue.rlimit_msgqueue = real
        sent = 0
        try:
            while True:
                uipc.mq_send(q, b"x" * 16384)
                sent += 1
        except OSError as exc:
            err, text = exc.errno or 0, str(exc)
        uipc.mq_receive(q, 65536)
        uipc.mq_send(q, b"x" * 16384)  # room again
        return err, text, sent == 4

    err, text, exact = as_user(1000, 1000, attacker)
    assert err == errno.ENOMEM and "uipc.quota.msg_bytes" in text and exact


def test_a_client_spoiling_its_own_doorbell_spoils_nobody_elses(system_daemon) -> None:
    """The doorbell is per open description: uid 1000 writing and reading its
    own mq descriptor changes what its select sees, never root's."""
    uipc.unshare_namespace()
    old = os.umask(0)
    q = uipc.mq_open("/bell", os.O_CREAT | os.O_RDWR, 0o666)
    os.umask(old)

    def attacker() -> bool:
        fd = uipc.mq_open("/bell", os.O_RDWR)
        os.write(fd, b"spoof" * 100)  # its doorbell now looks readable
        return bool(select.select([fd], [], [], 0)[0])

    assert as_user(1000, 1000, attacker)  # it fooled itself
    assert select.select([q], [], [], 0)[0] == []  # root's queue is still empty to root
    uipc.mq_send(q, b"real")
    assert select.select([q], [], [], 0)[0] == [q]
    uipc.mq_close(q)
    uipc.mq_unlink("/bell")


def test_another_users_shm_object_is_not_writable_through_a_read_only_open(system_daemon) -> None:
    """shm_open O_RDONLY of a 0644 object: the descriptor cannot be written,
    mapped writable or reopened writable through /proc."""
    uipc.unshare_namespace()
    fd = uipc.shm_open("/ro", os.O_CREAT | os.O_RDWR, 0o644)
    os.ftruncate(fd, 4096)
    os.pwrite(fd, b"root's", 0)

    def attacker() -> tuple[int, int, int, int]:
        import mmap
        ro = uipc.shm_open("/ro", os.O_RDONLY)
        write = errno_of(lambda: os.pwrite(ro, b"owned", 0))
        mapw = errno_of(lambda: mmap.mmap(ro, 4096, access=mmap.ACCESS_WRITE))
        reopen = errno_of(lambda: os.open(f"/proc/self/fd/{ro}", os.O_RDWR))
        rw = errno_of(lambda: uipc.shm_open("/ro", os.O_RDWR))
        return write, mapw, reopen, rw

    assert as_user(1000, 1000, attacker) == (errno.EBADF, errno.EACCES, errno.EACCES,
                                             errno.EACCES)
    assert os.pread(fd, 6, 0) == b"root's"
    os.close(fd)
    uipc.shm_unlink("/ro")
