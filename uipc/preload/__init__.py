"""The LD_PRELOAD shim: libuipc-preload.so gives unmodified C programs uipc's IPC.

The library is C (the sources here; ``build.py`` compiles them when the
package is installed).  :func:`library_path` finds it: ``$UIPC_PRELOAD_LIB``
if set, else the copy installed with the package.
"""
from __future__ import annotations

import os
from importlib import metadata
from pathlib import Path

LIBRARY = "libuipc-preload.so"


def library_path() -> Path:
    """Where libuipc-preload.so is; FileNotFoundError if it was never built."""
    env = os.environ.get("UIPC_PRELOAD_LIB")
    if env:
        return Path(env)
    here = Path(__file__).resolve().parent / LIBRARY
    if here.exists():
        return here
    # imported from a source tree: the installed distribution has it (a
    # source tree's own uipc.egg-info may come first, without it)
    for dist in metadata.distributions(name="uipc"):
        for f in dist.files or ():
            if f.name == LIBRARY and Path(str(f.locate())).exists():
                return Path(str(f.locate())).resolve()
    raise FileNotFoundError(f"{LIBRARY} is not built: install uipc with `pip install .` "
                            "(it needs gcc), or build it with `python -m uipc.preload.build DIR` "
                            "and set UIPC_PRELOAD_LIB")
