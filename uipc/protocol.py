"""The wire format between clients and the daemon: one table, sans-I/O.

Frames are little-endian and length-prefixed, so a C program (a future
LD_PRELOAD shim) can speak them:

    request:  u32 length | u32 req_id | u16 op   | fixed args | tail
    reply:    u32 length | u32 req_id | i32 status | fixed result | tail

``length`` counts the bytes after itself.  ``status`` is 0 on success, else
Linux's errno and the tail is a UTF-8 sentence saying which rule fired.  Each
operation's fixed part is one precompiled ``struct.Struct``; the tail carries
the variable part (message text, sembuf array, a packed struct).  ``OPS`` is
the one table of operations: the daemon dispatches on it, the client builds
requests from it and docs/protocol.md is generated from it
(``python -m uipc.protocol``).

The codec does no I/O: ``encode_*`` return bytes, :class:`FrameDecoder` is fed
bytes and yields whole frames or :data:`NEED_DATA`.
"""
from __future__ import annotations

import dataclasses
import struct
from dataclasses import dataclass
from typing import Any, Iterable

from uipc.uapi.ipc import IpcPerm
from uipc.uapi.msg import MsgInfo, MsqidDs
from uipc.uapi.sem import SemidDs, SemInfo
from uipc.uapi.shm import ShmidDs, ShmInfo, ShmInfoStats

VERSION = 2
#: the largest frame either side accepts (length field value)
MAX_FRAME = 16 * 1024 * 1024 + 64

LENGTH = struct.Struct("<I")
REQ_HEADER = struct.Struct("<IIH")     # length, req_id, op
REPLY_HEADER = struct.Struct("<IIi")   # length, req_id, status
INT_RESULT = struct.Struct("<q")
CTL_HEADER = struct.Struct("<Bq")      # struct tag, return value
SEMBUF = struct.Struct("<HhH")         # struct sembuf: sem_num, sem_op, sem_flg
SEMVAL = struct.Struct("<H")           # unsigned short, as semun.array


class ProtocolError(Exception):
    """A frame that cannot be decoded; the connection cannot continue."""


class _NeedData:
    def __repr__(self) -> str:
        return "NEED_DATA"


NEED_DATA = _NeedData()


# --- structs on the wire ----------------------------------------------------
# Every struct field travels as an i64, in declaration order, with ipc_perm's
# seven fields inlined where it appears.  One tag per struct for *ctl results.
STRUCT_TAGS: dict[int, type] = {
    1: MsqidDs, 2: MsgInfo, 3: SemidDs, 4: SemInfo, 5: ShmidDs, 6: ShmInfo, 7: ShmInfoStats,
}
TAG_INT = 0
TAG_INTLIST = 8
_TAG_OF = {cls: tag for tag, cls in STRUCT_TAGS.items()}
_PERM_FIELDS = tuple(f.name for f in dataclasses.fields(IpcPerm))


def _layout(cls: type) -> tuple[tuple[str, bool], ...]:
    return tuple((f.name, f.type in ("IpcPerm", IpcPerm)) for f in dataclasses.fields(cls))


#: fields the kernel declares unsigned long / size_t: they travel as u64
UNSIGNED_FIELDS = frozenset({
    "msg_cbytes", "msg_qnum", "msg_qbytes", "shm_segsz", "shm_nattch",
    "shmmax", "shmmin", "shmmni", "shmseg", "shmall",
    "shm_tot", "shm_rss", "shm_swp", "swap_attempts", "swap_successes",
})
_LAYOUTS = {cls: _layout(cls) for cls in STRUCT_TAGS.values()}
_STRUCTS = {cls: struct.Struct("<" + "".join(
    "q" * 7 if perm else ("Q" if name in UNSIGNED_FIELDS else "q") for name, perm in lay))
    for cls, lay in _LAYOUTS.items()}


def pack_struct(obj: Any) -> bytes:
    """Flatten a uapi dataclass (ipc_perm inlined) into i64s."""
    cls = type(obj)
    values: list[int] = []
    for name, is_perm in _LAYOUTS[cls]:
        value = getattr(obj, name)
        if is_perm:
            values.extend(getattr(value, f) for f in _PERM_FIELDS)
        else:
            values.append(value)
    return _STRUCTS[cls].pack(*values)


