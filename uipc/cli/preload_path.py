"""`uipc preload-path`: print where libuipc-preload.so is installed.

For people who set LD_PRELOAD themselves:

    LD_PRELOAD=$(uipc preload-path) ./program

(a daemon must be running: `uipc daemon`, or use `uipc run --preload`).
"""
from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args and args[0] in ("-h", "--help"):
        print(__doc__.strip())
        return 0
    if args:
        print(f"uipc preload-path: unexpected argument {args[0]!r}", file=sys.stderr)
        return 2
    from uipc.preload import library_path
    try:
        path = library_path()
    except FileNotFoundError as exc:
        print(f"uipc preload-path: {exc}", file=sys.stderr)
        return 1
    print(path)
    return 0
