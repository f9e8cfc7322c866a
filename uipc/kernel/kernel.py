"""The kernel object: processes, tasks, namespaces, sleepers and time.

This is the sans-I/O heart of uipc.  The daemon feeds it inputs — a syscall
from a task, the passing of time, a signal, a thread or process exit — each
with the current time ``now``, and collects outputs: the syscall's immediate
result, or, for sleepers completed later, ``take_completions()``.

Theory of operation: a syscall either returns at once, raises
:class:`KernelError`, or parks its task on a wait queue and returns
:data:`BLOCKED`.  Whatever later satisfies a sleeper calls :meth:`Kernel.wake`;
woken sleepers are processed after the waking syscall finishes (Linux's
``wake_up_q`` after the lock is dropped): those woken with a result complete,
those woken with :data:`RETRY` rerun their syscall and may sleep again.
"""
from __future__ import annotations

import errno
import heapq
import itertools
from typing import Any, Callable

from uipc.kernel.errors import KernelError
from uipc.kernel.namespace import IpcNamespace
from uipc.kernel.quota import ObjectQuota, Quota
from uipc.kernel.task import Cred, Process, Task
from uipc.kernel.wait import BLOCKED, RETRY, WaitQueue, Waiter

#: a syscall implementation: (kernel, task, *args) -> value | BLOCKED
Syscall = Callable[..., Any]


