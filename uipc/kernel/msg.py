"""ipc/msg.c: System V message queues.

Everything that decides whether msgsnd/msgrcv blocks, whom a message goes
to and what msgctl reports lives here.  This file never touches sockets,
clocks or pids: time is ``k.clock.realtime`` (stamps), identities come in
the task.

Theory of operation (as msg.c): a queue holds messages in arrival order, a
FIFO of sleeping receivers (``q_receivers``, one :class:`MsgReceiver` each
with its type, search mode and buffer size) and a FIFO of sleeping senders
(``q_senders``).  ``do_msgsnd`` first offers a new message to the sleeping
receivers in order (``pipelined_send``): the first whose type matches takes
it directly, without it ever being queued; a matching receiver whose buffer
is too small (no MSG_NOERROR) is woken with E2BIG and the search goes on.
Only if nobody takes it is it queued.  ``do_msgrcv`` removes a message and
wakes the senders whose message now fits (``ss_wakeup``), which retry in
order.  IPC_SET wakes everyone to re-check permissions and sizes; IPC_RMID
wakes everyone with EIDRM.
"""
from __future__ import annotations

import errno
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from uipc.kernel.entry import syscall
from uipc.kernel.errors import KernelError
from uipc.kernel.ids import (
    S_IRUGO, S_IRWXUGO, S_IWUGO, IpcOps, KernIpcPerm, ipc_check_perms, ipcctl_obtain_check,
    ipcctl_obtain_stat, ipcget, ipc_update_perm,
)
from uipc.kernel.task import CAP_SYS_RESOURCE, Task
from uipc.kernel.wait import BLOCKED, RETRY, WaitQueue, Waiter
from uipc.uapi.ipc import IPC_INFO, IPC_NOWAIT, IPC_RMID, IPC_SET, IPC_STAT
from uipc.uapi.msg import (
    MSG_COPY, MSG_EXCEPT, MSG_INFO, MSG_NOERROR, MSG_STAT, MSG_STAT_ANY, MSGMAP, MSGPOOL,
    MSGSEG, MSGSSZ, MSGTQL, UIO_MAXIOV, MsgInfo, MsqidDs,
)

if TYPE_CHECKING:
    from uipc.kernel.kernel import Kernel
    from uipc.kernel.namespace import IpcNamespace

LONG_MAX = (1 << 63) - 1
LONG_MIN = -(1 << 63)
INT_MAX = 0x7FFFFFFF
#: bytes a queued message costs beyond its text (MsgMsg, deque slot, bytes header)
MSG_OVERHEAD = 96

# msgrcv search modes (convert_mode)
SEARCH_ANY = 1
SEARCH_EQUAL = 2
SEARCH_NOTEQUAL = 3
SEARCH_LESSEQUAL = 4
SEARCH_NUMBER = 5


@dataclass(eq=False, slots=True)
class MsgMsg:
    """struct msg_msg."""

    m_type: int
    mtext: bytes
    #: the sender's euid, charged for the bytes while the message is queued
    m_uid: int = 0

    @property
    def m_ts(self) -> int:
        return len(self.mtext)


@dataclass(eq=False)
class MsgReceiver(Waiter):
    """struct msg_receiver: one sleeping msgrcv."""

    r_msgtype: int = 0
    r_mode: int = SEARCH_ANY
    r_maxsize: int = 0
    #: the caller's buffer size, for truncation with MSG_NOERROR
    bufsz: int = 0


@dataclass(eq=False)
class MsgSender(Waiter):
    """struct msg_sender: one sleeping msgsnd."""

    msgsz: int = 0


@dataclass(eq=False)
class MsgQueue:
    """struct msg_queue."""

    perm: KernIpcPerm
    #: sends and receives done, for `uipc top`'s ops/s
    ops: int = 0
    q_stime: int = 0
    q_rtime: int = 0
    q_ctime: int = 0
    q_cbytes: int = 0
    q_qnum: int = 0
    q_qbytes: int = 0
    q_lspid: int = 0
    q_lrpid: int = 0
    #: a deque: msgrcv of the oldest message (the common case) is O(1)
    q_messages: deque[MsgMsg] = field(default_factory=deque)
    q_receivers: WaitQueue = field(default_factory=WaitQueue)
    q_senders: WaitQueue = field(default_factory=WaitQueue)


