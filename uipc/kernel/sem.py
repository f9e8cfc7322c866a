"""ipc/sem.c: System V semaphores.

Everything that decides whether a semop sleeps, whom a change wakes and in
what order lives here; no sockets, clocks or pids (``k.clock``, ``task.pid``):
stamps are CLOCK_REALTIME, a semtimedop deadline is CLOCK_MONOTONIC.

Theory of operation, as in Linux 6.x: a semop is a list of operations applied
atomically, in order (``perform_atomic_semop``): all succeed or nothing
changes.  An operation that cannot proceed makes the whole call sleep, on a
queue chosen as Linux chooses it: a single-operation call sleeps on its
semaphore's own queue (``pending_alter`` for a decrement, ``pending_const``
for wait-for-zero); a multi-operation ("complex") call sleeps on the array's
global queues, and while any complex call sleeps every new altering call
goes to the global queue too (``merge_queues``; ``unmerge_queues`` undoes it
when the last complex sleeper leaves).  After a successful change,
``do_smart_update`` first retries the wait-for-zero sleepers of semaphores
that reached zero (``do_smart_wakeup_zero``), then the altering sleepers
(``update_queue``), oldest first, completing each one that can now proceed
on its behalf — so one release can complete several sleepers in one pass.

SEM_UNDO keeps, per process and set, the negated sum of its changes
(``semadj``); ``exit_sem`` applies it when the process exits, clamped to
[0, SEMVMX], newest undo structure first.  SETVAL/SETALL clear the semadj of
the semaphores they set, in every process.

Storage: Linux's struct sem is ~64 bytes of kernel memory; a Python object
per semaphore (with its two wait queues) cost ~340 bytes and microseconds to
build, so each ~24-byte semget(nsems=32000) request could pin 10 MB of the
daemon.  A set therefore keeps struct sem column-wise: ``sma.semval`` and
``sma.sempid`` are ``array('i')`` indexed by sem_num (8 bytes a semaphore,
filled at C speed), and a semaphore's ``pending_alter``/``pending_const``
queue exists only once someone sleeps on it (``sma.sem_alter`` /
``sma.sem_const``: sem_num -> WaitQueue, created by the first sleeper;
emptied ones beyond a few spares are dropped, see ``_dequeue``).  Whole-set
operations (GETALL, SETALL, exit_sem, freeary, the sops=None wakeups) touch
only the columns and the queues that exist, so they make no Python object
per semaphore.

Reading a set from outside this module: ``sma.sem_nsems``, ``sma.semvals()``
(every semval, a list), ``sem_waiters(sma)`` (every sleeper, in queue order),
and, for tests and debugging only, ``sma.sems[i]`` (a read-only view of one
semaphore with ``semval``, ``sempid``, ``pending_alter``, ``pending_const``).
"""
from __future__ import annotations

import errno
from array import array
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import compress
from typing import TYPE_CHECKING, Any, overload

from uipc.kernel.entry import syscall
from uipc.kernel.errors import KernelError
from uipc.kernel.ids import (
    S_IRUGO, S_IRWXUGO, S_IWUGO, IpcOps, KernIpcPerm, ipc_check_perms, ipcctl_obtain_check,
    ipcctl_obtain_stat, ipcget, ipc_update_perm,
)
from uipc.kernel.task import Process, Task
from uipc.kernel.wait import WaitQueue, Waiter, repark
from uipc.uapi.ipc import IPC_INFO, IPC_NOWAIT, IPC_RMID, IPC_SET, IPC_STAT
from uipc.uapi.sem import (
    GETALL, GETNCNT, GETPID, GETVAL, GETZCNT, SEM_INFO, SEM_STAT, SEM_STAT_ANY, SEM_UNDO,
    SEMAEM, SEMMAP, SEMMNU, SEMUME, SEMUSZ, SEMVMX, SETALL, SETVAL, SemidDs, SemInfo,
)

if TYPE_CHECKING:
    from uipc.kernel.kernel import Kernel
    from uipc.kernel.namespace import IpcNamespace

Sop = tuple[int, int, int]  # struct sembuf: sem_num, sem_op, sem_flg


@dataclass(eq=False)
class SemUndo:
    """struct sem_undo: one process's adjustments for one set."""

    semid: int
    semadj: list[int]
    process: Process


