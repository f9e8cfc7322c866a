"""Attacks on shared memory through the descriptor shmat hands out.

The daemon keeps a segment's bytes in a memfd and sends each attacher a
descriptor.  Linux's do_shmat gives a SHM_RDONLY attach an O_RDONLY file and
no attacher can resize a segment; the descriptor must not be a way around
either: not reopened writable through /proc/self/fd (mode), not truncated
under the other attachers (seals).  And shmat requests that fail, however
they fail, leave no descriptor behind in the daemon.

The attackers are forked children that drop to uid 65534 (nobody), so the
system-mode tests need root; the daemon fixture runs --system as root.
"""
from __future__ import annotations

import ctypes
import errno
import fcntl
import mmap
import os
import pickle
import shutil
import signal
import tempfile
from pathlib import Path
from typing import Any, Callable

import pytest

import uipc
from uipc.cli.daemon import run  # imported before the fork: uid 65534 may not read the tree
from tests.conftest import reset_client, wait_until
from tests.helpers import as_nobody
from uipc import protocol as P
from uipc.client.connection import call
from uipc.server.memfd import MEMFD_MODE, SEALS

SIZE = 3 * 4096
PATTERN = bytes(range(256)) * (SIZE // 256)
ULONG_MAX = (1 << 64) - 1

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="the attackers setuid to 65534: needs root "
                                "(and the daemon fixture runs --system only as root)")


# --- helpers ----------------------------------------------------------------------
def raw_shmat(shmid: int, shmflg: int = 0, shmaddr: int = 0) -> tuple[int, int, int]:
    """shmat without the client's mmap: (attach id, map size, the descriptor itself).

    uipc.shmat closes the descriptor once mapped; an attacker keeps it."""
    payload, fds = call(P.OPS_BY_NAME["shmat"], (shmid, shmaddr, shmflg))
    attach_id, _, map_size, _, _, _ = P.SHMAT_RESULT.unpack_from(payload)
    assert len(fds) == 1, fds
    return attach_id, map_size, fds[0]


def abort_attach(attach_id: int) -> None:
    """Revert an attach that was never mapped (the client's own error path)."""
    call(P.OPS_BY_NAME["shmdt"], (attach_id, 1))


def errno_of(fn: Callable[[], object]) -> int:
    try:
        fn()
    except OSError as exc:
        return exc.errno or -1
    return 0




def in_child(fn: Callable[[], Any]) -> tuple[str, Any]:
    """("ok", fn()) from a forked child, or ("killed", signal name) if it died:
    a SIGBUS reading a truncated mapping must fail the test, not kill pytest."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            with os.fdopen(w, "wb") as f:
                f.write(pickle.dumps(fn()))
        finally:
            os._exit(0)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        data = f.read()
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        return "killed", signal.Signals(os.WTERMSIG(status)).name
    return "ok", pickle.loads(data)


def read_mapping(addr: int, size: int) -> bytes:
    return ctypes.string_at(addr, size)


def victim_segment(mode: int) -> tuple[int, int]:
    """A segment of root's, attached read-write by this process and filled."""
    shmid = uipc.shmget(uipc.IPC_PRIVATE, SIZE, mode)
    addr = uipc.shmat(shmid)
    uipc.shm_view(addr)[:] = PATTERN
    return shmid, addr


def assert_victim_intact(shmid: int, addr: int) -> None:
    # read in a child: if the memfd had been truncated this is SIGBUS
    assert in_child(lambda: read_mapping(addr, SIZE)) == ("ok", PATTERN)
    assert uipc.shmctl(shmid, uipc.IPC_STAT).shm_segsz == SIZE


def daemon_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


