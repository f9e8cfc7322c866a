"""/proc/sysvipc and the IPC sysctls under the shim (uipc/preload/procfs.c).

The differential programs proc_sysvipc.c and proc_sysctl.c run in
test_differential.py as built there; here they run again built with
``-O2 -D_FORTIFY_SOURCE=2``, which makes open/openat calls with flags the
compiler cannot see go to glibc's __open_2/__open64_2/__openat_2/
__openat64_2 (checked in the binaries).  The other tests show what one
program cannot: a write reaching uipc's namespace and not the machine's,
real tools (cat, sh, bash) under the shim, pages of a long table, and the
fall back to the machine's /proc without a daemon.
"""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

import uipc
from uipc import protocol as P
from uipc.client.connection import call
from uipc.uapi import IPC_CREAT, IPC_PRIVATE, IPC_RMID

from tests.preload.conftest import RUN_TIMEOUT, shim_env, uipc_run_cmd

FORTIFY = ("-O2", "-D_FORTIFY_SOURCE=2")
MSGMAX = "/proc/sys/kernel/msgmax"


def imports(exe: Path) -> set[str]:
    out = subprocess.run(["nm", "-D", "--undefined-only", str(exe)], capture_output=True,
                         text=True, check=True).stdout
    return {line.split()[-1].split("@")[0] for line in out.splitlines() if line.strip()}


def proc_read(path: str, pos: int = 0) -> str:
    return call(P.OPS_BY_NAME["proc_read"], (pos, 0), path.encode())[0].decode()


def machine(path: str) -> str:
    with open(path) as f:
        return f.read()


@pytest.mark.parametrize("program, entry_points", [
    ("proc_sysvipc.c", {"__open_2", "__open64_2", "__openat_2", "__openat64_2"}),
    ("proc_sysctl.c", {"__open_2"}),
])
def test_fortified_build_same_as_kernel(differential, compile_c, program: str,
                                        entry_points: set[str]) -> None:
    assert entry_points <= imports(compile_c(program, *FORTIFY)), "fortify did not apply"
    differential(program, flags=FORTIFY)


@pytest.mark.parametrize("part", ["msg", "sem", "shm"])
def test_each_sysvipc_file_same_as_kernel(differential, part: str) -> None:
    differential("proc_sysvipc.c", part)


