"""Python values to C argument types, with clear errors at the Python layer."""
from __future__ import annotations

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


def buffer(name: str, value: Any) -> bytes:
    if type(value) is bytes:
        return value
    if isinstance(value, str):
        raise TypeError(f"{name} must be bytes-like, not str (encode it first)")
    try:
        return bytes(memoryview(value))
    except TypeError:
        raise TypeError(f"{name} must be bytes-like, not {type(value).__name__}") from None
