"""The system calls, with their C signatures and errno.

Each function builds one request and returns the decoded reply; failures
raise ``OSError`` with Linux's errno exactly where libc would return -1.
"""
from __future__ import annotations

import errno
import os
from typing import Any

from uipc import protocol as P
from uipc.client.args import buffer, c_int, c_long, items, key_t, size_t, timeout_ns
from uipc.client.connection import call
from uipc.uapi.ipc import IPC_64, IPC_SET, IPC_STAT
from uipc.uapi.msg import MsgInfo, MsqidDs
from uipc.uapi.sem import SETALL, SETVAL, SemidDs

_MSGGET = P.OPS_BY_NAME["msgget"]
_MSGSND = P.OPS_BY_NAME["msgsnd"]
_MSGRCV = P.OPS_BY_NAME["msgrcv"]
_MSGCTL = P.OPS_BY_NAME["msgctl"]
_INT = P.INT_RESULT.unpack_from
_SEMBUF = P.SEMBUF.pack
_MSG = P.MSG_RESULT


def msgget(key: int, msgflg: int) -> int:
    """Get or create the message queue of ``key``; returns its id.  See msgget(2)."""
    return _INT(call(_MSGGET, (key_t(key), c_int("msgflg", msgflg)))[0])[0]


def msgsnd_args(msqid: int, mtype: int, mtext: bytes, msgflg: int = 0) -> tuple[tuple[int, ...], bytes]:
    return ((c_int("msqid", msqid), c_long("mtype", mtype), c_int("msgflg", msgflg)),
            buffer("mtext", mtext))


def msgsnd(msqid: int, mtype: int, mtext: bytes, msgflg: int = 0) -> None:
    """Send a message of type ``mtype``.  See msgsnd(2)."""
    call(_MSGSND, *msgsnd_args(msqid, mtype, mtext, msgflg))


def msgrcv_args(msqid: int, msgsz: int, msgtyp: int, msgflg: int = 0) -> tuple[int, ...]:
    return (c_int("msqid", msqid), size_t("msgsz", msgsz), c_long("msgtyp", msgtyp),
            c_int("msgflg", msgflg))


def msg_result(payload: bytes) -> tuple[int, bytes]:
    """msgrcv's reply: (mtype, mtext)."""
    return _MSG.unpack_from(payload)[0], payload[_MSG.size:]


def msgrcv(msqid: int, msgsz: int, msgtyp: int, msgflg: int = 0) -> tuple[int, bytes]:
    """Receive a message of at most ``msgsz`` bytes; returns (mtype, mtext).  See msgrcv(2)."""
    return msg_result(call(_MSGRCV, msgrcv_args(msqid, msgsz, msgtyp, msgflg))[0])


def _ctl_tail(cmd: int, buf: Any, cls: type) -> bytes:
    if (cmd & ~IPC_64) != IPC_SET:
        return b""
    if not isinstance(buf, cls):
        raise TypeError(f"IPC_SET needs a {cls.__name__}, not {type(buf).__name__}")
    try:
        return P.pack_struct(buf)
    except __import__("struct").error as exc:
        raise ValueError(f"{cls.__name__} field out of range: {exc}") from None


def msgctl(msqid: int, cmd: int, buf: MsqidDs | None = None) -> Any:
    """Control a queue.  See msgctl(2).

    IPC_STAT -> MsqidDs; IPC_SET (buf) / IPC_RMID -> 0; IPC_INFO / MSG_INFO ->
    (highest index, MsgInfo); MSG_STAT / MSG_STAT_ANY (an index) -> (msqid, MsqidDs).
    """
    return ctl_call(_MSGCTL, "msqid", msqid, cmd, buf, MsqidDs)


def ctl_call(op: P.Op, id_name: str, obj_id: int, cmd: int, buf: Any, cls: type) -> Any:
    """msgctl/shmctl: (id, cmd[, struct]) -> int, struct (IPC_STAT) or (ret, struct)."""
    cmd = c_int("cmd", cmd)
    payload, _ = call(op, (c_int(id_name, obj_id), cmd), _ctl_tail(cmd, buf, cls))
    return ctl_result(cmd, payload)


__all__ = ["msgctl", "msgget", "msgrcv", "msgsnd", "MsgInfo", "MsqidDs"]


# --- semaphores -------------------------------------------------------------------
_SEMGET = P.OPS_BY_NAME["semget"]
_SEMTIMEDOP = P.OPS_BY_NAME["semtimedop"]
_SEMCTL = P.OPS_BY_NAME["semctl"]


def semget(key: int, nsems: int, semflg: int) -> int:
    """Get or create the semaphore set of ``key``; returns its id.  See semget(2)."""
    return _INT(call(_SEMGET, (key_t(key), c_int("nsems", nsems), c_int("semflg", semflg)))[0])[0]


_SEMBUF_FIELDS = (("sem_num", 0, 0xFFFF, "an unsigned short"), ("sem_op", -0x8000, 0x7FFF, "a short"),
                  ("sem_flg", -0x8000, 0xFFFF, "a short"))
#: sequences that unpack but are no sembuf (b"ab" would be two ints)
_NOT_SEMBUF = (str, bytes, bytearray, memoryview)


