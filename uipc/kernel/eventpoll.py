"""fs/eventpoll.c: epoll over uipc's files.

An epoll instance (``struct eventpoll``) is a file whose private data holds
its interest list (``rbr``: an :class:`EpItem` per watched (file, fd)), its
ready list (``rdllist``) and two wait queues: ``wq`` for its epoll_wait
sleepers and ``poll_wait`` for whoever polls the epoll file itself (poll(2),
another epoll, the daemon's doorbell).

* ``epoll_ctl(ADD)`` (``ep_insert``) polls the target once with a table
  whose ``poll_wait`` hangs a callback entry on each of the target's wait
  queues (``ep_ptable_queue_proc``); from then on every wake-up of those
  queues runs ``ep_poll_callback``, which puts the item on the ready list
  and wakes the epoll's sleepers and pollers.  Readiness is therefore never
  rescanned from scratch: ``epoll_wait`` (``ep_send_events``) re-polls only
  the items on the ready list, reports those that are ready, puts
  level-triggered ones back at the tail (the round-robin Linux gives),
  drops edge-triggered ones (EPOLLET: reported again only after a new
  wake-up) and disarms EPOLLONESHOT ones until EPOLL_CTL_MOD.
* The key is (file, descriptor number): the client passes both the inode
  that finds the file and its own descriptor number, so two descriptors of
  one file (dup) are two items, as in Linux.  An item lives as long as its
  file, not its descriptor: ``eventpoll_release`` removes a file's items
  when its last reference goes (fput calls it before ->release, as
  fs/file_table.c's __fput does, through syscalls.RELEASE_HOOKS).
* Nesting: an epoll may watch another (``ep_item_poll`` polls it through
  ``__ep_eventpoll_poll``; its pollers' queue wakes the outer one), up to
  EP_MAX_NESTS levels; a loop or a deeper chain is ELOOP (``ep_loop_check``,
  as Linux 6.18: depth below the target + 1 + depth above the epoll).
* Wake-up paths (``reverse_path_check``): an ADD that may lengthen paths
  (the target is an epoll, or the epoll is watched) counts, for the target
  (or, for an epoll target, each non-epoll file under it), the paths from
  that file up to the unwatched epolls they end at; more than
  PATH_LIMITS[n] paths of n + 1 epolls (n >= 1: 500, 100, 50, 10; one
  epoll: any number) is EINVAL and the ADD is undone -- so no graph makes
  one wake-up run a storm of callbacks in the daemon's one thread.
* Errors in ``do_epoll_ctl``'s order: EBADF (epfd, then fd), EPERM (a
  target without ->poll), EINVAL (epfd == fd, epfd not an epoll,
  EPOLLEXCLUSIVE with MOD, on an epoll target or with other bits), ELOOP,
  then EEXIST (ADD) / ENOENT (MOD, DEL) / EINVAL (MOD of an exclusive item,
  an unknown op); ENOSPC past MAX_USER_WATCHES items per creator's uid.
* ``epoll_wait``: EBADF, then EINVAL for maxevents outside [1,
  EP_MAX_EVENTS] or a file that is not an epoll (Linux 6.18's order); a
  timeout of 0 never sleeps, None sleeps until an event; a sleeper is
  exclusive on ``wq`` (one woken per event, as
  ``__add_wait_queue_exclusive``) and holds a reference to the epoll file,
  so a close by another thread does not end its wait; a signal is EINTR, a
  timeout an empty list.

The epoll file's own readiness (``ep_eventpoll_poll``: EPOLLIN|EPOLLRDNORM
when an item on the ready list is ready) is what its doorbell shows: the
ready list gaining its first item, losing one, or a wake-up of an item on
it while the doorbell shows readable (its readiness may be going) puts the
file in ``Kernel.poll_dirty``; the daemon's poll of it (no task, no table)
records what the doorbell shows and leaves it clean.  One thing a doorbell
cannot follow: a target whose readiness drops without a wake-up (a timerfd
read, as in Linux) leaves the epoll doorbell readable until the next
epoll_wait or poll of the epoll rescans (Linux's epoll file is polled, not
pushed, and has no such lag).
"""
from __future__ import annotations

