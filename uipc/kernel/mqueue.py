"""ipc/mqueue.c: POSIX message queues, as files, with mq_notify.

A queue is an inode of the namespace's mqueue filesystem
(:class:`MqueueInode`: ``struct mqueue_inode_info``), named in its root
directory (``ns.mq_root``); each ``mq_open`` opens a new :class:`File` on it
(its own O_NONBLOCK, its own access mode), as ``dentry_open`` does.  The
descriptor the client holds is a real one the daemon made (a doorbell whose
readiness it keeps equal to ``mqueue_poll_file``'s mask: uipc/server/
doorbell.py), and the process's FdTable names the file by that descriptor's
inode, which the client sends with every call (``mqdes`` on the wire).

Semantics, in mqueue.c's words:

* names: one component of at most NAME_MAX bytes (the client strips glibc's
  leading '/'); "" is ENOENT (``getname``); "." and ".." or a '/' inside are
  EACCES (``lookup_one_len``), longer is ENAMETOOLONG (``simple_lookup``);
  every descriptor is close-on-exec (``get_unused_fd_flags(O_CLOEXEC)``);
* ``prepare_open``: ENOENT without O_CREAT; EEXIST for O_CREAT|O_EXCL;
  EINVAL for O_WRONLY|O_RDWR on an existing queue; EACCES by the mode bits
  (``inode_permission``; CAP_DAC_OVERRIDE passes);
* creation (``mqueue_create_attr``, ``mqueue_get_inode``): ENOSPC past
  ``fs.mqueue.queues_max`` (unless CAP_SYS_RESOURCE); EINVAL for maxmsg or
  msgsize <= 0 or above ``msg_max``/``msgsize_max`` (with
  CAP_SYS_RESOURCE: above HARD_MSGMAX/HARD_MSGSIZEMAX); EMFILE when the
  creator's queues would hold more than its RLIMIT_MSGQUEUE, counting
  ``maxmsg * msgsize`` plus the ``mq_treesize`` overhead;
* messages: highest priority first, FIFO within one (``msg_insert`` /
  ``msg_get``); a sender finding a waiting receiver hands the message over
  (``pipelined_send``), a receiver that makes room takes the first waiting
  sender's message into the queue (``pipelined_receive``); waiters are
  served FIFO (``wq_add`` orders by task priority, which uipc does not have:
  every task has the same, and the order is then FIFO);
* pollers and epoll items (``info->wait_q``) are woken, naming no event,
  for every message queued (``__do_notify``) and every message taken while
  no sender waits (``pipelined_receive``), as Linux; the doorbells change
  only with the poll mask;
* timeouts are absolute CLOCK_REALTIME timespecs, checked first
  (``prepare_timeout``: EINVAL for tv_sec < 0 or tv_nsec outside [0, 1e9));
  one in the past fails only a call that would sleep (ETIMEDOUT); the
  deadline becomes CLOCK_MONOTONIC when the call sleeps, so setting the wall
  clock afterwards does not move it (docs/deviations.md);
* ``mq_notify``: one registration per queue (EBUSY), fired when a message
  is queued on an empty queue with no receiver waiting (``__do_notify``),
  then gone; removed when its process closes a descriptor of the queue
  (``mqueue_flush_file``) or unregisters.  SIGEV_SIGNAL becomes a real
  signal the daemon sends (``Kernel.signals``: si_code SI_MESGQ, the
  sender's pid and uid, the registered value); SIGEV_THREAD queues the
  registration's cookie for the process's helper thread, which waits in
  ``mq_notify_wait`` (glibc's helper thread reading its netlink socket).
"""
from __future__ import annotations

import bisect
import errno
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from uipc.kernel.entry import syscall
from uipc.kernel.errors import KernelError
from uipc.kernel.file import (
    FMODE_READ, FMODE_WRITE, O_ACCMODE, O_CLOEXEC, O_NONBLOCK, O_RDWR, O_WRONLY, POLLIN,
    POLLOUT, POLLRDNORM, POLLWRNORM, File, FileOps, NewFile, PollTable, alloc_file, poll_wait,
    undo_new_file,
)
from uipc.kernel.namei import generic_permission
from uipc.kernel.sysctl import HARD_MSGMAX, HARD_MSGSIZEMAX
from uipc.kernel.time import timespec_seconds
from uipc.kernel.task import CAP_FOWNER, CAP_SYS_RESOURCE, Task
from uipc.kernel.wait import WaitQueue, Waiter, wake_up
from uipc.uapi.mqueue import (
    MQ_PRIO_MAX, NAME_MAX, SI_MESGQ, SIGEV_NONE, SIGEV_SIGNAL, SIGEV_THREAD, SIZEOF_MSG_MSG,
    SIZEOF_MSG_TREE_NODE,
)