def msg_fits_inqueue(msq: MsgQueue, msgsz: int) -> bool:
    """Room for msgsz more bytes and one more message (qnum is capped by qbytes too)."""
    return msgsz + msq.q_cbytes <= msq.q_qbytes and 1 + msq.q_qnum <= msq.q_qbytes


# --- msgget -----------------------------------------------------------------
def newque(k: "Kernel", task: Task, key: int, msgflg: int) -> int:
    """newque(): create a queue with the namespace's msgmnb as q_qbytes.

    Raises:
        ENOSPC: kernel.msgmni queues exist.
    """
    ns = task.ns
    msq = MsgQueue(perm=KernIpcPerm(key=key, mode=msgflg & S_IRWXUGO),
                   q_ctime=int(k.clock.realtime), q_qbytes=ns.msg_ctlmnb)
    ns.msg_ids.ipc_addid(msq, ns.msg_ctlmni, task.cred)
    return msq.perm.id


@syscall(1, "msgget", "key:i32 msgflg:i32", result="int", doc="msgget(2).")
def sys_msgget(k: "Kernel", task: Task, key: int, msgflg: int) -> int:
    """ksys_msgget().  See msgget(2)."""
    ops: IpcOps[MsgQueue] = IpcOps(getnew=lambda key, flg: newque(k, task, key, flg))
    return ipcget(task.ns.msg_ids, ops, task.cred, key, msgflg)


# --- msgsnd -----------------------------------------------------------------
def ss_wakeup(k: "Kernel", msq: MsgQueue, kill: bool) -> None:
    """ss_wakeup(): wake senders whose message now fits (all of them on kill).

    A sender that still does not fit is moved to the tail, keeping the order
    of those that are left; with ``kill`` everyone fails with EIDRM.
    """
    stop: MsgSender | None = None
    for mss in msq.q_senders:
        assert isinstance(mss, MsgSender)
        if kill:
            k.wake(mss, KernelError(errno.EIDRM, f"message queue {msq.perm.id} was removed"))
        elif mss is stop:
            break
        elif not msg_fits_inqueue(msq, mss.msgsz):
            if stop is None:
                stop = mss
            msq.q_senders.move_tail(mss)
        else:
            k.wake(mss, RETRY)


def testmsg(msg: MsgMsg, type_: int, mode: int) -> bool:
    """testmsg(): does a message match a receiver's type and mode?"""
    if mode in (SEARCH_ANY, SEARCH_NUMBER):
        return True
    if mode == SEARCH_LESSEQUAL:
        return msg.m_type <= type_
    if mode == SEARCH_EQUAL:
        return msg.m_type == type_
    if mode == SEARCH_NOTEQUAL:
        return msg.m_type != type_
    return False


def pipelined_send(k: "Kernel", msq: MsgQueue, msg: MsgMsg) -> bool:
    """pipelined_send(): hand a new message straight to a sleeping receiver.

    Returns True when a receiver took it.  Receivers whose buffer is too
    small are woken with E2BIG on the way, as Linux does.
    """
    for msr in msq.q_receivers:
        assert isinstance(msr, MsgReceiver)
        if not testmsg(msg, msr.r_msgtype, msr.r_mode):
            continue
        if msr.r_maxsize < msg.m_ts:
            k.wake(msr, KernelError(errno.E2BIG, f"message of {msg.m_ts} bytes does not fit "
                                    f"the receiver's {msr.bufsz}-byte buffer (no MSG_NOERROR)"))
            continue
        msq.q_lrpid = msr.task.pid
        msq.q_rtime = int(k.clock.realtime)
        msq.ops += 1
        k.wake(msr, (msg.m_type, msg.mtext[:msr.bufsz]))
        return True
    return False


