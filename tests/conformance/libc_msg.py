"""The real kernel's SysV message queues through ctypes, with uipc's Python API.

Only what the msg oracle test needs; the full backend for every object type
lives in tests/conformance.  Layouts are glibc's on x86_64/aarch64 (LP64).
"""
from __future__ import annotations

import ctypes
import os
from typing import Any

from uipc.uapi import IPC_INFO, IPC_SET, IPC_STAT, MSG_INFO, IpcPerm, MsgInfo, MsqidDs

libc = ctypes.CDLL(None, use_errno=True)
CLONE_NEWIPC = 0x08000000


class _Perm(ctypes.Structure):
    _fields_ = [("key", ctypes.c_int32), ("uid", ctypes.c_uint32), ("gid", ctypes.c_uint32),
                ("cuid", ctypes.c_uint32), ("cgid", ctypes.c_uint32), ("mode", ctypes.c_uint32),
                ("seq", ctypes.c_uint16), ("_pad", ctypes.c_uint16 * 11)]


class _Msqid(ctypes.Structure):
    _fields_ = [("perm", _Perm), ("stime", ctypes.c_int64), ("rtime", ctypes.c_int64),
                ("ctime", ctypes.c_int64), ("cbytes", ctypes.c_uint64), ("qnum", ctypes.c_uint64),
                ("qbytes", ctypes.c_uint64), ("lspid", ctypes.c_int32), ("lrpid", ctypes.c_int32),
                ("_reserved", ctypes.c_uint64 * 2)]


class _MsgInfo(ctypes.Structure):
    _fields_ = [(n, ctypes.c_int) for n in ("msgpool", "msgmap", "msgmax", "msgmnb", "msgmni",
                                            "msgssz", "msgtql")] + [("msgseg", ctypes.c_ushort)]


assert ctypes.sizeof(_Perm) == 48 and ctypes.sizeof(_Msqid) == 120

libc.msgsnd.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
libc.msgrcv.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_long, ctypes.c_int]
libc.msgrcv.restype = ctypes.c_ssize_t
libc.msgctl.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_void_p]


def _check(ret: int) -> int:
    if ret == -1:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
    return ret


def _ds(d: _Msqid) -> MsqidDs:
    p = d.perm
    return MsqidDs(msg_perm=IpcPerm(key=p.key, uid=p.uid, gid=p.gid, cuid=p.cuid, cgid=p.cgid,
                                    mode=p.mode, seq=p.seq),
                   msg_stime=d.stime, msg_rtime=d.rtime, msg_ctime=d.ctime, msg_cbytes=d.cbytes,
                   msg_qnum=d.qnum, msg_qbytes=d.qbytes, msg_lspid=d.lspid, msg_lrpid=d.lrpid)


def msgget(key: int, msgflg: int) -> int:
    return _check(libc.msgget(ctypes.c_int32(key & 0xFFFFFFFF).value, msgflg))


def msgsnd(msqid: int, mtype: int, mtext: bytes, msgflg: int = 0) -> None:
    buf = ctypes.create_string_buffer(8 + len(mtext))
    ctypes.memmove(buf, ctypes.c_long(mtype).value.to_bytes(8, "little", signed=True) + mtext, 8 + len(mtext))
    _check(libc.msgsnd(msqid, buf, len(mtext), msgflg))


def msgrcv(msqid: int, msgsz: int, msgtyp: int, msgflg: int = 0) -> tuple[int, bytes]:
    buf = ctypes.create_string_buffer(8 + max(msgsz, 0))
    n = _check(libc.msgrcv(msqid, buf, msgsz, msgtyp, msgflg))
    raw = buf.raw
    return int.from_bytes(raw[:8], "little", signed=True), raw[8:8 + n]


def msgctl(msqid: int, cmd: int, buf: Any = None) -> Any:
    if cmd in (IPC_INFO, MSG_INFO):
        info = _MsgInfo()
        ret = _check(libc.msgctl(msqid, cmd, ctypes.byref(info)))
        return ret, MsgInfo(**{n: getattr(info, n) for n, _ in _MsgInfo._fields_})
    d = _Msqid()
    if cmd == IPC_SET:
        p = buf.msg_perm
        d.perm.uid, d.perm.gid, d.perm.mode = p.uid & 0xFFFFFFFF, p.gid & 0xFFFFFFFF, p.mode
        d.qbytes = buf.msg_qbytes
    ret = _check(libc.msgctl(msqid, cmd, ctypes.byref(d)))
    if cmd == IPC_STAT:
        return _ds(d)
    if cmd in (11, 13):  # MSG_STAT, MSG_STAT_ANY
        return ret, _ds(d)
    return ret


def write_sysctl(name: str, value: int | str) -> None:
    with open(f"/proc/sys/kernel/{name}", "w") as f:
        f.write(str(value))


def unshare_ipc() -> None:
    _check(libc.unshare(CLONE_NEWIPC))
