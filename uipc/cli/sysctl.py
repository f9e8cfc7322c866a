"""`uipc sysctl [-a] [KEY[=VALUE]...]`: IPC limits of this namespace."""
from __future__ import annotations

import argparse
import sys

from uipc.client import sysctl as api


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="uipc sysctl", description=__doc__)
    p.add_argument("-a", "--all", action="store_true", help="show every IPC sysctl")
    p.add_argument("-n", "--values", action="store_true", help="print values only")
    p.add_argument("--namespace", metavar="NAME", help="the namespace (default: this process's)")
    p.add_argument("settings", nargs="*", metavar="KEY[=VALUE]")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.namespace is not None:
        from uipc.client.connection import configure
        configure(namespace=args.namespace, create_namespace=False)
    rc = 0
    if args.all or not args.settings:
        try:
            values = api.get_all()
        except OSError as exc:
            print(f"uipc sysctl: {exc.strerror}", file=sys.stderr)
            return 1
        for key, value in values.items():
            print(value if args.values else f"{key} = {value}")
    for item in args.settings:
        key, eq, value = item.partition("=")
        try:
            if eq:
                api.set(key.strip(), value.strip())
            out = api.get(key.strip())
        except OSError as exc:
            print(f"uipc sysctl: {item}: {exc.strerror}", file=sys.stderr)
            rc = 1
            continue
        print(out if args.values else f"{key.strip()} = {out}")
    return rc
