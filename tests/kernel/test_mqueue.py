"""ipc/mqueue.c semantics on the pure core (uipc/kernel/mqueue.py), with a
fake clock: names, opening and permissions, attributes and limits, message
order, blocking and timeouts, mq_notify, unlink, the descriptor's life
(fork, exec, close, doorbells) and the namespace's end.

Where a rule was in doubt it was checked against the real kernel (6.18,
raw syscalls in a private IPC namespace).
"""
from __future__ import annotations

import errno as E
import itertools
from typing import Any

from uipc.kernel import BLOCKED, Cred, KernelError, Task
from uipc.kernel.file import (
    O_CLOEXEC, O_NONBLOCK, O_RDONLY, O_RDWR, O_WRONLY, POLLIN, POLLOUT, POLLRDNORM, POLLWRNORM,
    File, FileOps, PollTable, vfs_poll, vfs_read,
)
from uipc.kernel.mqueue import O_CREAT, O_EXCL, S_IFREG, MqueueInode
from uipc.kernel.sysctl import HARD_MSGMAX, HARD_MSGSIZEMAX
from uipc.kernel.syscalls import BY_NAME
from uipc.kernel.task import CAP_DAC_OVERRIDE, CAP_FOWNER, CAP_SYS_RESOURCE, ROOT_CAPS
from uipc.kernel.wait import CallbackEntry
from uipc.uapi.mqueue import (
    MQ_BYTES_MAX, MQ_PRIO_MAX, SI_MESGQ, SIGEV_NONE, SIGEV_SIGNAL, SIGEV_THREAD,
)

from tests.kernel.conftest import World

#: inode numbers of the daemon's doorbells: any unique numbers do
_inos = itertools.count(5000)
BIG = 1 << 40
SIGUSR1 = 10


# --- helpers -------------------------------------------------------------------
def mq_open(w: World, t: Task, name: str, oflag: int = O_CREAT | O_RDWR, mode: int = 0o600,
            attr: tuple[int, int] | None = None, rlimit: int = MQ_BYTES_MAX) -> int:
    """mq_open, then what the daemon does with the descriptor it sends:
    install the file under the doorbell's inode.  Returns that inode (mqdes)."""
    maxmsg, msgsize = attr if attr is not None else (0, 0)
    new = w.call(t, "mq_open", oflag, mode, int(attr is not None), maxmsg, msgsize, rlimit, name)
    ino = next(_inos)
    w.k.install_file(t, new, ino)
    return ino


def open_err(w: World, t: Task, name: str, oflag: int = O_CREAT | O_RDWR, mode: int = 0o600,
             attr: tuple[int, int] | None = None, rlimit: int = MQ_BYTES_MAX) -> int:
    maxmsg, msgsize = attr if attr is not None else (0, 0)
    return w.err(t, "mq_open", oflag, mode, int(attr is not None), maxmsg, msgsize, rlimit, name)


def timespec(abs_time: float | None) -> tuple[int, int, int]:
    """(timed, tv_sec, tv_nsec) of an absolute CLOCK_REALTIME time (None: no timeout)."""
    if abs_time is None:
        return 0, 0, 0
    sec = int(abs_time)
    return 1, sec, round((abs_time - sec) * 1e9)


def send(w: World, t: Task, mqd: int, data: bytes, prio: int = 0,
         timeout: float | None = None) -> Any:
    return w.call(t, "mq_timedsend", mqd, prio, *timespec(timeout), data)


def send_err(w: World, t: Task, mqd: int, data: bytes, prio: int = 0,
             timeout: float | None = None) -> int:
    return w.err(t, "mq_timedsend", mqd, prio, *timespec(timeout), data)


def recv(w: World, t: Task, mqd: int, size: int = HARD_MSGSIZEMAX,
         timeout: float | None = None) -> Any:
    return w.call(t, "mq_timedreceive", mqd, size, *timespec(timeout))


def recv_err(w: World, t: Task, mqd: int, size: int = HARD_MSGSIZEMAX,
             timeout: float | None = None) -> int:
    return w.err(t, "mq_timedreceive", mqd, size, *timespec(timeout))


def getattr_(w: World, t: Task, mqd: int) -> list[int]:
    """mq_getattr: [mq_flags, mq_maxmsg, mq_msgsize, mq_curmsgs]."""
    return w.call(t, "mq_getsetattr", mqd, 0, 0)


def setattr_(w: World, t: Task, mqd: int, flags: int) -> list[int]:
    return w.call(t, "mq_getsetattr", mqd, 1, flags)


def notify(w: World, t: Task, mqd: int, how: int | None, signo: int = 0, value: int = 0,
           cookie: int = 0) -> None:
    """mq_notify; ``how`` None: unregister (a NULL sigevent)."""
    if how is None:
        return w.call(t, "mq_notify", mqd, 0, 0, 0, 0, 0)
    return w.call(t, "mq_notify", mqd, 1, how, signo, value, cookie)


def notify_err(w: World, t: Task, mqd: int, how: int, signo: int = 0) -> int:
    return w.err(t, "mq_notify", mqd, 1, how, signo, 0, 0)


def close(w: World, t: Task, mqd: int) -> None:
    w.call(t, "close", mqd, 0)


def file_of(t: Task, mqd: int) -> File:
    return t.process.files.get(mqd)


def queue(t: Task, mqd: int) -> MqueueInode:
    return file_of(t, mqd).private_data


def task_with(w: World, uid: int, caps: frozenset[str], gid: int = 0) -> Task:
    """A process of ``uid`` with exactly ``caps`` (root without some capability)."""
    t = w.proc_task(uid=uid, gid=gid)
    t.process.cred = Cred.of(uid, gid, caps=caps)
    return t


def mq_bytes(maxmsg: int, msgsize: int) -> int:
    """What mqueue_get_inode charges to RLIMIT_MSGQUEUE (LP64: sizeof(struct
    msg_msg) == sizeof(struct posix_msg_tree_node) == 48)."""
    return maxmsg * msgsize + maxmsg * 48 + min(maxmsg, 32768) * 48


# --- names ---------------------------------------------------------------------
def test_names_that_are_not_one_component_are_eacces(w: World) -> None:
    t = w.proc_task()
    for name in (".", "..", "a/b", "/q", "q/"):
        assert open_err(w, t, name) == E.EACCES, name
        assert w.err(t, "mq_unlink", name) == E.EACCES, name
    # a '/' is found before the length is (lookup_one_len, then simple_lookup)
    assert open_err(w, t, "/" + "x" * 300) == E.EACCES
    assert w.k.init_ns.mq_root == {}


