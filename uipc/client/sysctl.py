"""IPC sysctls of the caller's namespace: ``uipc.sysctl.get/set``."""
from __future__ import annotations

from uipc import protocol as P
from uipc.client.connection import call

_SYSCTL = P.OPS_BY_NAME["sysctl"]


def get(name: str) -> str:
    """The value as /proc/sys shows it, e.g. get("kernel.msgmax") -> "8192"."""
    return call(_SYSCTL, (0,), name.encode())[0].decode()


def set(name: str, value: int | str) -> None:  # noqa: A001 - sysctl's verb
    """Set a limit; OSError(EINVAL) when out of Linux's range."""
    if isinstance(value, (list, tuple)):
        value = " ".join(str(v) for v in value)
    call(_SYSCTL, (1,), f"{name}={value}".encode())


def get_all() -> dict[str, str]:
    text = call(_SYSCTL, (0,), b"-a")[0].decode()
    return dict(line.split(" = ", 1) for line in text.splitlines())
