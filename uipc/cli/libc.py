"""The C library as util-linux's IPC tools see it (glibc on Linux), in Python.

What their output and messages show of it: strtoul/strtoumax/strtoimax
(stdlib/strtol_l.c), strerror(3), ctime(3), C's integer casts, printf's
``%-10.10s`` (which counts *bytes*) and ``%#o``, localeconv()'s decimal
point after setlocale(LC_ALL, ""), the errno setlocale() leaves behind, and
stdio's buffering of stdout.

Text is kept as ``str`` decoded with surrogateescape (as Python decodes
passwd names and argv), so ``to_bytes`` gives back the exact bytes C has.
"""
from __future__ import annotations

import errno as E
import locale
import os
import sys
import time
from dataclasses import dataclass

#: isspace() in the C locale
C_SPACE = " \t\n\v\f\r"
UINTMAX_MAX = (1 << 64) - 1
INTMAX_MIN, INTMAX_MAX = -(1 << 63), (1 << 63) - 1
INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1
_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"


# --- casts -------------------------------------------------------------------------------

def c_int32(value: int) -> int:
    """A C cast to (int) or (key_t): the low 32 bits, two's complement."""
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value > INT32_MAX else value


def u32(value: int) -> int:
    """An int as C's ``%u`` (or ``0x%08x``) sees it: modulo 2**32."""
    return value & 0xFFFFFFFF


# --- strtol(3) ---------------------------------------------------------------------------

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


# --- errno -------------------------------------------------------------------------------

def strerror(errno: int) -> str:
    """glibc's strerror(): os.strerror is the C library's (0 is "Success")."""
    return os.strerror(errno)


def strerror_of(exc: OSError) -> str:
    """err()'s ": strerror(errno)" for a failed call: the errno's text alone,
    without the rule uipc's message adds to it (its own text if no errno)."""
    return os.strerror(exc.errno) if exc.errno else (exc.strerror or str(exc))


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


# --- locale ------------------------------------------------------------------------------

def setlocale_all() -> None:
    """setlocale(LC_ALL, ""), as every util-linux main() starts: month names
    and the decimal point from the environment; all or nothing, as glibc
    changes no category when one of them names a locale it lacks."""
    try:
        locale.setlocale(locale.LC_ALL, "")
    except locale.Error:
        pass


def decimal_point() -> str:
    """localeconv()->decimal_point ("." when the locale has none)."""
    try:
        return locale.localeconv()["decimal_point"] or "."
    except (locale.Error, KeyError):
        return "."


# --- stdio and printf --------------------------------------------------------------------

def c_stdio() -> None:
    """Buffer stdout as C's stdio does (by line on a terminal, else until
    exit; stderr unbuffered), even under PYTHONUNBUFFERED, so that output
    sent to one pipe (2>&1) comes in util-linux's order."""
    reconfigure = getattr(sys.stdout, "reconfigure", None)
    if reconfigure is not None:
        reconfigure(line_buffering=sys.stdout.isatty(), write_through=False)


def to_bytes(text: str) -> bytes:
    """The bytes C has for ``text`` (names come decoded with surrogateescape)."""
    return text.encode("utf-8", "surrogateescape")


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


# --- time --------------------------------------------------------------------------------

def ctime(t: int) -> str:
    """ctime(3) without its newline: 'Wed Jun 30 21:49:08 1993' in local time
    (C's asctime layout, which Python's asctime shares). A time localtime
    cannot convert is NULL in C, which glibc's printf shows as '(null)'."""
    try:
        return time.asctime(time.localtime(t))
    except (OverflowError, OSError, ValueError):
        return "(null)"
