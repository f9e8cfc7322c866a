"""`uipc ipcrm`: util-linux's ipcrm(1) (sys-utils/ipcrm.c) on uipc's objects.

System V objects behave as util-linux 2.38's ipcrm: ``-q/-Q/-s/-S/-m/-M ID|KEY``
one after another, the old ``ipcrm {shm|msg|sem} ID...`` syntax, ``-a`` /
``--all[=shm|msg|sem]``, ``-v``, its messages and its exit status (1 if
anything failed: the C code counts failures but returns EXIT_FAILURE).
2.41's POSIX options are here too: ``--posix-shmem/--posix-mqueue/
--posix-semaphore NAME`` and ``--all=pshm|pmsg|psem``.  One option is
uipc's own: ``--namespace NAME``, the uipc IPC namespace to act in.
"""
from __future__ import annotations

import errno as E
import os
import sys
from typing import Callable

from uipc.cli.common import attach
from uipc.cli.getopt import (
    ERROR, NO_ARGUMENT, OPTIONAL_ARGUMENT, REQUIRED_ARGUMENT, LongOption, getopt_long,
)
from uipc.cli.libc import c_int32, c_stdio, c_strtol, startup_errno
from uipc.cli.strutils import strtos32_or_err
from uipc.cli.tool import Tool, help_options


def leading_namespace(args: list[str]) -> tuple[str | None, list[str]]:
    """uipc's ``--namespace NAME`` (or ``--namespace=NAME``) ahead of
    everything else, taken off so that the old ``ipcrm shm ID`` syntax,
    which util-linux recognises by argv[1] alone, still works after it."""
    if args[:1] == ["--namespace"] and len(args) >= 2:
        return args[1], args[2:]
    if args and args[0].startswith("--namespace="):
        return args[0].partition("=")[2], args[1:]
    return None, args


PROG = "ipcrm"
SHM, PSHM, SEM, PSEM, MSG, PMSG, ALL = "shm", "pshm", "sem", "psem", "msg", "pmsg", "all"
_OPT_PSHM, _OPT_PMSG, _OPT_PSEM, _OPT_NS = "posix-shmem", "posix-mqueue", "posix-semaphore", \
    "namespace"

LONGOPTS = (
    LongOption("shmem-id", REQUIRED_ARGUMENT, "m"),
    LongOption("shmem-key", REQUIRED_ARGUMENT, "M"),
    LongOption("posix-shmem", REQUIRED_ARGUMENT, _OPT_PSHM),
    LongOption("queue-id", REQUIRED_ARGUMENT, "q"),
    LongOption("queue-key", REQUIRED_ARGUMENT, "Q"),
    LongOption("posix-mqueue", REQUIRED_ARGUMENT, _OPT_PMSG),
    LongOption("semaphore-id", REQUIRED_ARGUMENT, "s"),
    LongOption("semaphore-key", REQUIRED_ARGUMENT, "S"),
    LongOption("posix-semaphore", REQUIRED_ARGUMENT, _OPT_PSEM),
    LongOption("all", OPTIONAL_ARGUMENT, "a"),
    LongOption("verbose", NO_ARGUMENT, "v"),
    LongOption("version", NO_ARGUMENT, "V"),
    LongOption("help", NO_ARGUMENT, "h"),
    LongOption("namespace", REQUIRED_ARGUMENT, _OPT_NS),
)
SHORTOPTS = "q:m:s:Q:M:S:a::vhV"
#: option letter -> (kind, by key)
_BY_LETTER = {"m": (SHM, False), "M": (SHM, True), "q": (MSG, False), "Q": (MSG, True),
              "s": (SEM, False), "S": (SEM, True)}
_POSIX_OPTS = {_OPT_PSHM: PSHM, _OPT_PMSG: PMSG, _OPT_PSEM: PSEM}
_NOUN = {SHM: "shared memory segment", MSG: "message queue", SEM: "semaphore"}
_POSIX_NOUN = {PSHM: "POSIX shared memory", PMSG: "POSIX message queue",
               PSEM: "POSIX semaphore"}
_NOT_CONFIGURED = {SHM: "shared memory", SEM: "semaphores", MSG: "message queues"}
_OLD_SYNTAX = (SHM, MSG, SEM)

