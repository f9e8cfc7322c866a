"""Pythonic shared memory: SharedMemory over shmget/shmat."""
from __future__ import annotations

import errno
from typing import Any

from uipc.client.args import LONG_MAX, buffer, int_in
from uipc.client.classes import get_flags
from uipc.client.shm import shm_view, shmat, shmctl, shmdt, shmget
from uipc.uapi.ipc import IPC_CREAT, IPC_EXCL, IPC_PRIVATE, IPC_RMID, IPC_STAT
from uipc.uapi.shm import SHM_RDONLY, ShmidDs


class SharedMemory:
    """A SysV shared memory segment, attached on creation.

    ``buf`` is a memoryview over the real shared bytes (``numpy.frombuffer``
    works on it); ``readonly=True`` attaches with SHM_RDONLY.  After
    ``detach()`` (or the ``with`` block) the views it gave raise ValueError.
    A constructor that fails leaves no segment it created behind.
    """

    def __init__(self, key: int | str | None = None, size: int = 0, *, create: bool = False,
                 exclusive: bool = False, mode: int = 0o600, readonly: bool = False,
                 remove_on_exit: bool = False) -> None:
        self.key, flags = get_flags(key, create, exclusive, mode)
        self.id, created = _open(self.key, size, flags)
        self.remove_on_exit = remove_on_exit
        self.addr: int | None = None
        self.readonly = readonly
        try:
            self.attach(readonly)
        except BaseException:
            if created:  # e.g. EACCES: a mode that does not let us attach our own segment
                shmctl(self.id, IPC_RMID)
            raise

    def attach(self, readonly: bool | None = None) -> None:
        if self.addr is not None:
            raise ValueError("already attached")
        if readonly is not None:
            self.readonly = readonly
        self.addr = shmat(self.id, None, SHM_RDONLY if self.readonly else 0)

    def detach(self) -> None:
        if self.addr is None:
            raise OSError(errno.EINVAL, "not attached")
        addr, self.addr = self.addr, None
        shmdt(addr)

    @property
    def buf(self) -> memoryview:
        if self.addr is None:
            raise ValueError("not attached")
        return shm_view(self.addr)

    @property
    def size(self) -> int:
        return self.stat.shm_segsz

    def read(self, n: int | None = None, offset: int = 0) -> bytes:
        """Up to ``n`` bytes (None: all) from ``offset`` (0 to the size)."""
        buf = self.buf
        offset = int_in("offset", offset, 0, len(buf))
        end = len(buf) if n is None else min(len(buf), offset + int_in("n", n, 0, LONG_MAX))
        return bytes(buf[offset:end])

    def write(self, data: bytes, offset: int = 0) -> None:
        """Copy ``data`` in at ``offset``; ValueError if it does not fit."""
        buf = self.buf
        if not isinstance(data, (bytes, bytearray)):  # those are copied from as they are
            data = buffer("data", data)
        offset = int_in("offset", offset, 0, len(buf))
        if offset + len(data) > len(buf):
            raise ValueError(f"{len(data)} bytes at offset {offset} do not fit {len(buf)} bytes")
        buf[offset:offset + len(data)] = data

    @property
    def stat(self) -> ShmidDs:
        return shmctl(self.id, IPC_STAT)

    def remove(self) -> None:
        shmctl(self.id, IPC_RMID)

    def __enter__(self) -> "SharedMemory":
        return self

    def __exit__(self, *exc: object) -> None:
        if self.addr is not None:
            self.detach()
        if self.remove_on_exit:
            self.remove()

    def __repr__(self) -> str:
        return f"SharedMemory(id={self.id}, key=0x{self.key & 0xFFFFFFFF:08x}, addr={self.addr})"


def _open(key: int, size: Any, flags: int) -> tuple[int, bool]:
    """shmget with "did we create it?", so a failed attach can undo just that."""
    if key == IPC_PRIVATE or flags & IPC_EXCL:
        return shmget(key, size, flags), True
    if not flags & IPC_CREAT:
        return shmget(key, size, flags), False
    while True:
        try:
            return shmget(key, size, flags | IPC_EXCL), True
        except OSError as exc:
            if exc.errno != errno.EEXIST:
                raise
        try:
            return shmget(key, size, flags & ~IPC_CREAT), False
        except OSError as exc:  # removed in between: create it after all
            if exc.errno != errno.ENOENT:
                raise
