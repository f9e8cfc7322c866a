"""Between the wire and the core: decode, call, encode — generic, from one table.

Every syscall the core declares (``@syscall`` in uipc/kernel, collected in
``uipc.kernel.entry.TABLE``) gets, from its declaration alone, a decoder of
its fixed arguments and tail into the implementation's arguments and an
encoder of its result kind into a reply frame.  Nothing here names an op:
a new syscall is served the moment its module declares it.

Decoders are compiled once per op (a small generated function, so the hot
path is one call with no loop over argument descriptions).  Malformed input
raises ProtocolError (or UnicodeDecodeError, or KernelError with the errno
Linux gives, e.g. EFAULT for IPC_SET without its struct), which the daemon
answers without touching the core.  Results that carry descriptors (a
shmat's memory object) are turned into descriptors by ``fd_of``.
"""
from __future__ import annotations

import errno
import struct
from typing import Any, Callable

from uipc import protocol as P
from uipc.kernel.entry import TABLE, SyscallSpec
from uipc.kernel.errors import KernelError
from uipc.kernel import syscalls as _syscalls  # noqa: F401 - fills TABLE
from uipc.uapi.ipc import IPC_64, IPC_SET
from uipc.uapi.msg import MsqidDs
from uipc.uapi.sem import SETALL, SETVAL, SemidDs
from uipc.uapi.shm import ShmidDs

Decoder = Callable[[tuple[Any, ...], bytes], tuple[Any, ...]]
#: (req_id, result) -> (frame, memory objects whose descriptors go with it)
Encoder = Callable[[int, Any], tuple[bytes, list[tuple[Any, bool]]]]


# --- tail decoders: (tail, decoded fixed args by name) -> value -----------------------
def _no_tail(tail: bytes) -> None:
    if tail:
        raise P.ProtocolError("this operation takes no tail")


def _ctl_struct(cls: type) -> Callable[[bytes, dict[str, Any]], Any]:
    def decode(tail: bytes, named: dict[str, Any]) -> Any:
        if (named["cmd"] & ~IPC_64) == IPC_SET:
            if not tail:
                raise KernelError(errno.EFAULT, f"IPC_SET needs a {cls.__name__}")
            return P.unpack_struct(cls, tail)
        _no_tail(tail)
        return None
    return decode


def _semun(tail: bytes, named: dict[str, Any]) -> Any:
    base = named["cmd"] & ~IPC_64
    if base == SETVAL:
        return named["arg"]
    if base == SETALL:
        return P.unpack_semvals(tail)
    if base == IPC_SET:
        if not tail:
            raise KernelError(errno.EFAULT, "IPC_SET needs a SemidDs")
        return P.unpack_struct(SemidDs, tail)
    return None


def _ids(tail: bytes, named: dict[str, Any]) -> list[int]:
    if len(tail) % 8:
        raise P.ProtocolError("attach ids are i64s")
    return [i for (i,) in struct.iter_unpack("<q", tail)]


TAIL_DECODERS: dict[str, Callable[[bytes, dict[str, Any]], Any]] = {
    "bytes": lambda tail, named: tail,
    "user": lambda tail, named: tail,
    "text": lambda tail, named: tail.decode(),
    "sembufs": lambda tail, named: P.unpack_sembufs(tail),
    "msgs": lambda tail, named: P.unpack_msgs(tail),
    "ids": _ids,
    "msqid_ds": _ctl_struct(MsqidDs),
    "shmid_ds": _ctl_struct(ShmidDs),
    "semun": _semun,
}


def compile_decoder(spec: SyscallSpec) -> Decoder:
    """A function (fixed args tuple, tail) -> the implementation's arguments."""
    fixed = [a for a in spec.args if a.fixed]
    index = {a.name: i for i, a in enumerate(fixed)}
    tail_arg = spec.tail_arg
    parts = []
    for a in spec.args:
        if a is tail_arg:
            parts.append("tail_value")
        elif a.type == "timeout":  # ns, -1 for none -> seconds or None
            parts.append(f"(None if a[{index[a.name]}] < 0 else a[{index[a.name]}] / 1e9)")
        else:
            parts.append(f"a[{index[a.name]}]")
    lines = ["def decode(a, tail):"]
    if tail_arg is None:
        lines.append("    if tail: _no_tail(tail)")
    else:
        named = "{" + ", ".join(f"{n!r}: a[{i}]" for n, i in index.items()) + "}"
        lines.append(f"    tail_value = tail_decoder(tail, {named})")
    lines.append(f"    return ({', '.join(parts)}{',' if len(parts) == 1 else ''})")
    env: dict[str, Any] = {"_no_tail": _no_tail,
                           "tail_decoder": TAIL_DECODERS[tail_arg.type] if tail_arg else None}
    exec("\n".join(lines), env)  # noqa: S102 - our own table, compiled once
    return env["decode"]  # type: ignore[no-any-return]


# --- result encoders ----------------------------------------------------------------
_REPLY_NONE = P.REPLY_HEADER                             # length, req_id, status
_REPLY_INT = struct.Struct(P.REPLY_HEADER.format + "q")  # ... value
_REPLY_CTL_INT = struct.Struct(P.REPLY_HEADER.format + "Bq")  # ... tag, value
_HDR = P.REPLY_HEADER.size - 4
_NOFDS: list[tuple[Any, bool]] = []


