"""posix_ipc 1.3.2's public API over uipc: ``MessageQueue``, ``Semaphore``,
``SharedMemory``, the ``unlink_*`` functions, the constants and exceptions.

Each class and function mirrors its C counterpart in posix_ipc_module.c
(named in the docstrings): the same arguments parsed the same way
(``PyArg_ParseTupleAndKeywords`` formats, e.g. ``I`` masks to 32 bits while
``i`` raises OverflowError), the same checks in the same order, the same
defaults, and each errno mapped to the exception the package raises there
(ExistentialError for ENOENT/EEXIST and a closed handle, PermissionsError
for EACCES, BusyError for EAGAIN/ETIMEDOUT/EBUSY, SignalError for EINTR,
ValueError/OSError/MemoryError where the package uses them; an errno it does
not map is the ``OSError`` uipc raised, as ``PyErr_SetFromErrno`` gives).
The package's messages are kept and uipc's explanation naming the rule is
appended in parentheses.

The calls underneath are uipc's (uipc/client/mqueue.py, posix_shm.py): the
objects live in the uipc namespace, never in /dev/shm or /dev/mqueue; a
queue's ``mqd`` and a segment's ``fd`` are real descriptors (select, mmap).

Where it differs: a signal whose Python handler returns does not end a
waiting ``receive``/``send``/``acquire`` with SignalError -- the wait goes on,
as Python's own calls retry after EINTR (PEP 475), because the reply of a
request the daemon may already have completed cannot be told from an
interrupted one (a handler that raises, e.g. KeyboardInterrupt, does end the
wait with its exception, the request cancelled); writing a read-only
attribute raises AttributeError with Python's wording, not the C type's.
"""
import errno as _errno
import mmap as _mmap
import operator as _operator
import os as _os
import random as _random
import signal as _signal
import time as _time
import typing as _t

from uipc.client import connection as _conn
from uipc.client import mqueue as _mq
from uipc.client import posix_shm as _ps
from uipc.uapi import mqueue as _uapi

# every other name is private (underscored): dir() and ``import *`` show the
# package's names only

__all__ = [
    "BusyError", "Error", "ExistentialError", "MESSAGE_QUEUES_SUPPORTED", "MessageQueue",
    "O_CREAT", "O_CREX", "O_EXCL", "O_NONBLOCK", "O_RDONLY", "O_RDWR", "O_TRUNC", "O_WRONLY",
    "PAGE_SIZE", "PermissionsError", "QUEUE_MESSAGES_MAX_DEFAULT",
    "QUEUE_MESSAGE_SIZE_MAX_DEFAULT", "QUEUE_PRIORITY_MAX", "SEMAPHORE_TIMEOUT_SUPPORTED",
    "SEMAPHORE_VALUE_MAX", "SEMAPHORE_VALUE_SUPPORTED", "Semaphore", "SharedMemory",
    "SignalError", "USER_SIGNAL_MAX", "USER_SIGNAL_MIN", "VERSION", "unlink_message_queue",
    "unlink_semaphore", "unlink_shared_memory",
]

# --- module constants (PyInit_posix_ipc) ------------------------------------------
VERSION = __version__ = "1.3.2"
__copyright__ = "Copyright 2008 - 2025 Philip Semanchuk and contributors"
__author__ = "Philip Semanchuk"
__license__ = "BSD"

O_CREAT = _os.O_CREAT
O_EXCL = _os.O_EXCL
O_CREX = O_CREAT | O_EXCL
O_TRUNC = _os.O_TRUNC
O_RDONLY = _os.O_RDONLY
O_WRONLY = _os.O_WRONLY
O_RDWR = _os.O_RDWR
O_NONBLOCK = _os.O_NONBLOCK

