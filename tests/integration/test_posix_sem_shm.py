"""Named POSIX semaphores and shm_open through the real daemon, with real processes.

Semaphores as glibc's sem_open(3) family gives them (value, trywait,
timedwait, a sleeper woken by another process's post, SEM_VALUE_MAX, the
same name opened twice, unlink while open, a killed sleeper); shared memory
as shm_open(3) over /dev/shm gives it (two processes' mappings, the size
after ftruncate, a read-only descriptor, O_TRUNC, unlink while mapped);
other users' access in system mode; ``uipc.posix.Semaphore`` and
``SharedMemory``.  Sleepers are waited for as in test_posix_mq.py
(:meth:`Kid.wait_parked`).
"""
from __future__ import annotations

import asyncio
import errno
import mmap
import os
import time
from typing import Any, Callable, Iterator

import pytest

import uipc
from tests.conftest import wait_until
from tests.helpers import NOBODY, errno_of, snapshot
from tests.integration.test_posix_mq import Kid, RECV_SYSCALLS, kids  # noqa: F401 - a fixture
from uipc.posix import Semaphore, SharedMemory
from uipc.uapi.mqueue import SEM_VALUE_MAX

O_CREAT, O_EXCL, O_TRUNC = os.O_CREAT, os.O_EXCL, os.O_TRUNC
O_RDONLY, O_RDWR = os.O_RDONLY, os.O_RDWR
PAGE = mmap.PAGESIZE

pytestmark = pytest.mark.skipif(not RECV_SYSCALLS, reason="syscall numbers known for "
                                "x86_64 and aarch64 only")
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="setuid children need root")


class Names:
    """Semaphores and shared memory objects of one test: each one it
    created is closed and unlinked after it."""

    def __init__(self) -> None:
        self.sems: list[uipc.NamedSem] = []
        self.sem_names: set[str] = set()
        self.fds: list[int] = []
        self.shm_names: set[str] = set()

    def sem(self, name: str, oflag: int = O_CREAT, mode: int = 0o600,
            value: int = 0) -> uipc.NamedSem:
        sem = uipc.sem_open(name, oflag, mode, value)
        self.sems.append(sem)
        if oflag & O_CREAT:
            self.sem_names.add(name)
        return sem

    def sem_closed(self, sem: uipc.NamedSem) -> None:
        self.sems.remove(sem)

    def shm(self, name: str, oflag: int = O_CREAT | O_RDWR, mode: int = 0o600) -> int:
        fd = uipc.shm_open(name, oflag, mode)
        self.fds.append(fd)
        if oflag & O_CREAT:
            self.shm_names.add(name)
        return fd

    def cleanup(self) -> None:
        for sem in self.sems:
            try:
                uipc.sem_close(sem)
            except OSError:
                pass
        for name in self.sem_names:
            try:
                uipc.sem_unlink(name)
            except OSError:
                pass
        for fd in self.fds:
            try:
                os.close(fd)
            except OSError:
                pass
        for name in self.shm_names:
            try:
                uipc.shm_unlink(name)
            except OSError:
                pass


@pytest.fixture
def objs(ns: str) -> Iterator[Names]:
    n = Names()
    yield n
    n.cleanup()



# --- named semaphores -------------------------------------------------------------
def test_semaphore_value_semantics(objs: Names) -> None:
    sem = objs.sem("/val", value=3)
    assert uipc.sem_getvalue(sem) == 3
    for left in (2, 1, 0):
        uipc.sem_trywait(sem)
        assert uipc.sem_getvalue(sem) == left
    assert errno_of(lambda: uipc.sem_trywait(sem)) == errno.EAGAIN
    assert uipc.sem_getvalue(sem) == 0
    uipc.sem_post(sem)
    uipc.sem_post(sem)
    uipc.sem_wait(sem)  # a value to take: no sleep
    assert uipc.sem_getvalue(sem) == 1
    # O_CREAT of an existing one opens it (its value is not reset), O_EXCL refuses
    again = objs.sem("/val", O_CREAT, 0o600, 99)
    assert uipc.sem_getvalue(again) == 1
    assert errno_of(lambda: uipc.sem_open("/val", O_CREAT | O_EXCL, 0o600, 0)) == errno.EEXIST
    assert errno_of(lambda: uipc.sem_open("/nosuch", 0)) == errno.ENOENT
    assert errno_of(lambda: uipc.sem_open("/a/b", O_CREAT, 0o600, 0)) == errno.EINVAL
    # not in the machine's /dev/shm: the daemon keeps it
    assert not os.path.exists("/dev/shm/sem.val")


