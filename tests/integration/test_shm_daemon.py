"""SysV shared memory through the real daemon: real shared bytes, real processes."""
from __future__ import annotations

import ctypes
import errno
import os
import signal
import subprocess
import sys

import pytest

import uipc
from tests.conftest import wait_until
from tests.helpers import Child

libc = ctypes.CDLL(None, use_errno=True)
libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]


def nattch(shmid: int) -> int:
    return uipc.shmctl(shmid, uipc.IPC_STAT).shm_nattch


def test_two_processes_share_bytes_and_readonly_cannot_write(ns: str) -> None:
    shmid = uipc.shmget(0x600, 1 << 16, uipc.IPC_CREAT | 0o600)
    addr = uipc.shmat(shmid)
    view = uipc.shm_view(addr)
    assert len(view) == 1 << 16 and bytes(view[:16]) == bytes(16)   # zero-filled
    view[:6] = b"parent"

    def writer() -> bytes:
        a = uipc.shmat(uipc.shmget(0x600, 0, 0))
        v = uipc.shm_view(a)
        seen = bytes(v[:6])
        v[100:105] = b"child"
        uipc.shmdt(a)
        return seen

    assert Child(writer).result() == b"parent"
    assert bytes(view[100:105]) == b"child"

    def reader() -> tuple[bytes, str, int]:
        a = uipc.shmat(shmid, None, uipc.SHM_RDONLY)
        v = uipc.shm_view(a)
        try:
            v[0:1] = b"x"
            how = "wrote"
        except TypeError:
            how = "TypeError"
        # nor can the mapping be made writable: the descriptor was read-only
        rc = libc.mprotect(a, 4096, 0x1 | 0x2)
        return bytes(v[100:105]), how, ctypes.get_errno() if rc else 0

    seen, how, err = Child(reader).result()
    assert (seen, how, err) == (b"child", "TypeError", errno.EACCES)
    ds = uipc.shmctl(shmid, uipc.IPC_STAT)
    assert ds.shm_nattch == 1 and ds.shm_cpid == os.getpid()
    uipc.shmdt(addr)
    with pytest.raises(OSError) as e:
        uipc.shmdt(addr)
    assert e.value.errno == errno.EINVAL
    uipc.shmctl(shmid, uipc.IPC_RMID)


def test_nattch_through_fork_exit_exec_and_kill_9(ns: str) -> None:
    shmid = uipc.shmget(uipc.IPC_PRIVATE, 4096, 0o600)
    addr = uipc.shmat(shmid)
    assert nattch(shmid) == 1
    go = uipc.msgget(uipc.IPC_PRIVATE, 0o600)

    def holder() -> None:
        uipc.msgsnd(go, 1, b"up")
        uipc.msgrcv(go, 10, 2)

    kid = Child(holder)           # inherits the mapping: +1 as soon as it forked
    uipc.msgrcv(go, 10, 1)
    assert nattch(shmid) == 2
    assert uipc.shmctl(shmid, uipc.IPC_STAT).shm_lpid == os.getpid()  # fork: the parent's pid
    uipc.msgsnd(go, 2, b"bye")
    kid.result()
    wait_until(lambda: nattch(shmid) == 1, what="exit detaches")
    assert uipc.shmctl(shmid, uipc.IPC_STAT).shm_lpid == kid.pid

    killed = Child(holder)
    uipc.msgrcv(go, 10, 1)
    assert nattch(shmid) == 2
    killed.kill(signal.SIGKILL)
    wait_until(lambda: nattch(shmid) == 1, what="kill -9 detaches")

    # exec: the child's mappings are gone although the process lives on
    code = ("import os, sys, uipc\n"
            f"uipc.msgsnd({go}, 3, str(os.getpid()).encode())\n"
            f"uipc.msgrcv({go}, 10, 4)\n")

    def execer() -> None:
        uipc.msgsnd(go, 5, b"forked")
        os.execv(sys.executable, [sys.executable, "-c", code])

    ex = Child(execer)
    uipc.msgrcv(go, 10, 5)
    pid_after_exec = int(uipc.msgrcv(go, 100, 3)[1])
    assert pid_after_exec == ex.pid
    wait_until(lambda: nattch(shmid) == 1, what="exec detaches")
    uipc.msgsnd(go, 4, b"done")
    os.waitpid(ex.pid, 0)
    uipc.shmdt(addr)
    assert nattch(shmid) == 0


