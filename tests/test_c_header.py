"""The generated C header agrees with the Python protocol, as a C compiler
sees it: op codes, the size and field offsets of every fixed layout, the
constants.  (The LD_PRELOAD shim will be built on it.)"""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from uipc import protocol as P
from uipc.protocol import gen
from uipc.uapi import layout as L

pytestmark = pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc")


def _cname(cls: type) -> str:
    return "".join("_" + ch.lower() if ch.isupper() else ch for ch in cls.__name__)[1:]


def test_the_header_compiles_and_agrees_with_python(tmp_path: Path) -> None:
    checks: list[tuple[str, int]] = [("UIPC_PROTO_VERSION", P.VERSION), ("UIPC_MAX_FRAME", P.MAX_FRAME),
                                     ("sizeof(struct uipc_req_header)", P.REQ_HEADER.size),
                                     ("sizeof(struct uipc_reply_header)", P.REPLY_HEADER.size),
                                     ("sizeof(struct uipc_hello_result)", P.HELLO_RESULT.size),
                                     ("sizeof(struct uipc_shmat_result)", P.SHMAT_RESULT.size)]
    for op in P.OPS:
        checks.append((f"UIPC_OP_{op.name.upper()}", op.code))
        if op.args:
            checks.append((f"sizeof(struct uipc_{op.name}_args)", op.struct.size))
            last = op.arg_names[-1]
            checks.append((f"offsetof(struct uipc_{op.name}_args, {last})",
                           op.struct.size - op.struct.__class__(op.args[-1]).size))
    for tag, cls in L.STRUCT_TAGS.items():
        checks.append((f"sizeof(struct uipc_{_cname(cls)})", L.STRUCTS[cls].size))
        checks.append((f"UIPC_TAG_{_cname(cls).upper()}", tag))
    checks += [("UIPC_IPC_CREAT", 0o1000), ("UIPC_IPC_NOWAIT", 0o4000), ("UIPC_IPC_RMID", 0)]
    src = tmp_path / "check.c"
    src.write_text(f'#include <stdio.h>\n#include <stddef.h>\n#include "{gen.HEADER_H}"\n'
                   "int main(void) {\n"
                   + "".join(f'    printf("%lld\\n", (long long)({expr}));\n' for expr, _ in checks)
                   + "    return 0;\n}\n")
    exe = tmp_path / "check"
    subprocess.run(["gcc", "-Wall", "-Werror", "-o", str(exe), str(src)], check=True)
    out = subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout.split()
    assert dict(zip((e for e, _ in checks), map(int, out))) == dict(checks)
