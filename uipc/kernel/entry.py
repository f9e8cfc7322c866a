"""The system call table: each syscall declared once, next to its code.

As ``arch/x86/entry/syscalls/syscall_64.tbl`` gives every syscall a number
and ``SYSCALL_DEFINEn`` its argument list beside the implementation, a core
function becomes a syscall by one decorator line above it::

    @syscall(1, "msgget", "key:i32 msgflg:i32", result="int")
    def sys_msgget(k, task, key, msgflg): ...

Everything else is derived from these declarations and nothing else: the
wire's op codes and layouts (``uipc.protocol.table``, generated), the
daemon's generic decode -> call -> encode dispatch, the client's request
packing, docs/protocol.md and the C header ``uipc_proto.h``
(``python -m uipc.protocol.gen`` writes the generated files; a test fails
when they disagree with this table).

The argument list is the implementation's, in its order after ``(k, task)``.
Each argument has a wire type.  Fixed types travel in the request's fixed
part, in order: ``i8 u8 i16 u16 i32 u32 i64 u64``, and ``timeout`` (an i64 of
nanoseconds, -1 for none, given to the implementation as seconds or None).
At most one argument is variable and travels in the frame's tail:
``bytes`` (msgsnd's mtext), ``text`` (UTF-8), ``sembufs`` (struct sembuf[]),
``msgs`` (a list of (mtype, mtext)), ``ids`` (i64[]), ``msqid_ds`` /
``shmid_ds`` (IPC_SET's struct, present only for IPC_SET), ``semun``
(semctl's fourth argument: an i64 ``val`` in the fixed part plus a tail of
u16 values for SETALL or a semid_ds for IPC_SET), ``user`` (raw user memory
the implementation parses itself, as copy_from_user: ipc(2)'s ``ptr``).

A result kind says how the value travels back: ``none``, ``int`` (i64),
``msg`` ((mtype, mtext)), ``ctl`` (an int, a list of ints or (int, struct)),
``text``, ``bytes`` (raw, read(2)'s), ``msgs``, ``shmat`` (an attachment whose memory object's
descriptor rides along: ``fds=1``), ``any`` (ipc(2): a tagged value of one of
the others), ``file`` (a new open file: the daemon makes its real
descriptor, a doorbell, sends it and installs the file under its inode:
``fds=1``), ``files`` (a tuple of new open files, each made, sent and
installed as ``file`` is, in order: pipe2's two ends, ``fds=2``), ``memory``
(a memory object whose descriptor rides along, as shm_open's: ``fds=1``).
This module has no I/O and imports nothing of the core: the table is data.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

#: fixed wire types: struct format characters
FIXED_TYPES = {"i8": "b", "u8": "B", "i16": "h", "u16": "H", "i32": "i", "u32": "I",
               "i64": "q", "u64": "Q", "timeout": "q"}
#: variable wire types (the tail); semun also has a fixed i64 part
TAIL_TYPES = frozenset({"bytes", "text", "sembufs", "msgs", "ids", "msqid_ds", "shmid_ds",
                        "semun", "user"})
RESULT_KINDS = frozenset({"none", "int", "msg", "ctl", "text", "bytes", "msgs", "shmat", "any",
                          "file", "files", "memory"})


@dataclass(frozen=True)
class Arg:
    name: str
    type: str

    @property
    def fixed(self) -> str:
        """Its struct format in the fixed part ('' if it travels in the tail)."""
        if self.type == "semun":
            return "q"
        return FIXED_TYPES.get(self.type, "")

    @property
    def tail(self) -> bool:
        return self.type in TAIL_TYPES


@dataclass(frozen=True)
class SyscallSpec:
    """One row of the table."""

    nr: int
    name: str
    args: tuple[Arg, ...]
    result: str
    #: descriptors the reply carries (SCM_RIGHTS)
    fds: int
    doc: str
    #: the implementation: (kernel, task, *args) -> value | BLOCKED
    fn: Callable[..., Any]
    #: (kernel, task, result) -> None: undo a result whose descriptors could
    #: not be delivered (do_shmat's error path after the attach)
    undo: Callable[..., Any] | None = None

    @property
    def fixed_format(self) -> str:
        return "".join(a.fixed for a in self.args)

    @property
    def tail_arg(self) -> Arg | None:
        return next((a for a in self.args if a.tail), None)


#: nr -> spec, filled by @syscall as the implementing modules are imported
TABLE: dict[int, SyscallSpec] = {}


def parse_args(spec: str) -> tuple[Arg, ...]:
    args = []
    for item in spec.split():
        name, _, type_ = item.partition(":")
        if type_ not in FIXED_TYPES and type_ not in TAIL_TYPES:
            raise ValueError(f"unknown wire type {type_!r} for {name!r}")
        args.append(Arg(name, type_))
    if sum(a.tail for a in args) > 1:
        raise ValueError(f"{spec!r}: at most one argument may travel in the tail")
    return tuple(args)


def syscall(nr: int, name: str, args: str = "", *, result: str = "int", fds: int = 0,
            doc: str = "", undo: Callable[..., Any] | None = None
            ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Declare the decorated core function as syscall ``nr``.

    ``doc`` (default: the function's first docstring line) goes into
    docs/protocol.md and the C header.
    """
    if result not in RESULT_KINDS:
        raise ValueError(f"unknown result kind {result!r}")
    parsed = parse_args(args)

    def register(fn: Callable[..., Any]) -> Callable[..., Any]:
        if nr in TABLE and TABLE[nr].fn is not fn:
            raise ValueError(f"syscall {nr} declared twice: {TABLE[nr].name} and {name}")
        text = doc or (fn.__doc__ or "").strip().splitlines()[0] if (doc or fn.__doc__) else ""
        TABLE[nr] = SyscallSpec(nr, name, parsed, result, fds, text, fn, undo)
        return fn
    return register