MESSAGE_QUEUES_SUPPORTED = True
#: discover_system_info.py reads /proc/sys/fs/mqueue/msg_max and msgsize_max at
#: build time: Linux's defaults (DFLT_MSGMAX, DFLT_MSGSIZEMAX), which a fresh
#: uipc namespace has too
QUEUE_MESSAGES_MAX_DEFAULT = 10
QUEUE_MESSAGE_SIZE_MAX_DEFAULT = 8192
#: MQ_PRIO_MAX - 1: priorities are 0 .. QUEUE_PRIORITY_MAX
QUEUE_PRIORITY_MAX = _uapi.MQ_PRIO_MAX - 1
USER_SIGNAL_MIN = int(_signal.SIGRTMIN)
USER_SIGNAL_MAX = int(_signal.SIGRTMAX)
PAGE_SIZE = _mmap.PAGESIZE
SEMAPHORE_VALUE_MAX = _uapi.SEM_VALUE_MAX
SEMAPHORE_TIMEOUT_SUPPORTED = True
SEMAPHORE_VALUE_SUPPORTED = True


# --- exceptions -------------------------------------------------------------------
class Error(Exception):
    """posix_ipc.Error: the base of the module's exceptions."""

    __module__ = "posix_ipc"


class SignalError(Error):
    """A wait was interrupted by a signal (EINTR) other than KeyboardInterrupt."""

    __module__ = "posix_ipc"


class PermissionsError(Error):
    """Permission denied (EACCES), or a queue not opened for this direction."""

    __module__ = "posix_ipc"


class ExistentialError(Error):
    """The object exists when it should not (EEXIST) or not when it should
    (ENOENT), or the handle is closed."""

    __module__ = "posix_ipc"


class BusyError(Error):
    """The call would have waited (EAGAIN), its timeout passed (ETIMEDOUT),
    or a queue's notification belongs to another process (EBUSY)."""

    __module__ = "posix_ipc"


#: uipc's own failures (no daemon, a lost or untrusted one): never a posix_ipc error
_PASSTHROUGH = (_conn.UipcConnectionError, _conn.DaemonNotRunning, _conn.UntrustedDaemon)
_Table = dict[int, tuple[type[BaseException], str]]


def _message(text: str, exc: OSError) -> str:
    """The package's ``text`` with uipc's explanation of the rule appended."""
    detail = exc.strerror or ""
    # uipc's errors read "<strerror> (<rule>)", the strerror perhaps another
    # errno's (glibc's mq_unlink reports the kernel's EPERM as EACCES)
    head, sep, _ = detail.partition(" (")
    if sep and detail.endswith(")") and head in _strerrors():
        detail = detail[len(head):].strip()
    elif detail in _strerrors():
        detail = ""
    elif detail:
        detail = f"({detail})"
    return f"{text} {detail}" if detail else text


_STRERRORS: set[str] = set()


def _strerrors() -> set[str]:
    """Every errno's strerror text."""
    if not _STRERRORS:
        _STRERRORS.update(_os.strerror(n) for n in range(1, 256))
    return _STRERRORS


def _raise(exc: OSError, table: _Table) -> _t.NoReturn:
    """Raise what posix_ipc raises for ``exc.errno`` in the call ``table``
    describes (its ``switch (errno)``); the default case,
    ``PyErr_SetFromErrno(PyExc_OSError)``, is uipc's OSError itself."""
    if isinstance(exc, _PASSTHROUGH) or exc.errno not in table:
        raise exc
    cls, text = table[exc.errno]
    raise cls(_message(text, exc)) from None


def _busy_or_signal(busy: str) -> _Table:
    """The cases every waiting call shares: EINTR, EAGAIN and ETIMEDOUT."""
    return {_errno.EINTR: (SignalError, "The wait was interrupted by a signal"),
            _errno.EAGAIN: (BusyError, busy), _errno.ETIMEDOUT: (BusyError, busy)}


def _open_table(exists: str, missing: str) -> _Table:
    """sem_open's, shm_open's and mq_open's cases (Semaphore_init, ...)."""
    return {
        _errno.EACCES: (PermissionsError, "Permission denied"),
        _errno.EEXIST: (ExistentialError, exists),
        _errno.ENOENT: (ExistentialError, missing),
        _errno.EINVAL: (ValueError, "Invalid parameter(s)"),
        _errno.EMFILE: (OSError, "This process already has the maximum number of files open"),
        _errno.ENFILE: (OSError,
                        "The system limit on the total number of open files has been reached"),
        _errno.ENAMETOOLONG: (ValueError, "The name is too long"),
        _errno.ENOMEM: (MemoryError, "Not enough memory"),
    }


