"""`uipc lsipc`: util-linux's lsipc(1) over uipc.

System V output is util-linux 2.38.1's (sys-utils/lsipc.c, the version
Debian 12 ships), byte for byte, bugs included: ``-q -P`` leaves PERMS
empty, the CGID column of queues and segments shows the creator's uid, and
``-g`` counts SEMMNS as sets x the first set's size.  The POSIX views (``-Q``,
``-S``, ``-M``, ``-N NAME``) are util-linux 2.41's (the "added POSIX IPC
support to lsipc, ipcrm and ipcmk" work, as on master).  ``--namespace NAME``
looks at another uipc IPC namespace.

The data come as util-linux's sys-utils/ipcutils.c gets them, from
uipc.cli.ipcutils (shared with ipcs); this module is lsipc.c's columns,
options and table.  Differences from util-linux are listed in
docs/deviations.md.
"""
from __future__ import annotations

import mmap
import sys
from dataclasses import dataclass
from typing import Any, Callable, NoReturn

from uipc.cli import ipcfmt as F
from uipc.cli import smartcols as sc
from uipc.cli.common import attach
from uipc.cli.getopt import ERROR, NO_ARGUMENT, REQUIRED_ARGUMENT, LongOption, getopt_long
from uipc.cli.ipcutils import (
    Fatal, SemElem, SysvObject, msg_limits, pid_get_cmdline, posix_msg_limits, posix_objects,
    sem_elements, sem_limits, shm_limits, sysv_objects,
)
from uipc.cli.libc import UINTMAX_MAX, setlocale_all, strerror_of
from uipc.cli.optutils import err_exclusive_options, new_status
from uipc.cli.strutils import size_to_human_string, string_add_to_idarray, strtos32_or_err
from uipc.cli.tool import Tool, help_options

PROG = "lsipc"
TOOL = Tool(PROG)
warnx, errx = TOOL.warnx, TOOL.errx

# --- columns (coldescs[] of lsipc.c, in master's enum order) ---------------------------
R, T, NOX = sc.FL_RIGHT, sc.FL_TRUNC, sc.FL_NOEXTREMES


@dataclass(frozen=True)
class ColDesc:
    """struct lsipc_coldesc"""

    name: str
    help: str
    pretty: str
    whint: float
    flags: int = 0


_ALL = [
    ColDesc("KEY", "Resource key", "Key", 1),
    ColDesc("ID", "Resource ID", "ID", 1),
    ColDesc("OWNER", "Owner's username or UID", "Owner", 1, R),
    ColDesc("PERMS", "Permissions", "Permissions", 1, R),
    ColDesc("CUID", "Creator UID", "Creator UID", 1, R),
    ColDesc("CUSER", "Creator user", "Creator user", 1),
    ColDesc("CGID", "Creator GID", "Creator GID", 1, R),
    ColDesc("CGROUP", "Creator group", "Creator group", 1),
    ColDesc("UID", "User ID", "UID", 1, R),
    ColDesc("USER", "User name", "User name", 1),
    ColDesc("GID", "Group ID", "GID", 1, R),
    ColDesc("GROUP", "Group name", "Group name", 1),
    ColDesc("CTIME", "Time of the last change", "Last change", 1, R),
    ColDesc("NAME", "POSIX resource name", "Name", 1),
    ColDesc("MTIME", "Time of last action", "Last action", 1, R),
    ColDesc("USEDBYTES", "Bytes used", "Bytes used", 1, R),
    ColDesc("MSGS", "Number of messages", "Messages", 1),
    ColDesc("SEND", "Time of last msg sent", "Msg sent", 1, R),
    ColDesc("RECV", "Time of last msg received", "Msg received", 1, R),
    ColDesc("LSPID", "PID of the last msg sender", "Msg sender", 1, R),
    ColDesc("LRPID", "PID of the last msg receiver", "Msg receiver", 1, R),
    ColDesc("SIZE", "Segment size", "Segment size", 1, R),
    ColDesc("NATTCH", "Number of attached processes", "Attached processes", 1, R),
    ColDesc("STATUS", "Status", "Status", 1, NOX),
    ColDesc("ATTACH", "Attach time", "Attach time", 1, R),
    ColDesc("DETACH", "Detach time", "Detach time", 1, R),
    ColDesc("COMMAND", "Creator command line", "Creator command", 0, T),
    ColDesc("CPID", "PID of the creator", "Creator PID", 1, R),
    ColDesc("LPID", "PID of last user", "Last user PID", 1, R),
    ColDesc("NSEMS", "Number of semaphores", "Semaphores", 1, R),
    ColDesc("OTIME", "Time of the last operation", "Last operation", 1, R),
    ColDesc("RESOURCE", "Resource name", "Resource", 1),
    ColDesc("DESCRIPTION", "Resource description", "Description", 1),
    ColDesc("LIMIT", "System-wide limit", "Limit", 1, R),
    ColDesc("USED", "Currently used", "Used", 1, R),
    ColDesc("USE%", "Currently use percentage", "Use", 1, R),
    ColDesc("SVAL", "Semaphore value", "Value", 1, R),
]
#: 2.41's POSIX columns; a System V listing uses 2.38's table, which has none
POSIX_ONLY = ("NAME", "MTIME", "SVAL")
#: the columns each resource option allows beyond the generic ones (LOWER..UPPER)
RANGES = {
    "msg": ("USEDBYTES", "LRPID"), "shm": ("SIZE", "LPID"), "sem": ("NSEMS", "OTIME"),
    "posix": ("NAME", "MTIME"), "sum": ("RESOURCE", "USE%"),
}
DEFAULT_COLUMNS = {
    "q": ["KEY", "ID", "PERMS", "OWNER", "USEDBYTES", "MSGS", "LSPID", "LRPID"],
    "m": ["KEY", "ID", "PERMS", "OWNER", "SIZE", "NATTCH", "STATUS", "CTIME", "CPID", "LPID",
          "COMMAND"],
    "s": ["KEY", "ID", "PERMS", "OWNER", "NSEMS"],
    "Q": ["NAME", "PERMS", "OWNER", "MTIME", "USEDBYTES", "MSGS"],
    "M": ["NAME", "PERMS", "OWNER", "SIZE", "MTIME"],
    "S": ["NAME", "PERMS", "OWNER", "MTIME", "SVAL"],
}
RANGE_OF = {"q": "msg", "m": "shm", "s": "sem", "Q": "posix", "M": "posix", "S": "posix"}

