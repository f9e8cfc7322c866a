"""POSIX named semaphores and shared memory scenarios: glibc's name rules,
O_CREAT/O_EXCL, semaphore values and their limits, timed waits, unlink
while open, shm sizes and mappings, O_TRUNC, access modes and other users.

On the kernel side these are glibc's files in /dev/shm: every scenario
here has ``dev_shm=True``, so harness.run_on_kernel runs it on a private
tmpfs (libc_posix.private_dev_shm), never on the machine's /dev/shm.

The kernel's answers, printed: ``python -m tests.conformance.scenarios_posix
--kernel-only [-k SUBSTRING]``.  Semaphores are recorded as "sem" and shm
descriptors as "fd" (tests/conformance/scenarios_mq.py opened).
"""
from __future__ import annotations

import mmap
import os
import stat
import sys
import time
from typing import Any, Callable

from tests.conformance.harness import Recorder, Scenario, as_user
from tests.conformance.scenarios_mq import (
    FUTEX_SLEEP_SYSCALLS, NOBODY, Peer, PosixSleepers, as_fd, kernel_only, opened,
)
from uipc.uapi.mqueue import SEM_VALUE_MAX

O_RDONLY, O_WRONLY, O_RDWR = os.O_RDONLY, os.O_WRONLY, os.O_RDWR
O_CREAT, O_EXCL, O_TRUNC = os.O_CREAT, os.O_EXCL, os.O_TRUNC


def _sem(rec: Recorder, label: str, fn: Callable[[], Any]) -> Any:
    return opened(rec, label, fn, mark="sem")


def as_sem(fn: Callable[[], Any]) -> Callable[[], str]:
    return as_fd(fn, mark="sem")


def _long_names(limit: int) -> list[tuple[str, str]]:
    """Around the two length limits: the file name's NAME_MAX (``limit`` is
    the longest name that fits: 255 for shm, 251 after sem's "sem." prefix;
    longer, the open or unlink says ENAMETOOLONG) and glibc's buffer for
    "/dev/shm/sem." + NAME_MAX (4 more: longer still, glibc says EINVAL)."""
    return [(f"{n} chars", "/" + "n" * n) for n in (limit, limit + 1, limit + 4, limit + 5, 300)]


def _name_cases(limit: int) -> list[tuple[str, str]]:
    """Names around glibc's rules (posix/shm-directory.c __shm_get_name)."""
    return [("plain", "/n"), ("no leading slash: the same object", "n"),
            ("double slash: the same object", "//n"), ("empty", ""), ("slash only", "/"),
            ("slashes only", "///"), ("inner slash", "/a/b"), ("trailing slash", "/t/"),
            ("dot", "/."), ("dotdot", "/.."), ("dot-prefixed", "/.hidden"),
            ("space and unicode", "/a b\u00fc"), ("leading slashes, then 251 chars", "//////" + "s" * 251),
            *_long_names(limit)]


# --- semaphores -------------------------------------------------------------------------
def sem_names(rec: Recorder) -> None:
    api, do = rec.api, rec.do
    for label, name in _name_cases(251):
        sem = _sem(rec, f"create {label}", lambda: api.sem_open(name, O_CREAT | O_EXCL, 0o600, 3))
        if sem is not None:
            do(f"close {label}", lambda: api.sem_close(sem))
    # glibc (sem_routines.c) keeps the name as given, slashes and all, for its
    # mapping table: past NAME_MAX that fails, after the file was made
    do("leading slashes, then 251 chars: made anyway", lambda: api.sem_close(
        api.sem_open("/" + "s" * 251, 0)))
    do("5 slashes + 251 chars, O_CREAT alone", lambda: api.sem_open("/////" + "z" * 251, O_CREAT, 0o600, 0))
    do("  made anyway", lambda: api.sem_close(api.sem_open("/" + "z" * 251, 0)))
    do("4 slashes + 251 chars, O_CREAT alone", lambda: api.sem_close(
        api.sem_open("////" + "y" * 251, O_CREAT, 0o600, 0)))
    a = _sem(rec, "open /n", lambda: api.sem_open("/n", 0))
    b = _sem(rec, "open n", lambda: api.sem_open("n", 0))
    do("post via n", lambda: api.sem_post(b))
    do("value via /n", lambda: api.sem_getvalue(a))
    for s in (a, b):
        api.sem_close(s)
    for label, name in [("empty", ""), ("slash only", "/"), ("inner slash", "/a/b"),
                        *_long_names(251), ("missing", "/missing"), ("no leading slash", "n"),
                        ("plain again", "/n"), ("dot", "/."), ("dot-prefixed", "/.hidden"),
                        ("unicode", "/a b\u00fc")]:
        do(f"unlink {label}", lambda: api.sem_unlink(name))