# --- argument conversion, as PyArg_ParseTuple's format units do it ---------------------
_INT_MIN, _INT_MAX = -(1 << 31), (1 << 31) - 1
_LONG_MIN, _LONG_MAX = -(1 << 63), (1 << 63) - 1


def _index(value: _t.Any) -> int:
    """An integer argument: an int, or what ``__index__`` gives (never a float)."""
    return _operator.index(value)


def _fmt_i(value: _t.Any) -> int:
    """Format unit ``i``: a C int, OverflowError outside its range."""
    v = value if type(value) is int else _index(value)
    if not _INT_MIN <= v <= _INT_MAX:
        side = "greater than maximum" if v > 0 else "less than minimum"
        raise OverflowError(f"signed integer is {side}")
    return v


def _fmt_l(value: _t.Any) -> int:
    """Format unit ``l``: a C long, OverflowError outside its range."""
    v = value if type(value) is int else _index(value)
    if not _LONG_MIN <= v <= _LONG_MAX:
        raise OverflowError("Python int too large to convert to C long")
    return v


def _fmt_mask(value: _t.Any, bits: int) -> int:
    """Format units ``I`` and ``k``: unsigned, masked, without overflow checking."""
    v = value if type(value) is int else _index(value)
    return v & ((1 << bits) - 1)


def _name_param(name: _t.Any) -> bytes | None:
    """convert_name_param: None, or the name as the C string passed to the call
    (a str through the filesystem encoding; bytes up to a NUL, as strcpy copies)."""
    if name is None:
        return None
    if isinstance(name, str):
        if "\0" in name:
            raise ValueError("embedded null byte")
        return _os.fsencode(name)
    if isinstance(name, bytes):
        return bytes(name).split(b"\0", 1)[0]
    raise TypeError("Name must be None or a string")


def _name_str(raw: bytes) -> str:
    """The ``name`` member (T_STRING): the C string as text."""
    return raw.decode("utf-8", "surrogateescape")


def _str_arg(name: _t.Any) -> bytes:
    """Format unit ``s`` of the module's unlink functions: a str only."""
    if not isinstance(name, str):
        raise TypeError(f"argument 1 must be str, not {type(name).__name__}")
    if "\0" in name:
        raise ValueError("embedded null character")
    return name.encode("utf-8", "surrogateescape")


def _timeout(timeout: _t.Any) -> float | None:
    """convert_timeout: None, or an absolute CLOCK_REALTIME time ``timeout``
    seconds from now; an int or float >= 0 (TypeError otherwise)."""
    if timeout is None:
        return None
    if isinstance(timeout, float):
        t = float(timeout)
    elif isinstance(timeout, int):
        t = float(timeout) if _LONG_MIN <= timeout <= _LONG_MAX else -1.0
    else:
        t = -1.0
    if not t >= 0:
        raise TypeError("The timeout must be None or a non-negative number")
    return _time.time() + t


def _check_flags(flags: int, name: bytes | None) -> None:
    """The argument checks each constructor makes before opening anything."""
    if not flags & O_CREAT and flags & O_EXCL:
        raise ValueError("O_EXCL must be combined with O_CREAT")
    if name is None and flags & O_EXCL != O_EXCL:
        raise ValueError("Name can only be None if O_EXCL is set")


_rng = _random.SystemRandom()  # never the same sequence in a fork child
_ALPHABET = "abcdefghijklmnopqrstuvwxyz"
#: MAX_SAFE_NAME_LENGTH: FreeBSD's limit on names, which the package keeps everywhere
_MAX_SAFE_NAME_LENGTH = 14


def _random_name() -> bytes:
    """create_random_name: '/' and 5 to 12 lowercase letters."""
    length = _rng.randint(6, _MAX_SAFE_NAME_LENGTH - 1)
    return ("/" + "".join(_rng.choice(_ALPHABET) for _ in range(length - 1))).encode()


def _open_named(name: bytes | None, opener: _t.Callable[[bytes], _t.Any]) -> tuple[bytes, _t.Any]:
    """Open ``name``, or (None) random names until one does not exist yet, as
    each constructor's ``do ... while (EEXIST == errno)`` does."""
    if name is not None:
        return name, opener(name)
    while True:
        candidate = _random_name()
        try:
            return candidate, opener(candidate)
        except FileExistsError:
            continue


