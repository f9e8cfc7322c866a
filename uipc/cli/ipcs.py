"""`uipc ipcs`: util-linux 2.38's ipcs(1), byte for byte, over uipc.

Mirrors ``sys-utils/ipcs.c`` (the output) and ``sys-utils/ipcutils.c`` (the
data). util-linux reads /proc/sysvipc when it can, and falls back to the
syscalls otherwise; uipc has no /proc, so the data comes from uipc's
syscalls (uipc.cli.ipcutils, shared with lsipc), chosen so that what is
printed is what the /proc path prints on the real kernel:

- the objects: ``*_INFO`` for the highest index, then ``*_STAT_ANY`` per
  index (which, like /proc/sysvipc, needs no read permission);
- their creator's group: the real ``cgid`` (ipcutils.c's syscall fallback
  copies ``cuid`` there for segments and sets, its /proc path does not);
- ``-q -i``: ``msg_qbytes`` from ``IPC_STAT`` (0 if that is refused), as the
  /proc path does, the rest from the listing;
- ``-s -i``: GETVAL, GETNCNT, GETZCNT, GETPID per semaphore, failing with
  util-linux's message on the first refusal (one batch, not 4n round trips);
- ``-l``: ``IPC_INFO`` (what /proc/sys/kernel/{msg*,shm*,sem} hold).

A negative ``-i`` id selects the first object, as in util-linux (its
id > -1 test); for a semaphore set util-linux then crashes (a NULL array),
uipc prints the first set's page.
"""
from __future__ import annotations

import errno
import os
import sys
from dataclasses import dataclass
from typing import Any

import uipc
from uipc.cli import ipcfmt as F
from uipc.cli.common import attach
from uipc.cli.getopt import ERROR, NO_ARGUMENT, REQUIRED_ARGUMENT, LongOption, getopt_long
from uipc.cli.ipcutils import Fatal, objects, sem_elements
from uipc.cli.libc import alt_octal, ctime, setlocale_all, strerror_of, to_bytes, u32
from uipc.cli.strutils import strtos32_or_err
from uipc.cli.tool import Tool, help_options, version_line

PROG = "ipcs"
VERSION = "2.38.1"
TOOL = Tool(PROG)
warnx = TOOL.warnx

# ipcs.c enum output_formats
NOTSPECIFIED, LIMITS, STATUS, CREATOR, TIME, PID = range(6)
_OPT_HUMAN = "human"
_OPT_NAMESPACE = "namespace"

SHORTOPTS = "i:qmsatpclubVh"
LONGOPTS = (
    LongOption("id", REQUIRED_ARGUMENT, "i"),
    LongOption("queues", NO_ARGUMENT, "q"),
    LongOption("shmems", NO_ARGUMENT, "m"),
    LongOption("semaphores", NO_ARGUMENT, "s"),
    LongOption("all", NO_ARGUMENT, "a"),
    LongOption("time", NO_ARGUMENT, "t"),
    LongOption("pid", NO_ARGUMENT, "p"),
    LongOption("creator", NO_ARGUMENT, "c"),
    LongOption("limits", NO_ARGUMENT, "l"),
    LongOption("summary", NO_ARGUMENT, "u"),
    LongOption("human", NO_ARGUMENT, _OPT_HUMAN),
    LongOption("bytes", NO_ARGUMENT, "b"),
    LongOption("version", NO_ARGUMENT, "V"),
    LongOption("help", NO_ARGUMENT, "h"),
    # uipc's own: util-linux has no namespace to name (it uses the caller's)
    LongOption("namespace", REQUIRED_ARGUMENT, _OPT_NAMESPACE),
)

USAGE = """
Usage:
 ipcs [resource-option...] [output-option]
 ipcs -m|-q|-s -i <id>

Show information on IPC facilities.

Options:
 -i, --id <id>  print details on resource identified by <id>
""" + help_options(16) + """     --namespace <name>  the uipc IPC namespace (default: this process's)

Resource options:
 -m, --shmems      shared memory segments
 -q, --queues      message queues
 -s, --semaphores  semaphores
 -a, --all         all (default)

Output options:
 -t, --time        show attach, detach and change times
 -p, --pid         show PIDs of creator and last operator
 -c, --creator     show creator and owner
 -l, --limits      show resource limits
 -u, --summary     show status summary
     --human       show sizes in human-readable format
 -b, --bytes       show sizes in bytes

For more details see ipcs(1).
"""


