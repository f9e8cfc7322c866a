"""splice and tee scenarios: fs/splice.c between pipes (buffers moved whole
or split, merging afterwards, packets, tee's duplicates, EOF), the errors
in the kernel's order, SPLICE_F_NONBLOCK and O_NONBLOCK, EPIPE, an eventfd
on either side, and a FIFO opened O_RDWR -- on the kernel (ctypes,
tests/conformance/libc_pipe.py) and on uipc, through the same calls, with
both pipes' poll masks and select() readiness after each step."""
from __future__ import annotations

import fcntl as F
import os
from typing import Any, Callable

import uipc
from tests.conformance import libc_pipe
from tests.conformance.harness import Recorder, Scenario
from tests.conformance.scenarios_pipe import masks, opened, selected

PAGE = 4096
MOVE, NONBLOCK, MORE, GIFT = 1, 2, 4, 8  # include/uapi/linux/splice.h


def calls(api: Any) -> tuple[Callable[..., int], Callable[..., int]]:
    """The side's splice and tee: uipc's, or the kernel's through ctypes."""
    if api is uipc:
        return uipc.splice, uipc.tee
    return libc_pipe.splice, libc_pipe.tee


class Pipes:
    """Two pipes A and B of a scenario, and a step recorder that notes the
    masks and readiness of all four ends."""

    def __init__(self, rec: Recorder, flags_a: int = 0, flags_b: int = 0) -> None:
        self.rec, api = rec, rec.api
        self.splice, self.tee = calls(api)
        self.ar, self.aw = api.pipe2(flags_a)
        self.br, self.bw = api.pipe2(flags_b)
        self.ends = {"ar": self.ar, "aw": self.aw, "br": self.br, "bw": self.bw}

    def step(self, label: str, fn: Callable[[], Any]) -> Any:
        rec = self.rec
        out = rec.do(label, fn)
        rec.note(f"{label}: poll", masks(rec.api, self.ends))
        rec.note(f"{label}: select", selected({n: (fd, n[1]) for n, fd in self.ends.items()}))
        return out

    def close(self, name: str) -> None:
        self.rec.api.close(self.ends.pop(name))

    def close_all(self) -> None:
        for name in list(self.ends):
            self.close(name)


def moving_buffers(rec: Recorder) -> None:
    api = rec.api
    p = Pipes(rec, os.O_NONBLOCK, os.O_NONBLOCK)
    p.step("write 10", lambda: api.write(p.aw, b"a" * 10))
    p.step("write a page", lambda: api.write(p.aw, b"b" * PAGE))
    p.step("splice 100: a buffer and 90 bytes", lambda: p.splice(p.ar, p.bw, 100))
    p.step("read B", lambda: api.read(p.br, 1000))
    p.step("splice the rest", lambda: p.splice(p.ar, p.bw, 1 << 20))
    p.step("splice from empty A", lambda: p.splice(p.ar, p.bw, 1))
    p.step("read B again", lambda: len(api.read(p.br, 1 << 20)))
    p.step("fill A", lambda: api.write(p.aw, b"c" * (16 * PAGE)))
    p.step("B: two pages", lambda: api.fcntl(p.bw, F.F_SETPIPE_SZ, 2 * PAGE))
    p.step("splice into two slots", lambda: p.splice(p.ar, p.bw, 1 << 20))
    p.step("B full", lambda: p.splice(p.ar, p.bw, 1))
    p.step("a huge len", lambda: p.splice(p.br, p.aw, (1 << 64) - 1))
    p.close_all()


def merging(rec: Recorder) -> None:
    """A buffer moved whole still takes merges; a split one does not, and
    the input's rest still does."""
    api = rec.api
    p = Pipes(rec, os.O_NONBLOCK, os.O_NONBLOCK)
    rec.do("B: one page", lambda: api.fcntl(p.bw, F.F_SETPIPE_SZ, PAGE))
    p.step("write abc", lambda: api.write(p.aw, b"abc"))
    p.step("splice it whole", lambda: p.splice(p.ar, p.bw, 3))
    p.step("write def to B: merges", lambda: api.write(p.bw, b"def"))
    p.step("read B", lambda: api.read(p.br, 100))
    p.step("write ghijkl", lambda: api.write(p.aw, b"ghijkl"))
    p.step("splice 2: split", lambda: p.splice(p.ar, p.bw, 2))
    p.step("write to B: no merge into the copy", lambda: api.write(p.bw, b"z"))
    p.step("write mn to A: merges into the rest", lambda: api.write(p.aw, b"mn"))
    p.step("read A", lambda: api.read(p.ar, 100))
    p.step("read B again", lambda: api.read(p.br, 100))
    p.close_all()


