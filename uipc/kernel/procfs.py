"""/proc/sysvipc and more: paged, permission-aware views of the kernel's state.

As Linux's ``ipc/util.c`` serves /proc/sysvipc/* from inside the kernel,
this is core code: pure, no I/O, one syscall (``introspect``).

The ``introspect`` op shows what the kernel never showed: every object with
its sleepers, undo entries and attachers, every process, every namespace.
Three rules govern it.

**Bounded.**  One request returns one *page* of one *section* -- the
caller's processes, msg queues, semaphore sets or shm segments, or the
namespaces listing -- as /proc/sysvipc/* is read one seq_file buffer at a
time (``sysvipc_proc_start``/``sysvipc_find_ipc`` resume from a position).
A page holds at most :data:`PAGE_MAX` entries and stops early once its
entries carry :data:`PAGE_ITEMS` items (an entry counts one, plus one per
semaphore value, undo adjustment, sleeper and attacher it shows), so that a
set of 32000 semaphores does not ride along with 255 others.  One entry is
never split: a page holds at least one.  The cursor is where the next page
starts: the id index (``ipcid_to_idx``) for objects, the pid for processes,
the name for namespaces; the reply names the next one, or null at the end.
Pages are not one atomic picture, as successive read()s of /proc are not.

**Private.**  Linux's /proc/sysvipc/{msg,sem,shm} list every object of the
reader's namespace to anyone: ``sysvipc_find_ipc`` and
``sysvipc_{msg,sem,shm}_proc_show`` make no ``ipcperms`` check, and show key,
id, perms, sizes and counts, the last pids, the owner and creator ids and
the times.  So every object is listed here with those fields, whoever asks.
What /proc never shows -- semaphore values, undo adjustments, who sleeps and
with which operations, who is attached -- Linux gives only behind read
permission (semctl GETALL/GETNCNT/GETPID check ``S_IRUGO``): it is shown
only when ``ipcperms(cred, perm, S_IRUGO)`` passes (CAP_IPC_OWNER passes
it, as there).  Of an object the caller cannot read it still sees the parts
that belong to processes it may inspect (its own sleepers, undo entries and
attachments), which it knows already.  Hidden values are ``None``; hidden
sleepers, undo entries and attachers are left out of their lists.

A process may be inspected -- its undo list and its attachments -- as
``__ptrace_may_access`` lets /proc/PID/maps be read: it is the caller's own
process, or the caller's effective uid is the process's real and effective
uid and its effective gid the process's real and effective gid, or the
caller has CAP_SYS_ADMIN (uipc models no CAP_SYS_PTRACE).  Any other
process of the namespace is listed with its pid, uid and number of tasks
only, as /proc/PID/status shows them to anyone; its ``undo`` and
``shm_attachments`` are ``None``.

**Descriptors and signals.**  The "files" section is /proc/PID/fd and
/proc/PID/fdinfo for uipc's files: per process (cursor: a pid), each
descriptor's inode (its doorbell's st_ino, which names it in calls and in
`uipc trace`), type, f_flags and what fdinfo would show of its object --
a pipe's bytes, size, readers and writers, an eventfd's count, a timerfd's
ticks and times, a signalfd's mask, an epoll's items.  Linux lets only a
reader that may ptrace the process open those files (proc_fd_access_allowed),
so a process the caller may not inspect is listed with pid and uid, its
``files`` ``None``.  A process's signal state is part of the processes
section: its blocked and pending signals, as /proc/PID/status shows them to
anyone (SigBlk, ShdPnd), and the queued records with their senders and
values only to whoever may inspect it.  What a thread sleeps in (``waits``)
says what it waits on: the file it reads or writes, the FIFO it opens, the
pipes of its splice, the descriptors of its poll or epoll_wait; the pids
shown holding a pipe's other end are those the caller may inspect.

**Namespaces.**  The listing holds only the namespaces the caller may join
by name (``ns_capable_owner(ns, cred, CAP_SYS_ADMIN)``: it created them, or
it has CAP_SYS_ADMIN) and the one it lives in, as setns(2) would let it in.
"""
from __future__ import annotations

import errno
import json
from dataclasses import dataclass
from itertools import islice
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator

from uipc.kernel.entry import syscall
from uipc.kernel.errors import KernelError
from uipc.kernel.eventfd import EFD_SEMAPHORE, EVENTFD_FOPS, EventfdWaiter
from uipc.kernel.eventpoll import EP_PRIVATE_BITS, EVENTPOLL_FOPS, EpollWaiter
from uipc.kernel.file import FMODE_READ, FMODE_WRITE, File, vfs_poll
from uipc.kernel.ids import S_IRUGO, IpcIds, ipcperms
from uipc.kernel.namespace import IpcNamespace, ns_capable_owner
from uipc.kernel.mqueue import MQUEUE_FOPS, MqWaiter, inode_permission
from uipc.kernel.pipe import PIPE_FOPS, FifoOpenWaiter, PipeWaiter
from uipc.kernel.select import PollWaiter
from uipc.kernel.sem import sem_waiters
from uipc.kernel.signal import signals_of
from uipc.kernel.signalfd import SIGNALFD_FOPS, SignalfdWaiter
from uipc.kernel.splice import SpliceWaiter
from uipc.kernel import sysctl
from uipc.kernel.task import CAP_DAC_OVERRIDE, CAP_SYS_ADMIN, Cred, Process, Task
from uipc.kernel.timerfd import TIMERFD_FOPS, TimerfdWaiter
from uipc.kernel.wait import Waiter
from uipc.uapi.fcntl import O_DIRECT
from uipc.uapi.shm import PAGE_SIZE, SHM_DEST

if TYPE_CHECKING:
    from uipc.kernel.kernel import Kernel

#: entries one page holds at most (see the module doc).  Measured (2 CPUs):
#: a page of 256 queues or sets costs the daemon 0.9-1.2 ms with the JSON,
#: where the whole of 32000 queues took 80 ms (2.6 MB) in one request
PAGE_MAX = 256
#: items (values, adjustments, sleepers, attachers) after which a page
#: stops: about 0.5 ms of work (16 sets of 250 values)
PAGE_ITEMS = 4096