def _sembuf(op: Any) -> tuple[int, int, int]:
    """One struct sembuf, checked: (sem_num, sem_op, sem_flg as u16)."""
    if hasattr(op, "sem_num"):
        op = (op.sem_num, op.sem_op, op.sem_flg)
    if isinstance(op, _NOT_SEMBUF) or not isinstance(op, (tuple, list)) or not 2 <= len(op) <= 3:
        raise TypeError(f"each sembuf is (sem_num, sem_op[, sem_flg]), not {op!r}")
    fields = (op[0], op[1], op[2] if len(op) == 3 else 0)
    for (name, lo, hi, ctype), v in zip(_SEMBUF_FIELDS, fields):
        if isinstance(v, bool) or not isinstance(v, int):
            raise TypeError(f"{name} must be an int, not {type(v).__name__}")
        if not lo <= v <= hi:
            raise ValueError(f"{name} {v} does not fit {ctype}")
    return fields[0], fields[1], fields[2] & 0xFFFF


def _sembufs(sops: Any) -> bytes:
    parts = []
    for op in items(sops, "sops must be a list of (sem_num, sem_op[, sem_flg])"):
        if type(op) is tuple and len(op) == 3:  # the common case, checked inline
            num, val, flg = op
            if (type(num) is int and type(val) is int and type(flg) is int and 0 <= num <= 0xFFFF
                    and -0x8000 <= val <= 0x7FFF and -0x8000 <= flg <= 0xFFFF):
                parts.append(_SEMBUF(num, val, flg & 0xFFFF))
                continue
        parts.append(_SEMBUF(*_sembuf(op)))
    return b"".join(parts)


def semtimedop_args(semid: int, sops: Any, timeout: float | None) -> tuple[tuple[int, int], bytes]:
    """semtimedop's request; every argument is checked before anything is sent."""
    args = (c_int("semid", semid), -1 if timeout is None else timeout_ns("timeout", timeout))
    tail = _sembufs(sops)
    if args[1] < 0 and timeout is not None:
        # timespec64_valid() fails: EINVAL, as do_semtimedop() answers (the
        # wire's -1 means "no timeout", so the daemon cannot be asked)
        raise OSError(errno.EINVAL, f"{os.strerror(errno.EINVAL)} (negative timeout {timeout})")
    return args, tail


def semtimedop(semid: int, sops: Any, timeout: float | None) -> None:
    """Apply ``sops`` atomically, waiting at most ``timeout`` seconds (None: forever).

    Times out with EAGAIN.  See semtimedop(2).
    """
    call(_SEMTIMEDOP, *semtimedop_args(semid, sops, timeout))


def semop(semid: int, sops: Any) -> None:
    """Apply ``sops`` [(sem_num, sem_op, sem_flg), ...] atomically.  See semop(2)."""
    call(_SEMTIMEDOP, *semtimedop_args(semid, sops, None))


def semvals(what: str, arg: Any) -> list[int]:
    """SETALL's ``unsigned short array[]``, checked: values above SEMVMX are
    the kernel's (ERANGE), values no unsigned short holds are ValueError."""
    values = list(items(arg, f"{what} needs a sequence of ints"))
    for v in values:
        if isinstance(v, bool) or not isinstance(v, int):
            raise TypeError(f"{what} values must be ints, not {type(v).__name__}")
        if not 0 <= v <= 0xFFFF:
            raise ValueError(f"{what} value {v} does not fit an unsigned short")
    return values


def semctl_args(semid: int, semnum: int, cmd: int, arg: Any = None) -> tuple[tuple[int, ...], bytes]:
    cmd = c_int("cmd", cmd)
    base = cmd & ~IPC_64
    val, tail = 0, b""
    if base == SETVAL:
        val = c_int("SETVAL value", arg)
    elif base == SETALL:
        tail = P.pack_semvals(semvals("SETALL", arg))
    elif base == IPC_SET:
        tail = _ctl_tail(cmd, arg, SemidDs)
    return (c_int("semid", semid), c_int("semnum", semnum), cmd, val), tail


_CTL_INT = P.CTL_HEADER.unpack
_CTL_INT_SIZE = P.CTL_HEADER.size


def ctl_result(cmd: int, payload: bytes) -> Any:
    """A *ctl reply: IPC_STAT gives the struct alone."""
    if len(payload) == _CTL_INT_SIZE:  # an int (GETVAL, IPC_RMID...): the common case
        tag, value = _CTL_INT(payload)
        if tag == P.TAG_INT:
            return value
    result = P.unpack_ctl_result(payload)
    if (cmd & ~IPC_64) == IPC_STAT:
        return result[1]
    return result


def semctl(semid: int, semnum: int, cmd: int, arg: Any = None) -> Any:
    """Control a semaphore set.  See semctl(2).

    GETVAL/GETPID/GETNCNT/GETZCNT -> int; GETALL -> list[int]; SETVAL (arg int),
    SETALL (arg list), IPC_SET (arg SemidDs), IPC_RMID -> 0; IPC_STAT -> SemidDs;
    IPC_INFO/SEM_INFO -> (highest index, SemInfo); SEM_STAT/SEM_STAT_ANY -> (semid, SemidDs).
    """
    args, tail = semctl_args(semid, semnum, cmd, arg)
    return ctl_result(args[2], call(_SEMCTL, args, tail)[0])


__all__ += ["semctl", "semget", "semop", "semtimedop"]