if TYPE_CHECKING:
    from uipc.kernel.kernel import Kernel
    from uipc.kernel.namespace import IpcNamespace
    from uipc.kernel.task import Process

O_CREAT = 0o100
O_EXCL = 0o200
#: _NSIG: valid_signal() accepts 0 .. 64
NSIG = 64
S_IFREG = 0o100000
S_IALLUGO = 0o7777
SEND, RECV = 0, 1


@dataclass(eq=False)
class MqWaiter(Waiter):
    """struct ext_wait_queue: a sleeper of a queue, which keeps the queue
    alive while it sleeps, as the file do_mq_timed* holds (fdget) does."""

    info: "MqueueInode | None" = None

    def unlink(self) -> None:
        super().unlink()
        info = self.info
        if info is not None:
            self.info = None
            info.sleepers -= 1
            if not info.sleepers and not info.files and not info.linked:
                evict_inode(info.kernel, info)


@dataclass(eq=False)
class MqSender(MqWaiter):
    """A sleeping mq_timedsend: its loaded message."""

    msg: tuple[int, bytes] = (0, b"")
    uid: int = -1


@dataclass(eq=False)
class MqReceiver(MqWaiter):
    """A sleeping mq_timedreceive."""


@dataclass(eq=False)
class NotifyWaiter(Waiter):
    """The process's SIGEV_THREAD helper, asleep in mq_notify_wait."""


@dataclass(eq=False)
class Notification:
    """info->notify and notify_owner: who registered, and how."""

    owner: "Process"
    sigev_notify: int
    sigev_signo: int = 0
    sigev_value: int = 0
    #: SIGEV_THREAD: what the owner's helper thread receives
    cookie: int = 0