def _zeros(nsems: int) -> "array[int]":
    """``nsems`` C ints, all zero, built by one C-level repeat (no Python loop)."""
    return array("i", [0]) * nsems


@dataclass(eq=False)
class SemArray:
    """struct sem_array, with its struct sem entries stored column-wise.

    ``semval[i]``/``sempid[i]`` are ``sma->sems[i].semval``/``.sempid``;
    ``sem_alter[i]``/``sem_const[i]`` are ``sma->sems[i].pending_alter``/
    ``.pending_const``, absent until semaphore i has a sleeper (absent means
    empty; a present queue may be an empty spare, see ``_dequeue``).
    """

    perm: KernIpcPerm
    #: sems[i].semval, in [0, SEMVMX]
    semval: "array[int]"
    #: sems[i].sempid: the pid of the last process to change semaphore i
    sempid: "array[int]"
    sem_ctime: int = 0
    #: the latest of the per-semaphore sem_otime values (all IPC_STAT shows)
    sem_otime: int = 0
    #: semops done on it, for `uipc top`'s ops/s
    ops: int = 0
    pending_alter: WaitQueue = field(default_factory=WaitQueue)
    pending_const: WaitQueue = field(default_factory=WaitQueue)
    #: sems[i].pending_alter, only for the semaphores somebody slept on
    sem_alter: dict[int, WaitQueue] = field(default_factory=dict)
    #: sems[i].pending_const, only for the semaphores somebody slept on
    sem_const: dict[int, WaitQueue] = field(default_factory=dict)
    #: list_id: the undo structures of every process for this set
    undos: list[SemUndo] = field(default_factory=list)

    @classmethod
    def new(cls, perm: KernIpcPerm, nsems: int, ctime: int) -> "SemArray":
        """A set of ``nsems`` semaphores, all zero; O(1) Python objects."""
        return cls(perm=perm, semval=_zeros(nsems), sempid=_zeros(nsems), sem_ctime=ctime)

    @property
    def sem_nsems(self) -> int:
        return len(self.semval)

    def semvals(self) -> list[int]:
        """Every semval, in sem_num order (GETALL; introspection)."""
        return self.semval.tolist()

    @property
    def sems(self) -> "SemsView":
        """A read-only sequence view of the semaphores, for tests and debugging.

        Each item is made on access: the core never goes through it.
        """
        return SemsView(self)

    @property
    def complex_count(self) -> int:
        """Sleeping multi-operation calls (derived, so cancels cannot skew it).

        The global queues are empty unless a complex operation sleeps (then
        Linux walks them too, in update_queue): the common case costs nothing.
        """
        if not self.pending_alter:
            return len(self.pending_const)
        return (sum(1 for q in self.pending_alter if len(q.sops) > 1)  # type: ignore[attr-defined]
                + len(self.pending_const))


class SemView:
    """One semaphore of a set seen as struct sem (``sma.sems[i]``), read-only.

    A queue nobody sleeps on reads as a fresh, empty WaitQueue that belongs
    to no set: parking on it would be lost.
    """

    __slots__ = ("_sma", "_num")

    def __init__(self, sma: SemArray, num: int) -> None:
        self._sma = sma
        self._num = num

    @property
    def semval(self) -> int:
        return self._sma.semval[self._num]

    @property
    def sempid(self) -> int:
        return self._sma.sempid[self._num]

    @property
    def pending_alter(self) -> WaitQueue:
        return self._sma.sem_alter.get(self._num) or WaitQueue()

    @property
    def pending_const(self) -> WaitQueue:
        return self._sma.sem_const.get(self._num) or WaitQueue()

    def __repr__(self) -> str:
        return f"SemView(semnum={self._num}, semval={self.semval}, sempid={self.sempid})"


class SemsView(Sequence[SemView]):
    """``sma.sems``: the semaphores of a set as a sequence of SemView."""

    __slots__ = ("_sma",)

    def __init__(self, sma: SemArray) -> None:
        self._sma = sma

    def __len__(self) -> int:
        return self._sma.sem_nsems

    @overload
    def __getitem__(self, index: int) -> SemView: ...
    @overload
    def __getitem__(self, index: slice) -> list[SemView]: ...

    def __getitem__(self, index: int | slice) -> SemView | list[SemView]:
        nums = range(self._sma.sem_nsems)
        if isinstance(index, slice):
            return [SemView(self._sma, i) for i in nums[index]]
        return SemView(self._sma, nums[index])  # IndexError, negative indexes as a list