def sem_values(rec: Recorder) -> None:
    api, do = rec.api, rec.do
    c = O_CREAT | O_EXCL
    do("missing", lambda: api.sem_open("/v", 0))
    do("missing, O_EXCL alone", lambda: api.sem_open("/v", O_EXCL))
    s = _sem(rec, "value 0", lambda: api.sem_open("/v", c, 0o600, 0))
    do("getvalue", lambda: api.sem_getvalue(s))
    do("trywait at 0", lambda: api.sem_trywait(s))
    do("post", lambda: api.sem_post(s))
    do("post", lambda: api.sem_post(s))
    do("getvalue 2", lambda: api.sem_getvalue(s))
    do("trywait", lambda: api.sem_trywait(s))
    do("wait", lambda: api.sem_wait(s))
    do("getvalue 0", lambda: api.sem_getvalue(s))
    do("O_CREAT|O_EXCL on existing", lambda: api.sem_open("/v", c, 0o600, 1))
    do("O_CREAT|O_EXCL on existing, value too big", lambda: api.sem_open("/v", c, 0o600, SEM_VALUE_MAX + 1))
    t = _sem(rec, "O_CREAT on existing, value too big: opens it", lambda: api.sem_open(
        "/v", O_CREAT, 0o600, SEM_VALUE_MAX + 1))
    do("its value", lambda: api.sem_getvalue(t))
    api.sem_close(t)
    do("value SEM_VALUE_MAX + 1", lambda: api.sem_open("/w", c, 0o600, SEM_VALUE_MAX + 1))
    do("value -1 (unsigned)", lambda: api.sem_open("/w", c, 0o600, -1))
    do("nothing was created", lambda: api.sem_open("/w", 0))
    m = _sem(rec, "value SEM_VALUE_MAX", lambda: api.sem_open("/max", c, 0o600, SEM_VALUE_MAX))
    do("getvalue max", lambda: api.sem_getvalue(m))
    do("post at max", lambda: api.sem_post(m))
    do("getvalue still max", lambda: api.sem_getvalue(m))
    do("trywait", lambda: api.sem_trywait(m))
    do("post back to max", lambda: api.sem_post(m))
    do("post at max again", lambda: api.sem_post(m))
    # timed waits: glibc rejects a bad tv_nsec before looking at the value; a
    # negative tv_sec is just long past
    past = time.time() - 10
    do("timedwait at 0, past", lambda: api.sem_timedwait(s, past))
    do("timedwait at 0, the epoch", lambda: api.sem_timedwait(s, 0.0))
    do("timedwait at 0, -1 s", lambda: api.sem_timedwait(s, -1.0))
    do("timedwait at 0, -0.5 s (tv_nsec < 0)", lambda: api.sem_timedwait(s, -0.5))
    do("timedwait at 0, -1.5 s", lambda: api.sem_timedwait(s, -1.5))
    do("timedwait at 0, 50 ms ahead", lambda: api.sem_timedwait(s, time.time() + 0.05))
    do("post 3", lambda: [api.sem_post(s) for _ in range(3)])
    do("timedwait at 3, past", lambda: api.sem_timedwait(s, past))
    do("timedwait at 2, -1 s", lambda: api.sem_timedwait(s, -1.0))
    do("timedwait at 1, -0.5 s", lambda: api.sem_timedwait(s, -0.5))
    do("getvalue after", lambda: api.sem_getvalue(s))
    do("timedwait at 1, far future", lambda: api.sem_timedwait(s, time.time() + 1e6))
    api.sem_close(m)
    api.sem_close(s)
    do("unlink /v", lambda: api.sem_unlink("/v"))
    do("unlink /max", lambda: api.sem_unlink("/max"))