@dataclass(eq=False)
class MqueueInode:
    """struct mqueue_inode_info with its inode."""

    ns: "IpcNamespace"
    name: str
    i_ino: int
    i_mode: int
    i_uid: int
    i_gid: int
    mq_maxmsg: int
    mq_msgsize: int
    #: info->user: the uid charged for its RLIMIT_MSGQUEUE bytes, and how many
    user: int = -1
    mq_bytes: int = 0
    mq_curmsgs: int = 0
    #: info->qsize: bytes of the queued messages
    qsize: int = 0
    i_atime: float = 0.0
    i_mtime: float = 0.0
    i_ctime: float = 0.0
    #: priority -> FIFO of (message, the uid charged for it) (the rbtree's
    #: leaves), and the priorities present, sorted
    tree: dict[int, deque[tuple[bytes, int]]] = field(default_factory=dict)
    prios: list[int] = field(default_factory=list)
    #: e_wait_q[SEND], e_wait_q[RECV]
    e_wait_q: tuple[WaitQueue, WaitQueue] = field(default_factory=lambda: (WaitQueue(), WaitQueue()))
    #: info->wait_q: pollers
    wait_q: WaitQueue = field(default_factory=WaitQueue)
    notify: Notification | None = None
    #: i_nlink: 1 while its name is in the directory
    linked: bool = True
    #: its open files (for their doorbells)
    files: set[File] = field(default_factory=set)
    #: the poll mask its files' doorbells last heard of
    mask: int = -1
    #: sends and receives done, for `uipc top`'s ops/s
    ops: int = 0
    #: tasks asleep on it (each keeps it alive, as its file would) and the
    #: kernel, for the last one's eviction
    sleepers: int = 0
    kernel: Any = None

    # --- the message tree
    def msg_insert(self, prio: int, data: bytes, uid: int) -> None:
        """msg_insert(): FIFO within a priority; ``uid`` was charged for it."""
        leaf = self.tree.get(prio)
        if leaf is None:
            leaf = self.tree[prio] = deque()
            bisect.insort(self.prios, prio)
        leaf.append((data, uid))
        self.mq_curmsgs += 1
        self.qsize += len(data)

    def msg_get(self) -> tuple[int, bytes]:
        """msg_get(): the oldest message of the highest priority."""
        prio = self.prios[-1]
        leaf = self.tree[prio]
        data, uid = leaf.popleft()
        if not leaf:
            del self.tree[prio]
            self.prios.pop()
        self.mq_curmsgs -= 1
        self.qsize -= len(data)
        if self.ns.quota is not None:
            self.ns.quota.uncharge("msg_bytes", uid, len(data))
        return prio, data

    def poll_mask(self) -> int:
        """mqueue_poll_file()'s mask."""
        mask = POLLIN | POLLRDNORM if self.mq_curmsgs else 0
        if self.mq_curmsgs < self.mq_maxmsg:
            mask |= POLLOUT | POLLWRNORM
        return mask

    def changed(self, k: "Kernel") -> None:
        """Its message count changed: the doorbells follow the mask, and only
        a changed mask touches them (a send to a non-empty queue writes
        none).  Pollers hear of it through :meth:`wake_pollers`."""
        mask = self.poll_mask()
        if mask != self.mask:
            self.mask = mask
            if self.files:
                k.poll_dirty.update(self.files)

    def wake_pollers(self, k: "Kernel") -> None:
        """``wake_up(&info->wait_q)``: pollers and epoll items, naming no
        event (every item hears it; one exclusive entry at most counts).
        Linux does it for every message queued (__do_notify's last line) and
        every message taken while no sender waits (pipelined_receive), not
        only when the mask changes: an edge-triggered epoll item reports a
        second message on a queue that had one."""
        if self.wait_q:
            wake_up(k, self.wait_q)

    def fileinfo(self) -> str:
        """mqueue_read_file(): what reading the queue's file gives."""
        n = self.notify
        return (f"QSIZE:{self.qsize:<10} NOTIFY:{n.sigev_notify if n else 0:<5} "
                f"SIGNO:{n.sigev_signo if n and n.sigev_notify == SIGEV_SIGNAL else 0:<5} "
                f"NOTIFY_PID:{n.owner.pid if n else 0:<6}\n")


class MqueueFileOps(FileOps):
    """mqueue_file_operations: flush, poll, read (the QSIZE line); release
    drops the inode when its name is gone too."""

    name = "mqueue"

    def poll(self, k: "Kernel", task: "Task | None", file: File, pt: PollTable | None) -> int:
        info: MqueueInode = file.private_data
        poll_wait(file, info.wait_q, pt)
        return info.poll_mask()

    def read(self, k: "Kernel", task: "Task", file: File, count: int) -> Any:
        return file.private_data.fileinfo().encode()[:count]

    def flush(self, k: "Kernel", process: "Process | None", file: File) -> None:
        """mqueue_flush_file(): its owner closing a descriptor unregisters."""
        info: MqueueInode = file.private_data
        if info.notify is not None and info.notify.owner is process:
            remove_notification(k, info)

    def release(self, k: "Kernel", task: "Task | None", file: File) -> None:
        info: MqueueInode = file.private_data
        info.files.discard(file)
        if not info.files and not info.linked and not info.sleepers:
            evict_inode(k, info)


MQUEUE_FOPS = MqueueFileOps()


# --- names, permissions, accounting --------------------------------------------
def lookup(name: str) -> str:
    """lookup_one_len() + simple_lookup() on the mqueue root: the checks a
    name passes before the directory is searched."""
    if not name:  # getname() of an empty string (mq_open("/") in glibc's terms)
        raise KernelError(errno.ENOENT, "empty mqueue name")
    if name in (".", "..") or "/" in name or "\0" in name:
        raise KernelError(errno.EACCES, f"mqueue name {name!r} is not one path component "
                          "(empty, '.', '..' or containing '/')")
    if len(name.encode()) > NAME_MAX:
        raise KernelError(errno.ENAMETOOLONG, f"mqueue name of {len(name.encode())} bytes "
                          f"exceeds NAME_MAX ({NAME_MAX})")
    return name