def _mode_str(mode: int) -> str:
    """mode_to_str: "0%o" of the int mode."""
    return "0%o" % (mode & 0xFFFFFFFF if mode < 0 else mode)


# --- Semaphore ----------------------------------------------------------------------
_SEM_OPEN = _open_table("A semaphore with the specified name already exists",
                        "No semaphore exists with the specified name")
_SEM_GONE: _Table = {_errno.EINVAL: (ExistentialError, "The semaphore does not exist"),
                     _errno.EBADF: (ExistentialError, "The semaphore does not exist")}
_SEM_WAIT: _Table = {**_SEM_GONE, **_busy_or_signal("Semaphore is busy")}
_SEM_UNLINK: _Table = {
    _errno.EACCES: (PermissionsError, "Denied permission to unlink this semaphore"),
    _errno.ENOENT: (ExistentialError, "No semaphore exists with the specified name"),
    _errno.EINVAL: (ExistentialError, "No semaphore exists with the specified name"),
    _errno.ENAMETOOLONG: (ValueError, "The name is too long"),
}


def _sem_unlink(raw: bytes) -> None:
    """my_sem_unlink."""
    try:
        _ps.sem_unlink(raw)  # type: ignore[arg-type]
    except OSError as exc:
        _raise(exc, _SEM_UNLINK)


class _Named:
    """The members every posix_ipc object has: ``name`` and ``mode``."""

    _raw: bytes | None
    _mode: int

    @property
    def name(self) -> str | None:
        """The name specified in the constructor (or generated)."""
        return None if self._raw is None else _name_str(self._raw)

    @property
    def mode(self) -> int:
        """The mode specified in the constructor."""
        return self._mode


class Semaphore(_Named):
    """posix_ipc.Semaphore(name, flags=0, mode=0o600, initial_value=0):
    a named POSIX semaphore (Semaphore_init)."""

    __module__ = "posix_ipc"
    __slots__ = ("_raw", "_mode", "_sem")

    def __init__(self, name: str | bytes | None, flags: int = 0, mode: int = 0o600,
                 initial_value: int = 0) -> None:
        self._sem: _ps.NamedSem | None = None
        self._raw: bytes | None = None
        self._mode = 0o600
        raw = _name_param(name)
        flags, self._mode, value = _fmt_i(flags), _fmt_i(mode), _fmt_mask(initial_value, 32)
        _check_flags(flags, raw)
        mode = self._mode

        def opener(n: bytes) -> _ps.NamedSem:
            return _ps.sem_open(n, flags, mode, value)  # type: ignore[arg-type]
        try:
            self._raw, self._sem = _open_named(raw, opener)
        except OSError as exc:
            _raise(exc, _SEM_OPEN)

    def _handle(self) -> _ps.NamedSem:
        """test_semaphore_validity."""
        if self._sem is None:
            raise ExistentialError("The semaphore has been closed")
        return self._sem

    @property
    def value(self) -> int:
        """The semaphore's value (Semaphore_getvalue)."""
        sem = self._handle()
        try:
            return _ps.sem_getvalue(sem)
        except OSError as exc:
            _raise(exc, {_errno.EINVAL: _SEM_GONE[_errno.EINVAL]})

    def acquire(self, timeout: float | None = None) -> None:
        """Semaphore_acquire: sem_wait (None), sem_trywait (0) or sem_timedwait;
        BusyError if it would wait or the timeout passes."""
        sem = self._handle()
        deadline = _timeout(timeout)
        try:
            if deadline is None:
                _ps.sem_wait(sem)
            elif not timeout:
                _ps.sem_trywait(sem)
            else:
                _ps.sem_timedwait(sem, deadline)
        except OSError as exc:
            _raise(exc, _SEM_WAIT)

    def release(self) -> None:
        """Semaphore_release: sem_post."""
        sem = self._handle()
        try:
            _ps.sem_post(sem)
        except OSError as exc:
            _raise(exc, _SEM_GONE)

    def close(self) -> None:
        """Semaphore_close: sem_close; the object is unusable afterwards."""
        sem = self._handle()
        try:
            _ps.sem_close(sem)
        except OSError as exc:
            _raise(exc, {_errno.EINVAL: _SEM_GONE[_errno.EINVAL]})
        self._sem = None

    def unlink(self) -> None:
        """Semaphore_unlink: sem_unlink of this semaphore's name (while it is open)."""
        self._handle()
        _sem_unlink(self._raw)  # type: ignore[arg-type]

    def __enter__(self) -> "Semaphore":
        self.acquire()
        return self

    def __exit__(self, *args: object) -> None:
        self.release()

    def __str__(self) -> str:
        return self.name or "(no name)"

    def __repr__(self) -> str:
        return f'posix_ipc.Semaphore("{self.name}", mode={_mode_str(self._mode)})'


