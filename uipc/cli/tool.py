"""What every util-linux program reports with (include/c.h and err(3)).

``Tool(prog)`` carries the program name into warnx/errx/err and
errtryhelp(); ``help_options`` is USAGE_HELP_OPTIONS and ``version_line``
the -V line (naming uipc, since this is not util-linux's binary).  Messages
go to stderr at once, as glibc's unbuffered stderr writes them.
"""
from __future__ import annotations

import sys
from typing import NoReturn

from uipc import __version__
from uipc.cli.libc import strerror


class Tool:
    """util-linux's error reporting for one program."""

    def __init__(self, prog: str) -> None:
        self.prog = prog

    def out(self, line: str) -> None:
        """printf("%s\\n") on stdout."""
        sys.stdout.write(line + "\n")

    def warnx(self, message: str) -> None:
        """warnx(3): 'prog: message' on stderr."""
        sys.stderr.write(f"{self.prog}: {message}\n")
        sys.stderr.flush()

    def errx(self, message: str, status: int = 1) -> NoReturn:
        """errx(3): warnx and exit."""
        self.warnx(message)
        raise SystemExit(status)

    def err(self, message: str, errno: int, status: int = 1) -> NoReturn:
        """err(3): 'prog: message: strerror(errno)' and exit."""
        self.errx(f"{message}: {strerror(errno)}", status)

    def errtryhelp(self) -> NoReturn:
        """errtryhelp(EXIT_FAILURE)."""
        sys.stderr.write(f"Try '{self.prog} --help' for more information.\n")
        sys.stderr.flush()
        raise SystemExit(1)

    def usage(self, text: str) -> NoReturn:
        """usage(): the --help text on stdout, exit 0."""
        sys.stdout.write(text)
        raise SystemExit(0)

    def print_version(self, compatible: str) -> NoReturn:
        """print_version(EXIT_SUCCESS): the -V line on stdout, exit 0."""
        self.out(version_line(self.prog, compatible))
        raise SystemExit(0)

    def bad_option(self, message: str) -> NoReturn:
        """getopt_long returned '?': glibc printed ``message`` (getopt.ERROR's
        argument), then the tool's ``default: errtryhelp(EXIT_FAILURE)``."""
        sys.stderr.write(f"{message}\n")
        self.errtryhelp()


def help_options(width: int) -> str:
    """USAGE_HELP_OPTIONS(width)."""
    return (f"{' -h, --help':<{width}}display this help\n"
            f"{' -V, --version':<{width}}display version\n")


def version_line(prog: str, compatible: str) -> str:
    """print_version(): 'prog from uipc X (util-linux ...)', without a newline."""
    return f"{prog} from uipc {__version__} ({compatible})"
