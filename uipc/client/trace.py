"""`uipc trace`'s client: subscribe to the daemon's call records.

The daemon pushes one JSON record per call finished in this process's
namespace by a process we may inspect (uipc/server/trace.py); this module
opens a connection of its own for them and yields them as dicts.
"""
from __future__ import annotations

import json
from typing import Any, Callable, Iterator

from uipc import protocol as P
from uipc.client.connection import Connection, _namespace_args, current_socket

_TRACE = P.OPS_BY_NAME["trace"]
TRACE_EVENT = next(code for code, name in P.EVENTS.items() if name == "trace")


def records(pid: int = 0, syscalls: tuple[str, ...] = (),
            on_ready: Callable[[], None] | None = None) -> Iterator[dict[str, Any]]:
    """Every call record from now on (``pid``: only that process's;
    ``syscalls``: only those calls), until the daemon goes away.
    ``on_ready`` is called once the daemon has the subscription."""
    conn = Connection(current_socket(), *_namespace_args())
    try:
        conn.call(_TRACE, (pid,), ",".join(syscalls).encode())
        if on_ready is not None:
            on_ready()
        while True:
            code, payload = conn.next_event()
            if code == TRACE_EVENT:
                yield json.loads(payload)
    finally:
        conn.close()