def test_sem_timedwait_times_out(objs: Names) -> None:
    sem = objs.sem("/timed")
    start = time.monotonic()
    assert errno_of(lambda: uipc.sem_timedwait(sem, time.time() + 0.1)) == errno.ETIMEDOUT
    assert time.monotonic() - start >= 0.09
    assert errno_of(lambda: uipc.sem_timedwait(sem, time.time() - 5)) == errno.ETIMEDOUT
    # glibc's futex wait gives a negative deadline ETIMEDOUT too, not EINVAL
    assert errno_of(lambda: uipc.sem_timedwait(sem, -1)) == errno.ETIMEDOUT
    uipc.sem_post(sem)
    uipc.sem_timedwait(sem, time.time() - 5)  # a value to take: the deadline does not matter
    assert uipc.sem_getvalue(sem) == 0


def test_blocking_sem_wait_in_a_child_is_woken_by_a_post(objs: Names, kids) -> None:
    sem = objs.sem("/wake")

    def waiter(kid: Kid) -> int:
        mine = uipc.sem_open("/wake", 0)
        kid.ready()
        uipc.sem_wait(mine)
        return uipc.sem_getvalue(mine)

    w = kids(waiter)
    w.wait_parked()
    assert uipc.sem_getvalue(sem) == 0
    uipc.sem_post(sem)
    assert w.result() == 0  # the post went to the sleeper, not into the value
    assert uipc.sem_getvalue(sem) == 0


def test_sleepers_are_woken_in_order(objs: Names, kids) -> None:
    """Each post goes to the longest waiter (FIFO of equal-priority waiters)."""
    sem = objs.sem("/order")
    report = objs.sem("/report")  # each woken child says so by waiting for its turn

    def waiter(tag: int) -> Callable[[Kid], int]:
        def run(kid: Kid) -> int:
            kid.ready()
            uipc.sem_wait(sem)
            uipc.sem_post(report)
            return tag
        return run

    ws = []
    for tag in range(3):
        ws.append(kids(waiter(tag)))
        ws[-1].wait_parked()
    for w, tag in zip(ws, range(3)):
        uipc.sem_post(sem)
        uipc.sem_wait(report)  # it woke and posted: it was this one
        assert w.result() == tag


def test_sem_post_overflows_at_sem_value_max(objs: Names) -> None:
    sem = objs.sem("/max", value=SEM_VALUE_MAX)
    assert uipc.sem_getvalue(sem) == SEM_VALUE_MAX
    assert errno_of(lambda: uipc.sem_post(sem)) == errno.EOVERFLOW
    assert uipc.sem_getvalue(sem) == SEM_VALUE_MAX
    uipc.sem_trywait(sem)
    uipc.sem_post(sem)
    assert uipc.sem_getvalue(sem) == SEM_VALUE_MAX
    too_big = SEM_VALUE_MAX + 1
    assert errno_of(lambda: uipc.sem_open("/over", O_CREAT, 0o600, too_big)) == errno.EINVAL


def test_same_name_opened_twice_and_by_a_child(objs: Names, kids) -> None:
    """glibc gives the same sem_t back for a name opened twice; a sem_close
    drops one of the opens; a fork child has the parent's, and opens its own."""
    first = objs.sem("/twice", value=1)
    second = objs.sem("/twice", 0)
    assert second.handle == first.handle
    uipc.sem_close(first)
    objs.sem_closed(first)
    uipc.sem_post(second)  # still open once
    assert uipc.sem_getvalue(second) == 2

    def child(kid: Kid) -> tuple[int, int]:
        uipc.sem_post(second)  # the parent's, inherited
        mine = uipc.sem_open("/twice", 0)
        uipc.sem_post(mine)
        uipc.sem_close(mine)
        uipc.sem_post(second)  # its inherited open is still there
        return mine.handle, uipc.sem_getvalue(second)

    handle, value = kids(child).result()
    assert handle == second.handle and value == 5
    assert uipc.sem_getvalue(second) == 5
    uipc.sem_close(second)
    objs.sem_closed(second)
    # every open of it in this process is gone
    assert errno_of(lambda: uipc.sem_getvalue(second)) == errno.EINVAL