# --- SharedMemory -------------------------------------------------------------------
_NO_FD = -1  # POSIX_IPC_SHM_NO_VALUE
_SHM_GONE: _Table = {_errno.EBADF: (ExistentialError, "The segment does not exist"),
                     _errno.EINVAL: (ExistentialError, "The segment does not exist")}
_SHM_UNLINK: _Table = {
    _errno.EACCES: (PermissionsError, "Permission denied"),
    _errno.ENOENT: (ExistentialError, "No shared memory exists with the specified name"),
    _errno.ENAMETOOLONG: (ValueError, "The name is too long"),
}
_SHM_TRUNCATE: _Table = {
    _errno.EINVAL: (ValueError, "The size is invalid or the memory is read-only"),
    _errno.EFBIG: (ValueError, "The size is too large"),
    _errno.EROFS: (PermissionsError, "The memory is read-only"),
    _errno.EACCES: (PermissionsError, "The memory is read-only"),
}


def _shm_unlink(raw: bytes) -> None:
    """my_shm_unlink."""
    try:
        _ps.shm_unlink(raw)  # type: ignore[arg-type]
    except OSError as exc:
        _raise(exc, _SHM_UNLINK)


def _shm_open_table(flags: int) -> _Table:
    table = _open_table("Shared memory with the specified name already exists",
                        "No shared memory exists with the specified name")
    table[_errno.EACCES] = (PermissionsError, "No permission to %s this segment"
                            % ("truncate" if flags & O_TRUNC else "access"))
    return table


class SharedMemory(_Named):
    """posix_ipc.SharedMemory(name, flags=0, mode=0o600, size=0, read_only=False):
    a POSIX shared memory object and its descriptor (SharedMemory_init)."""

    __module__ = "posix_ipc"
    __slots__ = ("_raw", "_mode", "_fd")

    def __init__(self, name: str | bytes | None, flags: int = 0, mode: int = 0o600,
                 size: int = 0, read_only: bool = False) -> None:
        self._raw: bytes | None = None
        self._fd = _NO_FD
        self._mode = 0o600
        raw = _name_param(name)
        flags, self._mode = _fmt_mask(flags, 32), _fmt_i(mode)
        if not isinstance(size, int):  # format unit k takes an int only
            raise TypeError(f"argument 4 must be int, not {type(size).__name__}")
        size, read_only = _fmt_mask(size, 64), _fmt_i(read_only)
        _check_flags(flags, raw)
        flags |= O_RDONLY if read_only else O_RDWR
        mode = self._mode
        try:
            self._raw, self._fd = _open_named(
                raw, lambda n: _ps.shm_open(n, flags, mode))  # type: ignore[arg-type]
        except OSError as exc:
            _raise(exc, _shm_open_table(flags))
        if size:
            self._truncate(size)

    def _truncate(self, size: int) -> None:
        """ftruncate to the constructor's size; on failure the object just opened
        (or made) is closed and unlinked, as the package does, and the error raised."""
        try:
            _os.ftruncate(self._fd, size - (1 << 64) if size > _LONG_MAX else size)
        except OSError as exc:
            _os.close(self._fd)
            self._fd = _NO_FD
            try:
                _ps.shm_unlink(self._raw)  # type: ignore[arg-type]
            except OSError:
                pass
            _raise(exc, _SHM_TRUNCATE)

    @property
    def fd(self) -> int:
        """The descriptor (-1 after close_fd)."""
        return self._fd

    def fileno(self) -> int:
        """The descriptor (same as ``fd``)."""
        return self._fd

    @property
    def size(self) -> int:
        """The object's size, from fstat (SharedMemory_getsize)."""
        try:
            return _os.fstat(self._fd).st_size
        except OSError as exc:
            _raise(exc, _SHM_GONE)

    def close_fd(self) -> None:
        """SharedMemory_close_fd: close the descriptor (a mapping stays valid)."""
        if self._fd == _NO_FD:
            return
        try:
            _os.close(self._fd)
        except OSError as exc:
            _raise(exc, {_errno.EBADF: (ValueError, "The file descriptor is invalid")})
        self._fd = _NO_FD

    def unlink(self) -> None:
        """SharedMemory_unlink: shm_unlink of this object's name."""
        _shm_unlink(self._raw)  # type: ignore[arg-type]

    def __str__(self) -> str:
        return self.name or "(no name)"

    def __repr__(self) -> str:
        return f'posix_ipc.SharedMemory("{self.name}", mode={_mode_str(self._mode)})'


