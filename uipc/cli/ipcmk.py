"""`uipc ipcmk`: util-linux's ipcmk(1) (sys-utils/ipcmk.c) on uipc's objects.

System V objects as util-linux 2.38: ``-Q``, ``-S N``, ``-M SIZE`` (with
lib/strutils.c's size suffixes), ``-p MODE`` (octal), each made with a
random key and printed as "Message queue id: N".  2.41's POSIX objects:
``-q`` (a message queue), ``-s`` (a semaphore, value 0), ``-m SIZE`` (a
shared memory object), all named by ``-n NAME`` and printed as "POSIX
message queue name: NAME".  uipc's own option: ``--namespace NAME``.
"""
from __future__ import annotations

import errno as E
import os
import sys

from uipc.cli.common import attach
from uipc.cli.ipcrm import (
    C_SPACE, ERROR, NO_ARGUMENT, REQUIRED_ARGUMENT, UINTMAX_MAX, LongOption, Tool, c_int32,
    c_strtol, getopt_long, help_options, version_line,
)

PROG = "ipcmk"
_OPT_NS = "namespace"

LONGOPTS = (
    LongOption("shmem", REQUIRED_ARGUMENT, "M"),
    LongOption("posix-shmem", REQUIRED_ARGUMENT, "m"),
    LongOption("semaphore", REQUIRED_ARGUMENT, "S"),
    LongOption("posix-semaphore", NO_ARGUMENT, "s"),
    LongOption("queue", NO_ARGUMENT, "Q"),
    LongOption("posix-mqueue", NO_ARGUMENT, "q"),
    LongOption("mode", REQUIRED_ARGUMENT, "p"),
    LongOption("name", REQUIRED_ARGUMENT, "n"),
    LongOption("version", NO_ARGUMENT, "V"),
    LongOption("help", NO_ARGUMENT, "h"),
    LongOption("namespace", REQUIRED_ARGUMENT, _OPT_NS),
)
SHORTOPTS = "hM:m:QqS:sp:n:Vh"

USAGE = """
Usage:
 ipcmk [options]

Create various IPC resources.

Options:
 -M, --shmem <size>       create shared memory segment of size <size>
 -m, --posix-shmem <size> create POSIX shared memory segment of size <size>
 -S, --semaphore <number> create semaphore array with <number> elements
 -s, --posix-semaphore    create POSIX semaphore
 -Q, --queue              create message queue
 -q, --posix-mqueue       create POSIX message queue
 -p, --mode <mode>        permission for the resource (default is 0644)
 -n, --name <name>        name of the POSIX resource
     --namespace <name>   make them in this uipc IPC namespace (uipc's own option)

""" + help_options(26) + """
Arguments:
 <size> arguments may be followed by the suffixes for
   GiB, TiB, PiB, EiB, ZiB, and YiB (the "iB" is optional)

 -n, --name <name> option is required for POSIX IPC

For more details see ipcmk(1).
"""

_SUFFIXES, _SUFFIXES_LOWER = "KMGTPEZY", "kmgtpezy"


# --- lib/strutils.c parse_size ---------------------------------------------------------------
def _scale(x: int, base: int, power: int) -> tuple[int, int]:
    """do_scale_by_power(): x * base**power, or -ERANGE with x as far as it got."""
    for _ in range(power):
        if UINTMAX_MAX // base < x:
            return x, -E.ERANGE
        x *= base
    return x, 0