def _valid_queue(msq: MsgQueue) -> None:
    if msq.perm.deleted:
        raise KernelError(errno.EIDRM, f"message queue {msq.perm.id} was removed")


@syscall(2, "msgsnd", "msqid:i32 mtype:i64 mtext:bytes msgflg:i32", result="none",
         doc="msgsnd(2). Tail: mtext.")
def sys_msgsnd(k: "Kernel", task: Task, msqid: int, mtype: int, mtext: bytes, msgflg: int) -> object:
    """do_msgsnd().  See msgsnd(2).

    Raises (in Linux's order):
        EINVAL: msgsz > kernel.msgmax, msqid < 0, or mtype < 1.
        EINVAL: no queue has this id.
        EACCES: no write permission.
        EIDRM: the queue was removed while the sender slept.
        EAGAIN: the queue is full and IPC_NOWAIT was given.
    """
    ns = task.ns
    msgsz = len(mtext)
    if msgsz > ns.msg_ctlmax or msqid < 0:
        raise KernelError(errno.EINVAL, f"msgsz {msgsz} exceeds kernel.msgmax ({ns.msg_ctlmax})"
                          if msqid >= 0 else f"msqid {msqid} is negative")
    if mtype < 1:
        raise KernelError(errno.EINVAL, f"mtype {mtype} must be > 0")
    msq: MsgQueue = ns.msg_ids.ipc_obtain_object_check(msqid)
    msg = MsgMsg(mtype, bytes(mtext))

    def attempt() -> object:
        ipc_check_perms(task.cred, msq.perm, S_IWUGO, "write")
        _valid_queue(msq)
        if not msg_fits_inqueue(msq, msgsz):
            if msgflg & IPC_NOWAIT:
                raise KernelError(errno.EAGAIN, f"queue {msqid} is full: {msq.q_cbytes} of "
                                  f"{msq.q_qbytes} bytes, {msq.q_qnum} messages, message of "
                                  f"{msgsz} bytes, IPC_NOWAIT")
            mss = MsgSender(task=task, op="msgsnd", obj_id=msqid, restart=attempt, msgsz=msgsz)
            return k.park(msq.q_senders, mss)
        msq.q_lspid = task.pid
        msq.q_stime = int(k.clock.realtime)
        msq.ops += 1
        if not pipelined_send(k, msq, msg):
            if ns.quota is not None:
                ns.quota.charge("msg_bytes", task.cred.euid, msgsz, errno.EAGAIN)
                msg.m_uid = task.cred.euid
            msq.q_messages.append(msg)
            msq.q_cbytes += msgsz
            msq.q_qnum += 1
            ns.msg_bytes += msgsz
            ns.msg_hdrs += 1
        return None

    return attempt()


# --- msgrcv -----------------------------------------------------------------
def convert_mode(msgtyp: int, msgflg: int) -> tuple[int, int]:
    """convert_mode(): the search mode and the (possibly negated) type."""
    if msgflg & MSG_COPY:
        return SEARCH_NUMBER, msgtyp
    if msgtyp == 0:
        return SEARCH_ANY, msgtyp
    if msgtyp < 0:
        return SEARCH_LESSEQUAL, LONG_MAX if msgtyp == LONG_MIN else -msgtyp
    if msgflg & MSG_EXCEPT:
        return SEARCH_NOTEQUAL, msgtyp
    return SEARCH_EQUAL, msgtyp


def find_msg(msq: MsgQueue, msgtyp: int, mode: int) -> MsgMsg | None:
    """find_msg(): the message a receiver would get now, or None."""
    found = None
    count = 0
    for msg in msq.q_messages:
        if testmsg(msg, msgtyp, mode):
            if mode == SEARCH_LESSEQUAL and msg.m_type != 1:
                msgtyp = msg.m_type - 1
                found = msg
            elif mode == SEARCH_NUMBER:
                if msgtyp == count:
                    return msg
            else:
                return msg
            count += 1
    return found


