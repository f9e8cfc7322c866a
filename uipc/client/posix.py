"""Pythonic POSIX IPC: MessageQueue, Semaphore, SharedMemory (``uipc.posix``).

Thin classes over the libc-named calls (uipc/client/mqueue.py,
posix_shm.py): context managers, relative timeouts in seconds (the calls
take absolute CLOCK_REALTIME times, as C's do), iteration over a queue's
waiting messages, and asyncio twins (``await q.areceive()``,
``await sem.aacquire()``) that a cancellation leaves nothing behind of.
"""
from __future__ import annotations

import errno
import mmap
import os
import time
from typing import Any, Callable, Iterator

from uipc.client import mqueue as _mq
from uipc.client import posix_shm as _ps
from uipc.uapi.mqueue import SIGEV_NONE, SIGEV_SIGNAL, SIGEV_THREAD, MqAttr, SigEvent

__all__ = ["MessageQueue", "Semaphore", "SharedMemory"]


def _deadline(timeout: float | None) -> float | None:
    """A relative timeout (seconds, None: forever) as an absolute CLOCK_REALTIME time."""
    if timeout is None:
        return None
    if timeout < 0:
        raise ValueError(f"timeout must be >= 0 or None, not {timeout}")
    return time.time() + timeout


class MessageQueue:
    """A POSIX message queue (mq_open(3)).

    ``MessageQueue("/jobs", os.O_CREAT, maxmsg=10, msgsize=1024)``; the access
    mode is O_RDWR unless ``flags`` names another; ``flags`` may add O_EXCL,
    O_NONBLOCK, O_CLOEXEC.  ``fileno()`` is a real descriptor: select, poll,
    epoll and ``loop.add_reader`` see it readable when a message waits.
    """

    def __init__(self, name: str, flags: int = 0, mode: int = 0o600, maxmsg: int | None = None,
                 msgsize: int | None = None) -> None:
        attr = None
        if maxmsg is not None or msgsize is not None:
            attr = MqAttr(0, maxmsg or 10, msgsize or 8192)
        if not flags & os.O_ACCMODE:
            flags |= os.O_RDWR
        self.name = name
        self.mqd: int = _mq.mq_open(name, flags, mode, attr)
        self._closed = False
        attr = _mq.mq_getattr(self.mqd)
        #: mq_maxmsg and mq_msgsize, fixed at creation
        self.maxmsg, self.msgsize = attr.mq_maxmsg, attr.mq_msgsize

    # --- the queue
    def fileno(self) -> int:
        return self.mqd

    @property
    def attr(self) -> MqAttr:
        return _mq.mq_getattr(self.mqd)

    @property
    def current_messages(self) -> int:
        return _mq.mq_getattr(self.mqd).mq_curmsgs

    @property
    def nonblocking(self) -> bool:
        return bool(_mq.mq_getattr(self.mqd).mq_flags & os.O_NONBLOCK)

    @nonblocking.setter
    def nonblocking(self, on: bool) -> None:
        _mq.mq_setattr(self.mqd, MqAttr(os.O_NONBLOCK if on else 0))

    def send(self, message: bytes, priority: int = 0, timeout: float | None = None) -> None:
        """mq_send, or mq_timedsend with ``timeout`` seconds (ETIMEDOUT)."""
        if timeout is None:
            _mq.mq_send(self.mqd, message, priority)
        else:
            _mq.mq_timedsend(self.mqd, message, priority, _deadline(timeout))

    def receive(self, timeout: float | None = None) -> tuple[bytes, int]:
        """(message, priority): the oldest of the highest priority."""
        return _mq.mq_timedreceive(self.mqd, self.msgsize, _deadline(timeout))

    def __iter__(self) -> Iterator[tuple[bytes, int]]:
        """The messages waiting now, in receive order (never blocks)."""
        while True:
            try:
                yield _mq.mq_timedreceive(self.mqd, self.msgsize, 0)
            except OSError as exc:
                if exc.errno in (errno.ETIMEDOUT, errno.EAGAIN):
                    return
                raise

    def notify(self, callback: Callable[[int], Any] | int | None, value: int = 0) -> None:
        """mq_notify: a function (run in a thread, SIGEV_THREAD), a signal
        number (SIGEV_SIGNAL), 0 (SIGEV_NONE: only claims the registration)
        or None (unregister)."""
        if callback is None:
            _mq.mq_notify(self.mqd, None)
        elif callable(callback):
            _mq.mq_notify(self.mqd, SigEvent(SIGEV_THREAD, 0, value, callback))
        elif callback == 0:
            _mq.mq_notify(self.mqd, SigEvent(SIGEV_NONE))
        else:
            _mq.mq_notify(self.mqd, SigEvent(SIGEV_SIGNAL, int(callback), value))

    # --- asyncio
    async def asend(self, message: bytes, priority: int = 0, timeout: float | None = None) -> None:
        await _mq.amq_send(self.mqd, message, priority, _deadline(timeout))

    async def areceive(self, timeout: float | None = None) -> tuple[bytes, int]:
        return await _mq.amq_receive(self.mqd, self.msgsize, _deadline(timeout))

    # --- life
    def close(self) -> None:
        if not self._closed:
            self._closed = True
            _mq.mq_close(self.mqd)

    def unlink(self) -> None:
        _mq.mq_unlink(self.name)

    def __enter__(self) -> "MessageQueue":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"MessageQueue({self.name!r}, mqd={self.mqd})"


