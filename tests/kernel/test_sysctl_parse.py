"""How a write(2) to an IPC sysctl is parsed (uipc/kernel/sysctl.py, kernel/sysctl.c).

A table of writes with what Linux 6.18 answered to each (measured in a fresh
``unshare --ipc`` namespace: write(2)'s return, bytes consumed or errno, and
the value read back), checked against the core; then a differential test
that makes every write of :data:`INPUTS` to every IPC sysctl on the real
kernel (a fresh IPC namespace each) and through the core's sysctl op, and
compares the three.

Rules the table pins (proc_get_long, __do_proc_dointvec, proc_ipc_sem_dointvec):
base 0 ("0x10" is 16, "010" is 8, "09" is EINVAL); only isspace() before a
number (0xA0 included, as lib/ctype.c has it); only a space, tab or newline
after it ("5\\r\\n", "5x", "5\\0" are EINVAL); no '+'; '-' only for int
sysctls (not even "-0" for the unsigned ones); a scalar takes the first
number and leaves the rest unconsumed; kernel.sem keeps what it parsed
before a bad number, and a semmni outside [0, IPCMNI] is ERANGE; numbers of
21 characters are EINVAL; only the first PAGE_SIZE - 1 bytes are read; an
empty write does nothing, one of white space only is EINVAL.
"""
from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import textwrap

import pytest

from uipc.kernel import KernelError
from uipc.kernel import sysctl
from uipc.kernel.namespace import IpcNamespace

from tests.kernel.conftest import World

EINVAL, ERANGE = f"errno {errno.EINVAL}", f"errno {errno.ERANGE}"
SEM_DEFAULT = "32000\t1024000000\t500\t32000"
SHM_DEFAULT = "18446744073692774399"