def _reply_none(req_id: int, result: Any) -> bytes:
    return _REPLY_NONE.pack(_HDR, req_id, 0)


def _reply_int(req_id: int, result: Any) -> bytes:
    return _REPLY_INT.pack(_HDR + 8, req_id, 0, result)


def _reply_msg(req_id: int, result: Any) -> bytes:
    mtype, mtext = result
    return _REPLY_INT.pack(_HDR + 8 + len(mtext), req_id, 0, mtype) + mtext


def _reply_ctl(req_id: int, result: Any) -> bytes:
    if type(result) is int:  # GETVAL, IPC_RMID...: the common case in one pack
        return _REPLY_CTL_INT.pack(_HDR + 9, req_id, 0, P.TAG_INT, result)
    return P.encode_reply(req_id, P.pack_ctl_result(result))


def _reply_text(req_id: int, result: Any) -> bytes:
    return P.encode_reply(req_id, str(result).encode())


def _reply_bytes(req_id: int, result: Any) -> bytes:
    return P.encode_reply(req_id, bytes(result))


def _reply_msgs(req_id: int, result: Any) -> bytes:
    return P.encode_reply(req_id, P.pack_msgs(result))


def _shmat_payload(result: Any) -> bytes:
    return P.SHMAT_RESULT.pack(result.attach_id, result.size, result.map_size, result.addr,
                               int(result.readonly), int(result.remap))


#: result kind -> encoder of a whole success reply frame (descriptor-free kinds)
REPLY_ENCODERS: dict[str, Callable[[int, Any], bytes]] = {
    "none": _reply_none, "int": _reply_int, "msg": _reply_msg, "ctl": _reply_ctl,
    "text": _reply_text, "bytes": _reply_bytes, "msgs": _reply_msgs,
}
#: ipc(2)'s tags, in the order of its doc
ANY_TAGS = {"int": 0, "msg": 1, "ctl": 2, "shmat": 3, "none": 4}


def _with_memory(encode: Callable[[int, Any], bytes]) -> Encoder:
    return lambda req_id, result: (encode(req_id, result), _NOFDS)


def _reply_shmat(req_id: int, result: Any) -> tuple[bytes, list[tuple[Any, bool]]]:
    return P.encode_reply(req_id, _shmat_payload(result)), [(result.handle, result.readonly)]


def _reply_any(req_id: int, result: Any) -> tuple[bytes, list[tuple[Any, bool]]]:
    kind, value = result
    if kind == "shmat":
        frame, mems = P.encode_reply(req_id, bytes([ANY_TAGS[kind]]) + _shmat_payload(value)), \
            [(value.handle, value.readonly)]
        return frame, mems
    inner = REPLY_ENCODERS[kind](req_id, value)[P.REPLY_HEADER.size:]
    return P.encode_reply(req_id, bytes([ANY_TAGS[kind]]) + inner), _NOFDS


def _reply_file(req_id: int, result: Any) -> tuple[bytes, list[tuple[Any, bool]]]:
    """A new open file: its doorbell descriptor is made and sent (fd_of)."""
    return P.encode_reply(req_id, b""), [(result, False)]


def _reply_files(req_id: int, result: Any) -> tuple[bytes, list[tuple[Any, bool]]]:
    """New open files (pipe2's ends): their doorbells are made and sent in order."""
    return P.encode_reply(req_id, b""), [(new, False) for new in result]


def _reply_memory(req_id: int, result: Any) -> tuple[bytes, list[tuple[Any, bool]]]:
    """(memory object, read-only): its descriptor is sent (shm_open)."""
    handle, readonly = result
    return P.encode_reply(req_id, b""), [(handle, readonly)]


ENCODERS: dict[str, Encoder] = {kind: _with_memory(fn) for kind, fn in REPLY_ENCODERS.items()}
ENCODERS["shmat"] = _reply_shmat
ENCODERS["any"] = _reply_any
ENCODERS["file"] = _reply_file
ENCODERS["files"] = _reply_files
ENCODERS["memory"] = _reply_memory


class Entry:
    """One op as the daemon runs it."""

    __slots__ = ("op", "spec", "size", "unpack", "decode", "encode", "plain")

    def __init__(self, op: P.Op, spec: SyscallSpec) -> None:
        self.op, self.spec = op, spec
        self.size = op.struct.size
        self.unpack = op.struct.unpack_from
        self.decode = compile_decoder(spec)
        self.encode = ENCODERS[spec.result]
        #: its reply never carries descriptors: the one-step encoder will do
        self.plain: Callable[[int, Any], bytes] | None = REPLY_ENCODERS.get(spec.result)


def build_entries() -> dict[int, Entry]:
    """op code -> Entry, for every syscall of the table (and only those)."""
    entries = {}
    for op in P.OPS:
        if op.control:
            continue
        spec = TABLE.get(op.code)
        if spec is None or spec.name != op.name:
            raise RuntimeError(f"op {op.code} {op.name} is not the core's syscall "
                               f"{spec.name if spec else None}: regenerate uipc/protocol/table.py")
        entries[op.code] = Entry(op, spec)
    return entries
