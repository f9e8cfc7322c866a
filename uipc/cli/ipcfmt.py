"""What util-linux's IPC tools (ipcs, lsipc) print values with, in Python.

The IPC side of sys-utils/ipcutils.c and of the tools' own printing:
user and group names with the numeric fallback (getpwuid/getgrgid),
ipcs's owner and group columns and ipc_print_perms(), ipc_print_size(),
the times ("Not set", ctime's short form, lsipc's make_time()), and the
cells lsipc computes (PERMS, STATUS, USE%).  The C library and lib/strutils.c
underneath are uipc.cli.libc and uipc.cli.strutils.
"""
from __future__ import annotations

import grp
import pwd
import time
from functools import lru_cache

from uipc import SHM_DEST, SHM_HUGETLB, SHM_LOCKED, SHM_NORESERVE
from uipc.cli.libc import UINTMAX_MAX, alt_octal, cstr, ctime, decimal_point, u32
from uipc.cli.strutils import SIZE_SUFFIX_1LETTER, size_to_human_string, xstrmode
from uipc.cli.timeutils import strtime_iso, strtime_short

# sys-utils/ipcutils.h: how ipcs prints sizes
IPC_UNIT_DEFAULT = 0
IPC_UNIT_BYTES = 1
IPC_UNIT_KB = 2
IPC_UNIT_HUMAN = 3

# lsipc.c's time formats (--time-format)
TIME_SHORT, TIME_FULL, TIME_ISO = 1, 2, 3

NOT_SET = "Not set"


# --- users and groups ------------------------------------------------------------

@lru_cache(maxsize=None)
def user_name(uid: int) -> str | None:
    """getpwuid(uid)->pw_name, or None when there is no passwd entry."""
    try:
        return pwd.getpwuid(uid).pw_name
    except (KeyError, OverflowError):
        return None


@lru_cache(maxsize=None)
def group_name(gid: int) -> str | None:
    """getgrgid(gid)->gr_name, or None when there is no group entry."""
    try:
        return grp.getgrgid(gid).gr_name
    except (KeyError, OverflowError):
        return None


def owner_field(uid: int, width: int = -10, precision: int | None = 10) -> str:
    """ipcs's owner column: ``%-10.10s`` of the user name, else ``%-10u``."""
    name = user_name(uid)
    if name is None:
        return "%*u" % (width, u32(uid))
    return cstr(name, width, precision)


def group_field(gid: int, width: int = -10) -> str:
    """ipc_print_perms' group column: ``%-10s`` of the group name, else ``%-10u``."""
    name = group_name(gid)
    return "%*u" % (width, u32(gid)) if name is None else cstr(name, width)


def perms_line(ident: int, mode: int, cuid: int, cgid: int, uid: int, gid: int) -> str:
    """ipc_print_perms(): the -c row (names are not truncated there)."""
    return "%-10d %-10o %s %s %s %s\n" % (
        ident, mode & 0o777, owner_field(cuid, -10, None), group_field(cgid),
        owner_field(uid, -10, None), group_field(gid))


# --- times -----------------------------------------------------------------------

def ctime_or_not_set(t: int) -> str:
    """``t ? ctime(&t) : "Not set"``, as every ipcs time column does."""
    return ctime(t) if t else NOT_SET


def ctime_short(t: int) -> str:
    """``%.16s`` of ``ctime(&t) + 4``: 'Jun 30 21:49:08 ', or 'Not set'."""
    return ctime(t)[4:20] if t else NOT_SET


class Clock:
    """lsipc.c make_time(): one 'now' for the whole run, as its static timeval."""

    def __init__(self, mode: int) -> None:
        self.mode = mode
        self.now: float | None = None

    def __call__(self, t: int) -> str:
        if self.mode == TIME_FULL:
            return ctime(t)
        tm = time.localtime(t)
        if self.mode == TIME_ISO:
            return strtime_iso(tm)
        if self.now is None:
            self.now = time.time()
        return strtime_short(tm, time.localtime(self.now))


# --- sizes -----------------------------------------------------------------------

def print_size(unit: int, msg: str | None, size: int, end: str | None, width: int) -> str:
    """sys-utils/ipcutils.c ipc_print_size(): an optional 'msg = ' (with the
    unit in parentheses for bytes and kbytes; a msg ending in '=' as is), the
    size in ``%{width}ju`` or human form, then ``end``."""
    out = ""
    if msg is None:
        pass
    elif msg.endswith("="):
        out += msg
    elif unit == IPC_UNIT_BYTES:
        out += "%s (bytes) = " % msg
    elif unit == IPC_UNIT_KB:
        out += "%s (kbytes) = " % msg
    else:
        out += "%s = " % msg
    size &= UINTMAX_MAX
    if unit in (IPC_UNIT_DEFAULT, IPC_UNIT_BYTES):
        out += "%*d" % (width, size)
    elif unit == IPC_UNIT_KB:
        out += "%*d" % (width, size // 1024)
    elif unit == IPC_UNIT_HUMAN:
        out += "%*s" % (width, size_to_human_string(size, SIZE_SUFFIX_1LETTER))
    else:
        raise ValueError(f"unknown unit {unit}")
    return out + (end or "")


def u64_mul_saturating(a: int, b: int) -> int:
    """``(uint64_t) a * b``, replaced as ipcs does on overflow by the largest
    multiple of ``b`` (``UINT64_MAX - UINT64_MAX % b``)."""
    product = (a * b) & UINTMAX_MAX
    if a != 0 and product // a != b:
        product = UINTMAX_MAX - (UINTMAX_MAX % b)
    return product


# --- lsipc's computed cells ----------------------------------------------------------

def perms(mode: int, numeric: bool) -> str:
    """lsipc's PERMS column: ``%#o`` of ``mode & 0777`` with -P, else xstrmode()'s rw-r--r--."""
    return alt_octal(mode & 0o777) if numeric else xstrmode(mode & 0o777)


def shm_status(mode: int) -> str:
    """lsipc's STATUS column, with 2.38's commas (only "dest" sets one)."""
    out, comma = "", False
    if mode & SHM_DEST:
        out, comma = "dest", True
    for bit, word in ((SHM_LOCKED, "locked"), (SHM_HUGETLB, "hugetlb"),
                      (SHM_NORESERVE, "noreserve")):
        if mode & bit:
            out += ("," if comma else "") + word
    return out


def use_percent(used: int, limit: int) -> str:
    """lsipc's USE%: printf("%2.2f%%", (double) used / limit * 100), a zero limit included."""
    if limit == 0:
        text = "inf" if used else "-nan"
    else:
        text = "%2.2f" % (float(used) / float(limit) * 100)
    return text.replace(".", decimal_point()) + "%"