#: (sysctl, bytes written, write(2)'s result: bytes consumed or "errno N",
#: the value read back), as Linux 6.18 answered in a fresh IPC namespace
CASES: list[tuple[str, bytes, int | str, str]] = [
    # base 0
    ("kernel.msgmax", b"0x10", 4, "16"),
    ("kernel.msgmax", b"0X1f", 4, "31"),
    ("kernel.msgmax", b"010", 3, "8"),
    ("kernel.msgmax", b"09", EINVAL, "8192"),
    ("kernel.msgmax", b"0x", EINVAL, "8192"),
    ("kernel.msgmax", b"0xg", EINVAL, "8192"),
    ("kernel.msgmax", b"00", 2, "0"),
    ("kernel.msgmax", b"0x7fffffff", 10, "2147483647"),
    ("kernel.shmmax", b"0xffffffffffffffff", 18, "18446744073709551615"),
    # signs
    ("kernel.msgmax", b"+12", EINVAL, "8192"),
    ("kernel.msgmax", b"-12", EINVAL, "8192"),
    ("kernel.msgmax", b"-0", 2, "0"),
    ("kernel.msgmax", b"-", EINVAL, "8192"),
    ("kernel.msgmax", b"--1", EINVAL, "8192"),
    ("kernel.msgmax", b"- 1", EINVAL, "8192"),
    ("fs.mqueue.queues_max", b"-12", 3, "-12"),
    ("fs.mqueue.queues_max", b"-2147483648", 11, "-2147483648"),
    ("fs.mqueue.queues_max", b"-2147483649", EINVAL, "256"),
    ("kernel.shmmax", b"-0", EINVAL, SHM_DEFAULT),
    ("kernel.shmmax", b"-1", EINVAL, SHM_DEFAULT),
    # white space: isspace() before, only " \t\n" after
    ("kernel.msgmax", b"5\n", 2, "5"),
    ("kernel.msgmax", b"5\r\n", EINVAL, "8192"),
    ("kernel.msgmax", b"5\r", EINVAL, "8192"),
    ("kernel.msgmax", b"\r5", 2, "5"),
    ("kernel.msgmax", b"\v5\f", EINVAL, "8192"),
    ("kernel.msgmax", b"5\t", 2, "5"),
    ("kernel.msgmax", b" \t5 \n\n", 6, "5"),
    ("kernel.msgmax", b"\xa05", 2, "5"),
    ("kernel.msgmax", b"5\xa0", EINVAL, "8192"),
    ("kernel.msgmax", b"\xc2\xa05", EINVAL, "8192"),
    ("kernel.msgmax", b"5\x00", EINVAL, "8192"),
    ("kernel.msgmax", b"5x", EINVAL, "8192"),
    # empty, or no number
    ("kernel.msgmax", b"", 0, "8192"),
    ("kernel.msgmax", b"\n", EINVAL, "8192"),
    ("kernel.msgmax", b" \t\n", EINVAL, "8192"),
    # a scalar takes the first number; the rest is left unconsumed
    ("kernel.msgmax", b"5 6", 2, "5"),
    ("kernel.msgmax", b"5\t6", 2, "5"),
    ("kernel.msgmax", b"5 x", 2, "5"),
    ("kernel.shmmax", b"7 -8 9 10", 2, "7"),
    # kernel.sem: a vector of four, stored as parsed
    ("kernel.sem", b"5 6", 3, "5\t6\t500\t32000"),
    ("kernel.sem", b"5 x", EINVAL, "5\t1024000000\t500\t32000"),
    ("kernel.sem", b"1 2 x", EINVAL, "1\t2\t500\t32000"),
    ("kernel.sem", b"1 2 3 4 x", 8, "1\t2\t3\t4"),
    ("kernel.sem", b"5 6 7 8 9", 8, "5\t6\t7\t8"),
    ("kernel.sem", b"7 -8 9 10", 9, "7\t-8\t9\t10"),
    ("kernel.sem", b"1 2 3 32768", 11, "1\t2\t3\t32768"),
    ("kernel.sem", b"1 2 3 32769", ERANGE, "1\t2\t3\t32000"),
    ("kernel.sem", b"1 2 3 -1", ERANGE, "1\t2\t3\t32000"),
    ("kernel.sem", b"5x", EINVAL, SEM_DEFAULT),
    ("kernel.sem", b"2147483648", EINVAL, SEM_DEFAULT),
    # sizes
    ("kernel.msgmax", b"2147483647", 10, "2147483647"),
    ("kernel.msgmax", b"2147483648", EINVAL, "8192"),
    ("kernel.shmmax", b"18446744073709551615", 20, "18446744073709551615"),
    ("kernel.shmmax", b"18446744073709551616", EINVAL, SHM_DEFAULT),
    ("kernel.msgmax", b"00000000000000000001", 20, "1"),
    ("kernel.msgmax", b"000000000000000000001", EINVAL, "8192"),
    ("kernel.msgmax", b" " * 4094 + b"5", 4095, "5"),
    ("kernel.msgmax", b" " * 4095 + b"5", EINVAL, "8192"),
    ("kernel.msgmax", b"5" + b" " * 5000 + b"x", 5002, "5"),
    # ranges
    ("kernel.msgmni", b"32768", 5, "32768"),
    ("kernel.msgmni", b"32769", EINVAL, "32000"),
    ("kernel.shmmni", b"32769", EINVAL, "4096"),
    ("kernel.shm_rmid_forced", b"1", 1, "1"),
    ("kernel.shm_rmid_forced", b"2", EINVAL, "0"),
    ("kernel.msg_next_id", b"2147483647", 10, "2147483647"),
    ("kernel.msg_next_id", b"-1", EINVAL, "-1"),
    ("kernel.sem_next_id", b"0", 1, "0"),
    ("kernel.shm_next_id", b"-0", 2, "0"),
    ("fs.mqueue.msg_max", b"0", EINVAL, "10"),
    ("fs.mqueue.msg_max", b"65536", 5, "65536"),
    ("fs.mqueue.msg_max", b"65537", EINVAL, "10"),
    ("fs.mqueue.msgsize_max", b"127", EINVAL, "8192"),
    ("fs.mqueue.msgsize_max", b"16777216", 8, "16777216"),
    ("fs.mqueue.msgsize_default", b"16777217", EINVAL, "8192"),
    ("fs.mqueue.msg_default", b"1", 1, "1"),
    # do_proc_douintvec (fs.pipe-max-size, global on Linux: measured by writing
    # its current value, 1048576, in these forms): one number, all consumed
    ("fs.pipe-max-size", b"0x100000", 8, "1048576"),
    ("fs.pipe-max-size", b"04000000", 8, "1048576"),
    ("fs.pipe-max-size", b"1048576 6", 9, "1048576"),
    ("fs.pipe-max-size", b"1048576 x", 9, "1048576"),
    ("fs.pipe-max-size", b"1048576" + b" " * 5000 + b"x", 5008, "1048576"),
    ("fs.pipe-max-size", b"1048576x", EINVAL, "1048576"),
    ("fs.pipe-max-size", b"1048576\r", EINVAL, "1048576"),
    ("fs.pipe-max-size", b"-0", EINVAL, "1048576"),
    ("fs.pipe-max-size", b"\n", EINVAL, "1048576"),
    ("fs.pipe-max-size", b"", 0, "1048576"),
]