# --- A: the descriptor grants no more than the attach ---------------------------------
@needs_root
def test_read_only_attacher_cannot_get_write_access(ns: str, daemon) -> None:
    """nobody may attach a 0644 segment read-only; its O_RDONLY descriptor
    cannot be reopened (mode 0400, root's), mapped shared-writable, or
    sealed, and the owner's data and mapping are untouched."""
    shmid, addr = victim_segment(0o644)
    try:
        def attack() -> dict[str, int]:
            assert errno_of(lambda: uipc.shmat(shmid)) == errno.EACCES  # the rule itself
            attach_id, map_size, fd = raw_shmat(shmid, uipc.SHM_RDONLY)
            try:
                out = {
                    "access mode": fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE,
                    "reopen O_RDWR": errno_of(lambda: os.close(os.open(f"/proc/self/fd/{fd}", os.O_RDWR))),
                    "reopen O_WRONLY": errno_of(lambda: os.close(os.open(f"/proc/self/fd/{fd}",
                                                                         os.O_WRONLY))),
                    "reopen O_RDONLY": errno_of(lambda: os.close(os.open(f"/proc/self/fd/{fd}",
                                                                         os.O_RDONLY))),
                    "mmap shared writable": errno_of(lambda: mmap.mmap(
                        fd, map_size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE).close()),
                    "add F_SEAL_WRITE": errno_of(lambda: fcntl.fcntl(fd, fcntl.F_ADD_SEALS,
                                                                     fcntl.F_SEAL_WRITE)),
                    "fchmod": errno_of(lambda: os.fchmod(fd, 0o666)),
                    "write": errno_of(lambda: os.pwrite(fd, b"owned", 0)),
                }
                # what it may do: read
                out["reads"] = int(os.pread(fd, 16, 0) == PATTERN[:16])
                return out
            finally:
                os.close(fd)
                abort_attach(attach_id)

        assert as_nobody(attack) == {
            "access mode": os.O_RDONLY,
            "reopen O_RDWR": errno.EACCES,
            "reopen O_WRONLY": errno.EACCES,
            "reopen O_RDONLY": errno.EACCES,  # 0400 and root's: nobody else opens it at all
            "mmap shared writable": errno.EACCES,
            "add F_SEAL_WRITE": errno.EPERM,
            "fchmod": errno.EPERM,
            "write": errno.EBADF,
            "reads": 1,
        }
        assert_victim_intact(shmid, addr)
    finally:
        uipc.shmdt(addr)
        uipc.shmctl(shmid, uipc.IPC_RMID)


@needs_root
def test_writable_attacher_cannot_resize_or_seal(ns: str, daemon) -> None:
    """nobody may attach a 0666 segment read-write: it may write the bytes,
    but not truncate or grow the memfd (every other attacher would take
    SIGBUS or see another size), nor add F_SEAL_WRITE (every writer would
    break), nor change its mode."""
    shmid, addr = victim_segment(0o666)
    try:
        def attack() -> dict[str, int]:
            attach_id, map_size, fd = raw_shmat(shmid)
            try:
                return {
                    "access mode": fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE,
                    "ftruncate 0": errno_of(lambda: os.ftruncate(fd, 0)),
                    "ftruncate 1": errno_of(lambda: os.ftruncate(fd, 1)),
                    "ftruncate larger": errno_of(lambda: os.ftruncate(fd, 2 * map_size)),
                    "fallocate larger": errno_of(lambda: os.posix_fallocate(fd, 0, 2 * map_size)),
                    "write past the end": errno_of(lambda: os.pwrite(fd, b"x", map_size)),
                    "add F_SEAL_WRITE": errno_of(lambda: fcntl.fcntl(fd, fcntl.F_ADD_SEALS,
                                                                     fcntl.F_SEAL_WRITE)),
                    "add F_SEAL_FUTURE_WRITE": errno_of(lambda: fcntl.fcntl(fd, fcntl.F_ADD_SEALS, 0x10)),
                    "fchmod": errno_of(lambda: os.fchmod(fd, 0o777)),
                    "reopen O_RDWR": errno_of(lambda: os.close(os.open(f"/proc/self/fd/{fd}", os.O_RDWR))),
                    "size": os.fstat(fd).st_size,
                }
            finally:
                os.close(fd)
                abort_attach(attach_id)

        assert as_nobody(attack) == {
            "access mode": os.O_RDWR,
            "ftruncate 0": errno.EPERM,
            "ftruncate 1": errno.EPERM,
            "ftruncate larger": errno.EPERM,
            "fallocate larger": errno.EPERM,
            "write past the end": errno.EPERM,
            "add F_SEAL_WRITE": errno.EPERM,
            "add F_SEAL_FUTURE_WRITE": errno.EPERM,
            "fchmod": errno.EPERM,
            "reopen O_RDWR": errno.EACCES,
            "size": SIZE,
        }
        assert_victim_intact(shmid, addr)
        # and the owner's own mapping still reads (this process, no SIGBUS)
        assert bytes(uipc.shm_view(addr)[-16:]) == PATTERN[-16:]
    finally:
        uipc.shmdt(addr)
        uipc.shmctl(shmid, uipc.IPC_RMID)