import errno
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from uipc.kernel.entry import syscall
from uipc.kernel.errors import KernelError
from uipc.kernel.file import (
    O_CLOEXEC, O_RDWR, POLLERR, POLLHUP, POLLIN, POLLOUT, POLLRDNORM, File, FileOps, NewFile,
    PollTable, alloc_file, fput, get_file, poll_wait, undo_new_file, vfs_poll,
)
from uipc.kernel.read_write import fdget
from uipc.kernel.task import Task
from uipc.kernel.wait import RETRY, CallbackEntry, WaitQueue, Waiter, remove_wait_queue, wake_up

if TYPE_CHECKING:
    from uipc.kernel.kernel import Kernel

# include/uapi/linux/eventpoll.h
EPOLL_CLOEXEC = O_CLOEXEC
EPOLL_CTL_ADD, EPOLL_CTL_DEL, EPOLL_CTL_MOD = 1, 2, 3
EPOLLIN, EPOLLOUT, EPOLLERR, EPOLLHUP, EPOLLRDNORM = POLLIN, POLLOUT, POLLERR, POLLHUP, POLLRDNORM
EPOLLEXCLUSIVE = 1 << 28
EPOLLWAKEUP = 1 << 29
EPOLLONESHOT = 1 << 30
EPOLLET = 1 << 31

#: the epoll bits of an item's events that are no poll event
EP_PRIVATE_BITS = EPOLLWAKEUP | EPOLLONESHOT | EPOLLET | EPOLLEXCLUSIVE
EPOLLINOUT_BITS = EPOLLIN | EPOLLOUT
#: what EPOLLEXCLUSIVE may come with
EPOLLEXCLUSIVE_OK_BITS = EPOLLINOUT_BITS | EPOLLERR | EPOLLHUP | EPOLLWAKEUP | EPOLLET | EPOLLEXCLUSIVE
#: epolls nested in epolls, at most
EP_MAX_NESTS = 4
#: INT_MAX / sizeof(struct epoll_event) (12 bytes, packed, on x86-64)
EP_MAX_EVENTS = ((1 << 31) - 1) // 12
#: fs.epoll.max_user_watches: Linux gives 4% of low memory (millions); one
#: daemon serving every user bounds each uid's items to this
MAX_USER_WATCHES = 1 << 20
#: path_limits[]: wake-up paths of 1 .. 5 epolls from one file, at most
#: (path_count_inc lets any number of one-epoll paths through)
PATH_LIMITS = (1000, 500, 100, 50, 10)
_U64_SIGN = 1 << 63


class EpItem:
    """struct epitem: one watched (file, fd) of one epoll."""

    __slots__ = ("ep", "file", "fd", "events", "data", "pwqlist")

    def __init__(self, ep: "EventPoll", file: File, fd: int, events: int, data: int) -> None:
        self.ep = ep
        #: ffd: the target and the descriptor number it was added under
        self.file, self.fd = file, fd
        #: event.events (EPOLLERR|EPOLLHUP always in; 0 poll bits: disarmed)
        self.events = events
        #: event.data: the caller's 64 bits, given back with each event
        self.data = data
        #: the callback entries on the target's wait queues (eppoll_entry)
        self.pwqlist: list[CallbackEntry] = []

    def __repr__(self) -> str:
        return f"EpItem(fd={self.fd}, events={self.events:#x}, file={self.file})"


class EventPoll:
    """struct eventpoll: the private data of an epoll file."""

    __slots__ = ("wq", "poll_wait", "rdllist", "rbr", "file", "uid", "mask")

    def __init__(self, uid: int) -> None:
        #: epoll_wait's sleepers (exclusive)
        self.wq = WaitQueue()
        #: the epoll file's pollers (poll(2), an outer epoll)
        self.poll_wait = WaitQueue()
        #: the ready list, in order (a dict: O(1) link, unlink and "is linked")
        self.rdllist: dict[EpItem, None] = {}
        #: the interest list: (file, fd) -> item
        self.rbr: dict[tuple[File, int], EpItem] = {}
        self.file: File | None = None
        #: ep->user: the creator's real uid, charged for the items
        self.uid = uid
        #: what the doorbell last showed (the daemon's poll of the file)
        self.mask = 0