@syscall(3, "msgrcv", "msqid:i32 msgsz:i64 msgtyp:i64 msgflg:i32", result="msg",
         doc="msgrcv(2). Result: mtype i64, tail mtext.")
def sys_msgrcv(k: "Kernel", task: Task, msqid: int, bufsz: int, msgtyp: int,
               msgflg: int) -> object:
    """do_msgrcv().  See msgrcv(2).

    Returns:
        (mtype, mtext), mtext cut to ``bufsz`` with MSG_NOERROR.
    Raises (in Linux's order):
        EINVAL: msqid < 0 or bufsz < 0; MSG_COPY with MSG_EXCEPT or without
            IPC_NOWAIT; no queue has this id.
        EACCES: no read permission.
        EIDRM: the queue was removed while the receiver slept.
        E2BIG: the message is longer than bufsz and MSG_NOERROR is not set
            (the message stays queued).
        EINVAL: MSG_COPY with MSG_NOERROR of a message longer than the buffer.
        ENOMSG: nothing matches and IPC_NOWAIT was given.
    """
    ns = task.ns
    if msqid < 0 or bufsz < 0:
        raise KernelError(errno.EINVAL, f"msqid {msqid} is negative" if msqid < 0
                          else f"msgsz {bufsz} is negative")
    copy_size = 0
    if msgflg & MSG_COPY:
        if msgflg & MSG_EXCEPT or not msgflg & IPC_NOWAIT:
            raise KernelError(errno.EINVAL, "MSG_COPY needs IPC_NOWAIT and excludes MSG_EXCEPT")
        copy_size = min(bufsz, ns.msg_ctlmax)
    mode, msgtyp = convert_mode(msgtyp, msgflg)
    msq: MsgQueue = ns.msg_ids.ipc_obtain_object_check(msqid)

    def attempt() -> object:
        ipc_check_perms(task.cred, msq.perm, S_IRUGO, "read")
        _valid_queue(msq)
        msg = find_msg(msq, msgtyp, mode)
        if msg is not None:
            if bufsz < msg.m_ts and not msgflg & MSG_NOERROR:
                raise KernelError(errno.E2BIG, f"message of {msg.m_ts} bytes is longer than "
                                  f"msgsz {bufsz} (MSG_NOERROR not given); it stays queued")
            if msgflg & MSG_COPY:
                if msg.m_ts > copy_size:
                    raise KernelError(errno.EINVAL, f"MSG_COPY: message of {msg.m_ts} bytes "
                                      f"exceeds the copy buffer of {copy_size} bytes")
                return msg.m_type, msg.mtext
            if msq.q_messages[0] is msg:
                msq.q_messages.popleft()
            else:  # typed receive: O(position), as Linux's list walk to find it
                msq.q_messages.remove(msg)
            msq.q_qnum -= 1
            msq.q_rtime = int(k.clock.realtime)
            msq.q_lrpid = task.pid
            msq.ops += 1
            msq.q_cbytes -= msg.m_ts
            ns.msg_bytes -= msg.m_ts
            ns.msg_hdrs -= 1
            if ns.quota is not None:
                ns.quota.uncharge("msg_bytes", msg.m_uid, msg.m_ts)
            ss_wakeup(k, msq, False)
            return msg.m_type, msg.mtext[:bufsz]
        if msgflg & IPC_NOWAIT:
            raise KernelError(errno.ENOMSG, f"no message of type {describe_search(msgtyp, mode)} "
                              f"in queue {msqid} and IPC_NOWAIT was given")
        msr = MsgReceiver(task=task, op="msgrcv", obj_id=msqid, restart=attempt,
                          r_msgtype=msgtyp, r_mode=mode,
                          r_maxsize=INT_MAX if msgflg & MSG_NOERROR else bufsz, bufsz=bufsz)
        return k.park(msq.q_receivers, msr)

    return attempt()


