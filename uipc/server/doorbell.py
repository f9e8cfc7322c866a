"""Doorbells: real descriptors whose poll readiness the daemon sets, for POSIX mq.

A POSIX message queue descriptor is a real file in Linux: select, poll,
epoll and asyncio see it readable when the queue holds a message and
writable when it has room (ipc/mqueue.c, ``mqueue_poll_file``), and the
open description ends with the last ``fput`` of that file.  Here the queue lives in the daemon, so each
open description gets a *doorbell*: a pipe the daemon fills to set the
readiness the client's file shows, and watches to learn when the client's
file is gone.

Why a pipe reopened O_RDWR
    ``pipe2`` gives two files, one read-only and one write-only, and neither
    shows both POLLIN and POLLOUT.  Reopening the pipe through
    ``/proc/self/fd/N`` goes through ``fifo_open`` like a named FIFO, and a
    FIFO opened O_RDWR is one file with both modes that never blocks on open
    nor sees EOF or EPIPE (it is a reader and a writer itself).  Two such
    reopens make two open files on one pipe: ``client`` is handed out,
    ``ctl`` stays here.  The pipe is shrunk to two slots (F_SETPIPE_SZ of two
    pages), and ``pipe_poll`` then maps the three states of a queue exactly:

    ======================  ==================  ===================
    pipe                    client's poll       queue
    ======================  ==================  ===================
    empty                   POLLOUT             empty
    one slot (1 byte)       POLLIN | POLLOUT    partly full
    both slots (2 pages)    POLLIN              full
    ======================  ==================  ===================

    ``set`` drains the pipe through ``ctl`` and writes the new level: at most
    two syscalls.  The client's file is its own open file (O_NONBLOCK there
    is its own), so a hostile client that reads, writes or resizes its
    doorbell spoils only its own readiness, and the next ``set`` that changes
    the level converges again (it drains fully first; a resize shows up as a
    short or long fill and the size is put back).  One case converges late:
    a client that shrinks its pipe to one slot while not full sees "partly
    full" as full until the next transition to full puts the size back.

Why inotify IN_CLOSE
    ``__fput`` (fs/file_table.c) calls ``fsnotify_close`` once per open file,
    when its *last* reference goes: ``close`` of the last fd, exit, exec
    with O_CLOEXEC, the drop of an SCM_RIGHTS message never received, in
    whichever process that happens.  A close while a forked child still
    holds the file is no event.  One inotify instance watches every
    doorbell's pipe inode (through ``/proc/self/fd/<ctl>``) for
    IN_CLOSE_WRITE | IN_CLOSE_NOWRITE.  Only two files are ever open on the
    inode, ``client`` and ``ctl``, and the watch is removed before ``ctl`` is
    closed, so every close event is the client's file going.  (A client of
    the daemon's own uid, or root, could reopen its doorbell through /proc
    and close that copy: that also counts as its close and releases its own
    description.)  The daemon's copy of ``client`` sent with SCM_RIGHTS must
    be closed by the sender; if the client closed first, that close is the
    last one and produces the event.

    If the inotify queue overflows (IN_Q_OVERFLOW, more than
    fs.inotify.max_queued_events unread), close events were lost; see
    :meth:`Doorbells._probe_all` for how every doorbell is then checked.

Readiness is per open description
    As the pipe belongs to one open description, every fd that shares it
    (dup, fork, SCM_RIGHTS) shares its readiness, and the daemon must ``set``
    each description of a queue when the queue's state changes, where Linux
    polls the queue itself.  The fd's F_GETFL shows O_RDWR | O_NONBLOCK, not
    the mq's flags: the client library must not take them from there.

Cost
    Per open description: one daemon descriptor (``ctl``, counted against
    the daemon's RLIMIT_NOFILE), one inotify watch, a pipe of two slots (up
    to two pages of kernel memory when the queue is full) and a flock.  The
    watches of one uid, in all its processes, are bounded by
    fs.inotify.max_user_watches (:func:`watch_limit` reads it; past it
    ``create`` fails with ENOSPC naming it); the one inotify instance per
    ``Doorbells`` counts against fs.inotify.max_user_instances.
"""
from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import select
import struct
from typing import Callable

