"""sysv_ipc 1.2.0's public API over uipc: ``MessageQueue``, ``Semaphore``,
``SharedMemory``, ``attach``, ``ftok``, the ``remove_*`` functions, the
constants and the exceptions.

Each class and function mirrors its C counterpart in the package's source
(sysv_ipc_module.c, mq.c, semaphore.c, memory.c, common.c; named in the
docstrings): the arguments parsed as ``PyArg_ParseTupleAndKeywords`` parses
them (``i`` raises OverflowError, ``k`` masks to an unsigned long, ``h`` is
a short, ``c`` one byte, ``s*`` text or bytes), the same checks in the same
order, the same defaults (also where they differ from USAGE.md: an
``IPC_CREAT`` open with write permission sets the semaphore's
``initial_value``, as the C code does), and each errno mapped to the
exception that call raises there (ExistentialError for ENOENT/EEXIST and,
as the C code has it, EINVAL/EIDRM; PermissionsError for EACCES and, where
the C code says so, EPERM; BusyError for EAGAIN, ENOMSG and timeouts;
Error for EINTR; ValueError, MemoryError and OSError where the package
uses them).  An errno the call does not map is uipc's ``OSError`` itself,
as ``PyErr_SetFromErrno`` would raise it.  The package's message is kept
and uipc's explanation of the rule that fired is appended in parentheses
(one exception: ERANGE's ValueError keeps the package's exact text, which
its own tests compare; the explanation is its ``__cause__``).

The calls underneath are uipc's public ones (``uipc.msgget``...,
``uipc.shmat``/``shm_view``/``shmdt``): the objects live in the uipc
namespace, never in the machine's kernel IPC table.

``SharedMemory`` supports the buffer protocol, as the C type does.  Python
3.11 lets only a C type export a buffer, so the class is an ``mmap.mmap``
(its ``mmap`` methods are hidden) whose own mapping is where uipc attaches
the segment (``shmat`` at that address with SHM_REMAP): ``memoryview(mem)``
and ``bytearray(mem)`` see the segment itself.  After ``detach()`` that
mapping holds uipc's private placeholder (zeros) instead of faulting as the
C package's NULL pointer does; an attach at an explicit other address is
made there and the buffer protocol keeps showing the object's own mapping.
"""
import ctypes as _ctypes
import dataclasses as _dc
import errno as _errno
import mmap as _mmap
import operator as _operator
import os as _os
import random as _random
import sys as _sys
import threading as _threading
import warnings as _warnings
from typing import Any as _Any
from typing import Callable as _Callable
from typing import NamedTuple as _NamedTuple
from typing import NoReturn as _NoReturn

import uipc as _uipc
from uipc.client.connection import DaemonNotRunning as _DaemonNotRunning
from uipc.client.connection import UipcConnectionError as _UipcConnectionError
from uipc.client.connection import UntrustedDaemon as _UntrustedDaemon
from uipc.uapi.ipc import IPC_NOWAIT as _IPC_NOWAIT
from uipc.uapi.ipc import IPC_RMID as _IPC_RMID
from uipc.uapi.ipc import IPC_SET as _IPC_SET
from uipc.uapi.ipc import IPC_STAT as _IPC_STAT
from uipc.uapi.sem import GETNCNT as _GETNCNT
from uipc.uapi.sem import GETPID as _GETPID
from uipc.uapi.sem import GETVAL as _GETVAL
from uipc.uapi.sem import GETZCNT as _GETZCNT
from uipc.uapi.sem import SEM_UNDO as _SEM_UNDO
from uipc.uapi.sem import SETVAL as _SETVAL

__all__ = [
    "BusyError", "Error", "ExistentialError", "IPC_CREAT", "IPC_CREX", "IPC_EXCL",
    "IPC_PRIVATE", "InternalError", "KEY_MAX", "KEY_MIN", "MessageQueue", "NotAttachedError",
    "PAGE_SIZE", "PermissionsError", "SEMAPHORE_TIMEOUT_SUPPORTED", "SEMAPHORE_VALUE_MAX",
    "SHM_HUGETLB", "SHM_NORESERVE", "SHM_RDONLY", "SHM_REMAP", "SHM_RND", "Semaphore",
    "SharedMemory", "VERSION", "attach", "ftok", "remove_message_queue", "remove_semaphore",
    "remove_shared_memory",
]


def __dir__() -> list[str]:
    """What ``dir(sysv_ipc)`` lists for the C module: no private names."""
    return sorted(__all__ + ["__author__", "__copyright__", "__doc__", "__file__",
                             "__license__", "__loader__", "__name__", "__package__",
                             "__spec__", "__version__"])


# --- module constants (PyInit_sysv_ipc, system_info.h) ----------------------------
VERSION = __version__ = "1.2.0"
__copyright__ = "Copyright 2008 - 2026, Philip Semanchuk and contributors"
__author__ = "Philip Semanchuk"
__license__ = "BSD"

PAGE_SIZE = _mmap.PAGESIZE
#: discover_system_info.py writes LONG_MIN and LONG_MAX: the range the module
#: accepts; a key is then cast to key_t (a 32-bit int), as C casts it
KEY_MIN = -(1 << 63)
KEY_MAX = (1 << 63) - 1
#: hardcoded by discover_system_info.py (Linux's SEMVMX is the same)
SEMAPHORE_VALUE_MAX = 32767
#: semtimedop() exists on Linux (the PyPI wheel's build misdetects it: False there)
SEMAPHORE_TIMEOUT_SUPPORTED = True
IPC_CREAT = _uipc.IPC_CREAT
IPC_EXCL = _uipc.IPC_EXCL
IPC_CREX = IPC_CREAT | IPC_EXCL
IPC_PRIVATE = _uipc.IPC_PRIVATE
SHM_RND = _uipc.SHM_RND
SHM_RDONLY = _uipc.SHM_RDONLY
SHM_HUGETLB = _uipc.SHM_HUGETLB
SHM_NORESERVE = _uipc.SHM_NORESERVE
SHM_REMAP = _uipc.SHM_REMAP

_SHRT_MAX = 0x7FFF
#: QUEUE_MESSAGE_SIZE_MAX_DEFAULT and QUEUE_MESSAGE_SIZE_MAX (mq.h)
_QUEUE_MESSAGE_SIZE_MAX_DEFAULT = 2048
_QUEUE_MESSAGE_SIZE_MAX = (1 << 63) - 1
_INT_MIN, _INT_MAX = -(1 << 31), (1 << 31) - 1
_LONG_MIN, _LONG_MAX = -(1 << 63), (1 << 63) - 1
_ULONG_MASK = (1 << 64) - 1


