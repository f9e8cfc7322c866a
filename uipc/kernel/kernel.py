"""The kernel object: processes, tasks, namespaces, sleepers and time.

This is the sans-I/O heart of uipc.  The daemon feeds it inputs — a syscall
from a task, the passing of time, a signal, a thread or process exit — each
with the current time on two clocks, ``now`` (CLOCK_REALTIME, for stamps)
and ``mono`` (CLOCK_MONOTONIC, for deadlines; omitted, it equals ``now``),
and collects outputs: the syscall's immediate result, or, for sleepers
completed later, ``take_completions()``.

Theory of operation: a syscall either returns at once, raises
:class:`KernelError`, or parks its task on a wait queue and returns
:data:`BLOCKED`.  Whatever later satisfies a sleeper calls :meth:`Kernel.wake`;
woken sleepers are processed after the waking syscall finishes (Linux's
``wake_up_q`` after the lock is dropped): those woken with a result complete,
those woken with :data:`RETRY` rerun their syscall and may sleep again.

A sleeper's timeout is a timer on the kernel's :class:`TimerHeap`, armed when
it parks (at its monotonic ``deadline``) and cancelled whenever it leaves its
queues; ``advance`` runs the timers due.  Setting the wall clock therefore
moves stamps, never timeouts (uipc/kernel/time.py).
"""
from __future__ import annotations

import errno
import itertools
from typing import Any, Callable

from uipc.kernel.errors import KernelError
from uipc.kernel.file import exit_files
from uipc.kernel.mm import BytearrayAllocator, MemoryAllocator
from uipc.kernel.namespace import IpcNamespace
from uipc.kernel.quota import ObjectQuota, Quota
from uipc.kernel.task import Cred, Process, Task
from uipc.kernel.time import Clocks, Timer, TimerHeap
from uipc.kernel.wait import BLOCKED, RETRY, WaitQueue, Waiter

#: a syscall implementation: (kernel, task, *args) -> value | BLOCKED
Syscall = Callable[..., Any]


