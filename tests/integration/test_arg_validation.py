"""Wrong Python arguments: a clear TypeError/ValueError before anything is sent.

Each row of BAD is one call, the exception it must raise and a fragment of
its message.  Each runs against a namespace holding a queue, a semaphore set
and an attached segment; the namespace must read the same afterwards: no
object created, none changed (a request that reached the daemon would show
in otime, qnum, values or nattch).  Values C can pass go to the daemon and
keep Linux's errno (KERNEL_ERRNO); constructors that fail there leave nothing.
"""
from __future__ import annotations

import errno
import os
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import pytest

import uipc
from tests.helpers import as_nobody

NAN, INF = float("nan"), float("inf")
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to setuid a child")


@dataclass
class Env:
    q: int
    s: int
    mq: uipc.MessageQueue
    sems: uipc.SemaphoreSet
    mem: uipc.SharedMemory


@pytest.fixture
def env(ns: str) -> Iterator[Env]:
    mq = uipc.MessageQueue(remove_on_exit=True)
    sems = uipc.SemaphoreSet(None, 2, remove_on_exit=True)
    mem = uipc.SharedMemory(size=4096, remove_on_exit=True)
    with mq, sems, mem:
        yield Env(mq.id, sems.id, mq, sems, mem)
    assert state() == {"msg": [], "sem": [], "shm": []}


def state() -> dict[str, Any]:
    """Every object of the namespace as the daemon shows it (not the processes)."""
    ns = uipc.introspect.namespace()
    return {k: ns[k] for k in ("msg", "sem", "shm")}


def objects() -> dict[str, list[int]]:
    """The ids of the namespace's objects, nothing else."""
    return {k: [o["id"] for o in v] for k, v in state().items()}