#: inode_permission() on a queue's inode is generic_permission()
inode_permission = generic_permission


def mq_treesize(maxmsg: int) -> int:
    """The pinned overhead mqueue_get_inode charges besides the messages."""
    return maxmsg * SIZEOF_MSG_MSG + min(maxmsg, MQ_PRIO_MAX) * SIZEOF_MSG_TREE_NODE


def evict_inode(k: "Kernel", info: MqueueInode) -> None:
    """mqueue_evict_inode(): no name and no open file: messages freed, the
    creator's bytes and the namespace's count given back."""
    while info.mq_curmsgs:
        info.msg_get()  # each gives its sender's quota back
    info.tree.clear()
    info.prios.clear()
    info.mq_curmsgs = info.qsize = 0
    if info.user >= 0:
        left = k.mq_user_bytes.get(info.user, 0) - info.mq_bytes
        if left > 0:
            k.mq_user_bytes[info.user] = left
        else:
            k.mq_user_bytes.pop(info.user, None)
        info.user = -1
        info.ns.mq_queues_count -= 1
        info.ns.mq_all.pop(info.i_ino, None)
        if info.ns.quota is not None:
            info.ns.quota.uncharge("objects", info.i_uid, key=(info.ns, info.i_uid))


def _file_of(task: Task, mqdes: int) -> File:
    """fdget() + the f_op check: EBADF unless ``mqdes`` names an mqueue file."""
    files = task.process.files
    file = files.get(mqdes) if mqdes in files else None
    if file is None or file.f_op is not MQUEUE_FOPS:
        raise KernelError(errno.EBADF, f"descriptor (inode {mqdes}) is not an open message "
                          "queue of this process")
    return file


def _deadline(k: "Kernel", timed: int, tv_sec: int, tv_nsec: int) -> float | None:
    """prepare_timeout(): EINVAL for an invalid timespec; the absolute
    CLOCK_REALTIME time as a CLOCK_MONOTONIC deadline (None: no timeout)."""
    if not timed:
        return None
    return k.mono + (timespec_seconds(tv_sec, tv_nsec, "timeout") - k.now)


def _expired(k: "Kernel", deadline: float | None) -> bool:
    return deadline is not None and deadline <= k.mono


# --- the syscalls ---------------------------------------------------------------
@syscall(20, "mq_open", "oflag:i32 mode:u32 attr:u8 maxmsg:i64 msgsize:i64 rlimit:u64 name:text",
         result="file", fds=1, undo=undo_new_file,
         doc="mq_open(3) (the name without glibc's leading '/'); attr 0: the defaults; rlimit: "
             "the caller's RLIMIT_MSGQUEUE. Replies with the queue's descriptor (SCM_RIGHTS); "
             "calls name it by that descriptor's st_ino")
def sys_mq_open(k: "Kernel", task: Task, oflag: int, mode: int, attr: int, maxmsg: int,
                msgsize: int, rlimit: int, name: str) -> NewFile:
    """do_mq_open(): open (or create) the queue ``name``; returns its new
    file, which the daemon installs under its real descriptor's inode."""
    ns = task.ns
    lookup(name)
    cred = task.cred
    if k.quota.held("files", cred.euid) >= k.quota.limits.files:
        raise KernelError(errno.EMFILE, f"uid {cred.euid} holds {k.quota.limits.files} open "
                          "files: the quota uipc.quota.files")
    info: MqueueInode | None = ns.mq_root.get(name)
    if info is None:
        if not oflag & O_CREAT:
            raise KernelError(errno.ENOENT, f"no message queue named /{name} (O_CREAT not given)")
        info = _create(k, task, ns, name, mode, maxmsg if attr else None,
                       msgsize if attr else None, rlimit)
    else:
        if oflag & (O_CREAT | O_EXCL) == O_CREAT | O_EXCL:
            raise KernelError(errno.EEXIST, f"message queue /{name} exists (O_CREAT|O_EXCL)")
        if oflag & O_ACCMODE == O_RDWR | O_WRONLY:
            raise KernelError(errno.EINVAL, "access mode O_WRONLY|O_RDWR is not one")
        acc = (4, 2, 6)[oflag & O_ACCMODE]
        if not inode_permission(cred, info.i_uid, info.i_gid, info.i_mode, acc):
            raise KernelError(errno.EACCES, f"message queue /{name} (mode {info.i_mode & 0o777:o}, "
                              f"uid {info.i_uid}) does not grant "
                              f"{('read', 'write', 'read and write')[oflag & O_ACCMODE]} access "
                              f"to uid {cred.euid}")
    file = alloc_file(k, task, MQUEUE_FOPS, oflag & ~(O_CREAT | O_EXCL | O_CLOEXEC | 0o1000), info)
    info.files.add(file)
    return NewFile(file, True)  # do_mq_open: get_unused_fd_flags(O_CLOEXEC), always


