"""uipc.compat.sysv_ipc under sysv_ipc 1.2.0's own test suite, and an
unmodified two-process sysv_ipc program run by `uipc run --compat`."""
from __future__ import annotations

import errno
import gc
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

import uipc
from tests.compat import run_suites as rs
from tests.conftest import DaemonProc
from tests.helpers import Child, as_nobody
from uipc.compat import sysv_ipc as S

#: A program written against sysv_ipc alone: a producer and a consumer (its
#: own script, started as a second process) over a queue, then a ping-pong of
#: a counter in shared memory, turn by turn on two semaphores, the segment
#: guarded by a third; the consumer writes through memoryview(mem).  It
#: prints its tally and keys, waits for a line on stdin, then cleans up.
PROGRAM = r'''
import subprocess
import sys

import sysv_ipc

ITEMS, ROUNDS = 200, 25


def producer():
    q = sysv_ipc.MessageQueue(None, sysv_ipc.IPC_CREX)
    lock = sysv_ipc.Semaphore(None, sysv_ipc.IPC_CREX, initial_value=1)
    ping = sysv_ipc.Semaphore(None, sysv_ipc.IPC_CREX)
    pong = sysv_ipc.Semaphore(None, sysv_ipc.IPC_CREX)
    mem = sysv_ipc.SharedMemory(None, sysv_ipc.IPC_CREX, size=4096)
    keys = [q.key, lock.key, ping.key, pong.key, mem.key]
    consumer = subprocess.Popen([sys.executable, __file__, "consumer"] + [str(k) for k in keys])
    for i in range(ITEMS):
        q.send("item %d" % i, type=1)
    q.send(b"", type=2)
    tally, _ = q.receive(type=3)
    for i in range(ROUNDS):
        with lock:
            mem.write(b"%08d" % (2 * i))
        ping.release()
        pong.acquire(30)
        with lock:
            value = int(mem.read(8))
        assert value == 2 * i + 1, value
    print("ready", tally.decode(), value, " ".join(map(str, keys)), flush=True)
    sys.stdin.readline()
    ping.release()
    assert consumer.wait(30) == 0
    mem.detach()
    for obj in (mem, q, lock, ping, pong):
        obj.remove()
    print("done", flush=True)


def consumer(qkey, lockkey, pingkey, pongkey, memkey):
    q, mem = sysv_ipc.MessageQueue(qkey), sysv_ipc.SharedMemory(memkey)
    lock, ping, pong = (sysv_ipc.Semaphore(k) for k in (lockkey, pingkey, pongkey))
    items = []
    while True:
        msg, kind = q.receive()
        if kind == 2:
            break
        items.append(msg)
    q.send("%d items, last %s" % (len(items), items[-1].decode()), type=3)
    view = memoryview(mem)
    for _ in range(ROUNDS):
        ping.acquire(30)
        with lock:
            view[:8] = b"%08d" % (int(bytes(view[:8])) + 1)
        pong.release()
    ping.acquire(30)
    view.release()
    mem.detach()


if __name__ == "__main__":
    if sys.argv[1:2] == ["consumer"]:
        consumer(*[int(a) for a in sys.argv[2:]])
    else:
        producer()
'''


def kernel_ipc_keys() -> dict[str, set[int]]:
    """The keys of the machine's kernel IPC objects, per /proc/sysvipc table."""
    out = {}
    for kind in ("msg", "sem", "shm"):
        with open(f"/proc/sysvipc/{kind}") as f:
            out[kind] = {int(line.split()[0]) for line in list(f)[1:] if line.strip()}
    return out


def uipc_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "uipc.cli.main", *args]