class _EpState:
    """What Linux keeps beside each file and user: ``file->f_ep`` (the
    items watching a file) and ``user->epoll_watches``."""

    __slots__ = ("f_ep", "watches")

    def __init__(self) -> None:
        self.f_ep: dict[File, dict[EpItem, None]] = {}
        self.watches: dict[int, int] = {}


_STATES: "weakref.WeakKeyDictionary[Kernel, _EpState]" = weakref.WeakKeyDictionary()


def _state(k: "Kernel") -> _EpState:
    state = _STATES.get(k)
    if state is None:
        state = _STATES[k] = _EpState()
    return state


# --- predicates -------------------------------------------------------------------
def is_file_epoll(file: File) -> bool:
    """is_file_epoll()."""
    return file.f_op is EVENTPOLL_FOPS


def file_can_poll(file: File) -> bool:
    """file_can_poll(): the file has a ->poll of its own."""
    return type(file.f_op).poll is not FileOps.poll


def ep_events_available(ep: EventPoll) -> bool:
    """ep_events_available()."""
    return bool(ep.rdllist)


# --- the doorbell -------------------------------------------------------------------
def _mark(k: "Kernel", ep: EventPoll) -> None:
    """The epoll file's doorbell may be wrong: the daemon polls it again."""
    if ep.file is not None and ep.file.f_ino:
        k.poll_dirty.add(ep.file)


def _doorbell_may_change(k: "Kernel", ep: EventPoll, linked: bool) -> None:
    """The ready list gained (``linked``) or lost items: the doorbell may be
    wrong now, unless it already shows what this can lead to."""
    if (ep.mask == 0) == linked:
        _mark(k, ep)


def _link(k: "Kernel", ep: EventPoll, epi: EpItem) -> bool:
    """list_add_tail(&epi->rdllink, &ep->rdllist) unless linked; True if added."""
    if epi in ep.rdllist:
        return False
    ep.rdllist[epi] = None
    _doorbell_may_change(k, ep, True)
    return True


# --- waking -------------------------------------------------------------------------
def ep_poll_safewake(k: "Kernel", ep: EventPoll) -> None:
    """ep_poll_safewake(): the epoll file's pollers (an outer epoll's
    callback among them) hear EPOLLIN.  Loops and depth were refused when
    the nesting was made, so the recursion is bounded by EP_MAX_NESTS."""
    wake_up(k, ep.poll_wait, EPOLLIN)


def _notify(k: "Kernel", ep: EventPoll) -> None:
    """An item went on the ready list outside a callback (ep_insert,
    ep_modify): its sleepers and pollers hear of it."""
    if ep.wq:
        wake_up(k, ep.wq)
    if ep.poll_wait:
        ep_poll_safewake(k, ep)


def ep_poll_callback(k: "Kernel", entry: CallbackEntry, key: Any) -> bool:
    """ep_poll_callback(): a target's wait queue woke (``key``: the events
    the waker names, None or 0: any).  The item goes on the ready list; the
    epoll's sleepers and pollers are woken.  Returns whether it counts as an
    exclusive wake-up (``ewake``)."""
    epi: EpItem = entry.private
    ep = epi.ep
    pollflags = key or 0
    ewake = False
    if ep.mask and epi in ep.rdllist:
        _mark(k, ep)  # linked: a wake-up naming other events too may be its readiness going
    # skipped: an item without poll bits (EPOLLONESHOT reported, disarmed
    # until EPOLL_CTL_MOD), or a waker naming events the item does not watch
    if epi.events & ~EP_PRIVATE_BITS and not (pollflags and not pollflags & epi.events):
        if not _link(k, ep, epi) and ep.mask:
            _mark(k, ep)  # linked already: this wake-up may be its readiness going
        if ep.wq:
            if epi.events & EPOLLEXCLUSIVE:
                inout = pollflags & EPOLLINOUT_BITS
                ewake = inout == 0 or (inout in (EPOLLIN, EPOLLOUT) and bool(epi.events & inout))
            wake_up(k, ep.wq)
        if ep.poll_wait:
            ep_poll_safewake(k, ep)
    if not epi.events & EPOLLEXCLUSIVE:
        ewake = True
    return ewake


