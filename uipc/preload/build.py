"""Compile libuipc-preload.so from the C sources next to this file.

Used by setup.py when ``pip install .`` builds the package (gcc is the only
tool needed; nothing is downloaded) and by the tests, which build the
working tree's sources so they never run a stale library.  Standard library
only: setup.py loads this file by path, before uipc is importable.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
LIBRARY = "libuipc-preload.so"
INCLUDE = HERE.parent / "include"
CFLAGS = ["-shared", "-fPIC", "-O2", "-g", "-Wall", "-Wextra", "-Werror=implicit-function-declaration",
          "-fvisibility=hidden", "-std=gnu11"]
LIBS = ["-ldl", "-lpthread"]


def sources() -> list[Path]:
    return sorted(HERE.glob("*.c"))


def compiler() -> str:
    cc = os.environ.get("CC") or shutil.which("gcc") or shutil.which("cc")
    if not cc:
        raise RuntimeError("building libuipc-preload.so needs a C compiler (gcc)")
    return cc


def build(out_dir: Path | str) -> Path:
    """Compile the library into ``out_dir``; returns its path."""
    out = Path(out_dir) / LIBRARY
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".so.tmp")
    cmd = [compiler(), *CFLAGS, f"-I{INCLUDE}", f"-I{HERE}", "-o", str(tmp),
           *map(str, sources()), *LIBS]
    subprocess.run(cmd, check=True)
    os.replace(tmp, out)  # a library in use is replaced, never rewritten
    return out


if __name__ == "__main__":
    print(build(sys.argv[1] if len(sys.argv) > 1 else HERE))