def introspect_namespace(name: str) -> dict:
    """What the daemon holds in namespace ``name`` (asked from inside it)."""
    code = "import json, uipc; print(json.dumps(uipc.introspect.namespace()))"
    out = subprocess.run(uipc_cmd("run", "--namespace", name, "--", sys.executable, "-c", code),
                         env=rs.suite_env(), capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


#: the suites' summary lines, for the end of the test run (conftest.py)
SUITE_LINES: list[str] = []


@pytest.fixture(scope="session")
def sdist_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The pinned sdists, downloaded once per test run."""
    return tmp_path_factory.mktemp("sdists")


@pytest.mark.timeout(900)
@pytest.mark.parametrize("suite", ["sysv_ipc", "posix_ipc"])
def test_the_packages_own_suites_pass_under_uipc(daemon: DaemonProc, sdist_cache: Path,
                                                 tmp_path: Path, suite: str) -> None:
    """sysv_ipc 1.2.0's and posix_ipc 1.3.2's tests/, unmodified, pass against
    uipc.compat in a fresh uipc namespace: no failure outside KNOWN, and at
    least as many passes as the real packages in a private kernel namespace."""
    before = kernel_ipc_keys()
    [result] = rs.run_suites([suite], sdist_cache, tmp_path)
    SUITE_LINES.append(result.line())
    print(result.line())
    assert result.available and not result.problem, result.output[-5000:]
    assert result.unexpected == [], result.output[-20000:]
    assert result.passed >= rs.BASELINE[suite], result.line()
    # no object of the suite's went to the kernel (its keys are random: none new there)
    after = kernel_ipc_keys()
    assert all(after[k] <= before[k] for k in after), (before, after)


def test_two_process_program_lives_in_uipc_not_the_kernel(daemon: DaemonProc,
                                                          tmp_path: Path) -> None:
    """An unmodified sysv_ipc program (producer/consumer over a queue, a
    semaphore-guarded shared-memory ping-pong, two processes) runs under
    `uipc run --compat --new-namespace`: while it waits, the daemon holds its
    queue, three semaphores and the segment attached by both processes in
    that namespace, and the machine's kernel IPC table has none of them;
    afterwards the namespace is gone."""
    prog = tmp_path / "pingpong.py"
    prog.write_text(PROGRAM)
    name = f"sysv-compat-{os.getpid()}"
    before = kernel_ipc_keys()
    proc = subprocess.Popen(uipc_cmd("run", "--compat", "--new-namespace", "--name", name, "--",
                                     sys.executable, str(prog)),
                            env=rs.suite_env(), cwd=tmp_path, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdin is not None
        line = proc.stdout.readline().split()
        assert line[:4] == ["ready", "200", "items,", "last"], (line, proc.stderr.read())
        assert line[4:6] == ["item", "199"] and line[6] == "49"  # the counter went 0 -> 49
        qkey, lockkey, pingkey, pongkey, memkey = map(int, line[7:])
        state = introspect_namespace(name)
        kernel = kernel_ipc_keys()
        proc.stdin.write("\n")
        proc.stdin.flush()
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert out.split() == ["done"]
    # the objects lived in uipc, in the program's own namespace ...
    assert state["namespace"] == name
    assert [m["key"] for m in state["msg"]] == [qkey]
    assert sorted(s["key"] for s in state["sem"]) == sorted([lockkey, pingkey, pongkey])
    [shm] = state["shm"]
    assert shm["key"] == memkey and shm["size"] == 4096
    assert shm["nattch"] == 2 and len(shm["attachers"]) == 2  # producer and consumer
    # ... and never in the kernel's table
    for kind, keys in (("msg", [qkey]), ("sem", [lockkey, pingkey, pongkey]), ("shm", [memkey])):
        assert not (set(keys) & (kernel[kind] - before[kind])), (kind, keys, kernel[kind])
    assert name not in {n["name"] for n in uipc.introspect.namespaces()}  # freed with the program


def test_errors_are_the_packages_and_name_the_rule(ns: str) -> None:
    """Each errno becomes the exception (and text) sysv_ipc raises in that
    call, with uipc's explanation of the rule appended; ERANGE keeps the
    package's exact text (its tests compare it), the explanation its cause."""
    with pytest.raises(S.ExistentialError) as gone:
        S.Semaphore(0x5151)
    assert str(gone.value).startswith("No semaphore exists with the specified key (no sem ")
    assert "0x00005151" in str(gone.value) and "IPC_CREAT was not given" in str(gone.value)
    sem = S.Semaphore(None, S.IPC_CREX)
    with pytest.raises(S.ExistentialError, match=r"^A semaphore with the specified key already "
                                                 r"exists \(.+\)$"):
        S.Semaphore(sem.key, S.IPC_CREX)
    with pytest.raises(ValueError) as big:
        sem.value = S.SEMAPHORE_VALUE_MAX + 1
    assert str(big.value) == "The semaphore's value must remain between 0 and SEMVMX"
    assert isinstance(big.value.__cause__, OSError) and big.value.__cause__.errno == errno.ERANGE
    start = time.monotonic()
    with pytest.raises(S.BusyError, match=r"^The semaphore is busy \(.+\)$"):
        sem.acquire(0.2)  # semtimedop: SEMAPHORE_TIMEOUT_SUPPORTED
    assert time.monotonic() - start >= 0.2
    sem.block = False
    with pytest.raises(S.BusyError):
        sem.acquire()
    sem.remove()
    q = S.MessageQueue(None, S.IPC_CREX, max_message_size=8)
    with pytest.raises(S.BusyError, match="^No available messages of the specified type"):
        q.receive(block=False)
    with pytest.raises(ValueError, match=r"exceeds queue's max_message_size \(8\)"):
        q.send(b"123456789")
    q.remove()
    with pytest.raises(S.ExistentialError, match="^The queue no longer exists"):
        q.remove()


def _mappings() -> int:
    with open("/proc/self/maps") as f:
        return sum(1 for _ in f)


def _cycle(size: int) -> None:
    mem = S.SharedMemory(None, S.IPC_CREX, size=size)
    view = memoryview(mem)
    view[0] = 1
    mem.detach()
    mem.attach()
    assert view[0] == 1
    mem.detach()
    mem.remove()


def test_shared_memory_buffer_is_the_segment_while_attached(ns: str) -> None:
    """memoryview(mem) is the segment itself (writable, 'B', the segment's
    size) while attached; after detach() it reads zeros (never a crash, never
    the segment), after attach() the segment again; handles created, detached
    and dropped leave no mapping behind; one dropped while attached stays
    attached (until exit), as the C package's mapping does."""
    mem = S.SharedMemory(None, S.IPC_CREX, size=3333)
    view = memoryview(mem)
    assert (view.format, view.readonly, view.shape) == ("B", False, (3333,))
    assert bytes(view[:3]) == b"   "  # init_character
    view[:5] = b"hello"
    other = S.attach(mem.id)
    assert other.read(5) == b"hello" and mem.number_attached == 2
    mem.detach()
    assert bytes(view[:5]) == bytes(5) and other.read(5) == b"hello"
    mem.attach()
    assert bytes(view[:5]) == b"hello" and mem.address != 0
    other.write(b"HE")
    assert bytes(view[:5]) == b"HEllo" and bytearray(mem)[:5] == b"HEllo"
    for _ in range(5):
        _cycle(4096)
    gc.collect()
    before = _mappings()
    for i in range(50):
        _cycle(1000 + 97 * i)
    gc.collect()
    assert _mappings() == before
    other.detach()
    view.release()
    mem.detach()
    mem.remove()

    def drop_attached() -> int:  # in a child: the attachment it leaves ends with it
        kept = S.SharedMemory(None, S.IPC_CREX)
        key = kept.key
        del kept
        gc.collect()
        again = S.SharedMemory(key)
        try:
            return again.number_attached  # the dropped handle's and this one's
        finally:
            again.remove()
    assert Child(drop_attached).result() == 2


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run a child as another user")
def test_other_users_get_the_packages_permission_errors(ns: str) -> None:
    """Another user meets the package's exceptions: PermissionsError to open
    (EACCES) and, where the C code maps EPERM, to remove; a semaphore's EPERM
    is the C default case, a plain OSError (PermissionError)."""
    sem = S.Semaphore(None, S.IPC_CREX)
    q = S.MessageQueue(None, S.IPC_CREX)
    mem = S.SharedMemory(None, S.IPC_CREX)

    def attempt(fn) -> str:  # exceptions of module 'sysv_ipc' do not unpickle here
        try:
            fn()
        except Exception as exc:  # noqa: BLE001 - the child reports its type
            return type(exc).__qualname__
        return "ok"

    got = as_nobody(lambda: [attempt(lambda: S.Semaphore(sem.key)),
                             attempt(lambda: S.MessageQueue(q.key)),
                             attempt(lambda: S.SharedMemory(mem.key)),
                             attempt(lambda: S.remove_semaphore(sem.id)),
                             attempt(lambda: S.remove_message_queue(q.id)),
                             attempt(lambda: S.remove_shared_memory(mem.id))])
    assert got == ["PermissionsError"] * 3 + ["PermissionError"] + ["PermissionsError"] * 2
    mem.detach()
    for obj in (sem, q, mem):
        obj.remove()


def _suite(outcomes: dict[str, str], summary: str) -> str:
    lines = [f"{o} {n}" for n, o in outcomes.items()]
    return "\n".join(["collected 3 items", *lines, f"======== {summary} in 1.23s ========"])


def test_report_fails_on_unexpected_failure_and_reports_known_passes(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """run_suites' verdict: a failure outside KNOWN is exit status 1, a KNOWN
    failure is not, a KNOWN test that passed is reported; a missing drop-in
    is "not available" and no failure."""
    monkeypatch.setitem(rs.KNOWN, "sysv_ipc", {"tests/t.py::T::test_known": "why"})
    counts, outcomes = rs.parse_pytest(_suite({"tests/t.py::T::test_a": "PASSED",
                                               "tests/t.py::T::test_known": "FAILED"},
                                              "1 failed, 1 passed, 1 skipped"))
    ok = rs.SuiteResult("sysv_ipc", passed=counts["passed"], failed=counts["failed"],
                        skipped=counts["skipped"], outcomes=outcomes)
    assert ok.line() == "sysv_ipc suite: 1 passed, 1 failed, 1 skipped" and ok.ok
    assert rs.report([ok, rs.SuiteResult("posix_ipc", available=False)]) == 0
    assert "posix_ipc suite: not available" in capsys.readouterr().out

    _, outcomes = rs.parse_pytest(_suite({"tests/t.py::T::test_a": "FAILED",
                                          "tests/t.py::T::test_known": "PASSED"},
                                         "1 failed, 1 passed"))
    bad = rs.SuiteResult("sysv_ipc", passed=1, failed=1, outcomes=outcomes)
    assert bad.unexpected == ["tests/t.py::T::test_a"]
    assert bad.known_passed == ["tests/t.py::T::test_known"]
    assert rs.report([bad]) == 1
    printed = capsys.readouterr().out
    assert "unexpected failure: tests/t.py::T::test_a" in printed
    assert "KNOWN but passed: tests/t.py::T::test_known (why)" in printed
