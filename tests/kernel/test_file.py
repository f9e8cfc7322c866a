"""uipc/kernel/file.py on the pure core: File references, FdTable (lowest
descriptor, dup, dup2/dup3, close-on-exec, fork sharing, EMFILE), the
process-life hooks in Linux's order, and poll registering wait entries."""
from __future__ import annotations

import errno as E
from typing import Any, Callable

import pytest

from uipc.kernel import BLOCKED, Cred, Kernel, KernelError
from uipc.kernel.file import (
    DEFAULT_POLLMASK, O_CLOEXEC, O_RDONLY, O_WRONLY, POLLIN, POLLOUT, File, FdTable, FileOps,
    PollTable, fput, get_file, poll_initwait, poll_wait, vfs_poll, vfs_read, vfs_write,
)
from uipc.kernel.syscalls import SYSCALLS
from uipc.kernel.wait import WaitQueue, Waiter, wake_up
from uipc.uapi import GETVAL, IPC_PRIVATE, IPC_STAT, SEM_UNDO


class Probe(FileOps):
    """A dummy file: records its releases (and what the world looked like)."""

    name = "probe"

    def __init__(self, on_release: Callable[[], Any] | None = None) -> None:
        self.released: list[tuple[Any, Any]] = []
        self.on_release = on_release

    def release(self, k, task, file) -> None:
        self.released.append((file.private_data, self.on_release() if self.on_release else None))


def open_file(ops: FileOps, name: str = "f", flags: int = 0o2) -> File:
    return File(ops, flags, private_data=name)


@pytest.fixture
def k() -> Kernel:
    return Kernel()


def test_lowest_free_descriptor_first(k: Kernel) -> None:
    ops, t = Probe(), FdTable()
    fds = [t.new_fd(open_file(ops, f"f{i}")) for i in range(4)]
    assert fds == [0, 1, 2, 3]
    t.close(k, 1)
    t.close(k, 2)
    assert t.new_fd(open_file(ops, "g")) == 1  # the lowest hole, not the next number
    assert t.new_fd(open_file(ops, "h")) == 2
    assert t.new_fd(open_file(ops, "i")) == 4
    assert t.fds() == [0, 1, 2, 3, 4] and len(t) == 5
    reserved = t.alloc_fd()
    assert reserved == 5 and 5 not in t and len(t) == 5  # reserved, not open
    with pytest.raises(KernelError) as err:
        t.get(5)
    assert err.value.errno == E.EBADF
    t.put_unused_fd(5)
    assert t.alloc_fd(start=3) == 5  # >= 3 and free


def test_dup_shares_the_file_and_release_waits_for_the_last_reference(k: Kernel) -> None:
    ops, t = Probe(), FdTable()
    f = open_file(ops, "shared")
    fd = t.new_fd(f)
    d = t.dup(fd)
    assert d == 1 and t.get(d) is f and f.f_count == 2
    high = t.dup(fd, start=10, cloexec=True)  # F_DUPFD_CLOEXEC
    assert high == 10 and f.f_count == 3 and t.get_cloexec(high) and not t.get_cloexec(d)
    t.close(k, fd)
    t.close(k, high)
    assert ops.released == [] and f.f_count == 1
    t.close(k, d)
    assert ops.released == [("shared", None)] and f.f_count == 0
    with pytest.raises(KernelError) as err:
        t.close(k, d)
    assert err.value.errno == E.EBADF
    with pytest.raises(ValueError):
        fput(k, f)  # a released file has no reference to drop