def sem_close_unlink(rec: Recorder) -> None:
    api, do = rec.api, rec.do
    a = _sem(rec, "create", lambda: api.sem_open("/c", O_CREAT | O_EXCL, 0o600, 2))
    b = _sem(rec, "open again", lambda: api.sem_open("/c", 0))
    do("close once", lambda: api.sem_close(a))
    do("the other open still works", lambda: (api.sem_post(b), api.sem_getvalue(b))[1])
    do("close twice", lambda: api.sem_close(b))
    do("close a third time", lambda: api.sem_close(b))
    s = _sem(rec, "reopen", lambda: api.sem_open("/c", 0))
    do("value kept with nobody open", lambda: api.sem_getvalue(s))
    do("unlink while open", lambda: api.sem_unlink("/c"))
    do("unlink again", lambda: api.sem_unlink("/c"))
    do("open without O_CREAT", lambda: api.sem_open("/c", 0))
    do("the open one still works", lambda: (api.sem_post(s), api.sem_getvalue(s))[1])
    n = _sem(rec, "O_CREAT: a new one", lambda: api.sem_open("/c", O_CREAT, 0o600, 7))
    do("the new value", lambda: api.sem_getvalue(n))
    do("the old value", lambda: api.sem_getvalue(s))
    do("wait on the new", lambda: api.sem_wait(n))
    do("old unchanged", lambda: api.sem_getvalue(s))
    do("close old", lambda: api.sem_close(s))
    do("close new", lambda: api.sem_close(n))
    do("unlink new", lambda: api.sem_unlink("/c"))


def sem_waiters(rec: Recorder) -> None:
    api, do = rec.api, rec.do
    s = _sem(rec, "value 0", lambda: api.sem_open("/b", O_CREAT | O_EXCL, 0o600, 0))

    def waiter(timeout: float | None = None) -> Callable[[], Any]:
        def fn() -> Any:
            mine = api.sem_open("/b", 0)
            if timeout is None:
                return api.sem_wait(mine)
            return api.sem_timedwait(mine, time.time() + timeout)
        return fn
    w = PosixSleepers(rec, FUTEX_SLEEP_SYSCALLS)
    try:
        w.start("W1", waiter())
        w.start("W2", waiter())
        do("value with two waiters", lambda: api.sem_getvalue(s))
        do("trywait with waiters", lambda: api.sem_trywait(s))
        do("post", lambda: api.sem_post(s))
        rec.note("one woken", w.completed(1))
        do("value after", lambda: api.sem_getvalue(s))
        do("post", lambda: api.sem_post(s))
        rec.note("the other", w.completed(1))
        w.start("W3 timed 300 ms", waiter(0.3))
        rec.note("W3", w.completed(1))
        w.start("W4", waiter())
        do("unlink while W4 waits", lambda: api.sem_unlink("/b"))
        rec.note("W4 still asleep", w.is_asleep("W4"))
        do("post the unlinked one", lambda: api.sem_post(s))
        rec.note("W4", w.completed(1))
        do("value at the end", lambda: api.sem_getvalue(s))
    finally:
        w.close()
    api.sem_close(s)