def ep_ptable_queue_proc(epi: EpItem) -> Any:
    """ep_ptable_queue_proc(): the target's poll_wait hangs one callback
    entry of ``epi`` on each of its queues -- at the head (add_wait_queue),
    or at the tail and exclusive with EPOLLEXCLUSIVE."""
    def qproc(file: File, whead: WaitQueue, pt: PollTable) -> None:
        exclusive = bool(epi.events & EPOLLEXCLUSIVE)
        entry = CallbackEntry(ep_poll_callback, epi, exclusive=exclusive)
        if exclusive:
            whead.park(entry)
        else:
            whead.park_head(entry)
        epi.pwqlist.append(entry)
    return qproc


# --- polling items and scanning the ready list ---------------------------------------
def ep_item_poll(k: "Kernel", epi: EpItem, pt: PollTable | None, depth: int) -> int:
    """ep_item_poll(): the item's events ready now (an epoll target through
    __ep_eventpoll_poll), registering on ``pt``."""
    if pt is not None:
        pt.key = epi.events
    file = epi.file
    if is_file_epoll(file):
        res = _ep_eventpoll_poll(k, file, pt, depth)
    else:
        res = vfs_poll(k, None, file, pt)
    return res & epi.events


def ep_start_scan(ep: EventPoll) -> dict[EpItem, None]:
    """ep_start_scan(): take the ready list.  Linux chains the items that
    callbacks make ready meanwhile on ``ovflist``; here no callback runs
    during a scan (one thread, and no ->poll wakes a queue), and one that
    did would link into the fresh ready list, kept after the scan's."""
    txlist, ep.rdllist = ep.rdllist, {}
    return txlist


def ep_done_scan(k: "Kernel", ep: EventPoll, txlist: dict[EpItem, None],
                 quiet: bool = False) -> None:
    """ep_done_scan(): the ready list becomes what the scan left (txlist),
    then those it put back (the level-triggered ones reported); a sleeper
    is woken if any remain.  ``quiet``: the scan was the doorbell's own poll
    (it records the mask)."""
    new = txlist
    new.update(ep.rdllist)
    ep.rdllist = new
    if not quiet and (ep.mask or new):  # items left (it may drop) or came (it may rise)
        _mark(k, ep)
    if new and ep.wq:
        wake_up(k, ep.wq)


def _ep_eventpoll_poll(k: "Kernel", file: File, pt: PollTable | None, depth: int,
                       quiet: bool = False) -> int:
    """__ep_eventpoll_poll(): EPOLLIN|EPOLLRDNORM if an item on the ready list
    is ready; items found not ready leave it."""
    ep: EventPoll = file.private_data
    poll_wait(file, ep.poll_wait, pt)
    txlist = ep_start_scan(ep)
    res = 0
    for epi in list(txlist):
        if ep_item_poll(k, epi, None, depth + 1):
            res = EPOLLIN | EPOLLRDNORM
            break
        else:
            del txlist[epi]
    ep_done_scan(k, ep, txlist, quiet)
    return res


def ep_send_events(k: "Kernel", ep: EventPoll, maxevents: int) -> list[int]:
    """ep_send_events(): up to ``maxevents`` ready items, each re-polled, as
    a flat list (events, data, events, data...); level-triggered items go
    back to the ready list's tail, EPOLLONESHOT ones are disarmed."""
    txlist = ep_start_scan(ep)
    out: list[int] = []
    for epi in list(txlist):
        if len(out) >= 2 * maxevents:
            break
        del txlist[epi]
        revents = ep_item_poll(k, epi, None, 1)
        if not revents:
            continue
        out += (revents, epi.data - (1 << 64) if epi.data & _U64_SIGN else epi.data)
        if epi.events & EPOLLONESHOT:
            epi.events &= EP_PRIVATE_BITS
        elif not epi.events & EPOLLET:
            ep.rdllist[epi] = None  # the next epoll_wait checks it again
    ep_done_scan(k, ep, txlist)
    return out