def packets(rec: Recorder) -> None:
    api = rec.api
    p = Pipes(rec, os.O_NONBLOCK | os.O_DIRECT, os.O_NONBLOCK)
    for data in (b"one", b"two", b"three"):
        p.step(f"write {data!r}", lambda data=data: api.write(p.aw, data))
    p.step("splice 4: a packet and a piece", lambda: p.splice(p.ar, p.bw, 4))
    p.step("read B: one", lambda: api.read(p.br, 100))
    p.step("read B: t", lambda: api.read(p.br, 100))
    p.step("read A: wo", lambda: api.read(p.ar, 100))
    p.step("tee three", lambda: p.tee(p.ar, p.bw, 100))
    p.step("read 2 of the copy", lambda: api.read(p.br, 2))
    p.step("B is empty", lambda: api.read(p.br, 100))
    p.step("A kept it", lambda: api.read(p.ar, 100))
    p.close_all()


def teeing(rec: Recorder) -> None:
    api = rec.api
    p = Pipes(rec, os.O_NONBLOCK, os.O_NONBLOCK)
    p.step("tee from empty A", lambda: p.tee(p.ar, p.bw, 10))
    p.step("write 10", lambda: api.write(p.aw, b"a" * 10))
    p.step("write a page", lambda: api.write(p.aw, b"b" * PAGE))
    p.step("tee 100", lambda: p.tee(p.ar, p.bw, 100))
    p.step("tee all", lambda: p.tee(p.ar, p.bw, 1 << 20))
    p.step("read B", lambda: len(api.read(p.br, 1 << 20)))
    p.step("A still holds it", lambda: len(api.read(p.ar, 100)))
    p.step("write to A's rest", lambda: api.write(p.aw, b"c"))
    p.step("tee 1", lambda: p.tee(p.ar, p.bw, 1))
    p.step("B: two pages", lambda: api.fcntl(p.bw, F.F_SETPIPE_SZ, 2 * PAGE))
    p.step("fill A", lambda: api.write(p.aw, b"d" * (8 * PAGE)))
    p.step("tee into two slots", lambda: p.tee(p.ar, p.bw, 1 << 20))
    p.step("B full", lambda: p.tee(p.ar, p.bw, 1))
    p.step("flags without effect", lambda: p.tee(p.br, p.aw, 5, MOVE | MORE | GIFT))
    p.close_all()


def errors(rec: Recorder) -> None:
    api, do = rec.api, rec.do
    p = Pipes(rec)
    splice, tee = p.splice, p.tee
    do("write", lambda: api.write(p.aw, b"data"))
    do("splice len 0, bad fds and flags", lambda: splice(-1, -1, 0, 0xF0))
    do("splice bad flags before EBADF", lambda: splice(-1, -1, 1, 0x10))
    do("splice bad input", lambda: splice(-1, p.bw, 1))
    do("splice bad output", lambda: splice(p.ar, -1, 1))
    do("tee bad flags before len 0", lambda: tee(-1, -1, 0, 0x10))
    do("tee len 0", lambda: tee(-1, -1, 0))
    do("tee bad input", lambda: tee(-1, p.bw, 1))
    do("splice an offset in, before the modes", lambda: splice(p.aw, p.br, 1, off_in=0))
    do("splice an offset out", lambda: splice(p.ar, p.bw, 1, off_out=7))
    do("splice from a write end", lambda: splice(p.aw, p.bw, 1))
    do("splice into a read end", lambda: splice(p.ar, p.br, 1))
    do("tee from a write end", lambda: tee(p.aw, p.bw, 1))
    do("tee into a read end", lambda: tee(p.ar, p.br, 1))
    do("splice into the same pipe", lambda: splice(p.ar, p.aw, 1))
    do("tee into the same pipe", lambda: tee(p.ar, p.aw, 1))
    do("nothing moved", lambda: api.read(p.ar, 100))
    p.close_all()


