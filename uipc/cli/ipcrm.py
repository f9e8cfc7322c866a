"""`uipc ipcrm`: util-linux's ipcrm(1) (sys-utils/ipcrm.c) on uipc's objects.

System V objects behave as util-linux 2.38's ipcrm: ``-q/-Q/-s/-S/-m/-M ID|KEY``
one after another, the old ``ipcrm {shm|msg|sem} ID...`` syntax, ``-a`` /
``--all[=shm|msg|sem]``, ``-v``, its messages and its exit status (1 if
anything failed: the C code counts failures but returns EXIT_FAILURE).
2.41's POSIX options are here too: ``--posix-shmem/--posix-mqueue/
--posix-semaphore NAME`` and ``--all=pshm|pmsg|psem``.  One option is
uipc's own: ``--namespace NAME``, the uipc IPC namespace to act in.

The first part of this module is the C library behaviour both ipcrm and
ipcmk rely on and that their messages show: glibc's getopt_long (with its
permutation and its error messages), strtoul/strtoimax, and util-linux's
lib/strutils.c number parsers.
"""
from __future__ import annotations

import errno as E
import os
import sys
from dataclasses import dataclass, field
from typing import Callable, NoReturn

from uipc.cli.common import attach

# --- the C library, as util-linux's tools see it ------------------------------------------

#: isspace() in the C locale
C_SPACE = " \t\n\v\f\r"
UINTMAX_MAX = (1 << 64) - 1
INTMAX_MIN, INTMAX_MAX = -(1 << 63), (1 << 63) - 1
INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1
_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"


def c_int32(value: int) -> int:
    """A C cast to (int) or (key_t): the low 32 bits, two's complement."""
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value > INT32_MAX else value


def _digit(ch: str, base: int) -> int:
    """The value of an ASCII digit in ``base``, or -1."""
    d = _DIGITS.find(ch.lower()) if ch.isascii() and ch else -1
    return d if 0 <= d < base else -1


@dataclass(frozen=True)
class Conversion:
    """What strtoul(3)/strtoimax(3) give: the value, where the conversion
    stopped (0 when nothing was converted: ``endptr == nptr``) and errno."""

    value: int
    end: int
    errno: int = 0


def c_strtol(s: str, base: int, signed: bool) -> Conversion:
    """glibc's strtoul/strtoumax (``signed`` False) and strtoimax (True).

    Leading C-locale spaces, one sign, a "0x" prefix for base 0 or 16 and a
    "0" (octal) for base 0, as stdlib/strtol_l.c; a negative number wraps
    for the unsigned ones; overflow saturates with ERANGE.  "0x" without a
    hex digit after it converts the "0" and stops at the 'x'.
    """
    i, n = 0, len(s)
    while i < n and s[i] in C_SPACE:
        i += 1
    negative = i < n and s[i] == "-"
    if i < n and s[i] in "+-":
        i += 1
    if s[i:i + 1] == "0" and base in (0, 16) and s[i + 1:i + 2] in ("x", "X"):
        if _digit(s[i + 2:i + 3], 16) < 0:
            return Conversion(0, i + 1)
        i, base = i + 2, 16
    elif base == 0:
        base = 8 if s[i:i + 1] == "0" else 10
    start, value = i, 0
    while i < n and (d := _digit(s[i], base)) >= 0:
        value = value * base + d
        i += 1
    if i == start:
        return Conversion(0, 0)
    if not signed:
        if value > UINTMAX_MAX:
            return Conversion(UINTMAX_MAX, i, E.ERANGE)
        return Conversion((-value) & UINTMAX_MAX if negative else value, i)
    value = -value if negative else value
    if value > INTMAX_MAX:
        return Conversion(INTMAX_MAX, i, E.ERANGE)
    if value < INTMAX_MIN:
        return Conversion(INTMAX_MIN, i, E.ERANGE)
    return Conversion(value, i)


def strerror(errno: int) -> str:
    """glibc's strerror(): os.strerror is the C library's (0 is "Success")."""
    return os.strerror(errno)


_LOCALE_CATEGORIES = ("LC_CTYPE", "LC_NUMERIC", "LC_TIME", "LC_COLLATE", "LC_MONETARY",
                      "LC_MESSAGES", "LC_PAPER", "LC_NAME", "LC_ADDRESS", "LC_TELEPHONE",
                      "LC_MEASUREMENT", "LC_IDENTIFICATION")