# --- the interest list ------------------------------------------------------------------
def ep_remove(k: "Kernel", ep: EventPoll, epi: EpItem) -> None:
    """ep_remove(): the item's callback entries leave the target's queues,
    the item leaves the file's list, the interest list and the ready list."""
    for entry in epi.pwqlist:
        remove_wait_queue(entry)
    epi.pwqlist = []
    state = _state(k)
    links = state.f_ep.get(epi.file)
    if links is not None:
        links.pop(epi, None)
        if not links:
            del state.f_ep[epi.file]
    if ep.rbr.get((epi.file, epi.fd)) is epi:
        del ep.rbr[(epi.file, epi.fd)]
        left = state.watches.get(ep.uid, 0) - 1
        if left > 0:
            state.watches[ep.uid] = left
        else:
            state.watches.pop(ep.uid, None)
    if ep.rdllist.pop(epi, 0) is None:
        _doorbell_may_change(k, ep, False)


def eventpoll_release(k: "Kernel", file: File) -> None:
    """eventpoll_release(): ``file``'s last reference is gone: every epoll
    watching it drops its items (__fput calls this before ->release)."""
    links = _state(k).f_ep.get(file)
    if links:
        for epi in list(links):
            ep_remove(k, epi.ep, epi)


def ep_insert(k: "Kernel", ep: EventPoll, events: int, data: int, tfile: File, fd: int,
              tfile_check_list: dict[File, None] | None = None) -> None:
    """ep_insert(): a new item, hooked on the target's queues by polling it
    once; on the ready list at once if the target is ready.  With a
    ``tfile_check_list`` (a full check) the new item's wake-up paths are
    counted first (reverse_path_check): too many is EINVAL, the item goes."""
    state = _state(k)
    watches = state.watches.get(ep.uid, 0)
    if watches >= MAX_USER_WATCHES:
        raise KernelError(errno.ENOSPC, f"uid {ep.uid} watches {watches} descriptors in epolls: "
                          f"the most (max_user_watches {MAX_USER_WATCHES})")
    epi = EpItem(ep, tfile, fd, events, data)
    state.watches[ep.uid] = watches + 1
    state.f_ep.setdefault(tfile, {})[epi] = None  # attach_epitem
    ep.rbr[(tfile, fd)] = epi
    if tfile_check_list is not None and reverse_path_check(k, tfile_check_list):
        ep_remove(k, ep, epi)  # not yet on any queue: this undoes the ADD
        raise KernelError(errno.EINVAL, "watching that file would make more wake-up paths "
                          f"through nested epolls than path_limits {PATH_LIMITS} allow")
    revents = ep_item_poll(k, epi, PollTable(ep_ptable_queue_proc(epi), events), 1)
    if revents and _link(k, ep, epi):
        _notify(k, ep)


def _path_count_inc(path_count: list[int], nests: int) -> bool:
    """path_count_inc(): one more path of ``nests`` + 1 epolls; True when
    that is more than its limit (paths of one epoll: any number)."""
    if nests == 0:
        return False
    path_count[nests] += 1
    return path_count[nests] > PATH_LIMITS[nests]


def _reverse_path_check_proc(f_ep: dict[File, dict[EpItem, None]], refs: dict[EpItem, None],
                             path_count: list[int], depth: int) -> bool:
    """reverse_path_check_proc(): follow the items ``refs`` (a file's
    watchers) up to the unwatched epolls, counting a path at each; True
    when a count goes over its limit or a path nests too deep.  The walk
    stops at the first count over its limit, so it costs O(len(refs) + the
    sum of PATH_LIMITS[1:] * EP_MAX_NESTS), not O(paths)."""
    if depth > EP_MAX_NESTS:
        return True
    for epi in refs:
        up = f_ep.get(epi.ep.file) if epi.ep.file is not None else None
        if up:
            error = _reverse_path_check_proc(f_ep, up, path_count, depth + 1)
        else:
            error = _path_count_inc(path_count, depth)
        if error:
            return True
    return False