def test_dup2_and_dup3(k: Kernel) -> None:
    ops, t = Probe(), FdTable(max_fds=16)
    a, b = open_file(ops, "a"), open_file(ops, "b")
    fa, fb = t.new_fd(a), t.new_fd(b)
    assert t.dup2(k, fa, fa) == fa  # same descriptor: nothing happens
    assert t.dup2(k, fa, fb) == fb  # b's only descriptor goes: released
    assert ops.released == [("b", None)] and t.get(fb) is a and a.f_count == 2
    assert t.dup3(k, fa, 7, True) == 7 and t.get_cloexec(7) and t.get(7) is a

    def errno_of(fn: Callable[[], Any]) -> int:
        with pytest.raises(KernelError) as err:
            fn()
        return err.value.errno

    assert errno_of(lambda: t.dup3(k, fa, fa, False)) == E.EINVAL
    assert errno_of(lambda: t.dup2(k, fa, 16)) == E.EBADF   # past RLIMIT_NOFILE
    assert errno_of(lambda: t.dup2(k, 9, 3)) == E.EBADF     # oldfd not open
    assert errno_of(lambda: t.dup2(k, 9, 9)) == E.EBADF
    assert errno_of(lambda: t.dup(fa, start=16)) == E.EINVAL  # F_DUPFD past the limit
    busy = t.alloc_fd()
    assert errno_of(lambda: t.dup2(k, fa, busy)) == E.EBUSY  # an open in progress


def test_emfile_at_max_fds(k: Kernel) -> None:
    ops, t = Probe(), FdTable(max_fds=3)
    for _ in range(3):
        t.new_fd(open_file(ops))
    with pytest.raises(KernelError) as err:
        t.new_fd(open_file(ops))
    assert err.value.errno == E.EMFILE and "RLIMIT_NOFILE (3)" in err.value.detail
    with pytest.raises(KernelError) as err:
        t.dup(0)
    assert err.value.errno == E.EMFILE
    t.close(k, 1)
    assert t.dup(0) == 1


def test_cloexec_flags_and_o_cloexec_is_not_a_file_flag(k: Kernel) -> None:
    t = FdTable()
    f = File(Probe(), O_RDONLY | O_CLOEXEC)
    fd = t.new_fd(f, cloexec=True)
    assert f.f_flags == O_RDONLY and t.get_cloexec(fd)
    t.set_cloexec(fd, False)
    assert not t.get_cloexec(fd)
    with pytest.raises(KernelError) as err:
        t.set_cloexec(99, True)
    assert err.value.errno == E.EBADF


# --- the table through the process's life ---------------------------------------------


def proc(k: Kernel, pid: int):
    return k.new_task(k.new_process(pid, Cred.of(0, 0)))


def test_exec_closes_only_close_on_exec_descriptors(k: Kernel) -> None:
    ops = Probe()
    t = proc(k, 10)
    files = t.process.files
    keep = files.new_fd(open_file(ops, "keep"))
    gone = files.new_fd(open_file(ops, "gone"), cloexec=True)
    dup_of_kept = files.dup(keep, cloexec=True)
    k.exec_process(t.process, 1000.0)
    assert files.fds() == [keep] and gone not in files and dup_of_kept not in files
    assert ops.released == [("gone", None)]  # "keep" still has a descriptor


def test_fork_shares_open_files_release_at_the_last_close(k: Kernel) -> None:
    ops = Probe()
    parent, child = proc(k, 10), proc(k, 11)
    f = open_file(ops, "pipe")
    fd = parent.process.files.new_fd(f, cloexec=True)
    k.fork_process(parent.process, child.process, None, 1000.0)
    cfiles = child.process.files
    assert cfiles is not parent.process.files
    assert cfiles.get(fd) is f and f.f_count == 2 and cfiles.get_cloexec(fd)
    # the tables are separate from now on
    parent.process.files.close(k, fd)
    assert ops.released == [] and cfiles.get(fd) is f
    k.exit_process(child.process, 1001.0)
    assert ops.released == [("pipe", None)]


def test_fork_refuses_a_child_with_files_of_its_own(k: Kernel) -> None:
    parent, child = proc(k, 10), proc(k, 11)
    child.process.files.new_fd(open_file(Probe()))
    with pytest.raises(KernelError) as err:
        k.fork_process(parent.process, child.process, None, 1000.0)
    assert err.value.errno == E.EPERM


