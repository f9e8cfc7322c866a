"""Generate the views of the core's syscall table: one table, many views.

``python -m uipc.protocol.gen`` writes, from ``uipc.kernel.entry.TABLE``
(filled by the ``@syscall`` lines next to each implementation):

- ``uipc/protocol/table.py``: the rows the protocol (and so the client)
  builds its ops from, so that the client never imports the core;
- ``docs/protocol.md``: the wire, for people;
- ``uipc/include/uipc_proto.h``: op codes, request and result layouts,
  struct layouts and constants, for C clients (the LD_PRELOAD shim).

``--check`` writes nothing and fails if a file differs from what the table
says (tests/test_protocol.py runs it).  This module is a build step: only it
and the daemon import both the core and the protocol.
"""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TABLE_PY = ROOT / "uipc" / "protocol" / "table.py"
DOCS_MD = ROOT / "docs" / "protocol.md"
HEADER_H = ROOT / "uipc" / "include" / "uipc_proto.h"


def table_rows() -> list[tuple[int, str, tuple[tuple[str, str], ...], str, int, str]]:
    from uipc.kernel import syscalls  # noqa: F401 - fills the table
    from uipc.kernel.entry import TABLE
    return [(s.nr, s.name, tuple((a.name, a.type) for a in s.args), s.result, s.fds, s.doc)
            for s in sorted(TABLE.values(), key=lambda s: s.nr)]


def render_table() -> str:
    lines = ['"""The syscall rows of the wire protocol.',
             "",
             "Generated from the core's syscall table (the @syscall lines in uipc/kernel) by",
             "`python -m uipc.protocol.gen`; do not edit.",
             '"""',
             "",
             "#: (op code, name, ((argument, wire type), ...), result kind, descriptors, doc)",
             "SYSCALL_ROWS = ("]
    for nr, name, params, result, fds, doc in table_rows():
        lines.append(f"    ({nr}, {name!r}, {params!r}, {result!r}, {fds}, {doc!r}),")
    lines.append(")")
    return "\n".join(lines) + "\n"


def render_docs() -> str:
    """docs/protocol.md, generated from the ops."""
    from uipc import protocol as P
    lines = [
        "# uipc wire protocol", "",
        "Generated from the core's syscall table (the `@syscall` lines in `uipc/kernel`) by "
        "`python -m uipc.protocol.gen`; do not edit.", "",
        f"Version {P.VERSION}. Little-endian. Unix stream socket. Frames:", "",
        "```",
        "request:  u32 length | u32 req_id | u16 op     | fixed args | tail",
        "reply:    u32 length | u32 req_id | i32 status | fixed result | tail",
        "```", "",
        "`length` counts the bytes after itself and is at most "
        f"{P.MAX_FRAME}. `status` is 0 or Linux's errno; on error the tail is a UTF-8 "
        "explanation. The first request on a connection must be `hello`.", "",
        "A connection is one thread: its requests run one after another, in order, and "
        "their replies come in that order. A client may send several requests at once "
        "(a batch); a request that blocks holds back the ones behind it until it "
        "completes. `interrupt` is the exception: it is acted on as soon as it is read, "
        "even behind a blocked request (it interrupts the blocked one with EINTR and "
        "answers the held-back ones of the batch with EINTR).", "",
        f"Flags in the op field (as io_uring's): `{P.OP_LINK:#06x}` LINK — if this request "
        "fails, the following requests of its chain (up to and including the first "
        "without LINK) are answered with ECANCELED and not run; "
        f"`{P.OP_SKIP_SUCCESS:#06x}` SKIP_SUCCESS — no reply when it succeeds. The op code "
        f"is the field `& {P.OP_CODE_MASK:#06x}`.", "",
        f"Pushed events: a frame from the daemon with `req_id` {P.EVENT_REQ_ID} answers no "
        "request. With status 0 it is an event: its tail is a u16 event code and the "
        "event's payload; a client dispatches it to its handler and goes on waiting for "
        "the reply it waits for. With a nonzero status it is an error about the connection "
        "itself (EPROTO, EMFILE...), after which the daemon closes it. Event codes: "
        + ", ".join(f"{c} `{n}`" for c, n in P.EVENTS.items()) + ".", "",
        "Struct results of the `*ctl` calls: `u8 tag | i64 ret | fields`, every field an "
        "i64 (u64 where the kernel's is unsigned long or size_t: "
        + ", ".join(sorted(P.UNSIGNED_FIELDS)) + "), `ipc_perm` inlined as key, uid, gid, "
        "cuid, cgid, mode, seq. Tags: "
        + ", ".join(f"{t} = {c.__name__}" for t, c in P.STRUCT_TAGS.items())
        + f", {P.TAG_INT} = plain int, {P.TAG_INTLIST} = i64 list (count in ret).", "",
        "Argument wire types: fixed `i8 u8 i16 u16 i32 u32 i64 u64`, `timeout` (i64 ns, -1 "
        "none), `semun` (i64 val, and a tail of u16 values for SETALL or a semid_ds for "
        "IPC_SET); in the tail `bytes`, `text` (UTF-8), `sembufs`, `msgs`, `ids` (i64[]), "
        "`msqid_ds`/`shmid_ds` (IPC_SET only), `user` (user memory, see the op).", "",
        "| code | op | fixed args (struct format) | tail | result | notes |",
        "|---:|---|---|---|---|---|",
    ]
    for op in P.OPS:
        args = ", ".join(f"{n}:{c}" for n, c in zip(op.arg_names, op.args))
        fds = f" + {op.fds} fd" if op.fds else ""
        lines.append(f"| {op.code} | `{op.name}` | `{args}` | {op.tail or '-'} | "
                     f"{op.result}{fds} | {op.doc} |")
    return "\n".join(lines) + "\n"