def _run_in(daemon, shim_lib, ns: str, argv: list[str], env: dict[str, str] | None = None,
            input: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(uipc_run_cmd("--preload", "--namespace", ns, "--", *argv),
                          env=shim_env(daemon, shim_lib, env), capture_output=True, text=True,
                          timeout=RUN_TIMEOUT, input=input)


def test_a_c_write_of_msgmax_sets_uipcs_not_the_machines(daemon, shim_lib, compile_c, ns,
                                                         tmp_path: Path) -> None:
    src = tmp_path / "set_msgmax.c"
    src.write_text(r'''
        #include <fcntl.h>
        #include <stdio.h>
        #include <string.h>
        #include <unistd.h>
        int main(int argc, char **argv) {
            if (argc != 2) return 3;
            int fd = open("/proc/sys/kernel/msgmax", O_WRONLY);
            if (fd < 0) { perror("open"); return 1; }
            ssize_t n = write(fd, argv[1], strlen(argv[1]));
            if (n < 0) { perror("write"); return 2; }
            printf("wrote %zd\n", n);
            return close(fd) != 0;
        }''')
    exe = compile_c(src)
    before = machine(MSGMAX)
    value = str(int(before) + 1234)
    p = _run_in(daemon, shim_lib, ns, [str(exe), value + "\n"])
    assert (p.returncode, p.stdout) == (0, f"wrote {len(value) + 1}\n"), p.stderr
    assert uipc.sysctl.get("kernel.msgmax") == value
    assert machine(MSGMAX) == before
    # garbage: the daemon's EINVAL comes back as write(2)'s errno
    p = _run_in(daemon, shim_lib, ns, [str(exe), "lots\n"])
    assert p.returncode == 2 and "write: Invalid argument" in p.stderr
    assert uipc.sysctl.get("kernel.msgmax") == value


def test_cat_shows_the_uipc_queue(daemon, shim_lib, ns) -> None:
    q = uipc.msgget(0x7E57, IPC_CREAT | 0o640)
    uipc.msgsnd(q, 3, b"twelve bytes")
    try:
        p = _run_in(daemon, shim_lib, ns, ["/bin/cat", "/proc/sysvipc/msg"])
        assert p.returncode == 0, p.stderr
        assert p.stdout == proc_read("/proc/sysvipc/msg")
        rows = p.stdout.splitlines()[1:]
        assert [r.split()[:5] for r in rows] == [[str(0x7E57), str(q), "640", "12", "1"]]
        assert str(0x7E57) not in machine("/proc/sysvipc/msg")
        # and a read-only look through the shell's < and head(1)
        p = _run_in(daemon, shim_lib, ns, ["sh", "-c", "head -n 1 < /proc/sysvipc/sem"])
        assert p.stdout == proc_read("/proc/sysvipc/sem")
    finally:
        uipc.msgctl(q, IPC_RMID)


def test_shells_set_sysctls(daemon, shim_lib, ns) -> None:
    """dash's echo writes with write(2); bash's builtin echo through stdio,
    applied when bash puts its stdout back (dup2); cat reads the result."""
    p = _run_in(daemon, shim_lib, ns, ["sh", "-c", "echo 4321 > /proc/sys/kernel/msgmnb && "
                                       "cat /proc/sys/kernel/msgmnb"])
    assert (p.returncode, p.stdout) == (0, "4321\n"), p.stderr
    p = _run_in(daemon, shim_lib, ns, ["bash", "-c", "echo 5432 > /proc/sys/kernel/msgmnb; "
                                       "cat /proc/sys/kernel/msgmnb"])
    assert (p.returncode, p.stdout) == (0, "5432\n"), p.stderr
    # tee(1) writes through fopen's FILE; sysctl -w style
    p = _run_in(daemon, shim_lib, ns, ["tee", "/proc/sys/fs/mqueue/msg_max"], input="33\n")
    assert p.returncode == 0, p.stderr
    assert uipc.sysctl.get("fs.mqueue.msg_max") == "33"
    assert uipc.sysctl.get("kernel.msgmnb") == "5432"


def test_another_uid_may_not_set_a_namespaces_sysctl(daemon, shim_lib, ns) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to run the writer as uid 65534")
    p = _run_in(daemon, shim_lib, ns, ["setpriv", "--reuid=65534", "--regid=65534",
                                       "--clear-groups", "sh", "-c",
                                       "echo 1 > /proc/sys/kernel/msgmax"])
    assert p.returncode != 0 and "Permission denied" in p.stderr
    assert uipc.sysctl.get("kernel.msgmax") == "8192"


def test_a_long_table_comes_in_pages(daemon, shim_lib, ns) -> None:
    """More queues than one proc_read page holds: cat shows every one."""
    uipc.sysctl.set("kernel.msgmni", 2000)
    ids = [uipc.msgget(IPC_PRIVATE, 0o600) for _ in range(1200)]
    try:
        p = _run_in(daemon, shim_lib, ns, ["/bin/cat", "/proc/sysvipc/msg"])
        assert p.returncode == 0, p.stderr
        lines = p.stdout.splitlines()
        assert [int(r.split()[1]) for r in lines[1:]] == ids
        assert lines[0] + "\n" == proc_read("/proc/sysvipc/msg").splitlines(keepends=True)[0]
    finally:
        for q in ids:
            uipc.msgctl(q, IPC_RMID)


def test_no_daemon_falls_back_to_the_machines_proc(shim_lib, tmp_path: Path) -> None:
    env = dict(os.environ, LD_PRELOAD=str(shim_lib), UIPC_SOCKET=str(tmp_path / "none.sock"),
               UIPC_NO_AUTOSTART="1")
    p = subprocess.run(["cat", MSGMAX, "/proc/sysvipc/shm"], env=env, capture_output=True,
                       text=True, timeout=RUN_TIMEOUT)
    assert p.returncode == 0
    assert p.stdout == machine(MSGMAX) + machine("/proc/sysvipc/shm")
    assert p.stderr.count("uipc: ") == 1 and "no uipc daemon" in p.stderr
