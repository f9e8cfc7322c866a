"""ipc/ipc_sysctl.c and ipc/mq_sysctl.c: per-namespace IPC limits.

One table of every IPC sysctl with Linux's name, the namespace field it
controls, its accepted range and the proc handler that parses a write
(``proc_dointvec[_minmax]``, ``proc_doulongvec_minmax``, ``do_proc_douintvec``).
A write is parsed byte for byte as kernel/sysctl.c parses it
(:func:`parse_write`): numbers in base 0 ("0x10" is 16, "010" is 8), only
white space before them, only a space, tab or newline after them; a number
that does not parse, or lies outside the range, is EINVAL.  A scalar changes
only on success.  ``kernel.sem`` is a vector of four (proc_ipc_sem_dointvec):
the numbers parsed before a bad one stay set, and a semmni outside
[0, IPCMNI] is ERANGE with semmni put back.

Who may write: as ``ipc_permissions()`` makes the files of an IPC
namespace's sysctl set belong to the root of the user namespace that owns
it, a uipc namespace's limits may be set by its creator's uid and by root;
the per-uid quotas (``uipc.quota.*``, global to the daemon) by root only
(and by the user a per-user daemon serves).
Anyone may read them.
"""
from __future__ import annotations

import errno
from dataclasses import dataclass
from typing import Any

from uipc.kernel.errors import KernelError
from uipc.kernel.namespace import IpcNamespace
from uipc.kernel.pipe import pipe_ns
from uipc.kernel.quota import QUOTA_NAMES
from uipc.kernel.entry import syscall
from uipc.kernel.task import Cred, Task
from uipc.uapi.ipc import IPCMNI

INT_MAX = 0x7FFFFFFF
UINT_MAX = 0xFFFFFFFF
ULONG_MAX = 0xFFFFFFFFFFFFFFFF
HARD_MSGMAX = 65536
HARD_MSGSIZEMAX = 16 * 1024 * 1024


#: the proc handlers' parsers (kernel/sysctl.c): proc_dointvec[_minmax] (int),
#: do_proc_douintvec (unsigned int: one number, the whole write consumed),
#: proc_doulongvec_minmax (unsigned long)
INT, UINT, ULONG = "int", "uint", "ulong"


@dataclass(frozen=True)
class Sysctl:
    name: str
    #: attribute of IpcNamespace, or "ids.<kind>" for the *_next_id entries
    field: str
    lo: int
    hi: int
    #: which proc handler parses a write: INT, UINT or ULONG
    kind: str = INT
    #: numbers one write may set (table->maxlen / sizeof(int)): 4 for kernel.sem
    count: int = 1


SYSCTLS: tuple[Sysctl, ...] = (
    Sysctl("kernel.msgmax", "msg_ctlmax", 0, INT_MAX),
    Sysctl("kernel.msgmnb", "msg_ctlmnb", 0, INT_MAX),
    Sysctl("kernel.msgmni", "msg_ctlmni", 0, IPCMNI),
    Sysctl("kernel.sem", "sem_ctls", -(1 << 31), INT_MAX, count=4),  # proc_dointvec: any int
    Sysctl("kernel.shmmax", "shm_ctlmax", 0, ULONG_MAX, ULONG),
    Sysctl("kernel.shmall", "shm_ctlall", 0, ULONG_MAX, ULONG),
    Sysctl("kernel.shmmni", "shm_ctlmni", 0, IPCMNI),
    Sysctl("kernel.shm_rmid_forced", "shm_rmid_forced", 0, 1),
    Sysctl("kernel.msg_next_id", "ids.msg", 0, INT_MAX),
    Sysctl("kernel.sem_next_id", "ids.sem", 0, INT_MAX),
    Sysctl("kernel.shm_next_id", "ids.shm", 0, INT_MAX),
    Sysctl("fs.mqueue.queues_max", "mq_queues_max", -(1 << 31), INT_MAX),  # proc_dointvec: any int
    Sysctl("fs.mqueue.msg_max", "mq_msg_max", 1, HARD_MSGMAX),
    Sysctl("fs.mqueue.msgsize_max", "mq_msgsize_max", 128, HARD_MSGSIZEMAX),
    Sysctl("fs.mqueue.msg_default", "mq_msg_default", 1, HARD_MSGMAX),
    Sysctl("fs.mqueue.msgsize_default", "mq_msgsize_default", 128, HARD_MSGSIZEMAX),
    # fs/pipe.c's, kept per namespace (uipc/kernel/pipe.py); pipe-max-size is
    # rounded to a power-of-two number of pages as F_SETPIPE_SZ rounds, EINVAL past 2^31
    Sysctl("fs.pipe-max-size", "pipe.pipe_max_size", 0, UINT_MAX, UINT),  # proc_dopipe_max_size
    Sysctl("fs.pipe-user-pages-hard", "pipe.pipe_user_pages_hard", 0, ULONG_MAX, ULONG),
    Sysctl("fs.pipe-user-pages-soft", "pipe.pipe_user_pages_soft", 0, ULONG_MAX, ULONG),
) + tuple(Sysctl(f"uipc.quota.{q}", f"quota.{q}", 0, (1 << 62), ULONG) for q in QUOTA_NAMES)
BY_NAME = {s.name: s for s in SYSCTLS}