def test_sem_unlink_while_open(objs: Names) -> None:
    old = objs.sem("/gone", value=2)
    uipc.sem_unlink("/gone")
    assert errno_of(lambda: uipc.sem_open("/gone", 0)) == errno.ENOENT
    assert errno_of(lambda: uipc.sem_unlink("/gone")) == errno.ENOENT
    uipc.sem_post(old)  # still usable
    assert uipc.sem_getvalue(old) == 3
    new = objs.sem("/gone", O_CREAT | O_EXCL, 0o600, 7)
    assert new.handle != old.handle
    assert (uipc.sem_getvalue(old), uipc.sem_getvalue(new)) == (3, 7)
    uipc.sem_wait(old)
    assert (uipc.sem_getvalue(old), uipc.sem_getvalue(new)) == (2, 7)


def test_kill_9_of_a_blocked_waiter_leaves_nothing(objs: Names, kids) -> None:
    sem = objs.sem("/killed")

    def waiter(kid: Kid) -> None:
        kid.ready()
        uipc.sem_wait(sem)

    w = kids(waiter)
    w.wait_parked()
    w.kill()
    wait_until(lambda: w.pid not in snapshot()["processes"], what="the dead waiter to go")
    uipc.sem_post(sem)
    assert uipc.sem_getvalue(sem) == 1  # not handed to a ghost
    uipc.sem_trywait(sem)


# --- shm_open -----------------------------------------------------------------------
def test_two_processes_see_each_others_writes(objs: Names, kids) -> None:
    fd = objs.shm("/shared")
    os.ftruncate(fd, 2 * PAGE)
    with mmap.mmap(fd, 2 * PAGE) as m:
        m[:6] = b"parent"

        def child(kid: Kid) -> bytes:
            cfd = uipc.shm_open("/shared", O_RDWR, 0)
            with mmap.mmap(cfd, 2 * PAGE) as cm:
                seen = cm[:6]
                cm[PAGE:PAGE + 5] = b"child"
                kid.tell("written")
                kid.wait_go()
                seen += cm[6:12]
            os.close(cfd)
            return seen

        kid = kids(child)
        assert kid.hear() == "written"
        assert m[PAGE:PAGE + 5] == b"child"
        m[6:12] = b"again!"
        kid.go()
        assert kid.result() == b"parentagain!"
    assert not os.path.exists("/dev/shm/shared")


def test_size_follows_ftruncate(objs: Names) -> None:
    fd = objs.shm("/sized")
    assert os.fstat(fd).st_size == 0
    os.ftruncate(fd, 3 * PAGE + 5)
    assert os.fstat(fd).st_size == 3 * PAGE + 5
    other = objs.shm("/sized", O_RDWR)  # another open of it sees the same size
    assert os.fstat(other).st_size == 3 * PAGE + 5
    os.ftruncate(other, PAGE)
    assert os.fstat(fd).st_size == PAGE
    assert not os.get_inheritable(fd)  # glibc opens it O_CLOEXEC
    st = os.fstat(fd)
    assert (st.st_mode & 0o777, st.st_uid) == (0o600, os.geteuid())