# --- exceptions (PyInit_sysv_ipc) -------------------------------------------------
class Error(Exception):
    """sysv_ipc.Error: the base of the module's exceptions; also a wait
    interrupted by a signal (EINTR)."""

    __module__ = "sysv_ipc"


class InternalError(Error):
    """Something went wrong inside the module."""

    __module__ = "sysv_ipc"


class PermissionsError(Error):
    """The object's permissions do not allow the operation (EACCES, and EPERM
    where the C code maps it)."""

    __module__ = "sysv_ipc"


class ExistentialError(Error):
    """The object exists when it should not (EEXIST) or not when it should
    (ENOENT; EINVAL/EIDRM for an id that is gone)."""

    __module__ = "sysv_ipc"


class BusyError(Error):
    """The call would have waited (IPC_NOWAIT / block=False: EAGAIN, ENOMSG)
    or its timeout passed."""

    __module__ = "sysv_ipc"


class NotAttachedError(Error):
    """A read, write or detach of shared memory that is not attached."""

    __module__ = "sysv_ipc"


# --- errno -> exception, per call -------------------------------------------------
class _Case(_NamedTuple):
    """One ``case`` of a C ``switch (errno)``: the exception and the package's
    text (None: ``PyErr_SetNone``); ``detail`` appends uipc's explanation."""

    cls: type[BaseException]
    text: str | None
    detail: bool = True


_Table = dict[int, _Case]
#: uipc's own failures (no daemon, a lost or untrusted one): never a sysv_ipc error
_PASSTHROUGH = (_UipcConnectionError, _DaemonNotRunning, _UntrustedDaemon)


def _detail(exc: OSError) -> str:
    """uipc's explanation of the rule in ``exc``, without strerror's prefix."""
    detail = exc.strerror or ""
    prefix = _os.strerror(exc.errno) if exc.errno else ""
    if prefix and detail.startswith(prefix):
        return detail[len(prefix):].strip()
    return f"({detail})" if detail else ""


def _raise(exc: OSError, table: _Table) -> _NoReturn:
    """Raise what sysv_ipc raises for ``exc.errno`` where ``table`` is its
    ``switch (errno)``; the ``default:`` case (``PyErr_SetFromErrno``) is
    uipc's OSError itself."""
    if isinstance(exc, _PASSTHROUGH) or exc.errno not in table:
        raise exc
    case = table[exc.errno]
    if not case.detail:
        raise case.cls(case.text) from exc
    detail = _detail(exc)
    text = " ".join(t for t in (case.text, detail) if t)
    raise case.cls(text) from None


def _call(table: _Table | _Callable[[], _Table], fn: _Callable[..., _Any], *args: _Any) -> _Any:
    """``fn(*args)``, its OSError raised as sysv_ipc raises it (``table`` may
    be built only when needed, for messages that name a key or id)."""
    try:
        return fn(*args)
    except OSError as exc:
        _raise(exc, table() if callable(table) else table)


# --- arguments, as PyArg_ParseTupleAndKeywords converts them ----------------------
def _int(value: _Any, lo: int, hi: int, ctype: str) -> int:
    """``i`` (int), ``h`` (short), ``l`` (long): an index, range-checked."""
    v = _operator.index(value)  # TypeError for floats and non-integers, as getargs
    if v < lo:
        raise OverflowError(f"{ctype} is less than minimum")
    if v > hi:
        raise OverflowError(f"{ctype} is greater than maximum")
    return v


def _c_int(value: _Any) -> int:
    return _int(value, _INT_MIN, _INT_MAX, "signed integer")


def _c_short(value: _Any) -> int:
    return _int(value, -0x8000, 0x7FFF, "signed short integer")


def _c_long(value: _Any) -> int:
    v = _operator.index(value)
    if not _LONG_MIN <= v <= _LONG_MAX:
        raise OverflowError("Python int too large to convert to C long")
    return v


def _c_ulong(value: _Any, position: int) -> int:
    """``k``: any int, masked to an unsigned long (no overflow check)."""
    if not isinstance(value, int):
        raise TypeError(f"argument {position} must be int, not {type(value).__name__}")
    return value & _ULONG_MASK


def _as_short(v: int) -> int:
    """A C ``short`` assignment: wraps (abs(-32768) is -32768 again)."""
    return (v + 0x8000) % 0x10000 - 0x8000


def _as_uint(v: int) -> int:
    """A cast to uid_t/gid_t/mode_t (unsigned 32-bit)."""
    return v & 0xFFFFFFFF


def _as_int(v: int) -> int:
    """A C ``int`` assignment (``key_t``, semun's ``val``): the long
    truncated to 32 bits, as C converts it."""
    return (v - _INT_MIN) % (1 << 32) + _INT_MIN


def _key_param(key: _Any) -> int | None:
    """convert_key_param() (common.c): None, or an int in [KEY_MIN, KEY_MAX]."""
    if key is None:
        return None
    # KEY_MIN/KEY_MAX are a C long's range: an int outside it fails
    # PyLong_AsLong, and the converter's last line turns that into this TypeError
    if not isinstance(key, int) or not KEY_MIN <= key <= KEY_MAX:
        raise TypeError("Key must be an integer or None")
    return _as_int(key)


def _bytes_arg(value: _Any, position: int) -> bytes:
    """``s*``: text (as UTF-8) or any bytes-like object."""
    if isinstance(value, str):
        return value.encode("utf-8")
    try:
        return memoryview(value).tobytes()
    except TypeError:
        raise TypeError(f"argument {position} must be str or bytes-like object, not "
                        f"{type(value).__name__}") from None


def _char_arg(value: _Any, position: int) -> int:
    """``c``: a bytes or bytearray of length 1."""
    if isinstance(value, (bytes, bytearray)) and len(value) == 1:
        return value[0]
    raise TypeError(f"argument {position} must be a byte string of length 1, not "
                    f"{type(value).__name__}")


def _timeout(value: _Any) -> float | int | None:
    """convert_timeout() (semaphore.c): None, or a non-negative int or float."""
    if value is None:
        return None
    # an int no C long holds converts to -1.0 (PyLong_AsLong), then fails the sign check
    if not isinstance(value, (int, float)) or not value >= 0 or (
            isinstance(value, int) and value > _LONG_MAX):
        raise TypeError("The timeout must be None or a non-negative number")
    return value


