"""How the uapi structs travel as bytes: one layout, for the wire, the core's
view of user memory (ipc(2)'s ``ptr``) and the C header.

Every field is an i64, in declaration order, with ipc_perm's seven fields
inlined where it appears; a u64 where the kernel declares it unsigned long or
size_t.  Little-endian, no padding.
"""
from __future__ import annotations

import dataclasses
import struct
from typing import Any

from uipc.uapi.ipc import IpcPerm
from uipc.uapi.msg import MsgInfo, MsqidDs
from uipc.uapi.sem import SemidDs, SemInfo
from uipc.uapi.shm import ShmidDs, ShmInfo, ShmInfoStats

#: one tag per struct, for *ctl results
STRUCT_TAGS: dict[int, type] = {
    1: MsqidDs, 2: MsgInfo, 3: SemidDs, 4: SemInfo, 5: ShmidDs, 6: ShmInfo, 7: ShmInfoStats,
}
TAG_OF = {cls: tag for tag, cls in STRUCT_TAGS.items()}
PERM_FIELDS = tuple(f.name for f in dataclasses.fields(IpcPerm))

#: fields the kernel declares unsigned long / size_t: they travel as u64
UNSIGNED_FIELDS = frozenset({
    "msg_cbytes", "msg_qnum", "msg_qbytes", "shm_segsz", "shm_nattch",
    "shmmax", "shmmin", "shmmni", "shmseg", "shmall",
    "shm_tot", "shm_rss", "shm_swp", "swap_attempts", "swap_successes",
})
#: struct sembuf: sem_num, sem_op, sem_flg
SEMBUF = struct.Struct("<HhH")
#: unsigned short, as semun.array
SEMVAL = struct.Struct("<H")


class LayoutError(ValueError):
    """Bytes that are no such struct."""


def _layout(cls: type) -> tuple[tuple[str, bool], ...]:
    return tuple((f.name, f.type in ("IpcPerm", IpcPerm)) for f in dataclasses.fields(cls))


LAYOUTS = {cls: _layout(cls) for cls in STRUCT_TAGS.values()}
STRUCTS = {cls: struct.Struct("<" + "".join(
    "q" * 7 if perm else ("Q" if name in UNSIGNED_FIELDS else "q") for name, perm in lay))
    for cls, lay in LAYOUTS.items()}


def pack_struct(obj: Any) -> bytes:
    """Flatten a uapi dataclass (ipc_perm inlined) into i64s."""
    cls = type(obj)
    values: list[int] = []
    for name, is_perm in LAYOUTS[cls]:
        value = getattr(obj, name)
        if is_perm:
            values.extend(getattr(value, f) for f in PERM_FIELDS)
        else:
            values.append(value)
    return STRUCTS[cls].pack(*values)


def unpack_struct(cls: type, data: bytes | memoryview) -> Any:
    """The inverse of :func:`pack_struct`; LayoutError if the size is wrong."""
    st = STRUCTS[cls]
    if len(data) != st.size:
        raise LayoutError(f"{cls.__name__} needs {st.size} bytes, got {len(data)}")
    values = iter(st.unpack(data))
    kwargs: dict[str, Any] = {}
    for name, is_perm in LAYOUTS[cls]:
        if is_perm:
            kwargs[name] = IpcPerm(**{f: next(values) for f in PERM_FIELDS})
        else:
            kwargs[name] = next(values)
    return cls(**kwargs)


def unpack_sembufs(data: bytes | memoryview) -> list[tuple[int, int, int]]:
    if len(data) % SEMBUF.size:
        raise LayoutError(f"sembuf array of {len(data)} bytes is not a multiple of {SEMBUF.size}")
    return list(SEMBUF.iter_unpack(data))


def unpack_semvals(data: bytes | memoryview) -> list[int]:
    if len(data) % SEMVAL.size:
        raise LayoutError("semaphore value array has an odd length")
    return [v for (v,) in SEMVAL.iter_unpack(data)]