def describe_search(msgtyp: int, mode: int) -> str:
    return {SEARCH_ANY: "any", SEARCH_EQUAL: f"= {msgtyp}", SEARCH_NOTEQUAL: f"!= {msgtyp}",
            SEARCH_LESSEQUAL: f"<= {msgtyp}", SEARCH_NUMBER: f"#{msgtyp} (MSG_COPY)"}[mode]


# --- msgctl -----------------------------------------------------------------
def expunge_all(k: "Kernel", msq: MsgQueue, res: int) -> None:
    """expunge_all(): wake every receiver, to retry (EAGAIN) or fail (EIDRM)."""
    for msr in msq.q_receivers:
        if res == errno.EAGAIN:
            k.wake(msr, RETRY)
        else:
            k.wake(msr, KernelError(res, f"message queue {msq.perm.id} was removed"))


def freeque(k: "Kernel", ns: "IpcNamespace", msq: MsgQueue) -> None:
    """freeque(): remove a queue; every sleeper fails with EIDRM."""
    expunge_all(k, msq, errno.EIDRM)
    ss_wakeup(k, msq, True)
    ns.msg_ids.ipc_rmid(msq)
    ns.msg_hdrs -= msq.q_qnum
    ns.msg_bytes -= msq.q_cbytes
    k.freed_bytes += msq.q_cbytes + MSG_OVERHEAD * msq.q_qnum
    if ns.quota is not None:
        for msg in msq.q_messages:
            ns.quota.uncharge("msg_bytes", msg.m_uid, msg.m_ts)
    msq.q_messages.clear()


def msgctl_info(task: Task, cmd: int) -> tuple[int, MsgInfo]:
    """msgctl_info(): IPC_INFO gives limits, MSG_INFO gives usage."""
    ns = task.ns
    ids = ns.msg_ids
    usage = cmd == MSG_INFO
    info = MsgInfo(
        msgpool=ids.in_use if usage else MSGPOOL,
        msgmap=min(ns.msg_hdrs, INT_MAX) if usage else MSGMAP,
        msgmax=ns.msg_ctlmax, msgmnb=ns.msg_ctlmnb, msgmni=ns.msg_ctlmni,
        msgssz=MSGSSZ,
        msgtql=min(ns.msg_bytes, INT_MAX) if usage else MSGTQL,
        msgseg=MSGSEG,
    )
    max_idx = ids.ipc_get_maxidx()
    return max(max_idx, 0), info


def msgctl_stat(task: Task, msqid: int, cmd: int) -> tuple[int, MsqidDs]:
    """msgctl_stat(): IPC_STAT by id, MSG_STAT / MSG_STAT_ANY by index.

    Returns (0 for IPC_STAT or the full id for *_STAT, the msqid_ds).
    Raises:
        EINVAL: no such id / nothing at that index.
        EACCES: no read permission (not checked for MSG_STAT_ANY).
    """
    msq: MsgQueue = ipcctl_obtain_stat(task.ns.msg_ids, msqid, task.cred, cmd, MSG_STAT_ANY)
    ds = MsqidDs(msg_perm=msq.perm.to_user(), msg_stime=msq.q_stime, msg_rtime=msq.q_rtime,
                 msg_ctime=msq.q_ctime, msg_cbytes=msq.q_cbytes, msg_qnum=msq.q_qnum,
                 msg_qbytes=msq.q_qbytes, msg_lspid=msq.q_lspid, msg_lrpid=msq.q_lrpid)
    return (0 if cmd == IPC_STAT else msq.perm.id), ds