class Kernel:
    """Everything the daemon's one thread drives."""

    def __init__(self, *, memory: MemoryAllocator | None = None,
                 shm_allocator: MemoryAllocator | None = None, owner_uid: int = 0) -> None:
        #: the time of the input being processed, on both clocks
        self.clock = Clocks()
        #: every armed timer: sleeper timeouts (later timerfds)
        self.timers = TimerHeap()
        #: timerfds a wall-clock set concerns, in arming order (fs/timerfd.c's
        #: cancel_list and the absolute realtime timers): clock_was_set visits them
        self.clock_list: dict[Any, None] = {}
        #: per-uid quotas over every namespace (uipc.quota.*)
        self.quota = Quota(owner_uid)
        self.init_ns = self._account(IpcNamespace(name="", owner_uid=owner_uid))
        self.namespaces: dict[str, IpcNamespace] = {"": self.init_ns}
        self.processes: dict[int, Process] = {}
        #: where memory objects come from (uipc/kernel/mm.py): memfds in the
        #: daemon, bytearrays in tests; ``shm_allocator`` is its old name
        self.memory: MemoryAllocator = (memory if memory is not None else shm_allocator
                                        if shm_allocator is not None else BytearrayAllocator())
        #: bytes of object memory freed since take_freed_bytes (for the daemon's
        #: decision to give memory back to the system)
        self.freed_bytes = 0
        self._woken: list[tuple[Waiter, object]] = []
        self._completions: list[tuple[Task, object]] = []
        #: multi-step syscalls whose step completed: (task, next step, result)
        self._continuations: list[tuple[Task, Any, object]] = []
        self._tids = itertools.count(1)
        self._ns_names = itertools.count(1)
        #: shmat's attachment ids, unique in this kernel (shm.py)
        self.shm_attach_ids = itertools.count(1)
        # Outputs the daemon acts on after each input (sans-I/O: the core says
        # what must happen to real descriptors and processes, never does it):
        #: files whose poll mask may have changed: their doorbells follow
        self.poll_dirty: set[Any] = set()
        #: files with a doorbell whose last reference went: free the doorbell
        self.files_released: list[Any] = []
        #: signals to send: (pid, signo, si_code, si_pid, si_uid, si_value)
        self.signals: list[tuple[int, int, int, int, int, int]] = []
        #: user_struct.mq_bytes: RLIMIT_MSGQUEUE bytes each uid's queues hold
        self.mq_user_bytes: dict[int, int] = {}
        #: syscalls run (for `uipc top`'s requests/s)
        self.calls = 0

    # --- clocks ---------------------------------------------------------
    @property
    def now(self) -> float:
        """CLOCK_REALTIME of the input being processed: for stamps."""
        return self.clock.realtime

    @property
    def mono(self) -> float:
        """CLOCK_MONOTONIC of the input being processed: for deadlines."""
        return self.clock.monotonic

    @property
    def shm_allocator(self) -> MemoryAllocator:
        """The old name of ``memory``, kept for its callers."""
        return self.memory

    @shm_allocator.setter
    def shm_allocator(self, allocator: MemoryAllocator) -> None:
        self.memory = allocator

    def _set_time(self, now: float | None, mono: float | None) -> None:
        """An input's time; ``now`` None (a call from inside a syscall, whose
        time is set): unchanged; ``mono`` None: equals ``now``."""
        if now is not None:
            self.clock.set(now, mono)

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
    def syscall(self, task: Task, fn: Syscall, *args: Any, now: float,
                mono: float | None = None) -> Any:
        """Run one syscall for ``task`` at ``now`` (CLOCK_REALTIME) and
        ``mono`` (CLOCK_MONOTONIC; None: equals ``now``).

        Returns the syscall's value or :data:`BLOCKED`; raises KernelError.
        Sleepers it woke are completed before it returns.
        """
        if task.waiter is not None:
            raise KernelError(errno.EBUSY, f"{task} is already blocked in {task.waiter.op}")
        self.calls += 1
        clock = self.clock  # Clocks.set, inlined: this is the hot path
        clock.realtime = now
        clock.monotonic = now if mono is None else mono
        try:
            return fn(self, task, *args)
        finally:
            if self._woken:  # most syscalls wake nobody: spare the call
                self._run_wakeups()

    def park(self, queue: WaitQueue | None, waiter: Waiter) -> object:
        """Put a sleeper on a queue (None: only on the entries it added with
        add_wait); returns BLOCKED for the syscall to return.

        A ``deadline`` (CLOCK_MONOTONIC) arms the sleeper's timeout timer.
        """
        waiter.since = self.clock.realtime
        if queue is not None:
            # queue.park(waiter), inlined: every sleep passes here
            waiter.queue = queue
            queue._entries[waiter] = None
        waiter.task.waiter = waiter
        if waiter.deadline is not None:
            waiter.timer = self.timers.add(waiter.deadline, self._sleeper_timeout, waiter)
        return BLOCKED

    def _sleeper_timeout(self, timer: Timer) -> None:
        """The hrtimer function of a sleeper's timeout (hrtimer_wakeup)."""
        waiter: Waiter = timer.data
        self.wake(waiter, KernelError(waiter.timeout_errno, f"{waiter.op} timed out"))

    def wake(self, waiter: Waiter, result: object) -> None:
        """Complete a sleeper with ``result`` (a value, a KernelError or RETRY)."""
        # _unlink, inlined: every completed sleeper passes here
        if waiter.queue is not None:
            waiter.unlink()
        if waiter.extra:
            waiter.remove_entries()
        if waiter.deadline is not None and waiter.timer is not None:
            self.timers.cancel(waiter.timer)
        task = waiter.task
        if task.waiter is waiter:
            task.waiter = None
        self._woken.append((waiter, result))

    def _unlink(self, waiter: Waiter) -> None:
        """The sleeper leaves: every wait entry, its timeout, its task."""
        waiter.unlink_all()
        if waiter.timer is not None:
            self.timers.cancel(waiter.timer)
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
                    if result is BLOCKED:  # asleep again: the next step goes with it
                        self._carry_then(waiter)
                        continue
                if waiter.then is not None:
                    # a multi-step syscall goes on once the waking one is
                    # done (take_completions), as its next call would
                    self._continuations.append((waiter.task, waiter.then, result))
                    continue
                self._completions.append((waiter.task, result))

    @staticmethod
    def _carry_then(waiter: Waiter) -> None:
        again = waiter.task.waiter
        if waiter.then is not None and again is not None and again.then is None:
            again.then = waiter.then

    def take_freed_bytes(self) -> int:
        freed, self.freed_bytes = self.freed_bytes, 0
        return freed

    def has_completions(self) -> bool:
        """Is there anything for take_completions (cheap: the loop asks every turn)."""
        return bool(self._completions or self._continuations)

    def take_completions(self) -> list[tuple[Task, object]]:
        """Sleepers completed since the last call: (task, value | KernelError).

        A multi-step syscall (msgsnd_many) whose step completed runs its next
        steps here, after the syscall that woke it: they may complete it or
        put it to sleep again.
        """
        while self._continuations:
            steps, self._continuations = self._continuations, []
            for task, then, result in steps:
                if task not in task.process.tasks:
                    continue  # its thread is gone
                try:
                    result = then(result)
                except KernelError as exc:
                    result = exc
                self._run_wakeups()
                if result is not BLOCKED:
                    self._completions.append((task, result))
        done, self._completions = self._completions, []
        return done

    # --- descriptors the daemon made ----------------------------------
    def install_file(self, task: Task, new: Any, ino: int) -> None:
        """The daemon made the real descriptor (doorbell) of a file a syscall
        opened (a NewFile) and is sending it: the file is named by the
        doorbell's inode in the process's table, with the syscall's reference."""
        file = new.file
        file.f_ino = ino
        task.process.files.install_at(self, ino, file, new.cloexec, task.process)
        self.poll_dirty.add(file)
        self._run_wakeups()

    def doorbell_closed(self, ino: int, now: float | None = None,
                        mono: float | None = None) -> None:
        """The client's last real descriptor of the file named ``ino`` is gone
        (every process that held it closed it, exec'd it away or exited):
        each process's descriptor of it closes, as theirs did."""
        self._set_time(now, mono)
        for process in list(self.processes.values()):
            files = process.files
            if ino in files:
                files.close(self, ino, process=process)
        self._run_wakeups()

    def take_files_released(self) -> list[Any]:
        released, self.files_released = self.files_released, []
        return released

    # --- time, signals, exit -------------------------------------------
    def next_deadline(self) -> float | None:
        """The earliest armed timer, on CLOCK_MONOTONIC, for the caller's poll
        timeout (compare it with the monotonic clock, never the wall clock)."""
        return self.timers.next_expiry()

    def advance(self, now: float, mono: float | None = None) -> None:
        """Time passes: timers due at ``mono`` (None: ``now``) run, so
        sleepers whose deadline is <= ``mono`` time out."""
        self.clock.set(now, mono)
        self.timers.run_expired(self.clock.monotonic)
        self._run_wakeups()

    def clock_was_set(self, now: float, mono: float | None = None) -> None:
        """clock_was_set(): the wall clock was set (the daemon learns it from a
        real timerfd armed TFD_TIMER_CANCEL_ON_SET); ``now``/``mono`` are the
        new readings.  Absolute CLOCK_REALTIME timerfds move to the new wall
        time and cancelable ones are canceled (timerfd_clock_was_set); then
        the timers now due run, as the realtime base's retrigger does.
        Sleeper timeouts are monotonic: they do not move."""
        from uipc.kernel.timerfd import timerfd_clock_was_set

        self.clock.set(now, mono)
        timerfd_clock_was_set(self)
        self.timers.run_expired(self.clock.monotonic)
        self._run_wakeups()

    def interrupt(self, task: Task, now: float | None = None, mono: float | None = None) -> bool:
        """A signal interrupts the task's sleep: it fails with EINTR.

        SysV msg/sem calls are never restarted after a signal handler, so the
        result is final.  Returns False when the task was not sleeping (its
        result, if any, is already in the completions).
        """
        self._set_time(now, mono)
        waiter = task.waiter
        if waiter is None:
            return False
        self.wake(waiter, KernelError(errno.EINTR, f"{waiter.op} interrupted by a signal"))
        self._run_wakeups()
        return True

    def exit_task(self, task: Task, now: float | None = None, mono: float | None = None) -> None:
        """A thread is gone (its connection closed): cancel its sleep silently."""
        self._set_time(now, mono)
        if task.waiter is not None:
            self._unlink(task.waiter)
        task.process.tasks.discard(task)
        self._run_wakeups()

    def fork_process(self, parent: Process, child: Process, inherited: list[int] | None,
                     now: float | None = None, mono: float | None = None) -> None:
        """fork(): the child shares the parent's open files (copy_files ->
        dup_fd) and its copies of the parent's mappings count (dup_mmap).

        ``inherited`` lists the parent's shm attachments the child reports
        (None: all).  The undo list is not inherited (no CLONE_SYSVSEM).
        ``now`` None: called from inside a syscall, whose time stands.
        """
        from uipc.kernel.syscalls import FORK_HOOKS

        if child.forked_from:
            raise KernelError(errno.EPERM, f"pid {child.pid} already reported its fork from pid "
                              f"{child.forked_from}: a process is forked once")
        if child.shm_attachments:
            raise KernelError(errno.EPERM, f"pid {child.pid} attached segments of its own before "
                              "reporting its fork")
        if len(child.files):
            raise KernelError(errno.EPERM, f"pid {child.pid} opened files of its own before "
                              "reporting its fork")
        child.forked_from = parent.pid
        self._set_time(now, mono)
        child.files = parent.files.copy()  # copy_process: copy_files before copy_mm
        for hook in FORK_HOOKS:
            hook(self, parent, child, inherited)
        self._run_wakeups()

    def before_release(self, file: Any) -> None:
        """__fput(), before the file's ->release: whatever watches the file
        lets go of it (eventpoll_release: syscalls.RELEASE_HOOKS)."""
        from uipc.kernel.syscalls import RELEASE_HOOKS

        for hook in RELEASE_HOOKS:
            hook(self, file)

    def exec_process(self, process: Process, now: float | None = None,
                     mono: float | None = None) -> None:
        """execve(): the old image's mappings are gone (shm detached), then the
        close-on-exec descriptors close (begin_new_exec: exec_mmap, then
        do_close_on_exec); the semaphore undo list, the other descriptors and
        the namespace are kept, as in Linux."""
        from uipc.kernel.syscalls import EXEC_HOOKS

        self._set_time(now, mono)
        for hook in EXEC_HOOKS:
            hook(self, process)
        process.files.close_on_exec(self, process)
        self._run_wakeups()

    def exit_process(self, process: Process, now: float | None = None,
                     mono: float | None = None) -> None:
        """do_exit(): threads go, then, in do_exit's order, exit_mm (shm
        detach), exit_sem (undo), exit_shm, exit_files (each open file's
        release when its last reference goes).

        When the process was the last one of a named namespace, the namespace
        is freed with everything in it (free_ipc_ns).
        """
        from uipc.kernel.syscalls import EXIT_HOOKS

        self._set_time(now, mono)
        for task in list(process.tasks):
            self.exit_task(task)
        for hook in EXIT_HOOKS:
            hook(self, process)
        exit_files(self, process)
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
