"""Kernel unit tests: a Kernel, processes and a fake clock; no sockets."""
from __future__ import annotations

from typing import Any

import pytest

from uipc.kernel import BLOCKED, Cred, Kernel, KernelError, Task
from uipc.kernel.syscalls import SYSCALLS


class World:
    """A kernel plus helpers to run syscalls at explicit times."""

    def __init__(self) -> None:
        self.k = Kernel()
        self.now = 1000.0
        self._pid = 100

    def proc_task(self, uid: int = 0, gid: int = 0, groups: frozenset[int] = frozenset(),
                  ns: str = "") -> Task:
        self._pid += 1
        p = self.k.new_process(self._pid, Cred.of(uid, gid, groups), ns)
        return self.k.new_task(p)

    def thread(self, task: Task) -> Task:
        return self.k.new_task(task.process)

    def tick(self, seconds: float = 1.0) -> float:
        self.now += seconds
        return self.now

    def call(self, task: Task, name: str, *args: Any) -> Any:
        return self.k.syscall(task, SYSCALLS[name], *args, now=self.now)

    def err(self, task: Task, name: str, *args: Any) -> int:
        with pytest.raises(KernelError) as info:
            self.call(task, name, *args)
        return info.value.errno

    def done(self) -> list[tuple[Task, Any]]:
        return self.k.take_completions()


@pytest.fixture
def w() -> World:
    return World()


__all__ = ["BLOCKED", "World"]