def _create(k: "Kernel", task: Task, ns: "IpcNamespace", name: str, mode: int,
            maxmsg: int | None, msgsize: int | None, rlimit: int) -> MqueueInode:
    """mqueue_create_attr() + mqueue_get_inode()."""
    cred = task.cred
    if ns.mq_queues_count >= ns.mq_queues_max and not cred.capable(CAP_SYS_RESOURCE):
        raise KernelError(errno.ENOSPC, f"the namespace has {ns.mq_queues_count} queues: "
                          f"fs.mqueue.queues_max ({ns.mq_queues_max})")
    if maxmsg is None or msgsize is None:
        maxmsg = min(ns.mq_msg_max, ns.mq_msg_default)
        msgsize = min(ns.mq_msgsize_max, ns.mq_msgsize_default)
    if maxmsg <= 0 or msgsize <= 0:
        raise KernelError(errno.EINVAL, f"mq_maxmsg {maxmsg} and mq_msgsize {msgsize} must be "
                          "positive")
    if cred.capable(CAP_SYS_RESOURCE):
        if maxmsg > HARD_MSGMAX or msgsize > HARD_MSGSIZEMAX:
            raise KernelError(errno.EINVAL, f"mq_maxmsg {maxmsg} / mq_msgsize {msgsize} exceed "
                              f"the hard limits HARD_MSGMAX ({HARD_MSGMAX}) / HARD_MSGSIZEMAX "
                              f"({HARD_MSGSIZEMAX})")
    elif maxmsg > ns.mq_msg_max or msgsize > ns.mq_msgsize_max:
        raise KernelError(errno.EINVAL, f"mq_maxmsg {maxmsg} / mq_msgsize {msgsize} exceed "
                          f"fs.mqueue.msg_max ({ns.mq_msg_max}) / fs.mqueue.msgsize_max "
                          f"({ns.mq_msgsize_max}); CAP_SYS_RESOURCE lifts them")
    mq_bytes = maxmsg * msgsize + mq_treesize(maxmsg)
    held = k.mq_user_bytes.get(cred.uid, 0)
    if held + mq_bytes > rlimit:
        raise KernelError(errno.EMFILE, f"uid {cred.uid}'s queues hold {held} bytes; "
                          f"{maxmsg} x {msgsize} + {mq_treesize(maxmsg)} more would exceed its "
                          f"RLIMIT_MSGQUEUE ({rlimit})")
    if ns.quota is not None:
        ns.quota.charge("objects", cred.euid, key=(ns, cred.euid))
    k.mq_user_bytes[cred.uid] = held + mq_bytes
    ns.mq_queues_count += 1
    ns.mq_inodes += 1
    now = k.now
    info = MqueueInode(ns=ns, name=name, i_ino=ns.mq_inodes,
                       i_mode=S_IFREG | (mode & S_IALLUGO), i_uid=cred.euid, i_gid=cred.egid,
                       mq_maxmsg=maxmsg, mq_msgsize=msgsize, user=cred.uid, mq_bytes=mq_bytes,
                       i_atime=now, i_mtime=now, i_ctime=now, kernel=k)
    info.mask = info.poll_mask()
    ns.mq_root[name] = info
    ns.mq_all[info.i_ino] = info
    return info


@syscall(21, "mq_unlink", "name:text", result="none",
         doc="mq_unlink(3) (the name without its leading '/')")
