"""The system calls, with their C signatures and errno.

Each function builds one request and returns the decoded reply; failures
raise ``OSError`` with Linux's errno exactly where libc would return -1.
"""
from __future__ import annotations

from typing import Any

from uipc import protocol as P
from uipc.client.args import buffer, c_int, c_long, key_t, size_t
from uipc.client.connection import call
from uipc.uapi.ipc import IPC_64, IPC_SET, IPC_STAT
from uipc.uapi.msg import MsgInfo, MsqidDs

_MSGGET = P.OPS_BY_NAME["msgget"]
_MSGSND = P.OPS_BY_NAME["msgsnd"]
_MSGRCV = P.OPS_BY_NAME["msgrcv"]
_MSGCTL = P.OPS_BY_NAME["msgctl"]
_INT = P.INT_RESULT.unpack_from
_MSG = P.MSG_RESULT


def msgget(key: int, msgflg: int) -> int:
    """Get or create the message queue of ``key``; returns its id.  See msgget(2)."""
    return _INT(call(_MSGGET, (key_t(key), c_int("msgflg", msgflg)))[0])[0]


def msgsnd(msqid: int, mtype: int, mtext: bytes, msgflg: int = 0) -> None:
    """Send a message of type ``mtype``.  See msgsnd(2)."""
    call(_MSGSND, (c_int("msqid", msqid), c_long("mtype", mtype), c_int("msgflg", msgflg)),
         buffer("mtext", mtext))


def msgrcv(msqid: int, msgsz: int, msgtyp: int, msgflg: int = 0) -> tuple[int, bytes]:
    """Receive a message of at most ``msgsz`` bytes; returns (mtype, mtext).  See msgrcv(2)."""
    payload, _ = call(_MSGRCV, (c_int("msqid", msqid), size_t("msgsz", msgsz),
                                c_long("msgtyp", msgtyp), c_int("msgflg", msgflg)))
    return _MSG.unpack_from(payload)[0], payload[_MSG.size:]


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
    cmd = c_int("cmd", cmd)
    payload, _ = call(_MSGCTL, (c_int("msqid", msqid), cmd), _ctl_tail(cmd, buf, MsqidDs))
    result = P.unpack_ctl_result(payload)
    if (cmd & ~IPC_64) == IPC_STAT:
        return result[1]
    return result


__all__ = ["msgctl", "msgget", "msgrcv", "msgsnd", "MsgInfo", "MsqidDs"]