def test_exit_files_comes_after_exit_mm_exit_sem_and_exit_shm(k: Kernel) -> None:
    """do_exit(): exit_mm, exit_sem, exit_shm, exit_files.  A release that
    looks at the world sees the undo applied and the mappings gone."""
    t = proc(k, 10)
    other = proc(k, 11)
    s = k.syscall(other, SYSCALLS["semget"], IPC_PRIVATE, 1, 0o666, now=1000.0)
    k.syscall(t, SYSCALLS["semop"], s, [(0, 5, SEM_UNDO)], now=1000.0)
    seg = k.syscall(other, SYSCALLS["shmget"], IPC_PRIVATE, 4096, 0o666, now=1000.0)
    k.syscall(t, SYSCALLS["shmat"], seg, 0, 0, now=1000.0)

    def world() -> tuple[int, int]:
        semval = k.syscall(other, SYSCALLS["semctl"], s, 0, GETVAL, now=1001.0)
        nattch = k.syscall(other, SYSCALLS["shmctl"], seg, IPC_STAT, now=1001.0)[1].shm_nattch
        return semval, nattch

    ops = Probe(on_release=world)
    for i in range(3):
        t.process.files.new_fd(open_file(ops, f"f{i}"))
    assert world() == (5, 1)
    k.exit_process(t.process, 1001.0)
    assert ops.released == [("f0", (0, 0)), ("f1", (0, 0)), ("f2", (0, 0))]
    assert len(t.process.files) == 0


# --- file operations and poll ------------------------------------------------------------


def test_missing_operations_behave_as_the_vfs_makes_them(k: Kernel) -> None:
    t = proc(k, 10)
    rdonly, wronly = File(FileOps(), O_RDONLY), File(FileOps(), O_WRONLY)

    def errno_of(fn: Callable[[], Any]) -> int:
        with pytest.raises(KernelError) as err:
            fn()
        return err.value.errno

    assert errno_of(lambda: vfs_read(k, t, rdonly, 10)) == E.EINVAL  # no ->read
    assert errno_of(lambda: vfs_write(k, t, rdonly, b"x")) == E.EBADF  # not open for writing
    assert errno_of(lambda: vfs_read(k, t, wronly, 10)) == E.EBADF
    assert vfs_poll(k, t, rdonly, None) == DEFAULT_POLLMASK
    assert get_file(rdonly) is rdonly and rdonly.f_count == 2


class Chan(FileOps):
    """A toy channel: readable when it holds data; poll registers on its queue."""

    name = "chan"

    def __init__(self) -> None:
        self.data = b""
        self.wait = WaitQueue()

    def poll(self, k, task, file, pt: PollTable | None) -> int:
        poll_wait(file, self.wait, pt)
        return (POLLIN if self.data else 0) | POLLOUT

    def write(self, k, task, file, data: bytes) -> int:
        self.data += data
        wake_up(k, self.wait, POLLIN, 0)  # the poll key: what became ready
        return len(data)

    def read(self, k, task, file, count: int) -> Any:
        out, self.data = self.data[:count], self.data[count:]
        return out


def sys_poll_in(k: Kernel, task, files: list[File]) -> object:
    """A poll(2) for POLLIN over files, as do_poll: ready ones now, or sleep
    with one entry per file (poll_initwait) and rerun when woken."""
    def attempt() -> object:
        waiter = Waiter(task=task, op="poll", restart=attempt)
        pt = poll_initwait(waiter, POLLIN)
        ready = [i for i, f in enumerate(files) if vfs_poll(k, task, f, pt) & POLLIN]
        if ready:
            waiter.remove_entries()  # poll_freewait
            return ready
        return k.park(None, waiter)
    return attempt()


def test_poll_registers_one_entry_per_file_and_wakes_for_its_events(k: Kernel) -> None:
    poller, writer = proc(k, 10), proc(k, 11)
    chans = [Chan(), Chan(), Chan()]
    files = [File(c) for c in chans]
    assert k.syscall(poller, sys_poll_in, files, now=1000.0) is BLOCKED
    assert [len(c.wait) for c in chans] == [1, 1, 1]
    # a wake for events it did not ask for does not wake it (pollwake's key test)
    k.syscall(writer, lambda k, t: wake_up(k, chans[2].wait, POLLOUT, 0), now=1000.0)
    assert k.take_completions() == [] and poller.waiter is not None
    k.syscall(writer, lambda k, t: vfs_write(k, t, files[1], b"hi"), now=1001.0)
    assert k.take_completions() == [(poller, [1])]
    assert [len(c.wait) for c in chans] == [0, 0, 0]  # every entry went with it
    assert vfs_read(k, poller, files[1], 10) == b"hi"