def msgctl_down(k: "Kernel", task: Task, msqid: int, cmd: int, buf: MsqidDs | None) -> int:
    """msgctl_down(): IPC_RMID and IPC_SET, for the owner, creator or CAP_SYS_ADMIN.

    Raises:
        EINVAL: no such id.
        EPERM: not owner/creator/admin; or IPC_SET raising msg_qbytes above
            kernel.msgmnb without CAP_SYS_RESOURCE.
        EINVAL: IPC_SET with uid or gid -1.
    """
    ns = task.ns
    msq: MsgQueue = ipcctl_obtain_check(ns.msg_ids, msqid, task.cred)
    if cmd == IPC_RMID:
        freeque(k, ns, msq)
        return 0
    assert buf is not None
    if buf.msg_qbytes > ns.msg_ctlmnb and not task.cred.capable(CAP_SYS_RESOURCE):
        raise KernelError(errno.EPERM, f"msg_qbytes {buf.msg_qbytes} exceeds kernel.msgmnb "
                          f"({ns.msg_ctlmnb}) and the caller lacks CAP_SYS_RESOURCE")
    perm = buf.msg_perm
    ipc_update_perm(perm.uid, perm.gid, perm.mode, msq.perm)
    msq.q_qbytes = buf.msg_qbytes
    msq.q_ctime = int(k.clock.realtime)
    # sleeping receivers might be excluded by stricter permissions,
    # sleeping senders might fit a larger queue
    expunge_all(k, msq, errno.EAGAIN)
    ss_wakeup(k, msq, False)
    return 0


@syscall(4, "msgctl", "msqid:i32 cmd:i32 buf:msqid_ds", result="ctl",
         doc="msgctl(2). Tail: a packed msqid_ds for IPC_SET, else empty.")
def sys_msgctl(k: "Kernel", task: Task, msqid: int, cmd: int,
               buf: MsqidDs | None = None) -> int | tuple[int, MsqidDs] | tuple[int, MsgInfo]:
    """ksys_msgctl().  See msgctl(2).

    IPC_STAT, MSG_STAT, MSG_STAT_ANY -> (ret, MsqidDs); IPC_INFO, MSG_INFO ->
    (max index, MsgInfo); IPC_SET, IPC_RMID -> 0.
    """
    if msqid < 0 or cmd < 0:
        raise KernelError(errno.EINVAL, f"msqid {msqid} is negative" if msqid < 0
                          else f"cmd {cmd} is negative")
    # IPC_64 is not stripped: msgctl(2) and friends take it as an unknown
    # command (EINVAL), as on x86_64 and arm64; ipc(2) strips it (ipc_parse_version)
    if cmd in (IPC_INFO, MSG_INFO):
        return msgctl_info(task, cmd)
    if cmd in (IPC_STAT, MSG_STAT, MSG_STAT_ANY):
        return msgctl_stat(task, msqid, cmd)
    if cmd == IPC_SET:
        if buf is None:
            raise KernelError(errno.EFAULT, "IPC_SET needs a msqid_ds")
        return msgctl_down(k, task, msqid, cmd, buf)
    if cmd == IPC_RMID:
        return msgctl_down(k, task, msqid, cmd, None)
    raise KernelError(errno.EINVAL, f"unknown msgctl command {cmd}")


def free_ns_msg(k: "Kernel", ns: "IpcNamespace") -> None:
    """msg_exit_ns(): free every queue of a dying namespace."""
    for msq in list(ns.msg_ids):
        freeque(k, ns, msq)


# --- sendmmsg/recvmmsg for queues -------------------------------------------------
#: messages one msgsnd_many/msgrcv_many may carry (sendmmsg's cap)
MAX_MSGS = UIO_MAXIOV
#: a msgrcv_many reply takes more messages while it holds fewer bytes than
#: this (the daemon's replies stay within one frame; replies of a few MiB
#: would each be copied several times, cold in cache)
MSGS_REPLY_BYTES = 2 * 1024 * 1024
#: bytes each message adds to a msgrcv_many reply beside its text (mtype, length)
MSGS_ITEM_BYTES = 12


@syscall(17, "msgrcv_many", "msqid:i32 msgsz:i64 msgtyp:i64 msgflg:i32 count:u32", result="msgs",
         doc="Up to `count` (1..1024) msgrcv(2) in one request, as recvmmsg(2) with "
             "MSG_WAITFORONE: the first as msgrcv would (it may block), then more with "
             "IPC_NOWAIT until `count` or until one fails (the first's failure is the "
             "reply's). Result: u32 n, then n x (mtype i64, u32 length, mtext).")