def nonblocking(rec: Recorder) -> None:
    api = rec.api
    p = Pipes(rec)
    p.step("SPLICE_F_NONBLOCK, empty A", lambda: p.splice(p.ar, p.bw, 1, NONBLOCK))
    p.step("tee SPLICE_F_NONBLOCK, empty A", lambda: p.tee(p.ar, p.bw, 1, NONBLOCK))
    rec.do("B's write end O_NONBLOCK", lambda: api.fcntl(p.bw, F.F_SETFL, os.O_NONBLOCK))
    p.step("the output's O_NONBLOCK", lambda: p.splice(p.ar, p.bw, 1))
    p.step("tee: the output's O_NONBLOCK", lambda: p.tee(p.ar, p.bw, 1))
    rec.do("back to blocking", lambda: api.fcntl(p.bw, F.F_SETFL, 0))
    rec.do("A's read end O_NONBLOCK", lambda: api.fcntl(p.ar, F.F_SETFL, os.O_NONBLOCK))
    p.step("the input's O_NONBLOCK", lambda: p.splice(p.ar, p.bw, 1))
    rec.do("A blocking", lambda: api.fcntl(p.ar, F.F_SETFL, 0))
    p.step("write A", lambda: api.write(p.aw, b"x"))
    rec.do("B's write end O_NONBLOCK again", lambda: api.fcntl(p.bw, F.F_SETFL, os.O_NONBLOCK))
    p.step("fill B", lambda: api.write(p.bw, b"y" * (16 * PAGE)))
    rec.do("B blocking again", lambda: api.fcntl(p.bw, F.F_SETFL, 0))
    p.step("B full, SPLICE_F_NONBLOCK", lambda: p.splice(p.ar, p.bw, 1, NONBLOCK))
    p.step("tee: B full, SPLICE_F_NONBLOCK", lambda: p.tee(p.ar, p.bw, 1, NONBLOCK))
    p.close_all()


def eof_and_epipe(rec: Recorder) -> None:
    """EOF is 0; no reader on the output is EPIPE (the SIGPIPE is ignored,
    as Python starts), checked before EOF."""
    api = rec.api
    p = Pipes(rec, 0, os.O_NONBLOCK)
    p.step("write", lambda: api.write(p.aw, b"last"))
    p.close("aw")
    p.step("splice the rest", lambda: p.splice(p.ar, p.bw, 100))
    p.step("splice at EOF", lambda: p.splice(p.ar, p.bw, 100))
    p.step("tee at EOF", lambda: p.tee(p.ar, p.bw, 100))
    p.close("br")
    p.step("splice at EOF into no reader", lambda: p.splice(p.ar, p.bw, 100))
    p.step("tee at EOF into no reader", lambda: p.tee(p.ar, p.bw, 100))
    p.close_all()
    q = Pipes(rec, os.O_NONBLOCK, os.O_NONBLOCK)
    q.step("write", lambda: api.write(q.aw, b"lost"))
    q.close("br")
    q.step("splice into no reader", lambda: q.splice(q.ar, q.bw, 100))
    q.step("tee into no reader", lambda: q.tee(q.ar, q.bw, 100))
    q.step("A kept it", lambda: api.read(q.ar, 100))
    q.close_all()


