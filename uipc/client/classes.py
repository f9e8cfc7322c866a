"""Pythonic classes over the system calls: MessageQueue (more join later)."""
from __future__ import annotations

import errno
from typing import Iterable, Iterator

from uipc.client.args import LONG_MAX, int_in, items, key_t
from uipc.client.batch import msgrcv_many, msgsnd_many
from uipc.client.syscalls import msgctl, msgget, msgrcv, msgsnd
from uipc.uapi.ipc import IPC_CREAT, IPC_EXCL, IPC_NOWAIT, IPC_PRIVATE, IPC_RMID, IPC_STAT
from uipc.uapi.msg import MSG_EXCEPT, MSG_NOERROR, MsqidDs


def key_from_name(name: str) -> int:
    """A stable non-zero key from a name (instead of ftok's inode collisions)."""
    import hashlib
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, not {type(name).__name__}")
    key = int.from_bytes(hashlib.blake2b(name.encode(), digest_size=4).digest(), "little")
    return key or 1


def object_key(key: int | str | None) -> int:
    """The classes' ``key``: an int key_t, a name (hashed) or None (IPC_PRIVATE)."""
    if key is None:
        return IPC_PRIVATE
    if isinstance(key, str):
        return key_from_name(key)
    if isinstance(key, bool) or not hasattr(key, "__index__"):
        raise TypeError(f"key must be an int, a str name or None, not {type(key).__name__}")
    return key_t(key)


def object_mode(mode: int) -> int:
    """The classes' ``mode``: permission bits only, so that no flag (IPC_CREAT
    is 0o1000) can hide in it and be dropped silently."""
    if isinstance(mode, bool) or not isinstance(mode, int):
        raise TypeError(f"mode must be an int such as 0o600, not {type(mode).__name__}")
    if not 0 <= mode <= 0o777:
        raise ValueError(f"mode {mode:#o} is not permission bits (0 to 0o777); "
                         "create/exclusive are keyword arguments")
    return mode


def get_flags(key: int | str | None, create: bool, exclusive: bool, mode: int) -> tuple[int, int]:
    """(key, flags) for an xxxget call from the classes' keyword arguments.

    A name becomes a key; no key means IPC_PRIVATE (always a new object).
    Raises TypeError/ValueError before anything is asked of the daemon.
    """
    if key is None:
        create = True
    key = object_key(key)
    flags = object_mode(mode)
    if create:
        flags |= IPC_CREAT
    if exclusive:
        flags |= IPC_CREAT | IPC_EXCL
    return key, flags