# output modes (lsipc.c's enum; the time modes are ipcfmt's TIME_*)
OUT_EXPORT, OUT_NEWLINE, OUT_RAW, OUT_JSON, OUT_PRETTY, OUT_LIST = range(1, 7)


# --- getopt_long's tables -----------------------------------------------------------
SHORTOPTS = "bceghi:JlMmN:no:PQqrSstVy"
_NO, _REQ = NO_ARGUMENT, REQUIRED_ARGUMENT
LONGOPTS = tuple(LongOption(name, has_arg, val) for name, has_arg, val in (
    ("bytes", _NO, "b"), ("creator", _NO, "c"), ("export", _NO, "e"), ("global", _NO, "g"),
    ("help", _NO, "h"), ("id", _REQ, "i"), ("json", _NO, "J"), ("list", _NO, "l"),
    ("name", _REQ, "N"), ("newline", _NO, "n"), ("noheadings", _NO, "noheadings"),
    ("notruncate", _NO, "notruncate"), ("numeric-perms", _NO, "P"), ("output", _REQ, "o"),
    ("posix-mqueues", _NO, "Q"), ("posix-semaphores", _NO, "S"), ("posix-shmems", _NO, "M"),
    ("queues", _NO, "q"), ("raw", _NO, "r"), ("semaphores", _NO, "s"), ("shmems", _NO, "m"),
    ("time", _NO, "t"), ("time-format", _REQ, "time-format"), ("version", _NO, "V"),
    ("shell", _NO, "y"), ("namespace", _REQ, "namespace"),
))


#: ul_excl_t excl[]: 2.38's rows, then the row 2.41 adds --name to.  The
#: check of each table stops at the first row that begins past the option, so
#: -c is never checked in 2.38 (its second row begins with 'g'), and 2.41's
#: -M, -Q and -S are never checked either: 2.41 (as master) lists them in the
#: last row, after rows that begin past them.
EXCL_TABLES = [[["J", "e", "l", "n", "r"], ["g", "i"], ["c", "o", "t"], ["m", "q", "s"]],
               [["N", "g", "i"]]]
EXCL_NAMES = {"J": "json", "e": "export", "l": "list", "n": "newline", "r": "raw",
              "N": "name", "g": "global", "i": "id", "c": "creator", "o": "output",
              "t": "time", "m": "shmems", "q": "queues", "s": "semaphores"}