def core_write(name: str, data: bytes) -> tuple[int | str, str]:
    """sysctl.set on a fresh namespace: (consumed or "errno N", value after)."""
    ns = IpcNamespace()
    try:
        out: int | str = sysctl.set(ns, name, data)
    except KernelError as exc:
        out = f"errno {exc.errno}"
    return out, sysctl.get(ns, name)


def op_write(name: str, data: bytes) -> tuple[str, str]:
    """The sysctl op (write=1) as root in a fresh kernel: ("ok" or "errno N",
    value after).  The op's text is the bytes decoded as the daemon decodes
    them, with surrogateescape for bytes that are not UTF-8."""
    w = World()
    t = w.proc_task()
    try:
        w.call(t, "sysctl", 1, f"{name}={data.decode('utf-8', 'surrogateescape')}")
        out = "ok"
    except KernelError as exc:
        out = f"errno {exc.errno}"
    return out, w.call(t, "sysctl", 0, name)


@pytest.mark.parametrize("name, data, result, after", CASES,
                         ids=[f"{n}={d[:24]!r}" for n, d, _, _ in CASES])
def test_write_parses_as_linux(name: str, data: bytes, result: int | str, after: str) -> None:
    assert core_write(name, data) == (result, after)
    assert op_write(name, data) == ("ok" if isinstance(result, int) else result, after)


def test_errors_name_the_rule() -> None:
    """Each refusal says which of kernel/sysctl.c's rules the bytes broke."""
    said = {}
    for data in (b"+12", b"5\r\n", b"5x", b"-1", b"2147483648", b"0" * 21, b" ", b"40000"):
        with pytest.raises(KernelError) as info:
            sysctl.set(IpcNamespace(), "kernel.msgmni", data)
        said[data] = info.value.detail
    assert "no '+'" in said[b"+12"]
    assert "only a space, tab or newline may follow a number" in said[b"5\r\n"]
    assert "'5' is followed by '\\r'" in said[b"5\r\n"] and "'5' is followed by 'x'" in said[b"5x"]
    assert "outside [0, 32768]" in said[b"-1"] and "outside [0, 32768]" in said[b"40000"]
    assert "does not fit an int" in said[b"2147483648"]
    assert "21 characters" in said[b"0" * 21]
    assert "no number" in said[b" "]
    with pytest.raises(KernelError) as info:
        sysctl.set(IpcNamespace(), "kernel.shmmax", "-0")
    assert "negative number for an unsigned sysctl" in info.value.detail
    with pytest.raises(KernelError) as info:
        sysctl.set(IpcNamespace(), "kernel.sem", "1 2 3 40000")
    assert info.value.errno == errno.ERANGE and "sem_check_semmni" in info.value.detail


def test_int_and_list_values_still_work() -> None:
    """Python callers pass ints (and the client joins lists with spaces)."""
    ns = IpcNamespace()
    assert sysctl.set(ns, "kernel.msgmax", 100) == 3
    assert sysctl.set(ns, "kernel.sem", "250 32000 32 128") == 16
    assert (sysctl.get(ns, "kernel.msgmax"), sysctl.get(ns, "kernel.sem")) == ("100", "250\t32000\t32\t128")


