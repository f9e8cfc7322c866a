"""The wire format between clients and the daemon: one table, sans-I/O.

Frames are little-endian and length-prefixed, so a C program (a future
LD_PRELOAD shim) can speak them:

    request:  u32 length | u32 req_id | u16 op   | fixed args | tail
    reply:    u32 length | u32 req_id | i32 status | fixed result | tail

``length`` counts the bytes after itself.  ``status`` is 0 on success, else
Linux's errno and the tail is a UTF-8 sentence saying which rule fired.  Each
operation's fixed part is one precompiled ``struct.Struct``; the tail carries
the variable part (message text, sembuf array, a packed struct).  ``OPS`` is
the one table of operations: the daemon dispatches on it and the client
builds requests from it.  Its syscall rows (uipc/protocol/table.py) and
docs/protocol.md are generated from the core's syscall table by
``python -m uipc.protocol.gen``.

The codec does no I/O: ``encode_*`` return bytes, :class:`FrameDecoder` is fed
bytes and yields whole frames or :data:`NEED_DATA`.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any, Iterable

from uipc.protocol.table import SYSCALL_ROWS
from uipc.uapi import layout as L
from uipc.uapi.msg import UIO_MAXIOV

VERSION = 2
#: the largest frame either side accepts (length field value)
MAX_FRAME = 16 * 1024 * 1024 + 64

LENGTH = struct.Struct("<I")
REQ_HEADER = struct.Struct("<IIH")     # length, req_id, op
REPLY_HEADER = struct.Struct("<IIi")   # length, req_id, status
INT_RESULT = struct.Struct("<q")
CTL_HEADER = struct.Struct("<Bq")      # struct tag, return value
SEMBUF = L.SEMBUF                      # struct sembuf: sem_num, sem_op, sem_flg
SEMVAL = L.SEMVAL                      # unsigned short, as semun.array
STRUCT_TAGS = L.STRUCT_TAGS
UNSIGNED_FIELDS = L.UNSIGNED_FIELDS


class ProtocolError(ValueError):
    """A frame that cannot be decoded; the connection cannot continue."""


class _NeedData:
    def __repr__(self) -> str:
        return "NEED_DATA"


NEED_DATA = _NeedData()


# --- structs on the wire (uipc.uapi.layout) ------------------------------------
TAG_INT = 0
TAG_INTLIST = 8
_TAG_OF = L.TAG_OF


def pack_struct(obj: Any) -> bytes:
    """Flatten a uapi dataclass (ipc_perm inlined) into i64s (uipc.uapi.layout)."""
    return L.pack_struct(obj)


def unpack_struct(cls: type, data: bytes | memoryview) -> Any:
    """The inverse of :func:`pack_struct`; ProtocolError if the size is wrong."""
    try:
        return L.unpack_struct(cls, data)
    except L.LayoutError as exc:
        raise ProtocolError(str(exc)) from None


def pack_ctl_result(result: Any) -> bytes:
    """Encode what a *ctl syscall returned: an int, (int, struct) or a list."""
    if isinstance(result, int):
        return CTL_HEADER.pack(TAG_INT, result)
    if isinstance(result, list):
        return CTL_HEADER.pack(TAG_INTLIST, len(result)) + struct.pack(f"<{len(result)}q", *result)
    ret, obj = result
    return CTL_HEADER.pack(_TAG_OF[type(obj)], ret) + pack_struct(obj)


def unpack_ctl_result(data: bytes | memoryview) -> Any:
    if len(data) < CTL_HEADER.size:
        raise ProtocolError("short ctl result")
    tag, ret = CTL_HEADER.unpack_from(data)
    rest = data[CTL_HEADER.size:]
    if tag == TAG_INT:
        return ret
    if tag == TAG_INTLIST:
        return list(struct.unpack(f"<{ret}q", rest))
    if tag not in STRUCT_TAGS:
        raise ProtocolError(f"unknown struct tag {tag}")
    return ret, unpack_struct(STRUCT_TAGS[tag], rest)


# --- the operation table ------------------------------------------------------
@dataclass(frozen=True)
class Op:
    """One operation: its code, fixed argument layout, tail and result kind."""

    code: int
    name: str
    #: struct format of the fixed arguments (little-endian)
    args: str
    arg_names: tuple[str, ...]
    #: the wire type of the argument that travels in the tail ("" for none)
    tail: str
    #: result kind (uipc.kernel.entry.RESULT_KINDS, "hello" for the hello frame)
    result: str
    doc: str
    #: every argument in the implementation's order: (name, wire type)
    params: tuple[tuple[str, str], ...] = ()
    #: descriptors the reply carries
    fds: int = 0
    #: a connection-level frame (hello, interrupt), not a syscall
    control: bool = False

    @property
    def struct(self) -> struct.Struct:
        return _ARG_STRUCTS[self.code]


#: fixed wire types -> struct format (uipc.kernel.entry.FIXED_TYPES, repeated
#: so that the client need not import the core)
_FIXED = {"i8": "b", "u8": "B", "i16": "h", "u16": "H", "i32": "i", "u32": "I",
          "i64": "q", "u64": "Q", "timeout": "q", "semun": "q"}


def _op(code: int, name: str, params: tuple[tuple[str, str], ...], result: str, fds: int,
        doc: str) -> Op:
    fixed = [(n, t) for n, t in params if t in _FIXED]
    tail = next((t for n, t in params if t not in _FIXED or t == "semun"), "")
    return Op(code, name, "".join(_FIXED[t] for _, t in fixed), tuple(n for n, _ in fixed),
              tail, result, doc, params, fds)


#: frames of the connection itself, not syscalls
CONTROL_OPS: tuple[Op, ...] = (
    Op(0, "hello", "IiI", ("version", "flags", "reserved"), "text", "hello",
       "First frame of a connection. Tail: the IPC namespace the caller expects (UTF-8; empty: "
       "wherever the process is, which for a new process is its nearest known ancestor's "
       "namespace, else the initial one). Naming another namespace joins it (setns: its "
       "creator or CAP_SYS_ADMIN only). flags bit 0: create the named namespace if missing. "
       "Result: version u32, the pid the daemon sees (SO_PEERCRED) i64, the task id i64, the "
       "daemon's boot id u64 (new at every daemon start), the largest frame it accepts u32.",
       control=True),
    Op(12, "interrupt", "I", ("target_req_id",), "", "none",
       "A signal interrupted the caller's blocked request: it completes with EINTR (or with "
       "its result if it completed first). This frame gets no reply of its own.", control=True),
    Op(100, "trace", "q", ("pid",), "text", "none",
       "Subscribe this connection to `uipc trace` events (code 2: one JSON record per call "
       "that finishes in the caller's namespace, by a process the caller may inspect). pid: "
       "only that process (0: all). Tail: syscall names to keep, comma-separated (empty: "
       "all).", control=True),
)

#: every op: the control frames and the core's syscalls (uipc/protocol/table.py,
#: generated from the core's table by `python -m uipc.protocol.gen`)
OPS: tuple[Op, ...] = tuple(sorted(CONTROL_OPS + tuple(_op(*row) for row in SYSCALL_ROWS),
                                   key=lambda op: op.code))
OPS_BY_CODE: dict[int, Op] = {op.code: op for op in OPS}
OPS_BY_NAME: dict[str, Op] = {op.name: op for op in OPS}
_ARG_STRUCTS: dict[int, struct.Struct] = {op.code: struct.Struct("<" + op.args) for op in OPS}
#: header and fixed arguments of each op in one struct: one pack per request
REQUEST_STRUCTS: dict[int, struct.Struct] = {
    op.code: struct.Struct("<IIH" + op.args) for op in OPS}
HELLO_RESULT = struct.Struct("<IqqQI")
MSG_RESULT = struct.Struct("<q")
SHMAT_RESULT = struct.Struct("<qQQQii")
MSGS_COUNT = struct.Struct("<I")
MSGS_ITEM = struct.Struct("<qI")
#: messages one msgrcv_many / msgsnd_many may carry (sendmmsg's cap)
MAX_MSGS = UIO_MAXIOV


def pack_msgs(msgs: list[tuple[int, bytes]]) -> bytes:
    parts = [MSGS_COUNT.pack(len(msgs))]
    for mtype, mtext in msgs:
        parts.append(MSGS_ITEM.pack(mtype, len(mtext)))
        parts.append(mtext)
    return b"".join(parts)


def unpack_msgs(data: bytes | memoryview) -> list[tuple[int, bytes]]:
    if len(data) < MSGS_COUNT.size:
        raise ProtocolError("short message list")
    (n,) = MSGS_COUNT.unpack_from(data)
    pos, out = MSGS_COUNT.size, []
    for _ in range(n):
        if len(data) < pos + MSGS_ITEM.size:
            raise ProtocolError("truncated message list")
        mtype, size = MSGS_ITEM.unpack_from(data, pos)
        pos += MSGS_ITEM.size
        if len(data) < pos + size:
            raise ProtocolError("truncated message list")
        out.append((mtype, bytes(data[pos:pos + size])))
        pos += size
    if pos != len(data):
        raise ProtocolError(f"{len(data) - pos} bytes after the message list")
    return out


HELLO_CREATE_NS = 1

# --- pushed events ------------------------------------------------------------
#: a frame from the daemon with this req_id answers no request.  With status
#: 0 it is an event: its tail is u16 event code, then the event's payload; a
#: nonzero status is an error about the connection itself (EPROTO, EMFILE...)
EVENT_REQ_ID = 0
EVENT_HEADER = struct.Struct("<H")
#: event code -> name; mq_notify, signals and poll readiness will take codes here
EVENTS: dict[int, str] = {1: "notify", 2: "trace"}


def encode_event(code: int, payload: bytes = b"") -> bytes:
    """An event frame (sans-I/O, like the other encoders)."""
    return encode_reply(EVENT_REQ_ID, EVENT_HEADER.pack(code) + payload)

# --- flags in the op field (as io_uring's IOSQE_IO_LINK / IOSQE_CQE_SKIP_SUCCESS) --
#: the next request on the connection is linked to this one: if this one
#: fails, the rest of the chain (up to and including its first request
#: without the flag) is answered with ECANCELED instead of being run
OP_LINK = 0x8000
#: no reply if the request succeeds (its failure is still answered)
OP_SKIP_SUCCESS = 0x4000
OP_FLAGS = OP_LINK | OP_SKIP_SUCCESS
OP_CODE_MASK = 0x3FFF


# --- encoding -----------------------------------------------------------------
def encode_request(op: Op, req_id: int, args: tuple[Any, ...], tail: bytes = b"") -> bytes:
    """A request frame.  Raises struct.error if an argument does not fit."""
    st = REQUEST_STRUCTS[op.code]
    return st.pack(st.size - 4 + len(tail), req_id, op.code, *args) + tail


def encode_reply(req_id: int, payload: bytes = b"") -> bytes:
    return REPLY_HEADER.pack(8 + len(payload), req_id, 0) + payload


def encode_error(req_id: int, errno: int, detail: str = "") -> bytes:
    text = detail.encode("utf-8", "replace")[:4096]
    return REPLY_HEADER.pack(8 + len(text), req_id, errno) + text


def pack_sembufs(sops: Iterable[tuple[int, int, int]]) -> bytes:
    return b"".join(SEMBUF.pack(*s) for s in sops)


def unpack_sembufs(data: bytes | memoryview) -> list[tuple[int, int, int]]:
    if len(data) % SEMBUF.size:
        raise ProtocolError(f"sembuf array of {len(data)} bytes is not a multiple of {SEMBUF.size}")
    return list(SEMBUF.iter_unpack(data))


def pack_semvals(values: Iterable[int]) -> bytes:
    return b"".join(SEMVAL.pack(v) for v in values)


def unpack_semvals(data: bytes | memoryview) -> list[int]:
    if len(data) % SEMVAL.size:
        raise ProtocolError("semaphore value array has an odd length")
    return [v for (v,) in SEMVAL.iter_unpack(data)]


# --- decoding -----------------------------------------------------------------
#: a decoder's buffer to begin with, and the most it keeps once emptied (a
#: connection that sent one 16 MiB frame should not hold 16 MiB for good)
_DECODER_SMALL = 64 * 1024
_DECODER_KEEP = 4 * 1024 * 1024


class FrameDecoder:
    """Split a byte stream into frames.  Sans-I/O: feed bytes, take frames.

    ``next_frame()`` returns ``(req_id, code, payload)`` where ``code`` is the
    op (requests) or the status (replies), or :data:`NEED_DATA`.  A length
    field above ``max_frame`` or below the header size raises ProtocolError.
    """

    def __init__(self, *, reply: bool = False, max_frame: int = MAX_FRAME) -> None:
        # one buffer, filled at _end and read from _start, never resized but
        # to grow: a bytearray regrown and trimmed chunk by chunk would copy a
        # big frame many times, each time into freshly faulted pages.  Made on
        # the first feed: most connections never need one (whole frames skip
        # the decoder), and a thousand idle ones must not hold 64 KiB each
        self._buf = bytearray()
        self._start = 0
        self._end = 0
        self._max = max_frame
        hdr = REPLY_HEADER if reply else REQ_HEADER
        self._unpack = hdr.unpack_from
        self._hsize = hdr.size
        self._min = hdr.size - LENGTH.size

    def feed(self, data: bytes | memoryview) -> None:
        n = len(data)
        buf, end = self._buf, self._end
        if end + n > len(buf):
            kept = bytes(memoryview(buf)[self._start:end])
            if len(kept) + n > len(buf):
                buf = self._buf = bytearray(max(len(kept) + n, 2 * len(buf), _DECODER_SMALL))
            buf[:len(kept)] = kept
            self._start, end = 0, len(kept)
        buf[end:end + n] = data  # same length: a copy, no resize
        self._end = end + n

    @property
    def buffered(self) -> int:
        return self._end - self._start

    def next_frame(self) -> tuple[int, int, bytes] | _NeedData:
        buf, pos = self._buf, self._start
        avail = self._end - pos
        if avail < self._hsize:
            if avail >= 4:  # reject a bad length as soon as it is readable
                self._check_length(LENGTH.unpack_from(buf, pos)[0])
            return NEED_DATA
        length, req_id, code = self._unpack(buf, pos)
        if length > self._max or length < self._min:
            self._check_length(length)
        end = pos + 4 + length
        if avail < 4 + length:
            return NEED_DATA
        if length < 1024:
            payload = bytes(buf[pos + self._hsize:end])
        else:
            with memoryview(buf) as view:  # one copy instead of two
                payload = bytes(view[pos + self._hsize:end])
        if end == self._end:  # all read: start over at the front
            self._start = self._end = 0
            if len(buf) > _DECODER_KEEP:
                self._buf = bytearray()
        else:
            self._start = end
        return req_id, code, payload

    def _check_length(self, length: int) -> None:
        if length > self._max or length < self._min:
            raise ProtocolError(f"frame length {length} outside [{self._min}, {self._max}]")