def reverse_path_check(k: "Kernel", tfile_check_list: dict[File, None]) -> bool:
    """reverse_path_check(): do the wake-up paths from any file of the
    list (counted afresh for each, path_count_init) go over path_limits?"""
    f_ep = _state(k).f_ep
    for file in tfile_check_list:
        if _reverse_path_check_proc(f_ep, f_ep.get(file, {}), [0] * len(PATH_LIMITS), 0):
            return True
    return False


def ep_modify(k: "Kernel", ep: EventPoll, epi: EpItem, events: int, data: int) -> None:
    """ep_modify(): new events and data (a disarmed item is armed again);
    on the ready list if the target is ready for them now."""
    epi.events, epi.data = events, data
    if ep_item_poll(k, epi, None, 1) and _link(k, ep, epi):
        _notify(k, ep)


def _depth_below(ep: EventPoll, inserting_into: EventPoll, seen: dict[EventPoll, int],
                 depth: int, tfiles: dict[File, None]) -> int:
    """ep_loop_check_proc(): the longest chain of epolls under ``ep``;
    EP_MAX_NESTS + 1 if it reaches ``inserting_into`` (a loop) or is too deep.
    The non-epoll files met go in ``tfiles`` (list_file: tfile_check_list)."""
    if ep in seen:
        return seen[ep]
    seen[ep] = result = 0
    for epi in ep.rbr.values():
        if not is_file_epoll(epi.file):
            tfiles[epi.file] = None
            continue
        tovisit: EventPoll = epi.file.private_data
        if tovisit is inserting_into or depth > EP_MAX_NESTS:
            result = EP_MAX_NESTS + 1
        else:
            result = max(result,
                         _depth_below(tovisit, inserting_into, seen, depth + 1, tfiles) + 1)
        if result > EP_MAX_NESTS:
            break
    seen[ep] = result
    return result


def _depth_above(k: "Kernel", ep: EventPoll, seen: dict[EventPoll, int]) -> int:
    """ep_get_upwards_depth_proc(): the longest chain of epolls over ``ep``."""
    if ep in seen:
        return seen[ep]
    result = 0
    links = _state(k).f_ep.get(ep.file) if ep.file is not None else None
    for epi in links or ():
        result = max(result, _depth_above(k, epi.ep, seen) + 1)
    seen[ep] = result
    return result


def ep_loop_check(k: "Kernel", ep: EventPoll, to: EventPoll,
                  tfiles: dict[File, None] | None = None) -> bool:
    """ep_loop_check(): would watching ``to`` from ``ep`` make a loop or a
    chain of more than EP_MAX_NESTS epolls?  The non-epoll files under
    ``to`` are collected in ``tfiles`` (for reverse_path_check)."""
    depth = _depth_below(to, ep, {}, 0, {} if tfiles is None else tfiles)
    if depth > EP_MAX_NESTS:
        return True
    return depth + 1 + _depth_above(k, ep, {}) > EP_MAX_NESTS


# --- the epoll file ---------------------------------------------------------------------
class EventpollFileOps(FileOps):
    """eventpoll_fops: poll and release (no read or write: EINVAL)."""

    name = "eventpoll"

    def poll(self, k: "Kernel", task: "Task | None", file: File, pt: PollTable | None) -> int:
        """ep_eventpoll_poll().  Without a task or table it is the daemon
        asking what the doorbell shows, which is recorded."""
        doorbell = task is None and pt is None
        res = _ep_eventpoll_poll(k, file, pt, 0, quiet=doorbell)
        if doorbell:
            file.private_data.mask = res
        return res

    def release(self, k: "Kernel", task: "Task | None", file: File) -> None:
        """ep_eventpoll_release(): it leaves the epolls watching it
        (eventpoll_release), its pollers are woken, its items go
        (ep_clear_and_put)."""
        ep: EventPoll = file.private_data
        eventpoll_release(k, file)
        if ep.poll_wait:
            ep_poll_safewake(k, ep)
        for epi in list(ep.rbr.values()):
            ep_remove(k, ep, epi)
        ep.file = None