def not_a_pipe(rec: Recorder) -> None:
    """An eventfd on either side: EINVAL, but into a pipe only after
    wait_for_space (EAGAIN when full and non-blocking, EPIPE without a
    reader); an offset for it is EINVAL (no FMODE_PREAD)."""
    api = rec.api
    splice, tee = calls(api)
    ends: dict[str, int] = {}
    efd = opened(rec, "eventfd", lambda: api.eventfd(5, os.EFD_NONBLOCK))
    r, w = api.pipe2(os.O_NONBLOCK)
    ends.update(efd=efd, r=r, w=w)
    rec.do("write the pipe", lambda: api.write(w, b"kept"))
    rec.do("pipe into the eventfd", lambda: splice(r, efd, 4))
    rec.do("pipe into it, an offset", lambda: splice(r, efd, 4, off_out=0))
    rec.do("tee into it", lambda: tee(r, efd, 4))
    rec.do("eventfd into the pipe", lambda: splice(efd, w, 8))
    rec.do("eventfd with an offset", lambda: splice(efd, w, 8, off_in=0))
    rec.do("eventfd, len past SSIZE_MAX", lambda: splice(efd, w, 1 << 63))
    rec.do("tee from it", lambda: tee(efd, w, 8))
    rec.do("eventfd into itself", lambda: splice(efd, efd, 8))
    rec.do("the pipe kept its data", lambda: api.read(r, 100))
    rec.do("fill the pipe", lambda: api.write(w, b"f" * (16 * PAGE)))
    rec.do("eventfd into the full pipe", lambda: splice(efd, w, 8))
    rec.do("read a page", lambda: len(api.read(r, PAGE)))
    rec.do("room again", lambda: splice(efd, w, 8))
    api.close(r)
    rec.do("eventfd into a pipe without reader", lambda: splice(efd, w, 8))
    rec.note("eventfd and write end", masks(api, {"efd": efd, "w": w}))
    rec.do("its counter untouched", lambda: api.read(efd, 8))
    api.close(w)
    api.close(efd)


def fifo_rdwr(rec: Recorder) -> None:
    """One FIFO opened O_RDWR and again O_WRONLY: the same pipe either way;
    a FIFO splices into a pipe as a pipe does."""
    api, do = rec.api, rec.do
    splice, tee = calls(api)
    do("mkfifo", lambda: api.mkfifo("/sp", 0o600))
    rw = opened(rec, "open O_RDWR", lambda: api.open("/sp", os.O_RDWR | os.O_NONBLOCK))
    w = opened(rec, "open O_WRONLY", lambda: api.open("/sp", os.O_WRONLY | os.O_NONBLOCK))
    r, pw = api.pipe2(os.O_NONBLOCK)
    do("write the FIFO", lambda: api.write(w, b"fifo data"))
    do("splice it into itself", lambda: splice(rw, w, 4))
    do("tee it into itself", lambda: tee(rw, rw, 4))
    do("tee into the pipe", lambda: tee(rw, pw, 4))
    do("splice into the pipe", lambda: splice(rw, pw, 100))
    do("the pipe has both", lambda: api.read(r, 100))
    do("the pipe into the FIFO", lambda: (api.write(pw, b"back"), splice(r, w, 100))[1])
    do("the FIFO has it", lambda: api.read(rw, 100))
    rec.note("FIFO ends", masks(api, {"rw": rw, "w": w}))
    for fd in (rw, w, r, pw):
        api.close(fd)
    do("unlink", lambda: api.unlink("/sp"))


def masks_after(rec: Recorder) -> None:
    """The doorbells of both pipes after each move: A full, a page spliced,
    then tee filling B, then B's reader gone."""
    api = rec.api
    p = Pipes(rec, os.O_NONBLOCK, os.O_NONBLOCK)
    p.step("fill A", lambda: api.write(p.aw, b"a" * (16 * PAGE)))
    p.step("splice a page", lambda: p.splice(p.ar, p.bw, PAGE))
    p.step("tee the rest", lambda: p.tee(p.ar, p.bw, 1 << 20))
    p.step("splice B's first page back", lambda: p.splice(p.br, p.aw, PAGE))
    p.close("br")
    p.step("B without reader", lambda: None)
    p.close_all()


SCENARIOS = [
    Scenario("splice moves whole buffers and splits the last", "pipe", moving_buffers),
    Scenario("splice: what merges after a move", "pipe", merging),
    Scenario("splice and tee of packets", "pipe", packets),
    Scenario("tee duplicates without consuming", "pipe", teeing),
    Scenario("splice and tee errors, in order", "pipe", errors),
    Scenario("splice and tee: SPLICE_F_NONBLOCK and O_NONBLOCK", "pipe", nonblocking),
    Scenario("splice and tee: EOF and EPIPE", "pipe", eof_and_epipe),
    Scenario("splice with an eventfd", "pipe", not_a_pipe),
    Scenario("splice and tee with a FIFO opened O_RDWR", "pipe", fifo_rdwr, dev_shm=True),
    Scenario("splice and tee: both pipes' masks", "pipe", masks_after),
]