def test_names_longer_than_name_max_bytes_are_enametoolong(w: World) -> None:
    t = w.proc_task()
    ino = mq_open(w, t, "x" * 255)  # NAME_MAX itself is fine
    assert queue(t, ino).name == "x" * 255
    assert open_err(w, t, "x" * 256) == E.ENAMETOOLONG
    # bytes, not characters: 128 two-byte characters are 256 bytes
    assert open_err(w, t, "\u00e9" * 128) == E.ENAMETOOLONG
    assert open_err(w, t, "\u00e9" * 128, oflag=O_RDWR) == E.ENAMETOOLONG  # before ENOENT
    assert w.err(t, "mq_unlink", "x" * 256) == E.ENAMETOOLONG
    assert mq_open(w, t, "\u00e9" * 127)


def test_empty_name_is_enoent(w: World) -> None:
    t = w.proc_task()
    assert open_err(w, t, "") == E.ENOENT
    assert w.err(t, "mq_unlink", "") == E.ENOENT


# --- opening -------------------------------------------------------------------
def test_enoent_without_o_creat_and_eexist_with_o_excl(w: World) -> None:
    t = w.proc_task()
    assert open_err(w, t, "q", oflag=O_RDWR) == E.ENOENT
    assert "q" not in w.k.init_ns.mq_root
    a = mq_open(w, t, "q", O_CREAT | O_EXCL | O_RDWR)
    assert open_err(w, t, "q", O_CREAT | O_EXCL | O_RDWR) == E.EEXIST
    b = mq_open(w, t, "q", O_CREAT | O_RDWR)  # O_CREAT alone opens the existing queue
    c = mq_open(w, t, "q", O_EXCL | O_RDWR)  # O_EXCL without O_CREAT means nothing
    assert queue(t, a) is queue(t, b) is queue(t, c)
    assert file_of(t, a) is not file_of(t, b)  # each open is a new description
    send(w, t, a, b"one")
    assert recv(w, t, c) == (0, b"one")
    assert w.k.init_ns.mq_queues_count == 1


def test_access_mode_3_is_einval_on_an_existing_queue_only(w: World) -> None:
    t = w.proc_task(uid=1000)
    ino = mq_open(w, t, "q", O_CREAT | O_RDWR, 0o000)
    # EINVAL comes before the permission check (EACCES would follow: mode 000)
    assert open_err(w, t, "q", O_WRONLY | O_RDWR) == E.EINVAL
    assert open_err(w, t, "q", O_RDONLY) == E.EACCES
    # and EEXIST before EINVAL
    assert open_err(w, t, "q", O_CREAT | O_EXCL | O_WRONLY | O_RDWR) == E.EEXIST
    # creating with it works (prepare_open checks nothing on a new queue),
    # and gives a descriptor that can neither send nor receive (OPEN_FMODE(3) == 0)
    odd = mq_open(w, t, "r", O_CREAT | O_WRONLY | O_RDWR)
    assert send_err(w, t, odd, b"x") == E.EBADF
    assert recv_err(w, t, odd) == E.EBADF
    assert getattr_(w, t, odd) == [0, 10, 8192, 0]
    assert send(w, t, ino, b"x") is None


def test_opening_an_existing_queue_ignores_the_attributes(w: World) -> None:
    t = w.proc_task()
    a = mq_open(w, t, "q", attr=(3, 64))
    b = mq_open(w, t, "q", attr=(-1, -1))  # would be EINVAL on creation
    assert getattr_(w, t, b) == [0, 3, 64, 0]
    assert queue(t, a) is queue(t, b)


def test_mode_bits_decide_access_owner_group_other(w: World) -> None:
    owner = w.proc_task(uid=1000, gid=100)
    ino = mq_open(w, owner, "q", mode=0o640)
    info = queue(owner, ino)
    assert (info.i_mode, info.i_uid, info.i_gid) == (S_IFREG | 0o640, 1000, 100)
    assert mq_open(w, owner, "q", O_RDWR)
    member = w.proc_task(uid=1001, gid=5, groups=frozenset({100}))
    assert mq_open(w, member, "q", O_RDONLY)
    assert open_err(w, member, "q", O_WRONLY) == E.EACCES
    assert open_err(w, member, "q", O_RDWR) == E.EACCES
    other = w.proc_task(uid=1002, gid=5)
    assert open_err(w, other, "q", O_RDONLY) == E.EACCES
    # O_CREAT on an existing queue is an open: it checks the bits too
    assert open_err(w, other, "q", O_CREAT | O_RDONLY, 0o666) == E.EACCES


def test_owner_bits_apply_to_the_owner_even_when_others_may(w: World) -> None:
    owner = w.proc_task(uid=1000, gid=100)
    mq_open(w, owner, "q", mode=0o066)  # created: its first open needs no permission
    assert open_err(w, owner, "q", O_RDONLY) == E.EACCES
    assert mq_open(w, w.proc_task(uid=1001, gid=100), "q", O_RDWR)
    assert mq_open(w, w.proc_task(uid=1002, gid=7), "q", O_RDWR)


def test_creating_with_mode_0_opens_but_reopening_needs_cap_dac_override(w: World) -> None:
    owner = w.proc_task(uid=1000)
    ino = mq_open(w, owner, "q", O_CREAT | O_RDWR, 0)
    send(w, owner, ino, b"mine")  # the creating open is not checked against the mode
    assert open_err(w, owner, "q", O_RDONLY) == E.EACCES
    root = w.proc_task(uid=0)
    r = mq_open(w, root, "q", O_RDWR)  # CAP_DAC_OVERRIDE
    assert recv(w, root, r) == (0, b"mine")
    weak_root = task_with(w, 0, ROOT_CAPS - {CAP_DAC_OVERRIDE})
    assert open_err(w, weak_root, "q", O_RDONLY) == E.EACCES


# --- attributes and limits -------------------------------------------------------
def test_default_attributes_come_from_the_namespace(w: World) -> None:
    t = w.proc_task()
    ns = w.k.init_ns
    ns.mq_msg_default, ns.mq_msgsize_default = 4, 200
    assert getattr_(w, t, mq_open(w, t, "a")) == [0, 4, 200, 0]
    # min(max, default): a default above the maximum is cut down to it
    ns.mq_msg_max, ns.mq_msgsize_max = 3, 150
    assert getattr_(w, t, mq_open(w, t, "b")) == [0, 3, 150, 0]
    assert getattr_(w, t, mq_open(w, t, "c", attr=(2, 16))) == [0, 2, 16, 0]
    # attr 0 (a NULL mq_attr): the defaults, whatever the fields hold
    new = w.call(t, "mq_open", O_CREAT | O_RDWR, 0o600, 0, 2, 16, MQ_BYTES_MAX, "d")
    assert (new.file.private_data.mq_maxmsg, new.file.private_data.mq_msgsize) == (3, 150)