@dataclass(eq=False)
class SemQueue(Waiter):
    """struct sem_queue: one sleeping semop."""

    sma: SemArray | None = None
    sops: list[Sop] = field(default_factory=list)
    undo: SemUndo | None = None
    pid: int = 0
    alter: bool = False
    #: index in sops of the operation that blocked (q->blocking)
    blocking: int = 0

    def unlink(self) -> None:
        """A sleeper leaves on its own (signal, timeout, exit): unlink_queue
        then sem_unlock(), which unmerges the queues if no complex op is left."""
        if self.queue is not None:
            assert self.sma is not None
            _dequeue(self.sma, self)
            unmerge_queues(self.sma)


# --- semget -----------------------------------------------------------------
def newary(k: "Kernel", task: Task, key: int, semflg: int, nsems: int) -> int:
    """newary(): create a set of ``nsems`` semaphores, all zero.

    Raises:
        EINVAL: nsems is 0.
        ENOSPC: kernel.sem's semmns would be exceeded; semmni sets exist.
    """
    ns = task.ns
    if not nsems:
        raise KernelError(errno.EINVAL, "nsems 0: a new set needs at least one semaphore")
    if ns.used_sems + nsems > ns.sc_semmns:
        raise KernelError(errno.ENOSPC, f"{ns.used_sems} semaphores exist, {nsems} more would "
                          f"exceed semmns ({ns.sc_semmns}, kernel.sem field 2)")
    sma = SemArray.new(KernIpcPerm(key=key, mode=semflg & S_IRWXUGO), nsems, int(k.clock.realtime))
    ns.sem_ids.ipc_addid(sma, ns.sc_semmni, task.cred)
    ns.used_sems += nsems
    return sma.perm.id


@syscall(5, "semget", "key:i32 nsems:i32 semflg:i32", result="int", doc="semget(2).")
def sys_semget(k: "Kernel", task: Task, key: int, nsems: int, semflg: int) -> int:
    """ksys_semget().  See semget(2).

    Raises (in Linux's order):
        EINVAL: nsems < 0 or > semmsl.
        ENOENT, EEXIST, EACCES: as ipcget.
        EINVAL: the key's set has fewer than nsems semaphores.
        EINVAL, ENOSPC: as newary.
    """
    ns = task.ns
    if nsems < 0 or nsems > ns.sc_semmsl:
        raise KernelError(errno.EINVAL, f"nsems {nsems} outside [0, semmsl {ns.sc_semmsl}] "
                          "(kernel.sem field 1)")

    def more_checks(sma: SemArray) -> None:
        if nsems > sma.sem_nsems:
            raise KernelError(errno.EINVAL, f"set {sma.perm.id} has {sma.sem_nsems} semaphores, "
                              f"{nsems} asked")

    ops: IpcOps[SemArray] = IpcOps(getnew=lambda key, flg: newary(k, task, key, flg, nsems),
                                   more_checks=more_checks)
    return ipcget(ns.sem_ids, ops, task.cred, key, semflg)


# --- the queues ---------------------------------------------------------------
def sem_queue(sma: SemArray, semnum: int, alter: bool) -> WaitQueue:
    """``&sma->sems[semnum].pending_alter`` (or ``pending_const``), made by
    its first sleeper: a set costs no queue for a semaphore nobody waits on."""
    table = sma.sem_alter if alter else sma.sem_const
    queue = table.get(semnum)
    if queue is None:
        queue = table[semnum] = WaitQueue()
    return queue


#: empty per-semaphore queues a set may keep for reuse, per table: a
#: ping-pong then parks on the same queue again instead of building one
SPARE_QUEUES = 8


def _dequeue(sma: SemArray, q: SemQueue) -> None:
    """unlink_queue(): take q off its queue.

    A per-semaphore queue left empty is dropped once its table holds more than
    SPARE_QUEUES queues, so a table never holds more than SPARE_QUEUES empty
    queues: a set's memory follows its sleepers, not its size.
    """
    queue = q.queue
    if queue is None:
        return
    queue.remove(q)
    if len(q.sops) == 1:  # only simple sleepers use per-semaphore queues
        table = sma.sem_alter if q.alter else sma.sem_const
        if len(table) > SPARE_QUEUES:
            num = q.sops[0][0]
            if table.get(num) is queue and not queue:
                del table[num]