def unpack_struct(cls: type, data: bytes | memoryview) -> Any:
    """The inverse of :func:`pack_struct`; ProtocolError if the size is wrong."""
    st = _STRUCTS[cls]
    if len(data) != st.size:
        raise ProtocolError(f"{cls.__name__} needs {st.size} bytes, got {len(data)}")
    values = iter(st.unpack(data))
    kwargs: dict[str, Any] = {}
    for name, is_perm in _LAYOUTS[cls]:
        if is_perm:
            kwargs[name] = IpcPerm(**{f: next(values) for f in _PERM_FIELDS})
        else:
            kwargs[name] = next(values)
    return cls(**kwargs)


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
    #: what the tail holds: "" (nothing), "bytes", "sembufs", "struct", "semvals", "text", "msgs"
    tail: str
    #: result kind: "none", "int", "msg", "ctl", "hello", "shmat", "text", "msgs"
    result: str
    doc: str

    @property
    def struct(self) -> struct.Struct:
        return _ARG_STRUCTS[self.code]


OPS: tuple[Op, ...] = (
    Op(0, "hello", "IiI", ("version", "flags", "reserved"), "text", "hello",
       "First frame of a connection. Tail: the IPC namespace the caller expects (UTF-8; empty: "
       "wherever the process is, which for a new process is its nearest known ancestor's "
       "namespace, else the initial one). Naming another namespace joins it (setns: its "
       "creator or CAP_SYS_ADMIN only). flags bit 0: create the named namespace if missing. "
       "Result: version u32, the pid the daemon sees (SO_PEERCRED) i64, the task id i64, the "
       "daemon's boot id u64 (new at every daemon start), the largest frame it accepts u32."),
    Op(1, "msgget", "ii", ("key", "msgflg"), "", "int", "msgget(2)."),
    Op(2, "msgsnd", "iqi", ("msqid", "mtype", "msgflg"), "bytes", "none",
       "msgsnd(2). Tail: mtext."),
    Op(3, "msgrcv", "iqqi", ("msqid", "msgsz", "msgtyp", "msgflg"), "", "msg",
       "msgrcv(2). Result: mtype i64, tail mtext."),
    Op(4, "msgctl", "ii", ("msqid", "cmd"), "struct", "ctl",
       "msgctl(2). Tail: a packed msqid_ds for IPC_SET, else empty."),
    Op(5, "semget", "iii", ("key", "nsems", "semflg"), "", "int", "semget(2)."),
    Op(6, "semtimedop", "iq", ("semid", "timeout_ns"), "sembufs", "none",
       "semtimedop(2); timeout_ns -1 means none (semop). Tail: struct sembuf[] as u16 sem_num, "
       "i16 sem_op, i16 sem_flg."),
    Op(7, "semctl", "iiiq", ("semid", "semnum", "cmd", "val"), "semarg", "ctl",
       "semctl(2). val: SETVAL's value. Tail: u16[] for SETALL, a packed semid_ds for IPC_SET."),
    Op(8, "shmget", "iQi", ("key", "size", "shmflg"), "", "int", "shmget(2)."),
    Op(9, "shmat", "iQi", ("shmid", "shmaddr", "shmflg"), "", "shmat",
       "shmat(2). Result: attach_id i64, segsz u64, map_size u64, addr u64, readonly i32, "
       "remap i32; the segment's memfd arrives with the reply as SCM_RIGHTS (O_RDONLY for "
       "SHM_RDONLY; sealed against resizing)."),
    Op(10, "shmdt", "qi", ("attach_id", "abort"), "", "none",
       "shmdt(2), by the attach id shmat returned. abort=1: the client could not map it "
       "(the count is reverted without touching times or pids)."),
    Op(11, "shmctl", "ii", ("shmid", "cmd"), "struct", "ctl",
       "shmctl(2). Tail: a packed shmid_ds for IPC_SET."),
    Op(12, "interrupt", "I", ("target_req_id",), "", "none",
       "A signal interrupted the caller's blocked request: it completes with EINTR (or with "
       "its result if it completed first). This frame gets no reply of its own."),
    Op(13, "sysctl", "B", ("write",), "text", "text",
       "Read (write=0) or set (write=1) a sysctl of the caller's namespace. Tail: 'name' or "
       "'name=value'. Result tail: the value."),
    Op(14, "introspect", "BBqI", ("what", "section", "cursor", "count"), "text", "text",
       "One page of the daemon's state, as JSON. what=0: the caller's namespace, section 0 "
       "processes (cursor: the first pid), 1 msg, 2 sem, 3 shm (cursor: the first id index, "
       "id % 32768); no tail. what=1: the namespaces the caller may join or lives in, from "
       "the name in the tail on (cursor 0). count: the most entries wanted, 0 for the "
       "daemon's page size (at most 256 entries, fewer when they carry many values). "
       "Result tail: {\"entries\": [...], \"next\": the cursor (or name) the next page "
       "starts at, null after the last}. Objects the caller cannot read show only what "
       "/proc/sysvipc shows; see uipc/server/introspect.py."),
    Op(15, "unshare", "I", ("flags",), "text", "text",
       "unshare(CLONE_NEWIPC): move the calling process into a fresh namespace. Tail: its "
       "name (empty: the daemon picks one). Result tail: the name."),
    Op(16, "fork", "q", ("parent_pid",), "ids", "none",
       "Sent by a fork child first: it inherited the parent's shm attachments listed in the "
       "tail (i64 attach ids). The daemon checks /proc that parent_pid is the caller's parent "
       "and that the ids are the parent's, then counts the child's copies (nattch)."),
    Op(17, "msgrcv_many", "iqqiI", ("msqid", "msgsz", "msgtyp", "msgflg", "count"), "", "msgs",
       "Up to `count` (1..1024) msgrcv(2) in one request, as recvmmsg(2) with MSG_WAITFORONE: "
       "the first as msgrcv would (it may block), then more with IPC_NOWAIT until `count` "
       "or until one fails (the first's failure is the reply's). Result: u32 n, then n x "
       "(mtype i64, u32 length, mtext)."),
    Op(18, "msgsnd_many", "ii", ("msqid", "msgflg"), "msgs", "int",
       "1..1024 msgsnd(2) in one request, as sendmmsg(2): in order, each as msgsnd would "
       "(each may block), stopping at the first failure. Result: how many were sent; if the "
       "first fails, its failure is the reply's. Tail: u32 n, then n x (mtype i64, u32 "
       "length, mtext)."),
)

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
#: messages one msgrcv_many / msgsnd_many may carry (UIO_MAXIOV, sendmmsg's cap)
MAX_MSGS = 1024


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
        # big frame many times, each time into freshly faulted pages
        self._buf = bytearray(_DECODER_SMALL)
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
                buf = self._buf = bytearray(max(len(kept) + n, 2 * len(buf)))
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
                self._buf = bytearray(_DECODER_SMALL)
        else:
            self._start = end
        return req_id, code, payload

    def _check_length(self, length: int) -> None:
        if length > self._max or length < self._min:
            raise ProtocolError(f"frame length {length} outside [{self._min}, {self._max}]")


