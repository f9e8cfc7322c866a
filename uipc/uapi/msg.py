"""include/uapi/linux/msg.h: message queue constants, msqid_ds and msginfo."""
from __future__ import annotations

from dataclasses import dataclass

from uipc.uapi.ipc import IpcPerm

__all__ = [
    "MSG_STAT", "MSG_INFO", "MSG_STAT_ANY", "MSG_NOERROR", "MSG_EXCEPT",
    "MSG_COPY", "MSGMNI", "MSGMAX", "MSGMNB", "MSGPOOL", "MSGTQL", "MSGMAP",
    "MSGSSZ", "MSGSEG", "MsqidDs", "MsgInfo", "UIO_MAXIOV",
]

#: include/uapi/linux/uio.h: the most messages one sendmmsg/recvmmsg takes,
#: and so one msgsnd_many/msgrcv_many (uipc's extension) and one Batch
UIO_MAXIOV = 1024

# ipcs ctl commands
MSG_STAT = 11
MSG_INFO = 12
MSG_STAT_ANY = 13

# msgrcv options
MSG_NOERROR = 0o10000
MSG_EXCEPT = 0o20000
MSG_COPY = 0o40000

# defaults of the sysctls and the fixed values msginfo reports
MSGMNI = 32000
MSGMAX = 8192
MSGMNB = 16384
MSGPOOL = MSGMNI * MSGMNB // 1024
MSGTQL = MSGMNB
MSGMAP = MSGMNB
MSGSSZ = 16
MSGSEG = 0xFFFF  # (MSGPOOL * 1024) / MSGSSZ clamped to unsigned short


@dataclass(frozen=True, slots=True, kw_only=True)
class MsqidDs:
    """struct msqid64_ds."""

    msg_perm: IpcPerm
    msg_stime: int
    msg_rtime: int
    msg_ctime: int
    msg_cbytes: int
    msg_qnum: int
    msg_qbytes: int
    msg_lspid: int
    msg_lrpid: int


@dataclass(frozen=True, slots=True, kw_only=True)
class MsgInfo:
    """struct msginfo, as IPC_INFO and MSG_INFO fill it."""

    msgpool: int
    msgmap: int
    msgmax: int
    msgmnb: int
    msgmni: int
    msgssz: int
    msgtql: int
    msgseg: int