def merge_queues(sma: SemArray) -> None:
    """merge_queues(): a complex op arrives; every simple alter sleeper moves
    to the global queue so that FIFO order holds across all of them
    (semaphore by semaphore, in sem_num order, as Linux walks sma->sems)."""
    for num in sorted(sma.sem_alter):
        sma.sem_alter[num].repark_all(sma.pending_alter)
    sma.sem_alter.clear()


def unmerge_queues(sma: SemArray) -> None:
    """unmerge_queues(): no complex op sleeps any more: back to per-semaphore queues."""
    if sma.complex_count:
        return
    for q in sma.pending_alter:
        assert isinstance(q, SemQueue)
        repark(q, sem_queue(sma, q.sops[0][0], True))


def perform_atomic_semop(sma: SemArray, q: SemQueue) -> int | KernelError:
    """perform_atomic_semop(): try every operation, in order, all or nothing.

    Returns 0 when applied, 1 when the call must sleep (``q.blocking`` says
    on which operation), or the KernelError (EAGAIN with IPC_NOWAIT on the
    blocking operation, ERANGE) — in that case nothing changed.
    """
    semval, un = sma.semval, q.undo
    done: list[Sop] = []
    result: int | KernelError = 0
    for i, (num, op, flg) in enumerate(q.sops):
        value = semval[num]
        if (op == 0 and value) or value + op < 0:
            q.blocking = i
            if flg & IPC_NOWAIT:
                result = KernelError(errno.EAGAIN, f"semaphore {num} is {value}: "
                                     f"{'wait-for-zero' if op == 0 else f'sem_op {op}'} would "
                                     "block and IPC_NOWAIT was given")
            else:
                result = 1
            break
        if value + op > SEMVMX:
            result = KernelError(errno.ERANGE, f"semaphore {num} would become {value + op}, "
                                 f"above SEMVMX ({SEMVMX})")
            break
        if flg & SEM_UNDO:
            assert un is not None
            adj = un.semadj[num] - op
            if adj < -SEMAEM - 1 or adj > SEMAEM:
                result = KernelError(errno.ERANGE, f"semadj of semaphore {num} would become "
                                     f"{adj}, outside [{-SEMAEM - 1}, {SEMAEM}]")
                break
            un.semadj[num] = adj
        semval[num] = value + op  # in [0, SEMVMX]: checked above
        done.append((num, op, flg))
    if result != 0:
        for num, op, flg in reversed(done):
            semval[num] -= op
            if flg & SEM_UNDO:
                assert un is not None
                un.semadj[num] += op
        return result
    sempid = sma.sempid
    for num, _, _ in q.sops:
        sempid[num] = q.pid
    return 0


def _complete(k: "Kernel", sma: SemArray, q: SemQueue, error: int | KernelError) -> None:
    """unlink_queue() + wake_up_sem_queue_prepare()."""
    _dequeue(sma, q)
    k.wake(q, None if error == 0 else error)


def wake_const_ops(k: "Kernel", sma: SemArray, semnum: int) -> bool:
    """wake_const_ops(): retry the wait-for-zero sleepers of one queue."""
    pending = sma.pending_const if semnum == -1 else sma.sem_const.get(semnum)
    if not pending:  # None: nobody ever waited for zero on it (or not lately)
        return False
    completed = False
    for q in pending:
        assert isinstance(q, SemQueue)
        error = perform_atomic_semop(sma, q)
        if error == 1:
            continue
        _complete(k, sma, q, error)
        completed = completed or error == 0
    return completed


def do_smart_wakeup_zero(k: "Kernel", sma: SemArray, sops: list[Sop] | None) -> bool:
    """do_smart_wakeup_zero(): wake wait-for-zero sleepers of semaphores now zero.

    With ``sops`` None (every semaphore may have changed) only the semaphores
    that have wait-for-zero sleepers are visited, in sem_num order, as Linux's
    loop over all of them would find them: a per-semaphore wait-for-zero
    sleeper changes no semval, so visiting fewer changes nothing else.
    """
    completed = False
    got_zero = False
    semval = sma.semval
    if sops is not None:
        sem_const = sma.sem_const
        for num, _, _ in sops:
            if semval[num] == 0:
                got_zero = True
                if num in sem_const:
                    completed |= wake_const_ops(k, sma, num)
    else:
        for num in sorted(sma.sem_const):
            if semval[num] == 0:
                completed |= wake_const_ops(k, sma, num)
        # got_zero only decides whether the global queue is tried: skip the scan when it is empty
        got_zero = bool(sma.pending_const) and 0 in semval
    if got_zero:
        completed |= wake_const_ops(k, sma, -1)
    return completed


