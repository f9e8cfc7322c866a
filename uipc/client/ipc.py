"""ipc(2): the SysV IPC multiplexer, as glibc's ``syscall(SYS_ipc, ...)``.

``ipc(call, first, second, third, ptr, fifth)`` runs the call ``call & 0xffff``
names (``IPC_CALLS``) with ``call >> 16`` as its version.  C passes ``ptr`` as
a pointer; here it is what it points to: a list of sembufs (SEMOP,
SEMTIMEDOP), semun's value, list or SemidDs (SEMCTL), ``(mtype, mtext)``
(MSGSND), ``(msgp, msgtyp)`` (MSGRCV's ipc_kludge, version 0), a
MsqidDs/ShmidDs (IPC_SET), the address (SHMAT, SHMDT); or raw bytes laid out
as the C structs.  SEMTIMEDOP's ``fifth`` is its timeout in nanoseconds (-1:
none), since there is no pointer to a timespec.  Returns what the call
returns: an int, ``(mtype, mtext)`` for MSGRCV, the *ctl result, the
address for SHMAT.  See ipc(2).
"""
from __future__ import annotations

import struct
from typing import Any

from uipc import protocol as P
from uipc.client import shm
from uipc.client.args import c_int, c_long
from uipc.client.connection import call as _call
from uipc.client.syscalls import _sembufs, ctl_result, msg_result
from uipc.uapi import layout as L

# include/uapi/linux/ipc.h
SEMOP, SEMGET, SEMCTL, SEMTIMEDOP = 1, 2, 3, 4
MSGSND, MSGRCV, MSGGET, MSGCTL = 11, 12, 13, 14
SHMAT, SHMDT, SHMGET, SHMCTL = 21, 22, 23, 24

_IPC = P.OPS_BY_NAME["ipc"]
_I64 = struct.Struct("<q")
_INT, _MSG, _CTL, _SHMAT, _NONE = range(5)


def _user_memory(op: int, second: int, third: int, ptr: Any) -> bytes:
    """What ``ptr`` points to, as the kernel would copy it from user memory."""
    if ptr is None:
        return b""
    if isinstance(ptr, (bytes, bytearray, memoryview)):
        return bytes(ptr)
    if op in (SEMOP, SEMTIMEDOP):
        return _sembufs(ptr)
    if op == SEMCTL:
        if isinstance(ptr, int):
            return _I64.pack(ptr)
        if hasattr(ptr, "sem_perm"):
            return L.pack_struct(ptr)
        return b"".join(L.SEMVAL.pack(v) for v in ptr)
    if op == MSGSND:
        mtype, mtext = ptr
        return _I64.pack(c_long("mtype", mtype)) + bytes(mtext)
    if op == MSGRCV:
        msgp, msgtyp = ptr
        return struct.pack("<Qq", msgp, msgtyp)
    if op in (MSGCTL, SHMCTL):
        return L.pack_struct(ptr)
    if op in (SHMAT, SHMDT):
        return struct.pack("<Q", ptr)
    raise TypeError(f"ipc call {op}: ptr must be bytes, not {type(ptr).__name__}")


def ipc(call: int, first: int, second: int = 0, third: int = 0, ptr: Any = None,
        fifth: int = 0) -> Any:
    """The ipc(2) multiplexer.  See ipc(2) and the module docstring."""
    call = c_int("call", call) & 0xFFFFFFFF
    op = call & 0xFFFF
    if op == SHMDT:  # the daemon knows attachments, this process knows addresses
        att = shm.unmap_attachment(ptr)
        user = _I64.pack(att.attach_id)
    else:
        user = _user_memory(op, second, third, ptr)
    payload, fds = _call(_IPC, (call, c_int("first", first), c_long("second", second),
                                c_long("third", third), c_long("fifth", fifth)), user)
    kind, rest = payload[0], payload[1:]
    if kind == _INT:
        return P.INT_RESULT.unpack_from(rest)[0]
    if kind == _MSG:
        return msg_result(rest)
    if kind == _CTL:
        return ctl_result(third if op == SEMCTL else second, rest)
    if kind == _SHMAT:
        return shm.map_attachment(rest, fds, second)
    return 0