def _address_arg(value: _Any) -> int | None:
    """An ``address`` argument: None (NULL) or an int (``PyLong_AsVoidPtr``)."""
    if value is None:
        return None
    if not isinstance(value, int):
        raise TypeError("address must be a long")
    if not _LONG_MIN <= value <= _ULONG_MASK:
        raise OverflowError("Python int too large to convert to C unsigned long")
    return value & _ULONG_MASK


def _check_flags(key: int | None, flags: int) -> None:
    """The two checks every constructor makes before its *get() call."""
    if not flags & IPC_CREAT and flags & IPC_EXCL:
        raise ValueError("IPC_EXCL must be combined with IPC_CREAT")
    if key is None and (flags & IPC_EXCL) != IPC_EXCL:
        raise ValueError("Key can only be None if IPC_EXCL is set")


_keys = _random.Random()


def _random_key() -> int:
    """get_random_key() (common.c): 1 <= key <= SHRT_MAX - 1, never IPC_PRIVATE."""
    return _keys.randint(1, _SHRT_MAX - 1)


def _get(key: int | None, get: _Callable[[int], int],
         errors: _Callable[[int], _Table]) -> tuple[int, int]:
    """(key, id) from ``get(key)``; key None: random keys until one is free
    (the ``do ... while (EEXIST == errno)`` loop of each constructor)."""
    while True:
        k = _random_key() if key is None else key
        try:
            return k, get(k)
        except OSError as exc:
            if key is None and exc.errno == _errno.EEXIST and not isinstance(exc, _PASSTHROUGH):
                continue
            _raise(exc, errors(k))


# --- attributes, as the C types' getset and member descriptors -------------------
class _Attr:
    """A getset attribute: ``get(obj)``; ``set(obj, value)`` if it has a setter.
    Without one, writing raises CPython's message for such a descriptor."""

    def __init__(self, get: _Callable[[_Any], _Any],
                 set: _Callable[[_Any, _Any], None] | None = None,  # noqa: A002
                 doc: str | None = None) -> None:
        self.get, self.set, self.__doc__ = get, set, doc

    def __set_name__(self, owner: type, name: str) -> None:
        self.name, self.owner = name, f"{owner.__module__}.{owner.__qualname__}"

    def __get__(self, obj: _Any, owner: type | None = None) -> _Any:
        return self if obj is None else self.get(obj)

    def __set__(self, obj: _Any, value: _Any) -> None:
        if self.set is None:
            raise self._read_only()
        self.set(obj, value)

    def __delete__(self, obj: _Any) -> None:
        raise self._read_only() if self.set is None else AttributeError(
            f"attribute '{self.name}' cannot be deleted")

    def _read_only(self) -> AttributeError:
        return AttributeError(f"attribute '{self.name}' of '{self.owner}' objects is not writable")


def _no_pickle(self: _Any, protocol: int) -> _NoReturn:
    """The C types cannot be pickled (or copied)."""
    raise TypeError(f"cannot pickle '{type(self).__module__}.{type(self).__qualname__}' object")


class _Id:
    """The ``id`` member (``T_INT, READONLY``)."""

    __doc__ = "The id assigned by the system"

    def __get__(self, obj: _Any, owner: type | None = None) -> _Any:
        return self if obj is None else obj._id

    def __set__(self, obj: _Any, value: _Any) -> None:
        raise AttributeError("readonly attribute")

    def __delete__(self, obj: _Any) -> None:
        raise AttributeError("readonly attribute")


def _with_perm(st: _Any, perm_field: str, field: str, value: int) -> _Any:
    """``st`` (an IPC_STAT struct) with one ipc_perm field changed, for IPC_SET."""
    perm = getattr(st, perm_field)
    return _dc.replace(st, **{perm_field: _dc.replace(perm, **{field: value})})


# --- module functions (sysv_ipc_module.c) -----------------------------------------
def ftok(path: str, id: int, silence_warning: int = False) -> int:  # noqa: A002
    """sysv_ipc_ftok(): glibc's ftok(path, id), with the module's warning
    unless ``silence_warning``; OSError if ``path`` cannot be stat'ed."""
    if not isinstance(path, str):
        raise TypeError(f"argument 1 must be str, not {type(path).__name__}")
    if "\0" in path:
        raise ValueError("embedded null character")
    id, silence_warning = _c_int(id), _c_int(silence_warning)  # noqa: A001
    if not silence_warning:
        _warnings.warn("Use of ftok() is not recommended; see sysv_ipc documentation",
                       Warning, stacklevel=2)
    st = _os.stat(path)
    # sysdeps/unix/sysv/linux/ftok.c
    return _as_int((st.st_ino & 0xFFFF) | ((st.st_dev & 0xFF) << 16) | ((id & 0xFF) << 24))


def remove_semaphore(id: int, /) -> None:  # noqa: A002
    """sysv_ipc_remove_semaphore(): semctl(id, 0, IPC_RMID)."""
    _sem_remove(_c_int(id))


def remove_shared_memory(id: int, /) -> None:  # noqa: A002
    """sysv_ipc_remove_shared_memory(): shmctl(id, IPC_RMID)."""
    _shm_remove(_c_int(id))


def remove_message_queue(id: int, /) -> None:  # noqa: A002
    """sysv_ipc_remove_message_queue(): msgctl(id, IPC_RMID)."""
    _mq_remove(_c_int(id))


def attach(id: int, address: int | None = None, flags: int = 0) -> "SharedMemory":  # noqa: A002
    """sysv_ipc_attach(): attach the existing segment ``id`` (at ``address``,
    with shmat ``flags``) in a new SharedMemory whose key is -1."""
    id, address, flags = _c_int(id), _address_arg(address), _c_int(flags)  # noqa: A001
    shm = SharedMemory.__new__(SharedMemory)
    shm._id = id
    shm._attach(address, flags)
    return shm


# --- semaphores (semaphore.c) -----------------------------------------------------
_SEM_ERRORS: _Table = {  # sem_set_error()
    _errno.ENOENT: _Case(ExistentialError, "No semaphore exists with the specified key"),
    _errno.EINVAL: _Case(ExistentialError, "No semaphore exists with the specified key"),
    _errno.EEXIST: _Case(ExistentialError, "A semaphore with the specified key already exists"),
    _errno.EACCES: _Case(PermissionsError, "Permission denied"),
    _errno.ERANGE: _Case(ValueError, "The semaphore's value must remain between 0 and SEMVMX",
                         detail=False),
    _errno.EAGAIN: _Case(BusyError, "The semaphore is busy"),
    _errno.EIDRM: _Case(ExistentialError, "The semaphore was removed"),
    _errno.EINTR: _Case(Error, "Signaled while waiting"),
    _errno.ENOMEM: _Case(MemoryError, "Not enough memory"),
}


