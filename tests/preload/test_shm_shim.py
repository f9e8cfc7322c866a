"""SysV shared memory under the shim, where one C program cannot show it alone.

A C program under ``uipc run --preload --namespace NS`` shares segments with
this Python process (uipc's own client) in the same uipc namespace: bytes
either side writes are the other's, its attach counts in shm_nattch, and
kill -9 of it gives the attach back (the daemon sees its pidfd; Linux's
exit_mm).  The C side is programs/shm_holder.c in its ``hold`` mode.
"""
from __future__ import annotations

import errno
import os
import signal
import subprocess
from pathlib import Path
from typing import Iterator

import pytest

from tests.conftest import DaemonProc, wait_until
from tests.preload.conftest import RUN_TIMEOUT, shim_env, uipc_run_cmd

KEY = 0x5E71


def nattch(shmid: int) -> int:
    import uipc
    return uipc.shmctl(shmid, uipc.IPC_STAT).shm_nattch


@pytest.fixture
def segment(ns: str) -> Iterator[tuple[int, int]]:
    """A segment of KEY in the test's namespace, attached here: (shmid, address)."""
    import uipc
    shmid = uipc.shmget(KEY, 8192, uipc.IPC_CREAT | 0o600)
    addr = uipc.shmat(shmid)
    try:
        yield shmid, addr
    finally:
        uipc.shmdt(addr)
        uipc.shmctl(shmid, uipc.IPC_RMID)


@pytest.fixture
def holder(daemon: DaemonProc, shim_lib: Path, compile_c, ns: str):
    """holder(text) -> (the process, the C program's pid, the line saying
    what it found): shm_holder.c attached to KEY's segment under the shim,
    after it wrote ``text``."""
    exe = compile_c("shm_holder.c")
    started: list[subprocess.Popen[str]] = []

    def start(text: str) -> tuple[subprocess.Popen[str], int, str]:
        p = subprocess.Popen(uipc_run_cmd("--preload", "--namespace", ns, "--", str(exe), "hold",
                                          hex(KEY), text),
                             env=shim_env(daemon, shim_lib), stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        started.append(p)
        assert p.stdout is not None
        found = p.stdout.readline()
        ready = p.stdout.readline().split()
        if ready[:1] != ["ready"]:
            p.kill()
            _, err = p.communicate(timeout=RUN_TIMEOUT)
            pytest.fail(f"shm_holder did not attach: {found!r} {ready!r}\n{err}")
        return p, int(ready[1]), found
    yield start
    for p in started:
        if p.poll() is None:
            p.kill()
        p.communicate(timeout=RUN_TIMEOUT)


def test_bytes_cross_between_c_and_python(segment: tuple[int, int], holder) -> None:
    import uipc
    shmid, addr = segment
    view = uipc.shm_view(addr)
    view[:12] = b"from python\0"
    p, pid, found = holder("from C under the shim")
    assert found == "found: from python\n"              # the C program reads Python's bytes
    assert bytes(view[:22]) == b"from C under the shim\0"  # and Python reads the C program's
    ds = uipc.shmctl(shmid, uipc.IPC_STAT)
    assert (ds.shm_nattch, ds.shm_lpid) == (2, pid)     # its attach counts, made by it
    # a second Python attach sees the same bytes
    other = uipc.shmat(shmid, None, uipc.SHM_RDONLY)
    try:
        assert bytes(uipc.shm_view(other)[:6]) == b"from C"
    finally:
        uipc.shmdt(other)
    out, _ = p.communicate("detach\n", timeout=RUN_TIMEOUT)
    assert (out, p.returncode) == ("shmdt 0\n", 0)
    assert nattch(shmid) == 1                           # its shmdt was answered before it said so
    assert uipc.shmctl(shmid, uipc.IPC_STAT).shm_lpid == pid


def test_kill_9_of_a_c_program_releases_its_attach(segment: tuple[int, int], holder) -> None:
    import uipc
    shmid, addr = segment
    p, pid, _ = holder("about to be killed")
    assert nattch(shmid) == 2
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: nattch(shmid) == 1, what="kill -9 gives the C program's attach back")
    p.communicate(timeout=RUN_TIMEOUT)
    assert p.returncode == 128 + signal.SIGKILL         # uipc run says so as a shell does
    ds = uipc.shmctl(shmid, uipc.IPC_STAT)
    assert ds.shm_lpid == pid and ds.shm_dtime > 0      # detached by its death (shm_close)
    assert bytes(uipc.shm_view(addr)[:18]) == b"about to be killed"  # its bytes stay


def test_removed_segment_dies_with_the_killed_c_program(ns: str, holder) -> None:
    """IPC_RMID from Python while only the C program is attached: its death
    destroys the segment (shm_may_destroy at its last detach)."""
    import uipc
    shmid = uipc.shmget(KEY, 4096, uipc.IPC_CREAT | 0o600)
    try:
        p, pid, found = holder("x")
        assert found == "found: \n"
        uipc.shmctl(shmid, uipc.IPC_RMID)
        ds = uipc.shmctl(shmid, uipc.IPC_STAT)
        assert ds.shm_perm.mode & uipc.SHM_DEST and ds.shm_nattch == 1
        os.kill(pid, signal.SIGKILL)

        def gone() -> bool:
            try:
                uipc.shmctl(shmid, uipc.IPC_STAT)
            except OSError as exc:
                return exc.errno == errno.EINVAL  # destroyed
            return False
        wait_until(gone, what="the removed segment destroyed at the C program's death")
        p.communicate(timeout=RUN_TIMEOUT)
    finally:
        try:
            uipc.shmctl(shmid, uipc.IPC_RMID)
        except OSError:
            pass
