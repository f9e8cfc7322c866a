"""What the kernel never showed: objects, sleepers and namespaces, as data."""
from __future__ import annotations

import json
from typing import Any

from uipc import protocol as P
from uipc.client.connection import call

_INTROSPECT = P.OPS_BY_NAME["introspect"]


def namespace() -> dict[str, Any]:
    """This process's namespace: its processes and every object with its sleepers."""
    return json.loads(call(_INTROSPECT, (0,))[0])


def namespaces() -> list[dict[str, Any]]:
    """Every namespace the daemon holds: name, processes, object counts."""
    return json.loads(call(_INTROSPECT, (1,))[0])
