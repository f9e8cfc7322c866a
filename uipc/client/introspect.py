"""What the kernel never showed: objects, sleepers and namespaces, as data.

The daemon answers introspection a page at a time (a bounded amount of work
per request, so that a big namespace cannot stall everyone else); these
functions fetch page after page and return the whole picture.  What another
user's objects and processes show follows /proc's rules (see
uipc/kernel/procfs.py): values, sleepers, undo entries and attachers the
caller may not see are ``None`` or left out.  Pages are fetched one after
another, so the picture is not one atomic instant, as reading /proc is not.
"""
from __future__ import annotations

import json
from typing import Any, Iterator

from uipc import protocol as P
from uipc.client.connection import call

_INTROSPECT = P.OPS_BY_NAME["introspect"]
#: the op's what=... values
_WHAT_NAMESPACE = 0
_WHAT_NAMESPACES = 1
#: the op's section=... values, by name
SECTIONS = {"processes": 0, "msg": 1, "sem": 2, "shm": 3, "mqueue": 4, "posix_sem": 5,
            "posix_shm": 6, "files": 7}
_U32_MAX = 0xFFFFFFFF


def _check_count(count: int) -> None:
    if not isinstance(count, int) or isinstance(count, bool):
        raise TypeError(f"count must be an int, not {type(count).__name__}")
    if not 0 <= count <= _U32_MAX:
        raise ValueError(f"count {count} outside [0, {_U32_MAX}] (0: the daemon's page size)")


def page(section: str, cursor: int = 0, count: int = 0) -> tuple[dict[str, Any], int | None]:
    """One page of one section of this process's namespace.

    ``section`` is "processes" or "files" (``cursor``: the first pid),
    "msg", "sem" or "shm" (``cursor``: the first id index, ``id % 32768``),
    "mqueue", "posix_sem" or "posix_shm" (the object's number); ``count`` the
    most entries wanted (0: as many as the daemon gives in one page).
    Returns the reply (``namespace``, ``section``, ``entries``) and the
    cursor of the next page, or None after the last.
    """
    if section not in SECTIONS:
        raise ValueError(f"section {section!r}: one of {', '.join(SECTIONS)}")
    if not isinstance(cursor, int) or isinstance(cursor, bool):
        raise TypeError(f"cursor must be an int, not {type(cursor).__name__}")
    if cursor < 0:
        raise ValueError(f"cursor {cursor} is negative")
    _check_count(count)
    reply = json.loads(call(_INTROSPECT, (_WHAT_NAMESPACE, SECTIONS[section], cursor, count))[0])
    return reply, reply["next"]


def pages(section: str) -> Iterator[dict[str, Any]]:
    """Every page of one section, in cursor order."""
    cursor: int | None = 0
    while cursor is not None:
        reply, cursor = page(section, cursor)
        yield reply


def section(name: str) -> list[dict[str, Any]]:
    """Every entry of one section ("processes", "msg", "sem", "shm")."""
    return [e for reply in pages(name) for e in reply["entries"]]


def files(pid: int | None = None) -> list[dict[str, Any]]:
    """Each process's uipc descriptors (the "files" section, /proc/PID/fd and
    fdinfo): ``[{"pid", "uid", "files"}]`` in pid order, ``files`` a list of
    ``{"ino", "type", "flags", "mode", "cloexec", ...}`` (the kind's state:
    a pipe's bytes, capacity, readers and writers, an eventfd's count, a
    timerfd's ticks, a signalfd's sigmask, an epoll's items and ready
    count), or None for a process this one may not inspect.  ``pid``: that
    process only (an empty list if it is not in the namespace)."""
    if pid is None:
        return section("files")
    if not isinstance(pid, int) or isinstance(pid, bool):
        raise TypeError(f"pid must be an int, not {type(pid).__name__}")
    if pid <= 0:
        raise ValueError(f"pid {pid} is not positive")
    reply, _ = page("files", pid, 1)
    return [e for e in reply["entries"] if e["pid"] == pid]


def namespace() -> dict[str, Any]:
    """This process's namespace: its processes and every object with its sleepers.

    Keys: ``namespace`` (its name), ``processes`` (pids), ``process_details``,
    ``msg``, ``sem`` and ``shm`` (one dict per object, in id index order),
    ``mqueue``, ``posix_sem``, ``posix_shm``, and ``files`` (each process's
    descriptors, see :func:`files`).
    """
    out: dict[str, Any] = {}
    for name in SECTIONS:
        entries = []
        for reply in pages(name):
            out.setdefault("namespace", reply["namespace"])
            entries += reply["entries"]
        out["process_details" if name == "processes" else name] = entries
    out["processes"] = [p["pid"] for p in out["process_details"]]
    return out


def namespaces_page(start: str = "", count: int = 0) -> tuple[list[dict[str, Any]], str | None]:
    """One page of the namespaces listing, from the name ``start`` on.
    Returns its entries and the name the next page starts at (None: done)."""
    if not isinstance(start, str):
        raise TypeError(f"start must be a str, not {type(start).__name__}")
    _check_count(count)
    reply = json.loads(call(_INTROSPECT, (_WHAT_NAMESPACES, 0, 0, count), start.encode())[0])
    return reply["entries"], reply["next"]


def namespaces() -> list[dict[str, Any]]:
    """The namespaces this process may see -- its own, and those it may join
    (it created them, or has CAP_SYS_ADMIN): name, owner, processes, object
    counts."""
    out: list[dict[str, Any]] = []
    start: str | None = ""
    while start is not None:
        entries, start = namespaces_page(start)
        out += entries
    return out


def daemon() -> dict[str, Any]:
    """The daemon's counters: ``calls`` (syscalls served since it started),
    ``processes`` and ``namespaces`` it knows."""
    return json.loads(call(_INTROSPECT, (2, 0, 0, 0))[0])