def sem_other_users(rec: Recorder) -> None:
    api, do = rec.api, rec.do
    os.umask(0)
    c = O_CREAT | O_EXCL
    for mode in (0o600, 0o644, 0o666, 0o606, 0o660):
        do(f"root creates {mode:o}", lambda: api.sem_close(api.sem_open(f"/p{mode:o}", c, mode, 1)))

    def stranger() -> list:
        calls: list[tuple[str, Callable[[], Any]]] = [
            (f"open {mode:o}", as_sem(lambda mode=mode: api.sem_open(f"/p{mode:o}", 0)))
            for mode in (0o600, 0o644, 0o666, 0o606, 0o660)]
        calls += [
            ("O_CREAT on root's 600", as_sem(lambda: api.sem_open("/p600", O_CREAT, 0o666, 0))),
            ("O_CREAT|O_EXCL on root's 600", as_sem(lambda: api.sem_open("/p600", c, 0o666, 0))),
            ("wait on 666", lambda: api.sem_trywait(api.sem_open("/p666", 0))),
            ("post on 666 twice", lambda: [api.sem_post(api.sem_open("/p666", 0)) for _ in range(2)]),
            ("unlink root's 666", lambda: api.sem_unlink("/p666")),
            ("unlink missing", lambda: api.sem_unlink("/nothing")),
            ("create own 600", as_sem(lambda: api.sem_open("/mine", c, 0o600, 4))),
            ("create own 400", as_sem(lambda: api.sem_open("/ro", c, 0o400, 4))),
            ("reopen own 400", as_sem(lambda: api.sem_open("/ro", 0))),
        ]
        return rec.outcomes(calls)
    rec.note("uid 65534", as_user(NOBODY, NOBODY, stranger, rec=rec))
    do("666's value", lambda: api.sem_getvalue(api.sem_open("/p666", 0)))
    do("root opens nobody's 600", lambda: api.sem_getvalue(api.sem_open("/mine", 0)))
    do("root opens nobody's 400", lambda: api.sem_getvalue(api.sem_open("/ro", 0)))
    do("root unlinks nobody's", lambda: api.sem_unlink("/mine"))
    rec.note("uid 65534 in group 0", as_user(NOBODY, NOBODY, lambda: rec.outcomes([
        ("660", as_sem(lambda: api.sem_open("/p660", 0))),
        ("606: group bits first", as_sem(lambda: api.sem_open("/p606", 0)))]), groups=(0,), rec=rec))
    for umask, name in [(0o077, "/um077"), (0o022, "/um022"), (0o000, "/um000")]:
        os.umask(umask)
        do(f"create 0666 under umask {umask:03o}", lambda: api.sem_close(api.sem_open(name, c, 0o666, 0)))
    os.umask(0)
    rec.note("uid 65534 against the umasks", as_user(NOBODY, NOBODY, lambda: rec.outcomes([
        (name, as_sem(lambda name=name: api.sem_open(name, 0)))
        for name in ("/um077", "/um022", "/um000")]), rec=rec))


def sem_fork(rec: Recorder) -> None:
    """A named semaphore is shared memory: a forked child has it open."""
    api, do = rec.api, rec.do
    s = _sem(rec, "value 1", lambda: api.sem_open("/f", O_CREAT | O_EXCL, 0o600, 1))
    peer = Peer(rec, "child", {
        "getvalue": lambda: api.sem_getvalue(s),
        "post": lambda: api.sem_post(s),
        "trywait": lambda: api.sem_trywait(s),
    })
    try:
        peer.run("getvalue")
        peer.run("post")
        do("value here", lambda: api.sem_getvalue(s))
        do("wait here", lambda: api.sem_wait(s))
        peer.run("trywait")
        peer.run("trywait")
        do("value at the end", lambda: api.sem_getvalue(s))
    finally:
        peer.exit()
    do("after the child's exit", lambda: api.sem_getvalue(s))
    api.sem_close(s)


# --- shared memory -----------------------------------------------------------------------
def _size(fd: int) -> int:
    return os.fstat(fd).st_size


def shm_names(rec: Recorder) -> None:
    api, do = rec.api, rec.do
    c = O_CREAT | O_EXCL | O_RDWR
    for label, name in _name_cases(255):
        fd = opened(rec, f"create {label}", lambda: api.shm_open(name, c, 0o600))
        if fd is not None:
            do(f"close {label}", lambda: os.close(fd))
    # (a read-only open of "/." or "/.." gives glibc a directory's descriptor,
    # /dev/shm's or /dev's; uipc has no directory to give: docs/deviations.md)
    do("/. read-write: EISDIR made EINVAL", lambda: api.shm_open("/.", O_RDWR))
    a = opened(rec, "open /n", lambda: api.shm_open("/n", O_RDWR))
    b = opened(rec, "open n", lambda: api.shm_open("n", O_RDWR))
    do("ftruncate via n", lambda: os.ftruncate(b, 123))
    do("size via /n", lambda: _size(a))
    for fd in (a, b):
        os.close(fd)
    for label, name in [("empty", ""), ("slash only", "/"), ("inner slash", "/a/b"), ("dot", "/."),
                        *_long_names(255), ("missing", "/missing"), ("no leading slash", "n"),
                        ("plain again", "/n"), ("dot-prefixed", "/.hidden"),
                        ("leading slashes, then 251 chars", "/" + "s" * 251), ("unicode", "/a b\u00fc")]:
        do(f"unlink {label}", lambda: api.shm_unlink(name))