def _semctl(semid: int, cmd: int, arg: _Any = None) -> _Any:
    return _call(_SEM_ERRORS, _uipc.semctl, semid, 0, cmd, arg)


def _sem_remove(semid: int) -> None:
    """sem_remove(): IPC_RMID (its EPERM is the default case: OSError)."""
    _semctl(semid, _IPC_RMID)


def _sem_stat(field: str) -> _Callable[["Semaphore"], int]:
    def get(self: "Semaphore") -> int:
        return getattr(_semctl(self._id, _IPC_STAT), field)
    return get


def _sem_perm(field: str) -> _Callable[["Semaphore"], int]:
    def get(self: "Semaphore") -> int:
        return getattr(_semctl(self._id, _IPC_STAT).sem_perm, field)
    return get


def _sem_set_perm(field: str) -> _Callable[["Semaphore", _Any], None]:
    def setter(self: "Semaphore", value: _Any) -> None:
        """sem_set_ipc_perm_value(): IPC_STAT, change one field, IPC_SET."""
        if not isinstance(value, int):
            raise TypeError("The attribute must be an integer")
        v = _as_uint(_c_long(value))
        st = _semctl(self._id, _IPC_STAT)
        _semctl(self._id, _IPC_SET, _with_perm(st, "sem_perm", field, v))
    return setter


def _sem_count(cmd: int) -> _Callable[["Semaphore"], int]:
    return lambda self: _semctl(self._id, cmd)


def _sem_flag(flag: int, when: bool) -> _Callable[["Semaphore", _Any], None]:
    """sem_set_undo() / sem_set_block(): ``flag`` in every semop's sem_flg
    while the attribute's truth is ``when`` (undo: SEM_UNDO when true;
    block: IPC_NOWAIT when false)."""
    def setter(self: "Semaphore", value: _Any) -> None:
        on = bool(value) == when
        self._op_flags = self._op_flags | flag if on else self._op_flags & ~flag
    return setter


class Semaphore:
    """A handle to a System V semaphore (a set of one), as sysv_ipc.Semaphore."""

    __module__ = "sysv_ipc"
    __slots__ = ("_key", "_id", "_op_flags")

    def __init__(self, key: int | None, flags: int = 0, mode: int = 0o600,
                 initial_value: int = 0) -> None:
        """Semaphore_init(): semget(key, 1, mode | flags); SETVAL
        ``initial_value`` when IPC_CREAT or IPC_EXCL is given and ``mode``
        has the owner's write bit (the C test is ``flags & IPC_CREX``)."""
        key = _key_param(key)
        flags, mode, initial_value = _c_int(flags), _c_int(mode), _c_int(initial_value)
        _check_flags(key, flags)
        self._op_flags = 0
        flags &= IPC_CREX
        self._key, self._id = _get(key, lambda k: _uipc.semget(k, 1, mode | flags),
                                   lambda k: _SEM_ERRORS)
        if flags & IPC_CREX and mode & 0o200:
            _semctl(self._id, _SETVAL, initial_value)

    def _semop(self, delta: int, timeout: float | int | None) -> None:
        """sem_perform_semop(): one sembuf on semaphore 0 with the handle's
        flags; semtimedop when a timeout was given, else semop."""
        op = [(0, delta, self._op_flags)]
        if timeout is None:
            _call(_SEM_ERRORS, _uipc.semop, self._id, op)
        else:
            _call(_SEM_ERRORS, _uipc.semtimedop, self._id, op, timeout)

    def acquire(self, timeout: float | None = None, delta: int = 1) -> None:
        """Semaphore_acquire(): wait (at most ``timeout`` seconds; 0: not at
        all) until the value allows decrementing it by ``abs(delta)``."""
        timeout, delta = _timeout(timeout), _c_short(delta)
        if not delta:
            raise ValueError("The delta must be non-zero")
        self._semop(-abs(delta), timeout)

    def P(self, timeout: float | None = None, delta: int = 1) -> None:  # noqa: N802
        """Semaphore_P(): acquire()."""
        self.acquire(timeout, delta)

    def release(self, delta: int = 1) -> None:
        """Semaphore_release(): increment the value by ``abs(delta)``."""
        delta = _c_short(delta)
        if not delta:
            raise ValueError("The delta must be non-zero")
        self._semop(_as_short(abs(delta)), None)

    def V(self, delta: int = 1) -> None:  # noqa: N802
        """Semaphore_V(): release()."""
        self.release(delta)

    def Z(self, timeout: float | None = None) -> None:  # noqa: N802
        """Semaphore_Z(): wait (at most ``timeout`` seconds) until the value is zero."""
        self._semop(0, _timeout(timeout))

    def remove(self) -> None:
        """Semaphore_remove(): IPC_RMID."""
        _sem_remove(self._id)

    def __enter__(self) -> "Semaphore":
        """Semaphore_enter(): acquire() with its defaults."""
        self.acquire()
        return self

    def __exit__(self, *exc_info: object) -> None:
        """Semaphore_exit(): release()."""
        self.release()

    def __repr__(self) -> str:
        return f"sysv_ipc.Semaphore({self._key})"

    __reduce_ex__ = _no_pickle

    def __str__(self) -> str:
        return f"Key={self._key}, id={self._id}"

    def _set_value(self, value: _Any) -> None:
        """sem_set_value(): SETVAL (the long is stored in semun's int)."""
        if not isinstance(value, int):
            raise TypeError("Attribute 'value' must be an integer")
        _semctl(self._id, _SETVAL, _as_int(_c_long(value)))

    id = _Id()
    key = _Attr(lambda self: self._key, doc="The key passed to the constructor")
    value = _Attr(lambda self: _semctl(self._id, _GETVAL), _set_value,
                  doc="The semaphore's current value")
    undo = _Attr(lambda self: bool(self._op_flags & _SEM_UNDO), _sem_flag(_SEM_UNDO, True),
                 doc="When True, acquire/release operations will be undone when the process "
                     "exits. Non-portable.")
    block = _Attr(lambda self: not self._op_flags & _IPC_NOWAIT, _sem_flag(_IPC_NOWAIT, False),
                  doc="When True (the default), calls to acquire/release/P/V/Z will wait "
                      "(block) if the semaphore is busy")
    mode = _Attr(_sem_perm("mode"), _sem_set_perm("mode"), doc="Permissions")
    uid = _Attr(_sem_perm("uid"), _sem_set_perm("uid"), doc="The semaphore's UID")
    gid = _Attr(_sem_perm("gid"), _sem_set_perm("gid"), doc="The semaphore's GID")
    cuid = _Attr(_sem_perm("cuid"), doc="The semaphore creator's UID. Read only.")
    cgid = _Attr(_sem_perm("cgid"), doc="The semaphore creator's GID. Read only.")
    last_pid = _Attr(_sem_count(_GETPID),
                     doc="The id of the last process to call acquire()/release()/Z() on this "
                         "semaphore. Read only.")
    waiting_for_nonzero = _Attr(_sem_count(_GETNCNT),
                                doc="The number of processes waiting for the semaphore to "
                                    "become non-zero. Read only.")
    waiting_for_zero = _Attr(_sem_count(_GETZCNT),
                             doc="The number of processes waiting for the semaphore to become "
                                 "zero. Read only.")
    o_time = _Attr(_sem_stat("sem_otime"),
                   doc="The last time semop (acquire/release/P/V/Z) was called on this "
                       "semaphore. Initialized to zero. Read only.")


