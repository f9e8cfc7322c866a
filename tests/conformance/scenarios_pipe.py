"""Pipe and FIFO scenarios: fs/pipe.c's ring, flags, sizes, EOF/EPIPE,
packets and FIFO opens, on the kernel (os.pipe2, fcntl, os.read/os.write,
mkfifo in a private /dev/shm) and on uipc (uipc.pipe2...), through the same
calls.  After each step: the exact poll(2) mask of every end (api.poll), and
whether select() on the real descriptor sees a read end readable or a write
end writable (what the doorbell must show)."""
from __future__ import annotations

import fcntl as F
import os
import select
from typing import Any

from tests.conformance.harness import CAPABLE_NEEDS_ROOT, Recorder, Scenario

ALL_EVENTS = (select.POLLIN | select.POLLRDNORM | select.POLLOUT | select.POLLWRNORM
              | select.POLLPRI | select.POLLRDHUP)
PAGE = 4096


def masks(api: Any, ends: dict[str, int]) -> list[tuple[str, int]]:
    """poll(2)'s revents of each end, by name (0 for one not ready)."""
    got = dict(api.poll([(fd, ALL_EVENTS) for fd in ends.values()], 0))
    return [(name, got.get(fd, 0)) for name, fd in ends.items()]


def selected(ends: dict[str, tuple[int, str]]) -> list[tuple[str, bool]]:
    """select() on the real descriptors: is each read end readable, each
    write end writable ("r"/"w": which it is asked)."""
    rl = [fd for fd, side in ends.values() if side == "r"]
    wl = [fd for fd, side in ends.values() if side == "w"]
    r, w, _ = select.select(rl, wl, [], 0)
    return [(name, fd in (r if side == "r" else w)) for name, (fd, side) in ends.items()]


def opened(rec: Recorder, label: str, fn: Any) -> Any:
    """A call that gives a descriptor: recorded as "fd" (numbers differ: the
    uipc side holds its connection) or its errno; the descriptor, or None."""
    fd = rec.do(label, fn)
    if fd is not None:
        rec.log[-1] = (label, "fd")
    return fd


class Pipe:
    """One pipe of a scenario: its ends and a step recorder that notes the masks."""

    def __init__(self, rec: Recorder, flags: int = 0) -> None:
        self.rec = rec
        self.r, self.w = rec.api.pipe2(flags)
        #: the ends still open: "r", "w"
        self.open = {"r", "w"}

    def step(self, label: str, fn: Any) -> Any:
        rec, api = self.rec, self.rec.api
        out = rec.do(label, fn)
        ends = {n: fd for n, fd in (("r", self.r), ("w", self.w)) if n in self.open}
        rec.note(f"{label}: poll", masks(api, ends))
        rec.note(f"{label}: select", selected({n: (fd, n) for n, fd in ends.items()}))
        return out

    def close(self, end: str, label: str) -> None:
        self.open.discard(end)
        self.step(label, lambda: self.rec.api.close(self.r if end == "r" else self.w))

    def close_all(self) -> None:
        for end in sorted(self.open):
            self.rec.api.close(self.r if end == "r" else self.w)
        self.open.clear()


def flags_and_sizes(rec: Recorder) -> None:
    api, do = rec.api, rec.do
    do("pipe2 O_APPEND", lambda: api.pipe2(os.O_APPEND))
    p = Pipe(rec, os.O_NONBLOCK | os.O_DIRECT | os.O_CLOEXEC)
    do("F_GETFL r", lambda: api.fcntl(p.r, F.F_GETFL))
    do("F_GETFL w", lambda: api.fcntl(p.w, F.F_GETFL))
    do("F_SETFL r: APPEND|NOATIME", lambda: api.fcntl(p.r, F.F_SETFL, os.O_APPEND | os.O_NOATIME))
    do("F_GETFL r again", lambda: api.fcntl(p.r, F.F_GETFL))
    do("F_SETFL w: blocking, no DIRECT", lambda: api.fcntl(p.w, F.F_SETFL, 0))
    do("F_GETFL w again", lambda: api.fcntl(p.w, F.F_GETFL))
    do("F_SETFL w: O_DIRECT|O_NONBLOCK", lambda: api.fcntl(p.w, F.F_SETFL,
                                                            os.O_DIRECT | os.O_NONBLOCK))
    do("F_GETPIPE_SZ", lambda: api.fcntl(p.r, F.F_GETPIPE_SZ))
    for size in (0, 5000, 65536, 1 << 20, (1 << 31) + 1):
        do(f"F_SETPIPE_SZ {size}", lambda size=size: api.fcntl(p.w, F.F_SETPIPE_SZ, size))
        do(f"F_GETPIPE_SZ after {size}", lambda: api.fcntl(p.r, F.F_GETPIPE_SZ))
    rec.real_root("F_SETPIPE_SZ over pipe-max-size", lambda: api.fcntl(p.w, F.F_SETPIPE_SZ,
                                                                       2 << 20),
                  CAPABLE_NEEDS_ROOT)
    do("F_SETPIPE_SZ back to 4 pages", lambda: api.fcntl(p.w, F.F_SETPIPE_SZ, 4 * PAGE))
    p.step("write 3 pages", lambda: api.write(p.w, b"x" * (3 * PAGE)))
    do("shrink below the data: EBUSY", lambda: api.fcntl(p.r, F.F_SETPIPE_SZ, PAGE))
    do("shrink to what it holds", lambda: api.fcntl(p.r, F.F_SETPIPE_SZ, 3 * PAGE))
    p.step("after the shrink", lambda: api.fcntl(p.r, F.F_GETPIPE_SZ))
    do("unknown fcntl command", lambda: api.fcntl(p.r, 9999))
    p.close_all()


