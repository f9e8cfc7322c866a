"""Pythonic shared memory: SharedMemory over shmget/shmat."""
from __future__ import annotations

import errno

from uipc.client.classes import get_flags
from uipc.client.shm import shm_view, shmat, shmctl, shmdt, shmget
from uipc.uapi.ipc import IPC_RMID, IPC_STAT
from uipc.uapi.shm import SHM_RDONLY, ShmidDs


class SharedMemory:
    """A SysV shared memory segment, attached on creation.

    ``buf`` is a memoryview over the real shared bytes (``numpy.frombuffer``
    works on it); ``readonly=True`` attaches with SHM_RDONLY.
    """

    def __init__(self, key: int | str | None = None, size: int = 0, *, create: bool = False,
                 exclusive: bool = False, mode: int = 0o600, readonly: bool = False,
                 remove_on_exit: bool = False) -> None:
        self.key, flags = get_flags(key, create, exclusive, mode)
        self.id: int = shmget(self.key, size, flags)
        self.remove_on_exit = remove_on_exit
        self.addr: int | None = None
        self.readonly = readonly
        self.attach(readonly)

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
        buf = self.buf
        end = len(buf) if n is None else min(len(buf), offset + n)
        return bytes(buf[offset:end])

    def write(self, data: bytes, offset: int = 0) -> None:
        buf = self.buf
        if offset < 0 or offset + len(data) > len(buf):
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