def exclusive(opt: str, status: list[list[str | None]]) -> None:
    """err_exclusive_options(), once per table."""
    for table, seen in zip(EXCL_TABLES, status):
        err_exclusive_options(TOOL, opt, table, seen, EXCL_NAMES)


# --- the control block ---------------------------------------------------------------
@dataclass
class Ctl:
    """struct lsipc_control and main()'s flags."""

    outmode: int = 0
    noheadings: bool = False
    notrunc: bool = False
    shellvar: bool = False
    bytes: bool = False
    numperms: bool = False
    time_mode: int = 0
    msg: bool = False
    shm: bool = False
    sem: bool = False
    pmsg: bool = False
    pshm: bool = False
    psem: bool = False
    global_: bool = False
    show_time: bool = False
    show_creat: bool = False
    id: int = -1
    name: str | None = None
    outarg: str | None = None
    namespace: str | None = None
    range: str = ""
    clock: F.Clock | None = None

    @property
    def posix(self) -> bool:
        return self.pmsg or self.pshm or self.psem

    def table(self) -> list[ColDesc]:
        """2.41's columns once a POSIX view is asked for, else 2.38's."""
        return _ALL if self.posix else [c for c in _ALL if c.name not in POSIX_ONLY]

    def time(self, t: int) -> str:
        assert self.clock is not None
        return self.clock(t)


class Columns:
    """columns[] of lsipc.c: the wanted columns, at most twice the table."""

    def __init__(self, ctl: Ctl) -> None:
        self.ctl = ctl
        self.ids: list[str] = []

    def add(self, name: str) -> None:
        """add_column(), with err_columns_index()'s bound."""
        limit = 2 * len(self.ctl.table())
        if len(self.ids) >= limit:
            errx(f"too many columns specified, the limit is {limit - 1} columns")
        self.ids.append(name)

    def name_to_id(self, name: str) -> str | None:
        """column_name_to_id(): generic columns always, others only in the
        resource's range."""
        table = self.ctl.table()
        names = [c.name for c in table]
        for i, c in enumerate(table):
            if c.name.lower() != name.lower():
                continue
            if i > names.index("CTIME"):
                lo, hi = RANGES[self.ctl.range]
                if names.index(lo) <= i <= names.index(hi):
                    return c.name
                warnx(f"column {name} does not apply to the specified IPC")
                return None
            return c.name
        warnx(f"unknown column: {name}")
        return None

    def add_list(self, text: str) -> bool:
        """string_add_to_idarray(): "A,B" replaces the columns, "+A,B" adds."""
        return string_add_to_idarray(text, self.ids, 2 * len(self.ctl.table()), self.name_to_id)

    def desc(self, n: int) -> ColDesc:
        return next(c for c in _ALL if c.name == self.ids[n])


# --- options ----------------------------------------------------------------------
def parse(argv: list[str]) -> tuple[Ctl, Columns]:
    """main()'s option loop and the column set-up after it."""
    ctl = Ctl()
    cols = Columns(ctl)
    status = [new_status(t) for t in EXCL_TABLES]
    for opt, arg in getopt_long(PROG, argv, SHORTOPTS, LONGOPTS).options:
        if opt == ERROR:
            TOOL.bad_option(arg or "")
        exclusive(opt, status)
        apply_option(ctl, cols, opt, arg)
    finish_columns(ctl, cols)
    return ctl, cols


def apply_option(ctl: Ctl, cols: Columns, opt: str, arg: str | None) -> None:
    """One option, as main()'s switch."""
    simple = {"b": "bytes", "P": "numperms", "notruncate": "notrunc",
              "noheadings": "noheadings", "t": "show_time", "c": "show_creat", "y": "shellvar",
              "g": "global_"}
    modes = {"e": OUT_EXPORT, "r": OUT_RAW, "l": OUT_LIST, "n": OUT_NEWLINE, "J": OUT_JSON}
    if opt in simple:
        setattr(ctl, simple[opt], True)
    elif opt in modes:
        ctl.outmode = modes[opt]
    elif opt == "i":
        ctl.id = strtos32_or_err(TOOL, arg or "", "failed to parse IPC identifier")
    elif opt == "N":
        ctl.name = arg
    elif opt == "o":
        ctl.outarg = arg
    elif opt == "namespace":
        ctl.namespace = arg
    elif opt == "time-format":
        ctl.time_mode = parse_time_mode(arg or "")
    elif opt in DEFAULT_COLUMNS:
        setattr(ctl, {"q": "msg", "m": "shm", "s": "sem", "Q": "pmsg", "M": "pshm",
                      "S": "psem"}[opt], True)
        for name in DEFAULT_COLUMNS[opt]:
            cols.add(name)
        ctl.range = RANGE_OF[opt]
    elif opt == "h":
        usage()
    elif opt == "V":
        TOOL.print_version("util-linux 2.38.1 lsipc, 2.41 POSIX views")


