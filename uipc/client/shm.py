"""shmat/shmdt in the client: map the segment's memfd where shmat says.

The daemon decides (and counts) attachments; this module maps the
descriptor it hands over with libc's mmap, so the address is a real address
in this process, and remembers address -> attach id for shmdt.  A read-only
attach gets an O_RDONLY descriptor: the mapping cannot be made writable, and
the memoryview shm_view returns is read-only too.

No view outlives its attachment.  In C a pointer used after shmdt faults;
in Python it must raise.  Every view shm_view hands out is exported by one ctypes array
per attachment (``_Region.mem``) and remembered weakly, so shmdt can
release() them: using one afterwards raises ValueError, as a closed mmap
does.  What cannot be released (slices taken from a view share its buffer;
a view numpy still holds is pinned) keeps ``mem`` alive; then shmdt swaps
the segment for a private anonymous placeholder (MAP_FIXED, atomically), so
those stale views neither touch the segment nor fault, and the placeholder
is unmapped when the last of them goes (a finalizer on ``mem``).
"""
from __future__ import annotations

import ctypes
import errno
import itertools
import mmap
import os
import threading
import weakref
from dataclasses import dataclass, field
from typing import Any

from uipc import protocol as P
from uipc.client.args import c_int, key_t, pointer, size_t
from uipc.client.connection import call, hold_anchor, register_fork_state

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mmap.restype = ctypes.c_void_p
_libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                       ctypes.c_int, ctypes.c_long]
_libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
MAP_FAILED = ctypes.c_void_p(-1).value
# <sys/mman.h> values Python's mmap module does not export (3.11)
MAP_FIXED = 0x10
MAP_NORESERVE = 0x4000
MAP_FIXED_NOREPLACE = 0x100000

_SHMGET = P.OPS_BY_NAME["shmget"]
_SHMAT = P.OPS_BY_NAME["shmat"]
_SHMDT = P.OPS_BY_NAME["shmdt"]


@dataclass(frozen=True)
class Attachment:
    attach_id: int
    addr: int
    size: int
    map_size: int
    readonly: bool


#: reentrant: a finalizer (_reap) may run on this thread while it holds it
_lock = threading.RLock()
#: address -> attachment, for this process
_attached: dict[int, Attachment] = {}

Span = tuple[int, int]  # [start, end) of address space


@dataclass(eq=False)
class _Region:
    """The exporter behind every view of one attachment.

    ``mem`` (a ctypes array over the mapping) is the only object any view's
    buffer refers to; ``views`` are the memoryviews handed out (weakly);
    ``spans`` the address ranges this mapping still occupies (an SHM_REMAP
    attach over it takes parts away).
    """

    mem: Any
    readonly: bool
    spans: list[Span]
    views: list["weakref.ref[memoryview]"] = field(default_factory=list)
    prune_at: int = 64

    def track(self, view: memoryview) -> None:
        self.views.append(weakref.ref(view))
        if len(self.views) >= self.prune_at:  # views die all the time: drop their refs
            self.views = [r for r in self.views if r() is not None]
            self.prune_at = max(64, 2 * len(self.views))

    def release_views(self) -> None:
        """Make every view handed out raise ValueError from now on."""
        for ref in self.views:
            view = ref()
            if view is not None:
                try:
                    view.release()
                except BufferError:  # something (numpy, ctypes) holds a buffer of it
                    pass
        self.views.clear()


#: address -> its attachment's exporter (the keys of _attached)
_regions: dict[int, _Region] = {}
#: every exporter still alive (attached, or detached but pinned by a view)
#: -> the range its views may point into: nothing there is unmapped yet
_exported: dict[int, Span] = {}
_export_ids = itertools.count(1)
#: attachments an SHM_REMAP at their very address replaced in part: a
#: later shmdt of that address reaches what is left of them (ksys_shmdt
#: matches a vma by its offset from the address), as on Linux
_orphans: list[tuple[Attachment, _Region]] = []


def shmget(key: int, size: int, shmflg: int) -> int:
    """Get or create the segment of ``key``; returns its id.  See shmget(2)."""
    return P.INT_RESULT.unpack_from(
        call(_SHMGET, (key_t(key), size_t("size", size) & 0xFFFFFFFFFFFFFFFF, c_int("shmflg", shmflg)))[0])[0]


def shmat(shmid: int, shmaddr: int | None = None, shmflg: int = 0) -> int:
    """Attach a segment; returns the address it is mapped at.  See shmat(2)."""
    addr_in = 0 if shmaddr is None else pointer("shmaddr", shmaddr)
    shmflg = c_int("shmflg", shmflg)
    payload, fds = call(_SHMAT, (c_int("shmid", shmid), addr_in, shmflg))
    return map_attachment(payload, fds, shmflg)