def check_restart(sma: SemArray, q: SemQueue) -> bool:
    """check_restart(): must update_queue rescan from the start after q ran?"""
    return bool(sma.pending_alter) or len(q.sops) > 1


def update_queue(k: "Kernel", sma: SemArray, semnum: int) -> bool:
    """update_queue(): complete the altering sleepers that can proceed, oldest first."""
    pending = sma.pending_alter if semnum == -1 else sma.sem_alter.get(semnum)
    if not pending:  # None: nobody ever slept to change it (or not lately)
        return False
    semval = sma.semval
    completed = False
    restart = True
    while restart:
        restart = False
        for q in pending:
            assert isinstance(q, SemQueue)
            if q.queue is not pending:
                continue  # completed during this scan
            # a zero semaphore cannot satisfy a simple decrement on its own queue
            if semnum != -1 and semval[semnum] == 0:
                break
            error = perform_atomic_semop(sma, q)
            if error == 1:
                continue
            _dequeue(sma, q)
            if error == 0:
                completed = True
                do_smart_wakeup_zero(k, sma, q.sops)
                restart = check_restart(sma, q)
            k.wake(q, None if error == 0 else error)
            if restart:
                break
    return completed


def set_semotime(k: "Kernel", sma: SemArray) -> None:
    sma.sem_otime = int(k.clock.realtime)
    sma.ops += 1


def do_smart_update(k: "Kernel", sma: SemArray, sops: list[Sop] | None, otime: bool) -> None:
    """do_smart_update(): after a change, wake whoever can proceed now."""
    otime |= do_smart_wakeup_zero(k, sma, sops)
    if sma.pending_alter:
        otime |= update_queue(k, sma, -1)
    elif sops is None:
        # Linux tries every semaphore in order; only those with sleepers can
        # complete anything, and completing a sleeper never adds a queue
        for i in sorted(sma.sem_alter):
            otime |= update_queue(k, sma, i)
    else:
        for num, op, _ in sops:
            if op > 0:
                otime |= update_queue(k, sma, num)
    if otime:
        set_semotime(k, sma)


# --- semop ----------------------------------------------------------------------
def find_alloc_undo(task: Task, sma: SemArray) -> SemUndo:
    """find_alloc_undo(): this process's undo structure for the set, made on first use."""
    proc = task.process
    un = proc.sysvsem.get(sma.perm.id)
    if un is None:
        un = SemUndo(semid=sma.perm.id, semadj=[0] * sma.sem_nsems, process=proc)
        proc.sysvsem[sma.perm.id] = un
        sma.undos.insert(0, un)  # list_add: newest first
    return un


@syscall(6, "semtimedop", "semid:i32 sops:sembufs timeout:timeout", result="none",
         doc="semtimedop(2); timeout -1 means none (semop). Tail: struct sembuf[] as u16 "
             "sem_num, i16 sem_op, i16 sem_flg.")