EVENTPOLL_FOPS = EventpollFileOps()


@dataclass(eq=False)
class EpollWaiter(Waiter):
    """A sleeping epoll_wait: exclusive on ``ep.wq``; it holds a reference to
    the epoll file (as do_epoll_wait's fdget) until it leaves for good."""

    #: one sleeper woken per event (__add_wait_queue_exclusive)
    exclusive = True
    kernel: Any = None
    file: Any = None
    #: woken to look again (it stays in its syscall: the reference stays)
    rearm: bool = False

    def wake_function(self, k: "Kernel", key: Any) -> bool:
        """ep_autoremove_wake_function(): the sleeper looks again (RETRY)."""
        if not self.pending:
            return False
        self.rearm = True
        k.wake(self, RETRY)
        return True

    def unlink(self) -> None:
        """Off ``ep.wq``; the reference goes unless it only looks again."""
        super().unlink()
        if self.rearm:
            self.rearm = False
        else:
            self.put()

    def put(self) -> None:
        """fdput(): the epoll_wait is over."""
        file, self.file = self.file, None
        if file is not None:
            fput(self.kernel, file)


# --- the syscalls ---------------------------------------------------------------------------
@syscall(56, "epoll_create1", "flags:i32", result="file", fds=1, undo=undo_new_file,
         doc="epoll_create1(2). Replies with its descriptor (SCM_RIGHTS); calls name it by that "
             "descriptor's st_ino")
def sys_epoll_create1(k: "Kernel", task: Task, flags: int) -> NewFile:
    """do_epoll_create(): EINVAL for flags other than EPOLL_CLOEXEC."""
    if flags & ~EPOLL_CLOEXEC:
        raise KernelError(errno.EINVAL, f"epoll_create1 flags {flags:#x}: only EPOLL_CLOEXEC")
    ep = EventPoll(task.cred.uid)
    file = alloc_file(k, task, EVENTPOLL_FOPS, O_RDWR, ep)
    ep.file = file
    return NewFile(file, bool(flags & EPOLL_CLOEXEC))


def _check_ctl(task: Task, epfd: int, op: int, fd: int, events: int) -> tuple[File, File]:
    """do_epoll_ctl()'s checks before the interest list, in its order."""
    file = fdget(task, epfd)
    tfile = fdget(task, fd)
    if not file_can_poll(tfile):
        raise KernelError(errno.EPERM, f"a {tfile.f_op.name} cannot be polled")
    if file is tfile:
        raise KernelError(errno.EINVAL, "an epoll cannot watch itself")
    if not is_file_epoll(file):
        raise KernelError(errno.EINVAL, f"epfd names a {file.f_op.name}, not an epoll")
    if op != EPOLL_CTL_DEL and events & EPOLLEXCLUSIVE:
        if op == EPOLL_CTL_MOD:
            raise KernelError(errno.EINVAL, "EPOLLEXCLUSIVE is for EPOLL_CTL_ADD only")
        if op == EPOLL_CTL_ADD and is_file_epoll(tfile):
            raise KernelError(errno.EINVAL, "EPOLLEXCLUSIVE on an epoll target")
        if op == EPOLL_CTL_ADD and events & ~EPOLLEXCLUSIVE_OK_BITS:
            raise KernelError(errno.EINVAL, f"EPOLLEXCLUSIVE with events {events:#x}: only "
                              "EPOLLIN, EPOLLOUT, EPOLLERR, EPOLLHUP, EPOLLWAKEUP, EPOLLET")
    return file, tfile


@syscall(57, "epoll_ctl", "epfd:u64 op:i32 fd:u64 tfd:i32 events:u32 data:u64", result="none",
         doc="epoll_ctl(2): epfd and fd are the descriptors' st_ino; tfd is the caller's number "
             "for fd (with the file, the item's key); events and data as struct epoll_event "
             "(ignored for EPOLL_CTL_DEL)")