# --- message queues (mq.c) --------------------------------------------------------
_MQ_GONE = _Case(ExistentialError, "The queue no longer exists")
_MQ_DENIED = _Case(PermissionsError, "Permission denied")
_MQ_STAT_ERRORS: _Table = {  # get_a_value()
    _errno.EIDRM: _MQ_GONE, _errno.EINVAL: _MQ_GONE, _errno.EACCES: _MQ_DENIED,
}
_MQ_SET_ERRORS: _Table = {  # set_a_value()
    _errno.EACCES: _MQ_DENIED, _errno.EPERM: _MQ_DENIED, _errno.EINVAL: _MQ_GONE,
}
_MQ_REMOVE_ERRORS: _Table = {  # mq_remove()
    _errno.EIDRM: _MQ_GONE, _errno.EINVAL: _MQ_GONE, _errno.EPERM: _MQ_DENIED,
}
_MQ_GET_ERRORS: _Table = {  # MessageQueue_init()
    _errno.EACCES: _MQ_DENIED,
    _errno.EEXIST: _Case(ExistentialError, "A queue with the specified key already exists"),
    _errno.ENOENT: _Case(ExistentialError, "No queue exists with the specified key"),
    _errno.ENOMEM: _Case(MemoryError, "Not enough memory"),
    _errno.ENOSPC: _Case(OSError, "The system limit for message queues has been reached"),
}
_MQ_SEND_ERRORS: _Table = {  # MessageQueue_send()
    _errno.EACCES: _MQ_DENIED,
    _errno.EAGAIN: _Case(BusyError, "The queue is full, or a system-wide limit on the number "
                                    "of queue messages has been reached"),
    _errno.EIDRM: _MQ_GONE,
    _errno.EINTR: _Case(Error, "Signaled while waiting"),
}
_MQ_RECEIVE_ERRORS: _Table = {  # MessageQueue_receive()
    _errno.EACCES: _MQ_DENIED, _errno.EIDRM: _MQ_GONE, _errno.EINVAL: _MQ_GONE,
    _errno.EINTR: _Case(Error, "Signaled while waiting"),
    _errno.ENOMSG: _Case(BusyError, "No available messages of the specified type"),
}


def _mq_remove(msqid: int) -> None:
    """mq_remove(): IPC_RMID."""
    _call(_MQ_REMOVE_ERRORS, _uipc.msgctl, msqid, _IPC_RMID)


def _mq_stat(field: str) -> _Callable[["MessageQueue"], int]:
    def get(self: "MessageQueue") -> int:
        return getattr(_call(_MQ_STAT_ERRORS, _uipc.msgctl, self._id, _IPC_STAT), field)
    return get


def _mq_perm(field: str) -> _Callable[["MessageQueue"], int]:
    def get(self: "MessageQueue") -> int:
        return getattr(_call(_MQ_STAT_ERRORS, _uipc.msgctl, self._id, _IPC_STAT).msg_perm, field)
    return get


def _mq_set(field: str) -> _Callable[["MessageQueue", _Any], None]:
    def setter(self: "MessageQueue", value: _Any) -> None:
        """set_a_value(): IPC_STAT, change one field, IPC_SET."""
        if not isinstance(value, int):
            raise TypeError("The attribute must be an integer")
        st = _call(_MQ_SET_ERRORS, _uipc.msgctl, self._id, _IPC_STAT)
        if field == "msg_qbytes":  # msglen_t: PyLong_AsUnsignedLongMask
            st = _dc.replace(st, msg_qbytes=value & _ULONG_MASK)
        else:
            st = _with_perm(st, "msg_perm", field, _as_uint(_c_long(value)))
        _call(_MQ_SET_ERRORS, _uipc.msgctl, self._id, _IPC_SET, st)
    return setter


