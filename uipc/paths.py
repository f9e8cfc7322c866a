"""Where the daemon listens: shared by the server, the client and the CLI."""
from __future__ import annotations

import os
from pathlib import Path

SOCKET_NAME = "uipc.sock"
SYSTEM_DIR = Path("/run/uipc")


def user_dir() -> Path:
    """The per-user directory: $XDG_RUNTIME_DIR/uipc, else /tmp/uipc-$UID."""
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and os.path.isdir(runtime):
        return Path(runtime) / "uipc"
    return Path(f"/tmp/uipc-{os.getuid()}")


def default_socket() -> Path:
    """$UIPC_SOCKET if set, else the system socket when UIPC_SYSTEM=1, else per-user."""
    env = os.environ.get("UIPC_SOCKET")
    if env:
        return Path(env)
    if os.environ.get("UIPC_SYSTEM") == "1":
        return SYSTEM_DIR / SOCKET_NAME
    return user_dir() / SOCKET_NAME