def sys_epoll_ctl(k: "Kernel", task: Task, epfd: int, op: int, fd: int, tfd: int, events: int,
                  data: int) -> None:
    """do_epoll_ctl(): add, modify or remove the item (file of ``fd``, ``tfd``)."""
    file, tfile = _check_ctl(task, epfd, op, fd, events)
    ep: EventPoll = file.private_data
    # full_check: only an epoll target or a watched epoll can lengthen paths
    tfile_check_list: dict[File, None] | None = None
    if op == EPOLL_CTL_ADD and (is_file_epoll(tfile) or _state(k).f_ep.get(file)):
        tfile_check_list = {}
        if not is_file_epoll(tfile):
            tfile_check_list[tfile] = None
        elif ep_loop_check(k, ep, tfile.private_data, tfile_check_list):
            raise KernelError(errno.ELOOP, f"watching that epoll would make a loop or nest more "
                              f"than {EP_MAX_NESTS} epolls")
    epi = ep.rbr.get((tfile, tfd))
    if op == EPOLL_CTL_ADD:
        if epi is not None:
            raise KernelError(errno.EEXIST, f"descriptor {tfd} of that file is already watched")
        ep_insert(k, ep, events | EPOLLERR | EPOLLHUP, data, tfile, tfd, tfile_check_list)
    elif op == EPOLL_CTL_DEL:
        if epi is None:
            raise KernelError(errno.ENOENT, f"descriptor {tfd} of that file is not watched")
        ep_remove(k, ep, epi)
    elif op == EPOLL_CTL_MOD:
        if epi is None:
            raise KernelError(errno.ENOENT, f"descriptor {tfd} of that file is not watched")
        if epi.events & EPOLLEXCLUSIVE:
            raise KernelError(errno.EINVAL, "an EPOLLEXCLUSIVE item cannot be modified")
        ep_modify(k, ep, epi, events | EPOLLERR | EPOLLHUP, data)
    else:
        raise KernelError(errno.EINVAL, f"epoll_ctl op {op}: only EPOLL_CTL_ADD, DEL, MOD")


@syscall(58, "epoll_wait", "epfd:u64 maxevents:i32 timeout:timeout", result="ctl",
         doc="epoll_wait(2) (epfd: its st_ino; timeout -1: none). Result: the ready events as "
             "i64 pairs (events, data), at most maxevents")
def sys_epoll_wait(k: "Kernel", task: Task, epfd: int, maxevents: int,
                   timeout: float | None) -> object:
    """do_epoll_wait() + ep_poll().  Linux 6.18 looks the descriptor up
    first: EBADF before a bad maxevents."""
    file = fdget(task, epfd)
    if maxevents <= 0 or maxevents > EP_MAX_EVENTS:
        raise KernelError(errno.EINVAL, f"maxevents {maxevents} outside [1, {EP_MAX_EVENTS}]")
    if not is_file_epoll(file):
        raise KernelError(errno.EINVAL, f"epfd names a {file.f_op.name}, not an epoll")
    ep: EventPoll = file.private_data
    if ep_events_available(ep):
        got = ep_send_events(k, ep, maxevents)
        if got:
            return got
    if timeout == 0:
        return []
    waiter = EpollWaiter(task=task, op="epoll_wait",
                         deadline=None if timeout is None else k.mono + timeout,
                         timeout_errno=errno.ETIME, kernel=k, file=get_file(file))

    def attempt() -> object:
        """Woken: the events now, or asleep again (a wake-up whose item
        turned out not ready: ep_poll's loop)."""
        got = ep_send_events(k, ep, maxevents) if ep_events_available(ep) else []
        if got:
            waiter.put()
            return got
        return k.park(ep.wq, waiter)

    def finish(result: object) -> object:
        """The sleep's end: a timeout is no events, not an error."""
        if isinstance(result, KernelError):
            if result.errno == errno.ETIME:
                return []
            raise result
        return result

    waiter.restart = attempt
    waiter.then = finish
    return k.park(ep.wq, waiter)