def map_attachment(payload: bytes, fds: list[int], shmflg: int) -> int:
    """Map what a shmat reply hands over (its payload and descriptor), where
    the daemon says; returns the address.  Undoes the attach if it cannot."""
    from uipc.uapi.shm import SHM_EXEC
    attach_id, segsz, map_size, addr, readonly, remap = P.SHMAT_RESULT.unpack_from(payload)
    if len(fds) != 1:
        for fd in fds:
            os.close(fd)
        _detach_remote(attach_id)
        raise OSError(errno.EIO, "uipc daemon sent no descriptor with shmat")
    fd = fds[0]
    try:
        prot = mmap.PROT_READ | (0 if readonly else mmap.PROT_WRITE)
        if shmflg & SHM_EXEC:
            prot |= mmap.PROT_EXEC
        flags = mmap.MAP_SHARED
        if addr:
            flags |= MAP_FIXED if remap else MAP_FIXED_NOREPLACE
        replaced: list[Attachment] = []
        with _lock:  # an SHM_REMAP mapping and the bookkeeping of what it replaced change together
            got = _libc.mmap(addr or None, map_size, prot, flags, fd, 0)
            if got in (None, MAP_FAILED):
                err = ctypes.get_errno()
            elif addr and got != addr:  # an old kernel ignoring MAP_FIXED_NOREPLACE
                _libc.munmap(got, map_size)
                got, err = None, errno.EEXIST
            else:
                # exported first: an old exporter freed by _claim must not unmap it
                region = _export(got, segsz, map_size, bool(readonly))
                if remap:
                    replaced = _claim(got, got + map_size)
                _attached[got] = Attachment(attach_id, got, segsz, map_size, bool(readonly))
                _regions[got] = region
    finally:
        os.close(fd)
    if got in (None, MAP_FAILED):
        _detach_remote(attach_id)
        # an occupied fixed address is EINVAL for shmat (no SHM_REMAP)
        err = errno.EINVAL if err == errno.EEXIST else err
        raise OSError(err, os.strerror(err))
    for old in replaced:  # their mappings are gone: so are their attaches (nattch)
        call(_SHMDT, (old.attach_id, 0))
    hold_anchor()
    return got


def _subtract(spans: list[Span], lo: int, hi: int) -> list[Span]:
    """``spans`` without [lo, hi)."""
    out: list[Span] = []
    for a, b in spans:
        if b <= lo or a >= hi:
            out.append((a, b))
            continue
        if a < lo:
            out.append((a, lo))
        if b > hi:
            out.append((hi, b))
    return out


def _export(addr: int, segsz: int, map_size: int, readonly: bool) -> _Region:
    """The exporter of a new mapping; its finalizer unmaps what no other covers."""
    region = _Region((ctypes.c_char * segsz).from_address(addr), readonly, [(addr, addr + map_size)])
    token = next(_export_ids)
    _exported[token] = (addr, addr + map_size)
    fin = weakref.finalize(region.mem, _reap, token)
    fin.atexit = False  # at exit views may still be used: leave the memory be
    return region


def _claim(lo: int, hi: int) -> list[Attachment]:
    """An SHM_REMAP mapping took [lo, hi) from the mappings there (do_mmap
    with MAP_FIXED): returns the attachments it replaced entirely, which
    are gone as on Linux (shm_close).  Called with _lock held."""
    gone = []
    for addr, region in list(_regions.items()):
        region.spans = _subtract(region.spans, lo, hi)
        if not region.spans or addr == lo:
            del _regions[addr]
            att = _attached.pop(addr)
            region.release_views()  # nothing of theirs is mapped any more
            if region.spans:  # the tail of a longer one: shmdt can no longer reach it
                _orphans.append((att, region))
            else:
                gone.append(att)
    return gone


def _detach_remote(attach_id: int) -> None:
    """Revert an attach whose mapping failed."""
    try:
        call(_SHMDT, (attach_id, 1))
    except OSError:
        pass


def _address(shmaddr: Any) -> int:
    """shmdt's/shm_view's address: None is NULL (as shmat takes it)."""
    return 0 if shmaddr is None else pointer("shmaddr", shmaddr)


def shmdt(shmaddr: int) -> None:
    """Detach the segment attached at ``shmaddr``.  See shmdt(2).

    Views of it handed out by shm_view raise ValueError from now on.
    """
    att = unmap_attachment(shmaddr)
    call(_SHMDT, (att.attach_id, 0))