def parse_time_mode(text: str) -> int:
    modes = {"iso": F.TIME_ISO, "full": F.TIME_FULL, "short": F.TIME_SHORT}
    if text not in modes:
        errx(f"unknown time format: {text}")
    return modes[text]


def finish_columns(ctl: Ctl, cols: Columns) -> None:
    """After the loop: the global default, pretty mode for --id, -c and -t
    columns, then --output."""
    if not (ctl.msg or ctl.shm or ctl.sem or ctl.posix):  # 2.38: the System V summary
        ctl.msg = ctl.shm = ctl.sem = ctl.global_ = True
        if ctl.name is not None:
            errx("--global is mutually exclusive with --creator, --id, --name and --time")
        if ctl.show_time or ctl.show_creat or ctl.id != -1:
            errx("--global is mutually exclusive with --creator, --id and --time")
    if ctl.global_:
        for name in ("RESOURCE", "DESCRIPTION", "LIMIT", "USED", "USE%"):
            cols.add(name)
        ctl.range = "sum"
    if (ctl.id != -1 or ctl.name is not None) and not ctl.outmode:
        ctl.outmode = OUT_PRETTY
    if not ctl.time_mode:
        ctl.time_mode = F.TIME_FULL if ctl.outmode == OUT_PRETTY else F.TIME_SHORT
    ctl.clock = F.Clock(ctl.time_mode)
    if ctl.outmode == OUT_PRETTY and not (ctl.show_creat or ctl.show_time):
        cols.ids = [c.name for c in ctl.table()]  # every column for --id
    else:
        extra_columns(ctl, cols)
    if ctl.outarg is not None and not cols.add_list(ctl.outarg):
        raise SystemExit(1)


def extra_columns(ctl: Ctl, cols: Columns) -> None:
    if ctl.show_creat:
        cols.add("CUID")
        cols.add("CGID")
        if not ctl.posix:
            cols.add("UID")
            cols.add("GID")
    if ctl.msg and ctl.show_time:
        for name in ("SEND", "RECV", "CTIME"):
            cols.add(name)
    if ctl.shm and ctl.show_time:
        cmd = bool(cols.ids) and cols.ids[-1] == "COMMAND"  # keep COMMAND last
        if cmd:
            cols.ids.pop()
        cols.add("ATTACH")
        cols.add("DETACH")
        if cmd:
            cols.add("COMMAND")
    if ctl.sem and ctl.show_time:
        cols.add("OTIME")
        cols.add("CTIME")