def test_attributes_are_validated_against_the_namespace_maxima(w: World) -> None:
    t = w.proc_task(uid=1000)
    for attr in ((0, 16), (-1, 16), (4, 0), (4, -5), (11, 16), (10, 8193)):
        assert open_err(w, t, "q", attr=attr) == E.EINVAL, attr
    assert w.k.init_ns.mq_queues_count == 0 and w.k.mq_user_bytes == {}
    assert getattr_(w, t, mq_open(w, t, "q", attr=(10, 8192))) == [0, 10, 8192, 0]
    w.k.init_ns.mq_msg_max = 20
    assert getattr_(w, t, mq_open(w, t, "r", attr=(20, 1))) == [0, 20, 1, 0]


def test_cap_sys_resource_lifts_the_maxima_to_the_hard_limits(w: World) -> None:
    root = w.proc_task(uid=0)
    assert getattr_(w, root, mq_open(w, root, "a", attr=(11, 8193), rlimit=BIG))[1:3] == [11, 8193]
    assert mq_open(w, root, "b", attr=(HARD_MSGMAX, 1), rlimit=BIG)
    assert mq_open(w, root, "c", attr=(1, HARD_MSGSIZEMAX), rlimit=BIG)
    assert open_err(w, root, "d", attr=(HARD_MSGMAX + 1, 1), rlimit=BIG) == E.EINVAL
    assert open_err(w, root, "d", attr=(1, HARD_MSGSIZEMAX + 1), rlimit=BIG) == E.EINVAL
    assert open_err(w, root, "d", attr=(0, 1), rlimit=BIG) == E.EINVAL
    weak_root = task_with(w, 0, ROOT_CAPS - {CAP_SYS_RESOURCE})
    assert open_err(w, weak_root, "d", attr=(11, 16), rlimit=BIG) == E.EINVAL


def test_enospc_at_queues_max_counts_unlinked_open_queues(w: World) -> None:
    ns = w.k.init_ns
    ns.mq_queues_max = 2
    t = w.proc_task(uid=1000)
    a = mq_open(w, t, "a")
    mq_open(w, t, "b")
    assert open_err(w, t, "c") == E.ENOSPC
    assert mq_open(w, t, "a", O_RDWR)  # opening an existing queue is not creating one
    w.call(t, "mq_unlink", "a")  # still open twice: it still counts
    assert ns.mq_queues_count == 2
    assert open_err(w, t, "c") == E.ENOSPC
    close(w, t, a)
    assert open_err(w, t, "c") == E.ENOSPC  # the other descriptor of "a" holds it
    for mqd in list(t.process.files.fds()):
        if queue(t, mqd).name == "a":
            close(w, t, mqd)
    assert ns.mq_queues_count == 1
    assert mq_open(w, t, "c")
    # CAP_SYS_RESOURCE passes queues_max
    root = w.proc_task(uid=0)
    assert mq_open(w, root, "d")
    assert ns.mq_queues_count == 3
    assert open_err(w, task_with(w, 0, ROOT_CAPS - {CAP_SYS_RESOURCE}), "e") == E.ENOSPC


def test_rlimit_msgqueue_counts_the_exact_bytes(w: World) -> None:
    """maxmsg*msgsize + maxmsg*48 + min(maxmsg, MQ_PRIO_MAX)*48, checked on
    the real kernel: (3, 100) needs 588 bytes, 587 is EMFILE."""
    t = w.proc_task(uid=1000)
    need = mq_bytes(3, 100)
    assert need == 588
    assert open_err(w, t, "q", attr=(3, 100), rlimit=need - 1) == E.EMFILE
    assert w.k.mq_user_bytes.get(1000, 0) == 0 and w.k.init_ns.mq_queues_count == 0
    mq_open(w, t, "q", attr=(3, 100), rlimit=need)
    assert w.k.mq_user_bytes[1000] == need
    # the limit is on what the uid holds in all, the new queue included
    assert open_err(w, t, "r", attr=(1, 1), rlimit=need + mq_bytes(1, 1) - 1) == E.EMFILE
    mq_open(w, t, "r", attr=(1, 1), rlimit=need + mq_bytes(1, 1))
    assert w.k.mq_user_bytes[1000] == need + 97
    # another uid has its own count
    assert mq_open(w, w.proc_task(uid=1001), "s", attr=(3, 100), rlimit=need)
    assert w.k.mq_user_bytes[1001] == need


def test_tree_nodes_are_charged_for_at_most_mq_prio_max_priorities(w: World) -> None:
    root = w.proc_task(uid=0)
    mq_open(w, root, "big", attr=(40000, 1), rlimit=BIG)
    assert w.k.mq_user_bytes[0] == 40000 + 40000 * 48 + 32768 * 48
    assert open_err(w, root, "b2", attr=(40000, 1), rlimit=2 * mq_bytes(40000, 1) - 1) == E.EMFILE


def test_bytes_are_charged_to_the_real_uid_the_queue_owned_by_the_effective(w: World) -> None:
    t = w.proc_task(uid=1000)
    t.process.cred = Cred(uid=1000, gid=100, euid=2000, egid=200)
    ino = mq_open(w, t, "q", attr=(1, 10))
    info = queue(t, ino)
    assert (info.i_uid, info.i_gid) == (2000, 200)
    assert w.k.mq_user_bytes == {1000: mq_bytes(1, 10)}
    # and the limit is on what the real uid holds (user_struct), for this
    # process and a plain uid 1000 one alike
    assert open_err(w, t, "r", attr=(1, 10), rlimit=mq_bytes(1, 10)) == E.EMFILE
    assert open_err(w, w.proc_task(uid=1000), "r", attr=(1, 10), rlimit=mq_bytes(1, 10)) \
        == E.EMFILE
    assert mq_open(w, w.proc_task(uid=2000), "r", attr=(1, 10), rlimit=mq_bytes(1, 10))


def test_bytes_and_count_go_back_when_unlinked_and_closed(w: World) -> None:
    ns = w.k.init_ns
    t = w.proc_task(uid=1000)
    a = mq_open(w, t, "a", attr=(2, 10))
    w.call(t, "mq_unlink", "a")
    assert w.k.mq_user_bytes[1000] == mq_bytes(2, 10) and ns.mq_queues_count == 1
    close(w, t, a)
    assert 1000 not in w.k.mq_user_bytes and ns.mq_queues_count == 0
    # closed but still named: held until the unlink, which frees it at once
    b = mq_open(w, t, "b", attr=(2, 10))
    close(w, t, b)
    assert w.k.mq_user_bytes[1000] == mq_bytes(2, 10) and ns.mq_queues_count == 1
    w.call(t, "mq_unlink", "b")
    assert 1000 not in w.k.mq_user_bytes and ns.mq_queues_count == 0