@dataclass
class Options:
    """What main() of ipcs.c collects from the command line."""
    msg: bool = False
    shm: bool = False
    sem: bool = False
    ident: int = 0
    specific: bool = False
    format: int = NOTSPECIFIED
    unit: int = F.IPC_UNIT_DEFAULT
    namespace: str | None = None


class Output:
    """stdout as C's stdio buffers it when not a terminal: written at exit,
    after anything on stderr (err() and warnx() write there at once)."""

    def __init__(self) -> None:
        self.parts: list[str] = []

    def write(self, text: str) -> None:
        self.parts.append(text)

    def flush_to(self, stream: Any) -> None:
        data = to_bytes("".join(self.parts))
        self.parts.clear()
        if stream is None:  # started with stdout closed
            if data:
                raise OSError(errno.EBADF, os.strerror(errno.EBADF))
            return
        raw = getattr(stream, "buffer", None)
        if raw is not None:
            stream.flush()
            raw.write(data)
            raw.flush()
        else:
            stream.write(data.decode("utf-8", "surrogateescape"))
            stream.flush()


# --- the command line ----------------------------------------------------------------

def parse_args(argv: list[str], out: Output) -> Options:
    """ipcs.c main()'s getopt_long loop; -h and -V end it as they do in C
    (SystemExit: main() still writes what is buffered)."""
    opts = Options()
    for val, arg in getopt_long(PROG, argv, SHORTOPTS, LONGOPTS).options:
        if val == ERROR:
            TOOL.bad_option(arg or "")
        elif val == "i":
            opts.ident = strtos32_or_err(TOOL, arg or "", "failed to parse id argument")
            opts.specific = True
        elif val == "a":
            opts.msg = opts.shm = opts.sem = True
        elif val in "qms":
            setattr(opts, {"q": "msg", "m": "shm", "s": "sem"}[val], True)
        elif val in "tcplu":
            opts.format = {"t": TIME, "c": CREATOR, "p": PID, "l": LIMITS, "u": STATUS}[val]
        elif val == _OPT_HUMAN:
            opts.unit = F.IPC_UNIT_HUMAN
        elif val == "b":
            opts.unit = F.IPC_UNIT_BYTES
        elif val == _OPT_NAMESPACE:
            opts.namespace = arg
        elif val == "h":
            out.write(USAGE)
            raise SystemExit(0)
        elif val == "V":
            out.write(version_line(PROG, f"util-linux {VERSION}") + "\n")
            raise SystemExit(0)
    return opts


def find(kind: str, ident: int) -> tuple[int, Any] | None:
    """ipc_*_get_info(id) as print_*() use it: the object with this id, or
    for a negative id the first one (util-linux tests ``id > -1``)."""
    return next(objects(kind, ident), None)


# --- output: ipcs.c --------------------------------------------------------------------

def owner_id_cols(ident: int, uid: int, id_width: int) -> str:
    """``%-10d %-10.10s`` of the id and the owner's name (``%-10u`` without one)."""
    return "%-*d %s" % (id_width, ident, F.owner_field(uid))


def perm_row(ident: int, perm: Any) -> str:
    return F.perms_line(ident, perm.mode, perm.cuid, perm.cgid, perm.uid, perm.gid)