class Semaphore:
    """A named POSIX semaphore (sem_open(3)); ``with sem:`` acquires and releases."""

    def __init__(self, name: str, flags: int = 0, mode: int = 0o600, value: int = 0) -> None:
        self.name = name
        self._sem: _ps.NamedSem | None = _ps.sem_open(name, flags, mode, value)

    @property
    def handle(self) -> _ps.NamedSem:
        if self._sem is None:
            raise ValueError(f"semaphore {self.name} is closed")
        return self._sem

    def acquire(self, blocking: bool = True, timeout: float | None = None) -> bool:
        """sem_wait / sem_trywait / sem_timedwait; False if it did not get it."""
        try:
            if not blocking:
                _ps.sem_trywait(self.handle)
            elif timeout is None:
                _ps.sem_wait(self.handle)
            else:
                _ps.sem_timedwait(self.handle, _deadline(timeout))  # type: ignore[arg-type]
        except OSError as exc:
            if exc.errno in (errno.EAGAIN, errno.ETIMEDOUT):
                return False
            raise
        return True

    def release(self) -> None:
        _ps.sem_post(self.handle)

    @property
    def value(self) -> int:
        return _ps.sem_getvalue(self.handle)

    async def aacquire(self, timeout: float | None = None) -> bool:
        """acquire() awaited on the event loop; cancellable (nothing left waiting)."""
        try:
            await _ps.asem_wait(self.handle, _deadline(timeout))
        except OSError as exc:
            if exc.errno == errno.ETIMEDOUT:
                return False
            raise
        return True

    def close(self) -> None:
        if self._sem is not None:
            sem, self._sem = self._sem, None
            _ps.sem_close(sem)

    def unlink(self) -> None:
        _ps.sem_unlink(self.name)

    def __enter__(self) -> "Semaphore":
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def __repr__(self) -> str:
        return f"Semaphore({self.name!r})"


class SharedMemory:
    """A POSIX shared memory object (shm_open(3)) and, once sized, its mapping.

    ``SharedMemory("/frames", os.O_CREAT, size=1 << 20)``; ``buf`` is a
    writable memoryview of the whole object.  It is opened O_RDWR, or
    O_RDONLY with ``readonly=True`` (then ``buf`` is read-only).
    """

    def __init__(self, name: str, flags: int = 0, mode: int = 0o600, size: int = 0, *,
                 readonly: bool = False) -> None:
        self.name = name
        self.readonly = readonly
        flags = (flags & ~os.O_ACCMODE) | (os.O_RDONLY if readonly else os.O_RDWR)
        self.fd: int = _ps.shm_open(name, flags, mode)
        self._map: mmap.mmap | None = None
        #: mappings of earlier sizes, kept while views of them may live
        self._old_maps: list[mmap.mmap] = []
        if size:
            os.ftruncate(self.fd, size)

    @property
    def size(self) -> int:
        """The object's size (its mapping's, once the descriptor is closed)."""
        if self.fd < 0:
            return len(self._map) if self._map is not None else 0
        return os.fstat(self.fd).st_size

    @property
    def buf(self) -> memoryview:
        """The object mapped (MAP_SHARED), at its current size (after
        close_fd: the mapping made before)."""
        if self._map is not None and (self.fd < 0 or len(self._map) == self.size):
            return memoryview(self._map)
        if self.fd < 0:
            raise ValueError(f"{self.name}: the descriptor is closed and nothing was mapped")
        if self._map is not None:  # it grew or shrank: a new mapping; views of the old stay valid
            self._old_maps.append(self._map)
        access = mmap.ACCESS_READ if self.readonly else mmap.ACCESS_WRITE
        self._map = mmap.mmap(self.fd, self.size, access=access)
        return memoryview(self._map)

    def close_fd(self) -> None:
        """Close the descriptor; the mapping stays usable."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def close(self) -> None:
        for m in [*self._old_maps, *([self._map] if self._map is not None else [])]:
            try:
                m.close()
            except BufferError:  # a memoryview of it is still alive: it goes with it
                pass
        self._map, self._old_maps = None, []
        self.close_fd()

    def unlink(self) -> None:
        _ps.shm_unlink(self.name)

    def __enter__(self) -> "SharedMemory":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"SharedMemory({self.name!r}, fd={self.fd})"