Call = Callable[[Env], Any]
BAD: list[tuple[str, Call, type[Exception], str]] = [
    # --- the four from the issue ------------------------------------------------
    ("shmdt str", lambda e: uipc.shmdt("0x1000"), TypeError, "shmaddr must be an int, not str"),
    ("send_many str item", lambda e: e.mq.send_many(["a"]), TypeError,
     "message 0 must be bytes or a (type, bytes) pair, not str"),
    ("semtimedop inf", lambda e: uipc.semtimedop(e.s, [(0, 1, 0)], INF), ValueError, "timeout must be finite"),
    ("Semaphore value -1", lambda e: uipc.Semaphore(None, value=-1), ValueError,
     "value must be in [0, 65535], not -1"),
    # --- system calls: wrong types ------------------------------------------------
    ("msgget key None", lambda e: uipc.msgget(None, 0), TypeError, "key must be an int, not NoneType"),
    ("msgget key bool", lambda e: uipc.msgget(True, 0), TypeError, "key must be an int, not bool"),
    ("msgget flags str", lambda e: uipc.msgget(0, "0o600"), TypeError, "msgflg must be an int, not str"),
    ("msgsnd mtype None", lambda e: uipc.msgsnd(e.q, None, b"x"), TypeError, "mtype must be an int"),
    ("msgsnd mtext None", lambda e: uipc.msgsnd(e.q, 1, None), TypeError, "mtext must be bytes-like, not NoneType"),
    ("msgsnd mtext str", lambda e: uipc.msgsnd(e.q, 1, "x"), TypeError, "encode it first"),
    ("msgrcv msgsz float", lambda e: uipc.msgrcv(e.q, 1.5, 0), TypeError, "msgsz must be an int, not float"),
    ("msgctl cmd None", lambda e: uipc.msgctl(e.q, None), TypeError, "cmd must be an int, not NoneType"),
    ("msgctl IPC_SET dict", lambda e: uipc.msgctl(e.q, uipc.IPC_SET, {}), TypeError, "IPC_SET needs a MsqidDs"),
    ("semget nsems None", lambda e: uipc.semget(0, None, 0o600), TypeError, "nsems must be an int"),
    ("semop sops None", lambda e: uipc.semop(e.s, None), TypeError, "sops must be a list of (sem_num"),
    ("semop sops str", lambda e: uipc.semop(e.s, "ab"), TypeError, "sops must be a list of (sem_num"),
    ("semop one bare tuple", lambda e: uipc.semop(e.s, (0, 1, 0)), TypeError, "each sembuf is"),
    ("semop bytes sembuf", lambda e: uipc.semop(e.s, [b"\x00\x01"]), TypeError, "each sembuf is"),
    ("semop short sembuf", lambda e: uipc.semop(e.s, [(0,)]), TypeError, "each sembuf is"),
    ("semop long sembuf", lambda e: uipc.semop(e.s, [(0, 1, 0, 0)]), TypeError, "each sembuf is"),
    ("semop sem_op float", lambda e: uipc.semop(e.s, [(0, 1.0)]), TypeError, "sem_op must be an int, not float"),
    ("semtimedop timeout str", lambda e: uipc.semtimedop(e.s, [(0, 1)], "1"), TypeError,
     "timeout must be a number of seconds or None, not str"),
    ("semtimedop timeout bool", lambda e: uipc.semtimedop(e.s, [(0, 1)], True), TypeError,
     "not bool"),
    ("semctl semnum None", lambda e: uipc.semctl(e.s, None, uipc.GETVAL), TypeError, "semnum must be an int"),
    ("semctl SETVAL None", lambda e: uipc.semctl(e.s, 0, uipc.SETVAL, None), TypeError,
     "SETVAL value must be an int"),
    ("semctl SETALL None", lambda e: uipc.semctl(e.s, 0, uipc.SETALL, None), TypeError,
     "SETALL needs a sequence of ints, not NoneType"),
    ("semctl SETALL bytes", lambda e: uipc.semctl(e.s, 0, uipc.SETALL, b"\x01\x02"), TypeError,
     "SETALL needs a sequence of ints, not bytes"),
    ("semctl SETALL str item", lambda e: uipc.semctl(e.s, 0, uipc.SETALL, [1, "2"]), TypeError,
     "SETALL values must be ints, not str"),
    ("shmget size None", lambda e: uipc.shmget(0, None, 0o600), TypeError, "size must be an int"),
    ("shmat shmid None", lambda e: uipc.shmat(None), TypeError, "shmid must be an int, not NoneType"),
    ("shmat shmaddr float", lambda e: uipc.shmat(e.mem.id, 4096.0), TypeError, "shmaddr must be an int"),
    ("shmdt float", lambda e: uipc.shmdt(1.5), TypeError, "shmaddr must be an int, not float"),
    ("shm_view None", lambda e: uipc.shm_view(None), ValueError, "no segment is attached at 0x0"),
    ("shm_view str", lambda e: uipc.shm_view("x"), TypeError, "shmaddr must be an int, not str"),
    ("shmctl cmd None", lambda e: uipc.shmctl(e.mem.id, None), TypeError, "cmd must be an int"),
    # --- system calls: values no C type of the argument holds ---------------------
    ("msgget key > 32 bits", lambda e: uipc.msgget(1 << 40, 0), ValueError, "does not fit a C int"),
    ("msgsnd mtype > 64 bits", lambda e: uipc.msgsnd(e.q, 1 << 64, b""), ValueError, "does not fit a C long"),
    ("msgrcv msgsz > 64 bits", lambda e: uipc.msgrcv(e.q, 1 << 65, 0), ValueError, "does not fit a size_t"),
    ("semget nsems > 32 bits", lambda e: uipc.semget(0, 1 << 40, 0o600), ValueError, "does not fit a C int"),
    ("semop sem_num > u16", lambda e: uipc.semop(e.s, [(70000, 1)]), ValueError,
     "sem_num 70000 does not fit an unsigned short"),
    ("semop sem_num negative", lambda e: uipc.semop(e.s, [(-1, 1)]), ValueError, "does not fit an unsigned short"),
    ("semop sem_op > short", lambda e: uipc.semop(e.s, [(0, 40000)]), ValueError, "sem_op 40000 does not fit a short"),
    ("semtimedop NaN", lambda e: uipc.semtimedop(e.s, [(0, 1)], NAN), ValueError, "not nan"),
    ("semtimedop -inf", lambda e: uipc.semtimedop(e.s, [(0, 1)], -INF), ValueError, "must be finite"),
    ("semctl SETALL -1", lambda e: uipc.semctl(e.s, 0, uipc.SETALL, [0, -1]), ValueError,
     "SETALL value -1 does not fit an unsigned short"),
    ("semctl semnum > 32 bits", lambda e: uipc.semctl(e.s, 1 << 33, uipc.GETVAL), ValueError, "does not fit a C int"),
    ("shmget size > 64 bits", lambda e: uipc.shmget(0, 1 << 65, 0o600), ValueError, "does not fit a size_t"),
    ("shmat shmaddr > 64 bits", lambda e: uipc.shmat(e.mem.id, 1 << 65), ValueError, "does not fit a pointer"),
    ("shmdt > 64 bits", lambda e: uipc.shmdt(1 << 65), ValueError, "does not fit a pointer"),
    # --- batches -------------------------------------------------------------------
    ("msgsnd_many None", lambda e: uipc.msgsnd_many(e.q, None), TypeError,
     "messages must be an iterable of (mtype, mtext) pairs, not NoneType"),
    ("msgsnd_many bytes", lambda e: uipc.msgsnd_many(e.q, b"ab"), TypeError, "not bytes"),
    ("msgsnd_many bare bytes item", lambda e: uipc.msgsnd_many(e.q, [(1, b"ok"), b"ab"]), TypeError,
     "message 1 must be an (mtype, mtext) pair, not bytes"),
    ("msgsnd_many triple", lambda e: uipc.msgsnd_many(e.q, [(1, b"a", 0)]), TypeError,
     "message 0 must be an (mtype, mtext) pair, not a tuple of 3"),
    ("msgsnd_many str mtext", lambda e: uipc.msgsnd_many(e.q, [(1, b"ok"), (1, "no")]), TypeError,
     "message 1: mtext must be bytes-like, not str"),
    ("msgsnd_many str mtype", lambda e: uipc.msgsnd_many(e.q, [("1", b"x")]), TypeError,
     "message 0: mtype must be an int, not str"),
    ("msgsnd_many 1025", lambda e: uipc.msgsnd_many(e.q, [(1, b"")] * 1025), ValueError, "at most 1024"),
    ("msgrcv_many count None", lambda e: uipc.msgrcv_many(e.q, 64, 0, None), TypeError, "count must be an int"),
    ("msgrcv_many count 0", lambda e: uipc.msgrcv_many(e.q, 64, 0, 0), ValueError, "count must be in [1, 1024]"),
    ("Batch.semtimedop NaN", lambda e: uipc.Batch().semtimedop(e.s, [(0, 1)], NAN), ValueError, "must be finite"),
    ("Batch.msgsnd None", lambda e: uipc.Batch().msgsnd(e.q, 1, None), TypeError, "mtext must be bytes-like"),
    # --- MessageQueue ----------------------------------------------------------------
    ("MessageQueue key bytes", lambda e: uipc.MessageQueue(b"name"), TypeError,
     "key must be an int, a str name or None, not bytes"),
    ("MessageQueue key float", lambda e: uipc.MessageQueue(1.0, create=True), TypeError, "not float"),
    ("MessageQueue mode None", lambda e: uipc.MessageQueue(mode=None), TypeError, "mode must be an int"),
    ("MessageQueue mode with flags", lambda e: uipc.MessageQueue(mode=uipc.IPC_CREAT | 0o600), ValueError,
     "is not permission bits"),
    ("MessageQueue max_message_size -1", lambda e: uipc.MessageQueue(max_message_size=-1), ValueError,
     "max_message_size must be >= 0, not -1"),
    ("MessageQueue max_message_size str", lambda e: uipc.MessageQueue(max_message_size="8k"), TypeError,
     "max_message_size must be an int"),
    ("send_many None", lambda e: e.mq.send_many(None), TypeError, "not NoneType"),
    ("send_many 1-tuple", lambda e: e.mq.send_many([b"ok", (1,)]), TypeError,
     "message 1 must be bytes or a (type, bytes) pair, not a tuple of 1"),
    ("send_many str data", lambda e: e.mq.send_many([(2, "x")]), TypeError, "mtext must be bytes-like, not str"),
    ("send data str", lambda e: e.mq.send("text"), TypeError, "encode it first"),
    ("receive_many count 2.0", lambda e: e.mq.receive_many(2.0), TypeError, "count must be an int, not float"),
    ("key_from_name None", lambda e: uipc.key_from_name(None), TypeError, "name must be a str"),
    # --- SemaphoreSet / Semaphore ----------------------------------------------------
    ("Semaphore value None", lambda e: uipc.Semaphore(None, value=None), TypeError, "value must be an int"),
    ("Semaphore value 1<<20", lambda e: uipc.Semaphore("lock", value=1 << 20, create=True), ValueError,
     "value must be in [0, 65535]"),
    ("SemaphoreSet n str", lambda e: uipc.SemaphoreSet(None, "2"), TypeError, "n must be an int, not str"),
    ("SemaphoreSet key bytes", lambda e: uipc.SemaphoreSet(b"k", 1, create=True), TypeError,
     "a str name or None, not bytes"),
    ("SemaphoreSet mode str", lambda e: uipc.SemaphoreSet(None, 1, mode="600"), TypeError, "mode must be an int"),
    ("SemaphoreSet initial too short", lambda e: uipc.SemaphoreSet(None, 3, initial=[1, 1]), ValueError,
     "initial has 2 values for 3 semaphores"),
    ("SemaphoreSet initial -1", lambda e: uipc.SemaphoreSet("set", 2, create=True, initial=[1, -1]), ValueError,
     "initial value -1 does not fit an unsigned short"),
    ("SemaphoreSet initial str", lambda e: uipc.SemaphoreSet(None, 2, initial="11"), TypeError,
     "initial needs a sequence of ints, not str"),
    ("SemaphoreSet initial bool", lambda e: uipc.SemaphoreSet(None, 2, initial=True), TypeError,
     "initial must be an int, not bool"),
    ("apply op int", lambda e: e.sems.apply([1]), TypeError, "each operation is (index, delta[, flags]), not 1"),
    ("apply op 4-tuple", lambda e: e.sems.apply([(0, 1, 0, 0)]), TypeError, "each operation is"),
    ("apply flags None", lambda e: e.sems.apply([(0, 1, None)]), TypeError, "flags must be an int, not NoneType"),
    ("apply ops None", lambda e: e.sems.apply(None), TypeError, "ops must be a list of (index, delta"),
    ("acquire delta None", lambda e: e.sems.acquire(0, None), TypeError, "delta must be an int"),
    ("acquire delta 0", lambda e: e.sems.acquire(0, 0), ValueError, "delta must be in [1, 32768], not 0"),
    ("acquire delta -1", lambda e: e.sems.acquire(0, -1), ValueError, "delta must be in"),
    ("release delta 0", lambda e: e.sems.release(0, 0), ValueError, "delta must be in [1, 32767]"),
    ("acquire index str", lambda e: e.sems.acquire("0"), TypeError, "sem_num must be an int, not str"),
    ("acquire timeout inf", lambda e: e.sems.acquire(timeout=INF), ValueError, "must be finite"),
    ("acquire timeout NaN", lambda e: e.sems.acquire(timeout=NAN), ValueError, "must be finite"),
    ("values = None", lambda e: setattr(e.sems, "values", None), TypeError, "SETALL needs a sequence of ints"),
    ("set_value None", lambda e: e.sems.set_value(0, None), TypeError, "SETVAL value must be an int"),
    # --- SharedMemory ----------------------------------------------------------------
    ("SharedMemory size None", lambda e: uipc.SharedMemory(size=None), TypeError, "size must be an int"),
    ("SharedMemory size > 64 bits", lambda e: uipc.SharedMemory(size=1 << 65), ValueError, "does not fit a size_t"),
    ("SharedMemory key list", lambda e: uipc.SharedMemory([1], 16), TypeError, "not list"),
    ("SharedMemory mode -1", lambda e: uipc.SharedMemory(size=16, mode=-1), ValueError, "is not permission bits"),
    ("read n str", lambda e: e.mem.read("3"), TypeError, "n must be an int, not str"),
    ("read n -1", lambda e: e.mem.read(-1), ValueError, "n must be >= 0, not -1"),
    ("read offset -5", lambda e: e.mem.read(3, offset=-5), ValueError, "offset must be in [0, 4096], not -5"),
    ("read offset past the end", lambda e: e.mem.read(1, offset=5000), ValueError, "offset must be in [0, 4096]"),
    ("write offset float", lambda e: e.mem.write(b"x", 1.0), TypeError, "offset must be an int, not float"),
    ("write data str", lambda e: e.mem.write("x"), TypeError, "data must be bytes-like, not str"),
    ("write too long", lambda e: e.mem.write(b"x" * 5000), ValueError, "do not fit 4096 bytes"),
]


