"""Views of shared memory after shmdt: a Python exception, never a segfault.

Every access that could fault runs in a forked child (``isolated``): a
crash there is this test's failure, not the end of pytest.  The parent
creates the segments and removes them, so a child that dies leaves nothing.
"""
from __future__ import annotations

import ctypes
import errno
import os
import pickle
import threading
from typing import Any, Callable, Iterator

import pytest

import uipc
from tests.conftest import wait_until
from tests.helpers import Child

#: every way of using a view; after shmdt each must raise ValueError
ACCESSES: dict[str, Callable[[memoryview], Any]] = {
    "read an item": lambda v: v[0],
    "write an item": lambda v: v.__setitem__(0, 1),
    "copy it": bytes,
    "slice it": lambda v: v[1:3],
    "tobytes": lambda v: v.tobytes(),
    "len": len,
    "view it again": memoryview,
}


def outcomes(view: memoryview) -> dict[str, str]:
    """What each access does: the exception's type name, or 'no error'."""
    out = {}
    for name, access in ACCESSES.items():
        try:
            access(view)
            out[name] = "no error"
        except Exception as exc:  # noqa: BLE001 - the type is the observation
            out[name] = type(exc).__name__
    return out


ALL_VALUEERROR = {name: "ValueError" for name in ACCESSES}


def isolated(fn: Callable[[], Any]) -> Any:
    """fn() in a forked child; its result, or AssertionError naming the signal that killed it."""
    kid = Child(fn)
    status: list[Any] = []

    def exited() -> bool:
        info = os.waitid(os.P_PID, kid.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)  # peek, don't reap
        if info is not None:
            status.append(info)
        return bool(status)

    wait_until(exited, timeout=30, what="the child to finish")
    if status[0].si_code in (os.CLD_KILLED, os.CLD_DUMPED):
        kid.kill(0)  # reaps it
        raise AssertionError(f"the child was killed by signal {status[0].si_status} (a dangling view)")
    return kid.result()


def mapping_at(addr: int) -> str | None:
    """This process's /proc/self/maps line covering ``addr``, if any."""
    with open("/proc/self/maps") as f:
        for line in f:
            lo, hi = (int(x, 16) for x in line.split()[0].split("-"))
            if lo <= addr < hi:
                return line.strip()
    return None


def is_segment(line: str | None) -> bool:
    return line is not None and "memfd:uipc-shm" in line


def nattch(shmid: int) -> int:
    return uipc.shmctl(shmid, uipc.IPC_STAT).shm_nattch


@pytest.fixture
def segment(ns: str) -> Iterator[int]:
    """A private 64 KiB segment, removed afterwards whatever the child did."""
    shmid = uipc.shmget(uipc.IPC_PRIVATE, 1 << 16, 0o600)
    try:
        yield shmid
    finally:
        uipc.shmctl(shmid, uipc.IPC_RMID)


@pytest.mark.parametrize("readonly", [False, True])
def test_shm_view_after_shmdt_raises_valueerror(segment: int, readonly: bool) -> None:
    def child() -> tuple[dict[str, str], str, bool]:
        a = uipc.shmat(segment, None, uipc.SHM_RDONLY if readonly else 0)
        v = uipc.shm_view(a)
        assert v.readonly == readonly and len(v) == 1 << 16
        before = bytes(v[:4])
        uipc.shmdt(a)
        with pytest.raises(ValueError, match="no segment is attached"):
            uipc.shm_view(a)
        # the released view pins nothing: the address is free at once
        return outcomes(v), before.hex(), mapping_at(a) is None

    got, before, unmapped = isolated(child)
    assert before == "00000000"
    assert got == ALL_VALUEERROR
    assert unmapped
    assert nattch(segment) == 0


def test_shared_memory_buf_read_write_after_detach_and_with(ns: str) -> None:
    def child() -> list[Any]:
        seen: list[Any] = []
        m = uipc.SharedMemory(size=4096, remove_on_exit=True)
        buf = m.buf
        m.write(b"hello")
        m.detach()
        seen.append(outcomes(buf))
        for use in (lambda: m.buf, lambda: m.read(), lambda: m.write(b"x")):
            with pytest.raises(ValueError, match="not attached"):
                use()
        m.remove()
        with uipc.SharedMemory(size=4096, remove_on_exit=True) as m2:
            buf2 = m2.buf
            assert m2.read(2) == bytes(2)
        seen.append(outcomes(buf2))
        with pytest.raises(ValueError, match="not attached"):
            m2.read()
        return seen

    assert isolated(child) == [ALL_VALUEERROR, ALL_VALUEERROR]
    assert uipc.introspect.namespace()["shm"] == []