# --- messages ----------------------------------------------------------------------
def test_highest_priority_first_fifo_within_one(w: World) -> None:
    t = w.proc_task()
    ino = mq_open(w, t, "q")
    for prio, data in ((1, b"1a"), (5, b"5a"), (1, b"1b"), (3, b"3"), (5, b"5b"), (0, b"0"),
                       (MQ_PRIO_MAX - 1, b"top")):
        send(w, t, ino, data, prio)
    assert getattr_(w, t, ino)[3] == 7
    got = [recv(w, t, ino) for _ in range(7)]
    assert got == [(MQ_PRIO_MAX - 1, b"top"), (5, b"5a"), (5, b"5b"), (3, b"3"), (1, b"1a"),
                   (1, b"1b"), (0, b"0")]
    assert getattr_(w, t, ino)[3] == 0


def test_priority_must_be_below_mq_prio_max_checked_before_the_descriptor(w: World) -> None:
    t = w.proc_task()
    ino = mq_open(w, t, "q")
    assert send_err(w, t, ino, b"x", MQ_PRIO_MAX) == E.EINVAL
    assert send_err(w, t, 424242, b"x", MQ_PRIO_MAX) == E.EINVAL  # not EBADF
    assert getattr_(w, t, ino)[3] == 0


def test_emsgsize_for_long_messages_and_short_buffers(w: World) -> None:
    t = w.proc_task()
    ino = mq_open(w, t, "q", attr=(4, 16))
    assert send_err(w, t, ino, b"x" * 17) == E.EMSGSIZE
    send(w, t, ino, b"x" * 16)
    send(w, t, ino, b"")  # an empty message is a message
    assert recv_err(w, t, ino, 15) == E.EMSGSIZE  # smaller than mq_msgsize, not the message
    assert getattr_(w, t, ino)[3] == 2
    assert recv(w, t, ino, 16) == (0, b"x" * 16)
    assert recv(w, t, ino, 16) == (0, b"")


def test_ebadf_for_unknown_foreign_and_non_queue_descriptors(w: World) -> None:
    t = w.proc_task()
    ino = mq_open(w, t, "q")
    stranger = w.proc_task()
    t.process.files.install_at(w.k, 777, File(FileOps(), O_RDWR))  # some other kind of file
    for mqd, who in ((424242, t), (ino, stranger), (777, t)):
        assert send_err(w, who, mqd, b"x") == E.EBADF
        assert recv_err(w, who, mqd) == E.EBADF
        assert notify_err(w, who, mqd, SIGEV_NONE) == E.EBADF
        assert w.err(who, "mq_getsetattr", mqd, 0, 0) == E.EBADF
        assert w.err(who, "mq_fileinfo", mqd) == E.EBADF
    assert w.err(t, "close", 424242, 0) == E.EBADF
    assert w.err(stranger, "close", ino, 0) == E.EBADF
    assert w.err(t, "close", 0, 0) == E.EBADF


def test_ebadf_for_the_wrong_access_mode_before_emsgsize(w: World) -> None:
    t = w.proc_task()
    rd = mq_open(w, t, "q", O_CREAT | O_RDONLY, attr=(2, 8))
    wr = mq_open(w, t, "q", O_WRONLY)
    assert send_err(w, t, rd, b"x") == E.EBADF
    assert send_err(w, t, rd, b"x" * 100) == E.EBADF
    assert recv_err(w, t, wr) == E.EBADF
    assert recv_err(w, t, wr, 1) == E.EBADF
    send(w, t, wr, b"ok")
    assert recv(w, t, rd) == (0, b"ok")


def test_o_nonblock_gives_eagain_and_mq_setattr_changes_it(w: World) -> None:
    t = w.proc_task()
    nb = mq_open(w, t, "q", O_CREAT | O_RDWR | O_NONBLOCK, attr=(2, 8))
    blocking = mq_open(w, t, "q", O_RDWR)
    assert getattr_(w, t, nb) == [O_NONBLOCK, 2, 8, 0]
    assert getattr_(w, t, blocking) == [0, 2, 8, 0]  # its own description, its own flag
    assert recv_err(w, t, nb) == E.EAGAIN
    send(w, t, nb, b"1")
    send(w, t, nb, b"2")
    assert send_err(w, t, nb, b"3") == E.EAGAIN
    assert getattr_(w, t, nb) == [O_NONBLOCK, 2, 8, 2]
    # mq_setattr returns the old attributes and sets only O_NONBLOCK
    assert setattr_(w, t, nb, 0) == [O_NONBLOCK, 2, 8, 2]
    assert getattr_(w, t, nb) == [0, 2, 8, 2]
    assert send(w, t, nb, b"3") is BLOCKED
    w.k.interrupt(t)
    assert setattr_(w, t, blocking, O_NONBLOCK) == [0, 2, 8, 2]
    assert send_err(w, t, blocking, b"3") == E.EAGAIN


def test_mq_setattr_rejects_other_flags_before_the_descriptor(w: World) -> None:
    t = w.proc_task()
    ino = mq_open(w, t, "q")
    for flags in (O_NONBLOCK | O_RDWR, O_CLOEXEC, 1, -1):
        assert w.err(t, "mq_getsetattr", ino, 1, flags) == E.EINVAL
        assert w.err(t, "mq_getsetattr", 424242, 1, flags) == E.EINVAL
    assert getattr_(w, t, ino)[0] == 0
    assert w.call(t, "mq_getsetattr", ino, 0, -1) == [0, 10, 8192, 0]  # a get ignores mq_flags


# --- blocking -------------------------------------------------------------------------
def test_a_send_hands_the_message_to_the_first_waiting_receiver(w: World) -> None:
    t = w.proc_task()
    ino = mq_open(w, t, "q")
    r1, r2 = w.proc_task(), w.proc_task()
    m1, m2 = mq_open(w, r1, "q", O_RDONLY), mq_open(w, r2, "q", O_RDONLY)
    assert recv(w, r1, m1) is BLOCKED
    assert recv(w, r2, m2) is BLOCKED
    send(w, t, ino, b"first", 7)
    assert w.done() == [(r1, (7, b"first"))]  # FIFO among receivers
    assert getattr_(w, t, ino)[3] == 0  # it never entered the queue (pipelined_send)
    send(w, t, ino, b"second")
    assert w.done() == [(r2, (0, b"second"))]
    send(w, t, ino, b"third")
    assert w.done() == [] and getattr_(w, t, ino)[3] == 1


def test_a_receive_takes_the_first_waiting_senders_message_into_the_queue(w: World) -> None:
    t = w.proc_task()
    ino = mq_open(w, t, "q", attr=(2, 8))
    send(w, t, ino, b"l0", 1)
    send(w, t, ino, b"l1", 1)
    s1, s2 = w.proc_task(), w.proc_task()
    q1, q2 = mq_open(w, s1, "q", O_WRONLY), mq_open(w, s2, "q", O_WRONLY)
    assert send(w, s1, q1, b"hi", 5) is BLOCKED
    assert send(w, s2, q2, b"lo", 0) is BLOCKED
    assert recv(w, t, ino) == (1, b"l0")
    assert w.done() == [(s1, None)]  # the first sender, not the highest priority
    assert getattr_(w, t, ino)[3] == 2
    # its message entered in priority order (checked on the real kernel)
    assert recv(w, t, ino) == (5, b"hi")
    assert w.done() == [(s2, None)]
    assert [recv(w, t, ino) for _ in range(2)] == [(1, b"l1"), (0, b"lo")]
    assert recv(w, t, ino) is BLOCKED
    w.k.interrupt(t)


