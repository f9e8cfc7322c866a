"""The daemon: sockets, the event loop, peer credentials and process exit.

It drives one :class:`uipc.kernel.Kernel` from one thread; the kernel never
blocks, so one thread is enough and keeps every run deterministic.
"""
from uipc.server.daemon import Daemon

__all__ = ["Daemon"]