def _seals_and_mode() -> dict[str, Any]:
    """Attach read-write and read-only through the current daemon, report the memfd."""
    shmid = uipc.shmget(uipc.IPC_PRIVATE, SIZE, 0o600)
    try:
        rw_id, _, rw = raw_shmat(shmid)
        ro_id, _, ro = raw_shmat(shmid, uipc.SHM_RDONLY)
        try:
            st = os.fstat(rw)
            return {
                "seals rw": fcntl.fcntl(rw, fcntl.F_GET_SEALS),
                "seals ro": fcntl.fcntl(ro, fcntl.F_GET_SEALS),
                "mode": st.st_mode & 0o7777,
                "owner is the daemon's uid": st.st_uid == os.geteuid(),
                "same memfd": os.fstat(ro).st_ino == st.st_ino,
                "ro access mode": fcntl.fcntl(ro, fcntl.F_GETFL) & os.O_ACCMODE,
                "ftruncate": errno_of(lambda: os.ftruncate(rw, 0)),
                # the daemon's uid (not root here) has no write bit either
                "reopen ro O_RDWR": errno_of(lambda: os.close(os.open(f"/proc/self/fd/{ro}", os.O_RDWR))),
            }
        finally:
            os.close(rw)
            os.close(ro)
            abort_attach(rw_id)
            abort_attach(ro_id)
    finally:
        uipc.shmctl(shmid, uipc.IPC_RMID)