def sys_semtimedop(k: "Kernel", task: Task, semid: int, sops: list[Sop],
                   timeout: float | None) -> object:
    """do_semtimedop().  See semop(2), semtimedop(2).

    ``timeout`` is in seconds (None: wait forever); the deadline is
    CLOCK_MONOTONIC + timeout, so setting the wall clock does not move it.
    Raises (in Linux's order):
        EINVAL: nsops < 1, semid < 0, or a negative timeout.
        E2BIG: nsops > semopm.
        EINVAL: no set has this id.
        EFBIG: a sem_num >= the set's nsems.
        EACCES: no alter (write) permission for a changing call, no read
            permission for a wait-for-zero-only call.
        ERANGE: a value would exceed SEMVMX, or a semadj leave its range.
        EAGAIN: the call would block and IPC_NOWAIT is set on the blocking
            operation; or the timeout passed.
        EIDRM: the set was removed while the caller slept.
        EINTR: a signal (Kernel.interrupt).
    """
    ns = task.ns
    nsops = len(sops)
    # do_semtimedop's order (Linux 6.x): E2BIG first, then __do_semtimedop's EINVAL
    if nsops > ns.sc_semopm:
        raise KernelError(errno.E2BIG, f"nsops {nsops} exceeds semopm ({ns.sc_semopm}, kernel.sem field 3)")
    if nsops < 1 or semid < 0:
        raise KernelError(errno.EINVAL, "nsops must be >= 1" if nsops < 1 else f"semid {semid} is negative")
    if timeout is not None and timeout < 0:
        raise KernelError(errno.EINVAL, f"timeout {timeout} is negative")
    # one pass, as do_semtimedop's loop over the sops
    max_num, undos, alter = sops[0][0], False, False
    for num, op, flg in sops:
        if num > max_num:
            max_num = num
        if flg & SEM_UNDO:
            undos = True
        if op:
            alter = True
    sma: SemArray = ns.sem_ids.ipc_obtain_object_check(semid)
    if max_num >= len(sma.semval):  # sem_nsems, without a property call on the hot path
        raise KernelError(errno.EFBIG, f"sem_num {max_num} >= nsems ({sma.sem_nsems}) of set {semid}")
    ipc_check_perms(task.cred, sma.perm, S_IWUGO if alter else S_IRUGO,
                    "alter" if alter else "read")
    un = find_alloc_undo(task, sma) if undos else None
    q = SemQueue(task=task, op="semop", obj_id=semid, sma=sma, sops=list(sops), undo=un,
                 pid=task.pid, alter=alter)
    error = perform_atomic_semop(sma, q)
    if error == 0:
        if alter:
            do_smart_update(k, sma, q.sops, True)
        else:
            set_semotime(k, sma)
        unmerge_queues(sma)
        return None
    if isinstance(error, KernelError):
        raise error
    # sleep, on the queue Linux would choose
    if nsops == 1:
        if alter and sma.complex_count:
            queue = sma.pending_alter
        else:
            queue = sem_queue(sma, sops[0][0], alter)
    else:
        if not sma.complex_count:
            merge_queues(sma)
        queue = sma.pending_alter if alter else sma.pending_const
    if timeout is not None:
        q.deadline = k.clock.monotonic + timeout
    return k.park(queue, q)


def sys_semop(k: "Kernel", task: Task, semid: int, sops: list[Sop]) -> object:
    """semop(2): semtimedop without a timeout."""
    return sys_semtimedop(k, task, semid, sops, None)


# --- semctl -----------------------------------------------------------------------
def count_semcnt(sma: SemArray, semnum: int, count_zero: bool) -> int:
    """count_semcnt(): GETZCNT / GETNCNT.

    Simple sleepers count on their semaphore; a complex sleeper counts only
    on the semaphore of the operation it is blocked on (as SUS says, and
    Linux does since 4.x).
    """
    count = len((sma.sem_const if count_zero else sma.sem_alter).get(semnum, ()))
    queues = [sma.pending_alter] + ([sma.pending_const] if count_zero else [])
    for queue in queues:
        for q in queue:
            assert isinstance(q, SemQueue)
            num, op, _ = q.sops[q.blocking]
            if num == semnum and ((count_zero and op == 0) or (not count_zero and op < 0)):
                count += 1
    return count


def semctl_info(task: Task, cmd: int) -> tuple[int, SemInfo]:
    """semctl_info(): IPC_INFO gives limits, SEM_INFO usage."""
    ns = task.ns
    usage = cmd == SEM_INFO
    info = SemInfo(semmap=SEMMAP, semmni=ns.sc_semmni, semmns=ns.sc_semmns, semmnu=SEMMNU,
                   semmsl=ns.sc_semmsl, semopm=ns.sc_semopm, semume=SEMUME,
                   semusz=ns.sem_ids.in_use if usage else SEMUSZ, semvmx=SEMVMX,
                   semaem=ns.used_sems if usage else SEMAEM)
    return max(ns.sem_ids.ipc_get_maxidx(), 0), info


