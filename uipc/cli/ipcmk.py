"""`uipc ipcmk`: util-linux's ipcmk(1) (sys-utils/ipcmk.c) on uipc's objects.

System V objects as util-linux 2.38: ``-Q``, ``-S N``, ``-M SIZE`` (with
lib/strutils.c's size suffixes), ``-p MODE`` (octal), each made with a
random key and printed as "Message queue id: N".  2.41's POSIX objects:
``-q`` (a message queue), ``-s`` (a semaphore, value 0), ``-m SIZE`` (a
shared memory object), all named by ``-n NAME`` and printed as "POSIX
message queue name: NAME".  uipc's own option: ``--namespace NAME``.
"""
from __future__ import annotations

import os
import sys

from uipc.cli.common import attach
from uipc.cli.getopt import ERROR, NO_ARGUMENT, REQUIRED_ARGUMENT, LongOption, getopt_long
from uipc.cli.libc import c_int32, c_stdio, c_strtol, setlocale_all
from uipc.cli.strutils import strtos32_or_err, strtosize_or_err
from uipc.cli.tool import Tool, help_options

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


class Ipcmk(Tool):
    """One run of ipcmk: what its options asked for."""

    def __init__(self) -> None:
        super().__init__(PROG)
        c_stdio()
        self.permission = 0o644
        self.size = 0
        self.nsems = 0
        self.name: str | None = None
        self.namespace: str | None = None
        self.asked: set[str] = set()

    def parse_mode(self, s: str) -> int:
        """-p: strtoul(s, 8) as 2.38/2.41 check it; errno (0: "Success") is printed."""
        conv = c_strtol(s, 8, signed=False)
        if conv.errno or conv.end == 0 or conv.end != len(s):
            self.err("failed to parse mode", conv.errno)
        return c_int32(conv.value)

    def option(self, val: str, arg: str | None) -> None:
        """One option of ipcmk.c main()'s loop."""
        if val == ERROR:
            self.bad_option(arg or "")
        if val in ("M", "m"):
            # -M and -m share one size, as in util-linux
            self.size = strtosize_or_err(self, arg or "", "failed to parse size")
            self.asked.add(val)
        elif val == "S":
            self.nsems = strtos32_or_err(self, arg or "", "failed to parse elements")
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
            self.usage(USAGE)
        elif val == "V":
            self.print_version("util-linux 2.41 compatible")

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
    setlocale_all()  # the decimal point of sizes such as "0.5M"
    return Ipcmk().run(sys.argv[1:] if argv is None else list(argv))
