"""`uipc trace`'s source: every served call, published to subscribers.

A connection becomes a subscriber with the ``trace`` control frame (its
filters: a pid, syscall names); from then on the daemon pushes it one event
frame (code 2, ``trace``: JSON) per call that finishes in its namespace —
the call with its decoded arguments, the result or errno with the rule that
fired, and, for a call that slept, how long.  Sans-I/O: the session layer
calls :meth:`Tracers.emit`, which appends frames to the subscribers'
outboxes; the I/O layer sends them.

Who sees what: as strace needs ptrace rights over its tracee, a subscriber
sees the calls of processes it may inspect (procfs.Viewer.may_inspect: the
same uids and gids, or CAP_SYS_ADMIN standing for CAP_SYS_PTRACE), and
only in the namespace it is in.  Message contents are shown as strace shows
them: their first bytes.

Cost with no subscriber: the session tests one dict for emptiness per
request.  A subscriber that does not read its events is bounded like any
client that does not read its replies (uipc.quota.reply_bytes).
"""
from __future__ import annotations

import dataclasses
import json
from typing import TYPE_CHECKING, Any

from uipc import protocol as P
from uipc.kernel import KernelError, Task
from uipc.kernel.procfs import Viewer

if TYPE_CHECKING:
    from uipc.server.dispatch import Entry
    from uipc.server.session import Session

#: the event code of a trace record (uipc.protocol.EVENTS)
TRACE_EVENT = 2
#: bytes of a message shown (strace's default -s is 32)
SHOW_BYTES = 32


@dataclasses.dataclass
class Subscription:
    """One subscriber's filters."""

    viewer: Viewer
    ns: Any
    pid: int = 0
    names: frozenset[str] = frozenset()


def _value(v: Any) -> Any:
    """An argument or result as JSON can carry it (and strace would show it)."""
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    if isinstance(v, (bytes, bytearray, memoryview)):
        b = bytes(v)
        return {"bytes": len(b), "head": b[:SHOW_BYTES].decode("latin-1")}
    if dataclasses.is_dataclass(v) and not isinstance(v, type):
        return {f.name: _value(getattr(v, f.name)) for f in dataclasses.fields(v)}
    if isinstance(v, (list, tuple)):
        if len(v) > 64:
            return {"items": len(v)}
        return [_value(x) for x in v]
    return type(v).__name__  # a new file, a memory object: named, not shown


class Tracers:
    """The subscribers of one daemon and what they are sent."""

    def __init__(self) -> None:
        self.subs: dict["Session", Subscription] = {}
        #: subscribers with events not yet handed to the I/O layer
        self.touched: set["Session"] = set()

    def __bool__(self) -> bool:
        return bool(self.subs)

    def subscribe(self, session: "Session", task: Task, pid: int, names: str) -> None:
        wanted = frozenset(n for n in names.split(",") if n)
        self.subs[session] = Subscription(Viewer.of(task), task.ns, pid, wanted)

    def drop(self, session: "Session") -> None:
        self.subs.pop(session, None)
        self.touched.discard(session)

    def emit(self, task: Task, entry: "Entry", args: tuple[Any, ...], result: Any,
             now: float, slept: float | None) -> None:
        """One finished call: to every subscriber allowed to see it."""
        name = entry.op.name
        frame = b""
        for session, sub in list(self.subs.items()):
            if session.closing:
                self.drop(session)
                continue
            if (sub.ns is not task.ns or (sub.pid and sub.pid != task.pid)
                    or (sub.names and name not in sub.names)
                    or not sub.viewer.may_inspect(task.process)):
                continue
            if not frame:
                frame = P.encode_event(TRACE_EVENT, self._record(task, entry, args, result, now,
                                                                  slept))
            session.outbox.append((frame, [], None))
            self.touched.add(session)

    @staticmethod
    def _record(task: Task, entry: "Entry", args: tuple[Any, ...], result: Any, now: float,
                slept: float | None) -> bytes:
        rec: dict[str, Any] = {
            "time": now, "pid": task.pid, "tid": task.tid, "uid": task.cred.euid,
            "call": entry.op.name,
            "args": [[a.name, _value(v)] for a, v in zip(entry.spec.args, args)],
            "slept": slept,
        }
        if isinstance(result, KernelError):
            rec["errno"], rec["detail"] = result.errno, result.detail
        else:
            rec["errno"], rec["result"] = 0, _value(result)
        return json.dumps(rec, separators=(",", ":")).encode()

    def take_touched(self) -> list["Session"]:
        touched, self.touched = list(self.touched), set()
        return touched
