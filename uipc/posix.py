"""POSIX IPC, Pythonic: ``uipc.posix.MessageQueue``, ``Semaphore``, ``SharedMemory``.

The libc-named calls (``uipc.mq_open``, ``uipc.sem_open``, ``uipc.shm_open``...)
are in ``uipc`` itself; these classes are the convenient layer over them.
"""
from uipc.client.posix import MessageQueue, Semaphore, SharedMemory

__all__ = ["MessageQueue", "Semaphore", "SharedMemory"]