# --- MessageQueue -------------------------------------------------------------------
_NO_MQD = -1  # POSIX_IPC_MQ_NO_VALUE
_MQ_OPEN = _open_table("A queue with the specified name already exists",
                       "No queue exists with the specified name")
_MQ_OPEN[_errno.ENOSPC] = (OSError, "Insufficient space for a new queue")
_MQ_GONE: _Table = {_errno.EBADF: (ExistentialError, "The queue does not exist"),
                    _errno.EINVAL: (ExistentialError, "The queue does not exist")}
_NOT_FOR_WRITING = "The message queue does not exist or is not open for writing"
_NOT_FOR_READING = "The message queue does not exist or is not open for reading"
_MQ_SEND: _Table = {
    _errno.EBADF: (ExistentialError, _NOT_FOR_WRITING),
    _errno.EINVAL: (ExistentialError, _NOT_FOR_WRITING),
    _errno.EMSGSIZE: (ValueError, "The message is too long"),
    **_busy_or_signal("The queue is full"),
}
_MQ_RECEIVE: _Table = {
    _errno.EBADF: (ExistentialError, _NOT_FOR_READING),
    _errno.EINVAL: (ExistentialError, _NOT_FOR_READING),
    **_busy_or_signal("The queue is empty"),
}
_MQ_NOTIFY: _Table = {
    _errno.EBUSY: (BusyError, "The queue is already delivering notifications elsewhere"),
}
_MQ_UNLINK: _Table = {
    _errno.EACCES: (PermissionsError, "Permission denied"),
    _errno.ENOENT: (ExistentialError, "No queue exists with the specified name"),
    _errno.EINVAL: (ExistentialError, "No queue exists with the specified name"),
    _errno.ENAMETOOLONG: (ValueError, "The name is too long"),
}


def _mq_unlink(raw: bytes) -> None:
    """my_mq_unlink."""
    try:
        _mq.mq_unlink(raw)  # type: ignore[arg-type]
    except OSError as exc:
        _raise(exc, _MQ_UNLINK)


def _message_bytes(message: _t.Any) -> bytes:
    """Format unit ``s*``: a str (as UTF-8) or any bytes-like object."""
    if isinstance(message, str):
        return message.encode("utf-8")
    if type(message) is bytes:
        return message
    try:
        return memoryview(message).tobytes()
    except TypeError:
        raise TypeError(f"a bytes-like object is required, not '{type(message).__name__}'") \
            from None