def semctl_stat(task: Task, semid: int, cmd: int) -> tuple[int, SemidDs]:
    """semctl_stat(): IPC_STAT by id, SEM_STAT / SEM_STAT_ANY by index."""
    sma: SemArray = ipcctl_obtain_stat(task.ns.sem_ids, semid, task.cred, cmd, SEM_STAT_ANY)
    ds = SemidDs(sem_perm=sma.perm.to_user(), sem_otime=sma.sem_otime, sem_ctime=sma.sem_ctime,
                 sem_nsems=sma.sem_nsems)
    return (0 if cmd == IPC_STAT else sma.perm.id), ds


def semctl_setval(k: "Kernel", task: Task, semid: int, semnum: int, val: int) -> int:
    """semctl_setval(): ERANGE is checked before the id, as in Linux."""
    if val > SEMVMX or val < 0:
        raise KernelError(errno.ERANGE, f"SETVAL {val} outside [0, SEMVMX {SEMVMX}]")
    sma: SemArray = task.ns.sem_ids.ipc_obtain_object_check(semid)
    if semnum < 0 or semnum >= sma.sem_nsems:
        raise KernelError(errno.EINVAL, f"semnum {semnum} outside [0, {sma.sem_nsems})")
    ipc_check_perms(task.cred, sma.perm, S_IWUGO, "alter")
    for un in sma.undos:
        un.semadj[semnum] = 0
    sma.semval[semnum] = val
    sma.sempid[semnum] = task.pid
    sma.sem_ctime = int(k.clock.realtime)
    do_smart_update(k, sma, None, False)
    unmerge_queues(sma)
    return 0


def semctl_main(k: "Kernel", task: Task, semid: int, semnum: int, cmd: int, arg: Any) -> Any:
    """semctl_main(): GETALL, SETALL, GETVAL, GETPID, GETNCNT, GETZCNT."""
    sma: SemArray = task.ns.sem_ids.ipc_obtain_object_check(semid)
    nsems = sma.sem_nsems
    ipc_check_perms(task.cred, sma.perm, S_IWUGO if cmd == SETALL else S_IRUGO,
                    "alter" if cmd == SETALL else "read")
    if cmd == GETALL:
        return sma.semvals()
    if cmd == SETALL:
        values = list(arg or [])
        if len(values) < nsems:
            raise KernelError(errno.EFAULT, f"SETALL needs {nsems} values, got {len(values)}")
        del values[nsems:]
        # min/max run in C; the Python scan only names the first bad value
        if max(values) > SEMVMX or min(values) < 0:
            v = next(v for v in values if v > SEMVMX or v < 0)
            raise KernelError(errno.ERANGE, f"SETALL value {v} above SEMVMX ({SEMVMX})")
        sma.semval[:] = array("i", values)
        sma.sempid[:] = array("i", [task.pid]) * nsems
        for un in sma.undos:
            un.semadj[:] = [0] * nsems
        sma.sem_ctime = int(k.clock.realtime)
        do_smart_update(k, sma, None, False)
        unmerge_queues(sma)
        return 0
    if semnum < 0 or semnum >= nsems:
        raise KernelError(errno.EINVAL, f"semnum {semnum} outside [0, {nsems})")
    if cmd == GETVAL:
        return sma.semval[semnum]
    if cmd == GETPID:
        return sma.sempid[semnum]
    return count_semcnt(sma, semnum, cmd == GETZCNT)


def freeary(k: "Kernel", ns: "IpcNamespace", sma: SemArray) -> None:
    """freeary(): remove a set; undo entries die, every sleeper fails with EIDRM."""
    for un in sma.undos:
        un.semid = -1
        if un.process.sysvsem.get(sma.perm.id) is un:
            del un.process.sysvsem[sma.perm.id]
    sma.undos.clear()
    queues = [sma.pending_const, sma.pending_alter]
    for num in sorted(sma.sem_const.keys() | sma.sem_alter.keys()):  # only queues that exist
        queues += [wq for wq in (sma.sem_const.get(num), sma.sem_alter.get(num)) if wq is not None]
    for queue in queues:
        for q in queue:
            queue.remove(q)
            k.wake(q, KernelError(errno.EIDRM, f"semaphore set {sma.perm.id} was removed"))
    sma.sem_const.clear()
    sma.sem_alter.clear()
    ns.sem_ids.ipc_rmid(sma)
    ns.used_sems -= sma.sem_nsems