from uipc.server.ratelimit import RateLimitedLog

IN_CLOSE_WRITE = 0x00000008
IN_CLOSE_NOWRITE = 0x00000010
IN_Q_OVERFLOW = 0x00004000
IN_IGNORED = 0x00008000
#: what a doorbell's watch asks for: the last close of a file on its pipe
WATCH_MASK = IN_CLOSE_WRITE | IN_CLOSE_NOWRITE

#: a pipe slot is a page; two slots give the three levels
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
PIPE_SIZE = 2 * PAGE_SIZE

EMPTY, PARTIAL, FULL = 0, 1, 2
#: bytes in the pipe at each level (as long as the client left it alone)
LEVEL_BYTES = (0, 1, PIPE_SIZE)
_LEVEL_OF_MASK = {
    select.POLLOUT: EMPTY,
    select.POLLIN | select.POLLOUT: PARTIAL,
    select.POLLIN: FULL,
}
#: one byte more than the pipe holds, so a fill that is not exactly
#: PIPE_SIZE shows the client resized its pipe (larger writes than PIPE_BUF
#: may be partial, so a normal pipe takes PIPE_SIZE of it and stops)
_FILL = bytes(PIPE_SIZE + 1)
_DRAIN_CHUNK = 64 * 1024
#: a drain gives up after this many chunks: a client writing into its own
#: doorbell as fast as the daemon drains it must not hold the daemon
_DRAIN_MAX_CHUNKS = 64

_EVENT = struct.Struct("iIII")  # struct inotify_event without its name

_libc = ctypes.CDLL(None, use_errno=True)
_libc.inotify_init1.argtypes = [ctypes.c_int]
_libc.inotify_add_watch.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
_libc.inotify_rm_watch.argtypes = [ctypes.c_int, ctypes.c_int]

_warn = RateLimitedLog()


def _check(ret: int) -> int:
    if ret < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return ret


def watch_limit() -> int | None:
    """fs.inotify.max_user_watches: the doorbells one uid can have (None if unreadable)."""
    try:
        with open("/proc/sys/fs/inotify/max_user_watches") as f:
            return int(f.read())
    except (OSError, ValueError):
        return None


def level_of(mask: int) -> int:
    """The pipe level showing ``mask`` (POLLIN/POLLOUT; other bits ignored)."""
    try:
        return _LEVEL_OF_MASK[mask & (select.POLLIN | select.POLLOUT)]
    except KeyError:
        raise ValueError(f"doorbell mask {mask:#x}: a queue is empty (POLLOUT), partly "
                         "full (POLLIN|POLLOUT) or full (POLLIN), never neither") from None


def _open_pipe() -> tuple[int, int]:
    """(client, ctl): two O_RDWR open files on one new pipe, nothing else left open.

    At most three descriptors exist at once; on any error every one made is closed."""
    r, w = os.pipe2(os.O_CLOEXEC)
    os.close(w)  # the reopens below are writers themselves
    made: list[int] = []
    try:
        path = f"/proc/self/fd/{r}"
        flags = os.O_RDWR | os.O_CLOEXEC | os.O_NONBLOCK
        made.append(os.open(path, flags))
        made.append(os.open(path, flags))
    except BaseException:
        for fd in made:
            os.close(fd)
        raise
    finally:
        os.close(r)
    return made[0], made[1]


def _drain(ctl: int, buf: bytearray) -> int:
    """Read everything in the pipe through ``ctl``; the number of bytes found."""
    total = 0
    for _ in range(_DRAIN_MAX_CHUNKS):
        try:
            n = os.readv(ctl, [buf])
        except BlockingIOError:
            break
        total += n
        if n < len(buf):
            break
    return total