def _lookup(name: str) -> Sysctl:
    key = name.strip().replace("/", ".")
    if key.startswith("proc.sys."):
        key = key[len("proc.sys."):]
    try:
        return BY_NAME[key]
    except KeyError:
        raise KernelError(errno.ENOENT, f"no IPC sysctl named {name!r}; known: "
                          + ", ".join(BY_NAME)) from None


def get(ns: IpcNamespace, name: str) -> str:
    """The value as /proc/sys shows it (kernel.sem tab-separated)."""
    s = _lookup(name)
    if s.field == "sem_ctls":
        return "\t".join(str(v) for v in ns.sem_ctls)
    if s.field.startswith("ids."):
        return str(getattr(ns, s.field[4:] + "_ids").next_id)
    return str(getattr(*_target(ns, s)))


def _target(ns: IpcNamespace, s: Sysctl) -> tuple[object, str]:
    """The object and attribute a sysctl lives in: the namespace, its pipe
    state, or the kernel's quota limits."""
    if s.field.startswith("pipe."):
        return pipe_ns(ns), s.field[5:]
    if s.field.startswith("quota."):
        if ns.quota is None:
            raise KernelError(errno.ENOENT, f"{s.name}: this kernel keeps no quotas")
        return ns.quota.limits, s.field[6:]
    return ns, s.field


# --- parsing a write: kernel/sysctl.c ------------------------------------------------
PAGE_SIZE = 4096
#: proc_get_long's buffer: a number of TMPBUFLEN - 1 characters might go on
TMPBUFLEN = 22
#: lib/ctype.c's isspace(): \t \n \v \f \r, space, and Latin-1's no-break space
_ISSPACE = frozenset(b"\t\n\v\f\r \xa0")
#: proc_wspace_sep: the only bytes that may follow a number
_WSPACE_SEP = frozenset(b" \t\n")
_DIGITS = frozenset(b"0123456789")
_XDIGITS = frozenset(b"0123456789abcdefABCDEF")


@dataclass
class Parsed:
    """What one write(2) of a sysctl did (__do_proc_dointvec's outcome)."""

    #: the numbers stored, in order (before ``error``, if there is one)
    values: list[int]
    #: the bytes write(2) returns as consumed (``*lenp -= left``)
    consumed: int
    #: the write's error; the ``values`` before it are still stored
    error: KernelError | None = None


def _show(data: bytes) -> str:
    """Bytes of a write, quoted for an error message."""
    return repr(data.decode("utf-8", "backslashreplace"))


def _skip_spaces(buf: bytes, pos: int, end: int) -> int:
    """proc_skip_spaces(): past isspace() bytes."""
    while pos < end and buf[pos] in _ISSPACE:
        pos += 1
    return pos


def _digit(c: int) -> int:
    """_parse_integer's digit value of byte ``c`` (0-9, a-f, A-F); 99 for
    any other byte, which ends the number in every base."""
    if c in _DIGITS:
        return c - ord("0")
    lc = c | 0x20  # _tolower
    return lc - ord("a") + 10 if ord("a") <= lc <= ord("f") else 99


