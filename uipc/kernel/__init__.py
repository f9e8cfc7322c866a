"""The uipc kernel: Linux's ipc/ as pure, deterministic state machines.

No sockets, threads, clocks, pids or randomness: all of that is passed in.
"""
from uipc.kernel.errors import KernelError
from uipc.kernel.kernel import Kernel
from uipc.kernel.task import Cred, Process, Task
from uipc.kernel.wait import BLOCKED, RETRY

__all__ = ["BLOCKED", "RETRY", "Cred", "Kernel", "KernelError", "Process", "Task"]