def render_docs() -> str:
    """docs/protocol.md, generated from OPS."""
    lines = [
        "# uipc wire protocol", "",
        "Generated from `uipc/protocol.py` by `python -m uipc.protocol`; do not edit.", "",
        f"Version {VERSION}. Little-endian. Unix stream socket. Frames:", "",
        "```",
        "request:  u32 length | u32 req_id | u16 op     | fixed args | tail",
        "reply:    u32 length | u32 req_id | i32 status | fixed result | tail",
        "```", "",
        "`length` counts the bytes after itself and is at most "
        f"{MAX_FRAME}. `status` is 0 or Linux's errno; on error the tail is a UTF-8 "
        "explanation. The first request on a connection must be `hello`.", "",
        "A connection is one thread: its requests run one after another, in order, and "
        "their replies come in that order. A client may send several requests at once "
        "(a batch); a request that blocks holds back the ones behind it until it "
        "completes. `interrupt` is the exception: it is acted on as soon as it is read, "
        "even behind a blocked request (it interrupts the blocked one with EINTR and "
        "answers the held-back ones of the batch with EINTR).", "",
        f"Flags in the op field (as io_uring's): `{OP_LINK:#06x}` LINK — if this request "
        "fails, the following requests of its chain (up to and including the first "
        "without LINK) are answered with ECANCELED and not run; "
        f"`{OP_SKIP_SUCCESS:#06x}` SKIP_SUCCESS — no reply when it succeeds. The op code "
        f"is the field `& {OP_CODE_MASK:#06x}`.", "",
        "Struct results of the `*ctl` calls: `u8 tag | i64 ret | fields`, every field an "
        "i64 (u64 where the kernel's is unsigned long or size_t: "
        + ", ".join(sorted(UNSIGNED_FIELDS)) + "), `ipc_perm` inlined as key, uid, gid, cuid, cgid, mode, seq. Tags: "
        + ", ".join(f"{t} = {c.__name__}" for t, c in STRUCT_TAGS.items())
        + f", {TAG_INT} = plain int, {TAG_INTLIST} = i64 list (count in ret).", "",
        "| code | op | fixed args (struct format) | tail | result | notes |",
        "|---:|---|---|---|---|---|",
    ]
    for op in OPS:
        args = ", ".join(f"{n}:{c}" for n, c in zip(op.arg_names, op.args))
        lines.append(f"| {op.code} | `{op.name}` | `{args}` | {op.tail or '-'} | {op.result} "
                     f"| {op.doc} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(render_docs(), end="")