def _strtoul(tmp: bytes, p: int) -> tuple[int, int, bool]:
    """strtoul_lenient(tmp + p, base 0): _parse_integer_fixup_radix ("0x"
    and a hex digit: 16; a leading 0: 8; else 10), then _parse_integer's
    digits.  Returns (value, end, overflowed past 64 bits)."""
    def at(i: int) -> int:  # in C, tmp ends in a NUL
        return tmp[i] if i < len(tmp) else 0
    base = 10
    if at(p) == ord("0"):
        base = 8
        if at(p + 1) | 0x20 == ord("x") and at(p + 2) in _XDIGITS:
            base, p = 16, p + 2
    value, overflow = 0, False
    while p < len(tmp):
        digit = _digit(tmp[p])
        if digit >= base:
            break
        value = value * base + digit
        overflow |= value > ULONG_MAX
        p += 1
    return value, p, overflow


def proc_get_long(name: str, buf: bytes, pos: int, end: int) -> tuple[int, bool, int]:
    """proc_get_long() with proc_wspace_sep as the permitted trailers: an
    optional '-', a digit, a base-0 number that fits an unsigned long, shorter
    than TMPBUFLEN - 1 characters, then the end or a space, tab or newline.
    Returns (magnitude, negative, position after it); EINVAL otherwise."""
    size = end - pos
    tmp = buf[pos:pos + min(size, TMPBUFLEN - 1)]
    neg = tmp[:1] == b"-" and size > 1
    p = 1 if neg else 0
    if p >= len(tmp) or tmp[p] not in _DIGITS:
        raise KernelError(errno.EINVAL, f"{name}: {_show(tmp[:8])} is not a number (proc_get_long: "
                                        f"an optional '-', then a digit; no '+')")
    value, p, overflow = _strtoul(tmp, p)
    if overflow:
        raise KernelError(errno.EINVAL, f"{name}: {_show(tmp[:p])} does not fit an unsigned long")
    if p == TMPBUFLEN - 1:
        raise KernelError(errno.EINVAL, f"{name}: a number of {TMPBUFLEN - 1} characters or more "
                                        f"(proc_get_long's TMPBUFLEN)")
    if p < size and tmp[p] not in _WSPACE_SEP:
        raise KernelError(errno.EINVAL, f"{name}: {_show(tmp[:p])} is followed by {_show(tmp[p:p + 1])}; "
                                        f"only a space, tab or newline may follow a number (proc_wspace_sep)")
    return value, neg, pos + p


def _convert(s: Sysctl, value: int, neg: bool) -> int:
    """The handler's conv and range check: do_proc_dointvec_minmax_conv (an
    int), do_proc_douintvec_conv or proc_doulongvec_minmax (no sign, not
    even "-0"); EINVAL outside [lo, hi]."""
    if s.kind == INT:
        if value > INT_MAX + neg:
            raise KernelError(errno.EINVAL, f"{s.name}: {'-' * neg}{value} does not fit an int")
        value = -value if neg else value
    elif neg:
        raise KernelError(errno.EINVAL, f"{s.name}: a negative number for an unsigned sysctl")
    elif s.kind == UINT and value > UINT_MAX:
        raise KernelError(errno.EINVAL, f"{s.name}: {value} does not fit an unsigned int")
    if not s.lo <= value <= s.hi:
        raise KernelError(errno.EINVAL, f"{s.name}: {value} is outside [{s.lo}, {s.hi}]")
    return value


def parse_write(s: Sysctl, data: bytes) -> Parsed:
    """One write(2) of ``data`` at position 0, parsed as the sysctl's proc
    handler parses it: __do_proc_dointvec / __do_proc_doulongvec_minmax (up
    to ``s.count`` numbers, white space before each; what follows the last
    one is left unconsumed; only the first PAGE_SIZE - 1 bytes are read), or
    do_proc_douintvec_w (one number; the whole write consumed).  An empty
    write does nothing; one with no number is EINVAL."""
    count = len(data)
    if not count:
        return Parsed([], 0)
    end = min(count, PAGE_SIZE - 1)
    pos, values = 0, []
    try:
        while pos < end and len(values) < s.count:
            pos = _skip_spaces(data, pos, end)
            if pos == end:
                break
            value, neg, pos = proc_get_long(s.name, data, pos, end)
            values.append(_convert(s, value, neg))
    except KernelError as exc:
        if s.kind == UINT:  # do_proc_douintvec_w: all or nothing
            return Parsed([], 0, exc)
        return Parsed(values, count - (end - pos), exc)
    if not values:
        return Parsed([], 0, KernelError(errno.EINVAL, f"{s.name}: no number in {_show(data[:16])}"))
    pos = _skip_spaces(data, pos, end)
    return Parsed(values, count if s.kind == UINT else count - (end - pos))