def unmap_attachment(shmaddr: int) -> Attachment:
    """shmdt's part in this process: unmap the segment at ``shmaddr`` (its
    views raise ValueError from now on); the caller tells the daemon."""
    addr = _address(shmaddr)
    with _lock:
        att = _attached.pop(addr, None)
        region = _regions.pop(addr, None)
        if att is None or region is None:
            # the rest of an attach an SHM_REMAP at its start replaced in
            # part: ksys_shmdt finds it by its offset from addr (vm_pgoff)
            orphan = next((o for o in _orphans if o[0].addr == addr), None)
            if orphan is None:
                raise OSError(errno.EINVAL, f"{os.strerror(errno.EINVAL)} (no segment is attached at {addr:#x})")
            _orphans.remove(orphan)
            att, region = orphan
        _unmap(region)
    del region  # the last reference but the views': _reap may run right here
    return att


#: what a stale view sees after shmdt: private zeros, never the segment
_PLACEHOLDER_PROT = mmap.PROT_READ | mmap.PROT_WRITE
_PLACEHOLDER_FLAGS = mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE


def _unmap(region: _Region) -> None:
    """do_munmap() for shmdt, without pulling memory from under a live view.

    The views handed out are released.  The mapping is then replaced in
    place by a private anonymous placeholder: slices or numpy arrays that
    still hold the buffer see zeros, not the segment, and never a hole.
    Dropping ``mem`` unmaps the placeholder at once (_reap) unless
    something still holds it; then the last holder to go does.  Called
    with _lock held.
    """
    region.release_views()
    for lo, hi in region.spans:
        # MAP_FIXED swaps in one step: a view in use on another thread sees
        # the segment or zeros.  Should it fail (ENOMEM) the segment stays
        # mapped until _reap: better than a hole under a view.
        _libc.mmap(lo, hi - lo, _PLACEHOLDER_PROT, _PLACEHOLDER_FLAGS, -1, 0)
    region.mem = None  # with no view left, mem is freed here and _reap runs now


def _reap(token: int) -> None:
    """An exporter was freed: unmap its range but what other live exporters
    cover (an SHM_REMAP mapping over it, or views of one it replaced)."""
    with _lock:
        spans = [_exported.pop(token)]
        for lo, hi in _exported.values():
            spans = _subtract(spans, lo, hi)
        for lo, hi in spans:
            _libc.munmap(lo, hi - lo)


def shm_view(shmaddr: int) -> memoryview:
    """A memoryview over the segment attached at ``shmaddr`` (read-only if SHM_RDONLY).

    Zero-copy (``numpy.frombuffer`` works on it).  After shmdt it raises
    ValueError, as a closed mmap's views do; slices of it or arrays over it
    that still exist then see zeros, never the segment or unmapped memory.
    """
    addr = _address(shmaddr)
    with _lock:
        region = _regions.get(addr)
        if region is None:
            raise ValueError(f"no segment is attached at {addr:#x}")
        view = memoryview(region.mem).cast("B")
        if region.readonly:
            view = view.toreadonly()
        region.track(view)
    return view


_SHMCTL = P.OPS_BY_NAME["shmctl"]


def shmctl(shmid: int, cmd: int, buf: Any = None) -> Any:
    """Control a segment.  See shmctl(2).

    IPC_STAT -> ShmidDs; IPC_SET (buf ShmidDs) / IPC_RMID / SHM_LOCK / SHM_UNLOCK -> 0;
    IPC_INFO -> (highest index, ShmInfo); SHM_INFO -> (highest index, ShmInfoStats);
    SHM_STAT / SHM_STAT_ANY (an index) -> (shmid, ShmidDs).
    """
    from uipc.client.syscalls import ctl_call
    from uipc.uapi.shm import ShmidDs
    return ctl_call(_SHMCTL, "shmid", shmid, cmd, buf, ShmidDs)


def attachments() -> list[Attachment]:
    with _lock:
        return list(_attached.values())


def _inherited_ids() -> list[int]:
    """Attach ids a fork child inherits (its mappings are copies of the parent's)."""
    return [a.attach_id for a in _attached.values()] + [a.attach_id for a, _ in _orphans]


def _reinit_lock() -> None:
    """A fork child has one thread: a lock another thread held at fork is free."""
    global _lock
    _lock = threading.RLock()


register_fork_state(_inherited_ids)
os.register_at_fork(after_in_child=_reinit_lock)