#: what=... in the request
WHAT_NAMESPACE = 0
WHAT_NAMESPACES = 1
WHAT_DAEMON = 2
#: section=... of a WHAT_NAMESPACE request
SECTIONS = ("processes", "msg", "sem", "shm", "mqueue", "posix_sem", "posix_shm", "files")


# --- who may see what -------------------------------------------------------
@dataclass(frozen=True)
class Viewer:
    """Who asks: the calling task's credentials and its process."""

    cred: Cred
    process: Process

    @classmethod
    def of(cls, task: Task) -> "Viewer":
        return cls(task.cred, task.process)

    def may_inspect(self, process: Process) -> bool:
        """__ptrace_may_access(): may the caller see ``process``'s private
        state (its undo list, its attachments)?  Its own process always
        (same thread group); else the id check, with CAP_SYS_ADMIN standing
        in for CAP_SYS_PTRACE."""
        if process is self.process:
            return True
        cred, pc = self.cred, process.cred
        if cred.euid == pc.uid == pc.euid and cred.egid == pc.gid == pc.egid:
            return True
        return cred.capable(CAP_SYS_ADMIN)

    def may_read(self, obj: Any) -> bool:
        """May the caller see an object's contents: semctl(GETALL)'s check."""
        return ipcperms(self.cred, obj.perm, S_IRUGO)


def _perm_fields(perm: Any) -> dict[str, int]:
    """The ipc_perm columns every /proc/sysvipc file shows."""
    return {"key": perm.key, "id": perm.id, "perms": perm.mode, "uid": perm.uid,
            "gid": perm.gid, "cuid": perm.cuid, "cgid": perm.cgid}


# --- walking the id registry ------------------------------------------------
def sysvipc_find_ipc(ids: IpcIds[Any], pos: int) -> Iterator[tuple[int, Any]]:
    """(index, object) from index ``pos`` up, in index order, as
    sysvipc_find_ipc() resumes /proc/sysvipc at a file position.

    Probes the registry index by index (at most IPCMNI probes in all)
    instead of sorting every id for each page as iterating ``IpcIds`` does.
    """
    # IpcIds offers no walk from an index, and iterating it sorts every index
    idr = ids._idr  # noqa: SLF001
    for idx in range(max(pos, 0), ids.ipc_get_maxidx() + 1):
        obj = idr.get(idx)
        if obj is not None:
            yield idx, obj


class _Page:
    """Entries of one page, cut at PAGE_MAX entries or PAGE_ITEMS items."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.entries: list[dict[str, Any]] = []
        self.items = 0
        self.next: Any = None

    def full(self) -> bool:
        return len(self.entries) >= self.count or self.items >= PAGE_ITEMS

    def add(self, entry: dict[str, Any], items: int) -> None:
        self.entries.append(entry)
        self.items += 1 + items


def _fill(page: _Page, source: Iterable[tuple[Any, Any]],
          build: Callable[[Any], tuple[dict[str, Any], int]]) -> _Page:
    """Build entries from (cursor, item) pairs until the page is full; the
    cursor of the first one left out is the next page's start."""
    for cursor, item in source:
        if page.full():
            page.next = cursor
            break
        entry, items = build(item)
        page.add(entry, items)
    return page


