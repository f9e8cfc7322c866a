"""ipc/syscall.c: ipc(2), the old multiplexer of the SysV IPC calls.

``ipc(call, first, second, third, ptr, fifth)`` dispatches by ``call & 0xffff``
to the call it names, with ``call >> 16`` as its version (msgrcv's ipc_kludge:
version 0 finds msgtyp in the struct ``ptr`` points to, others take
``fifth``; shmat version 1 is iBCS2's and EINVAL).  Unknown calls are
ENOSYS, as Linux answers.

``ptr`` is user memory: the bytes it points to, laid out as the C structs
(uipc.uapi.layout), which this module reads as copy_from_user would:

=============  ============================================================
call           ptr
=============  ============================================================
SEMOP          struct sembuf[second]  (u16 sem_num, i16 sem_op, i16 sem_flg)
SEMTIMEDOP     the same; ``fifth`` is the timeout in ns (-1: none) — uipc has
               no user pointer for the timespec
SEMCTL         what semun points to: i64 val (SETVAL), u16[] (SETALL), a
               semid_ds (IPC_SET); empty (NULL) is EINVAL
MSGSND         struct msgbuf: i64 mtype, then ``second`` bytes of mtext
MSGRCV         version 0: struct ipc_kludge (u64 msgp, i64 msgtyp)
MSGCTL/SHMCTL  IPC_SET's msqid_ds/shmid_ds
SHMAT          the address (u64), empty for NULL
SHMDT          the attach id (i64) of the mapping: the client knows which
               attachment an address is
=============  ============================================================

The result is tagged with the kind of the call it ran (``("int", 0)``,
``("msg", (mtype, mtext))``, ``("ctl", ...)``, ``("shmat", attach)``,
``("none", None)``): the ``any`` result kind.
"""
from __future__ import annotations

import errno
import struct
from typing import TYPE_CHECKING, Any

from uipc.kernel import msg, sem, shm
from uipc.kernel.entry import syscall
from uipc.kernel.errors import KernelError
from uipc.kernel.task import Task
from uipc.kernel.wait import BLOCKED
from uipc.uapi import layout as L
from uipc.uapi.ipc import IPC_64, IPC_SET
from uipc.uapi.msg import MsqidDs
from uipc.uapi.sem import SETALL, SETVAL, SemidDs
from uipc.uapi.shm import ShmidDs

if TYPE_CHECKING:
    from uipc.kernel.kernel import Kernel

# include/uapi/linux/ipc.h
SEMOP, SEMGET, SEMCTL, SEMTIMEDOP = 1, 2, 3, 4
MSGSND, MSGRCV, MSGGET, MSGCTL = 11, 12, 13, 14
SHMAT, SHMDT, SHMGET, SHMCTL = 21, 22, 23, 24
IPC_CALLS = {"SEMOP": SEMOP, "SEMGET": SEMGET, "SEMCTL": SEMCTL, "SEMTIMEDOP": SEMTIMEDOP,
             "MSGSND": MSGSND, "MSGRCV": MSGRCV, "MSGGET": MSGGET, "MSGCTL": MSGCTL,
             "SHMAT": SHMAT, "SHMDT": SHMDT, "SHMGET": SHMGET, "SHMCTL": SHMCTL}

_I64 = struct.Struct("<q")
_U64 = struct.Struct("<Q")
_KLUDGE = struct.Struct("<Qq")  # struct ipc_kludge { struct msgbuf *msgp; long msgtyp; }


def _efault(what: str, need: int, got: int) -> KernelError:
    return KernelError(errno.EFAULT, f"ipc: {what} needs {need} bytes at ptr, {got} given")


def _ctl_buf(cmd: int, ptr: bytes, cls: type) -> Any:
    """copy_from_user of IPC_SET's struct (the other commands read none)."""
    if (cmd & ~IPC_64) != IPC_SET:
        return None
    try:
        return L.unpack_struct(cls, ptr)
    except L.LayoutError:
        raise _efault(f"IPC_SET's {cls.__name__}", L.STRUCTS[cls].size, len(ptr)) from None


def _semun(cmd: int, ptr: bytes) -> Any:
    """get_user(arg, ptr) and what it points to."""
    if not ptr:
        raise KernelError(errno.EINVAL, "ipc(SEMCTL): ptr is NULL")
    base = cmd & ~IPC_64
    if base == SETVAL:
        if len(ptr) < 8:
            raise _efault("SETVAL's value", 8, len(ptr))
        return _I64.unpack_from(ptr)[0]
    if base == SETALL:
        return L.unpack_semvals(ptr[: len(ptr) - len(ptr) % 2])
    if base == IPC_SET:
        return _ctl_buf(cmd, ptr, SemidDs)
    return None