def usage() -> NoReturn:
    """usage(): the options, then every column's name and help."""
    out = ["", "Usage:", f" {PROG} [options]", "", "Show information on IPC facilities.", "",
           "Resource options:",
           " -m, --shmems             shared memory segments",
           " -M, --posix-shmems       POSIX shared memory segments",
           " -q, --queues             message queues",
           " -Q, --posix-mqueues      POSIX message queues",
           " -s, --semaphores         semaphores",
           " -S, --posix-semaphores   POSIX semaphores",
           " -g, --global             info about system-wide usage",
           "                            (may be used with -m, -q and -s)",
           " -i, --id <id>            System V resource identified by <id>",
           " -N, --name <name>        POSIX resource identified by <name>",
           "", "Options:",
           "     --noheadings         don't print headings",
           "     --notruncate         don't truncate output",
           "     --time-format=<type> display dates in short, full or iso format",
           " -b, --bytes              print SIZE in bytes rather than in human readable format",
           " -c, --creator            show creator and owner",
           " -e, --export             display in an export-able output format",
           " -J, --json               use the JSON output format",
           " -n, --newline            display each piece of information on a new line",
           " -l, --list               force list output format (for example with --id)",
           " -o, --output[=<list>]    define the columns to output",
           " -P, --numeric-perms      print numeric permissions (PERMS column)",
           " -r, --raw                display in raw mode",
           " -t, --time               show attach, detach and change times",
           " -y, --shell              use column names to be usable as shell variable identifiers",
           "     --namespace <name>   the uipc IPC namespace to look at (default: this process's)",
           "", *help_options(26).splitlines()]
    sections = [("Generic columns:", ["KEY", "ID", "OWNER", "PERMS", "CUID", "CUSER", "CGID",
                                      "CGROUP", "UID", "USER", "GID", "GROUP", "CTIME"]),
                ("Generic POSIX columns:", ["NAME", "OWNER", "PERMS", "CUID", "CUSER", "CGID",
                                            "CGROUP", "MTIME"]),
                ("Shared-memory columns (--shmems):", _span("SIZE", "LPID")),
                ("Message-queue columns (--queues):", _span("USEDBYTES", "LRPID")),
                ("Semaphore columns (--semaphores):", _span("NSEMS", "OTIME")),
                ("POSIX Semaphore columns (--posix-semaphores):", ["SVAL"]),
                ("Summary columns (--global):", _span("RESOURCE", "USE%"))]
    for title, names in sections:
        out += ["", title]
        out += [f" {c.name:>14}  {c.help}" for n in names for c in _ALL if c.name == n]
    out += ["", "For more details see lsipc(1).", ""]
    TOOL.usage("\n".join(out))


def _span(first: str, last: str) -> list[str]:
    names = [c.name for c in _ALL]
    return names[names.index(first):names.index(last) + 1]


# --- System V rows --------------------------------------------------------------------
Row = list[str | None]


def perm_cell(ctl: Ctl, col: str, obj: SysvObject, kind: str) -> tuple[bool, str | None]:
    """The generic columns; (handled, value).  2.38's slips are kept: PERMS
    stays empty for queues with -P, CGID shows cuid for queues and segments."""
    if col == "KEY":
        return True, f"0x{obj.key & 0xFFFFFFFF:08x}"
    if col == "ID":
        return True, str(obj.id)
    if col == "OWNER":
        return True, F.user_name(obj.uid) or str(obj.uid)
    if col == "PERMS":
        return True, None if ctl.numperms and kind == "msg" else F.perms(obj.mode, ctl.numperms)
    simple = {"CUID": str(obj.cuid), "UID": str(obj.uid), "GID": str(obj.gid),
              "CGID": str(obj.cgid if kind == "sem" else obj.cuid)}
    if col in simple:
        return True, simple[col]
    names = {"CUSER": lambda: F.user_name(obj.cuid), "CGROUP": lambda: F.group_name(obj.cgid),
             "USER": lambda: F.user_name(obj.uid), "GROUP": lambda: F.group_name(obj.gid)}
    if col in names:
        return True, names[col]()
    if col == "CTIME":
        return True, ctl.time(obj.ctime) if obj.ctime else None
    return False, None


def size_cell(ctl: Ctl, size: int) -> str:
    return str(size & UINTMAX_MAX) if ctl.bytes else size_to_human_string(size)


def msg_cell(ctl: Ctl, col: str, obj: SysvObject) -> str | None:
    ds = obj.ds
    cells: dict[str, Callable[[], str | None]] = {
        "USEDBYTES": lambda: size_cell(ctl, ds.msg_cbytes),
        "MSGS": lambda: str(ds.msg_qnum),
        "SEND": lambda: ctl.time(ds.msg_stime) if ds.msg_stime else None,
        "RECV": lambda: ctl.time(ds.msg_rtime) if ds.msg_rtime else None,
        "LSPID": lambda: str(ds.msg_lspid & 0xFFFFFFFF),
        "LRPID": lambda: str(ds.msg_lrpid & 0xFFFFFFFF),
    }
    return cells[col]() if col in cells else None


def shm_cell(ctl: Ctl, col: str, obj: SysvObject) -> str | None:
    ds = obj.ds
    cells: dict[str, Callable[[], str | None]] = {
        "SIZE": lambda: size_cell(ctl, ds.shm_segsz),
        "NATTCH": lambda: str(ds.shm_nattch),
        "STATUS": lambda: F.shm_status(obj.mode),
        "ATTACH": lambda: ctl.time(ds.shm_atime) if ds.shm_atime else None,
        "DETACH": lambda: ctl.time(ds.shm_dtime) if ds.shm_dtime else None,
        "CPID": lambda: str(ds.shm_cpid & 0xFFFFFFFF),
        "LPID": lambda: str(ds.shm_lpid & 0xFFFFFFFF),
        "COMMAND": lambda: pid_get_cmdline(ds.shm_cpid),
    }
    return cells[col]() if col in cells else None