class MessageQueue:
    """A handle to a System V message queue, as sysv_ipc.MessageQueue."""

    __module__ = "sysv_ipc"
    __slots__ = ("_key", "_id", "_max_message_size")

    def __init__(self, key: int | None, flags: int = 0, mode: int = 0o600,
                 max_message_size: int = _QUEUE_MESSAGE_SIZE_MAX_DEFAULT) -> None:
        """MessageQueue_init(): msgget(key, mode & 0777 | flags & IPC_CREX);
        ``max_message_size`` bounds what send() sends and receive() takes."""
        key = _key_param(key)
        flags, mode = _c_int(flags), _c_int(mode)
        max_message_size = _c_ulong(max_message_size, 4)
        if max_message_size > _QUEUE_MESSAGE_SIZE_MAX:
            raise ValueError(f"The message length must be <= {_QUEUE_MESSAGE_SIZE_MAX}\n")
        _check_flags(key, flags)
        self._max_message_size = max_message_size
        flags &= IPC_CREX
        mode &= 0o777
        self._key, self._id = _get(key, lambda k: _uipc.msgget(k, mode | flags),
                                   lambda k: _MQ_GET_ERRORS)

    def send(self, message: bytes | str, block: _Any = True, type: int = 1) -> None:  # noqa: A002
        """MessageQueue_send(): msgsnd a message of ``type`` (> 0); with a
        false ``block``, IPC_NOWAIT (BusyError when the queue is full)."""
        data, type = _bytes_arg(message, 1), _c_int(type)  # noqa: A001
        if type <= 0:
            raise ValueError("The type must be > 0")
        if len(data) > self._max_message_size:
            raise ValueError(f"The message length exceeds queue's max_message_size "
                             f"({self._max_message_size})")
        flags = 0 if block else _IPC_NOWAIT
        _call(_MQ_SEND_ERRORS, _uipc.msgsnd, self._id, type, data, flags)

    def receive(self, block: _Any = True, type: int = 0) -> tuple[bytes, int]:  # noqa: A002
        """MessageQueue_receive(): msgrcv of at most max_message_size bytes
        of ``type`` (0: any; < 0: the lowest type <= -type); returns
        (message, type); with a false ``block``, BusyError if none waits."""
        type = _c_int(type)  # noqa: A001
        flags = 0 if block else _IPC_NOWAIT
        mtype, mtext = _call(_MQ_RECEIVE_ERRORS, _uipc.msgrcv, self._id,
                             self._max_message_size, type, flags)
        return mtext, mtype

    def remove(self) -> None:
        """MessageQueue_remove(): IPC_RMID."""
        _mq_remove(self._id)

    def __repr__(self) -> str:
        return f"sysv_ipc.MessageQueue({self._key})"

    __reduce_ex__ = _no_pickle

    def __str__(self) -> str:
        return f"Key={self._key}, id={self._id}"

    id = _Id()
    key = _Attr(lambda self: self._key, doc="The key passed to the constructor.")
    last_send_time = _Attr(_mq_stat("msg_stime"), doc="A Unix timestamp representing the last "
                                                      "time a message was sent.")
    last_receive_time = _Attr(_mq_stat("msg_rtime"), doc="A Unix timestamp representing the "
                                                         "last time a message was received.")
    last_change_time = _Attr(_mq_stat("msg_ctime"), doc="A Unix timestamp representing the last "
                                                        "time the queue was changed.")
    current_messages = _Attr(_mq_stat("msg_qnum"),
                             doc="The number of messages currently in the queue")
    last_send_pid = _Attr(_mq_stat("msg_lspid"),
                          doc="The id of the last process which sent via the queue")
    last_receive_pid = _Attr(_mq_stat("msg_lrpid"),
                             doc="The id of the last process which received from the queue")
    max_size = _Attr(_mq_stat("msg_qbytes"), _mq_set("msg_qbytes"),
                     doc="The maximum size of the queue (in bytes). Read-write if you have "
                         "sufficient privileges.")
    mode = _Attr(_mq_perm("mode"), _mq_set("mode"), doc="Permissions")
    uid = _Attr(_mq_perm("uid"), _mq_set("uid"), doc="The queue's UID.")
    gid = _Attr(_mq_perm("gid"), _mq_set("gid"), doc="The queue's GID.")
    cuid = _Attr(_mq_perm("cuid"), doc="The UID of the queue's creator. Read only.")
    cgid = _Attr(_mq_perm("cgid"), doc="The GID of the queue's creator. Read only.")


# --- shared memory (memory.c) -----------------------------------------------------
def _shm_gone(shmid: int) -> _Case:
    return _Case(ExistentialError, f"No shared memory with id {shmid} exists")


def _shm_stat_errors(shmid: int) -> _Table:  # shm_get_value()
    return {_errno.EIDRM: _shm_gone(shmid), _errno.EINVAL: _shm_gone(shmid),
            _errno.EACCES: _Case(PermissionsError, "You do not have permission to read the "
                                                   "shared memory attribute")}


def _shm_set_errors(shmid: int) -> _Table:  # shm_set_ipc_perm_value()'s IPC_SET
    return {_errno.EIDRM: _shm_gone(shmid), _errno.EINVAL: _shm_gone(shmid),
            _errno.EPERM: _Case(PermissionsError, "You do not have permission to change the "
                                                  "shared memory's attributes")}


def _shm_remove_errors(shmid: int) -> _Table:  # shm_remove()
    return {_errno.EIDRM: _shm_gone(shmid), _errno.EINVAL: _shm_gone(shmid),
            _errno.EPERM: _Case(PermissionsError, "You do not have permission to remove the "
                                                  "shared memory")}


_SHMAT_ERRORS: _Table = {  # shm_attach()
    _errno.EACCES: _Case(PermissionsError, "No permission to attach"),
    _errno.ENOMEM: _Case(MemoryError, "Not enough memory"),
    _errno.EINVAL: _Case(ValueError, "Invalid id, address, or flags"),
}
_SHMDT_ERRORS: _Table = {_errno.EINVAL: _Case(NotAttachedError, None)}  # SharedMemory_detach()


def _shmget_errors(key: int, mode: int) -> _Table:  # SharedMemory_init()
    return {
        _errno.EACCES: _Case(PermissionsError,
                             f"Permission {mode:o} cannot be granted on the existing segment"),
        _errno.EEXIST: _Case(ExistentialError, f"Shared memory with the key {key} already exists"),
        _errno.ENOENT: _Case(ExistentialError, f"No shared memory exists with the key {key}"),
        _errno.EINVAL: _Case(ValueError, "The size is invalid"),
        _errno.ENOMEM: _Case(MemoryError, "Not enough memory"),
        _errno.ENOSPC: _Case(OSError, "Not enough shared memory identifiers available (ENOSPC)"),
    }


def _shm_stat(shmid: int) -> _Any:
    return _call(lambda: _shm_stat_errors(shmid), _uipc.shmctl, shmid, _IPC_STAT)


def _shm_remove(shmid: int) -> None:
    _call(lambda: _shm_remove_errors(shmid), _uipc.shmctl, shmid, _IPC_RMID)


def _shm_field(field: str) -> _Callable[["SharedMemory"], int]:
    return lambda self: getattr(_shm_stat(self._id), field)


def _shm_perm(field: str) -> _Callable[["SharedMemory"], int]:
    return lambda self: getattr(_shm_stat(self._id).shm_perm, field)


def _shm_set(field: str, label: str) -> _Callable[["SharedMemory", _Any], None]:
    def setter(self: "SharedMemory", value: _Any) -> None:
        """shm_set_*() and shm_set_ipc_perm_value(): IPC_STAT, one field, IPC_SET."""
        if not isinstance(value, int):
            raise TypeError(f"{label} must be an integer")
        v = _as_uint(_c_long(value))
        st = _shm_stat(self._id)
        _call(lambda: _shm_set_errors(self._id), _uipc.shmctl, self._id, _IPC_SET,
              _with_perm(st, "shm_perm", field, v))
    return setter


