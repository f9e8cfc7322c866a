"""`uipc preload-path`, `uipc run --preload`, and the library's quiet start."""
from __future__ import annotations

import ctypes
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, DaemonProc
from tests.preload.conftest import shim_env, uipc_run_cmd

EXPORTED = ["msgget", "msgsnd", "msgrcv", "msgctl", "semget", "semop", "semtimedop", "semctl",
            "shmget", "shmat", "shmdt", "shmctl", "mq_open", "mq_close", "mq_unlink", "mq_send",
            "mq_timedsend", "mq_receive", "mq_timedreceive", "mq_getattr", "mq_setattr",
            "mq_notify", "sem_open", "sem_close", "sem_unlink", "sem_post", "sem_wait",
            "sem_trywait", "sem_timedwait", "sem_clockwait", "sem_getvalue", "shm_open",
            "shm_unlink", "syscall", "open", "openat", "fopen"]


def _exports(lib: Path) -> set[str]:
    out = subprocess.run(["nm", "-D", "--defined-only", str(lib)], capture_output=True,
                         text=True, check=True).stdout
    return {line.split()[-1] for line in out.splitlines() if " T " in line}


def test_the_library_exports_every_interposed_function(shim_lib: Path) -> None:
    missing = [name for name in EXPORTED if name not in _exports(shim_lib)]
    assert not missing, f"libuipc-preload.so does not interpose {missing}"
    ctypes.CDLL(str(shim_lib))  # it loads


def test_preload_path_prints_the_installed_library(shim_lib: Path) -> None:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop("UIPC_PRELOAD_LIB", None)
    p = subprocess.run([sys.executable, "-m", "uipc.cli.main", "preload-path"], env=env,
                       capture_output=True, text=True, cwd="/")
    assert p.returncode == 0, p.stderr
    installed = Path(p.stdout.strip())
    assert installed.is_file() and installed.name == "libuipc-preload.so"
    # `pip install .` built it from these sources (else: reinstall)
    assert _exports(installed) == _exports(shim_lib), \
        "the installed libuipc-preload.so is stale: run `pip install .` again"


def test_preload_path_honours_the_override(tmp_path: Path) -> None:
    env = dict(os.environ, PYTHONPATH=str(ROOT), UIPC_PRELOAD_LIB=str(tmp_path / "x.so"))
    p = subprocess.run([sys.executable, "-m", "uipc.cli.main", "preload-path"], env=env,
                       capture_output=True, text=True)
    assert p.stdout.strip() == str(tmp_path / "x.so")


def test_inert_without_ipc(shim_lib: Path, tmp_path: Path) -> None:
    """A program that never calls IPC never looks for the daemon: no message,
    even where none could be reached."""
    env = dict(os.environ, LD_PRELOAD=str(shim_lib), UIPC_SOCKET=str(tmp_path / "none.sock"))
    p = subprocess.run(["sh", "-c", "echo hi; ls / >/dev/null"], env=env, capture_output=True,
                       text=True)
    assert (p.returncode, p.stdout, p.stderr) == (0, "hi\n", "")


def test_run_preload_sets_up_the_program(daemon: DaemonProc, shim_lib: Path) -> None:
    p = subprocess.run(uipc_run_cmd("--preload", "--", "sh", "-c",
                                    'echo "$LD_PRELOAD|$UIPC_SOCKET"'),
                       env=shim_env(daemon, shim_lib, {"LD_PRELOAD": "/other.so"}),
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == f"{shim_lib} /other.so|{daemon.socket}"


def test_run_preload_without_a_library(daemon: DaemonProc, tmp_path: Path) -> None:
    env = shim_env(daemon, tmp_path / "x.so")
    env["UIPC_PRELOAD_LIB"] = ""
    env["PYTHONPATH"] = str(ROOT)
    # no override and (pretend) no installed copy: a clear error, status 1
    code = ("import sys, uipc.preload as p\n"
            "def missing(): raise FileNotFoundError('libuipc-preload.so is not built')\n"
            "p.library_path = missing\n"
            "from uipc.cli.run import main\n"
            "sys.exit(main(['--preload', '--', 'true']))\n")
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert r.returncode == 1 and "uipc run: libuipc-preload.so is not built" in r.stderr


@pytest.mark.parametrize("bad", ["", "relative.sock"])
def test_unreachable_daemon_is_enosys_once(shim_lib: Path, compile_c, tmp_path: Path,
                                           bad: str) -> None:
    src = tmp_path / "three.c"
    src.write_text('#include <stdio.h>\n#include <errno.h>\n#include <sys/msg.h>\n'
                   'int main(void){for(int i=0;i<3;i++){int r=msgget(IPC_PRIVATE,0600);'
                   'printf("%d %d\\n",r,errno);}return 0;}\n')
    exe = compile_c(src)
    sock = str(tmp_path / "nowhere" / "uipc.sock") if not bad else str(tmp_path / "none.sock")
    env = dict(os.environ, LD_PRELOAD=str(shim_lib), UIPC_SOCKET=sock)
    p = subprocess.run([str(exe)], env=env, capture_output=True, text=True, cwd=tmp_path)
    assert p.stdout.splitlines() == ["-1 38"] * 3  # ENOSYS, as without CONFIG_SYSVIPC
    lines = p.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("uipc: ") and "ENOSYS" in lines[0], p.stderr