def do_msg(out: Output, fmt: int, unit: int) -> None:
    """do_msg()."""
    if fmt == LIMITS:
        try:
            _, lim = uipc.msgctl(0, uipc.IPC_INFO)
        except ConnectionError:
            raise
        except OSError:
            out.write("unable to fetch message limits\n")
            return
        out.write("------ Messages Limits --------\n")
        out.write("max queues system wide = %d\n" % lim.msgmni)
        limit_unit = F.IPC_UNIT_BYTES if unit == F.IPC_UNIT_DEFAULT else unit
        out.write(F.print_size(limit_unit, "max size of message", lim.msgmax, "\n", 0))
        out.write(F.print_size(limit_unit, "default max size of queue", lim.msgmnb, "\n", 0))
        return
    if fmt == STATUS:
        try:
            _, info = uipc.msgctl(0, uipc.MSG_INFO)
        except ConnectionError:
            raise
        except OSError:
            out.write("kernel not configured for message queues\n")
            return
        out.write("------ Messages Status --------\n")
        out.write("allocated queues = %d\n" % info.msgpool)
        out.write("used headers = %d\n" % info.msgmap)
        out.write(F.print_size(unit, "used space", info.msgtql,
                               " bytes\n" if unit == F.IPC_UNIT_DEFAULT else "\n", 0))
        return
    out.write(_MSG_HEADERS.get(fmt) or _msg_default_header(unit))
    for msqid, ds in objects("msg"):
        out.write(msg_row(fmt, unit, msqid, ds))


_MSG_HEADERS = {
    CREATOR: "------ Message Queues Creators/Owners --------\n"
             + "%-10s %-10s %-10s %-10s %-10s %-10s\n" % ("msqid", "perms", "cuid", "cgid", "uid", "gid"),
    TIME: "------ Message Queues Send/Recv/Change Times --------\n"
          + "%-8s %-10s %-20s %-20s %-20s\n" % ("msqid", "owner", "send", "recv", "change"),
    PID: "------ Message Queues PIDs --------\n"
         + "%-10s %-10s %-10s %-10s\n" % ("msqid", "owner", "lspid", "lrpid"),
}


def _msg_default_header(unit: int) -> str:
    return ("------ Message Queues --------\n"
            + "%-10s %-10s %-10s %-10s %-12s %-12s\n" % (
                "key", "msqid", "owner", "perms",
                "size" if unit == F.IPC_UNIT_HUMAN else "used-bytes", "messages"))


def msg_row(fmt: int, unit: int, msqid: int, ds: Any) -> str:
    """One queue's line of do_msg()."""
    perm = ds.msg_perm
    if fmt == CREATOR:
        return perm_row(msqid, perm)
    if fmt == TIME:
        return (owner_id_cols(msqid, perm.uid, 8)
                + " %-20.16s" % F.ctime_short(ds.msg_stime)
                + " %-20.16s" % F.ctime_short(ds.msg_rtime)
                + " %-20.16s\n" % F.ctime_short(ds.msg_ctime))
    if fmt == PID:
        return owner_id_cols(msqid, perm.uid, 8) + "  %5d     %5d\n" % (ds.msg_lspid, ds.msg_lrpid)
    line = "0x%08x " % u32(perm.key) + owner_id_cols(msqid, perm.uid, 10)
    line += " %-10o " % (perm.mode & 0o777)
    if unit == F.IPC_UNIT_HUMAN:
        line += F.print_size(unit, None, ds.msg_cbytes, "      ", 6)
    else:
        line += F.print_size(unit, None, ds.msg_cbytes, None, -12)
    return line + " %-12d\n" % ds.msg_qnum


def do_shm(out: Output, fmt: int, unit: int) -> None:
    """do_shm()."""
    if fmt == LIMITS:
        try:
            _, lim = uipc.shmctl(0, uipc.IPC_INFO)
        except ConnectionError:
            raise
        except OSError:
            out.write("unable to fetch shared memory limits\n")
            return
        out.write(shm_limits(lim, unit, uipc.PAGE_SIZE, uipc.SHMMIN))
        return
    if fmt == STATUS:
        try:
            _, info = uipc.shmctl(0, uipc.SHM_INFO)
        except ConnectionError:
            raise
        except OSError:
            out.write("kernel not configured for shared memory\n")
            return
        out.write("------ Shared Memory Status --------\n")
        out.write("segments allocated %d\n"
                  "pages allocated %d\n"
                  "pages resident  %d\n"
                  "pages swapped   %d\n"
                  "Swap performance: %d attempts\t %d successes\n" % (
                      info.used_ids, info.shm_tot, info.shm_rss, info.shm_swp,
                      info.swap_attempts, info.swap_successes))
        return
    out.write(_SHM_HEADERS.get(fmt) or _shm_default_header(unit))
    for shmid, ds in objects("shm"):
        out.write(shm_row(fmt, unit, shmid, ds))