def test_removed_segment_lives_until_last_detach(ns: str) -> None:
    shmid = uipc.shmget(0x601, 4096, uipc.IPC_CREAT | 0o600)
    go = uipc.msgget(uipc.IPC_PRIVATE, 0o600)

    def user() -> bytes:
        a = uipc.shmat(shmid)
        uipc.msgsnd(go, 1, b"attached")
        uipc.msgrcv(go, 10, 2)                 # the parent removes it meanwhile
        v = uipc.shm_view(a)
        v[:4] = b"live"                        # still readable and writable
        out = bytes(v[:4])
        uipc.shmdt(a)
        return out

    kid = Child(user)
    uipc.msgrcv(go, 10, 1)
    uipc.shmctl(shmid, uipc.IPC_RMID)
    ds = uipc.shmctl(shmid, uipc.IPC_STAT)
    assert ds.shm_perm.mode & uipc.SHM_DEST and ds.shm_perm.key == uipc.IPC_PRIVATE
    with pytest.raises(OSError) as e:
        uipc.shmget(0x601, 0, 0)
    assert e.value.errno == errno.ENOENT
    uipc.msgsnd(go, 2, b"go on")
    assert kid.result() == b"live"
    with pytest.raises(OSError) as e:
        uipc.shmctl(shmid, uipc.IPC_STAT)
    assert e.value.errno == errno.EINVAL


def test_fixed_addresses(ns: str) -> None:
    shmid = uipc.shmget(uipc.IPC_PRIVATE, 8192, 0o600)
    a = uipc.shmat(shmid)
    uipc.shmdt(a)
    b = uipc.shmat(shmid, a + 5, uipc.SHM_RND)          # rounded down to a
    assert b == a
    with pytest.raises(OSError) as e:
        uipc.shmat(shmid, a)                             # occupied, no SHM_REMAP
    assert e.value.errno == errno.EINVAL
    assert nattch(shmid) == 1                            # the failed attach left no count
    with pytest.raises(OSError) as e:
        uipc.shmat(shmid, a + 5)
    assert e.value.errno == errno.EINVAL
    uipc.shmdt(b)


def test_shared_memory_class(ns: str) -> None:
    with uipc.SharedMemory("frames", size=1000, create=True, remove_on_exit=True) as m:
        m.write(b"abc", offset=10)
        assert m.read(3, offset=10) == b"abc" and m.size == 1000
        other = uipc.SharedMemory("frames", readonly=True)
        assert other.read(3, offset=10) == b"abc"
        with pytest.raises(TypeError):
            other.buf[0] = 1
        with pytest.raises(ValueError):
            m.write(b"x" * 2000)
        other.detach()
        assert m.stat.shm_nattch == 1
    with pytest.raises(OSError):
        uipc.SharedMemory("frames")


def test_limits_and_errors(ns: str) -> None:
    for size, flags, err in [(0, 0, errno.EINVAL), (1 << 63, 0, errno.EINVAL),
                             (4096, uipc.SHM_HUGETLB, errno.ENOMEM), (1 << 62, 0, errno.ENOMEM)]:
        with pytest.raises(OSError) as e:
            uipc.shmget(uipc.IPC_PRIVATE, size, flags | 0o600)
        assert e.value.errno == err, (size, flags)
    # a huge sparse segment with SHM_NORESERVE is fine, as on Linux
    s = uipc.shmget(uipc.IPC_PRIVATE, 1 << 40, uipc.SHM_NORESERVE | 0o600)
    uipc.shmctl(s, uipc.IPC_RMID)
    uipc.sysctl.set("kernel.shmmni", 1)
    uipc.shmget(uipc.IPC_PRIVATE, 1, 0o600)
    with pytest.raises(OSError) as e:
        uipc.shmget(uipc.IPC_PRIVATE, 1, 0o600)
    assert e.value.errno == errno.ENOSPC


def test_no_memfd_leak_in_daemon(ns: str, daemon) -> None:
    def fds() -> int:
        return len(os.listdir(f"/proc/{daemon.pid}/fd"))

    before = fds()
    for _ in range(20):
        s = uipc.shmget(uipc.IPC_PRIVATE, 4096, 0o600)
        a = uipc.shmat(s)
        r = uipc.shmat(s, None, uipc.SHM_RDONLY)
        uipc.shmctl(s, uipc.IPC_RMID)
        uipc.shmdt(a)
        uipc.shmdt(r)
    assert fds() == before
    _ = subprocess