# The memory under the buffer protocol.  A SharedMemory is an mmap of its
# own (its buffer), private anonymous memory until the segment is attached
# there with SHM_REMAP (uipc maps the segment over it in place).  While that
# attachment exists uipc owns the range; after shmdt uipc leaves a private
# placeholder there and would unmap it when its last view goes, so the object
# keeps one view (``_pin``) until it no longer needs the range.
_libc = _ctypes.CDLL(None, use_errno=True)
_libc.mmap.restype = _ctypes.c_void_p
_libc.mmap.argtypes = [_ctypes.c_void_p, _ctypes.c_size_t, _ctypes.c_int, _ctypes.c_int,
                       _ctypes.c_int, _ctypes.c_long]
_libc.munmap.argtypes = [_ctypes.c_void_p, _ctypes.c_size_t]
#: <sys/mman.h> values Python's mmap module does not export (3.11)
_MAP_NORESERVE = 0x4000
_MAP_FIXED_NOREPLACE = 0x100000
_MAP_FAILED = _ctypes.c_void_p(-1).value
#: reentrant: a SharedMemory's __del__ may run (gc) on a thread that holds it
_lock = _threading.RLock()


def _reinit_lock() -> None:
    """A fork child has one thread: a lock another thread held at fork is free."""
    global _lock
    _lock = _threading.RLock()


_os.register_at_fork(after_in_child=_reinit_lock)
#: objects with a live attachment: like the C module's, an attachment outlives
#: the handle (until detach or exit), and the range under it must stay mapped
_attached: set["SharedMemory"] = set()
#: views kept forever where a range could not be handed back safely (see __del__)
_kept_views: list[memoryview] = []
#: mmap.mmap names the C type does not have
_MMAP_ONLY = frozenset(n for n in vars(_mmap.mmap) if not n.startswith("_")
                       ) - {"read", "write", "size"} | {"__enter__", "__exit__"}