def reads_and_writes(rec: Recorder) -> None:
    api = rec.api
    p = Pipe(rec, os.O_NONBLOCK)
    p.step("empty", lambda: None)
    p.step("read empty", lambda: api.read(p.r, 10))
    p.step("write 0", lambda: api.write(p.w, b""))
    p.step("write abc", lambda: api.write(p.w, b"abc"))
    p.step("write def", lambda: api.write(p.w, b"def"))
    p.step("read 4", lambda: api.read(p.r, 4))
    p.step("read 0", lambda: api.read(p.r, 0))
    p.step("read the rest", lambda: api.read(p.r, 100))
    p.step("write 70000", lambda: api.write(p.w, bytes(range(250)) * 280))
    p.step("write to a full pipe", lambda: api.write(p.w, b"y"))
    p.step("read 1", lambda: len(api.read(p.r, 1)))
    p.step("write 1 into the partial first slot", lambda: api.write(p.w, b"z"))
    p.step("read a page minus one", lambda: len(api.read(p.r, PAGE - 1)))
    p.step("write a page", lambda: api.write(p.w, b"p" * PAGE))
    p.step("drain", lambda: len(api.read(p.r, 1 << 20)))
    # PIPE_BUF: 15 pages and 4000 bytes held; 200 bytes are all or nothing
    p.step("fill 15 pages + 4000", lambda: api.write(p.w, b"a" * (15 * PAGE + 4000)))
    p.step("200 bytes do not fit", lambda: api.write(p.w, b"b" * 200))
    p.step("96 bytes merge", lambda: api.write(p.w, b"c" * 96))
    p.step("a page does not fit", lambda: api.write(p.w, b"d" * PAGE))
    p.step("read a page", lambda: api.read(p.r, PAGE) == b"a" * PAGE)
    p.step("5000 bytes: one page of them", lambda: api.write(p.w, b"e" * 5000))
    p.step("drain again", lambda: api.read(p.r, 1 << 20)[-5:])
    p.close_all()


def eof_and_epipe(rec: Recorder) -> None:
    """The last writer gone: EOF, POLLHUP; the last reader gone: EPIPE (the
    SIGPIPE is ignored, as Python starts), POLLERR."""
    api = rec.api
    p = Pipe(rec, os.O_NONBLOCK)
    p.step("write", lambda: api.write(p.w, b"last words"))
    extra = opened(rec, "dup the write end", lambda: api.dup(p.w))
    p.close("w", "close the write end (a dup holds it)")
    p.step("read", lambda: api.read(p.r, 4))
    p.step("close the dup: no writer left", lambda: api.close(extra))
    p.step("read what is left", lambda: api.read(p.r, 100))
    p.step("read at EOF", lambda: api.read(p.r, 100))
    q = Pipe(rec)
    q.close("r", "close the read end")
    q.step("write without a reader", lambda: api.write(q.w, b"lost"))
    q.step("write 0 without a reader", lambda: api.write(q.w, b""))
    p.close_all()
    q.close_all()


def packets(rec: Recorder) -> None:
    api = rec.api
    p = Pipe(rec, os.O_DIRECT | os.O_NONBLOCK)
    for data in (b"one", b"two", b"x" * 5000, b"three"):
        p.step(f"write {len(data)}", lambda data=data: api.write(p.w, data))
    p.step("read a packet", lambda: api.read(p.r, 100))
    p.step("a short read drops the rest", lambda: api.read(p.r, 2))
    p.step("a 5000-byte write is two packets", lambda: len(api.read(p.r, 10000)))
    p.step("the second", lambda: len(api.read(p.r, 10000)))
    p.step("then three", lambda: api.read(p.r, 10000))
    rec.do("packet mode off", lambda: api.fcntl(p.w, F.F_SETFL, os.O_NONBLOCK))
    p.step("write ab", lambda: api.write(p.w, b"ab"))
    p.step("write cd", lambda: api.write(p.w, b"cd"))
    p.step("they merged", lambda: api.read(p.r, 100))
    p.close_all()


