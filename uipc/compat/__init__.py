"""Drop-in ``sysv_ipc`` and ``posix_ipc`` modules over uipc.

``uipc.compat.sysv_ipc`` is the public API of sysv_ipc 1.2.0 and
``uipc.compat.posix_ipc`` that of posix_ipc 1.3.2, with the packages'
classes, constants and exceptions, served by uipc instead of the kernel.
Unmodified programs get them with ``uipc run --compat -- python prog.py``
(the ``shadow`` directory, prepended to PYTHONPATH, holds two modules named
``sysv_ipc`` and ``posix_ipc`` that are these), or in-process with
:func:`install`.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

#: the directory whose sysv_ipc.py and posix_ipc.py shadow the real packages
SHADOW_DIR = Path(__file__).resolve().parent / "shadow"


def install() -> None:
    """Make ``import sysv_ipc`` and ``import posix_ipc`` give the compat
    modules in this process (also when the real packages are installed or
    already imported)."""
    from uipc.compat import posix_ipc, sysv_ipc
    sys.modules["sysv_ipc"] = sysv_ipc
    sys.modules["posix_ipc"] = posix_ipc


def environ_with_compat(env: dict[str, str]) -> dict[str, str]:
    """``env`` with the shadow directory first on PYTHONPATH, for a child
    process and everything it runs."""
    out = dict(env)
    parts = [str(SHADOW_DIR)] + [p for p in out.get("PYTHONPATH", "").split(os.pathsep) if p]
    out["PYTHONPATH"] = os.pathsep.join(parts)
    return out
