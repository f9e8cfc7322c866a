"""ipc(2), the multiplexer (ipc/syscall.c): every call it dispatches, its
versions, its errors.  x86_64 Linux has no ipc syscall (no
__ARCH_WANT_SYS_IPC), so there is no kernel to compare with here: each call
is compared with the direct syscall on uipc instead."""
from __future__ import annotations

import errno
import struct

import pytest

import uipc
from uipc.client.ipc import (
    MSGCTL, MSGGET, MSGRCV, MSGSND, SEMCTL, SEMGET, SEMOP, SEMTIMEDOP, SHMAT, SHMCTL, SHMDT,
    SHMGET,
)


def ipc_errno(*args) -> int:  # type: ignore[no-untyped-def]
    with pytest.raises(OSError) as info:
        uipc.ipc(*args)
    return info.value.errno  # type: ignore[return-value]


def test_message_queue_calls(ns: str) -> None:
    q = uipc.ipc(MSGGET, uipc.IPC_PRIVATE, 0o600)
    assert uipc.msgctl(q, uipc.IPC_STAT).msg_qnum == 0
    assert uipc.ipc(MSGSND, q, 5, 0, (7, b"hello")) == 0
    assert uipc.ipc(MSGSND, q, 3, 0, (8, b"abc")) == 0
    # version 0: msgtyp from the ipc_kludge ptr points to; version 1: from fifth
    assert uipc.ipc(MSGRCV, q, 64, 0, (0, 8)) == (8, b"abc")
    assert uipc.ipc(MSGRCV | (1 << 16), q, 64, 0, None, 7) == (7, b"hello")
    assert ipc_errno(MSGRCV, q, 64, 0, None) == errno.EINVAL  # version 0 needs ptr
    assert ipc_errno(MSGRCV | (1 << 16), q, 64, uipc.IPC_NOWAIT, None, 0) == errno.ENOMSG
    assert uipc.ipc(MSGCTL, q, uipc.IPC_STAT).msg_qnum == 0
    assert uipc.ipc(MSGCTL, q, uipc.IPC_RMID) == 0
    assert ipc_errno(MSGCTL, q, uipc.IPC_STAT) == errno.EINVAL


def test_semaphore_calls(ns: str) -> None:
    s = uipc.ipc(SEMGET, uipc.IPC_PRIVATE, 2, 0o600)
    assert uipc.ipc(SEMCTL, s, 0, uipc.SETVAL, 3) == 0
    assert uipc.ipc(SEMOP, s, 1, 0, [(0, -1, 0)]) == 0
    assert uipc.semctl(s, 0, uipc.GETVAL) == 2
    assert uipc.ipc(SEMCTL, s, 0, uipc.GETVAL, 0) == 2
    assert uipc.ipc(SEMCTL, s, 0, uipc.SETALL, [4, 5]) == 0
    assert uipc.semctl(s, 0, uipc.GETALL) == [4, 5]
    assert ipc_errno(SEMCTL, s, 0, uipc.GETVAL, None) == errno.EINVAL  # NULL ptr
    # SEMTIMEDOP: fifth is the timeout (ns); raw struct sembuf bytes work too
    sops = struct.pack("<HhH", 1, -6, 0)
    assert ipc_errno(SEMTIMEDOP, s, 1, 0, sops, 1_000_000) == errno.EAGAIN
    assert ipc_errno(SEMOP, s, 2, 0, sops) == errno.EFAULT  # nsops past what ptr holds
    assert uipc.ipc(SEMCTL, s, 0, uipc.IPC_RMID, 0) == 0


def test_shared_memory_calls(ns: str) -> None:
    m = uipc.ipc(SHMGET, uipc.IPC_PRIVATE, 8192, 0o600)
    addr = uipc.ipc(SHMAT, m, 0, 0, None)
    uipc.shm_view(addr)[:5] = b"hello"
    assert uipc.shmctl(m, uipc.IPC_STAT).shm_nattch == 1
    other = uipc.shmat(m)
    assert bytes(uipc.shm_view(other)[:5]) == b"hello"
    uipc.shmdt(other)
    assert uipc.ipc(SHMDT, 0, 0, 0, addr) == 0
    assert uipc.ipc(SHMCTL, m, uipc.IPC_STAT).shm_nattch == 0
    assert ipc_errno(SHMAT | (1 << 16), m, 0, 0, None) == errno.EINVAL  # iBCS2's version
    assert uipc.ipc(SHMCTL, m, uipc.IPC_RMID) == 0


def test_unknown_call_is_enosys(ns: str) -> None:
    assert ipc_errno(99, 0) == errno.ENOSYS