def sem_cell(ctl: Ctl, col: str, obj: SysvObject) -> str | None:
    ds = obj.ds
    if col == "NSEMS":
        return str(ds.sem_nsems)
    if col == "OTIME":
        return ctl.time(ds.sem_otime) if ds.sem_otime else None
    return None


SYSV_CELLS = {"msg": msg_cell, "shm": shm_cell, "sem": sem_cell}


def sysv_row(ctl: Ctl, cols: Columns, kind: str, obj: SysvObject) -> Row:
    row: Row = []
    for col in cols.ids:
        handled, value = perm_cell(ctl, col, obj, kind)
        row.append(value if handled else SYSV_CELLS[kind](ctl, col, obj))
    return row


def do_sysv(ctl: Ctl, cols: Columns, tb: "Output", kind: str) -> None:
    """do_msg(), do_shm(), do_sem()."""
    if kind == "sem":
        tb.name = "semaphores"
    objs = sysv_objects(kind, ctl.id)
    if ctl.id > -1 and kind == "sem" and objs:
        try:
            objs[0].elements = sem_elements(objs[0].id, objs[0].ds.sem_nsems)
        except Fatal as exc:  # get_sem_elements()'s err()
            errx(str(exc))
    if not objs:
        if ctl.id > -1:
            warnx(f"id {ctl.id} not found")
        return
    tb.name = {"msg": "messages", "shm": "sharedmemory", "sem": "semaphores"}[kind]
    for obj in objs:
        tb.lines.append(sysv_row(ctl, cols, kind, obj))
    if objs[0].elements and ctl.id > -1:
        tb.elements = objs[0].elements


# --- the summary (-g) -------------------------------------------------------------
def global_row(ctl: Ctl, cols: Columns, resource: str, desc: str, used: int, limit: int,
               usage: bool, byte_unit: bool) -> Row:
    """global_set_data()"""
    used, limit = used & UINTMAX_MAX, limit & UINTMAX_MAX
    row: Row = []
    for col in cols.ids:
        value: str | None = None
        if col == "RESOURCE":
            value = resource
        elif col == "DESCRIPTION":
            value = desc
        elif col == "USED":
            value = (size_cell(ctl, used) if byte_unit else str(used)) if usage else "-"
        elif col == "USE%":
            value = F.use_percent(used, limit) if usage else "-"
        elif col == "LIMIT":
            value = size_cell(ctl, limit) if byte_unit else str(limit)
        row.append(value)
    return row


def do_msg_global(ctl: Ctl, cols: Columns, tb: "Output") -> None:
    queues = len(sysv_objects("msg", -1))
    msgmni, msgmax, msgmnb = msg_limits()
    rows = [("MSGMNI", "Number of message queues", queues, msgmni, True, False),
            ("MSGMAX", "Max size of message (bytes)", 0, msgmax, False, True),
            ("MSGMNB", "Default max size of queue (bytes)", 0, msgmnb, False, True)]
    tb.lines += [global_row(ctl, cols, *r) for r in rows]


def do_shm_global(ctl: Ctl, cols: Columns, tb: "Output") -> None:
    segs = sysv_objects("shm", -1)
    pages = sum(o.ds.shm_segsz for o in segs) // mmap.PAGESIZE
    shmmni, shmall, shmmax, shmmin = shm_limits()
    rows = [("SHMMNI", "Shared memory segments", len(segs), shmmni, True, False),
            ("SHMALL", "Shared memory pages", pages, shmall, True, False),
            ("SHMMAX", "Max size of shared memory segment (bytes)", 0, shmmax, False, True),
            ("SHMMIN", "Min size of shared memory segment (bytes)", 0, shmmin, False, True)]
    tb.lines += [global_row(ctl, cols, *r) for r in rows]