def dup_shares_the_open_file(rec: Recorder) -> None:
    api, do = rec.api, rec.do
    p = Pipe(rec)
    d = opened(rec, "dup the read end", lambda: api.dup(p.r))
    do("F_SETFL the dup: O_NONBLOCK", lambda: api.fcntl(d, F.F_SETFL, os.O_NONBLOCK))
    do("the original has it", lambda: api.fcntl(p.r, F.F_GETFL))
    do("read the original: EAGAIN", lambda: api.read(p.r, 1))
    p.step("write", lambda: api.write(p.w, b"shared"))
    p.close("r", "close the original")
    do("the dup reads", lambda: api.read(d, 100))
    rec.note("the dup polls", masks(api, {"dup": d}))
    api.close(d)
    p.close_all()


def fifos(rec: Recorder) -> None:
    api, do = rec.api, rec.do
    old = os.umask(0o022)
    try:
        do("mkfifo", lambda: api.mkfifo("/fifo", 0o666))
    finally:
        os.umask(old)
    do("mkfifo again", lambda: api.mkfifo("/fifo", 0o600))
    do("mkfifo of the directory", lambda: api.mkfifo("/", 0o600))
    do("mkfifo ''", lambda: api.mkfifo("", 0o600))
    do("mkfifo in no directory", lambda: api.mkfifo("/no/fifo", 0o600))
    do("mkfifo of a long name", lambda: api.mkfifo("/" + "n" * 256, 0o600))
    do("open a missing one", lambda: api.open("/missing", os.O_RDONLY))
    do("open a long name", lambda: api.open("/" + "n" * 256, os.O_RDONLY))
    do("write-only, no reader, O_NONBLOCK", lambda: api.open("/fifo", os.O_WRONLY | os.O_NONBLOCK))
    do("O_CREAT|O_EXCL", lambda: api.open("/fifo", os.O_RDONLY | os.O_CREAT | os.O_EXCL))
    do("O_DIRECTORY", lambda: api.open("/fifo", os.O_RDONLY | os.O_NONBLOCK | os.O_DIRECTORY))
    do("O_DIRECT", lambda: api.open("/fifo", os.O_RDONLY | os.O_NONBLOCK | os.O_DIRECT))
    do("access mode 3", lambda: api.open("/fifo", 3 | os.O_NONBLOCK))
    r = opened(rec, "read-only, O_NONBLOCK", lambda: api.open("/fifo", os.O_RDONLY | os.O_NONBLOCK))
    do("F_GETFL of the reader", lambda: api.fcntl(r, F.F_GETFL))
    rec.note("no writer yet: no POLLHUP", masks(api, {"r": r}))
    do("read with no writer: EOF", lambda: api.read(r, 10))
    w = opened(rec, "write-only: the reader is there",
               lambda: api.open("/fifo", os.O_WRONLY | os.O_APPEND))
    do("F_GETFL of the writer", lambda: api.fcntl(w, F.F_GETFL))
    rec.note("both open", masks(api, {"r": r, "w": w}))
    do("write", lambda: api.write(w, b"through"))
    rec.note("data", masks(api, {"r": r, "w": w}))
    rec.note("data: select", selected({"r": (r, "r"), "w": (w, "w")}))
    do("read", lambda: api.read(r, 100))
    rw = opened(rec, "O_RDWR never waits",
                lambda: api.open("/fifo", os.O_RDWR | os.O_SYNC | os.O_TRUNC))
    do("F_GETFL of O_RDWR|O_SYNC|O_TRUNC", lambda: api.fcntl(rw, F.F_GETFL))
    do("close the writer", lambda: api.close(w))
    rec.note("a writer left, O_RDWR holds on", masks(api, {"r": r, "rw": rw}))
    do("close the O_RDWR", lambda: api.close(rw))
    rec.note("no writer: POLLHUP now", masks(api, {"r": r}))
    rec.note("no writer: select", selected({"r": (r, "r")}))
    do("unlink", lambda: api.unlink("/fifo"))
    do("unlink again", lambda: api.unlink("/fifo"))
    do("unlink the directory", lambda: api.unlink("/"))
    do("open after unlink", lambda: api.open("/fifo", os.O_RDONLY | os.O_NONBLOCK))
    do("the open reader still reads EOF", lambda: api.read(r, 10))
    api.close(r)


SCENARIOS = [
    Scenario("pipe2 flags, F_GETFL/F_SETFL and F_SETPIPE_SZ", "pipe", flags_and_sizes),
    Scenario("pipe reads, writes, PIPE_BUF and poll masks", "pipe", reads_and_writes),
    Scenario("pipe EOF and EPIPE", "pipe", eof_and_epipe),
    Scenario("pipe packet mode (O_DIRECT)", "pipe", packets),
    Scenario("dup shares the open file", "pipe", dup_shares_the_open_file),
    Scenario("FIFOs: mkfifo, open rules, unlink", "pipe", fifos, dev_shm=True),
]
