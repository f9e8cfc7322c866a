"""Python values to C argument types, with clear errors at the Python layer.

Only what C could not even express is refused here (TypeError for a wrong
type, ValueError for a value no C type of the argument holds); a value C
can pass goes to the daemon, which answers with Linux's errno.
"""
from __future__ import annotations

import math
import numbers
from typing import Any

INT_MIN, INT_MAX, UINT_MAX = -(1 << 31), (1 << 31) - 1, (1 << 32) - 1
LONG_MIN, LONG_MAX, ULONG_MAX = -(1 << 63), (1 << 63) - 1, (1 << 64) - 1


def _int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        if hasattr(value, "__index__") and not isinstance(value, bool):
            return value.__index__()
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    return value


def c_int(name: str, value: Any) -> int:
    """An ``int`` argument; values up to UINT_MAX wrap as C would."""
    if type(value) is int and INT_MIN <= value <= INT_MAX:  # the common case, fast
        return value
    v = _int(name, value)
    if not INT_MIN <= v <= UINT_MAX:
        raise ValueError(f"{name} {v} does not fit a C int")
    return v - (1 << 32) if v > INT_MAX else v


def key_t(value: Any) -> int:
    """A ``key_t``: 0..0xffffffff or a negative int, as ftok keys are."""
    return c_int("key", value)


def c_long(name: str, value: Any) -> int:
    if type(value) is int and LONG_MIN <= value <= LONG_MAX:
        return value
    v = _int(name, value)
    if not LONG_MIN <= v <= LONG_MAX:
        raise ValueError(f"{name} {v} does not fit a C long")
    return v


def size_t(name: str, value: Any) -> int:
    """A ``size_t`` passed on as a signed long, so huge values stay huge."""
    if type(value) is int and 0 <= value <= LONG_MAX:
        return value
    v = _int(name, value)
    if not LONG_MIN <= v <= ULONG_MAX:
        raise ValueError(f"{name} {v} does not fit a size_t")
    return v - (1 << 64) if v > LONG_MAX else v


def int_in(name: str, value: Any, lo: int, hi: int) -> int:
    """An int of the Python API (a size, an offset, a count) in [lo, hi]."""
    v = _int(name, value)
    if not lo <= v <= hi:
        bounds = f">= {lo}" if hi >= LONG_MAX else f"in [{lo}, {hi}]"
        raise ValueError(f"{name} must be {bounds}, not {v}")
    return v


def pointer(name: str, value: Any) -> int:
    """A ``void *`` as an unsigned address; negative values wrap as a cast would."""
    if type(value) is int and 0 <= value <= ULONG_MAX:
        return value
    v = _int(name, value)
    if not LONG_MIN <= v <= ULONG_MAX:
        raise ValueError(f"{name} {v:#x} does not fit a pointer")
    return v & ULONG_MAX


#: the longest timeout a signed 64-bit count of nanoseconds holds (~292 years)
MAX_TIMEOUT_NS = LONG_MAX


def timeout_ns(name: str, value: Any) -> int:
    """Seconds (int or float) as nanoseconds for a ``struct timespec``.

    NaN and infinity are no timespec: ValueError (None is "no timeout").  A
    negative timeout is returned as -1 for the caller to refuse with the
    errno its system call gives (EINVAL for semtimedop).
    """
    if type(value) not in (int, float):
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError(f"{name} must be a number of seconds or None, not {type(value).__name__}")
        value = value.__index__() if hasattr(value, "__index__") else float(value)  # numpy, Fraction
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{name} must be finite, not {value} (use None to wait forever)")
    if value < 0:
        return -1
    # exact for ints; clamped so that 1e300 s is "as long as a timespec holds"
    ns = value * 1_000_000_000 if isinstance(value, int) else int(min(value * 1e9, 2.0 ** 63))
    return min(ns, MAX_TIMEOUT_NS)


def buffer(name: str, value: Any) -> bytes:
    if type(value) is bytes:
        return value
    if isinstance(value, str):
        raise TypeError(f"{name} must be bytes-like, not str (encode it first)")
    try:
        return bytes(memoryview(value))
    except TypeError:
        raise TypeError(f"{name} must be bytes-like, not {type(value).__name__}") from None


#: iterable, but never an array of items: text and byte strings
_NOT_ARRAYS = (str, bytes, bytearray, memoryview)


def items(value: Any, wanted: str) -> list[Any]:
    """``value``'s items as a list (an array of C structs), or a TypeError
    saying what was ``wanted``: text and byte strings iterate, but are none."""
    if type(value) is list:  # the common case
        return value
    if not isinstance(value, _NOT_ARRAYS):
        try:
            return list(value)
        except TypeError:
            pass
    raise TypeError(f"{wanted}, not {type(value).__name__}")


def abs_timespec(name: str, value: Any) -> tuple[int, int]:
    """An absolute time in seconds since the epoch (int or float) as a
    ``struct timespec`` (tv_sec, tv_nsec), both parts truncated toward zero
    as C's ``(time_t)t`` and ``(t - tv_sec) * 1e9`` make them (so -0.5 is
    {0, -500000000}); a negative part reaches the daemon, which answers as
    the kernel (or glibc) does.  NaN and infinity: ValueError."""
    if type(value) is int:
        return max(LONG_MIN, min(value, LONG_MAX)), 0
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number of seconds since the epoch, not "
                        f"{type(value).__name__}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, not {value}")
    sec = int(value)  # toward zero
    nsec = max(-999_999_999, min(int((value - sec) * 1e9), 999_999_999))
    return max(LONG_MIN, min(sec, LONG_MAX)), nsec
