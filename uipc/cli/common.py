"""What every operator command shares: the namespace to look at, and the
daemon that must already be running (a tool that only looks never starts
one: there would be nothing to see)."""
from __future__ import annotations

import os
import sys
from typing import NoReturn

from uipc.client import connection

NOT_RUNNING = ("uipc daemon is not running for this user; start it with `uipc daemon` or make "
               "any uipc call")


def attach(prog: str, namespace: str | None) -> None:
    """Talk to the running daemon, in ``namespace`` (None: this process's);
    exits with util-linux's failure status and a one-line message if there
    is no daemon or no such namespace."""
    os.environ["UIPC_NO_AUTOSTART"] = "1"
    if namespace is not None:
        connection.configure(namespace=namespace, create_namespace=False)
    try:
        connection.get_connection()
    except connection.DaemonNotRunning:
        fail(prog, NOT_RUNNING)
    except OSError as exc:
        fail(prog, exc.strerror or str(exc))


def fail(prog: str, message: str, status: int = 1) -> NoReturn:
    """util-linux's err(): 'prog: message' on stderr, exit status 1."""
    print(f"{prog}: {message}", file=sys.stderr)
    raise SystemExit(status)