def do_sem_global(ctl: Ctl, cols: Columns, tb: "Output") -> None:
    sets = sysv_objects("sem", -1)
    # 2.38 adds the first set's size once per set (fixed after 2.38)
    nsems = len(sets) * sets[0].ds.sem_nsems if sets else 0
    semmni, semmns, semmsl, semopm, semvmx = sem_limits()
    rows = [("SEMMNI", "Number of semaphore identifiers", len(sets), semmni, True, False),
            ("SEMMNS", "Total number of semaphores", nsems, semmns, True, False),
            ("SEMMSL", "Max semaphores per semaphore set.", 0, semmsl, False, False),
            ("SEMOPM", "Max number of operations per semop(2)", 0, semopm, False, False),
            ("SEMVMX", "Semaphore max value", 0, semvmx, False, False)]
    tb.lines += [global_row(ctl, cols, *r) for r in rows]


def do_posix_msg_global(ctl: Ctl, cols: Columns, tb: "Output") -> None:
    queues = len(posix_objects("mqueue"))
    queues_max, msgsize_max, msg_max = posix_msg_limits()
    rows = [("MQUMNI", "Number of POSIX message queues", queues, queues_max, True, False),
            ("MQUMAX", "Max size of POSIX message (bytes)", 0, msgsize_max, False, True),
            ("MQUMNB", "Number of messages in POSIX message queue", 0, msg_max, False, False)]
    tb.lines += [global_row(ctl, cols, *r) for r in rows]


# --- POSIX objects (2.41's posix_ipc_*_get_info) ------------------------------------
def posix_cell(ctl: Ctl, col: str, e: dict[str, Any], name: str) -> tuple[bool, str | None]:
    """The columns every POSIX view shares."""
    uid, gid = e["uid"], e["gid"]
    cells: dict[str, Callable[[], str | None]] = {
        "NAME": lambda: name,
        "OWNER": lambda: F.user_name(uid) or str(uid),
        "PERMS": lambda: F.perms(e["mode"], ctl.numperms),
        "CUID": lambda: str(uid), "CUSER": lambda: F.user_name(uid),
        "CGID": lambda: str(gid), "CGROUP": lambda: F.group_name(gid),
        "MTIME": lambda: ctl.time(int(e.get("mtime") or 0)) if e.get("mtime") else None,
    }
    if col in cells:
        return True, cells[col]()
    return False, None


def posix_row(ctl: Ctl, cols: Columns, e: dict[str, Any], name: str,
              extra: Callable[[str], str | None]) -> Row:
    row: Row = []
    for col in cols.ids:
        handled, value = posix_cell(ctl, col, e, name)
        row.append(value if handled else extra(col))
    return row


def do_posix(ctl: Ctl, cols: Columns, tb: "Output", section: str) -> None:
    """do_posix_msg(), do_posix_shm(), do_posix_sem()."""
    if section == "mqueue" and ctl.name is not None and not ctl.name.startswith("/"):
        warnx(f"message queue name must start with '/': {ctl.name}")
        return
    found = []
    for e in posix_objects(section):
        name = e["name"] if section == "mqueue" else e["name"][1:]
        if ctl.name is None or ctl.name == name:
            found.append((e, name))
            if ctl.name is not None:
                break
    if not found:
        if ctl.name is not None:
            what = "shared memory segment" if section == "posix_shm" else "message queue"
            warnx(f"{what} {ctl.name} not found")
        return
    tb.name = {"mqueue": "posix-messages", "posix_shm": "posix-sharedmemory",
               "posix_sem": "posix-semaphores"}[section]
    for e, name in found:
        tb.lines.append(posix_row(ctl, cols, e, name, _posix_extra(ctl, section, e)))


def _posix_extra(ctl: Ctl, section: str, e: dict[str, Any]) -> Callable[[str], str | None]:
    """The columns of one POSIX view beyond the shared ones."""
    def cell(col: str) -> str | None:
        if section == "mqueue" and col == "USEDBYTES":
            return size_cell(ctl, e.get("qsize") or 0)
        if section == "mqueue" and col == "MSGS":
            return str(e.get("curmsgs") or 0)
        if section == "posix_shm" and col == "SIZE":
            return size_cell(ctl, e.get("size") or 0)
        if section == "posix_sem" and col == "SVAL":
            return str(e["value"])
        return None
    return cell


# --- output ------------------------------------------------------------------------
@dataclass
class Output:
    """The one table lsipc fills, and --id's semaphore elements."""

    lines: list[Row]
    name: str | None = None
    elements: list[SemElem] | None = None