def sys_mq_unlink(k: "Kernel", task: Task, name: str) -> None:
    """sys_mq_unlink(): the name goes at once; the queue lives on while open.

    Raises ENOENT; EPERM unless the caller owns the queue (the mqueue root
    is sticky: may_delete) or has CAP_FOWNER."""
    ns = task.ns
    lookup(name)
    info = ns.mq_root.get(name)
    if info is None:
        raise KernelError(errno.ENOENT, f"no message queue named /{name}")
    cred = task.cred
    # check_sticky(): the queue's owner, the directory's owner (the uid that
    # created the namespace, as mq_create_mount makes the root as its
    # creator) or CAP_FOWNER
    if cred.euid not in (info.i_uid, ns.owner_uid) and not cred.capable(CAP_FOWNER):
        raise KernelError(errno.EPERM, f"message queue /{name} belongs to uid {info.i_uid}: the "
                          "mqueue directory is sticky (only its owner, the directory's or "
                          "CAP_FOWNER may unlink)")
    del ns.mq_root[name]
    info.linked = False
    if not info.files and not info.sleepers:
        evict_inode(k, info)


@syscall(22, "mq_timedsend",
         "mqdes:u64 prio:u32 timed:u8 tv_sec:i64 tv_nsec:i64 msg:bytes", result="none",
         doc="mq_timedsend(3); timed 0: no timeout (mq_send); the timeout is absolute "
             "CLOCK_REALTIME")
def sys_mq_timedsend(k: "Kernel", task: Task, mqdes: int, prio: int, timed: int, tv_sec: int,
                     tv_nsec: int, msg: bytes) -> object:
    """do_mq_timedsend()."""
    deadline = _deadline(k, timed, tv_sec, tv_nsec)
    if prio >= MQ_PRIO_MAX:
        raise KernelError(errno.EINVAL, f"priority {prio} >= MQ_PRIO_MAX ({MQ_PRIO_MAX})")
    file = _file_of(task, mqdes)
    if not file.f_mode & FMODE_WRITE:
        raise KernelError(errno.EBADF, "the queue's descriptor is not open for writing")
    info: MqueueInode = file.private_data
    if len(msg) > info.mq_msgsize:
        raise KernelError(errno.EMSGSIZE, f"message of {len(msg)} bytes exceeds the queue's "
                          f"mq_msgsize ({info.mq_msgsize})")
    if info.mq_curmsgs == info.mq_maxmsg:
        if file.f_flags & O_NONBLOCK:
            raise KernelError(errno.EAGAIN, f"the queue is full ({info.mq_maxmsg} messages) and "
                              "the descriptor is O_NONBLOCK")
        if _expired(k, deadline):
            raise KernelError(errno.ETIMEDOUT, "the queue is full and the timeout has passed")
        sender = MqSender(task=task, op="mq_timedsend", obj_id=info.i_ino, deadline=deadline,
                          timeout_errno=errno.ETIMEDOUT, msg=(prio, msg), uid=task.cred.euid,
                          info=info)
        info.sleepers += 1
        return k.park(info.e_wait_q[SEND], sender)
    receiver = info.e_wait_q[RECV].first()
    if receiver is not None:
        k.wake(receiver, (prio, msg))  # pipelined_send: the message never queues
    else:
        uid = task.cred.euid
        if info.ns.quota is not None:  # load_msg's allocation, bounded per uid
            info.ns.quota.charge("msg_bytes", uid, len(msg), errno.ENOMEM)
        info.msg_insert(prio, msg, uid)
        _do_notify(k, task, info)
        info.wake_pollers(k)  # the wake_up(&info->wait_q) that ends __do_notify
        info.changed(k)
    info.i_atime = info.i_mtime = info.i_ctime = k.now
    info.ops += 1
    return None


@syscall(23, "mq_timedreceive", "mqdes:u64 msgsize:u64 timed:u8 tv_sec:i64 tv_nsec:i64",
         result="msg",
         doc="mq_timedreceive(3); timed 0: no timeout (mq_receive). Result: (priority, message)")