# --- differential: every input, every IPC sysctl, on the kernel ------------------------
INPUTS: list[bytes] = [
    b"", b"\n", b" ", b"\t\n", b"5", b"5\n", b"5\r\n", b"5\r", b"\r5", b"\v5\f", b"5\v", b"5\t",
    b" \t5 \n\n", b"+12", b"-12", b"-0", b"-", b"--1", b"- 1", b"0x10", b"0X1f", b"0x", b"0xg",
    b"010", b"09", b"0", b"00", b"5 6", b"5\t6", b"5 x", b"5x", b"5 6 7 8 9", b"1 2 x",
    b"1 2 3 4 x", b"1 2 3 99999", b"1 2 3 32768", b"1 2 3 32769", b"1 2 3 -1", b"1 2",
    b"7 -8 9 10", b"2147483647", b"2147483648", b"-2147483648", b"-2147483649", b"4294967295",
    b"4294967296", b"18446744073709551615", b"18446744073709551616", b"-18446744073709551615",
    b"99999999999999999999", b"000000000000000000001", b"00000000000000000001", b"0x7fffffff",
    b"0xffffffffffffffff", b"5\x00", b"5\x006", b"\xa05", b"5\xa0", b"\xc2\xa05", b"1", b"2", b"-1",
    b"-2", b"32768", b"32769", b"65536", b"65537", b"127", b"128", b"16777216", b"16777217",
    b" " * 4094 + b"5", b" " * 4095 + b"5", b"5" + b" " * 5000 + b"x",
]
#: the sysctls with a file in an IPC namespace's /proc/sys (fs.pipe-* are global on Linux)
IPC_SYSCTLS = [s.name for s in sysctl.SYSCTLS if s.name.startswith(("kernel.", "fs.mqueue."))]

#: each write in a fresh IPC namespace (unshare again before each); not root:
#: first a user namespace in which we are root (tests/conformance/userns.py),
#: whose IPC namespaces' sysctls we may write
NATIVE = textwrap.dedent("""
    import ctypes, json, os, sys
    libc = ctypes.CDLL(None, use_errno=True)
    def check(ret, what):
        if ret != 0:
            print("cannot " + what + ": " + os.strerror(ctypes.get_errno()), file=sys.stderr)
            sys.exit(3)
    if os.geteuid() != 0:
        uid, gid = os.geteuid(), os.getegid()
        check(libc.unshare(0x10000000), "unshare(CLONE_NEWUSER)")
        for path, text in (("setgroups", "deny"), ("uid_map", "0 %d 1" % uid),
                           ("gid_map", "0 %d 1" % gid)):
            with open("/proc/self/" + path, "w") as f:
                f.write(text)
    out = []
    for name, text in json.load(sys.stdin):
        check(libc.unshare(0x08000000), "unshare(CLONE_NEWIPC)")
        path = "/proc/sys/" + name.replace(".", "/")
        fd = os.open(path, os.O_WRONLY)
        try:
            result = os.write(fd, text.encode("latin-1"))
        except OSError as exc:
            result = "errno %d" % exc.errno
        os.close(fd)
        with open(path) as f:
            out.append((result, f.read().strip()))
    json.dump(out, sys.stdout)
""")


def kernel_writes(cases: list[tuple[str, bytes]]) -> list[tuple[int | str, str]]:
    """Each (sysctl, bytes) written once with write(2) on the real kernel."""
    p = subprocess.run([sys.executable, "-c", NATIVE], capture_output=True, text=True, timeout=120,
                       input=json.dumps([(n, d.decode("latin-1")) for n, d in cases]))
    if p.returncode == 3 and os.geteuid() != 0:  # no unprivileged user namespaces here
        pytest.skip(f"a private kernel IPC namespace needs root or a user namespace: {p.stderr.strip()}")
    assert p.returncode == 0, p.stderr
    return [tuple(r) for r in json.loads(p.stdout)]  # type: ignore[misc]


def test_every_write_matches_the_kernel() -> None:
    """|IPC_SYSCTLS| x |INPUTS| writes: write(2)'s result and the value after
    are the core's (sysctl.set), and the sysctl op's errno and value too."""
    cases = [(name, data) for name in IPC_SYSCTLS for data in INPUTS]
    kernel = kernel_writes(cases)
    mismatches = []
    for (name, data), (result, after) in zip(cases, kernel):
        ours = core_write(name, data)
        op = op_write(name, data)
        expect_op = ("ok" if isinstance(result, int) else result, after)
        if ours != (result, after) or op != expect_op:
            mismatches.append(f"{name}={data[:24]!r}: kernel {result!r} {after!r} / "
                              f"core {ours!r} / op {op!r}")
    assert len(kernel) == len(cases) == 16 * len(INPUTS)
    assert not mismatches, "\n".join(mismatches)


def test_the_table_is_what_the_kernel_says() -> None:
    """CASES (the IPC ones) measured again: the table is the kernel's, not ours."""
    rows = [(n, d, r, a) for n, d, r, a in CASES if n in IPC_SYSCTLS]
    kernel = kernel_writes([(n, d) for n, d, _, _ in rows])
    assert [(r, a) for _, _, r, a in rows] == kernel