def test_timeouts_are_absolute_realtime_and_end_in_etimedout(w: World) -> None:
    t = w.proc_task()
    ino = mq_open(w, t, "q", attr=(1, 8))
    assert recv(w, t, ino, timeout=w.now + 5.5) is BLOCKED
    w.k.advance(w.now + 5.4)
    assert w.done() == []
    w.k.advance(w.now + 5.5)
    ((task, exc),) = w.done()
    assert task is t and isinstance(exc, KernelError) and exc.errno == E.ETIMEDOUT
    # a sender too; and one served in time is not timed out later
    send(w, t, ino, b"full")
    other = w.proc_task()
    o = mq_open(w, other, "q")
    w.tick(10)
    assert send(w, other, o, b"late", timeout=w.now + 2) is BLOCKED
    assert recv(w, t, ino) == (0, b"full")
    assert w.done() == [(other, None)]
    w.k.advance(w.now + 100)
    assert w.done() == []
    assert recv(w, t, ino) == (0, b"late")


def test_the_deadline_is_converted_to_the_monotonic_clock_when_the_call_sleeps(w: World) -> None:
    t = w.proc_task()
    ino = mq_open(w, t, "q")
    # realtime 1000, monotonic 50: a timeout at realtime 1003 is monotonic 53
    fn = BY_NAME["mq_timedreceive"].fn
    assert w.k.syscall(t, fn, ino, HARD_MSGSIZEMAX, *timespec(1003.0), now=1000.0,
                       mono=50.0) is BLOCKED
    w.k.advance(5000.0, 52.9)  # the wall clock moved far: not the deadline
    assert w.done() == []
    w.k.advance(0.0, 53.0)
    ((_, exc),) = w.done()
    assert exc.errno == E.ETIMEDOUT


def test_an_invalid_timespec_is_einval_before_anything_else(w: World) -> None:
    t = w.proc_task()
    ino = mq_open(w, t, "q")
    send(w, t, ino, b"x")  # neither empty nor full: neither call would sleep
    for sec, nsec in ((-1, 0), (0, -1), (w.now + 10, 1_000_000_000)):
        assert w.err(t, "mq_timedsend", ino, 0, 1, sec, nsec, b"y") == E.EINVAL
        assert w.err(t, "mq_timedreceive", ino, HARD_MSGSIZEMAX, 1, sec, nsec) == E.EINVAL
        assert w.err(t, "mq_timedsend", 424242, MQ_PRIO_MAX, 1, sec, nsec, b"y") == E.EINVAL
        assert w.err(t, "mq_timedreceive", 424242, 0, 1, sec, nsec) == E.EINVAL
    assert getattr_(w, t, ino)[3] == 1
    # without a timeout (mq_send, mq_receive) the fields are not looked at
    assert w.call(t, "mq_timedsend", ino, 0, 0, -1, -1, b"y") is None
    assert w.call(t, "mq_timedreceive", ino, HARD_MSGSIZEMAX, 0, -1, 2_000_000_000) == (0, b"x")
    assert w.call(t, "mq_timedsend", ino, 0, 1, 0, 999_999_999, b"z") is None  # valid, past


def test_a_past_timeout_fails_only_a_call_that_would_sleep(w: World) -> None:
    t = w.proc_task()
    ino = mq_open(w, t, "q", attr=(1, 8))
    past = w.now - 100
    assert recv_err(w, t, ino, timeout=past) == E.ETIMEDOUT
    assert recv_err(w, t, ino, timeout=w.now) == E.ETIMEDOUT  # "now" has passed too
    assert send(w, t, ino, b"a", timeout=past) is None
    assert send_err(w, t, ino, b"b", timeout=past) == E.ETIMEDOUT
    assert recv(w, t, ino, timeout=past) == (0, b"a")
    assert t.waiter is None and w.done() == []
    # O_NONBLOCK is asked before the timeout
    nb = mq_open(w, t, "q", O_RDWR | O_NONBLOCK)
    assert recv_err(w, t, nb, timeout=past) == E.EAGAIN


def test_a_signal_interrupts_a_sleeper_with_eintr(w: World) -> None:
    t = w.proc_task()
    ino = mq_open(w, t, "q", attr=(1, 8))
    r = w.proc_task()
    rq = mq_open(w, r, "q")
    assert recv(w, r, rq, timeout=w.now + 50) is BLOCKED
    assert w.k.interrupt(r) is True
    ((_, exc),) = w.done()
    assert exc.errno == E.EINTR
    send(w, t, ino, b"kept")  # nobody waits now: it is queued
    assert getattr_(w, t, ino)[3] == 1
    # an interrupted sender's message never enters the queue
    assert send(w, r, rq, b"lost") is BLOCKED
    w.k.interrupt(r)
    assert w.done()[0][1].errno == E.EINTR
    assert recv(w, t, ino) == (0, b"kept")
    assert getattr_(w, t, ino)[3] == 0
    w.k.advance(w.now + 100)  # its timer went with it
    assert w.done() == []


def test_a_receiver_that_exits_is_not_handed_a_message(w: World) -> None:
    t = w.proc_task()
    ino = mq_open(w, t, "q")
    r = w.proc_task()
    assert recv(w, r, mq_open(w, r, "q")) is BLOCKED
    w.k.exit_process(r.process)
    send(w, t, ino, b"x")
    assert w.done() == [] and getattr_(w, t, ino)[3] == 1


# --- mq_notify ---------------------------------------------------------------------------
def test_mq_notify_validates_the_sigevent_before_the_descriptor(w: World) -> None:
    t = w.proc_task()
    ino = mq_open(w, t, "q")
    assert notify_err(w, t, ino, 3) == E.EINVAL
    assert notify_err(w, t, ino, -1) == E.EINVAL
    assert notify_err(w, t, ino, SIGEV_SIGNAL, 65) == E.EINVAL  # valid_signal: 0 .. _NSIG
    assert notify_err(w, t, ino, SIGEV_SIGNAL, -1) == E.EINVAL
    assert notify_err(w, t, 424242, SIGEV_SIGNAL, 65) == E.EINVAL
    assert queue(t, ino).notify is None
    notify(w, t, ino, SIGEV_SIGNAL, 64)
    notify(w, t, ino, None)
    notify(w, t, ino, SIGEV_NONE, 65)  # only SIGEV_SIGNAL's signo is a signal
    assert queue(t, ino).notify is not None