def semctl_down(k: "Kernel", task: Task, semid: int, cmd: int, buf: SemidDs | None) -> int:
    """semctl_down(): IPC_RMID and IPC_SET, for owner, creator or CAP_SYS_ADMIN."""
    ns = task.ns
    sma: SemArray = ipcctl_obtain_check(ns.sem_ids, semid, task.cred)
    if cmd == IPC_RMID:
        freeary(k, ns, sma)
        return 0
    assert buf is not None
    perm = buf.sem_perm
    ipc_update_perm(perm.uid, perm.gid, perm.mode, sma.perm)
    sma.sem_ctime = int(k.clock.realtime)
    return 0


@syscall(7, "semctl", "semid:i32 semnum:i32 cmd:i32 arg:semun", result="ctl",
         doc="semctl(2). arg: SETVAL's value in the fixed part; tail: u16[] for SETALL, a "
             "packed semid_ds for IPC_SET.")
def sys_semctl(k: "Kernel", task: Task, semid: int, semnum: int, cmd: int, arg: Any = None) -> Any:
    """ksys_semctl().  See semctl(2).

    GETVAL/GETPID/GETNCNT/GETZCNT -> int; GETALL -> list; SETVAL/SETALL/
    IPC_SET/IPC_RMID -> 0; IPC_STAT/SEM_STAT/SEM_STAT_ANY -> (ret, SemidDs);
    IPC_INFO/SEM_INFO -> (max index, SemInfo).
    """
    if semid < 0:
        raise KernelError(errno.EINVAL, f"semid {semid} is negative")
    # IPC_64 is not stripped: msgctl(2) and friends take it as an unknown
    # command (EINVAL), as on x86_64 and arm64; ipc(2) strips it (ipc_parse_version)
    if cmd in (IPC_INFO, SEM_INFO):
        return semctl_info(task, cmd)
    if cmd in (IPC_STAT, SEM_STAT, SEM_STAT_ANY):
        return semctl_stat(task, semid, cmd)
    if cmd in (GETALL, GETVAL, GETPID, GETNCNT, GETZCNT, SETALL):
        return semctl_main(k, task, semid, semnum, cmd, arg)
    if cmd == SETVAL:
        return semctl_setval(k, task, semid, semnum, int(arg or 0))
    if cmd == IPC_SET:
        if not isinstance(arg, SemidDs):
            raise KernelError(errno.EFAULT, "IPC_SET needs a SemidDs")
        return semctl_down(k, task, semid, cmd, arg)
    if cmd == IPC_RMID:
        return semctl_down(k, task, semid, cmd, None)
    raise KernelError(errno.EINVAL, f"unknown semctl command {cmd}")


# --- exit ---------------------------------------------------------------------------
def exit_sem(k: "Kernel", process: Process) -> None:
    """exit_sem(): apply the process's undo structures, newest first.

    Each value is clamped to [0, SEMVMX]; sleepers that can now proceed are
    completed, and the set's sem_otime is set, as Linux does.
    """
    for semid, un in reversed(list(process.sysvsem.items())):
        del process.sysvsem[semid]
        if un.semid == -1:
            continue
        try:
            sma: SemArray = process.ns.sem_ids.ipc_obtain_object_check(semid)
        except KernelError:
            continue
        if un in sma.undos:
            sma.undos.remove(un)
        semval, sempid, semadj = sma.semval, sma.sempid, un.semadj
        for i in compress(range(len(semadj)), semadj):  # the non-zero adjustments, found in C
            semval[i] = min(max(semval[i] + semadj[i], 0), SEMVMX)
            sempid[i] = process.pid
        do_smart_update(k, sma, None, True)
        unmerge_queues(sma)


def free_ns_sem(k: "Kernel", ns: "IpcNamespace") -> None:
    """sem_exit_ns(): free every set of a dying namespace."""
    for sma in list(ns.sem_ids):
        freeary(k, ns, sma)


def sem_waiters(sma: SemArray) -> list[SemQueue]:
    """Every sleeper of a set, queue by queue, in queue order (introspection):
    the global alter then const queues, then each semaphore's alter then
    const queue, in sem_num order."""
    out: list[Any] = list(sma.pending_alter) + list(sma.pending_const)
    for num in sorted(sma.sem_alter.keys() | sma.sem_const.keys()):
        out += list(sma.sem_alter.get(num, ())) + list(sma.sem_const.get(num, ()))
    return out