_C_TYPES = {"b": "int8_t", "B": "uint8_t", "h": "int16_t", "H": "uint16_t", "i": "int32_t",
            "I": "uint32_t", "q": "int64_t", "Q": "uint64_t"}


def render_header() -> str:
    """uipc_proto.h: what a C client needs to speak the protocol."""
    from uipc import protocol as P
    from uipc.uapi import ipc, msg, sem, shm
    from uipc.uapi import layout as L
    out = ["/* uipc wire protocol, for C clients.",
           " * Generated from the core's syscall table by `python -m uipc.protocol.gen`;",
           " * do not edit. Little-endian, packed: every struct below is laid out",
           " * exactly as on the wire. */",
           "#ifndef UIPC_PROTO_H", "#define UIPC_PROTO_H", "", "#include <stdint.h>", "",
           f"#define UIPC_PROTO_VERSION {P.VERSION}",
           f"#define UIPC_MAX_FRAME {P.MAX_FRAME}u",
           f"#define UIPC_OP_LINK {P.OP_LINK:#06x}",
           f"#define UIPC_OP_SKIP_SUCCESS {P.OP_SKIP_SUCCESS:#06x}",
           f"#define UIPC_OP_CODE_MASK {P.OP_CODE_MASK:#06x}",
           f"#define UIPC_EVENT_REQ_ID {P.EVENT_REQ_ID}u",
           f"#define UIPC_HELLO_CREATE_NS {P.HELLO_CREATE_NS}", "",
           "/* op codes */"]
    for op in P.OPS:
        out.append(f"#define UIPC_OP_{op.name.upper()} {op.code}")
    out += ["", "struct uipc_req_header { uint32_t length; uint32_t req_id; uint16_t op; } "
            "__attribute__((packed));",
            "struct uipc_reply_header { uint32_t length; uint32_t req_id; int32_t status; } "
            "__attribute__((packed));", "", "/* fixed arguments of each op, after the header */"]
    for op in P.OPS:
        if not op.args:
            continue
        fields = " ".join(f"{_C_TYPES[c]} {n};" for n, c in zip(op.arg_names, op.args))
        out.append(f"struct uipc_{op.name}_args {{ {fields} }} __attribute__((packed));")
    out += ["", "/* fixed results */"]
    for name, st, names in (("hello", P.HELLO_RESULT, "version pid tid boot_id max_frame"),
                            ("shmat", P.SHMAT_RESULT,
                             "attach_id segsz map_size addr readonly remap"),
                            ("int", P.INT_RESULT, "value"), ("ctl_header", P.CTL_HEADER,
                                                             "tag ret")):
        fields = " ".join(f"{_C_TYPES[c]} {n};" for n, c in zip(names.split(), st.format[1:]))
        out.append(f"struct uipc_{name}_result {{ {fields} }} __attribute__((packed));")
    out += ["", "/* structs of the *ctl calls (ipc_perm inlined), tags of ctl results */"]
    for tag, cls in L.STRUCT_TAGS.items():
        fmt = L.STRUCTS[cls].format[1:]
        names: list[str] = []
        for field, is_perm in L.LAYOUTS[cls]:
            names += [f"{field}_{f}" for f in L.PERM_FIELDS] if is_perm else [field]
        fields = " ".join(f"{_C_TYPES[c]} {n};" for n, c in zip(names, fmt))
        cname = "".join("_" + ch.lower() if ch.isupper() else ch for ch in cls.__name__)[1:]
        out.append(f"struct uipc_{cname} {{ {fields} }} __attribute__((packed));")
        out.append(f"#define UIPC_TAG_{cname.upper()} {tag}")
    out.append(f"#define UIPC_TAG_INT {P.TAG_INT}")
    out.append(f"#define UIPC_TAG_INTLIST {P.TAG_INTLIST}")
    out += ["", "/* Linux's constants, as uipc.uapi has them */"]
    for mod in (ipc, msg, sem, shm):
        for name in sorted(getattr(mod, "__all__", ())):
            value = getattr(mod, name)
            if isinstance(value, int) and not isinstance(value, bool) and name.isupper():
                out.append(f"#define UIPC_{name} {value}")
    out += ["", "#endif /* UIPC_PROTO_H */"]
    return "\n".join(out) + "\n"


def outputs() -> dict[Path, str]:
    # the table first: the protocol (and so the docs and header) are built from it
    return {TABLE_PY: render_table(), DOCS_MD: render_docs(), HEADER_H: render_header()}


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    check = "--check" in args
    table = render_table()
    if not check:
        TABLE_PY.write_text(table)
    stale = [TABLE_PY] if check and TABLE_PY.read_text() != table else []
    for path, text in outputs().items():
        if path == TABLE_PY:
            continue
        if check:
            if not path.exists() or path.read_text() != text:
                stale.append(path)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    for path in stale:
        print(f"{path.relative_to(ROOT)} is stale: run python -m uipc.protocol.gen", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