class MessageQueue:
    """A SysV message queue.

    ``MessageQueue()`` creates a private queue; ``MessageQueue(key)`` opens an
    existing one; ``create=True`` creates it if needed, ``exclusive=True``
    insists on creating it.  ``key`` may be an int or a name.
    """

    def __init__(self, key: int | str | None = None, *, create: bool = False,
                 exclusive: bool = False, mode: int = 0o600, max_message_size: int = 8192,
                 remove_on_exit: bool = False) -> None:
        self.key, flags = get_flags(key, create, exclusive, mode)
        int_in("max_message_size", max_message_size, 0, LONG_MAX)  # before the queue exists
        self.id: int = msgget(self.key, flags)
        self.max_message_size = max_message_size
        self.remove_on_exit = remove_on_exit

    @classmethod
    def from_id(cls, msqid: int) -> "MessageQueue":
        q = cls.__new__(cls)
        q.id, q.max_message_size, q.remove_on_exit = msqid, 8192, False
        q.key = q.stat.msg_perm.key
        return q

    def send(self, data: bytes, type: int = 1, block: bool = True) -> None:  # noqa: A002
        """Queue ``data`` with message type ``type``; waits for room unless block=False."""
        msgsnd(self.id, type, data, 0 if block else IPC_NOWAIT)

    def receive(self, type: int = 0, block: bool = True, max_size: int | None = None,  # noqa: A002
                except_type: bool = False, truncate: bool = False) -> tuple[int, bytes]:
        """Take a message: type 0 any, > 0 that type (or any other with except_type),
        < 0 the lowest type <= -type.  Returns (type, data)."""
        flags = (0 if block else IPC_NOWAIT) | (MSG_EXCEPT if except_type else 0)
        flags |= MSG_NOERROR if truncate else 0
        return msgrcv(self.id, self.max_message_size if max_size is None else max_size, type, flags)

    def send_many(self, messages: Iterable[bytes | tuple[int, bytes]], block: bool = True) -> int:
        """Queue up to 1024 messages in one round trip to the daemon; each is
        ``data`` (type 1) or ``(type, data)``.  Returns how many were queued
        (fewer if the queue filled up with block=False)."""
        return msgsnd_many(self.id, _typed(messages), 0 if block else IPC_NOWAIT)

    def receive_many(self, count: int, type: int = 0, block: bool = True,  # noqa: A002
                     max_size: int | None = None) -> list[tuple[int, bytes]]:
        """Take up to ``count`` messages in one round trip: waits for the first
        (unless block=False), then takes those already queued."""
        return msgrcv_many(self.id, self.max_message_size if max_size is None else max_size,
                           type, count, 0 if block else IPC_NOWAIT)

    async def asend(self, data: bytes, type: int = 1, block: bool = True) -> None:  # noqa: A002
        """send() awaited on the event loop (uipc.client.aio: no thread, cancellable)."""
        from uipc.client.aio import amsgsnd  # asyncio only for those who await
        await amsgsnd(self.id, type, data, 0 if block else IPC_NOWAIT)

    async def areceive(self, type: int = 0, block: bool = True, max_size: int | None = None,  # noqa: A002
                       except_type: bool = False, truncate: bool = False) -> tuple[int, bytes]:
        """receive() awaited on the event loop; cancelled, it leaves no waiter behind
        and loses no message (uipc.client.aio)."""
        flags = (0 if block else IPC_NOWAIT) | (MSG_EXCEPT if except_type else 0)
        flags |= MSG_NOERROR if truncate else 0
        from uipc.client.aio import amsgrcv
        return await amsgrcv(self.id, self.max_message_size if max_size is None else max_size, type, flags)

    def __iter__(self) -> Iterator[tuple[int, bytes]]:
        """Drain the messages queued now, without blocking."""
        while True:
            try:
                yield self.receive(block=False)
            except OSError as exc:
                if exc.errno == errno.ENOMSG:
                    return
                raise

    def __aiter__(self) -> "MessageQueue":
        return self

    async def __anext__(self) -> tuple[int, bytes]:
        """Async iteration waits for each next message (forever)."""
        return await self.areceive()

    @property
    def stat(self) -> MsqidDs:
        return msgctl(self.id, IPC_STAT)

    @property
    def current_messages(self) -> int:
        return self.stat.msg_qnum

    def remove(self) -> None:
        msgctl(self.id, IPC_RMID)

    def __enter__(self) -> "MessageQueue":
        return self

    def __exit__(self, *exc: object) -> None:
        """Remove the queue if it was opened with remove_on_exit=True."""
        if self.remove_on_exit:
            self.remove()

    def __repr__(self) -> str:
        return f"MessageQueue(id={self.id}, key=0x{self.key & 0xFFFFFFFF:08x})"


def _typed(messages: Iterable[bytes | tuple[int, bytes]]) -> list[tuple[int, bytes]]:
    """send_many's messages as (type, data) pairs: bare data is type 1."""
    it = items(messages, "messages must be an iterable of bytes or (type, bytes) pairs")
    typed = []
    for i, m in enumerate(it):
        if isinstance(m, (bytes, bytearray, memoryview)):
            typed.append((1, m))
        elif isinstance(m, (tuple, list)) and len(m) == 2:
            typed.append(m)
        else:
            what = f"a {type(m).__name__} of {len(m)}" if isinstance(m, (tuple, list)) else type(m).__name__
            raise TypeError(f"message {i} must be bytes or a (type, bytes) pair, not {what}")
    return typed


__all__ = ["MessageQueue", "get_flags", "key_from_name", "object_key", "object_mode"]