def test_one_registration_per_queue_and_only_its_owner_removes_it(w: World) -> None:
    owner, other = w.proc_task(), w.proc_task()
    o = mq_open(w, owner, "q")
    x = mq_open(w, other, "q")
    notify(w, owner, o, SIGEV_SIGNAL, SIGUSR1)
    assert notify_err(w, owner, o, SIGEV_SIGNAL, SIGUSR1) == E.EBUSY  # even for its owner
    assert notify_err(w, other, x, SIGEV_NONE) == E.EBUSY
    notify(w, other, x, None)  # not the owner: silently nothing
    assert queue(owner, o).notify.owner is owner.process
    notify(w, w.thread(owner), o, None)  # any thread of the owning process
    assert queue(owner, o).notify is None
    notify(w, other, x, SIGEV_SIGNAL, 12)
    assert queue(owner, o).notify.owner is other.process


def test_a_notification_fires_once_on_empty_to_non_empty_with_the_senders_ids(w: World) -> None:
    owner = w.proc_task(uid=0)
    o = mq_open(w, owner, "q", mode=0o666)
    sender = w.proc_task(uid=1000)
    s = mq_open(w, sender, "q", O_WRONLY)
    notify(w, owner, o, SIGEV_SIGNAL, SIGUSR1, value=77)
    send(w, sender, s, b"a")
    assert w.k.signals == [(owner.pid, SIGUSR1, SI_MESGQ, sender.pid, 1000, 77)]
    assert SI_MESGQ == -3
    assert queue(owner, o).notify is None  # then it is gone
    recv(w, owner, o)
    send(w, sender, s, b"b")
    assert len(w.k.signals) == 1
    notify(w, owner, o, SIGEV_SIGNAL, SIGUSR1)  # registering again is allowed


def test_no_notification_for_a_queue_that_was_not_empty(w: World) -> None:
    t = w.proc_task()
    ino = mq_open(w, t, "q")
    send(w, t, ino, b"a")
    notify(w, t, ino, SIGEV_SIGNAL, SIGUSR1)
    send(w, t, ino, b"b")
    assert w.k.signals == [] and queue(t, ino).notify is not None
    recv(w, t, ino)
    recv(w, t, ino)
    assert w.k.signals == []
    send(w, t, ino, b"c")
    assert [s[1] for s in w.k.signals] == [SIGUSR1]


def test_no_notification_when_a_receiver_is_waiting(w: World) -> None:
    owner = w.proc_task()
    o = mq_open(w, owner, "q")
    notify(w, owner, o, SIGEV_SIGNAL, SIGUSR1)
    r = w.proc_task()
    assert recv(w, r, mq_open(w, r, "q")) is BLOCKED
    send(w, owner, o, b"piped")
    assert w.done() == [(r, (0, b"piped"))]
    assert w.k.signals == [] and queue(owner, o).notify is not None  # still registered
    assert notify_err(w, owner, o, SIGEV_NONE) == E.EBUSY
    send(w, owner, o, b"queued")
    assert len(w.k.signals) == 1


def test_signal_0_and_sigev_none_send_nothing_but_still_unregister(w: World) -> None:
    t = w.proc_task()
    ino = mq_open(w, t, "q")
    notify(w, t, ino, SIGEV_SIGNAL, 0)
    send(w, t, ino, b"a")
    assert w.k.signals == [] and queue(t, ino).notify is None
    recv(w, t, ino)
    notify(w, t, ino, SIGEV_NONE)
    send(w, t, ino, b"b")
    assert w.k.signals == [] and queue(t, ino).notify is None
    notify(w, t, ino, SIGEV_NONE)  # not EBUSY: it was unregistered


def test_sigev_thread_wakes_the_owners_helper_with_its_cookie(w: World) -> None:
    owner, other = w.proc_task(), w.proc_task()
    o = mq_open(w, owner, "q")
    helper = w.thread(owner)
    assert w.call(helper, "mq_notify_wait") is BLOCKED
    stranger = w.thread(other)
    assert w.call(stranger, "mq_notify_wait") is BLOCKED
    notify(w, owner, o, SIGEV_THREAD, signo=99, value=5, cookie=4242)
    send(w, owner, o, b"a")
    assert w.done() == [(helper, 4242)]  # only the owner's helper
    assert w.k.signals == [] and queue(owner, o).notify is None
    # fired while no helper waits: the cookie waits for it
    recv(w, owner, o)
    notify(w, owner, o, SIGEV_THREAD, cookie=7)
    send(w, owner, o, b"b")
    assert w.call(helper, "mq_notify_wait") == 7
    assert w.call(helper, "mq_notify_wait") is BLOCKED
    assert stranger.waiter is not None
    w.k.exit_task(stranger)
    w.k.exit_task(helper)


def test_the_owners_close_of_any_descriptor_of_the_queue_unregisters(w: World) -> None:
    owner, other = w.proc_task(), w.proc_task()
    o1 = mq_open(w, owner, "q")
    o2 = mq_open(w, owner, "q", O_RDONLY)  # another description of the same queue
    x = mq_open(w, other, "q")
    notify(w, owner, o1, SIGEV_SIGNAL, SIGUSR1)
    close(w, other, x)  # not the owner's close
    assert queue(owner, o1).notify is not None
    close(w, owner, o2)  # mqueue_flush_file: the inode's, whichever file
    assert queue(owner, o1).notify is None
    send(w, owner, o1, b"a")
    assert w.k.signals == []


def test_the_owners_exit_unregisters(w: World) -> None:
    owner, other = w.proc_task(), w.proc_task()
    notify(w, owner, mq_open(w, owner, "q"), SIGEV_SIGNAL, SIGUSR1)
    x = mq_open(w, other, "q")
    w.k.exit_process(owner.process)
    send(w, other, x, b"a")
    assert w.k.signals == []
    notify(w, other, x, SIGEV_NONE)


def test_a_fork_child_shares_the_descriptor_not_the_registration(w: World) -> None:
    parent = w.proc_task()
    ino = mq_open(w, parent, "q")
    notify(w, parent, ino, SIGEV_SIGNAL, SIGUSR1)
    child = w.proc_task()
    w.k.fork_process(parent.process, child.process, None)
    assert notify_err(w, child, ino, SIGEV_SIGNAL, 12) == E.EBUSY
    notify(w, child, ino, None)  # ignored: the child is not the owner
    close(w, child, ino)  # nor is its close the owner's
    assert queue(parent, ino).notify.owner is parent.process
    send(w, parent, ino, b"a")
    assert [s[:2] for s in w.k.signals] == [(parent.pid, SIGUSR1)]