def sys_msgrcv_many(k: "Kernel", task: Task, msqid: int, msgsz: int, msgtyp: int, msgflg: int,
                    count: int) -> object:
    """recvmmsg(2) with MSG_WAITFORONE, for a queue: msgrcv in a loop."""
    if not 1 <= count <= MAX_MSGS:
        raise KernelError(errno.EINVAL, f"count {count} outside [1, {MAX_MSGS}]")
    first = sys_msgrcv(k, task, msqid, msgsz, msgtyp, msgflg)
    if first is BLOCKED:
        assert task.waiter is not None
        task.waiter.then = lambda res: (res if isinstance(res, KernelError)
                                        else _more_msgs(k, task, msqid, msgsz, msgtyp, msgflg,
                                                        count, res))
        return BLOCKED
    return _more_msgs(k, task, msqid, msgsz, msgtyp, msgflg, count, first)


def _more_msgs(k: "Kernel", task: Task, msqid: int, msgsz: int, msgtyp: int, msgflg: int,
               count: int, first: tuple[int, bytes]) -> list[tuple[int, bytes]]:
    """After the first message: take what is queued, no waiting, while the
    reply stays within one frame."""
    msgs = [first]
    # no message is longer than msgsz (or msgmax): room for one more?
    room = MSGS_REPLY_BYTES - MSGS_ITEM_BYTES - min(msgsz, task.ns.msg_ctlmax)
    size = len(first[1])
    while len(msgs) < count and size <= room:
        k._run_wakeups()  # as between two syscalls: woken senders go first
        try:
            msg = sys_msgrcv(k, task, msqid, msgsz, msgtyp, msgflg | IPC_NOWAIT)
        except KernelError:
            break  # ENOMSG (or E2BIG...: the next call meets it again)
        msgs.append(msg)  # type: ignore[arg-type]
        size += MSGS_ITEM_BYTES + len(msg[1])  # type: ignore[index]
    return msgs


@syscall(18, "msgsnd_many", "msqid:i32 msgflg:i32 msgs:msgs", result="int",
         doc="1..1024 msgsnd(2) in one request, as sendmmsg(2): in order, each as msgsnd would "
             "(each may block), stopping at the first failure. Result: how many were sent; if "
             "the first fails, its failure is the reply's. Tail: u32 n, then n x (mtype i64, "
             "u32 length, mtext).")
def sys_msgsnd_many(k: "Kernel", task: Task, msqid: int, msgflg: int,
                    msgs: list[tuple[int, bytes]]) -> object:
    """sendmmsg(2) for a queue: msgsnd in a loop, sleeping per message."""
    if not 1 <= len(msgs) <= MAX_MSGS:
        raise KernelError(errno.EINVAL, f"{len(msgs)} messages, outside [1, {MAX_MSGS}]")
    return _send_msgs(k, task, msqid, msgflg, msgs, 0)


def _send_msgs(k: "Kernel", task: Task, msqid: int, msgflg: int, msgs: list[tuple[int, bytes]],
               done: int) -> object:
    """From message ``done`` on.  Returns how many were sent once one fails
    (raises if the first does), or BLOCKED with the next step attached to
    the sleeper of the message it sleeps on."""
    while done < len(msgs):
        if done:
            k._run_wakeups()  # as between two syscalls
        mtype, mtext = msgs[done]
        try:
            r = sys_msgsnd(k, task, msqid, mtype, mtext, msgflg)
        except KernelError:
            if done:
                return done
            raise
        if r is BLOCKED:
            assert task.waiter is not None

            def sent(res: object, done: int = done) -> object:
                if isinstance(res, KernelError):  # EIDRM, EINTR... after some were sent
                    return done or res
                return _send_msgs(k, task, msqid, msgflg, msgs, done + 1)
            task.waiter.then = sent
            return BLOCKED
        done += 1
    return done