def shm_open_and_size(rec: Recorder) -> None:
    api, do = rec.api, rec.do
    c = O_CREAT | O_EXCL
    do("missing", lambda: api.shm_open("/m", O_RDWR))
    a = opened(rec, "create", lambda: api.shm_open("/m", c | O_RDWR, 0o600))
    do("new size", lambda: _size(a))
    do("excl again", lambda: api.shm_open("/m", c | O_RDWR, 0o600))
    do("ftruncate 10000", lambda: os.ftruncate(a, 10000))
    b = opened(rec, "O_CREAT on existing", lambda: api.shm_open("/m", O_CREAT | O_RDWR, 0o600))
    do("size via the second", lambda: _size(b))
    ma = mmap.mmap(a, 10000)
    ma[4096:4101] = b"hello"
    mb = mmap.mmap(b, 10000)
    rec.note("the second mapping sees it", mb[4096:4101])
    do("write() via the second", lambda: os.pwrite(b, b"world", 4101))
    rec.note("the first mapping sees that", ma[4096:4106])
    ro = opened(rec, "O_RDONLY", lambda: api.shm_open("/m", O_RDONLY))
    do("O_RDONLY: ftruncate", lambda: os.ftruncate(ro, 5))
    do("O_RDONLY: write()", lambda: os.pwrite(ro, b"x", 0))
    do("O_RDONLY: read()", lambda: os.pread(ro, 10, 4096))
    do("O_RDONLY: map shared writable", lambda: mmap.mmap(ro, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE))
    do("O_RDONLY: map read-only", lambda: mmap.mmap(ro, 10000, prot=mmap.PROT_READ)[4096:4106])
    do("O_RDONLY: map private writable", lambda: mmap.mmap(
        ro, 4096, flags=mmap.MAP_PRIVATE, prot=mmap.PROT_READ | mmap.PROT_WRITE) and "mapped")
    wo = opened(rec, "O_WRONLY", lambda: api.shm_open("/m", O_WRONLY))
    do("O_WRONLY: read()", lambda: os.pread(wo, 10, 4096))
    do("O_WRONLY: map", lambda: mmap.mmap(wo, 4096, prot=mmap.PROT_WRITE) and "mapped")
    do("O_WRONLY: ftruncate 20000", lambda: os.ftruncate(wo, 20000))
    do("size via the first", lambda: _size(a))
    three = opened(rec, "accmode 3", lambda: api.shm_open("/m", O_WRONLY | O_RDWR))
    if three is not None:
        do("accmode 3: ftruncate", lambda: os.ftruncate(three, 1))
        do("accmode 3: read()", lambda: os.pread(three, 1, 0))
        os.close(three)
    ma.close()
    mb.close()
    do("O_RDWR|O_TRUNC", lambda: os.close(api.shm_open("/m", O_RDWR | O_TRUNC)))
    do("size after O_TRUNC", lambda: _size(a))
    do("ftruncate 100", lambda: os.ftruncate(a, 100))
    do("O_RDONLY|O_TRUNC (root may write)", lambda: os.close(api.shm_open("/m", O_RDONLY | O_TRUNC)))
    do("size after O_RDONLY|O_TRUNC", lambda: _size(a))
    do("O_CREAT|O_TRUNC existing", lambda: (os.ftruncate(a, 50), os.close(
        api.shm_open("/m", O_CREAT | O_RDWR | O_TRUNC, 0o600)), _size(a))[2])
    do("ftruncate -1", lambda: os.ftruncate(a, -1))
    do("ftruncate 2**40 (sparse)", lambda: (os.ftruncate(a, 2**40), _size(a))[1])
    do("shrink to 0", lambda: (os.ftruncate(a, 0), _size(a))[1])
    for fd in (a, b, ro, wo):
        os.close(fd)
    do("unlink", lambda: api.shm_unlink("/m"))