@pytest.mark.parametrize("call, exc, fragment", [row[1:] for row in BAD], ids=[row[0] for row in BAD])
def test_bad_argument_is_refused_before_anything_is_sent(env: Env, call: Call, exc: type[Exception],
                                                         fragment: str) -> None:
    before = state()
    with pytest.raises(exc) as info:
        call(env)
    assert type(info.value) is exc  # not an OSError, not an OverflowError, no subclass
    assert fragment in str(info.value)
    assert state() == before


#: values C can pass: the daemon answers with Linux's errno, and nothing is left
KERNEL_ERRNO: list[tuple[str, Call, int]] = [
    ("shmdt NULL", lambda e: uipc.shmdt(None), errno.EINVAL),             # shmdt(NULL)
    ("shmdt unattached", lambda e: uipc.shmdt(e.mem.addr + 4096), errno.EINVAL),
    ("msgsnd mtype 0", lambda e: uipc.msgsnd(e.q, 0, b"x"), errno.EINVAL),
    ("send type 0", lambda e: e.mq.send(b"x", type=0), errno.EINVAL),
    ("msgsnd_many mtype 0", lambda e: uipc.msgsnd_many(e.q, [(0, b"x")]), errno.EINVAL),
    ("msgrcv msgsz -1", lambda e: uipc.msgrcv(e.q, -1, 0, uipc.IPC_NOWAIT), errno.EINVAL),
    ("semop no sops", lambda e: uipc.semop(e.s, []), errno.EINVAL),
    ("semtimedop negative", lambda e: uipc.semtimedop(e.s, [(0, 1)], -0.5), errno.EINVAL),
    ("semctl SETVAL -1", lambda e: uipc.semctl(e.s, 0, uipc.SETVAL, -1), errno.ERANGE),
    ("semctl SETALL count", lambda e: uipc.semctl(e.s, 0, uipc.SETALL, [1]), errno.EFAULT),
    ("semget nsems 0", lambda e: uipc.semget(uipc.IPC_PRIVATE, 0, 0o600), errno.EINVAL),
    ("shmget size -1", lambda e: uipc.shmget(uipc.IPC_PRIVATE, -1, 0o600), errno.EINVAL),
    ("SharedMemory size 0", lambda e: uipc.SharedMemory(size=0), errno.EINVAL),
    # created, then refused by the kernel (SEMVMX): the constructor removes it again
    ("Semaphore value 40000", lambda e: uipc.Semaphore(None, value=40000), errno.ERANGE),
    ("SemaphoreSet named ERANGE", lambda e: uipc.SemaphoreSet("named", 2, create=True, initial=[1, 32768]),
     errno.ERANGE),
]