USAGE = """
Usage:
 ipcrm [options]
 ipcrm shm|msg|sem <id>...

Remove certain IPC resources.

Options:
 -m, --shmem-id <id>           remove shared memory segment by id
 -M, --shmem-key <key>         remove shared memory segment by key
     --posix-shmem <name>      remove POSIX shared memory segment by name
 -q, --queue-id <id>           remove message queue by id
 -Q, --queue-key <key>         remove message queue by key
     --posix-mqueue <name>     remove POSIX message queue by name
 -s, --semaphore-id <id>       remove semaphore by id
 -S, --semaphore-key <key>     remove semaphore by key
     --posix-semaphore <name>  remove POSIX semaphore by name
 -a, --all[=shm|pshm|msg|pmsg|sem|psem]
                               remove all (in the specified category)
 -v, --verbose                 explain what is being done
     --namespace <name>        act in this uipc IPC namespace (uipc's own option)

""" + help_options(28) + """
For more details see ipcrm(1).
"""


def _rmid(kind: str, ident: int) -> None:
    """The IPC_RMID call of one kind (ipc/msg.c, sem.c, shm.c *ctl_down)."""
    import uipc
    if kind == SHM:
        uipc.shmctl(ident, uipc.IPC_RMID)
    elif kind == MSG:
        uipc.msgctl(ident, uipc.IPC_RMID)
    else:
        uipc.semctl(ident, 0, uipc.IPC_RMID)


def _get(kind: str, key: int) -> int:
    """shmget(key, 0, 0), msgget(key, 0) or semget(key, 0, 0): the id of a key."""
    import uipc
    if kind == SHM:
        return int(uipc.shmget(key, 0, 0))
    if kind == MSG:
        return int(uipc.msgget(key, 0))
    return int(uipc.semget(key, 0, 0))


def _info_and_stat(kind: str) -> tuple[Callable[[], int], Callable[[int], int]]:
    """The *_INFO call (the highest index in use) and the *_STAT call (an
    index to its id) of one kind, as ipcrm's remove_all() uses them."""
    import uipc
    if kind == SHM:
        return (lambda: uipc.shmctl(0, uipc.SHM_INFO)[0],
                lambda idx: uipc.shmctl(idx, uipc.SHM_STAT)[0])
    if kind == SEM:
        return (lambda: uipc.semctl(0, 0, uipc.SEM_INFO)[0],
                lambda idx: uipc.semctl(idx, 0, uipc.SEM_STAT)[0])
    return (lambda: uipc.msgctl(0, uipc.MSG_INFO)[0],
            lambda idx: uipc.msgctl(idx, uipc.MSG_STAT)[0])


def _unlink(kind: str, name: str) -> None:
    import uipc
    {PSHM: uipc.shm_unlink, PMSG: uipc.mq_unlink, PSEM: uipc.sem_unlink}[kind](name)