def _span(size: int) -> int:
    """The pages ``size`` bytes occupy."""
    return -(-size // PAGE_SIZE) * PAGE_SIZE


def _reserve(addr: int, length: int) -> bool:
    """Map inaccessible private memory at exactly ``addr`` if nothing is there."""
    flags = _mmap.MAP_PRIVATE | _mmap.MAP_ANONYMOUS | _MAP_NORESERVE | _MAP_FIXED_NOREPLACE
    got = _libc.mmap(addr, length, 0, flags, -1, 0)
    if got in (None, _MAP_FAILED):
        return False
    if got != addr:  # a kernel older than MAP_FIXED_NOREPLACE took it as a hint
        _libc.munmap(got, length)
        return False
    return True


class _Hidden:
    """An mmap.mmap attribute that sysv_ipc.SharedMemory does not have."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __get__(self, obj: _Any, owner: type | None = None) -> _Any:
        raise AttributeError(f"'sysv_ipc.SharedMemory' object has no attribute '{self.name}'")


class SharedMemory(_mmap.mmap):
    """A handle to a System V shared memory segment, as sysv_ipc.SharedMemory;
    the buffer protocol gives the segment's bytes while it is attached."""

    __module__ = "sysv_ipc"
    __slots__ = ("_key", "_id", "_address", "_read_only", "_base", "_size", "_at_base", "_pin")

    def __new__(cls, *args: _Any, **kwargs: _Any) -> "SharedMemory":
        """SharedMemory_new(): a handle attached to nothing (key -1), whose
        buffer is one private byte until a segment is attached."""
        self = super().__new__(cls, -1, 1, flags=_mmap.MAP_PRIVATE | _MAP_NORESERVE,
                               prot=_mmap.PROT_READ | _mmap.PROT_WRITE)
        self._key, self._id, self._address, self._read_only = -1, 0, 0, False
        self._base, self._size, self._at_base, self._pin = 0, 0, False, None
        return self

    def __init__(self, key: int | None, flags: int = 0, mode: int = 0o600, size: int = 0,
                 init_character: bytes = b" ") -> None:
        """SharedMemory_init(): shmget(key, size, mode & 0777 | flags & ~0777)
        (size PAGE_SIZE by default with IPC_CREX), attach (read-only if
        ``mode`` lacks the owner's write bit), and fill a segment this call
        created and may write with ``init_character``."""
        key = _key_param(key)
        flags, mode = _c_int(flags), _c_int(mode)
        size, init = _c_ulong(size, 4), _char_arg(init_character, 5)
        mode &= 0o777
        flags &= ~0o777
        _check_flags(key, flags)
        if (flags & IPC_CREX) == IPC_CREX and not size:
            size = PAGE_SIZE
        self._key, self._id = _get(key, lambda k: _uipc.shmget(k, size, mode | flags),
                                   lambda k: _shmget_errors(k, mode))
        shmat_flags = 0 if mode & 0o200 else SHM_RDONLY
        self._attach(None, shmat_flags)
        if (flags & IPC_CREX) == IPC_CREX and not shmat_flags & SHM_RDONLY:
            _ctypes.memset(self._address, init, _shm_stat(self._id).shm_segsz)

    # -- attaching -----------------------------------------------------------------
    def _bind(self, segsz: int) -> bool:
        """Size this object's own mapping (its buffer) to the segment's; False
        if a view of the one-byte buffer (taken before any attach) forbids it."""
        try:
            _mmap.mmap.resize(self, segsz)  # mremap: it may move, nothing points into it yet
        except BufferError:
            return False
        probe = _ctypes.c_char.from_buffer(self)
        self._base, self._size = _ctypes.addressof(probe), segsz
        del probe  # its export would pin the mapping
        return True

    def _attach(self, address: int | None, flags: int) -> None:
        """shm_attach(): shmat; without an address (or at the object's own),
        over the object's own mapping, so that its buffer is the segment."""
        with _lock:
            own = (address is None and not flags & SHM_REMAP) or (address == self._base != 0)
            if own and not self._at_base:
                segsz = _call(_SHMAT_ERRORS, _uipc.shmctl, self._id, _IPC_STAT).shm_segsz
                own = (self._base != 0 or self._bind(segsz)) and segsz == self._size
            else:
                own = False
            if own:
                addr = _call(_SHMAT_ERRORS, _uipc.shmat, self._id, self._base, flags | SHM_REMAP)
                # the old placeholder's view goes: the new attachment covers its range
                self._at_base, self._pin = True, None
            else:
                addr = _call(_SHMAT_ERRORS, _uipc.shmat, self._id, address, flags)
            self._address, self._read_only = addr, bool(flags & SHM_RDONLY)
            _attached.add(self)

    def attach(self, address: int | None = None, flags: int = 0) -> None:
        """SharedMemory_attach(): attach again (after detach()), at ``address``
        (None: where the system chooses) with shmat ``flags`` (SHM_RDONLY...)."""
        self._attach(_address_arg(address), _c_int(flags))

    def detach(self) -> None:
        """SharedMemory_detach(): shmdt; NotAttachedError if not attached."""
        with _lock:
            addr, self._address = self._address, 0
            pin = None
            if addr and addr == self._base and self._at_base:
                try:
                    pin = _uipc.shm_view(addr)[:]
                except ValueError:
                    pin = None
            _call(_SHMDT_ERRORS, _uipc.shmdt, addr)
            if pin is not None:
                self._pin, self._at_base = pin, False
            if not self._at_base:
                _attached.discard(self)

    def __del__(self) -> None:
        """Hand the object's own range back once: unmap it (mmap.close) and,
        if uipc still holds a view of its placeholder, let uipc's unmapping
        of that range hit only a reservation made for it; when something else
        took the range meanwhile, keep the view forever instead."""
        pin = getattr(self, "_pin", None)
        if pin is None or _sys.is_finalizing():
            return
        with _lock:
            _mmap.mmap.close(self)
            if not _reserve(self._base, _span(self._size)):
                _kept_views.append(pin)
            self._pin = None

    # -- reading and writing -------------------------------------------------------
    def read(self, byte_count: int = 0, offset: int = 0) -> bytes:  # type: ignore[override]
        """SharedMemory_read(): ``byte_count`` bytes (0, or more than remain:
        all) from ``offset``, never past the end."""
        byte_count, offset = _c_long(byte_count), _c_ulong(offset, 2)
        if not self._address:
            raise NotAttachedError("Read attempt on unattached memory segment")
        size = _shm_stat(self._id).shm_segsz
        if offset >= size:
            raise ValueError("The offset must be less than the segment size")
        if byte_count < 0:
            raise ValueError("The byte_count cannot be negative")
        if not byte_count or byte_count > size - offset:
            byte_count = size - offset
        with self._view("Read") as view:
            return view[offset:offset + byte_count].tobytes()

    def write(self, s: bytes | str, offset: int = 0) -> None:  # type: ignore[override]
        """SharedMemory_write(): copy ``s`` in at ``offset``; ValueError if it
        does not fit, OSError on a read-only attachment."""
        data, offset = _bytes_arg(s, 1), _c_ulong(offset, 2)
        if self._read_only:
            raise OSError("Write attempt on read-only memory segment")
        if not self._address:
            raise NotAttachedError("Write attempt on unattached memory segment")
        size = _shm_stat(self._id).shm_segsz
        if offset > size or len(data) > size - offset:
            raise ValueError("Attempt to write past end of memory segment")
        with self._view("Write") as view:
            view[offset:offset + len(data)] = data

    def _view(self, what: str) -> memoryview:
        """uipc's view of the attachment (another thread may have just detached it)."""
        try:
            return _uipc.shm_view(self._address)
        except ValueError:
            raise NotAttachedError(f"{what} attempt on unattached memory segment") from None

    def remove(self) -> None:
        """SharedMemory_remove(): IPC_RMID (the segment goes with its last attachment)."""
        _shm_remove(self._id)

    def __repr__(self) -> str:
        return f"sysv_ipc.SharedMemory({self._key})"

    def __str__(self) -> str:
        return f"Key={self._key}, id={self._id}"

    # the C type is no sequence and no context manager (and, having no length, always true)
    def __bool__(self) -> bool:
        return True

    def __len__(self) -> int:
        raise TypeError("object of type 'sysv_ipc.SharedMemory' has no len()")

    def __getitem__(self, index: _Any) -> _Any:
        raise TypeError("'sysv_ipc.SharedMemory' object is not subscriptable")

    def __setitem__(self, index: _Any, value: _Any) -> None:
        raise TypeError("'sysv_ipc.SharedMemory' object does not support item assignment")

    def __delitem__(self, index: _Any) -> None:
        raise TypeError("'sysv_ipc.SharedMemory' object doesn't support item deletion")

    __iter__ = None  # type: ignore[assignment]

    def __dir__(self) -> list[str]:
        return sorted(set(super().__dir__()) - _MMAP_ONLY)

    id = _Id()
    key = _Attr(lambda self: self._key, doc="The key passed to the constructor. Read only.")
    size = _Attr(_shm_field("shm_segsz"), doc="The size of the segment in bytes. Read only.")
    address = _Attr(lambda self: self._address,
                    doc="The memory address of the segment. Read only.")
    attached = _Attr(lambda self: bool(self._address),
                     doc="True if the segment is attached. Read only.")
    last_attach_time = _Attr(_shm_field("shm_atime"),
                             doc="The most recent time this segment was attached. Read only.")
    last_detach_time = _Attr(_shm_field("shm_dtime"),
                             doc="The most recent time this segment was detached. Read only.")
    last_change_time = _Attr(_shm_field("shm_ctime"),
                             doc="The time of the most recent change to this segment's uid, gid, "
                                 "mode, or the time the segment was removed. Read only.")
    creator_pid = _Attr(_shm_field("shm_cpid"), doc="The process id of the creator. Read only.")
    last_pid = _Attr(_shm_field("shm_lpid"),
                     doc="The id of the process that performed the most recent attach or "
                         "detach. Read only.")
    number_attached = _Attr(_shm_field("shm_nattch"),
                            doc="The current number of attached processes. Read only.")
    uid = _Attr(_shm_perm("uid"), _shm_set("uid", "Attribute 'uid'"), doc="The segment's UID.")
    gid = _Attr(_shm_perm("gid"), _shm_set("gid", "attribute 'gid'"), doc="The segment's GID.")
    cuid = _Attr(_shm_perm("cuid"), doc="The UID of the segment's creator. Read only.")
    cgid = _Attr(_shm_perm("cgid"), doc="The GID of the segment's creator. Read only.")
    mode = _Attr(_shm_perm("mode"), _shm_set("mode", "attribute 'mode'"), doc="Permissions.")


for _name in _MMAP_ONLY:
    setattr(SharedMemory, _name, _Hidden(_name))
del _name