class MessageQueue(_Named):
    """posix_ipc.MessageQueue(name, flags=0, mode=0o600,
    max_messages=QUEUE_MESSAGES_MAX_DEFAULT,
    max_message_size=QUEUE_MESSAGE_SIZE_MAX_DEFAULT, read=True, write=True):
    a POSIX message queue (MessageQueue_init)."""

    __module__ = "posix_ipc"
    __slots__ = ("_raw", "_mqd", "_mode", "_max_messages", "_max_message_size",
                 "_send_permitted", "_receive_permitted", "_callback", "_param")

    def __init__(self, name: str | bytes | None, flags: int = 0, mode: int = 0o600,
                 max_messages: int = QUEUE_MESSAGES_MAX_DEFAULT,
                 max_message_size: int = QUEUE_MESSAGE_SIZE_MAX_DEFAULT,
                 read: _t.Any = True, write: _t.Any = True) -> None:
        self._raw: bytes | None = None
        self._mqd = _NO_MQD
        self._mode = 0o600
        self._max_messages = self._max_message_size = 0
        self._send_permitted = self._receive_permitted = False
        self._callback: _t.Callable[[_t.Any], _t.Any] | None = None
        self._param: _t.Any = None
        raw = _name_param(name)
        flags, self._mode = _fmt_mask(flags, 32), _fmt_i(mode)
        maxmsg, msgsize = _fmt_l(max_messages), _fmt_l(max_message_size)
        _check_flags(flags, raw)
        flags |= self._access(bool(read), bool(write))
        attr = _uapi.MqAttr(flags & O_NONBLOCK, maxmsg, msgsize) if flags & O_CREAT else None
        mode = self._mode
        try:
            self._raw, self._mqd = _open_named(
                raw, lambda n: _mq.mq_open(n, flags, mode, attr))  # type: ignore[arg-type]
        except OSError as exc:
            _raise(exc, _MQ_OPEN)
        try:
            got = _mq.mq_getattr(self._mqd)
        except OSError:
            raise Error("Unable to initialize object") from None
        self._max_messages, self._max_message_size = got.mq_maxmsg, got.mq_msgsize

    def _access(self, read: bool, write: bool) -> int:
        """The access mode from ``read`` and ``write`` (both False: ValueError)."""
        if not read and not write:
            raise ValueError("At least one of read or write must be True")
        self._receive_permitted, self._send_permitted = read, write
        return O_RDWR if read and write else O_RDONLY if read else O_WRONLY

    # --- members and getseters
    @property
    def max_messages(self) -> int:
        """Queue slots (mq_maxmsg)."""
        return self._max_messages

    @property
    def max_message_size(self) -> int:
        """Maximum number of bytes per message (mq_msgsize)."""
        return self._max_message_size

    @property
    def mqd(self) -> int:
        """The queue's descriptor: a real one (select, poll); -1 after close."""
        return self._mqd

    def fileno(self) -> int:
        """The queue's descriptor (same as ``mqd``)."""
        return self._mqd

    def _attr(self) -> _uapi.MqAttr:
        """mq_get_attrs."""
        try:
            return _mq.mq_getattr(self._mqd)
        except OSError as exc:
            _raise(exc, _MQ_GONE)

    @property
    def current_messages(self) -> int:
        """How many messages wait in the queue (mq_curmsgs)."""
        return self._attr().mq_curmsgs

    @property
    def block(self) -> bool:
        """False once O_NONBLOCK is set: send and receive raise BusyError instead
        of waiting (MessageQueue_get_block / _set_block)."""
        return not self._attr().mq_flags & O_NONBLOCK

    @block.setter
    def block(self, value: _t.Any) -> None:
        try:
            _mq.mq_setattr(self._mqd, _uapi.MqAttr(0 if value else O_NONBLOCK))
        except OSError as exc:
            _raise(exc, {_errno.EBADF: _MQ_GONE[_errno.EBADF]})

    # --- methods
    def send(self, message: _t.Any, timeout: float | None = None, priority: int = 0) -> None:
        """MessageQueue_send: mq_send, or with a timeout mq_timedsend; BusyError
        when the queue stays full."""
        msg = _message_bytes(message)
        deadline = _timeout(timeout)
        prio = _fmt_l(priority)
        if not self._send_permitted:
            raise PermissionsError("The queue is not open for writing")
        if not 0 <= prio <= QUEUE_PRIORITY_MAX:
            raise ValueError("The priority must be a positive number no greater than "
                             f"QUEUE_PRIORITY_MAX ({QUEUE_PRIORITY_MAX})")
        if len(msg) > self._max_message_size and self._open():
            # the package lets mq_send fail with EMSGSIZE; a message past uipc's
            # frame limit would not reach the daemon to be refused
            raise ValueError(f"The message is too long (mq_send: {len(msg)} bytes exceed the "
                             f"queue's mq_msgsize of {self._max_message_size})")
        try:
            if deadline is None:
                _mq.mq_send(self._mqd, msg, prio)
            else:
                _mq.mq_timedsend(self._mqd, msg, prio, deadline)
        except OSError as exc:
            _raise(exc, _MQ_SEND)

    def _open(self) -> bool:
        try:
            _os.fstat(self._mqd)
        except OSError:
            return False
        return True

    def receive(self, timeout: float | None = None) -> tuple[bytes, int]:
        """MessageQueue_receive: (message, priority), the oldest message of the
        highest priority; BusyError when none comes."""
        deadline = _timeout(timeout)
        if not self._receive_permitted:
            raise PermissionsError("The queue is not open for reading")
        try:
            return _mq.mq_timedreceive(self._mqd, self._max_message_size, deadline)
        except OSError as exc:
            _raise(exc, _MQ_RECEIVE)

    def request_notification(self, notification: _t.Any = None) -> None:
        """MessageQueue_request_notification: None cancels; an int asks for that
        signal; ``(function, param)`` for ``function(param)`` in a new thread.
        One notification per request, when a message arrives on the empty queue."""
        sigev: _uapi.SigEvent | None = None
        if notification is None:
            pass
        elif isinstance(notification, int):
            # (int)PyLong_AsLong(...): a C cast keeps the low 32 bits
            signo = ((int(notification) + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)
            sigev = _uapi.SigEvent(_uapi.SIGEV_SIGNAL, signo)
        elif (isinstance(notification, tuple) and len(notification) == 2
              and callable(notification[0])):
            sigev = _uapi.SigEvent(_uapi.SIGEV_THREAD, 0, 0, self._notified)
        else:
            raise ValueError("The notification must be None, an integer, or a tuple of "
                             "(function, parameter)")
        self._cancel_notification()
        if sigev is None:
            return
        if sigev.sigev_notify == _uapi.SIGEV_THREAD:
            self._callback, self._param = notification
        try:
            _mq.mq_notify(self._mqd, sigev)
        except OSError as exc:
            self._callback = self._param = None
            _raise(exc, _MQ_NOTIFY)

    def _cancel_notification(self) -> None:
        """mq_cancel_notification: unregister, whatever mq_notify says."""
        try:
            _mq.mq_notify(self._mqd, None)
        except OSError as exc:
            if isinstance(exc, _PASSTHROUGH):
                raise
        self._callback = self._param = None

    def _notified(self, _value: int) -> None:
        """process_notification, in the new thread: the callback and its param
        are taken (the callback may re-register) and the callback called; an
        exception it raises is dropped, as the package drops it."""
        callback, param = self._callback, self._param
        self._callback = self._param = None
        if callback is None:
            return
        try:
            callback(param)
        except Exception:  # noqa: BLE001 - the package has nowhere to report it
            pass

    def close(self) -> None:
        """MessageQueue_close: mq_close; ``mqd`` is -1 afterwards."""
        try:
            _mq.mq_close(self._mqd)
        except OSError as exc:
            _raise(exc, _MQ_GONE)
        self._mqd = _NO_MQD

    def unlink(self) -> None:
        """MessageQueue_unlink: mq_unlink of this queue's name."""
        _mq_unlink(self._raw)  # type: ignore[arg-type]

    def __str__(self) -> str:
        return self.name or "(no name)"

    def __repr__(self) -> str:
        return (f'posix_ipc.MessageQueue("{self.name}", mode={_mode_str(self._mode)}, '
                f"max_message_size={self._max_message_size}, "
                f"max_messages={self._max_messages}, read={self._receive_permitted}, "
                f"write={self._send_permitted})")


# --- module functions ---------------------------------------------------------------
def unlink_semaphore(name: str, /) -> None:
    """posix_ipc_unlink_semaphore: remove a semaphore's name."""
    _sem_unlink(_str_arg(name))


def unlink_shared_memory(name: str, /) -> None:
    """posix_ipc_unlink_shared_memory: remove a shared memory object's name."""
    _shm_unlink(_str_arg(name))


def unlink_message_queue(name: str, /) -> None:
    """posix_ipc_unlink_message_queue: remove a message queue's name."""
    _mq_unlink(_str_arg(name))