# --- unlink -------------------------------------------------------------------------------
def test_unlink_frees_the_name_at_once_the_queue_lives_while_open(w: World) -> None:
    ns = w.k.init_ns
    t = w.proc_task(uid=1000)
    old = mq_open(w, t, "q", attr=(2, 10))
    send(w, t, old, b"old")
    w.call(t, "mq_unlink", "q")
    assert w.err(t, "mq_unlink", "q") == E.ENOENT
    assert open_err(w, t, "q", O_RDWR) == E.ENOENT
    new = mq_open(w, t, "q", O_CREAT | O_EXCL | O_RDWR, attr=(3, 10))
    assert queue(t, new) is not queue(t, old)
    assert ns.mq_queues_count == 2
    assert w.k.mq_user_bytes[1000] == mq_bytes(2, 10) + mq_bytes(3, 10)
    assert getattr_(w, t, new)[3] == 0
    assert recv(w, t, old) == (0, b"old")  # the unlinked queue still works
    send(w, t, old, b"still")
    close(w, t, old)
    assert ns.mq_queues_count == 1 and w.k.mq_user_bytes[1000] == mq_bytes(3, 10)
    assert list(ns.mq_root) == ["q"] and ns.mq_root["q"] is queue(t, new)


def test_unlink_needs_the_owner_the_directorys_owner_or_cap_fowner(w: World) -> None:
    ns = w.k.create_namespace("n", owner_uid=3000)
    creator = w.proc_task(uid=1000, ns="n")
    for name in ("a", "b", "c", "d"):
        mq_open(w, creator, name, mode=0o666)
    stranger = w.proc_task(uid=1001, ns="n")
    assert w.err(stranger, "mq_unlink", "a") == E.EPERM  # the root is sticky
    assert "a" in ns.mq_root
    w.call(creator, "mq_unlink", "a")
    w.call(w.proc_task(uid=3000, ns="n"), "mq_unlink", "b")  # the namespace's owner
    fowner = w.proc_task(uid=1002, ns="n")
    fowner.process.cred = Cred.of(1002, 0, caps=frozenset({CAP_FOWNER}))
    w.call(fowner, "mq_unlink", "c")
    assert list(ns.mq_root) == ["d"]


def test_an_undelivered_descriptor_leaves_no_hold_on_the_queue(w: World) -> None:
    t = w.proc_task(uid=1000)
    new = w.call(t, "mq_open", O_CREAT | O_RDWR, 0o600, 1, 1, 1, MQ_BYTES_MAX, "q")
    BY_NAME["mq_open"].undo(w.k, t, new)  # the daemon could not send it
    assert w.k.take_files_released() == []  # it never had a doorbell
    w.call(t, "mq_unlink", "q")
    assert w.k.mq_user_bytes == {} and w.k.init_ns.mq_queues_count == 0


# --- the descriptor's life -------------------------------------------------------------
def test_a_fork_child_shares_the_description_and_its_o_nonblock(w: World) -> None:
    parent = w.proc_task()
    ino = mq_open(w, parent, "q", attr=(2, 8))
    file = file_of(parent, ino)
    child = w.proc_task()
    w.k.fork_process(parent.process, child.process, None)
    assert file_of(child, ino) is file_of(parent, ino)
    setattr_(w, parent, ino, O_NONBLOCK)
    assert getattr_(w, child, ino)[0] == O_NONBLOCK
    assert recv_err(w, child, ino) == E.EAGAIN
    send(w, parent, ino, b"parent")
    assert recv(w, child, ino) == (0, b"parent")
    close(w, child, ino)
    assert recv_err(w, child, ino) == E.EBADF
    assert getattr_(w, parent, ino)[0] == O_NONBLOCK  # the parent's descriptor still holds it
    assert file.f_count == 1


def test_files_released_lists_a_file_once_its_last_reference_goes(w: World) -> None:
    parent = w.proc_task()
    ino = mq_open(w, parent, "q")
    file = file_of(parent, ino)
    child = w.proc_task()
    w.k.fork_process(parent.process, child.process, None)
    w.k.take_files_released()
    close(w, child, ino)
    assert w.k.take_files_released() == []
    close(w, parent, ino)
    assert w.k.take_files_released() == [file]
    assert file.f_count == 0
    assert file not in queue_of_name(w, "q").files


def queue_of_name(w: World, name: str) -> MqueueInode:
    return w.k.init_ns.mq_root[name]


def test_exec_closes_the_close_on_exec_descriptors(w: World) -> None:
    t = w.proc_task()
    ino = mq_open(w, t, "q", O_CREAT | O_RDWR | O_CLOEXEC)
    file = file_of(t, ino)
    notify(w, t, ino, SIGEV_SIGNAL, SIGUSR1)
    w.k.take_files_released()
    w.k.exec_process(t.process)
    assert ino not in t.process.files
    assert send_err(w, t, ino, b"x") == E.EBADF
    assert w.k.take_files_released() == [file]
    assert queue_of_name(w, "q").notify is None  # the close was the owner's


def test_exec_closes_every_queue_descriptor(w: World) -> None:
    t = w.proc_task()
    ino = mq_open(w, t, "q", O_CREAT | O_RDWR)
    w.k.exec_process(t.process)
    assert ino not in t.process.files


def test_a_closed_doorbell_closes_the_file_in_every_process(w: World) -> None:
    parent = w.proc_task()
    ino = mq_open(w, parent, "q")
    file = file_of(parent, ino)
    notify(w, parent, ino, SIGEV_SIGNAL, SIGUSR1)
    child = w.proc_task()
    w.k.fork_process(parent.process, child.process, None)
    other = w.proc_task()
    keep = mq_open(w, other, "q")
    w.call(other, "mq_unlink", "q")
    w.k.take_files_released()
    w.k.doorbell_closed(ino)
    assert ino not in parent.process.files and ino not in child.process.files
    assert w.k.take_files_released() == [file]
    info = queue(other, keep)
    assert info.notify is None and info.files == {file_of(other, keep)}
    assert w.k.init_ns.mq_queues_count == 1  # still open in `other`
    w.k.doorbell_closed(keep)
    assert w.k.init_ns.mq_queues_count == 0 and w.k.mq_user_bytes == {}
    w.k.doorbell_closed(ino)  # nothing names it any more: nothing happens