def shm_unlink_while_open(rec: Recorder) -> None:
    api, do = rec.api, rec.do
    a = opened(rec, "create", lambda: api.shm_open("/u", O_CREAT | O_EXCL | O_RDWR, 0o600))
    do("size 8192, write", lambda: (os.ftruncate(a, 8192), os.pwrite(a, b"kept", 0))[1])
    m = mmap.mmap(a, 8192)
    do("unlink", lambda: api.shm_unlink("/u"))
    do("unlink again", lambda: api.shm_unlink("/u"))
    do("open without O_CREAT", lambda: api.shm_open("/u", O_RDWR))
    do("the fd still works", lambda: (_size(a), os.pread(a, 4, 0)))
    rec.note("the mapping too", m[:4])
    n = opened(rec, "O_CREAT: a new object", lambda: api.shm_open("/u", O_CREAT | O_RDWR, 0o600))
    do("its size", lambda: _size(n))
    do("write to the old via the mapping", lambda: m.__setitem__(slice(0, 4), b"KEPT"))
    do("the old fd reads it", lambda: os.pread(a, 4, 0))
    do("the new is separate", lambda: os.pread(n, 4, 0))
    m.close()
    os.close(a)
    os.close(n)
    do("unlink the new", lambda: api.shm_unlink("/u"))


def shm_other_users(rec: Recorder) -> None:
    api, do = rec.api, rec.do
    os.umask(0)
    c = O_CREAT | O_EXCL | O_RDWR
    for mode in (0o600, 0o644, 0o666, 0o606, 0o660):
        def make(mode: int = mode) -> None:
            fd = api.shm_open(f"/p{mode:o}", c, mode)
            os.ftruncate(fd, 4096)
            os.pwrite(fd, f"root's {mode:o}".encode(), 0)
            os.close(fd)
        do(f"root creates {mode:o}", make)

    def read(name: str, flags: int = O_RDONLY) -> Any:
        fd = api.shm_open(name, flags)
        try:
            return os.pread(fd, 10, 0)
        finally:
            os.close(fd)

    def stranger() -> list:
        calls: list[tuple[str, Callable[[], Any]]] = []
        for mode in (0o600, 0o644, 0o666, 0o606, 0o660):
            for acc, acc_name in [(O_RDONLY, "r"), (O_WRONLY, "w"), (O_RDWR, "rw")]:
                calls.append((f"{mode:o} {acc_name}", as_fd(
                    lambda mode=mode, acc=acc: os.close(api.shm_open(f"/p{mode:o}", acc)))))
        calls += [
            ("read 644", lambda: read("/p644")),
            ("644 O_RDONLY|O_TRUNC", as_fd(lambda: api.shm_open("/p644", O_RDONLY | O_TRUNC))),
            ("644 O_CREAT|O_RDONLY", lambda: read("/p644", O_CREAT | O_RDONLY)),
            ("O_CREAT|O_EXCL on 644", as_fd(lambda: api.shm_open("/p644", c, 0o666))),
            ("write 666", lambda: os.pwrite(api.shm_open("/p666", O_RDWR), b"NOBODY", 0)),
            ("666 O_RDWR|O_TRUNC", lambda: os.fstat(api.shm_open("/p666", O_RDWR | O_TRUNC)).st_size),
            ("unlink root's 666", lambda: api.shm_unlink("/p666")),
            ("unlink missing", lambda: api.shm_unlink("/nothing")),
            ("create own 600", as_fd(lambda: os.ftruncate(api.shm_open("/mine", c, 0o600), 10))),
            ("create own 400 O_RDWR", lambda: os.fstat(api.shm_open("/ro", c, 0o400)).st_size),
            ("reopen own 400 O_RDWR", as_fd(lambda: api.shm_open("/ro", O_RDWR))),
        ]
        return rec.outcomes(calls)
    rec.note("uid 65534", as_user(NOBODY, NOBODY, stranger, rec=rec))
    do("666 after nobody", lambda: (_size(api.shm_open("/p666", O_RDONLY)), read("/p666")))
    do("root opens nobody's 600", lambda: _size(api.shm_open("/mine", O_RDWR)))
    do("root opens nobody's 400 O_RDWR", lambda: _size(api.shm_open("/ro", O_RDWR)))
    do("root unlinks nobody's", lambda: api.shm_unlink("/mine"))
    rec.note("uid 65534 in group 0", as_user(NOBODY, NOBODY, lambda: rec.outcomes([
        ("660 rw", as_fd(lambda: api.shm_open("/p660", O_RDWR))),
        ("606 r: group bits first", as_fd(lambda: api.shm_open("/p606", O_RDONLY)))]),
        groups=(0,), rec=rec))
    for umask, name in [(0o077, "/um077"), (0o022, "/um022"), (0o002, "/um002")]:
        os.umask(umask)
        do(f"create 0666 under umask {umask:03o}", lambda: os.close(api.shm_open(name, c, 0o666)))
    os.umask(0)
    rec.note("uid 65534 against the umasks", as_user(NOBODY, NOBODY, lambda: rec.outcomes([
        (f"{name} {acc_name}", as_fd(lambda name=name, acc=acc: os.close(api.shm_open(name, acc))))
        for name in ("/um077", "/um022", "/um002")
        for acc, acc_name in [(O_RDONLY, "r"), (O_WRONLY, "w")]]), rec=rec))
    rec.note("uid 65534 creates 0604: fstat", as_user(NOBODY, NOBODY, lambda: _attrs(api.shm_open(
        "/b", O_CREAT | O_EXCL | O_RDWR, 0o604)), rec=rec))
    do("root's fstat of it", lambda: _attrs(api.shm_open("/b", O_RDONLY)))