def _add_fraction(x: int, frac: int, frac_zeros: int, base: int, power: int) -> int:
    """parse_size()'s decimal part: 0.25G adds what each digit of "25" is
    of a GiB, last digit first, in integer arithmetic as the C does."""
    frac_base, _ = _scale(1, base, power)
    frac_div, frac_poz = 10, 1
    while frac_div < frac:
        if frac_div <= UINTMAX_MAX // 10:
            frac_div *= 10
        else:
            frac //= 10
    for _ in range(frac_zeros):
        if frac_div <= UINTMAX_MAX // 10:
            frac_div *= 10
        else:
            frac //= 10
    while True:
        seg = frac % 10
        seg_div = frac_div // frac_poz
        frac //= 10
        frac_poz = (frac_poz * 10) & UINTMAX_MAX
        if seg and seg_div // seg:
            x = (x + frac_base // (seg_div // seg)) & UINTMAX_MAX
        if not frac:
            return x


def _decimal_point() -> str:
    """localeconv()->decimal_point after util-linux's setlocale(LC_ALL, "")."""
    import locale
    try:
        locale.setlocale(locale.LC_NUMERIC, "")
        return locale.localeconv()["decimal_point"] or "."
    except locale.Error:
        return "."


def parse_size(s: str) -> tuple[int, int]:
    """lib/strutils.c parse_size(): (bytes, 0) or (0, errno).

    A number in C's bases (strtoumax base 0: "0x10" is 16, "010" is 8),
    optionally with a decimal part, then K, M, G... (or k, m, g...) for
    powers of 1024, KiB/MiB... the same, KB/MB... for powers of 1000.
    """
    if not s or s.lstrip(C_SPACE).startswith("-"):
        return 0, E.EINVAL
    conv = c_strtol(s, 0, signed=False)
    if conv.end == 0 or (conv.errno and conv.value in (UINTMAX_MAX, 0)):
        return 0, conv.errno or E.EINVAL
    x, p = conv.value, conv.end
    if p == len(s):
        return x, 0
    at = (lambda i: s[i] if i < len(s) else "")
    frac, frac_zeros, base, dp = 0, 0, 1024, _decimal_point()
    while True:  # check_suffix
        if p >= len(s):
            # C reads past the terminator here ("1.0"): the next argument's
            # bytes, which make it an unexpected suffix
            return 0, E.EINVAL
        if at(p + 1) == "i" and at(p + 2) in ("B", "b") and at(p + 2) and not at(p + 3):
            base = 1024
        elif at(p + 1) in ("B", "b") and at(p + 1) and not at(p + 2):
            base = 1000
        elif at(p + 1):
            if frac == 0 and s.startswith(dp, p):
                q = p + len(dp)
                while at(q) == "0":
                    frac_zeros += 1
                    q += 1
                end = q
                if at(q).isascii() and at(q).isdigit():
                    fc = c_strtol(s[q:], 0, signed=False)
                    if fc.end == 0 or (fc.errno and fc.value in (UINTMAX_MAX, 0)):
                        return 0, fc.errno or E.EINVAL
                    frac, end = fc.value, q + fc.end
                if frac and end == len(s):
                    return 0, E.EINVAL  # a decimal part without a suffix
                p = end
                continue
            return 0, E.EINVAL
        break
    ch = s[p]
    if ch in _SUFFIXES:
        power = _SUFFIXES.index(ch) + 1
    elif ch in _SUFFIXES_LOWER:
        power = _SUFFIXES_LOWER.index(ch) + 1
    else:
        return 0, E.EINVAL
    x, rc = _scale(x, base, power)
    if rc:
        return 0, -rc
    if frac:
        x = _add_fraction(x, frac, frac_zeros, base, power)
    return x, 0


# --- ipcmk ------------------------------------------------------------------------------------
class Ipcmk(Tool):
    """One run of ipcmk: what its options asked for."""

    def __init__(self) -> None:
        super().__init__(PROG)
        self.permission = 0o644
        self.size = 0
        self.nsems = 0
        self.name: str | None = None
        self.namespace: str | None = None
        self.asked: set[str] = set()

    def strtosize_or_err(self, s: str, message: str) -> int:
        """lib/strutils.c strtosize_or_err(): parse_size always leaves errno."""
        value, errno = parse_size(s)
        if errno:
            self.err(f"{message}: '{s}'", errno)
        return value

    def parse_mode(self, s: str) -> int:
        """-p: strtoul(s, 8) as 2.38/2.41 check it; errno (0: "Success") is printed."""
        conv = c_strtol(s, 8, signed=False)
        if conv.errno or conv.end == 0 or conv.end != len(s):
            self.err("failed to parse mode", conv.errno)
        return c_int32(conv.value)

    def option(self, val: str, arg: str | None) -> None:
        """One option of ipcmk.c main()'s loop."""
        if val == ERROR:
            sys.stderr.write(f"{arg}\n")
            self.errtryhelp()
        if val in ("M", "m"):
            # -M and -m share one size, as in util-linux
            self.size = self.strtosize_or_err(arg or "", "failed to parse size")
            self.asked.add(val)
        elif val == "S":
            self.nsems = self.strtos32_or_err(arg or "", "failed to parse elements")
            self.asked.add(val)
        elif val in ("Q", "q", "s"):
            self.asked.add(val)
        elif val == "p":
            self.permission = self.parse_mode(arg or "")
        elif val == "n":
            self.name = arg
        elif val == _OPT_NS:
            self.namespace = arg
        elif val == "h":
            sys.stdout.write(USAGE)
            raise SystemExit(0)
        elif val == "V":
            self.out(version_line(PROG))
            raise SystemExit(0)

    def run(self, args: list[str]) -> int:
        for val, arg in getopt_long(PROG, args, SHORTOPTS, LONGOPTS).options:
            self.option(val, arg)
        if not self.asked:
            self.warnx("bad usage")
            self.errtryhelp()
        if self.asked & {"m", "q", "s"} and self.name is None:
            self.warnx("name is required for POSIX IPC")
            self.errtryhelp()
        attach(PROG, self.namespace)
        # util-linux's order: shm, POSIX shm, queue, POSIX queue, semaphores, POSIX semaphore
        for kind in ("M", "m", "Q", "q", "S", "s"):
            if kind in self.asked:
                self.create(kind)
        return 0

    def create(self, kind: str) -> None:
        """create_shm() ... create_posix_sem(): make one object, print it or err()."""
        what = {"M": "create share memory failed", "m": "create POSIX shared memory failed",
                "Q": "create message queue failed", "q": "create POSIX message queue failed",
                "S": "create semaphore failed", "s": "create POSIX semaphore failed"}[kind]
        try:
            self.out(self._make(kind))
        except OSError as exc:
            self.err(what, exc.errno or 0)

    def _make(self, kind: str) -> str:
        import uipc
        perm, name = self.permission, self.name or ""
        flags = perm | uipc.IPC_CREAT
        if kind == "M":
            return f"Shared memory id: {uipc.shmget(random_key(), self.size, flags)}"
        if kind == "Q":
            return f"Message queue id: {uipc.msgget(random_key(), flags)}"
        if kind == "S":
            return f"Semaphore id: {uipc.semget(random_key(), self.nsems, flags)}"
        mode = perm & 0xFFFFFFFF  # the mode_t the C passes
        if kind == "m":
            fd = uipc.shm_open(name, os.O_RDWR | os.O_CREAT, mode)
            try:
                os.ftruncate(fd, as_off_t(self.size))
            finally:
                os.close(fd)
            return f"POSIX shared memory name: {name}"
        if kind == "q":
            uipc.mq_close(uipc.mq_open(name, os.O_RDWR | os.O_CREAT, mode, None))
            return f"POSIX message queue name: {name}"
        uipc.sem_close(uipc.sem_open(name, os.O_CREAT, mode, 0))
        return f"POSIX semaphore name: {name}"


def random_key() -> int:
    """ul_random_get_bytes(&key, sizeof(key)): a random key_t (ipcmk uses no ftok)."""
    return c_int32(int.from_bytes(os.urandom(4), "little"))


def as_off_t(size: int) -> int:
    """The size_t ipcmk passes to ftruncate(2), as its off_t (EINVAL if negative)."""
    return size - (1 << 64) if size >= 1 << 63 else size


def main(argv: list[str] | None = None) -> int:
    """`uipc ipcmk ...`: util-linux's ipcmk."""
    return Ipcmk().run(sys.argv[1:] if argv is None else list(argv))