def _encode(value: str | int | bytes) -> bytes:
    """The bytes written: a str as the client sent it (UTF-8; surrogateescape
    keeps bytes that were not UTF-8)."""
    if isinstance(value, bytes):
        return value
    return str(value).encode("utf-8", "surrogateescape")


def set(ns: IpcNamespace, name: str, value: str | int | bytes) -> int:  # noqa: A001 - sysctl's verb
    """Write a sysctl as write(2) of ``value`` to its /proc/sys file does;
    returns the bytes the kernel would consume.  Raises the write's error
    (EINVAL, or ERANGE for kernel.sem's semmni) after storing what Linux
    stores before it."""
    s = _lookup(name)
    parsed = parse_write(s, _encode(value))
    if s.field == "sem_ctls":
        _store_sem(ns, parsed)
    elif parsed.values:
        _store(ns, s, parsed.values[0])
    if parsed.error is not None:
        raise parsed.error
    return parsed.consumed


def _store_sem(ns: IpcNamespace, parsed: Parsed) -> None:
    """proc_ipc_sem_dointvec(): proc_dointvec stores each number as it goes;
    then sem_check_semmni: semmni outside [0, ipc_mni] is ERANGE, and on any
    error semmni is put back (the others stay)."""
    semmni = ns.sem_ctls[3]
    ns.sem_ctls[:len(parsed.values)] = parsed.values
    if parsed.error is None and not 0 <= ns.sem_ctls[3] <= IPCMNI:
        parsed.error = KernelError(errno.ERANGE, f"kernel.sem: semmni {ns.sem_ctls[3]} is outside "
                                                 f"[0, {IPCMNI}] (sem_check_semmni)")
    if parsed.error is not None:
        ns.sem_ctls[3] = semmni


def _store(ns: IpcNamespace, s: Sysctl, value: int) -> None:
    if s.field.startswith("ids."):
        getattr(ns, s.field[4:] + "_ids").next_id = value
    else:
        setattr(*_target(ns, s), value)


def check_write(ns: IpcNamespace, cred: Cred, name: str) -> None:
    """EACCES unless ``cred`` may write sysctl ``name`` of ``ns``: the /proc/sys
    file is 0644 and belongs to the namespace's owner (ipc_permissions), so
    another uid's open for writing fails as open(2) does."""
    s = _lookup(name)
    euid = cred.euid
    if euid == 0:
        return
    if s.field.startswith("quota."):
        if ns.quota is not None and euid == ns.quota.owner_uid:
            return
        raise KernelError(errno.EACCES, f"{s.name}: quotas may be set by root only")
    if euid != ns.owner_uid:
        raise KernelError(errno.EACCES, f"{s.name}: the limits of IPC namespace {ns.name!r} may be "
                          f"set by its creator (uid {ns.owner_uid}) or root, not uid {euid}")


@syscall(13, "sysctl", "write:u8 text:text", result="text",
         doc="Read (write=0) or set (write=1) a sysctl of the caller's namespace. Tail: 'name' or "
             "'name=value' ('-a': every one). Result tail: the value.")
def sys_sysctl(k: Any, task: Task, write: int, text: str) -> str:
    """/proc/sys/kernel/{msg,sem,shm}* and friends, read or written by ``task``."""
    return request(task.ns, task.cred, write, text)


def request(ns: IpcNamespace, cred: Cred, write: int, text: str) -> str:
    """The sysctl op: ``name`` -> its value; ``name=value`` with write=1 sets
    it (if ``cred`` may); ``-a`` -> every value, one ``name = value`` a line."""
    if text == "-a":
        return "\n".join(f"{k} = {v}" for k, v in all_values(ns).items())
    if write:
        name, _, value = text.partition("=")
        check_write(ns, cred, name)
        set(ns, name, value)
        return get(ns, name)
    return get(ns, text)


def all_values(ns: IpcNamespace) -> dict[str, str]:
    return {s.name: get(ns, s.name) for s in SYSCTLS
            if ns.quota is not None or not s.field.startswith("quota.")}