def sys_mq_timedreceive(k: "Kernel", task: Task, mqdes: int, msgsize: int, timed: int,
                        tv_sec: int, tv_nsec: int) -> object:
    """do_mq_timedreceive(): (priority, message)."""
    deadline = _deadline(k, timed, tv_sec, tv_nsec)
    file = _file_of(task, mqdes)
    if not file.f_mode & FMODE_READ:
        raise KernelError(errno.EBADF, "the queue's descriptor is not open for reading")
    info: MqueueInode = file.private_data
    if msgsize < info.mq_msgsize:
        raise KernelError(errno.EMSGSIZE, f"buffer of {msgsize} bytes is smaller than the "
                          f"queue's mq_msgsize ({info.mq_msgsize})")
    if info.mq_curmsgs == 0:
        if file.f_flags & O_NONBLOCK:
            raise KernelError(errno.EAGAIN, "the queue is empty and the descriptor is O_NONBLOCK")
        if _expired(k, deadline):
            raise KernelError(errno.ETIMEDOUT, "the queue is empty and the timeout has passed")
        receiver = MqReceiver(task=task, op="mq_timedreceive", obj_id=info.i_ino,
                              deadline=deadline, timeout_errno=errno.ETIMEDOUT, info=info)
        info.sleepers += 1
        return k.park(info.e_wait_q[RECV], receiver)
    result = info.msg_get()
    info.i_atime = info.i_mtime = info.i_ctime = k.now
    info.ops += 1
    _pipelined_receive(k, info)
    info.changed(k)
    return result


def _pipelined_receive(k: "Kernel", info: MqueueInode) -> None:
    """pipelined_receive(): room was made: the first waiting sender's message
    goes into the queue and that sender returns."""
    sender = info.e_wait_q[SEND].first()
    if sender is None:
        info.wake_pollers(k)  # "for poll": wake_up_interruptible(&info->wait_q)
        return
    assert isinstance(sender, MqSender)
    prio, data = sender.msg
    if info.ns.quota is not None:  # it was loaded when it went to sleep: it goes in
        info.ns.quota.charge("msg_bytes", sender.uid, len(data), force=True)
    info.msg_insert(prio, data, sender.uid)
    k.wake(sender, None)


def _do_notify(k: "Kernel", task: Task, info: MqueueInode) -> None:
    """__do_notify(): a message arrived on an empty queue nobody waits on."""
    n = info.notify
    if n is None or info.mq_curmsgs != 1:
        return
    if n.sigev_notify == SIGEV_SIGNAL:
        if n.sigev_signo:  # signal 0 is valid and sends nothing (kill_pid_info)
            from uipc.kernel.signal import SigInfo, send_sig_info
            try:  # delivered for real, or pending (signalfd) if the owner blocked it
                send_sig_info(k, n.owner, SigInfo(n.sigev_signo, SI_MESGQ, task.pid,
                                                  task.cred.uid, n.sigev_value))
            except KernelError:
                pass  # a full queue: __do_notify ignores kill_pid_info's result
    elif n.sigev_notify == SIGEV_THREAD:
        _post_cookie(k, n.owner, n.cookie)
    info.notify = None


def remove_notification(k: "Kernel", info: MqueueInode) -> None:
    """remove_notification(): unregister; SIGEV_THREAD's helper is told (the
    cookie negated), as glibc's is sent NOTIFY_REMOVED: it forgets the
    function, which will never run."""
    n = info.notify
    if n is not None and n.sigev_notify == SIGEV_THREAD and not n.owner.exited:
        _post_cookie(k, n.owner, -n.cookie)
    info.notify = None


@syscall(24, "mq_notify", "mqdes:u64 has:u8 notify:i32 signo:i32 value:i64 cookie:i64",
         result="none",
         doc="mq_notify(3); has 0: unregister (NULL). SIGEV_THREAD: the cookie is what the "
             "process's mq_notify_wait returns when it fires")