def test_poll_dirty_follows_the_mask_not_every_message(w: World) -> None:
    t = w.proc_task()
    a = mq_open(w, t, "q", attr=(3, 8))
    b = mq_open(w, t, "q")
    fa, fb = file_of(t, a), file_of(t, b)
    assert {fa, fb} <= w.k.poll_dirty  # a new doorbell starts from the mask
    info = queue(t, a)
    empty, partly, full = (POLLOUT | POLLWRNORM, POLLIN | POLLRDNORM | POLLOUT | POLLWRNORM,
                           POLLIN | POLLRDNORM)
    assert vfs_poll(w.k, t, fa, None) == empty

    def step(action: Any, dirty: bool, mask: int) -> None:
        w.k.poll_dirty.clear()
        action()
        assert w.k.poll_dirty == (info.files if dirty else set())  # every file of the queue
        assert {fa, fb} <= info.files
        assert vfs_poll(w.k, t, fa, None) == vfs_poll(w.k, t, fb, None) == mask

    step(lambda: send(w, t, a, b"1"), True, partly)
    step(lambda: send(w, t, a, b"2"), False, partly)
    step(lambda: send(w, t, a, b"3"), True, full)
    s = w.proc_task()
    sq = mq_open(w, s, "q")
    step(lambda: send(w, s, sq, b"4"), False, full)  # it sleeps
    step(lambda: recv(w, t, a), False, full)  # the sleeper's message takes the room
    assert w.done() == [(s, None)]
    step(lambda: recv(w, t, a), True, partly)
    step(lambda: recv(w, t, a), False, partly)
    step(lambda: recv(w, t, a), True, empty)
    r = w.proc_task()
    assert recv(w, r, mq_open(w, r, "q")) is BLOCKED
    step(lambda: send(w, t, a, b"piped"), False, empty)  # handed over, never queued
    assert w.done() == [(r, (0, b"piped"))]


def test_pollers_are_woken_naming_no_event(w: World) -> None:
    """do_mq_timedsend/do_mq_timedreceive: wake_up(&info->wait_q), no key."""
    t = w.proc_task()
    ino = mq_open(w, t, "q", attr=(1, 8))
    keys: list[Any] = []

    def record(k: Any, entry: CallbackEntry, key: Any) -> bool:
        keys.append(key)
        return True

    entries: list[CallbackEntry] = []

    def qproc(file: File, wq: Any, pt: PollTable) -> None:
        entry = CallbackEntry(record)
        wq.park(entry)
        entries.append(entry)

    assert vfs_poll(w.k, t, file_of(t, ino), PollTable(qproc)) == POLLOUT | POLLWRNORM
    assert len(entries) == 1
    send(w, t, ino, b"x")
    assert keys == [None]
    recv(w, t, ino)
    assert keys == [None, None]


def test_a_sleeper_keeps_its_queue_alive_after_its_descriptor_closes(w: World) -> None:
    t = w.proc_task(uid=1000)
    need = mq_bytes(1, 1)
    ino = mq_open(w, t, "q", attr=(1, 1), rlimit=need)
    w.call(t, "mq_unlink", "q")
    sleeper = w.thread(t)
    assert recv(w, sleeper, ino, timeout=w.now + 3) is BLOCKED
    close(w, t, ino)
    assert open_err(w, t, "r", attr=(1, 1), rlimit=need) == E.EMFILE
    w.k.advance(w.now + 3)
    assert w.done()[0][1].errno == E.ETIMEDOUT
    assert mq_open(w, t, "r", attr=(1, 1), rlimit=need)


# --- the queue's file --------------------------------------------------------------------
def test_fileinfo_is_mqueue_read_files_line(w: World) -> None:
    """The strings are what the real kernel's /dev/mqueue/<name> reads."""
    t = w.proc_task()
    ino = mq_open(w, t, "q", attr=(5, 16))
    send(w, t, ino, b"hello")
    send(w, t, ino, b"abc")
    info = w.call(t, "mq_fileinfo", ino)
    assert info == "QSIZE:8          NOTIFY:0     SIGNO:0     NOTIFY_PID:0     \n"
    notify(w, t, ino, SIGEV_SIGNAL, 12, value=7)
    pid = f"{t.pid:<6}"
    assert w.call(t, "mq_fileinfo", ino) == \
        f"QSIZE:8          NOTIFY:0     SIGNO:12    NOTIFY_PID:{pid}\n"
    notify(w, t, ino, None)
    notify(w, t, ino, SIGEV_NONE)
    assert w.call(t, "mq_fileinfo", ino) == \
        f"QSIZE:8          NOTIFY:1     SIGNO:0     NOTIFY_PID:{pid}\n"
    notify(w, t, ino, None)
    notify(w, t, ino, SIGEV_THREAD, 12, cookie=1)
    assert w.call(t, "mq_fileinfo", ino) == \
        f"QSIZE:8          NOTIFY:2     SIGNO:0     NOTIFY_PID:{pid}\n"
    recv(w, t, ino)
    assert w.call(t, "mq_fileinfo", ino).startswith("QSIZE:3          ")
    # read(2) of the descriptor gives the same bytes
    assert vfs_read(w.k, t, file_of(t, ino), 100) == w.call(t, "mq_fileinfo", ino).encode()
    assert vfs_read(w.k, t, file_of(t, ino), 5) == b"QSIZE"


# --- namespaces ------------------------------------------------------------------------
def test_freeing_a_namespace_drops_its_queues(w: World) -> None:
    ns = w.k.create_namespace("x")
    t = w.proc_task(uid=1000, ns="x")
    closed = mq_open(w, t, "closed", attr=(1, 8))
    close(w, t, closed)  # named, no file: only the namespace holds it
    mq_open(w, t, "open", attr=(2, 8))
    assert w.k.mq_user_bytes[1000] == mq_bytes(1, 8) + mq_bytes(2, 8)
    assert w.k.init_ns.mq_root == {}  # names are per namespace
    w.k.exit_process(t.process)
    assert "x" not in w.k.namespaces
    assert ns.mq_root == {} and w.k.mq_user_bytes == {}


def test_an_open_queue_outlives_its_namespace(w: World) -> None:
    w.k.create_namespace("x")
    parent = w.proc_task(uid=1000, ns="x")
    ino = mq_open(w, parent, "q", attr=(2, 8))
    child = w.proc_task(uid=1000, ns="x")
    w.k.fork_process(parent.process, child.process, None)
    w.k.unshare_ipc(child.process)
    w.k.exit_process(parent.process)
    assert "x" not in w.k.namespaces
    send(w, child, ino, b"alive")
    assert recv(w, child, ino) == (0, b"alive")
    assert w.k.mq_user_bytes[1000] == mq_bytes(2, 8)
    assert open_err(w, child, "q", O_RDWR) == E.ENOENT  # its new namespace has no such name
    close(w, child, ino)
    assert w.k.mq_user_bytes == {}


def test_close_with_another_descriptor_of_the_file_only_flushes(w: World) -> None:
    """close(2) of one of two descriptors of one open file (a dup): ->flush
    (the closer's notification goes), the file stays open for the process."""
    t = w.proc_task()
    q = mq_open(w, t, "dup")
    w.call(t, "mq_notify", q, 1, SIGEV_NONE, 0, 0, 0)
    w.call(t, "close", q, 1)
    assert queue(t, q).notify is None
    w.call(t, "mq_timedsend", q, 0, 0, 0, 0, b"still open")
    close(w, t, q)
    assert w.err(t, "mq_timedsend", q, 0, 0, 0, 0, b"x") == E.EBADF
