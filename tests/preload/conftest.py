"""The LD_PRELOAD shim under test: built from the working tree's C sources.

``shim_lib`` compiles uipc/preload/*.c (uipc/preload/build.py, what
``pip install .`` runs) once per test run, so the tests never run a stale
library; every run below points UIPC_PRELOAD_LIB at it.

A differential test runs one C program twice and compares what it prints
and its exit status: natively, in a fresh kernel IPC namespace
(``unshare --ipc --mount`` with a private tmpfs on /dev/shm, so POSIX
objects are private too), and under the shim in a fresh uipc namespace
(``uipc run --preload --new-namespace``).  The programs (programs/*.c)
print only what must be equal: return values, errno names, struct fields,
the order of events -- never pids, times or addresses themselves.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest

from tests.conftest import ROOT, DaemonProc

PROGRAMS = Path(__file__).resolve().parent / "programs"
CFLAGS = ["-O1", "-g", "-Wall", "-Wextra", "-Werror", "-std=gnu11", "-D_GNU_SOURCE"]
LIBS = ["-lrt", "-lpthread"]
RUN_TIMEOUT = 60


@dataclass
class Run:
    rc: int
    out: str
    err: str


@pytest.fixture(scope="session")
def shim_lib(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not shutil.which("gcc"):
        pytest.skip("gcc is needed to build libuipc-preload.so")
    sys.path.insert(0, str(ROOT))
    from uipc.preload import build
    out = tmp_path_factory.mktemp("shim")
    os.chmod(out, 0o755)  # setuid children and other users load it too
    return build.build(out)


@pytest.fixture(scope="session")
def compile_c(tmp_path_factory: pytest.TempPathFactory):
    """compile_c("name.c" or a path, extra flags...) -> the executable."""
    bindir = tmp_path_factory.mktemp("cbin")
    os.chmod(bindir, 0o755)
    built: dict[tuple[str, tuple[str, ...]], Path] = {}

    def compile_(source: str | Path, *flags: str) -> Path:
        src = Path(source) if os.path.isabs(source) else PROGRAMS / source
        key = (str(src), flags)
        if key not in built:
            exe = bindir / (src.stem + ("-" + str(abs(hash(flags))) if flags else ""))
            subprocess.run(["gcc", *CFLAGS, *flags, "-o", str(exe), str(src), *LIBS], check=True)
            built[key] = exe
        return built[key]
    return compile_


def shim_env(daemon: DaemonProc, lib: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.update(UIPC_SOCKET=str(daemon.socket), UIPC_PRELOAD_LIB=str(lib))
    env.pop("UIPC_NAMESPACE", None)
    env.pop("LD_PRELOAD", None)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.update(extra or {})
    return env


def uipc_run_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "uipc.cli.main", "run", *args]


@pytest.fixture
def run_shim(daemon: DaemonProc, shim_lib: Path):
    """run_shim([exe, args...]) -> Run, under the shim in a fresh uipc namespace."""
    def run(argv: list[str | Path], env: dict[str, str] | None = None,
            input: str | None = None) -> Run:
        p = subprocess.run(uipc_run_cmd("--preload", "--new-namespace", "--", *map(str, argv)),
                           env=shim_env(daemon, shim_lib, env), capture_output=True, text=True,
                           timeout=RUN_TIMEOUT, input=input)
        return Run(p.returncode, p.stdout, p.stderr)
    return run


NATIVE_WRAP = ("mount --make-rprivate / && mount -t tmpfs -o mode=1777 tmpfs /dev/shm && "
               "{ [ ! -d /dev/mqueue ] || mount -t mqueue mqueue /dev/mqueue; } && exec \"$@\"")


@pytest.fixture
def run_native():
    """run_native([exe, args...]) -> Run, natively in fresh kernel IPC and mount namespaces."""
    if os.geteuid() != 0:
        pytest.skip("the kernel's side of a differential test needs root (unshare --ipc --mount)")

    def run(argv: list[str | Path], env: dict[str, str] | None = None,
            input: str | None = None) -> Run:
        e = dict(os.environ)
        e.pop("LD_PRELOAD", None)
        e.update(env or {})
        p = subprocess.run(["unshare", "--ipc", "--mount", "sh", "-c", NATIVE_WRAP, "sh",
                            *map(str, argv)], env=e, capture_output=True, text=True,
                           timeout=RUN_TIMEOUT, input=input)
        return Run(p.returncode, p.stdout, p.stderr)
    return run


@pytest.fixture
def differential(run_native, run_shim, compile_c):
    """differential("prog.c", args...) runs it both ways and asserts equal output."""
    def check(source: str, *args: str, flags: tuple[str, ...] = (),
              env: dict[str, str] | None = None) -> Run:
        exe = compile_c(source, *flags)
        native = run_native([exe, *args], env)
        shim = run_shim([exe, *args], env)
        assert native.rc == 0, f"{source} failed natively ({native.rc}):\n{native.out}\n{native.err}"
        assert (shim.out, shim.rc) == (native.out, native.rc), (
            f"{source}: the shim differs from the kernel\n--- kernel (rc {native.rc})\n{native.out}"
            f"\n--- shim (rc {shim.rc})\n{shim.out}\n--- shim stderr\n{shim.err}")
        return shim
    return check


@pytest.fixture(autouse=True)
def _no_leftovers() -> Iterator[None]:
    """Runs under the shim must leave nothing in the machine's IPC table or
    /dev/shm: what a test left there (a call the shim failed to interpose
    went to the kernel) is removed, and the test fails."""
    before = _kernel_objects()
    yield
    after = _kernel_objects()
    if after != before:
        _remove_kernel_objects(set(after) - set(before))
        raise AssertionError(f"a preload test left kernel IPC objects or /dev/shm files: "
                             f"{sorted(set(after) - set(before))}")


_RMID = {"msg": "-q", "sem": "-s", "shm": "-m"}


def _kernel_objects() -> tuple[str, ...]:
    """The machine's SysV objects ("msg 5", ...) and /dev/shm's files."""
    out = []
    for kind in ("msg", "sem", "shm"):
        try:
            with open(f"/proc/sysvipc/{kind}") as f:
                out += [f"{kind} {line.split()[1]}" for line in f.read().splitlines()[1:]]
        except OSError:
            pass
    try:
        out += [f"file {name}" for name in sorted(os.listdir("/dev/shm"))]
    except OSError:
        pass
    return tuple(out)


def _remove_kernel_objects(objects: set[str]) -> None:
    for obj in objects:
        kind, name = obj.split(" ", 1)
        if kind == "file":
            with contextlib.suppress(OSError):
                os.unlink(os.path.join("/dev/shm", name))
        else:
            subprocess.run(["ipcrm", _RMID[kind], name], capture_output=True)
