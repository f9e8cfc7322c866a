"""What util-linux's IPC tools (ipcs, lsipc) print values with, in Python.

Each helper names the C it mirrors: ``lib/strutils.c`` size_to_human_string,
``sys-utils/ipcutils.c`` ipc_print_size and ipc_print_perms, ctime(3),
getpwuid(3)/getgrgid(3) with the numeric fallback, printf's ``%#o`` and
``%-10.10s`` (which count *bytes*, not characters), and glibc's
getopt_long(3) with its exact messages.

Text is kept as ``str`` decoded with surrogateescape (as Python decodes
passwd names), so ``encode_out`` gives back the exact bytes C would write.
"""
from __future__ import annotations

import grp
import locale
import pwd
import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable, Sequence

UINT64_MAX = (1 << 64) - 1

# lib/strutils.h: size_to_human_string() options
SIZE_SUFFIX_1LETTER = 0
SIZE_SUFFIX_3LETTER = 1 << 0
SIZE_SUFFIX_SPACE = 1 << 1
SIZE_DECIMAL_2DIGITS = 1 << 2

# sys-utils/ipcutils.h: how ipcs prints sizes
IPC_UNIT_DEFAULT = 0
IPC_UNIT_BYTES = 1
IPC_UNIT_KB = 2
IPC_UNIT_HUMAN = 3

NOT_SET = "Not set"


# --- C strings: byte widths ------------------------------------------------------

def to_bytes(text: str) -> bytes:
    """The bytes C has for ``text`` (names come decoded with surrogateescape)."""
    return text.encode("utf-8", "surrogateescape")


def encode_out(text: str) -> bytes:
    """What to write to stdout for ``text``."""
    return to_bytes(text)


def cstr(text: str, width: int = 0, precision: int | None = None) -> str:
    """printf's ``%-{width}.{precision}s`` (``width`` < 0 is left-aligned),
    counting bytes as C does, so a multibyte name pads and truncates the same."""
    raw = to_bytes(text)
    if precision is not None:
        raw = raw[:precision]
    pad = b" " * max(abs(width) - len(raw), 0)
    raw = raw + pad if width < 0 else pad + raw
    return raw.decode("utf-8", "surrogateescape")


def alt_octal(value: int) -> str:
    """printf's ``%#o``: a leading 0 (Python's ``%#o`` gives ``0o``)."""
    return "0" if value == 0 else "0%o" % value


def u32(value: int) -> int:
    """An int as C's ``%u`` (or ``0x%08x``) sees it: modulo 2**32."""
    return value & 0xFFFFFFFF


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

def ctime(t: int) -> str:
    """ctime(3) without its newline: 'Wed Jun 30 21:49:08 1993' in local time
    (C's asctime layout, which Python's asctime shares). A time localtime
    cannot convert is NULL in C, which glibc's printf shows as '(null)'."""
    try:
        return time.asctime(time.localtime(t))
    except (OverflowError, OSError, ValueError):
        return "(null)"


def ctime_or_not_set(t: int) -> str:
    """``t ? ctime(&t) : "Not set"``, as every ipcs time column does."""
    return ctime(t) if t else NOT_SET


def ctime_short(t: int) -> str:
    """``%.16s`` of ``ctime(&t) + 4``: 'Jun 30 21:49:08 ', or 'Not set'."""
    return ctime(t)[4:20] if t else NOT_SET


# --- sizes -----------------------------------------------------------------------

def _get_exp(n: int) -> int:
    """get_exp(): the power of two (0, 10, ... 60) of n's unit."""
    shift = 10
    while shift <= 60:
        if n < (1 << shift):
            break
        shift += 10
    return shift - 10


def decimal_point() -> str:
    """localeconv()->decimal_point ("." when the locale has none)."""
    try:
        return locale.localeconv()["decimal_point"] or "."
    except (locale.Error, KeyError):
        return "."


