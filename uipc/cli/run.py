"""`uipc run [--new-namespace [--name NAME] | --namespace NAME] [--compat] [--preload] -- CMD ARGS...`

Runs CMD (and everything it forks or executes) in a uipc IPC namespace:
a fresh one, freed with everything in it when its last process exits, as
Linux frees an IPC namespace; or an existing one, joined by name.  With
--compat, Python programs among them that `import sysv_ipc` or
`import posix_ipc` get uipc's drop-in modules (uipc.compat), even where the
real packages are installed.  With --preload, programs among them that call
libc's SysV and POSIX IPC functions (msgget, semop, shmat, mq_open,
sem_open, shm_open...) get uipc's through libuipc-preload.so (LD_PRELOAD),
unmodified.
"""
from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys

import uipc
from uipc.client import connection


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="uipc run", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    g = p.add_mutually_exclusive_group()
    g.add_argument("--new-namespace", action="store_true", help="run CMD in a fresh IPC namespace")
    g.add_argument("--namespace", metavar="NAME", help="run CMD in the existing namespace NAME")
    p.add_argument("--name", help="name for the new namespace (default: one is chosen)")
    p.add_argument("--compat", action="store_true",
                   help="`import sysv_ipc` / `import posix_ipc` give uipc's drop-in modules")
    p.add_argument("--preload", action="store_true",
                   help="C programs' IPC calls go to uipc (LD_PRELOAD=libuipc-preload.so)")
    p.add_argument("cmd", nargs=argparse.REMAINDER, metavar="-- CMD ARGS...")
    return p


def main(argv: list[str] | None = None) -> int:
    p = build_parser()
    args = p.parse_args(argv)
    cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
    if not cmd:
        p.error("no command given")
    if args.name and not args.new_namespace:
        p.error("--name goes with --new-namespace")
    env = dict(os.environ)
    if args.preload:
        from uipc.preload import library_path
        try:
            lib = library_path()
        except FileNotFoundError as exc:
            print(f"uipc run: {exc}", file=sys.stderr)
            return 1
        # the library finds the daemon where this process does: the same socket
        env["UIPC_SOCKET"] = str(connection.current_socket())
        env["LD_PRELOAD"] = " ".join(filter(None, [str(lib), env.get("LD_PRELOAD", "")]))
    try:
        if args.new_namespace:
            # we join the new namespace first and stay in it until CMD exits,
            # so it cannot be freed before CMD's first call
            name = uipc.unshare_namespace(args.name or "")
            env["UIPC_NAMESPACE"] = name
            print(f"uipc run: namespace {name}", file=sys.stderr) if os.environ.get("UIPC_VERBOSE") else None
        elif args.namespace is not None:
            connection.configure(namespace=args.namespace, create_namespace=False)
            connection.get_connection()  # fails now, clearly, if it does not exist
            env["UIPC_NAMESPACE"] = args.namespace
        elif args.preload:
            connection.get_connection()  # a daemon runs (started if need be) before CMD's first call
    except OSError as exc:
        print(f"uipc run: {exc.strerror}", file=sys.stderr)
        return 1
    env.pop("UIPC_NAMESPACE_CREATE", None)
    if args.compat:
        from uipc.compat import environ_with_compat
        env = environ_with_compat(env)
    try:
        child = subprocess.Popen(cmd, env=env)
    except OSError as exc:
        print(f"uipc run: {cmd[0]}: {exc.strerror}", file=sys.stderr)
        return 127
    # let CMD handle terminal signals itself; we just wait for it
    for sig in (signal.SIGINT, signal.SIGQUIT):
        signal.signal(sig, signal.SIG_IGN)
    rc = child.wait()
    return 128 - rc if rc < 0 else rc
