"""`uipc COMMAND ...`: dispatch to one module per command."""
from __future__ import annotations

import importlib
import sys

#: command -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "daemon": ("uipc.cli.daemon", "run the daemon in the foreground (--status, --stop)"),
    "demo": ("uipc.cli.demo", "a short self-explaining run of SysV message queues"),
    "sysctl": ("uipc.cli.sysctl", "read or set IPC limits of a namespace"),
    "run": ("uipc.cli.run", "run a command in a fresh or named IPC namespace"),
    "preload-path": ("uipc.cli.preload_path", "print the path of libuipc-preload.so (for LD_PRELOAD)"),
    "bench": ("uipc.cli.bench", "benchmarks against the kernel, multiprocessing and the floors"),
    "ipcs": ("uipc.cli.ipcs", "show IPC facilities, as util-linux's ipcs"),
    "ipcrm": ("uipc.cli.ipcrm", "remove IPC objects, as util-linux's ipcrm"),
    "ipcmk": ("uipc.cli.ipcmk", "make IPC objects, as util-linux's ipcmk"),
    "lsipc": ("uipc.cli.lsipc", "list IPC facilities, as util-linux's lsipc"),
    "trace": ("uipc.cli.trace", "a live stream of IPC calls, strace-style"),
    "top": ("uipc.cli.top", "live view of a namespace's IPC objects and who waits on them"),
    "explain": ("uipc.cli.explain", "who holds an IPC object, who waits on it, and why"),
}


def usage() -> str:
    lines = ["usage: uipc [--version] COMMAND [ARGS...]", "", "commands:"]
    lines += [f"  {name:<10} {help_}" for name, (_, help_) in COMMANDS.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in ("-h", "--help"):
        print(usage())
        return 0 if args else 2
    if args[0] in ("-V", "--version"):
        from uipc import __version__
        print(f"uipc {__version__}")
        return 0
    name, rest = args[0], args[1:]
    if name not in COMMANDS:
        print(f"uipc: unknown command {name!r}\n\n{usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(COMMANDS[name][0])
    return int(module.main(rest) or 0)


if __name__ == "__main__":
    sys.exit(main())