def startup_errno() -> int:
    """errno as util-linux's main() leaves it when it starts parsing options.

    setlocale(LC_ALL, "") looks for a locale archive that Debian does not
    ship (ENOENT) unless every category is the built-in C/POSIX locale; the
    value shows where ipcrm prints errno without a call having set it
    (``ipcrm -Q ""``: "failed to parse argument: '': No such file or directory").
    """
    env = os.environ
    for cat in _LOCALE_CATEGORIES:
        name = env.get("LC_ALL") or env.get(cat) or env.get("LANG") or ""
        if name not in ("", "C", "POSIX"):
            return E.ENOENT
    return 0


def c_stdio() -> None:
    """Buffer stdout as C's stdio does (by line on a terminal, else until
    exit; stderr unbuffered), even under PYTHONUNBUFFERED, so that output
    sent to one pipe (2>&1) comes in util-linux's order."""
    reconfigure = getattr(sys.stdout, "reconfigure", None)
    if reconfigure is not None:
        reconfigure(line_buffering=sys.stdout.isatty(), write_through=False)


class Tool:
    """util-linux's error reporting for one program (include/c.h, err(3))."""

    def __init__(self, prog: str) -> None:
        self.prog = prog
        c_stdio()

    def out(self, line: str) -> None:
        sys.stdout.write(line + "\n")

    def warnx(self, message: str) -> None:
        """warnx(3): 'prog: message' on stderr."""
        sys.stderr.write(f"{self.prog}: {message}\n")

    def errx(self, message: str, status: int = 1) -> NoReturn:
        """errx(3): warnx and exit."""
        self.warnx(message)
        raise SystemExit(status)

    def err(self, message: str, errno: int, status: int = 1) -> NoReturn:
        """err(3): 'prog: message: strerror(errno)' and exit."""
        self.errx(f"{message}: {strerror(errno)}", status)

    def errtryhelp(self) -> NoReturn:
        """include/c.h errtryhelp(EXIT_FAILURE)."""
        sys.stderr.write(f"Try '{self.prog} --help' for more information.\n")
        raise SystemExit(1)

    def strtos32_or_err(self, s: str, message: str) -> int:
        """lib/strutils.c str2num_or_err(s, 10, message, INT32_MIN, INT32_MAX)."""
        conv = c_strtol(s, 10, signed=True)
        bad = not s or conv.errno or conv.end != len(s)
        errno = conv.errno if s else 0
        if not bad and not INT32_MIN <= conv.value <= INT32_MAX:
            bad, errno = True, E.ERANGE
        if bad:
            if errno == E.ERANGE:
                self.err(f"{message}: '{s}'", errno)
            self.errx(f"{message}: '{s}'")
        return conv.value


# --- glibc's getopt_long ------------------------------------------------------------------

NO_ARGUMENT, REQUIRED_ARGUMENT, OPTIONAL_ARGUMENT = 0, 1, 2
#: the value an option error gives (getopt's '?'); its argument is the message
ERROR = "?"


@dataclass(frozen=True)
class LongOption:
    """One entry of getopt_long's ``struct option`` table."""

    name: str
    has_arg: int
    val: str


@dataclass
class Parsed:
    """getopt_long's results in order: ``(val, optarg)`` pairs -- the last
    may be ``(ERROR, message)``, after which the tools exit -- and the
    arguments left over (argv[optind:] after glibc's permutation)."""

    options: list[tuple[str, str | None]] = field(default_factory=list)
    operands: list[str] = field(default_factory=list)

    def last(self, val: str) -> str | None:
        """The argument of the last ``val`` option before any error."""
        found = None
        for v, arg in self.options:
            if v == ERROR:
                break
            if v == val:
                found = arg
        return found


def _short_table(optstring: str) -> dict[str, int]:
    """"q:a::v" -> {"q": REQUIRED_ARGUMENT, "a": OPTIONAL_ARGUMENT, "v": NO_ARGUMENT}."""
    table, i = {}, 0
    spec = optstring.lstrip("+-:")
    while i < len(spec):
        c, colons = spec[i], len(spec[i + 1:]) - len(spec[i + 1:].lstrip(":"))
        table[c] = min(colons, 2)
        i += 1 + colons
    return table


def getopt_long(prog: str, args: list[str], optstring: str,
                longopts: tuple[LongOption, ...]) -> Parsed:
    """glibc's getopt_long over ``args`` (argv[1:]), posix/getopt.c.

    Options are taken wherever they are (non-options are moved to the end,
    unless POSIXLY_CORRECT is set or ``optstring`` starts with '+'); "--"
    ends them.  Parsing stops at the first error, whose message is glibc's
    (with ``prog`` as argv[0]), since both tools exit there.
    """
    short = _short_table(optstring)
    in_order = optstring.startswith("+") or "POSIXLY_CORRECT" in os.environ
    parsed, i = Parsed(), 0
    while i < len(args):
        arg = args[i]
        i += 1
        if arg == "--":
            parsed.operands += args[i:]
            break
        if arg.startswith("--"):
            i = _long_option(prog, arg[2:], args, i, longopts, parsed)
        elif arg.startswith("-") and arg != "-":
            i = _short_options(prog, arg, args, i, short, parsed)
        else:
            parsed.operands.append(arg)
            if in_order:
                parsed.operands += args[i:]
                break
        if parsed.options and parsed.options[-1][0] == ERROR:
            break
    return parsed