def sys_mq_notify(k: "Kernel", task: Task, mqdes: int, has: int, notify: int, signo: int,
                  value: int, cookie: int) -> None:
    """do_mq_notify()."""
    if has:
        if notify not in (SIGEV_NONE, SIGEV_SIGNAL, SIGEV_THREAD):
            raise KernelError(errno.EINVAL, f"sigev_notify {notify} is not SIGEV_NONE, "
                              "SIGEV_SIGNAL or SIGEV_THREAD")
        if notify == SIGEV_SIGNAL and not 0 <= signo <= NSIG:
            raise KernelError(errno.EINVAL, f"sigev_signo {signo} is not a valid signal "
                              f"(0..{NSIG})")
    file = _file_of(task, mqdes)
    info: MqueueInode = file.private_data
    process = task.process
    if not has:
        if info.notify is not None and info.notify.owner is process:
            remove_notification(k, info)
            info.i_atime = info.i_ctime = k.now
        return
    if info.notify is not None:
        raise KernelError(errno.EBUSY, f"pid {info.notify.owner.pid} is already registered for "
                          "notification on this queue")
    info.notify = Notification(process, notify, signo if notify == SIGEV_SIGNAL else 0,
                               value if notify == SIGEV_SIGNAL else 0, cookie)
    info.i_atime = info.i_ctime = k.now


@syscall(25, "mq_getsetattr", "mqdes:u64 set:u8 mq_flags:i64", result="ctl",
         doc="mq_getsetattr(2): mq_getattr (set 0) and mq_setattr. Result: the old attributes "
             "[mq_flags, mq_maxmsg, mq_msgsize, mq_curmsgs]")
def sys_mq_getsetattr(k: "Kernel", task: Task, mqdes: int, set: int, mq_flags: int) -> list[int]:
    """do_mq_getsetattr(): only O_NONBLOCK can change (EINVAL for any other flag)."""
    if set and mq_flags & ~O_NONBLOCK:
        raise KernelError(errno.EINVAL, f"mq_flags {mq_flags:#o}: only O_NONBLOCK may be set")
    file = _file_of(task, mqdes)
    info: MqueueInode = file.private_data
    old = [file.f_flags & O_NONBLOCK, info.mq_maxmsg, info.mq_msgsize, info.mq_curmsgs]
    if set:
        file.f_flags = (file.f_flags & ~O_NONBLOCK) | (mq_flags & O_NONBLOCK)
        info.i_atime = info.i_ctime = k.now
    return old


@syscall(27, "mq_fileinfo", "mqdes:u64", result="text",
         doc="read(2) of a queue's descriptor: mqueue_read_file's QSIZE/NOTIFY line")
def sys_mq_fileinfo(k: "Kernel", task: Task, mqdes: int) -> str:
    """mqueue_read_file()."""
    file = _file_of(task, mqdes)
    info: MqueueInode = file.private_data
    info.i_atime = info.i_ctime = k.now
    return info.fileinfo()


# --- SIGEV_THREAD: the process's helper thread ------------------------------------
@dataclass(eq=False)
class NotifyChannel:
    """glibc's netlink socket for SIGEV_THREAD, per process: cookies of
    fired notifications, and the helper thread waiting for them."""

    cookies: deque[int] = field(default_factory=deque)
    waiters: WaitQueue = field(default_factory=WaitQueue)


def _channel(process: "Process") -> NotifyChannel:
    channel = process.mq_notify
    if channel is None:
        channel = process.mq_notify = NotifyChannel()
    return channel


def _post_cookie(k: "Kernel", process: "Process", cookie: int) -> None:
    channel = _channel(process)
    waiter = channel.waiters.first()
    if waiter is not None:
        k.wake(waiter, cookie)
    else:
        channel.cookies.append(cookie)


@syscall(28, "mq_notify_wait", "", result="int",
         doc="the SIGEV_THREAD helper's wait: the cookie of the next fired notification "
             "(negated: a registration removed without firing)")
def sys_mq_notify_wait(k: "Kernel", task: Task) -> object:
    """What glibc's helper thread does in recv() on its netlink socket."""
    channel = _channel(task.process)
    if channel.cookies:
        return channel.cookies.popleft()
    return k.park(channel.waiters, NotifyWaiter(task=task, op="mq_notify_wait"))


# --- namespaces ---------------------------------------------------------------------
def free_ns_mqueue(k: "Kernel", ns: "IpcNamespace") -> None:
    """mq_put_mnt(): the namespace's queues go with it."""
    for info in list(ns.mq_root.values()):
        info.linked = False
        if not info.files and not info.sleepers:
            evict_inode(k, info)
    ns.mq_root.clear()


def mq_queues(ns: "IpcNamespace") -> list[MqueueInode]:
    """The queues named in the namespace (ls /dev/mqueue), for introspection."""
    return list(ns.mq_root.values())