def test_slices_and_pinned_views_past_shmdt_see_zeros_never_the_segment(segment: int) -> None:
    def child() -> dict[str, Any]:
        a = uipc.shmat(segment)
        v = uipc.shm_view(a)
        v[:8] = b"segment!"
        sl = v[2:10]                                  # shares v's buffer: outlives v's release
        c = (ctypes.c_char * 8).from_buffer(v)        # so does this one
        c[0] = b"S"                                   # zero-copy: it is the segment
        pinned = uipc.shm_view(a)
        hold = pickle.PickleBuffer(pinned)            # a buffer of pinned: its release() refuses
        assert bytes(v[:2]) == b"Se"
        uipc.shmdt(a)
        out: dict[str, Any] = {"view": outcomes(v), "nattch": nattch(segment)}
        out["placeholder"] = mapping_at(a)
        out["slice reads"] = bytes(sl)
        out["pinned reads"] = bytes(pinned[:8])
        out["ctypes reads"] = c.raw
        sl[0] = 0xFF                                  # these land in the placeholder
        c[1] = b"X"
        out["pinned sees"] = bytes(pinned[:4])
        b = uipc.shmat(segment)                       # the segment itself is untouched
        out["segment"] = bytes(uipc.shm_view(b)[:8])
        uipc.shmdt(b)
        del sl, c, hold, pinned                       # the last holders: the placeholder goes
        out["after"] = mapping_at(a)
        return out

    out = isolated(child)
    assert out["view"] == ALL_VALUEERROR
    assert out["nattch"] == 0                          # the daemon saw the detach
    assert out["placeholder"] is not None and not is_segment(out["placeholder"])
    assert out["slice reads"] == bytes(8) and out["pinned reads"] == bytes(8)
    assert out["ctypes reads"] == bytes(8) and out["pinned sees"] == b"\x00X\xff\x00"
    assert out["segment"] == b"Segment!"
    assert out["after"] is None


def test_numpy_zero_copy_and_after_the_with_block(ns: str) -> None:
    np = pytest.importorskip("numpy")

    def child() -> tuple[int, int, int, bool, bool]:
        with uipc.SharedMemory(size=4096, remove_on_exit=True) as m:
            arr = np.frombuffer(m.buf, dtype=np.uint8)
            arr[:3] = (1, 2, 3)                       # zero-copy: the segment sees it
            written = m.read(3)
            shmid, addr = m.id, m.addr
        stale = int(arr.sum())                        # placeholder zeros, no fault
        arr[0] = 9
        gone = True
        try:
            uipc.shmctl(shmid, uipc.IPC_STAT)
            gone = False
        except OSError:
            pass
        placeholder = not is_segment(mapping_at(addr))
        del arr
        return int.from_bytes(written, "big"), stale, int(mapping_at(addr) is None), gone, placeholder

    written, stale, unmapped, gone, placeholder = isolated(child)
    assert written == 0x010203 and stale == 0 and placeholder
    assert gone and unmapped                           # removed, and the placeholder freed with the array


def test_fork_child_detaching_its_copy_leaves_the_parents_views(segment: int) -> None:
    a = uipc.shmat(segment)
    try:
        v = uipc.shm_view(a)
        v[:6] = b"parent"
        head = v[:6]

        def child() -> tuple[dict[str, str], bytes, bool]:
            assert nattch(segment) == 2               # the inherited mapping counts
            uipc.shmdt(a)
            return outcomes(v), bytes(head), mapping_at(a) is None or not is_segment(mapping_at(a))

        got, head_seen, detached = isolated(child)
        assert got == ALL_VALUEERROR and head_seen == bytes(6) and detached
        wait_until(lambda: nattch(segment) == 1, what="the child's detach")
        assert bytes(v[:6]) == b"parent" and bytes(head) == b"parent"   # ours still work
    finally:
        uipc.shmdt(a)


def test_view_in_use_on_another_thread_during_shmdt(segment: int) -> None:
    def child() -> tuple[int, str]:
        a = uipc.shmat(segment)
        v = uipc.shm_view(a)
        sl = v[:]
        started = threading.Event()
        ended: list[str] = []

        def reader() -> None:
            n = 0
            try:
                while True:
                    bytes(sl)                          # never released: must not fault
                    bytes(v)                           # released by shmdt: ValueError
                    n += 1
                    started.set()
            except ValueError as exc:
                ended.append(f"{n > 0}: {exc}")

        t = threading.Thread(target=reader)
        t.start()
        started.wait(10)
        uipc.shmdt(a)
        t.join(10)
        return int(t.is_alive()), ended[0] if ended else "still reading"

    alive, ended = isolated(child)
    assert not alive and ended.startswith("True") and "released" in ended