@syscall(19, "ipc", "call:u32 first:i32 second:i64 third:i64 ptr:user fifth:i64", result="any",
         fds=1, undo=lambda k, task, res: shm.sys_shmdt(k, task, res[1].attach_id, 1),
         doc="ipc(2), the multiplexer of ipc/syscall.c: call & 0xffff names the call "
                    "(SEMOP 1 ... SHMCTL 24), call >> 16 its version. Tail: the user memory "
                    "ptr points to (see uipc/kernel/ipc_syscall.py). Result: u8 kind (0 int, "
                    "1 msg, 2 ctl, 3 shmat, 4 none), then that kind's result; a shmat's "
                    "descriptor comes with it.")
def sys_ipc(k: "Kernel", task: Task, call: int, first: int, second: int, third: int,
            ptr: bytes, fifth: int) -> Any:
    """SYSCALL_DEFINE6(ipc, ...)."""
    version, call = call >> 16, call & 0xFFFF
    if call in (SEMOP, SEMTIMEDOP):
        need = second * L.SEMBUF.size
        if second < 0 or len(ptr) < need:
            if second < 0:  # nsops is unsigned: the kernel sees a huge count
                raise KernelError(errno.E2BIG, f"ipc(SEMOP): nsops {second} exceeds semopm")
            raise _efault("the sembuf array", need, len(ptr))
        sops = L.unpack_sembufs(ptr[:need])
        timeout = None if call == SEMOP or fifth < 0 else fifth / 1e9
        return _tagged(task, "none", sem.sys_semtimedop(k, task, first, sops, timeout))
    if call == SEMGET:
        return ("int", sem.sys_semget(k, task, first, second, third))
    if call == SEMCTL:
        return _tagged(task, "ctl", sem.sys_semctl(k, task, first, second, third & ~IPC_64, _semun(third, ptr)))
    if call == MSGSND:
        if len(ptr) < 8 + max(second, 0):
            raise _efault("struct msgbuf", 8 + max(second, 0), len(ptr))
        mtype = _I64.unpack_from(ptr)[0]
        return _tagged(task, "none", msg.sys_msgsnd(k, task, first, mtype, ptr[8:8 + second], third))
    if call == MSGRCV:
        if version == 0:
            if not ptr:
                raise KernelError(errno.EINVAL, "ipc(MSGRCV) version 0: ptr is NULL")
            if len(ptr) < _KLUDGE.size:
                raise _efault("struct ipc_kludge", _KLUDGE.size, len(ptr))
            msgtyp = _KLUDGE.unpack_from(ptr)[1]
        else:
            msgtyp = fifth
        return _tagged(task, "msg", msg.sys_msgrcv(k, task, first, second, msgtyp, third))
    if call == MSGGET:
        return ("int", msg.sys_msgget(k, task, first, second))
    if call == MSGCTL:
        return ("ctl", msg.sys_msgctl(k, task, first, second & ~IPC_64, _ctl_buf(second, ptr, MsqidDs)))
    if call == SHMAT:
        if version == 1:
            raise KernelError(errno.EINVAL, "ipc(SHMAT) version 1 is iBCS2's entry point")
        addr = _U64.unpack_from(ptr)[0] if len(ptr) >= 8 else 0
        return ("shmat", shm.sys_shmat(k, task, first, addr, second))
    if call == SHMDT:
        if len(ptr) < 8:
            raise KernelError(errno.EINVAL, "ipc(SHMDT): no attachment named at ptr")
        return ("none", shm.sys_shmdt(k, task, _I64.unpack_from(ptr)[0]))
    if call == SHMGET:
        return ("int", shm.sys_shmget(k, task, first, second, third))
    if call == SHMCTL:
        return ("ctl", shm.sys_shmctl(k, task, first, second & ~IPC_64, _ctl_buf(second, ptr, ShmidDs)))
    raise KernelError(errno.ENOSYS, f"ipc: no call {call}")


def _tagged(task: Task, kind: str, result: Any) -> Any:
    """Tag a result, now or when the sleeper it parked completes."""
    if result is not BLOCKED:
        return (kind, result)
    assert task.waiter is not None and task.waiter.then is None
    task.waiter.then = lambda res: res if isinstance(res, KernelError) else (kind, res)
    return BLOCKED