def size_to_human_string(size: int, options: int = SIZE_SUFFIX_1LETTER) -> str:
    """lib/strutils.c size_to_human_string(): 9.8K, 16E, 5B, 1.5 KiB..."""
    size &= UINT64_MAX
    suffix = " " if options & SIZE_SUFFIX_SPACE else ""
    exp = _get_exp(size)
    letter = "BKMGTPE"[exp // 10 if exp else 0]
    dec = size >> exp if exp else size
    frac = size & ((1 << exp) - 1) if exp else 0
    suffix += letter
    if options & SIZE_SUFFIX_3LETTER and letter != "B":
        suffix += "iB"
    if frac:
        # three digits after the decimal point, as uint64 arithmetic does
        if frac >= UINT64_MAX // 1000:
            frac = ((frac // 1024) * 1000) // (1 << (exp - 10))
        else:
            frac = (frac * 1000) // (1 << exp)
        if options & SIZE_DECIMAL_2DIGITS:
            frac = (frac + 5) // 10
        else:
            frac = ((frac + 50) // 100) * 10
        if frac == 100:  # rounding overflowed
            dec += 1
            frac = 0
    if frac:
        text = "%d%s%02d" % (dec, decimal_point(), frac)
        if text.endswith("0"):  # the extraneous zero
            text = text[:-1]
        return text + suffix
    return "%d%s" % (dec, suffix)


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
    size &= UINT64_MAX
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
    product = (a * b) & UINT64_MAX
    if a != 0 and product // a != b:
        product = UINT64_MAX - (UINT64_MAX % b)
    return product


# --- numbers from the command line -------------------------------------------------

class ParseError(Exception):
    """A number util-linux's str2num_or_err() refuses; ``erange`` adds strerror(ERANGE)."""

    def __init__(self, erange: bool) -> None:
        super().__init__("Numerical result out of range" if erange else "")
        self.erange = erange


def strtos32(text: str) -> int:
    """strtos32_or_err()'s parse: strtoimax base 10 (leading blanks and a
    sign allowed, the whole string a number), then the int32 range."""
    import re
    m = re.match(r"[ \t\n\v\f\r]*([+-]?[0-9]+)", text)
    if not m:
        raise ParseError(False)  # nothing parsed: errno stays 0
    value = int(m.group(1))
    if not -(1 << 63) <= value < (1 << 63):
        raise ParseError(True)  # strtoimax's ERANGE, even with junk after it
    if m.end() != len(text):
        raise ParseError(False)
    if not -(1 << 31) <= value < (1 << 31):
        raise ParseError(True)
    return value


# --- glibc getopt_long -------------------------------------------------------------

NO_ARGUMENT = 0
REQUIRED_ARGUMENT = 1


@dataclass(frozen=True)
class LongOption:
    """struct option: a name, whether it takes an argument, the value it returns."""
    name: str
    has_arg: int
    val: str


class GetoptError(Exception):
    """getopt_long returned '?': the message glibc printed (without a newline)."""


def getopt_long(prog: str, argv: Sequence[str], shortopts: str, longopts: Sequence[LongOption],
                on_option: Callable[[str, str | None], None], posixly_correct: bool = False) -> list[str]:
    """glibc getopt_long(3) over ``argv`` (without the program name): calls
    ``on_option(val, optarg)`` for each option in order (so -h or -V can stop
    there, as in C) and returns the non-options. Permutes unless
    ``posixly_correct``; ``--`` ends the options; long options may be
    abbreviated to a unique prefix. Raises GetoptError with glibc's message."""
    rest: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        i += 1
        if arg == "--":
            rest.extend(argv[i:])
            break
        if arg.startswith("--"):
            i = _long_option(prog, arg, argv, i, longopts, on_option)
        elif arg.startswith("-") and arg != "-":
            i = _short_options(prog, arg, argv, i, shortopts, on_option)
        elif posixly_correct:
            rest.extend(argv[i - 1:])
            break
        else:
            rest.append(arg)
    return rest


def _long_option(prog: str, arg: str, argv: Sequence[str], i: int, longopts: Sequence[LongOption],
                 on_option: Callable[[str, str | None], None]) -> int:
    """process_long_option(): an exact name wins, else a unique prefix."""
    body = arg[2:]
    name, eq, value = body.partition("=")
    exact = [o for o in longopts if o.name == name]
    found = exact or [o for o in longopts if o.name.startswith(name)]
    if not found:
        raise GetoptError(f"{prog}: unrecognized option '--{body}'")
    if len(found) > 1:
        choices = "".join(f" '--{o.name}'" for o in found)
        raise GetoptError(f"{prog}: option '--{body}' is ambiguous; possibilities:{choices}")
    opt = found[0]
    if opt.has_arg == NO_ARGUMENT:
        if eq:
            raise GetoptError(f"{prog}: option '--{opt.name}' doesn't allow an argument")
        on_option(opt.val, None)
        return i
    if not eq:
        if i >= len(argv):
            raise GetoptError(f"{prog}: option '--{opt.name}' requires an argument")
        value, i = argv[i], i + 1
    on_option(opt.val, value)
    return i


def _short_options(prog: str, arg: str, argv: Sequence[str], i: int, shortopts: str,
                   on_option: Callable[[str, str | None], None]) -> int:
    """A cluster of short options (-qi0); an option's argument is the rest
    of the cluster or the next word."""
    j = 1
    while j < len(arg):
        c = arg[j]
        j += 1
        pos = shortopts.find(c)
        if c == ":" or pos < 0:
            raise GetoptError(f"{prog}: invalid option -- '{c}'")
        if shortopts[pos + 1:pos + 2] == ":":
            if j < len(arg):
                value = arg[j:]
            elif i < len(argv):
                value, i = argv[i], i + 1
            else:
                raise GetoptError(f"{prog}: option requires an argument -- '{c}'")
            on_option(c, value)
            return i
        on_option(c, None)
    return i
