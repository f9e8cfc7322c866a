"""util-linux's lib/strutils.c: its number parsers and its human sizes.

``strtos32_or_err`` (str2num_or_err over strtoimax, then the int32 range),
``strtosize_or_err`` (parse_size: "1K", "0.5MiB", "4KB" ...),
``size_to_human_string`` ("9.8K", "16E", "1.5 KiB"), ``xstrmode``
("rw-r--r--") and ``string_add_to_idarray`` (a "-o A,B" or "+A,B" list
of columns).  The *_or_err functions end the program as the C does,
through the ``Tool`` that names it.
"""
from __future__ import annotations

import errno as E
from typing import Callable

from uipc.cli.libc import (
    C_SPACE, INT32_MAX, INT32_MIN, UINTMAX_MAX, c_strtol, decimal_point,
)
from uipc.cli.tool import Tool

# lib/strutils.h: size_to_human_string() options
SIZE_SUFFIX_1LETTER = 0
SIZE_SUFFIX_3LETTER = 1 << 0
SIZE_SUFFIX_SPACE = 1 << 1
SIZE_DECIMAL_2DIGITS = 1 << 2


# --- str2num_or_err ------------------------------------------------------------------------

class NumError(ValueError):
    """A number str2num_or_err() refuses: ``errno`` ERANGE makes it err()
    (with strerror), anything else errx()."""

    def __init__(self, errno: int) -> None:
        super().__init__(errno)
        self.errno = errno


def str2num(s: str, low: int, high: int, base: int = 10) -> int:
    """str2num_or_err()'s parse: strtoimax (leading blanks and a sign
    allowed, the whole string a number; an empty one fails before errno is
    reset, so 0 here), then the [low, high] range with ERANGE."""
    if not s:
        raise NumError(0)
    conv = c_strtol(s, base, signed=True)
    if conv.errno or conv.end != len(s):
        raise NumError(conv.errno)  # strtoimax's ERANGE, even with junk after it
    if not low <= conv.value <= high:
        raise NumError(E.ERANGE)
    return conv.value


def strtos32_or_err(tool: Tool, s: str, message: str) -> int:
    """strtos32_or_err(): an int32, or "message: 's'" (": strerror" for ERANGE) and exit 1."""
    try:
        return str2num(s, INT32_MIN, INT32_MAX)
    except NumError as exc:
        if exc.errno == E.ERANGE:
            tool.err(f"{message}: '{s}'", exc.errno)
        tool.errx(f"{message}: '{s}'")


# --- parse_size ---------------------------------------------------------------------------

_SUFFIXES, _SUFFIXES_LOWER = "KMGTPEZY", "kmgtpezy"


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
    frac, frac_zeros, base, dp = 0, 0, 1024, decimal_point()
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


def strtosize_or_err(tool: Tool, s: str, message: str) -> int:
    """strtosize_or_err(): parse_size always leaves errno, so err() it is."""
    value, errno = parse_size(s)
    if errno:
        tool.err(f"{message}: '{s}'", errno)
    return value


# --- size_to_human_string ------------------------------------------------------------------

def _get_exp(n: int) -> int:
    """get_exp(): the power of two (0, 10, ... 60) of n's unit."""
    shift = 10
    while shift <= 60:
        if n < (1 << shift):
            break
        shift += 10
    return shift - 10


def size_to_human_string(size: int, options: int = SIZE_SUFFIX_1LETTER) -> str:
    """size_to_human_string(): 9.8K, 16E, 5B, 1.5 KiB..."""
    size &= UINTMAX_MAX
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
        if frac >= UINTMAX_MAX // 1000:
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


def xstrmode(mode: int) -> str:
    """xstrmode() of an IPC mode (``mode & 0777``: no file type, no
    set-id bits): "rw-r--r--"."""
    return "".join(bit if mode & (1 << (8 - i)) else "-" for i, bit in enumerate("rwxrwxrwx"))


# --- column lists --------------------------------------------------------------------------

def string_add_to_idarray(text: str, ids: list[str], size: int,
                          name2id: Callable[[str], str | None]) -> bool:
    """string_add_to_idarray(): "A,B" replaces ``ids`` by A and B, "+A,B"
    appends them; each name through ``name2id`` (None: refused, it said
    why), at most ``size`` ids in all.  False where the C returns < 0: an
    empty list or name, a refused name, or no room (the ids taken so far stay)."""
    if not text:
        return False
    if text[0] == "+":
        text = text[1:]
    else:
        ids.clear()
    begin: int | None = None
    for p, ch in enumerate(text):  # string_to_idarray()
        if len(ids) >= size:
            return False
        if begin is None:
            begin = p
        end = p if ch == "," else None
        if p + 1 == len(text):
            end = p + 1
        if end is None:
            continue
        if end <= begin:
            return False
        cid = name2id(text[begin:end])
        if cid is None:
            return False
        ids.append(cid)
        begin = None
    return bool(text)
