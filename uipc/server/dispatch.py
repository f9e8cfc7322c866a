"""Between the wire and the core: decode an op's arguments, encode its result.

One function per op turns the decoded fixed fields and tail into the
syscall's Python arguments; one encoder per result kind turns the syscall's
return value into reply bytes.  Malformed tails raise ProtocolError, which
the daemon answers with EINVAL without touching the core.
"""
from __future__ import annotations

import errno
import struct
from typing import Any, Callable

from uipc import protocol as P
from uipc.kernel.errors import KernelError
from uipc.uapi.ipc import IPC_64, IPC_SET
from uipc.uapi.msg import MsqidDs
from uipc.uapi.sem import SETALL, SETVAL, SemidDs
from uipc.uapi.shm import ShmidDs


def _plain(args: tuple[Any, ...], tail: bytes) -> tuple[Any, ...]:
    if tail:
        raise P.ProtocolError("this operation takes no tail")
    return args


def _msgsnd(args: tuple[Any, ...], tail: bytes) -> tuple[Any, ...]:
    msqid, mtype, msgflg = args
    return msqid, mtype, tail, msgflg


def _ctl_struct(cls: type) -> Callable[[tuple[Any, ...], bytes], tuple[Any, ...]]:
    def decode(args: tuple[Any, ...], tail: bytes) -> tuple[Any, ...]:
        obj_id, cmd = args
        if (cmd & ~IPC_64) == IPC_SET:
            if not tail:
                raise KernelError(errno.EFAULT, f"IPC_SET needs a {cls.__name__}")
            return obj_id, cmd, P.unpack_struct(cls, tail)
        return _plain(args, tail)
    return decode


def _semtimedop(args: tuple[Any, ...], tail: bytes) -> tuple[Any, ...]:
    semid, timeout_ns = args
    timeout = None if timeout_ns < 0 else timeout_ns / 1e9
    return semid, P.unpack_sembufs(tail), timeout


def _semctl(args: tuple[Any, ...], tail: bytes) -> tuple[Any, ...]:
    semid, semnum, cmd, val = args
    base = cmd & ~IPC_64
    if base == SETVAL:
        return semid, semnum, cmd, val
    if base == SETALL:
        return semid, semnum, cmd, P.unpack_semvals(tail)
    if base == IPC_SET:
        if not tail:
            raise KernelError(errno.EFAULT, "IPC_SET needs a SemidDs")
        return semid, semnum, cmd, P.unpack_struct(SemidDs, tail)
    return semid, semnum, cmd


#: op name -> decoder of (fixed args, tail) into the syscall's arguments
DECODERS: dict[str, Callable[[tuple[Any, ...], bytes], tuple[Any, ...]]] = {
    "msgget": _plain,
    "msgsnd": _msgsnd,
    "msgrcv": _plain,
    "msgctl": _ctl_struct(MsqidDs),
    "semget": _plain,
    "semtimedop": _semtimedop,
    "semctl": _semctl,
    "shmget": _plain,
    "shmat": _plain,
    "shmdt": _plain,
    "shmctl": _ctl_struct(ShmidDs),
}


_REPLY_NONE = P.REPLY_HEADER                           # length, req_id, status
_REPLY_INT = struct.Struct(P.REPLY_HEADER.format + "q")  # ... value
_REPLY_CTL_INT = struct.Struct(P.REPLY_HEADER.format + "Bq")  # ... tag, value
_HDR = P.REPLY_HEADER.size - 4


def _reply_none(req_id: int, result: Any) -> bytes:
    return _REPLY_NONE.pack(_HDR, req_id, 0)


def _reply_int(req_id: int, result: Any) -> bytes:
    return _REPLY_INT.pack(_HDR + 8, req_id, 0, result)


def _reply_msg(req_id: int, result: Any) -> bytes:
    mtype, mtext = result
    return _REPLY_INT.pack(_HDR + 8 + len(mtext), req_id, 0, mtype) + mtext


def _reply_ctl(req_id: int, result: Any) -> bytes:
    if type(result) is int:  # GETVAL, IPC_RMID...: the common case in one pack
        return _REPLY_CTL_INT.pack(_HDR + 9, req_id, 0, P.TAG_INT, result)
    return P.encode_reply(req_id, P.pack_ctl_result(result))


def _reply_text(req_id: int, result: Any) -> bytes:
    return P.encode_reply(req_id, str(result).encode())


#: result kind -> encoder of a whole success reply frame (req_id, value)
REPLY_ENCODERS: dict[str, Callable[[int, Any], bytes]] = {
    "none": _reply_none,
    "int": _reply_int,
    "msg": _reply_msg,
    "ctl": _reply_ctl,
    "text": _reply_text,
    "msgs": lambda req_id, result: P.encode_reply(req_id, P.pack_msgs(result)),
}
