"""`uipc daemon [--socket PATH] [--system] [--spin-us US] [--status | --stop]`."""
from __future__ import annotations

import argparse
import faulthandler
import logging
import os
import signal
import sys
from pathlib import Path

from uipc.paths import SOCKET_NAME, SYSTEM_DIR, default_socket
from uipc.server.daemon import SPIN_US, Daemon
from uipc.server.heap import keep_freed_memory, raise_nofile_limit

log = logging.getLogger("uipc.daemon")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="uipc daemon", description="Run the uipc daemon in the foreground.")
    p.add_argument("--socket", type=Path, help="socket path (default: $UIPC_SOCKET or per-user)")
    p.add_argument("--system", action="store_true", help=f"serve every user at {SYSTEM_DIR}/{SOCKET_NAME}")
    p.add_argument("--ready-fd", type=int, default=-1, help=argparse.SUPPRESS)
    p.add_argument("-v", "--verbose", action="store_true")
    p.add_argument("--spin-us", type=int, default=SPIN_US, metavar="US",
                   help=f"poll this long for the next request before sleeping, when the daemon may "
                        f"run on more than one CPU (default {SPIN_US}; 0: never spin)")
    p.add_argument("--status", action="store_true", help="say whether a daemon is running")
    p.add_argument("--stop", action="store_true", help="stop the running daemon")
    return p


def run(socket_path: Path, *, system: bool, ready_fd: int = -1, verbose: bool = False,
        spin_us: int = SPIN_US) -> int:
    """Serve at ``socket_path`` until SIGTERM/SIGINT/SIGHUP."""
    keep_freed_memory()
    raise_nofile_limit()
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, stream=sys.stderr,
                        format="uipc-daemon[%(process)d] %(levelname)s %(message)s")
    daemon = Daemon(socket_path, system=system, spin_us=spin_us)
    if not daemon.bind():
        log.info("another daemon already serves %s", socket_path)
        _notify(ready_fd, b"busy\n")
        return 0
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda *_: daemon.stop())
    # the C-level handler itself writes the signal to the loop's wake-up pipe:
    # epoll returns at once, and the Python handler above runs right after
    signal.set_wakeup_fd(daemon.wakeup_fd, warn_on_full_buffer=False)
    # `kill -USR1 <daemon>` prints where it is to stderr (a stuck daemon explains itself)
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    log.info("listening on %s", socket_path)
    _notify(ready_fd, b"ready\n")
    try:
        daemon.serve_forever()
    finally:
        daemon.close()
        log.info("stopped")
    return 0


def _notify(fd: int, msg: bytes) -> None:
    if fd >= 0:
        try:
            os.write(fd, msg)
            os.close(fd)
        except OSError:
            pass


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    path = args.socket or (SYSTEM_DIR / SOCKET_NAME if args.system else default_socket())
    if args.status or args.stop:
        from uipc.client.control import daemon_status, stop_daemon
        return stop_daemon(path) if args.stop else daemon_status(path)
    if args.system and os.geteuid() != 0:
        print("uipc daemon: --system needs root", file=sys.stderr)
        return 1
    return run(path, system=args.system, ready_fd=args.ready_fd, verbose=args.verbose,
               spin_us=args.spin_us)