def fork_daemon(directory: Path) -> int:
    """A per-user daemon of this process's uid, forked rather than executed
    (uid 65534 may not read the interpreter of the test run); its pid."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        rc = 1
        try:
            os.close(r)
            rc = run(directory / "uipc.sock", system=False, ready_fd=w)
        finally:
            os._exit(rc)
    os.close(w)
    with os.fdopen(r, "rb") as pipe:
        line = pipe.readline()
    if line != b"ready\n":
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        raise RuntimeError(f"daemon did not start: {line!r}")
    return pid


def stop_forked_daemon(pid: int) -> int:
    os.kill(pid, signal.SIGTERM)
    status: list[int] = []

    def gone() -> bool:
        done, st = os.waitpid(pid, os.WNOHANG)
        if done:
            status.append(st)
        return bool(done)
    try:
        wait_until(gone, timeout=10, what=f"daemon {pid} to stop")
    except AssertionError:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        raise
    return os.waitstatus_to_exitcode(status[0])


def _per_user_daemon_report() -> dict[str, Any]:
    """Start a per-user daemon as this uid and look at its memfds."""
    tmp = Path(tempfile.mkdtemp(prefix="uipc-user-"))
    try:
        pid = fork_daemon(tmp)
        saved = reset_client(socket=str(tmp / "uipc.sock"))
        try:
            return _seals_and_mode()
        finally:
            reset_client(**saved)
            assert stop_forked_daemon(pid) == 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def test_per_user_daemon_seals_its_memfds(daemon) -> None:
    """A per-user daemon (not root) seals each memfd F_SEAL_SHRINK | GROW |
    SEAL and makes it 0400; that it can still serve SHM_RDONLY (by reopening
    its memfd O_RDONLY) shows 0400, not 0, is what a non-root daemon needs."""
    if os.geteuid() == 0:  # be a user: its own per-user daemon, not root
        report = as_nobody(_per_user_daemon_report)
    else:
        report = _per_user_daemon_report()
    assert report == {
        "seals rw": SEALS,
        "seals ro": SEALS,
        "mode": MEMFD_MODE,
        "owner is the daemon's uid": True,
        "same memfd": True,
        "ro access mode": os.O_RDONLY,
        "ftruncate": errno.EPERM,
        "reopen ro O_RDWR": errno.EACCES,
    }
    assert SEALS == fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_SEAL
    assert MEMFD_MODE == 0o400


# --- B: failing shmat leaks nothing --------------------------------------------------
def _failing_shmats(huge: int, private: int, rounds: int) -> dict[str, set[int]]:
    """``rounds`` of each kind of failing shmat; the errnos each kind got."""
    kinds: dict[str, Callable[[], object]] = {
        "huge segment": lambda: uipc.shmat(huge),
        "huge segment, read-only": lambda: uipc.shmat(huge, None, uipc.SHM_RDONLY),
        "bad id": lambda: uipc.shmat(private + 1),
        "denied": lambda: uipc.shmat(private),
        "address above TASK_SIZE": lambda: uipc.shmat(private, 1 << 63, uipc.SHM_RDONLY),
        "address that wraps": lambda: uipc.shmat(private, ULONG_MAX - 4095, uipc.SHM_RDONLY),
        "unaligned address": lambda: uipc.shmat(private, 0x10001, uipc.SHM_RDONLY),
    }
    seen: dict[str, set[int]] = {k: set() for k in kinds}
    for _ in range(rounds):
        for name, fn in kinds.items():
            seen[name].add(errno_of(fn))
    return seen


def test_failing_shmat_leaks_no_descriptor(ns: str, daemon) -> None:
    """1,000 of each kind of failing shmat: the daemon's descriptor count is
    unchanged and nothing stays attached.  A segment of ~8 EiB (SHM_NORESERVE,
    shmmax/shmall raised) cannot be mapped: ENOMEM, as do_mmap answers
    (len > TASK_SIZE), where the daemon used to fail encoding its reply
    (EIO) and keep the descriptor it had made."""
    uipc.sysctl.set("kernel.shmmax", ULONG_MAX)
    uipc.sysctl.set("kernel.shmall", ULONG_MAX)
    huge = uipc.shmget(uipc.IPC_PRIVATE, (1 << 63) - 1, uipc.SHM_NORESERVE | 0o666)
    # read-only for all, the owner too: a read-write attach is EACCES for a
    # non-root attacher (root has CAP_IPC_OWNER), a read-only one passes to
    # the address checks
    private = uipc.shmget(uipc.IPC_PRIVATE, 4096, 0o444)
    try:
        before = daemon_fds(daemon.pid)
        if os.geteuid() == 0:
            seen = as_nobody(lambda: _failing_shmats(huge, private, 1000))
        else:
            seen = _failing_shmats(huge, private, 1000)
        assert seen == {
            "huge segment": {errno.ENOMEM},
            "huge segment, read-only": {errno.ENOMEM},
            "bad id": {errno.EINVAL},
            "denied": {errno.EACCES},
            "address above TASK_SIZE": {errno.ENOMEM},
            "address that wraps": {errno.EINVAL},
            "unaligned address": {errno.EINVAL},
        }
        # the attacker's connection (and pidfd) go when the daemon sees it exit
        wait_until(lambda: daemon_fds(daemon.pid) == before, timeout=10,
                   what=f"the daemon's descriptors back to {before} (now {daemon_fds(daemon.pid)})")
        assert uipc.shmctl(huge, uipc.IPC_STAT).shm_nattch == 0
        assert uipc.shmctl(private, uipc.IPC_STAT).shm_nattch == 0
    finally:
        uipc.shmctl(huge, uipc.IPC_RMID)
        uipc.shmctl(private, uipc.IPC_RMID)


def test_daemon_out_of_descriptors_reverts_the_attach(ns: str, daemon) -> None:
    """If the daemon cannot make the descriptor (EMFILE), the shmat fails and
    the attachment the kernel had counted is reverted: nattch stays 0 and
    the segment can die, as after do_shmat's error path."""
    import resource
    shmid = uipc.shmget(uipc.IPC_PRIVATE, 4096, 0o600)
    old = resource.prlimit(daemon.pid, resource.RLIMIT_NOFILE)
    try:
        full = daemon_fds(daemon.pid)
        # RLIMIT_NOFILE bounds descriptor numbers: the next one is the lowest free
        used = {int(n) for n in os.listdir(f"/proc/{daemon.pid}/fd")}
        lowest_free = min(set(range(len(used) + 1)) - used)
        resource.prlimit(daemon.pid, resource.RLIMIT_NOFILE, (lowest_free, old[1]))
        try:
            for flags in (0, uipc.SHM_RDONLY):  # dup and reopen both fail
                assert errno_of(lambda: uipc.shmat(shmid, None, flags)) == errno.EIO
        finally:
            resource.prlimit(daemon.pid, resource.RLIMIT_NOFILE, old)
        assert uipc.shmctl(shmid, uipc.IPC_STAT).shm_nattch == 0
        assert daemon_fds(daemon.pid) == full
        addr = uipc.shmat(shmid)  # and with descriptors again, it works
        uipc.shmdt(addr)
    finally:
        uipc.shmctl(shmid, uipc.IPC_RMID)