def _attrs(fd: int) -> dict[str, Any]:
    st = os.fstat(fd)
    # st_nlink is not compared: a memfd has none (docs/deviations.md)
    return {"regular": stat.S_ISREG(st.st_mode), "mode": oct(stat.S_IMODE(st.st_mode)),
            "uid": st.st_uid, "gid": st.st_gid, "size": st.st_size}


def shm_file_attributes(rec: Recorder) -> None:
    """What fstat says of a shm_open descriptor: a regular file with the
    creator's ids and the mode after the umask."""
    api, do = rec.api, rec.do
    attrs = _attrs
    os.umask(0o022)
    a = opened(rec, "create 0666 under umask 022", lambda: api.shm_open(
        "/a", O_CREAT | O_EXCL | O_RDWR, 0o666))
    do("fstat", lambda: attrs(a))
    do("fchmod 0640", lambda: os.fchmod(a, 0o640))
    do("fstat after fchmod", lambda: attrs(a))
    do("another fd sees it", lambda: attrs(api.shm_open("/a", O_RDONLY)))
    do("unlink", lambda: api.shm_unlink("/a"))
    do("fstat after unlink", lambda: attrs(a))
    os.umask(0)
    do("mode with setuid/sticky bits", lambda: attrs(api.shm_open("/c", O_CREAT | O_EXCL | O_RDWR, 0o7777)))
    os.close(a)


SCENARIOS = [
    Scenario("psem names", "psem", sem_names, dev_shm=True),
    Scenario("psem values, limits, timed waits", "psem", sem_values, dev_shm=True),
    Scenario("psem close and unlink", "psem", sem_close_unlink, dev_shm=True),
    Scenario("psem blocking waiters", "psem", sem_waiters, dev_shm=True),
    Scenario("psem permissions of other users", "psem", sem_other_users, dev_shm=True),
    Scenario("psem across fork", "psem", sem_fork, dev_shm=True),
    Scenario("pshm names", "pshm", shm_names, dev_shm=True),
    Scenario("pshm open flags, sizes, mappings", "pshm", shm_open_and_size, dev_shm=True),
    Scenario("pshm unlink while open", "pshm", shm_unlink_while_open, dev_shm=True),
    Scenario("pshm permissions of other users", "pshm", shm_other_users, dev_shm=True),
    Scenario("pshm file attributes", "pshm", shm_file_attributes, dev_shm=True),
]


if __name__ == "__main__":
    sys.exit(kernel_only(SCENARIOS))