def test_read_only_descriptor(objs: Names) -> None:
    fd = objs.shm("/ro")
    os.ftruncate(fd, PAGE)
    os.pwrite(fd, b"data", 0)
    ro = objs.shm("/ro", O_RDONLY)
    with pytest.raises(OSError) as info:
        mmap.mmap(ro, PAGE, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
    assert info.value.errno == errno.EACCES
    assert errno_of(lambda: os.write(ro, b"x")) == errno.EBADF
    assert errno_of(lambda: os.ftruncate(ro, 2 * PAGE)) == errno.EINVAL
    assert os.fstat(ro).st_size == PAGE
    with mmap.mmap(ro, PAGE, mmap.MAP_SHARED, mmap.PROT_READ) as m:
        assert m[:4] == b"data"
    assert os.pread(ro, 4, 0) == b"data"


def test_o_trunc_empties_the_object(objs: Names) -> None:
    fd = objs.shm("/trunc")
    os.ftruncate(fd, PAGE)
    os.pwrite(fd, b"old", 0)
    again = objs.shm("/trunc", O_RDWR | O_TRUNC)
    assert os.fstat(fd).st_size == 0 and os.fstat(again).st_size == 0
    os.ftruncate(again, PAGE)
    assert os.pread(fd, 3, 0) == b"\0\0\0"


def test_shm_open_eexist_enoent_einval(objs: Names) -> None:
    objs.shm("/exists")
    excl = O_CREAT | O_EXCL | O_RDWR
    assert errno_of(lambda: uipc.shm_open("/exists", excl, 0o600)) == errno.EEXIST
    assert errno_of(lambda: uipc.shm_open("/missing", O_RDWR, 0)) == errno.ENOENT
    assert errno_of(lambda: uipc.shm_unlink("/missing")) == errno.ENOENT
    assert errno_of(lambda: uipc.shm_open("/a/b", O_CREAT | O_RDWR, 0o600)) == errno.EINVAL


def test_unlink_while_mapped_keeps_the_mapping(objs: Names, kids) -> None:
    fd = objs.shm("/mapped")
    os.ftruncate(fd, PAGE)
    with mmap.mmap(fd, PAGE) as m:
        m[:5] = b"keep!"
        os.close(fd)
        objs.fds.remove(fd)
        uipc.shm_unlink("/mapped")
        objs.shm_names.discard("/mapped")
        assert m[:5] == b"keep!"
        m[5:10] = b"still"
        assert errno_of(lambda: uipc.shm_open("/mapped", O_RDWR, 0)) == errno.ENOENT
        # the name may be used again at once, for another object
        new = objs.shm("/mapped", O_CREAT | O_EXCL | O_RDWR)
        assert os.fstat(new).st_size == 0
        os.ftruncate(new, PAGE)
        assert os.pread(new, 10, 0) == b"\0" * 10
        # a fork child's copy of the mapping is the same memory
        kids(lambda kid: m.__setitem__(slice(10, 15), b"child")).result()
        assert m[:15] == b"keep!stillchild"


# --- other users (system mode) --------------------------------------------------------
def _as_nobody(fn: Callable[[], Any]) -> Any:
    def run(kid: Kid) -> Any:
        os.setgroups([])
        os.setgid(NOBODY)
        os.setuid(NOBODY)
        return fn()
    kid = Kid(run)
    try:
        return kid.result()
    finally:
        kid.cleanup()


@needs_root
def test_other_users_access_in_system_mode(system_daemon, no_umask) -> None:
    uipc.unshare_namespace()
    n = Names()
    try:
        n.sem("/rootsem", mode=0o600, value=1)
        open_sem = n.sem("/opensem", mode=0o666, value=0)
        fd = n.shm("/rootshm", mode=0o600)
        readable = n.shm("/readshm", mode=0o644)
        os.ftruncate(readable, PAGE)
        os.pwrite(readable, b"for all", 0)

        def stranger() -> list[Any]:
            out: list[Any] = [
                errno_of(lambda: uipc.sem_open("/rootsem", 0)),
                errno_of(lambda: uipc.sem_unlink("/rootsem")),   # glibc's EPERM -> EACCES
                errno_of(lambda: uipc.shm_open("/rootshm", O_RDONLY, 0)),
                errno_of(lambda: uipc.shm_open("/rootshm", O_RDWR, 0)),
                errno_of(lambda: uipc.shm_unlink("/rootshm")),
                errno_of(lambda: uipc.shm_open("/readshm", O_RDWR, 0)),
                errno_of(lambda: uipc.shm_open("/readshm", O_RDONLY | O_TRUNC, 0)),
            ]
            ro = uipc.shm_open("/readshm", O_RDONLY, 0)
            out.append(os.pread(ro, 7, 0))
            os.close(ro)
            s = uipc.sem_open("/opensem", 0)
            uipc.sem_post(s)
            uipc.sem_close(s)
            own = uipc.shm_open("/nobodys", O_CREAT | O_RDWR, 0o604)
            os.close(own)
            return out

        assert _as_nobody(stranger) == [errno.EACCES, errno.EACCES, errno.EACCES, errno.EACCES,
                                        errno.EACCES, errno.EACCES, errno.EACCES, b"for all"]
        assert uipc.sem_getvalue(open_sem) == 1
        assert os.fstat(readable).st_size == PAGE  # the refused O_TRUNC did nothing
        assert os.fstat(fd).st_size == 0
        # its own object is its: owner and mode as fstat shows them, and root may unlink it
        theirs = n.shm("/nobodys", O_RDWR)
        st = os.fstat(theirs)
        assert (st.st_uid, st.st_gid, st.st_mode & 0o777) == (NOBODY, NOBODY, 0o604)
        uipc.shm_unlink("/nobodys")
    finally:
        n.cleanup()


# --- uipc.posix.Semaphore and SharedMemory -------------------------------------------
def test_semaphore_class(ns: str) -> None:
    s = Semaphore("/cls", os.O_CREAT | os.O_EXCL, value=1)
    try:
        with s:
            assert s.value == 0
            assert s.acquire(blocking=False) is False
            start = time.monotonic()
            assert s.acquire(timeout=0.1) is False
            assert time.monotonic() - start >= 0.09
        assert s.value == 1
        assert s.acquire(timeout=0) is True
        s.release()
        other = Semaphore("/cls")
        other.release()
        assert s.value == 2
        other.close()
        other.close()  # twice is harmless
        with pytest.raises(ValueError):
            other.acquire()
        with pytest.raises(ValueError):
            s.acquire(timeout=-1)
    finally:
        s.unlink()
        s.close()
    assert errno_of(lambda: Semaphore("/cls")) == errno.ENOENT


def test_aacquire_cancelled_leaves_no_waiter(ns: str) -> None:
    """wait_for around aacquire: the cancelled wait is gone from the
    daemon, so a post afterwards raises the value instead of feeding a ghost."""
    async def main(s: Semaphore) -> tuple[int, bool, int]:
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(s.aacquire(), 0.05)
        s.release()
        after_post = s.value
        got = await asyncio.wait_for(s.aacquire(), 10)
        return after_post, got, s.value

    s = Semaphore("/acancel", os.O_CREAT, value=0)
    try:
        assert asyncio.run(main(s)) == (1, True, 0)
    finally:
        s.unlink()
        s.close()


def test_aacquire_woken_by_another_process(ns: str, kids) -> None:
    from tests.integration.test_posix_mq import POLL_SYSCALLS, in_syscall

    def poster(kid: Kid) -> None:
        mine = uipc.sem_open("/apost", 0)
        parent = os.getppid()
        kid.wait_go()
        wait_until(lambda: in_syscall(parent, POLL_SYSCALLS), what="the parent's loop to sleep")
        uipc.sem_post(mine)

    async def main(s: Semaphore, kid: Kid) -> bool:
        kid.go()
        return await asyncio.wait_for(s.aacquire(timeout=20), 30)

    s = Semaphore("/apost", os.O_CREAT, value=0)
    try:
        kid = kids(poster)
        assert asyncio.run(main(s, kid)) is True
        kid.result()
        assert s.value == 0
    finally:
        s.unlink()
        s.close()


def test_shared_memory_class(ns: str, kids) -> None:
    with SharedMemory("/clsshm", os.O_CREAT | os.O_EXCL, size=PAGE) as shm:
        try:
            assert shm.size == PAGE
            shm.buf[:5] = b"hello"
            with SharedMemory("/clsshm", readonly=True) as ro:
                assert bytes(ro.buf[:5]) == b"hello"
                with pytest.raises(TypeError):
                    ro.buf[0] = 0
            kids(lambda kid: SharedMemory("/clsshm").buf.__setitem__(slice(5, 8), b"!!!")).result()
            assert bytes(shm.buf[:8]) == b"hello!!!"
            os.ftruncate(shm.fd, 2 * PAGE)
            assert len(shm.buf) == 2 * PAGE  # remapped at the new size
            view = shm.buf
            shm.close_fd()
            assert bytes(view[:5]) == b"hello"  # the mapping outlives the descriptor
            view.release()
        finally:
            shm.unlink()
    assert errno_of(lambda: SharedMemory("/clsshm")) == errno.ENOENT


def test_shared_memory_buf_after_close_fd(ns: str) -> None:
    with SharedMemory("/closefd", os.O_CREAT | os.O_EXCL, size=PAGE) as shm:
        try:
            shm.buf[:2] = b"ok"
            shm.close_fd()
            assert bytes(shm.buf[:2]) == b"ok"
        finally:
            shm.unlink()


def test_shared_memory_buf_after_growth_with_a_view_alive(ns: str) -> None:
    with SharedMemory("/grow", os.O_CREAT | os.O_EXCL, size=PAGE) as shm:
        try:
            old = shm.buf
            old[:3] = b"old"
            os.ftruncate(shm.fd, 2 * PAGE)
            assert len(shm.buf) == 2 * PAGE
            assert bytes(old[:3]) == b"old"
        finally:
            shm.unlink()