def _restore_size(ctl: int) -> None:
    """Put the pipe back to two slots after the client resized it (pipe must be empty).

    Growing back may be refused (EPERM past fs.pipe-user-pages-soft): then
    only that client's readiness stays off, so it is logged, not raised."""
    try:
        fcntl.fcntl(ctl, fcntl.F_SETPIPE_SZ, PIPE_SIZE)
    except OSError as exc:
        _warn.warn("doorbell-size", "doorbell: cannot restore a resized pipe: %s", exc)


def _ring(ctl: int, old: int, new: int, buf: bytearray) -> None:
    """Move the pipe from level ``old`` to ``new``: drain, then write the new level."""
    if _drain(ctl, buf) != LEVEL_BYTES[old]:
        _restore_size(ctl)  # the client touched its pipe; its size may be off too
    if new == PARTIAL:
        os.write(ctl, b"\0")
    elif new == FULL:
        try:
            n = os.write(ctl, _FILL)
        except BlockingIOError:
            n = 0
        if n != PIPE_SIZE:  # resized by the client: two slots again, then fill
            _drain(ctl, buf)
            _restore_size(ctl)
            try:
                os.write(ctl, _FILL)
            except BlockingIOError:
                pass


class _Bell:
    __slots__ = ("ctl", "wd", "level")

    def __init__(self, ctl: int, wd: int) -> None:
        self.ctl = ctl
        self.wd = wd
        self.level = EMPTY