def _long_option(prog: str, body: str, args: list[str], i: int,
                 longopts: tuple[LongOption, ...], parsed: Parsed) -> int:
    """One "--name[=value]": exact names first, then unambiguous prefixes
    (posix/getopt.c process_long_option)."""
    name, eq, value = body.partition("=")
    found = [o for o in longopts if o.name == name]
    if not found:
        found = [o for o in longopts if o.name.startswith(name)]
        if found:
            first = found[0]
            ambiguous = [o for o in found if (o.has_arg, o.val) != (first.has_arg, first.val)]
            if ambiguous:
                names = "".join(f" '--{o.name}'" for o in [first] + ambiguous)
                parsed.options.append((ERROR, f"{prog}: option '--{body}' is ambiguous; "
                                              f"possibilities:{names}"))
                return i
    if not found:
        parsed.options.append((ERROR, f"{prog}: unrecognized option '--{body}'"))
        return i
    opt = found[0]
    if opt.has_arg == NO_ARGUMENT:
        if eq:
            parsed.options.append((ERROR, f"{prog}: option '--{opt.name}' doesn't allow an "
                                          "argument"))
            return i
        parsed.options.append((opt.val, None))
    elif eq:
        parsed.options.append((opt.val, value))
    elif opt.has_arg == OPTIONAL_ARGUMENT:
        parsed.options.append((opt.val, None))
    elif i < len(args):
        parsed.options.append((opt.val, args[i]))
        i += 1
    else:
        parsed.options.append((ERROR, f"{prog}: option '--{opt.name}' requires an argument"))
    return i


def _short_options(prog: str, arg: str, args: list[str], i: int, short: dict[str, int],
                   parsed: Parsed) -> int:
    """One "-abc" cluster: a letter taking an argument takes the rest of the
    word (or, if it is required, the next word)."""
    for j, c in enumerate(arg[1:], start=2):
        has_arg = short.get(c)
        if has_arg is None or c in ":;":
            parsed.options.append((ERROR, f"{prog}: invalid option -- '{c}'"))
            return i
        if has_arg == NO_ARGUMENT:
            parsed.options.append((c, None))
            continue
        rest = arg[j:]
        if rest or has_arg == OPTIONAL_ARGUMENT:
            parsed.options.append((c, rest or None))
        elif i < len(args):
            parsed.options.append((c, args[i]))
            i += 1
        else:
            parsed.options.append((ERROR, f"{prog}: option requires an argument -- '{c}'"))
        return i
    return i


def leading_namespace(args: list[str]) -> tuple[str | None, list[str]]:
    """uipc's ``--namespace NAME`` (or ``--namespace=NAME``) ahead of
    everything else, taken off so that the old ``ipcrm shm ID`` syntax,
    which util-linux recognises by argv[1] alone, still works after it."""
    if args[:1] == ["--namespace"] and len(args) >= 2:
        return args[1], args[2:]
    if args and args[0].startswith("--namespace="):
        return args[0].partition("=")[2], args[1:]
    return None, args


def help_options(width: int) -> str:
    """include/c.h USAGE_HELP_OPTIONS(width)."""
    return (f"{' -h, --help':<{width}}display this help\n"
            f"{' -V, --version':<{width}}display version\n")


def version_line(prog: str) -> str:
    from uipc import __version__
    return f"{prog} from uipc {__version__} (util-linux 2.41 compatible)"


# --- ipcrm ---------------------------------------------------------------------------------

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
            ident = self.strtos32_or_err(arg, "failed to parse argument")
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
                sys.stderr.write(f"{arg}\n")
                self.errtryhelp()
            elif val in _BY_LETTER:
                failures += self.remove_option(val, arg or "")
            elif val in _POSIX_OPTS:
                failures += self.remove_name(_POSIX_OPTS[val], arg or "")
            elif val == "a":
                rm_all, what_all = True, self.all_category(arg)
            elif val == "v":
                self.verbose = True
            elif val == "h":
                sys.stdout.write(USAGE)
                raise SystemExit(0)
            elif val == "V":
                self.out(version_line(PROG))
                raise SystemExit(0)
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