# --- the sections ------------------------------------------------------------
def _waiters(me: Viewer, queue: Iterable[Any], readable: bool,
             extra: Callable[[Any], dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """The sleepers of a wait queue the caller may see."""
    out = []
    for w in queue:
        if readable or me.may_inspect(w.task.process):
            entry = {"pid": w.task.pid, "tid": w.task.tid, "op": w.op, "since": w.since,
                     "deadline": w.deadline}
            if extra is not None:
                entry.update(extra(w))
            out.append(entry)
    return out


def _msg_entry(me: Viewer, msq: Any) -> tuple[dict[str, Any], int]:
    """sysvipc_msg_proc_show()'s columns, and the queue's sleepers."""
    readable = me.may_read(msq)
    receivers = _waiters(me, msq.q_receivers, readable,
                         lambda w: {"msgtyp": w.r_msgtype, "mode": w.r_mode,
                                    "maxsize": w.r_maxsize})
    senders = _waiters(me, msq.q_senders, readable, lambda w: {"msgsz": w.msgsz})
    types = _msg_types(msq) if readable else None
    entry = dict(_perm_fields(msq.perm), cbytes=msq.q_cbytes, qnum=msq.q_qnum,
                 qbytes=msq.q_qbytes, lspid=msq.q_lspid, lrpid=msq.q_lrpid, stime=msq.q_stime,
                 rtime=msq.q_rtime, ctime=msq.q_ctime, readable=readable, receivers=receivers,
                 senders=senders, ops=msq.ops, types=types)
    return entry, len(receivers) + len(senders) + (len(types) if types else 0)


#: queued messages a msg entry's "types" summary looks at (the rest: "types_partial")
TYPES_SCAN = 4096


def _msg_types(msq: Any) -> list[list[int]]:
    """[[mtype, count, bytes], ...] of the queued messages, by type (the first
    TYPES_SCAN messages: a page's work stays bounded)."""
    seen: dict[int, list[int]] = {}
    for i, msg in enumerate(msq.q_messages):
        if i == TYPES_SCAN:
            break
        row = seen.setdefault(msg.m_type, [msg.m_type, 0, 0])
        row[1] += 1
        row[2] += msg.m_ts
    return sorted(seen.values())


def _semvals(sma: Any) -> list[int]:
    """Every semval of a set, through sem.py's accessor."""
    return sma.semvals()


def _sem_entry(me: Viewer, sma: Any) -> tuple[dict[str, Any], int]:
    """sysvipc_sem_proc_show()'s columns; values, sleepers and undo entries
    behind read permission (semctl GETALL/GETNCNT)."""
    readable = me.may_read(sma)
    values = _semvals(sma) if readable else None
    waiters = _waiters(me, sem_waiters(sma), readable,
                       lambda q: {"sops": [list(s) for s in q.sops], "blocking": q.blocking})
    undo = [{"pid": un.process.pid, "semadj": list(un.semadj)} for un in sma.undos
            if readable or me.may_inspect(un.process)]
    entry = dict(_perm_fields(sma.perm), nsems=sma.sem_nsems, otime=sma.sem_otime, ops=sma.ops,
                 ctime=sma.sem_ctime, readable=readable, values=values, waiters=waiters, undo=undo)
    items = (len(values) if values is not None else 0) + len(waiters) + sum(
        len(u["semadj"]) for u in undo)
    return entry, items


def _attachers(kernel: Kernel, segments: list[Any]) -> dict[int, dict[int, int]]:
    """id(segment) -> {pid: mappings} for the segments of one page.

    One pass over every process's attachments (a process that left the
    namespace keeps its mappings), stopped once the page's nattch are found.
    """
    wanted: dict[int, dict[int, int]] = {id(shp): {} for shp in segments if shp.shm_nattch > 0}
    left = sum(shp.shm_nattch for shp in segments if shp.shm_nattch > 0)
    if not wanted:
        return wanted
    for proc in kernel.processes.values():
        for att in proc.shm_attachments.values():
            pids = wanted.get(id(att.shp))
            if pids is not None:
                pids[proc.pid] = pids.get(proc.pid, 0) + 1
                left -= 1
        if left <= 0:
            break
    return wanted


def _shm_entry(kernel: Kernel, me: Viewer, shp: Any,
               attachers: dict[int, dict[int, int]]) -> tuple[dict[str, Any], int]:
    """sysvipc_shm_proc_show()'s columns, SHM_DEST, and the attached processes."""
    readable = me.may_read(shp)
    alloc = kernel.shm_allocator
    rss = (alloc.resident_pages(shp.shm_file) * PAGE_SIZE
           if alloc is not None and shp.shm_file is not None else 0)
    shown = [{"pid": pid, "count": n} for pid, n in sorted(attachers.get(id(shp), {}).items())
             if readable or _inspectable_pid(kernel, me, pid)]
    entry = dict(_perm_fields(shp.perm), size=shp.shm_segsz, cpid=shp.shm_cprid,
                 lpid=shp.shm_lprid, nattch=shp.shm_nattch, atime=shp.shm_atim,
                 dtime=shp.shm_dtim, ctime=shp.shm_ctim, rss=rss, swap=0,
                 dest=bool(shp.perm.mode & SHM_DEST), readable=readable, attachers=shown,
                 ops=shp.ops)
    return entry, len(shown)


def _inspectable_pid(kernel: Kernel, me: Viewer, pid: int) -> bool:
    proc = kernel.processes.get(pid)
    return proc is not None and me.may_inspect(proc)


def _process_entry(kernel: Kernel, me: Viewer, p: Process,
                   holders: "_Holders") -> tuple[dict[str, Any], int]:
    """A process: pid, uid, tasks and signal masks for anyone; its undo
    list, attachments, queued signals and what its threads wait on for
    whoever may inspect it."""
    entry: dict[str, Any] = {"pid": p.pid, "uid": p.cred.euid, "tasks": len(p.tasks),
                             "undo": None, "shm_attachments": None,
                             "signals": _signal_entry(me, p)}
    if not me.may_inspect(p):
        return entry, 0
    entry["undo"] = {str(semid): list(un.semadj) for semid, un in p.sysvsem.items()}
    entry["shm_attachments"] = len(p.shm_attachments)
    # what each thread sleeps in, whatever the object (an eventfd read too),
    # and on what
    waits, items = [], 0
    for t in sorted(p.tasks, key=lambda t: t.tid):
        w = t.waiter
        if w is None:
            continue
        on, n = _wait_on(kernel, w, holders)
        timeout = None if w.deadline is None else max(w.deadline - kernel.mono, 0.0)
        waits.append({"tid": t.tid, "op": w.op, "since": w.since, "timeout": timeout, "on": on})
        items += n
    entry["waits"] = waits
    return entry, items + sum(len(adj) for adj in entry["undo"].values()) + len(
        entry["signals"]["queued"])


def _signal_entry(me: Viewer, p: Process) -> dict[str, Any]:
    """The process's signal state (uipc/kernel/signal.py): blocked and
    pending signals (signal numbers) for anyone, as /proc/PID/status's SigBlk
    and ShdPnd; the queued records -- sender, si_code, value -- for whoever
    may inspect it (the first SIG_SHOWN; ``queued_total`` counts them all)."""
    sig = p.signal
    if sig is None:  # never signalled nor masked: signal_struct() would make one
        blocked, pending, records, total = 0, 0, [], 0
    else:
        blocked, pending = sig.blocked, sig.shared_pending.signal
        # the first SIG_SHOWN in arrival order, merged from the per-signal
        # queues: never a walk of all of them
        records = list(islice(sig.shared_pending.records(), SIG_SHOWN))
        total = len(sig.shared_pending)
    entry: dict[str, Any] = {"blocked": signals_of(blocked), "pending": signals_of(pending),
                             "queued": None, "queued_total": None}
    if me.may_inspect(p):
        entry["queued"] = [{"signo": q.info.si_signo, "code": q.info.si_code,
                            "pid": q.info.si_pid, "uid": q.info.si_uid,
                            "value": q.info.si_value} for q in records]
        entry["queued_total"] = total
    return entry


# --- descriptors: /proc/PID/fd and fdinfo --------------------------------------
#: an epoll's items its entry lists (all are counted in "items")
EP_SHOWN = 32
#: an epoll's ready-list items whose readiness an entry checks ("ready"
#: counts among them; each counts as an item of the page's budget)
EP_SCAN = 256
#: queued signal records a process entry shows ("queued_total" counts all)
SIG_SHOWN = 64
#: items one descriptor counts in a page's budget: its entry costs the
#: daemon some 3 us (and 2 us of JSON) where a semaphore value costs 0.1 us,
#: so a page holds about 512 of them.  Measured (2 CPUs): 256 processes of
#: 64 pipe ends, 7.6 ms a page (4.6 of them the holders' index over the
#: 16384 descriptors) and 1.2 ms of JSON; 17 processes of 16, 0.8 + 0.6 ms
FILE_ITEMS = 8


class _Holders:
    """Which of the processes the caller may inspect hold each open file.

    Built on first use in a page, in one pass over their descriptor tables
    (each holds one entry per open file, named by its inode), so a page of
    pipes costs one walk of the namespace's descriptors, not one per pipe.
    """

    def __init__(self, me: Viewer, ns: IpcNamespace) -> None:
        self.me, self.ns = me, ns
        self._by_file: dict[File, list[int]] | None = None

    def pids(self, file: File) -> list[int]:
        if self._by_file is None:
            by_file: dict[File, list[int]] = {}
            for p in sorted(self.ns.processes, key=lambda p: p.pid):
                if self.me.may_inspect(p):
                    # FdTable offers no unsorted walk; fds() + get() would
                    # sort and look up every descriptor of the namespace
                    for held in p.files._fds.values():  # noqa: SLF001
                        if held is not None:  # None: reserved, not installed
                            by_file.setdefault(held, []).append(p.pid)
            self._by_file = by_file
        return self._by_file.get(file, [])


def file_type(file: File) -> str:
    """What /proc/PID/fd's link names: "pipe", "fifo", or the file's own
    kind ("eventfd", "timerfd", "signalfd", "epoll", "mqueue")."""
    if file.f_op is PIPE_FOPS:
        pf = file.private_data
        return "fifo" if pf is not None and pf.pipe.inode is not None else "pipe"
    if file.f_op is EVENTPOLL_FOPS:
        return "epoll"
    return file.f_op.name


def _mode(file: File) -> str:
    return ("r" if file.f_mode & FMODE_READ else "") + ("w" if file.f_mode & FMODE_WRITE else "")


def _pipe_state(file: File, holders: _Holders) -> dict[str, Any]:
    """A pipe or FIFO end: the pipe's bytes and size (F_GETPIPE_SZ), its
    reader and writer files, and which inspectable processes hold them."""
    pipe = file.private_data.pipe
    reader_pids: set[int] = set()
    writer_pids: set[int] = set()
    for f in pipe.open_files:
        pids = holders.pids(f)
        if f.f_mode & FMODE_READ:
            reader_pids.update(pids)
        if f.f_mode & FMODE_WRITE:
            writer_pids.update(pids)
    inode = pipe.inode
    return {"name": None if inode is None else "/" + inode.name,
            "bytes": sum(buf.len for buf in pipe.bufs), "capacity": pipe.max_usage * PAGE_SIZE,
            "readers": pipe.readers, "writers": pipe.writers,
            "reader_pids": sorted(reader_pids), "writer_pids": sorted(writer_pids),
            "packet": bool(file.f_flags & O_DIRECT)}


def _ep_item_ready(kernel: Kernel, epi: Any) -> bool:
    """Would epoll_wait report this item now?  Its target is polled without
    a table, as ep_item_poll does; an epoll target counts as ready while its
    ready list is not empty (re-polling it would rescan, and so change, that
    list)."""
    f = epi.file
    if f.f_count <= 0:
        return False
    if f.f_op is EVENTPOLL_FOPS:
        return bool(f.private_data.rdllist)
    return bool(vfs_poll(kernel, None, f, None) & epi.events & ~EP_PRIVATE_BITS)


def _epoll_state(kernel: Kernel, file: File) -> tuple[dict[str, Any], int]:
    """An epoll: its items (fdinfo's tfd/events/data lines, the first
    EP_SHOWN of them) and how many an epoll_wait would report now (among
    the first EP_SCAN on its ready list; an item not on it is not ready:
    edge-triggered ones leave it once reported)."""
    ep = file.private_data
    ready: set[int] = set()
    scanned = 0
    for epi in ep.rdllist:
        if scanned == EP_SCAN:
            break
        scanned += 1
        if _ep_item_ready(kernel, epi):
            ready.add(id(epi))
    targets = []
    for epi in ep.rbr.values():
        if len(targets) == EP_SHOWN:
            break
        targets.append({"tfd": epi.fd, "ino": epi.file.f_ino, "type": file_type(epi.file),
                        "events": epi.events, "data": epi.data, "ready": id(epi) in ready})
    return ({"items": len(ep.rbr), "ready": len(ready), "waiters": len(ep.wq.waiters()),
             "targets": targets}, len(targets) + scanned)


def _file_state(kernel: Kernel, file: File, holders: _Holders) -> tuple[dict[str, Any], int]:
    """What /proc/PID/fdinfo would show of the file's object, by its kind."""
    ctx, op = file.private_data, file.f_op
    if op is PIPE_FOPS:
        return (_pipe_state(file, holders) if ctx is not None else {}), 0
    if op is EVENTFD_FOPS:
        return {"count": ctx.count, "semaphore": bool(ctx.flags & EFD_SEMAPHORE)}, 0
    if op is TIMERFD_FOPS:
        remaining = None if ctx.expires is None else max(ctx.expires - kernel.mono, 0.0)
        return {"clockid": ctx.clockid, "armed": ctx.expires is not None, "remaining": remaining,
                "interval": ctx.interval, "ticks": ctx.ticks}, 0
    if op is SIGNALFD_FOPS:
        return {"sigmask": signals_of(ctx.ctx.sigmask), "owner": ctx.owner.pid}, 0
    if op is EVENTPOLL_FOPS:
        return _epoll_state(kernel, file)
    if op is MQUEUE_FOPS:
        return {"name": "/" + ctx.name, "curmsgs": ctx.mq_curmsgs, "maxmsg": ctx.mq_maxmsg}, 0
    return {}, 0


def file_entry(kernel: Kernel, file: File, holders: _Holders) -> tuple[dict[str, Any], int]:
    """One open file: its inode, kind, f_flags (asm-generic values), access
    mode and state."""
    entry: dict[str, Any] = {"ino": file.f_ino, "type": file_type(file), "flags": file.f_flags,
                             "mode": _mode(file)}
    state, items = _file_state(kernel, file, holders)
    entry.update(state)
    return entry, items


def _files_entry(kernel: Kernel, me: Viewer, p: Process,
                 holders: _Holders) -> tuple[dict[str, Any], int]:
    """A process's uipc descriptors, in inode order, for whoever may inspect
    it (proc_fd_access_allowed); pid and uid for anyone."""
    entry: dict[str, Any] = {"pid": p.pid, "uid": p.cred.euid, "files": None}
    if not me.may_inspect(p):
        return entry, 0
    files, items = [], 0
    table = p.files
    for fd in table.fds():
        fe, n = file_entry(kernel, table.get(fd), holders)
        fe["cloexec"] = table.get_cloexec(fd)
        files.append(fe)
        items += FILE_ITEMS + n
    entry["files"] = files
    return entry, items


# --- what a sleeper waits on ----------------------------------------------------------
def _queues_of(process: Process, file: File) -> list[Any]:
    """The wait queues a poll or read of ``file`` by ``process`` sleeps on."""
    ctx, op = file.private_data, file.f_op
    if op is PIPE_FOPS:  # pipe_poll: the read queue for a reader, the write one for a writer
        if ctx is None:
            return []
        return (([ctx.pipe.rd_wait] if file.f_mode & FMODE_READ else [])
                + ([ctx.pipe.wr_wait] if file.f_mode & FMODE_WRITE else []))
    if op in (EVENTFD_FOPS, TIMERFD_FOPS):
        return [ctx.wqh]
    if op is SIGNALFD_FOPS:  # a signalfd reads its reader's signals: the reader's queue
        return [] if process.signal is None else [process.signal.signalfd_wqh]
    if op is EVENTPOLL_FOPS:
        return [ctx.poll_wait]
    if op is MQUEUE_FOPS:
        return [ctx.wait_q]
    return []


def _files_waited(process: Process, queues: Iterable[Any], only: Any = None) -> list[File]:
    """The process's files (of kind ``only``, if given) whose queues are
    among ``queues``: the eventfd, timerfd and signalfd sleepers and the
    poll tables do not record their files, only the queues they are on.
    Every signalfd of a process shares its one queue, so all are named."""
    wanted = {id(q) for q in queues if q is not None}
    if not wanted:
        return []
    table, out = process.files, []
    for fd in table.fds():
        f = table.get(fd)
        if (only is None or f.f_op is only) and any(id(q) in wanted
                                                   for q in _queues_of(process, f)):
            out.append(f)
    return out


def _sleeping_files(w: Waiter) -> tuple[list[File], str | None]:
    """The files a sleeper waits on, and what for where its op does not say
    it (a splice waits for data in its input or room in its output)."""
    process = w.task.process
    if isinstance(w, PipeWaiter):
        return ([w.held] if w.held is not None else []), None
    if isinstance(w, SpliceWaiter):
        files = list(w.hold.files) if w.hold is not None else []
        fin = files[0].private_data if files and files[0].f_op is PIPE_FOPS else None
        data = fin is not None and w.queue is fin.pipe.rd_wait
        return files, "data" if data else "room"
    if isinstance(w, EpollWaiter):
        return ([w.file] if w.file is not None else []), None
    if isinstance(w, (EventfdWaiter, TimerfdWaiter)):
        return _files_waited(process, [w.queue]), None
    if isinstance(w, SignalfdWaiter):
        return _files_waited(process, [w.queue], SIGNALFD_FOPS), None
    if isinstance(w, PollWaiter):
        return _files_waited(process, [e.queue for e in w.extra]), None
    return [], None


def _wait_on(kernel: Kernel, w: Waiter, holders: _Holders) -> tuple[dict[str, Any] | None, int]:
    """What one sleeper waits on: its files (each as in the files section),
    a FIFO being opened (for a writer or a reader to come), a POSIX queue,
    or the id of a SysV object or named semaphore."""
    if isinstance(w, FifoOpenWaiter):  # no file yet: the FIFO's pipe (wait_for_partner)
        pipe = w.pipe
        return {"fifo": "/" + pipe.inode.name,
                "for": "writer" if w.counter == "w_counter" else "reader",
                "readers": pipe.readers, "writers": pipe.writers}, 0
    files, what = _sleeping_files(w)
    if files:
        entries, items = [], 0
        for f in files:
            fe, n = file_entry(kernel, f, holders)
            entries.append(fe)
            items += FILE_ITEMS + n
        return {"files": entries, "for": what}, items
    info = getattr(w, "info", None) if isinstance(w, MqWaiter) else None
    if info is not None:
        return {"mqueue": "/" + info.name, "curmsgs": info.mq_curmsgs,
                "maxmsg": info.mq_maxmsg}, 0
    if w.obj_id >= 0:
        return {"id": w.obj_id}, 0
    return None, 0


def snapshot_page(kernel: Kernel, task: Task, section: str, cursor: int,
                  count: int = PAGE_MAX) -> dict[str, Any]:
    """One page of one section of the caller's namespace, as the caller may see it.

    Args:
        section: "processes" or "files" (cursor: a pid), "msg", "sem" or
            "shm" (cursor: an id index, ``id % 32768``), "mqueue",
            "posix_sem", "posix_shm" (cursor: the object's number).
        cursor: where the page starts (inclusive).
        count: the most entries wanted; capped at PAGE_MAX.
    Returns:
        ``{"namespace", "section", "entries", "next"}``: ``next`` is the
        cursor of the following page, or None after the last.
    """
    ns, me = task.ns, Viewer.of(task)
    page = _Page(min(count, PAGE_MAX))
    holders = _Holders(me, ns)
    if section in ("processes", "files"):
        procs = sorted((p for p in ns.processes if p.pid >= cursor), key=lambda p: p.pid)
        entry = _process_entry if section == "processes" else _files_entry
        _fill(page, ((p.pid, p) for p in procs), lambda p: entry(kernel, me, p, holders))
    elif section == "msg":
        _fill(page, sysvipc_find_ipc(ns.msg_ids, cursor), lambda q: _msg_entry(me, q))
    elif section == "sem":
        _fill(page, sysvipc_find_ipc(ns.sem_ids, cursor), lambda s: _sem_entry(me, s))
    elif section == "shm":
        _shm_page(kernel, me, ns, page, cursor)
    elif section == "mqueue":
        queues = sorted((i, q) for i, q in ns.mq_all.items() if i >= cursor)
        _fill(page, queues, lambda q: _mq_entry(me, q))
    elif section == "posix_sem":
        sems = sorted((s.sem_id, s) for s in _all_sems(ns) if s.sem_id >= cursor)
        _fill(page, sems, lambda s: _psem_entry(me, s))
    else:
        files = sorted((f.ino, f) for f in ns.shm_files.values() if f.ino >= cursor)
        _fill(page, files, lambda f: _pshm_entry(kernel, f))
    return {"namespace": ns.name, "section": section, "entries": page.entries, "next": page.next}


def _mq_entry(me: Viewer, q: Any) -> tuple[dict[str, Any], int]:
    """A POSIX queue: /dev/mqueue's stat and QSIZE line, its notification,
    and its sleepers (all of them for a reader of the queue)."""
    readable = me.cred.capable(CAP_SYS_ADMIN) or inode_permission(
        me.cred, q.i_uid, q.i_gid, q.i_mode, 4)
    senders = _waiters(me, q.e_wait_q[0], readable)
    receivers = _waiters(me, q.e_wait_q[1], readable)
    n = q.notify
    entry = {"name": "/" + q.name, "ino": q.i_ino, "linked": q.linked, "readable": readable,
             "mode": q.i_mode,
             "uid": q.i_uid, "gid": q.i_gid, "maxmsg": q.mq_maxmsg, "msgsize": q.mq_msgsize,
             "curmsgs": q.mq_curmsgs, "qsize": q.qsize, "open_files": len(q.files),
             "notify": None if n is None else {"pid": n.owner.pid, "sigev_notify": n.sigev_notify,
                                               "sigev_signo": n.sigev_signo},
             "fileinfo": q.fileinfo(), "mtime": q.i_mtime, "ops": q.ops, "senders": senders,
             "receivers": receivers}
    return entry, len(senders) + len(receivers)


def _all_sems(ns: IpcNamespace) -> list[Any]:
    """Named semaphores with a name, and unlinked ones still open."""
    seen = {id(s): s for s in ns.sem_files.values()}
    for p in ns.processes:
        for s in (p.posix_sems or {}).values():
            seen.setdefault(id(s), s)
    return list(seen.values())


def _psem_entry(me: Viewer, s: Any) -> tuple[dict[str, Any], int]:
    readable = me.cred.capable(CAP_SYS_ADMIN) or inode_permission(
        me.cred, s.uid, s.gid, s.mode, 4)
    waiters = _waiters(me, s.waiters, readable)
    return ({"name": "/" + s.name[4:], "id": s.sem_id, "linked": s.linked, "mode": s.mode,
             "uid": s.uid, "gid": s.gid, "value": s.value if readable else None,
             "mtime": s.ctime, "ops": s.ops,
             "openers": sorted(p.pid for p in s.openers), "waiters": waiters}, len(waiters))


def _pshm_entry(kernel: Kernel, f: Any) -> tuple[dict[str, Any], int]:
    size = kernel.memory.size_of(f.memory) if hasattr(kernel.memory, "size_of") else None
    return ({"name": "/" + f.name, "ino": f.ino, "mode": f.mode, "uid": f.uid, "gid": f.gid,
             "size": size, "mtime": f.ctime}, 0)


def _shm_page(kernel: Kernel, me: Viewer, ns: IpcNamespace, page: _Page, cursor: int) -> None:
    """The shm section: the page's segments are picked first, so that their
    attachers come from one pass over the attachments."""
    picked: list[tuple[int, Any]] = []
    after = None
    for idx, shp in sysvipc_find_ipc(ns.shm_ids, cursor):
        if len(picked) == page.count:
            after = idx
            break
        picked.append((idx, shp))
    attachers = _attachers(kernel, [shp for _, shp in picked])
    _fill(page, picked, lambda shp: _shm_entry(kernel, me, shp, attachers))
    if page.next is None:  # every picked segment fitted
        page.next = after


def may_list_namespace(task: Task, ns: IpcNamespace) -> bool:
    """Namespaces one may join by name (setns: its creator or CAP_SYS_ADMIN),
    and one's own."""
    return ns is task.ns or ns_capable_owner(ns, task.cred, CAP_SYS_ADMIN)


def _namespace_entry(ns: IpcNamespace) -> tuple[dict[str, Any], int]:
    pids = sorted(p.pid for p in ns.processes)
    return ({"name": ns.name, "owner": ns.owner_uid, "processes": pids, "msg": len(ns.msg_ids),
             "sem": len(ns.sem_ids), "shm": len(ns.shm_ids), "mqueue": len(ns.mq_all),
             "posix_sem": len(ns.sem_files), "posix_shm": len(ns.shm_files)}, len(pids))


def namespaces_page(kernel: Kernel, task: Task, start: str,
                    count: int = PAGE_MAX) -> dict[str, Any]:
    """The namespaces the caller may see, by name, from ``start`` (inclusive).

    Returns ``{"entries", "next"}``: ``next`` is the name the following page
    starts at, or None after the last.
    """
    page = _Page(min(count, PAGE_MAX))
    visible = sorted((ns.name, ns) for ns in kernel.namespaces.values()
                     if ns.name >= start and may_list_namespace(task, ns))
    _fill(page, visible, _namespace_entry)
    return {"entries": page.entries, "next": page.next}


@syscall(14, "introspect", "what:u8 section:u8 cursor:i64 count:u32 start:text", result="text",
         doc="One page of the daemon's state, as JSON. what=0: the caller's namespace, section 0 "
             "processes (cursor: the first pid), 1 msg, 2 sem, 3 shm (cursor: the first id index, "
             "id % 32768), 4 mqueue (cursor: the first queue number), 5 posix_sem (the first "
             "semaphore number), 6 posix_shm (the first file number), 7 files (each "
             "process's uipc descriptors, as /proc/PID/fd and fdinfo; cursor: the first "
             "pid); no tail. what=1: the namespaces the caller may join or lives in, from "
             "the name in the tail on (cursor 0). count: the most entries wanted, 0 for the "
             "daemon's page size (at most 256 entries, fewer when they carry many values). "
             "Result tail: {\"entries\": [...], \"next\": the cursor (or name) the next page "
             "starts at, null after the last}. what=2: the daemon's counters {\"calls\", "
             "\"processes\", \"namespaces\"}. Objects the caller cannot read show only what "
             "/proc/sysvipc shows; see uipc/kernel/procfs.py.")
def sys_introspect(kernel: Kernel, task: Task, what: int, section: int, cursor: int, count: int,
                   start: str) -> str:
    """The ``introspect`` op: (what, section, cursor, count) -> one page as JSON.

    Raises:
        EINVAL: an unknown ``what`` or ``section``; a negative cursor; a
            tail where none belongs (what=0); a section or an integer
            cursor for the namespaces listing (what=1).
    """
    count = count or PAGE_MAX  # 0: as many as the daemon gives
    if what == WHAT_DAEMON:
        if cursor or section or start:
            raise KernelError(errno.EINVAL, "the daemon's counters take no section, cursor "
                              "or tail")
        return json.dumps({"calls": kernel.calls, "processes": len(kernel.processes),
                           "namespaces": len(kernel.namespaces)})
    if what == WHAT_NAMESPACES:
        if cursor or section:
            raise KernelError(errno.EINVAL, "the namespaces listing has no sections and takes "
                              "its cursor (a name) in the tail: section and cursor must be 0")
        return json.dumps(namespaces_page(kernel, task, start, count))
    if what != WHAT_NAMESPACE:
        raise KernelError(errno.EINVAL, f"introspect what={what}: 0 (namespace), 1 (namespaces) "
                          "or 2 (the daemon's counters)")
    if not 0 <= section < len(SECTIONS):
        raise KernelError(errno.EINVAL, f"introspect section {section} outside [0, "
                          f"{len(SECTIONS) - 1}] ({', '.join(SECTIONS)})")
    if cursor < 0:
        raise KernelError(errno.EINVAL, f"introspect cursor {cursor} is negative")
    if start:
        raise KernelError(errno.EINVAL, "introspect what=0 takes no tail")
    return json.dumps(snapshot_page(kernel, task, SECTIONS[section], cursor, count))


# --- /proc/sysvipc/* and /proc/sys/{kernel,fs/mqueue}/* as text: proc_read -----------
#: the header line ipc_init_proc_interface() gives each /proc/sysvipc file; a
#: 64-bit kernel's (shm's SIZE_SPEC is "%21lu", and its header is widened to match)
SYSVIPC_HEADERS = {
    "msg": "       key      msqid perms      cbytes       qnum lspid lrpid   uid   gid  cuid  cgid"
           "      stime      rtime      ctime\n",
    "sem": "       key      semid perms      nsems   uid   gid  cuid  cgid      otime      ctime\n",
    "shm": "       key      shmid perms                  size  cpid  lpid nattch   uid   gid  cuid"
           "  cgid      atime      dtime      ctime                   rss                  swap\n",
}
#: rows one proc_read reply holds at most: a page costs the daemon about 1.5 ms
#: (32768 rows at once would stall it for 100 ms), as seq_file reads /proc a
#: buffer at a time
PROC_PAGE = 512
PROC_SYS = "/proc/sys/"
#: open(2)'s O_ACCMODE values, the ``acc`` argument
O_RDONLY, O_WRONLY, O_RDWR = 0, 1, 2
_U32 = 0xFFFFFFFF
_ULONG = 0xFFFFFFFFFFFFFFFF


def _key(key: int) -> int:
    """The key as printf's %d shows the kernel's int."""
    key &= _U32
    return key - (1 << 32) if key & 0x80000000 else key


def _ids(perm: Any) -> str:
    """The four %5u uid/gid columns.

    sysvipc_*_proc_show print from_kuid_munged(seq_user_ns(s), uid): the ids
    as the reader's user namespace maps them.  uipc keeps the ids the daemon
    saw (SO_PEERCRED, in the daemon's user namespace) and models no user
    namespaces, so a reader is shown those: what Linux shows a reader in the
    namespace the objects' creators live in.
    """
    return (f"{perm.uid & _U32:5d} {perm.gid & _U32:5d} {perm.cuid & _U32:5d} "
            f"{perm.cgid & _U32:5d}")


def sysvipc_msg_proc_show(msq: Any) -> str:
    """One /proc/sysvipc/msg row, as ipc/msg.c sysvipc_msg_proc_show prints it:
    "%10d %10d  %4o  %10lu %10lu %5u %5u %5u %5u %5u %5u %10llu %10llu %10llu\\n"."""
    p = msq.perm
    return (f"{_key(p.key):10d} {p.id:10d}  {p.mode:4o}  {msq.q_cbytes:10d} {msq.q_qnum:10d} "
            f"{msq.q_lspid:5d} {msq.q_lrpid:5d} {_ids(p)} {int(msq.q_stime):10d} "
            f"{int(msq.q_rtime):10d} {int(msq.q_ctime):10d}\n")


def sysvipc_sem_proc_show(sma: Any) -> str:
    """One /proc/sysvipc/sem row, as ipc/sem.c sysvipc_sem_proc_show prints it:
    "%10d %10d  %4o %10u %5u %5u %5u %5u %10llu %10llu\\n" (otime is
    get_semotime()'s: uipc keeps the latest per-semaphore time per set)."""
    p = sma.perm
    return (f"{_key(p.key):10d} {p.id:10d}  {p.mode:4o} {sma.sem_nsems:10d} {_ids(p)} "
            f"{int(sma.sem_otime):10d} {int(sma.sem_ctime):10d}\n")


def sysvipc_shm_proc_show(kernel: Kernel, shp: Any) -> str:
    """One /proc/sysvipc/shm row, as ipc/shm.c sysvipc_shm_proc_show prints it
    on a 64-bit kernel: "%10d %10d  %4o %21lu %5u %5u  %5lu %5u %5u %5u %5u
    %10llu %10llu %10llu %21lu %21lu\\n".  The mode shows SHM_DEST and
    SHM_LOCKED; rss is shm_add_rss_swap()'s resident pages times PAGE_SIZE
    (the memory object's, as the allocator counts them) and swap is 0: the
    daemon cannot see how much of a memfd is swapped out."""
    p = shp.perm
    alloc = kernel.memory
    rss = alloc.resident_pages(shp.shm_file) * PAGE_SIZE if shp.shm_file is not None else 0
    return (f"{_key(p.key):10d} {p.id:10d}  {p.mode:4o} {shp.shm_segsz & _ULONG:21d} "
            f"{shp.shm_cprid:5d} {shp.shm_lprid:5d}  {shp.shm_nattch:5d} {_ids(p)} "
            f"{int(shp.shm_atim):10d} {int(shp.shm_dtim):10d} {int(shp.shm_ctim):10d} "
            f"{rss:21d} {0:21d}\n")


def sysvipc_proc_text(kernel: Kernel, ns: IpcNamespace, kind: str, pos: int,
                      count: int = PROC_PAGE) -> str:
    """Rows of /proc/sysvipc/``kind`` from id index ``pos`` on, at most ``count``
    of them, in index order (sysvipc_proc_start/next -> sysvipc_find_ipc);
    the header line (sysvipc_proc_show's SEQ_START_TOKEN) when pos is 0."""
    ids = {"msg": ns.msg_ids, "sem": ns.sem_ids, "shm": ns.shm_ids}[kind]
    show: Callable[[Any], str] = {
        "msg": sysvipc_msg_proc_show, "sem": sysvipc_sem_proc_show,
        "shm": lambda shp: sysvipc_shm_proc_show(kernel, shp)}[kind]
    out = [SYSVIPC_HEADERS[kind]] if pos == 0 else []
    for n, (_, obj) in enumerate(sysvipc_find_ipc(ids, pos)):
        if n == count:
            break
        out.append(show(obj))
    return "".join(out)


def proc_sys_name(path: str) -> str | None:
    """The sysctl a /proc/sys path names ("/proc/sys/kernel/msgmax" ->
    "kernel.msgmax"), or None: only the IPC files of ipc_sysctl.c and
    mq_sysctl.c (uipc.quota.* has no /proc file)."""
    if not path.startswith(PROC_SYS):
        return None
    name = path[len(PROC_SYS):].replace("/", ".")
    if name not in sysctl.BY_NAME or name.startswith("uipc."):
        return None
    return name


def may_open_sysvipc(cred: Cred, acc: int) -> None:
    """EACCES for a write open of a /proc/sysvipc file: they are S_IRUGO
    (ipc_init_proc_interface), and generic_permission() lets only
    CAP_DAC_OVERRIDE open them for writing (their write(2) is EIO then)."""
    if acc != O_RDONLY and not cred.capable(CAP_DAC_OVERRIDE):
        raise KernelError(errno.EACCES, "/proc/sysvipc files are mode 0444: opening one for "
                          "writing needs CAP_DAC_OVERRIDE")


@syscall(59, "proc_read", "pos:i64 acc:u8 path:text", result="text",
         doc="The text of a /proc file of the caller's namespace, as Linux prints it: "
             "/proc/sysvipc/{msg,sem,shm} (the header when pos is 0, then at most 512 rows "
             "from id index pos on: read on from the last row's id % 32768 + 1 until no row "
             "comes) or a /proc/sys/kernel/{msg,sem,shm}* or /proc/sys/fs/mqueue/* file (its "
             "value and a newline; nothing when pos > 0). acc: the open's O_ACCMODE (0 read, "
             "1 write, 2 both), checked as open(2) would (EACCES).")
def sys_proc_read(kernel: Kernel, task: Task, pos: int, acc: int, path: str) -> str:
    """The ``proc_read`` op: what read(2) of ``path`` shows the caller, from ``pos``.

    Raises:
        EINVAL: a negative pos; acc is not 0, 1 or 2.
        ENOENT: not one of the files above.
        EACCES: a write open of a /proc/sysvipc file without CAP_DAC_OVERRIDE,
            or of a sysctl by someone who may not set it (sysctl.check_write:
            ipc_permissions() gives the namespace owner alone rw).
    """
    if pos < 0:
        raise KernelError(errno.EINVAL, f"proc_read pos {pos} is negative")
    if acc not in (O_RDONLY, O_WRONLY, O_RDWR):
        raise KernelError(errno.EINVAL, f"proc_read acc {acc}: 0 (O_RDONLY), 1 (O_WRONLY) or "
                          "2 (O_RDWR)")
    ns = task.ns
    kind = path[len("/proc/sysvipc/"):] if path.startswith("/proc/sysvipc/") else ""
    if kind in SYSVIPC_HEADERS:
        may_open_sysvipc(task.cred, acc)
        return sysvipc_proc_text(kernel, ns, kind, pos)
    name = proc_sys_name(path)
    if name is None:
        raise KernelError(errno.ENOENT, f"{path!r}: proc_read knows /proc/sysvipc/{{msg,sem,"
                          "shm}, /proc/sys/kernel's and /proc/sys/fs/mqueue's IPC files")
    if acc != O_RDONLY:
        sysctl.check_write(ns, task.cred, name)
    return sysctl.get(ns, name) + "\n" if pos == 0 else ""