def shm_limits(lim: Any, unit: int, pgsz: int, shmmin: int) -> str:
    """do_shm()'s LIMITS page: kbytes by default; the total is shmall pages,
    with ipcs's overflow guard. ``pgsz`` is uipc's page size (the unit of
    shmall), where util-linux takes getpagesize()."""
    text = "------ Shared Memory Limits --------\n"
    text += "max number of segments = %d\n" % lim.shmmni
    text += F.print_size(F.IPC_UNIT_KB if unit == F.IPC_UNIT_DEFAULT else unit,
                         "max seg size", lim.shmmax, "\n", 0)
    if unit in (F.IPC_UNIT_KB, F.IPC_UNIT_DEFAULT):
        total = F.u64_mul_saturating(lim.shmall, pgsz // 1024)
        text += F.print_size(F.IPC_UNIT_DEFAULT, "max total shared memory (kbytes)", total, "\n", 0)
    else:
        total = F.u64_mul_saturating(lim.shmall, pgsz)
        text += F.print_size(unit, "max total shared memory", total, "\n", 0)
    text += F.print_size(F.IPC_UNIT_BYTES if unit == F.IPC_UNIT_DEFAULT else unit,
                         "min seg size", shmmin, "\n", 0)
    return text


_SHM_HEADERS = {
    CREATOR: "------ Shared Memory Segment Creators/Owners --------\n"
             + "%-10s %-10s %-10s %-10s %-10s %-10s\n" % ("shmid", "perms", "cuid", "cgid", "uid", "gid"),
    TIME: "------ Shared Memory Attach/Detach/Change Times --------\n"
          + "%-10s %-10s %-20s %-20s %-20s\n" % ("shmid", "owner", "attached", "detached", "changed"),
    PID: "------ Shared Memory Creator/Last-op PIDs --------\n"
         + "%-10s %-10s %-10s %-10s\n" % ("shmid", "owner", "cpid", "lpid"),
}


def _shm_default_header(unit: int) -> str:
    return ("------ Shared Memory Segments --------\n"
            + "%-10s %-10s %-10s %-10s %-10s %-10s %-12s\n" % (
                "key", "shmid", "owner", "perms",
                "size" if unit == F.IPC_UNIT_HUMAN else "bytes", "nattch", "status"))


def shm_row(fmt: int, unit: int, shmid: int, ds: Any) -> str:
    """One segment's line of do_shm()."""
    perm = ds.shm_perm
    if fmt == CREATOR:
        return perm_row(shmid, perm)
    if fmt == TIME:
        return (owner_id_cols(shmid, perm.uid, 10)
                + " %-20.16s" % F.ctime_short(ds.shm_atime)
                + " %-20.16s" % F.ctime_short(ds.shm_dtime)
                + " %-20.16s\n" % F.ctime_short(ds.shm_ctime))
    if fmt == PID:
        return owner_id_cols(shmid, perm.uid, 10) + " %-10u %-10u\n" % (
            u32(ds.shm_cpid), u32(ds.shm_lpid))
    line = "0x%08x " % u32(perm.key) + owner_id_cols(shmid, perm.uid, 10)
    line += " %-10o " % (perm.mode & 0o777)
    if unit == F.IPC_UNIT_HUMAN:
        line += F.print_size(unit, None, ds.shm_segsz, "    ", 6)
    else:
        line += F.print_size(unit, None, ds.shm_segsz, None, -10)
    return line + " %-10d %-6s %-6s\n" % (
        ds.shm_nattch, "dest" if perm.mode & uipc.SHM_DEST else " ",
        "locked" if perm.mode & uipc.SHM_LOCKED else " ")


def do_sem(out: Output, fmt: int) -> None:
    """do_sem()."""
    if fmt == LIMITS:
        try:
            _, lim = uipc.semctl(0, 0, uipc.IPC_INFO)
        except ConnectionError:
            raise
        except OSError:
            out.write("unable to fetch semaphore limits\n")
            return
        out.write("------ Semaphore Limits --------\n"
                  "max number of arrays = %d\n"
                  "max semaphores per array = %d\n"
                  "max semaphores system wide = %d\n"
                  "max ops per semop call = %d\n"
                  "semaphore max value = %u\n" % (
                      lim.semmni, lim.semmsl, lim.semmns, lim.semopm, uipc.SEMVMX))
        return
    if fmt == STATUS:
        try:
            _, info = uipc.semctl(0, 0, uipc.SEM_INFO)
        except ConnectionError:
            raise
        except OSError:
            out.write("kernel not configured for semaphores\n")
            return
        out.write("------ Semaphore Status --------\n"
                  "used arrays = %d\n"
                  "allocated semaphores = %d\n" % (info.semusz, info.semaem))
        return
    out.write(_SEM_HEADERS[fmt])
    for semid, ds in objects("sem"):
        out.write(sem_row(fmt, semid, ds))


_SEM_HEADERS = {
    CREATOR: "------ Semaphore Arrays Creators/Owners --------\n"
             + "%-10s %-10s %-10s %-10s %-10s %-10s\n" % ("semid", "perms", "cuid", "cgid", "uid", "gid"),
    TIME: "------ Semaphore Operation/Change Times --------\n"
          + "%-8s %-10s %-26.24s %-26.24s\n" % ("semid", "owner", "last-op", "last-changed"),
    PID: "",  # ipcs prints nothing for semaphores with -p
    NOTSPECIFIED: "------ Semaphore Arrays --------\n"
                  + "%-10s %-10s %-10s %-10s %-10s\n" % ("key", "semid", "owner", "perms", "nsems"),
}


def sem_row(fmt: int, semid: int, ds: Any) -> str:
    """One set's line of do_sem()."""
    perm = ds.sem_perm
    if fmt == CREATOR:
        return perm_row(semid, perm)
    if fmt == TIME:
        return (owner_id_cols(semid, perm.uid, 8)
                + "  %-26.24s" % F.ctime_or_not_set(ds.sem_otime)
                + " %-26.24s\n" % F.ctime_or_not_set(ds.sem_ctime))
    if fmt == PID:
        return ""
    return ("0x%08x " % u32(perm.key) + owner_id_cols(semid, perm.uid, 10)
            + " %-10o %-10d\n" % (perm.mode & 0o777, ds.sem_nsems))


# --- -i: the detail pages ---------------------------------------------------------------

def print_msg(out: Output, ident: int, unit: int) -> None:
    """print_msg()."""
    found = find("msg", ident)
    if found is None:
        warnx(f"id {ident} not found")
        return
    _, ds = found
    qbytes = 0  # the /proc path reads it with IPC_STAT, for a real id only
    if ident > -1:
        try:
            qbytes = uipc.msgctl(ident, uipc.IPC_STAT).msg_qbytes
        except ConnectionError:
            raise
        except OSError:
            pass
    p = ds.msg_perm
    out.write("\nMessage Queue msqid=%d\n" % ident)
    out.write("uid=%u\tgid=%u\tcuid=%u\tcgid=%u\tmode=%s\n" % (
        u32(p.uid), u32(p.gid), u32(p.cuid), u32(p.cgid), alt_octal(p.mode)))
    human = unit == F.IPC_UNIT_HUMAN
    out.write(F.print_size(unit, "csize=" if human else "cbytes=", ds.msg_cbytes, "\t", 0))
    out.write(F.print_size(unit, "qsize=" if human else "qbytes=", qbytes, "\t", 0))
    out.write("qnum=%d\tlspid=%d\tlrpid=%d\n" % (ds.msg_qnum, ds.msg_lspid, ds.msg_lrpid))
    out.write("send_time=%-26.24s\n" % F.ctime_or_not_set(ds.msg_stime))
    out.write("rcv_time=%-26.24s\n" % F.ctime_or_not_set(ds.msg_rtime))
    out.write("change_time=%-26.24s\n" % F.ctime_or_not_set(ds.msg_ctime))
    out.write("\n")


def print_shm(out: Output, ident: int, unit: int) -> None:
    """print_shm()."""
    found = find("shm", ident)
    if found is None:
        warnx(f"id {ident} not found")
        return
    _, ds = found
    p = ds.shm_perm
    out.write("\nShared memory Segment shmid=%d\n" % ident)
    out.write("uid=%u\tgid=%u\tcuid=%u\tcgid=%u\n" % (
        u32(p.uid), u32(p.gid), u32(p.cuid), u32(p.cgid)))
    out.write("mode=%s\taccess_perms=%s\n" % (alt_octal(p.mode), alt_octal(p.mode & 0o777)))
    out.write(F.print_size(unit, "size=" if unit == F.IPC_UNIT_HUMAN else "bytes=",
                           ds.shm_segsz, "\t", 0))
    out.write("lpid=%u\tcpid=%u\tnattch=%d\n" % (u32(ds.shm_lpid), u32(ds.shm_cpid), ds.shm_nattch))
    out.write("att_time=%-26.24s\n" % F.ctime_or_not_set(ds.shm_atime))
    out.write("det_time=%-26.24s\n" % F.ctime_or_not_set(ds.shm_dtime))
    out.write("change_time=%-26.24s\n" % ctime(ds.shm_ctime))
    out.write("\n")


def print_sem(out: Output, ident: int) -> None:
    """print_sem()."""
    found = find("sem", ident)
    if found is None:
        warnx(f"id {ident} not found")
        return
    semid, ds = found
    elements = sem_elements(semid, ds.sem_nsems)
    p = ds.sem_perm
    out.write("\nSemaphore Array semid=%d\n" % ident)
    out.write("uid=%u\t gid=%u\t cuid=%u\t cgid=%u\n" % (
        u32(p.uid), u32(p.gid), u32(p.cuid), u32(p.cgid)))
    out.write("mode=%s, access_perms=%s\n" % (alt_octal(p.mode), alt_octal(p.mode & 0o777)))
    out.write("nsems = %d\n" % ds.sem_nsems)
    out.write("otime = %-26.24s\n" % F.ctime_or_not_set(ds.sem_otime))
    out.write("ctime = %-26.24s\n" % ctime(ds.sem_ctime))
    out.write("%-10s %-10s %-10s %-10s %-10s\n" % ("semnum", "value", "ncount", "zcount", "pid"))
    for num, e in enumerate(elements):
        out.write("%-10d %-10d %-10d %-10d %-10d\n" % (num, e.semval, e.ncount, e.zcount, e.pid))
    out.write("\n")


# --- main ----------------------------------------------------------------------------

def run(opts: Options, out: Output) -> None:
    """ipcs.c main() after the options: one detail page, or the sections."""
    if opts.specific and opts.msg + opts.shm + opts.sem != 1:
        TOOL.errx("when using an ID, a single resource must be specified")
    attach(PROG, opts.namespace)
    if opts.specific:
        if opts.msg:
            print_msg(out, opts.ident, opts.unit)
        if opts.shm:
            print_shm(out, opts.ident, opts.unit)
        if opts.sem:
            print_sem(out, opts.ident)
        return
    if not (opts.msg or opts.shm or opts.sem):
        opts.msg = opts.shm = opts.sem = True
    out.write("\n")
    if opts.msg:
        do_msg(out, opts.format, opts.unit)
        out.write("\n")
    if opts.shm:
        do_shm(out, opts.format, opts.unit)
        out.write("\n")
    if opts.sem:
        do_sem(out, opts.format)
        out.write("\n")


def main(argv: list[str] | None = None) -> int:
    """`uipc ipcs [options]`: returns util-linux's exit status."""
    args = sys.argv[1:] if argv is None else list(argv)
    setlocale_all()  # the decimal point of --human sizes
    out = Output()
    status = 0
    try:
        run(parse_args(args, out), out)
    except Fatal as exc:
        warnx(str(exc))
        status = 1
    except OSError as exc:  # the daemon went away, or refused the namespace
        warnx(exc.strerror or str(exc))
        status = 1
    except SystemExit as exc:  # -h, -V, errx(); attach(): no daemon, no such namespace
        status = int(exc.code or 0)
    return _close_stdout(out, status)


def _close_stdout(out: Output, status: int) -> int:
    """close_stdout(): write what is buffered; a failure is 'write error'
    and status 1, except EPIPE (the reader left: nothing to say)."""
    try:
        out.flush_to(sys.stdout)
    except BrokenPipeError:
        # what Python would still flush at exit goes nowhere, quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except OSError as exc:
        warnx(f"write error: {strerror_of(exc)}")
        return 1
    return status