@pytest.mark.parametrize("call, err", [row[1:] for row in KERNEL_ERRNO], ids=[row[0] for row in KERNEL_ERRNO])
def test_values_c_can_pass_keep_linux_errno_and_leave_nothing(env: Env, call: Call, err: int) -> None:
    before = state()
    with pytest.raises(OSError) as info:
        call(env)
    assert info.value.errno == err
    assert state() == before


def test_failed_named_semaphoreset_frees_its_key(env: Env) -> None:
    with pytest.raises(OSError):
        uipc.SemaphoreSet("frees", 1, create=True, initial=40000)
    with pytest.raises(OSError) as info:
        uipc.SemaphoreSet("frees", 1)                  # open only: it must not exist
    assert info.value.errno == errno.ENOENT
    ok = uipc.SemaphoreSet("frees", 1, create=True, initial=3, remove_on_exit=True)
    with ok:
        assert ok.values == [3]


def test_bad_batch_calls_record_nothing(env: Env) -> None:
    b = uipc.Batch()
    b.msgsnd(env.q, 1, b"kept")
    for bad in (lambda: b.semtimedop(env.s, [(0, 1)], INF), lambda: b.semop(env.s, [(0,)]),
                lambda: b.msgsnd(env.q, 1, "str"), lambda: b.semctl(env.s, 0, uipc.SETALL, [-1, 0])):
        with pytest.raises((TypeError, ValueError)):
            bad()
    assert len(b) == 1
    assert b.submit() == [None]
    assert uipc.msgrcv(env.q, 64, 0, uipc.IPC_NOWAIT) == (1, b"kept")




@needs_root
def test_shared_memory_that_cannot_attach_removes_only_what_it_created(env: Env) -> None:
    theirs = uipc.shmget(0x5EED, 4096, uipc.IPC_CREAT | 0o444)   # root's, read-only for all
    try:
        # a forked child changes the env segment's lpid/dtime (fork, exit): compare ids
        before = objects()

        def child() -> list[int]:
            got = []
            for make in (lambda: uipc.SharedMemory(size=4096, mode=0o400),            # ours: EACCES rw
                         lambda: uipc.SharedMemory(0x5EED, create=True, mode=0o400)):  # theirs: EACCES rw
                try:
                    make()
                    got.append(0)
                except OSError as exc:
                    got.append(exc.errno)
            return got

        assert as_nobody(child) == [errno.EACCES, errno.EACCES]
        assert objects() == before                 # ours went again; theirs is still there
        assert uipc.shmctl(theirs, uipc.IPC_STAT).shm_perm.key == 0x5EED
    finally:
        uipc.shmctl(theirs, uipc.IPC_RMID)