def build_table(ctl: Ctl, cols: Columns, out: Output) -> sc.Table:
    """new_table() and setup_table()."""
    fmt = {OUT_EXPORT: sc.EXPORT, OUT_NEWLINE: sc.EXPORT, OUT_RAW: sc.RAW,
           OUT_JSON: sc.JSON}.get(ctl.outmode, sc.HUMAN)
    tb = sc.Table(name=out.name, fmt=fmt, shellvar=ctl.shellvar, utf8=sc.utf8_locale(),
                  noheadings=ctl.noheadings or ctl.outmode == OUT_PRETTY,
                  colsep="\n" if ctl.outmode == OUT_NEWLINE else " ")
    for n in range(len(cols.ids)):
        d = cols.desc(n)
        tb.new_column(d.name, d.whint, d.flags & ~sc.FL_TRUNC if ctl.notrunc else d.flags)
    tb.lines = out.lines
    return tb


def elements_table(ctl: Ctl, elements: list[SemElem]) -> sc.Table:
    """setup_sem_elements_columns() and its lines: SEMNUM VALUE NCOUNT ZCOUNT PID COMMAND."""
    tb = sc.Table(name="elements", shellvar=ctl.shellvar, utf8=sc.utf8_locale())
    for name in ("SEMNUM", "VALUE", "NCOUNT", "ZCOUNT", "PID", "COMMAND"):
        tb.new_column(name, 0, sc.FL_RIGHT)
    for i, e in enumerate(elements):
        tb.lines.append([str(i), str(e.semval), str(e.ncount), str(e.zcount), str(e.pid),
                         pid_get_cmdline(e.pid)])
    return tb


def print_pretty(ctl: Ctl, cols: Columns, out: Output, stream: Any) -> None:
    """print_pretty(): "Name:<pad to column 36>value" for every set cell of
    the first line, then a semaphore set's elements."""
    parts: list[bytes] = []
    line = out.lines[0] if out.lines else None
    for n in range(len(cols.ids)):
        data = line[n] if line is not None else None
        if data is None:
            continue
        head = cols.desc(n).pretty
        pad = " " * max(abs(35 - len(head)), 1)  # printf("%*c"): a negative width pads left
        value = data.encode("utf-8", "surrogateescape").ljust(36)  # "%-36s" counts bytes
        parts.append(f"{head}:{pad}".encode() + value + b"\n")
    if line is not None and out.elements:
        parts.append(b"Elements:\n\n")
        is_term, width = sc.terminal(stream.fileno())
        parts.append(elements_table(ctl, out.elements).render(is_term, width))
    stream.write(b"".join(parts))
    stream.flush()


def collect(ctl: Ctl, cols: Columns) -> Output:
    """The do_* calls of main(), in its order."""
    out = Output(lines=[], name="ipclimits" if ctl.global_ else None)
    steps: list[tuple[bool, Callable[[], None]]] = [
        (ctl.msg, lambda: do_msg_global(ctl, cols, out) if ctl.global_
         else do_sysv(ctl, cols, out, "msg")),
        (ctl.pmsg, lambda: do_posix_msg_global(ctl, cols, out) if ctl.global_
         else do_posix(ctl, cols, out, "mqueue")),
        (ctl.shm, lambda: do_shm_global(ctl, cols, out) if ctl.global_
         else do_sysv(ctl, cols, out, "shm")),
        (ctl.pshm, lambda: None if ctl.global_ else do_posix(ctl, cols, out, "posix_shm")),
        (ctl.sem, lambda: do_sem_global(ctl, cols, out) if ctl.global_
         else do_sysv(ctl, cols, out, "sem")),
        (ctl.psem, lambda: None if ctl.global_ else do_posix(ctl, cols, out, "posix_sem")),
    ]
    for wanted, step in steps:
        if wanted:
            step()
    return out


def run(argv: list[str]) -> int:
    setlocale_all()  # month names and the decimal point as lsipc shows them
    ctl, cols = parse(argv)
    attach(PROG, ctl.namespace)
    try:
        out = collect(ctl, cols)
    except OSError as exc:
        errx(strerror_of(exc))
    stream = sys.stdout.buffer
    if ctl.outmode == OUT_PRETTY:
        print_pretty(ctl, cols, out, stream)
    else:
        sc.write(stream, build_table(ctl, cols, out))
    return 0


def main(argv: list[str] | None = None) -> int:
    """`uipc lsipc [options]`; returns the exit status."""
    try:
        return run(sys.argv[1:] if argv is None else argv)
    except SystemExit as exc:
        sys.stdout.flush()
        return exc.code if isinstance(exc.code, int) else 1