class Ipcrm(Tool):
    """One run of ipcrm: its options' state and errno, as the C globals."""

    def __init__(self, namespace: str | None) -> None:
        super().__init__(PROG)
        c_stdio()
        self.namespace = namespace
        self.verbose = False
        #: the C errno where ipcrm prints it without having set it (strtokey)
        self.errno = startup_errno()
        self._attached = False

    def attach(self) -> None:
        """Connect to the daemon, in --namespace, before the first call."""
        if not self._attached:
            attach(PROG, self.namespace)
            self._attached = True

    # -- removal by id and key ----------------------------------------------------------
    def remove_id(self, kind: str, iskey: bool, ident: int) -> int:
        """ipcrm.c remove_id(): IPC_RMID, 1 and a warning on failure."""
        self.attach()
        if self.verbose:
            self.out(f"removing {_NOUN[kind]} id `{ident}'")
        try:
            _rmid(kind, ident)
        except OSError as exc:
            self.errno = exc.errno or 0
            what = "key" if iskey else "id"
            if exc.errno in (E.EACCES, E.EPERM):
                message = f"permission denied for {what}"
            elif exc.errno == E.EINVAL:
                message = f"invalid {what}"
            elif exc.errno == E.EIDRM:
                message = f"already removed {what}"
            else:
                self.err(f"{what} failed", self.errno)
            self.warnx(f"{message} ({ident})")
            return 1
        return 0

    def strtokey(self, s: str) -> int:
        """ipcrm.c strtokey(): a key in decimal, octal or hex, as key_t."""
        message = f"failed to parse argument: '{s}'"
        if s:
            self.errno = 0
            conv = c_strtol(s, 0, signed=False)
            if not conv.errno and conv.end == len(s):
                return c_int32(conv.value)
            self.errno = conv.errno
        # an empty argument fails before errno is reset: what is left shows
        if self.errno:
            self.err(message, self.errno)
        self.errx(message)

    def key_to_id(self, kind: str, s: str) -> int:
        """ipcrm.c key_to_id(): the id of a key, or -1 and a warning."""
        key = self.strtokey(s)
        if key == 0:  # IPC_PRIVATE names no object
            self.warnx(f"illegal key ({s})")
            return -1
        self.attach()
        try:
            return _get(kind, key)
        except OSError as exc:
            self.errno = exc.errno or 0
            if exc.errno == E.EACCES:
                message = "permission denied for key"
            elif exc.errno == E.EIDRM:
                message = "already removed key"
            elif exc.errno == E.ENOENT:
                message = "invalid key"
            else:
                self.err("key failed", self.errno)
            self.warnx(f"{message} ({s})")
            return -1

    def remove_option(self, letter: str, arg: str) -> int:
        """One of -m/-M/-q/-Q/-s/-S: 1 if it failed."""
        kind, iskey = _BY_LETTER[letter]
        if iskey:
            ident = self.key_to_id(kind, arg)
            if ident < 0:
                return 1
        else:
            ident = strtos32_or_err(self, arg, "failed to parse argument")
            self.errno = 0  # ul_strtos64 clears it
        return self.remove_id(kind, iskey, ident)

    # -- POSIX objects by name ----------------------------------------------------------
    def remove_name(self, kind: str, name: str) -> int:
        """ipcrm.c remove_name() (2.41): shm_unlink, mq_unlink or sem_unlink."""
        self.attach()
        if self.verbose:
            self.out(f"removing {_POSIX_NOUN[kind]} `{name}'")
        try:
            _unlink(kind, name)
        except OSError as exc:
            self.errno = exc.errno or 0
            if exc.errno in (E.EACCES, E.EPERM):
                self.warnx(f"permission denied for name `{name}'")
            elif exc.errno == E.ENOENT:
                self.warnx(f"name `{name}' not found")
            elif exc.errno == E.ENAMETOOLONG:
                self.warnx(f"name `{name}' too long")
            else:
                self.err("name failed", self.errno)
            return 1
        return 0

    # -- everything -----------------------------------------------------------------------
    def remove_all_sysv(self, kind: str) -> int:
        """remove_all() for one System V kind: every index up to *_INFO's
        highest, those *_STAT (not *_STAT_ANY: read permission) shows."""
        info, stat = _info_and_stat(kind)
        try:
            maxid = info()
        except OSError:
            self.errx(f"kernel not configured for {_NOT_CONFIGURED[kind]}")
        ret = 0
        for idx in range(maxid + 1):
            try:
                ident = stat(idx)
            except OSError as exc:
                self.errno = exc.errno or 0
                continue
            ret |= self.remove_id(kind, False, ident)
        return ret

    def posix_names(self, kind: str) -> list[str]:
        """The names ipcutils.c's posix_ipc_*_get_info() list: every shm_open
        object (as /dev/shm shows it, without the '/'); the named semaphores
        this user can sem_open (without the '/'); the queues this user can
        read (with the '/'), as util-linux reads /dev/mqueue's files."""
        import uipc
        section = {PSHM: "posix_shm", PSEM: "posix_sem", PMSG: "mqueue"}[kind]
        try:
            entries = uipc.introspect.section(section)
        except OSError:
            self.warnx("cannot open " + ("/dev/mqueue" if kind == PMSG else "/dev/shm"))
            return []
        names = [e["name"] for e in entries if e.get("linked", True)]
        if kind == PSHM:
            return [n[1:] for n in names]
        if kind == PSEM:
            return [n[1:] for n in names if self._sem_openable(n[1:])]
        return [n for n in names if self._mq_readable(n)]

    @staticmethod
    def _sem_openable(name: str) -> bool:
        import uipc
        try:
            uipc.sem_close(uipc.sem_open(name, 0))
        except OSError:
            return False
        return True

    @staticmethod
    def _mq_readable(name: str) -> bool:
        import uipc
        try:
            uipc.mq_close(uipc.mq_open(name, os.O_RDONLY))
        except OSError:
            return False
        return True

    def remove_all_posix(self, kind: str) -> int:
        """remove_all() for one POSIX kind (2.41): its verbose line comes
        twice, once from remove_all() and once from remove_name()."""
        ret = 0
        for name in self.posix_names(kind):
            if self.verbose:
                self.out(f"removing {_POSIX_NOUN[kind]} `{name}'")
            ret |= self.remove_name(kind, name)
        return ret

    def remove_all(self, what: str) -> int:
        """ipcrm.c remove_all(): in util-linux's order shm, pshm, sem, psem, msg, pmsg."""
        self.attach()
        ret = 0
        for kind in (SHM, PSHM, SEM, PSEM, MSG, PMSG):
            if what in (kind, ALL):
                posix = kind in _POSIX_NOUN
                ret |= self.remove_all_posix(kind) if posix else self.remove_all_sysv(kind)
        return ret

    # -- the two syntaxes -----------------------------------------------------------------
    def deprecated(self, kind: str, ids: list[str]) -> int:
        """ipcrm.c deprecated_main(): ``ipcrm shm|msg|sem ID...``."""
        if not ids:
            self.warnx("not enough arguments")
            self.errtryhelp()
        failures = 0
        for s in ids:
            # strtoul without the endptr == nptr check: "" is id 0
            conv = c_strtol(s, 10, signed=False)
            if conv.errno or conv.end != len(s):
                self.warnx(f"invalid id: {s}")
                failures += 1
            elif self.remove_id(kind, False, c_int32(conv.value)):
                failures += 1
        if failures:
            raise SystemExit(1)
        self.out("resource(s) deleted")
        return 0

    def all_category(self, arg: str | None) -> str:
        """-a's argument (2.41 also takes "-a=shm")."""
        if arg is None:
            return ALL
        arg = arg[1:] if arg.startswith("=") else arg
        if arg in (SHM, PSHM, MSG, PMSG, SEM, PSEM):
            return arg
        self.errx(f"unknown argument: {arg}")

    def run(self, args: list[str]) -> int:
        """ipcrm.c main()'s option loop: each option acts when it is read."""
        parsed = getopt_long(PROG, args, SHORTOPTS, LONGOPTS)
        self.namespace = parsed.last(_OPT_NS) or self.namespace
        failures, rm_all, what_all = 0, False, ALL
        for val, arg in parsed.options:
            if val == ERROR:
                self.bad_option(arg or "")
            elif val in _BY_LETTER:
                failures += self.remove_option(val, arg or "")
            elif val in _POSIX_OPTS:
                failures += self.remove_name(_POSIX_OPTS[val], arg or "")
            elif val == "a":
                rm_all, what_all = True, self.all_category(arg)
            elif val == "v":
                self.verbose = True
            elif val == "h":
                self.usage(USAGE)
            elif val == "V":
                self.print_version("util-linux 2.41 compatible")
        if rm_all and self.remove_all(what_all):
            failures += 1
        if parsed.operands:
            self.warnx(f"unknown argument: {parsed.operands[0]}")
            self.errtryhelp()
        return 0 if failures == 0 else 1


def main(argv: list[str] | None = None) -> int:
    """`uipc ipcrm ...`: util-linux's ipcrm."""
    args = sys.argv[1:] if argv is None else list(argv)
    if not args:
        return 0  # 2.38: "if the command is executed without parameters, do nothing"
    namespace, args = leading_namespace(args)
    tool = Ipcrm(namespace)
    if args and args[0] in _OLD_SYNTAX:
        return tool.deprecated(args[0], args[1:])
    return tool.run(args)