def test_shm_remap_replaces_the_attachment_there(ns: str) -> None:
    s1 = uipc.shmget(uipc.IPC_PRIVATE, 8192, 0o600)
    s2 = uipc.shmget(uipc.IPC_PRIVATE, 8192, 0o600)
    try:
        def child() -> dict[str, Any]:
            a = uipc.shmat(s1)
            v1 = uipc.shm_view(a)
            v1[:2] = b"s1"
            kept = v1[:2]                             # a slice of the replaced mapping
            b = uipc.shmat(s2, a, uipc.SHM_REMAP)
            out = {"same": b == a, "nattch": (nattch(s1), nattch(s2)), "old view": outcomes(v1)}
            v2 = uipc.shm_view(b)
            v2[:2] = b"s2"
            out["kept"] = bytes(kept)                 # Linux: the old pointer sees the new mapping
            uipc.shmdt(b)
            out["after"] = (nattch(s1), nattch(s2), bytes(kept))
            del kept
            out["unmapped"] = mapping_at(a) is None
            return out

        out = isolated(child)
        assert out["same"] and out["nattch"] == (0, 1)
        assert out["old view"] == ALL_VALUEERROR
        assert out["kept"] == b"s2"
        assert out["after"] == (0, 0, bytes(2)) and out["unmapped"]
    finally:
        uipc.shmctl(s1, uipc.IPC_RMID)
        uipc.shmctl(s2, uipc.IPC_RMID)


def test_shm_remap_over_part_of_a_mapping_a_slice_still_holds(ns: str) -> None:
    page = 4096
    big = uipc.shmget(uipc.IPC_PRIVATE, 3 * page, 0o600)
    small = uipc.shmget(uipc.IPC_PRIVATE, page, 0o600)
    try:
        def child() -> dict[str, Any]:
            a = uipc.shmat(big)
            whole = uipc.shm_view(a)[:]               # a slice: outlives every detach
            whole[:] = b"A" * (3 * page)
            b = uipc.shmat(small, a + page, uipc.SHM_REMAP)   # the middle page only
            uipc.shm_view(b)[:1] = b"B"
            out = {"nattch": (nattch(big), nattch(small)), "middle": bytes(whole[page:page + 2])}
            uipc.shmdt(a)                             # the outer pages: placeholder
            out["after A"] = b"".join(bytes(whole[i * page:i * page + 1]) for i in range(3))
            out["B mapped"] = is_segment(mapping_at(b))
            uipc.shmdt(b)                             # the middle: placeholder, kept for `whole`
            out["after B"] = bytes(whole[page:page + 1]), mapping_at(b) is not None
            out["nattch after"] = (nattch(big), nattch(small))
            del whole                                 # the last holder: all three pages go
            out["unmapped"] = [mapping_at(a + i * page) is None for i in range(3)]
            return out

        out = isolated(child)
        assert out["nattch"] == (1, 1) and out["middle"] == b"B\x00"   # the small segment shows there
        assert out["after A"] == b"\x00B\x00" and out["B mapped"]
        assert out["after B"] == (b"\x00", True) and out["nattch after"] == (0, 0)
        assert out["unmapped"] == [True, True, True]
    finally:
        uipc.shmctl(big, uipc.IPC_RMID)
        uipc.shmctl(small, uipc.IPC_RMID)


def test_shmdt_reaches_the_rest_of_an_attach_remapped_at_its_start(ns: str) -> None:
    """A one-page SHM_REMAP at the start of a three-page attach: the first
    shmdt(a) detaches the new attach, the second the old one's remaining
    pages (ksys_shmdt matches them by their offset from a), a third EINVAL."""
    page = 4096
    big = uipc.shmget(uipc.IPC_PRIVATE, 3 * page, 0o600)
    small = uipc.shmget(uipc.IPC_PRIVATE, page, 0o600)
    try:
        def child() -> list[Any]:
            a = uipc.shmat(big)
            assert uipc.shmat(small, a, uipc.SHM_REMAP) == a
            seen: list[Any] = [(nattch(big), nattch(small))]
            for _ in range(3):
                try:
                    uipc.shmdt(a)
                    seen.append((nattch(big), nattch(small)))
                except OSError as exc:
                    seen.append(errno.errorcode[exc.errno])
            return seen

        assert isolated(child) == [(1, 1), (1, 0), (0, 0), "EINVAL"]
    finally:
        uipc.shmctl(big, uipc.IPC_RMID)
        uipc.shmctl(small, uipc.IPC_RMID)