class Doorbells:
    """Every doorbell of the daemon, and the one inotify instance watching them."""

    def __init__(self, on_closed: Callable[[int], None]) -> None:
        self._on_closed = on_closed
        self._fd = _check(_libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC))
        self._bells: dict[int, _Bell] = {}
        self._by_wd: dict[int, int] = {}
        self._buf = bytearray(_DRAIN_CHUNK)
        #: probe every doorbell once more at the next drain_events (see _probe_all)
        self._recheck = False

    @property
    def fd(self) -> int:
        """The inotify descriptor: readable when drain_events has work."""
        return self._fd

    def __len__(self) -> int:
        return len(self._bells)

    # -- lifetime -----------------------------------------------------------

    def create(self) -> tuple[int, int]:
        """A new doorbell, empty (POLLOUT): (client fd for the caller to send
        and close, its pipe's inode number naming it).

        OSError (EMFILE, ENFILE, ENOSPC for the watches...) leaves nothing open."""
        collided: list[int] = []
        try:
            while True:
                client, ctl = _open_pipe()
                try:
                    ino = os.fstat(ctl).st_ino
                except BaseException:
                    os.close(client)
                    os.close(ctl)
                    raise
                if ino not in self._bells:
                    break
                # pipefs inode numbers wrap at 2**32 (get_next_ino): keep the
                # colliding pipe open until a fresh number comes up
                collided += (client, ctl)
        finally:
            for fd in collided:
                os.close(fd)
        try:
            wd = self._arm(client, ctl)
        except BaseException:
            os.close(client)
            os.close(ctl)
            raise
        self._bells[ino] = _Bell(ctl, wd)
        self._by_wd[wd] = ino
        return client, ino

    def _arm(self, client: int, ctl: int) -> int:
        """Size the pipe, mark the client's file with a flock, watch the inode."""
        fcntl.fcntl(ctl, fcntl.F_SETPIPE_SZ, PIPE_SIZE)
        # a flock belongs to the open file and goes only with its last
        # reference (locks_remove_file in __fput): _probe_all's evidence
        fcntl.flock(client, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return self._add_watch(ctl)

    def _add_watch(self, ctl: int) -> int:
        wd = _libc.inotify_add_watch(self._fd, f"/proc/self/fd/{ctl}".encode(), WATCH_MASK)
        if wd < 0:
            err = ctypes.get_errno()
            if err == errno.ENOSPC:
                raise OSError(err, "inotify watches exhausted: fs.inotify.max_user_watches "
                                   f"= {watch_limit()}, one per open mq description")
            raise OSError(err, os.strerror(err))
        return wd

    def release(self, ino: int) -> None:
        """Forget a doorbell (its description is gone in the core): the watch
        goes first, so closing ``ctl`` is no event.  Unknown ino: nothing."""
        bell = self._bells.pop(ino, None)
        if bell is None:
            return
        del self._by_wd[bell.wd]
        try:
            _check(_libc.inotify_rm_watch(self._fd, bell.wd))
        except OSError:
            pass  # EINVAL: the kernel dropped the watch already
        os.close(bell.ctl)

    def close(self) -> None:
        """Release every doorbell and close the inotify instance."""
        for ino in list(self._bells):
            self.release(ino)
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    # -- readiness ----------------------------------------------------------

    def set(self, ino: int, mask: int) -> None:
        """Make the client's file poll as ``mask`` (POLLOUT, POLLIN|POLLOUT or
        POLLIN), as mqueue_poll_file reports a queue.  Unknown ino: ignored;
        the level already set: no syscall."""
        level = level_of(mask)
        bell = self._bells.get(ino)
        if bell is None or bell.level == level:
            return
        _ring(bell.ctl, bell.level, level, self._buf)
        bell.level = level

    # -- close detection ----------------------------------------------------

    def drain_events(self) -> None:
        """Read every pending inotify event; release each doorbell whose
        client file is gone, then call on_closed(ino) for it.

        If an on_closed raises, the others still run; the first error is
        raised at the end."""
        closed, overflow = self._read_events()
        if overflow or self._recheck:
            self._recheck = overflow
            gone = self._probe_all(overflow)
            for ino in gone:
                self.release(ino)
            closed += gone
        first: BaseException | None = None
        for ino in closed:
            try:
                self._on_closed(ino)
            except Exception as exc:  # noqa: BLE001 - the rest must still be told
                first = first or exc
        if first is not None:
            raise first

    def _read_events(self) -> tuple[list[int], bool]:
        """Release each doorbell whose close event comes: (their inos, whether
        the queue overflowed).

        Each release's rm_watch queues an IN_IGNORED, so releasing as each
        chunk is read adds at most as many events as the chunk took out: a
        burst of closes cannot overflow the queue a second time by itself."""
        closed: list[int] = []
        overflow = False
        while True:
            try:
                data = os.read(self._fd, 64 * 1024)
            except BlockingIOError:
                break
            off = 0
            while off < len(data):
                wd, mask, _cookie, namelen = _EVENT.unpack_from(data, off)
                off += _EVENT.size + namelen
                if mask & IN_Q_OVERFLOW:
                    overflow = True
                    continue
                ino = self._by_wd.get(wd)
                # IN_IGNORED follows our own rm_watch; an unknown wd is a
                # doorbell released before its event was read
                if mask & IN_IGNORED or ino is None or not mask & WATCH_MASK:
                    continue
                self.release(ino)  # a second event for it finds its wd unknown
                closed.append(ino)
        return closed, overflow

    def _probe_all(self, overflow: bool) -> list[int]:
        """After an overflow, the doorbells whose client file is gone, found by its flock.

        Close events were dropped and nothing in /proc counts a file's
        references, but the LOCK_SH taken on the client's file at create
        lives exactly as long as that open file (in any process, in flight
        in an SCM_RIGHTS message, in a forked child): if ``ctl`` can take
        LOCK_EX without blocking, the client's file is gone.  Two limits,
        both chosen over reporting nothing (which would leak a descriptor
        and a watch per lost event for the daemon's lifetime):

        - a client that unlocks its own doorbell (flock LOCK_UN) is taken
          for closed, which only releases its own description;
        - ``__fput`` notifies before it removes locks, so a close whose
          event was dropped may still show its lock for an instant; hence
          one more probe of everything at the next drain_events.
        """
        gone = [ino for ino, bell in self._bells.items() if self._unlocked(bell.ctl)]
        if overflow:
            _warn.warn("doorbell-overflow", "doorbell: inotify queue overflowed; probed %d "
                       "doorbells, %d closed", len(self._bells), len(gone))
        return gone

    @staticmethod
    def _unlocked(ctl: int) -> bool:
        try:
            fcntl.flock(ctl, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        fcntl.flock(ctl, fcntl.LOCK_UN)
        return True