class Kernel:
    """Everything the daemon's one thread drives."""

    def __init__(self, *, shm_allocator: Any = None, owner_uid: int = 0) -> None:
        #: time of the input being processed (seconds, CLOCK_REALTIME)
        self.now: float = 0.0
        #: per-uid quotas over every namespace (uipc.quota.*)
        self.quota = Quota(owner_uid)
        self.init_ns = self._account(IpcNamespace(name="", owner_uid=owner_uid))
        self.namespaces: dict[str, IpcNamespace] = {"": self.init_ns}
        self.processes: dict[int, Process] = {}
        #: memory for shm segments: memfds in the daemon, bytearrays in tests
        self.shm_allocator = shm_allocator
        #: bytes of object memory freed since take_freed_bytes (for the daemon's
        #: decision to give memory back to the system)
        self.freed_bytes = 0
        self._woken: list[tuple[Waiter, object]] = []
        self._completions: list[tuple[Task, object]] = []
        self._timers: list[tuple[float, int, Waiter]] = []
        self._timer_seq = itertools.count()
        self._tids = itertools.count(1)
        self._ns_names = itertools.count(1)

    # --- processes and namespaces --------------------------------------
    def create_namespace(self, name: str, owner_uid: int = 0) -> IpcNamespace:
        """create_ipc_ns(): a fresh namespace with Linux's default limits,
        owned by the uid that creates it."""
        if name in self.namespaces:
            raise KernelError(errno.EEXIST, f"namespace {name!r} exists")
        self.quota.charge("namespaces", owner_uid)
        ns = self._account(IpcNamespace(name=name, owner_uid=owner_uid))
        self.namespaces[name] = ns
        return ns

    def _account(self, ns: IpcNamespace) -> IpcNamespace:
        """Charge the namespace's new objects to their creators' quotas."""
        ns.quota = self.quota
        for ids in (ns.msg_ids, ns.sem_ids, ns.shm_ids):
            ids.quota = ObjectQuota(self.quota, ns, ids.kind)
        return ns

    def unshare_ipc(self, process: Process, name: str = "") -> IpcNamespace:
        """unshare(CLONE_NEWIPC): move a process into a fresh namespace.

        As Linux: CLONE_NEWIPC implies CLONE_SYSVSEM, so the undo list is
        applied first (exit_sem), and segments it created are orphaned
        (exit_shm); attachments stay mapped.  The old namespace is freed if
        this was its last process.
        """
        from uipc.kernel.syscalls import UNSHARE_HOOKS

        if not name:
            name = f"ns{next(self._ns_names)}"
            while name in self.namespaces:
                name = f"ns{next(self._ns_names)}"
        new = self.create_namespace(name, process.cred.euid)
        for hook in UNSHARE_HOOKS:
            hook(self, process)
        old = process.ns
        old.processes.discard(process)
        process.ns = new
        new.processes.add(process)
        self._run_wakeups()
        if not old.processes and old is not self.init_ns:
            self.free_namespace(old)
        return new

    def new_process(self, pid: int, cred: Cred, ns: IpcNamespace | str = "") -> Process:
        """A process appears (its first connection, or a fork child)."""
        if isinstance(ns, str):
            try:
                ns = self.namespaces[ns]
            except KeyError:
                raise KernelError(errno.ENOENT, f"no IPC namespace named {ns!r}") from None
        if pid in self.processes:
            raise KernelError(errno.EEXIST, f"process {pid} is already known")
        proc = Process(pid=pid, cred=cred, ns=ns)
        self.processes[pid] = proc
        ns.processes.add(proc)
        return proc

    def new_task(self, process: Process, cred: Cred | None = None) -> Task:
        """A thread of ``process``; ``cred`` if its credentials are its own."""
        task = Task(tid=next(self._tids), process=process,
                    own_cred=None if cred is None or cred == process.cred else cred)
        process.tasks.add(task)
        return task

    # --- syscalls -------------------------------------------------------
    def syscall(self, task: Task, fn: Syscall, *args: Any, now: float) -> Any:
        """Run one syscall for ``task``.

        Returns the syscall's value or :data:`BLOCKED`; raises KernelError.
        Sleepers it woke are completed before it returns.
        """
        if task.waiter is not None:
            raise KernelError(errno.EBUSY, f"{task} is already blocked in {task.waiter.op}")
        self.now = now
        try:
            return fn(self, task, *args)
        finally:
            self._run_wakeups()

    def park(self, queue: WaitQueue, waiter: Waiter) -> object:
        """Put a sleeper on a queue; returns BLOCKED for the syscall to return."""
        waiter.since = self.now
        queue.park(waiter)
        waiter.task.waiter = waiter
        if waiter.deadline is not None:
            heapq.heappush(self._timers, (waiter.deadline, next(self._timer_seq), waiter))
        return BLOCKED

    def wake(self, waiter: Waiter, result: object) -> None:
        """Complete a sleeper with ``result`` (a value, a KernelError or RETRY)."""
        self._unlink(waiter)
        self._woken.append((waiter, result))

    def _unlink(self, waiter: Waiter) -> None:
        waiter.unlink()
        if waiter.task.waiter is waiter:
            waiter.task.waiter = None

    def _run_wakeups(self) -> None:
        while self._woken:
            batch, self._woken = self._woken, []
            for waiter, result in batch:
                if result is RETRY:
                    assert waiter.restart is not None
                    try:
                        result = waiter.restart()
                    except KernelError as exc:
                        result = exc
                    if result is BLOCKED:
                        continue
                self._completions.append((waiter.task, result))

    def take_freed_bytes(self) -> int:
        freed, self.freed_bytes = self.freed_bytes, 0
        return freed

    def take_completions(self) -> list[tuple[Task, object]]:
        """Sleepers completed since the last call: (task, value | KernelError)."""
        done, self._completions = self._completions, []
        return done

    # --- time, signals, exit -------------------------------------------
    def next_deadline(self) -> float | None:
        """The earliest pending timeout, for the caller's poll timeout."""
        while self._timers and not self._timers[0][2].pending:
            heapq.heappop(self._timers)
        return self._timers[0][0] if self._timers else None

    def advance(self, now: float) -> None:
        """Time passes: sleepers whose deadline is <= now time out."""
        self.now = now
        while self._timers and self._timers[0][0] <= now:
            deadline, _, waiter = heapq.heappop(self._timers)
            if waiter.pending and waiter.deadline == deadline:
                self.wake(waiter, KernelError(waiter.timeout_errno,
                                              f"{waiter.op} timed out"))
        self._run_wakeups()

    def interrupt(self, task: Task, now: float) -> bool:
        """A signal interrupts the task's sleep: it fails with EINTR.

        SysV msg/sem calls are never restarted after a signal handler, so the
        result is final.  Returns False when the task was not sleeping (its
        result, if any, is already in the completions).
        """
        self.now = now
        waiter = task.waiter
        if waiter is None:
            return False
        self.wake(waiter, KernelError(errno.EINTR, f"{waiter.op} interrupted by a signal"))
        self._run_wakeups()
        return True

    def exit_task(self, task: Task, now: float) -> None:
        """A thread is gone (its connection closed): cancel its sleep silently."""
        self.now = now
        if task.waiter is not None:
            self._unlink(task.waiter)
        task.process.tasks.discard(task)
        self._run_wakeups()

    def fork_process(self, parent: Process, child: Process, inherited: list[int] | None,
                     now: float) -> None:
        """fork(): the child's copies of the parent's mappings count (dup_mmap).

        ``inherited`` lists the parent's shm attachments the child reports
        (None: all).  The undo list is not inherited (no CLONE_SYSVSEM).
        """
        from uipc.kernel.syscalls import FORK_HOOKS

        if child.forked_from:
            raise KernelError(errno.EPERM, f"pid {child.pid} already reported its fork from pid "
                              f"{child.forked_from}: a process is forked once")
        if child.shm_attachments:
            raise KernelError(errno.EPERM, f"pid {child.pid} attached segments of its own before "
                              "reporting its fork")
        child.forked_from = parent.pid
        self.now = now
        for hook in FORK_HOOKS:
            hook(self, parent, child, inherited)
        self._run_wakeups()

    def exec_process(self, process: Process, now: float) -> None:
        """execve(): the old image's mappings are gone (shm detached); the
        semaphore undo list and the namespace are kept, as in Linux."""
        from uipc.kernel.syscalls import EXEC_HOOKS

        self.now = now
        for hook in EXEC_HOOKS:
            hook(self, process)
        self._run_wakeups()

    def exit_process(self, process: Process, now: float) -> None:
        """do_exit(): threads go, then exit_sem (undo), then the mm (shm detach).

        When the process was the last one of a named namespace, the namespace
        is freed with everything in it (free_ipc_ns).
        """
        from uipc.kernel.syscalls import EXIT_HOOKS

        self.now = now
        for task in list(process.tasks):
            self.exit_task(task, now)
        for hook in EXIT_HOOKS:
            hook(self, process)
        process.exited = True
        self.processes.pop(process.pid, None)
        ns = process.ns
        ns.processes.discard(process)
        self._run_wakeups()
        if not ns.processes and ns is not self.init_ns:
            self.free_namespace(ns)

    def free_namespace(self, ns: IpcNamespace) -> None:
        """free_ipc_ns(): remove every object of a namespace nobody uses."""
        from uipc.kernel.syscalls import FREE_NS_HOOKS

        for hook in FREE_NS_HOOKS:
            hook(self, ns)
        if self.namespaces.pop(ns.name, None) is not None:
            self.quota.uncharge("namespaces", ns.owner_uid)
        self._run_wakeups()
