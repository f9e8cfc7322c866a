"""Identity attacks on a system daemon, as real unprivileged processes.

Each test is one trick a local user could play to get rights Linux would not
give them: capabilities from a user namespace, a setuid image behind a
socket connected before the exec, a connection kept across setuid, another
user's namespace joined by name, an escape from `uipc run --new-namespace`,
sysctls of a namespace they do not own.  Root's objects are 0600; an
attacker that wins could IPC_RMID or read them.
"""
from __future__ import annotations

import ctypes
import errno
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest

import uipc
from tests.conftest import ROOT, wait_until
from tests.helpers import Child, as_user, errno_of
from uipc import protocol as P

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="attacks as other uids need root "
                                "to setuid the attacker")

CLONE_NEWUSER = 0x10000000
FULL_CAPS = (1 << 41) - 1


def cap_eff() -> int:
    with open("/proc/self/status") as f:
        return int(next(line for line in f if line.startswith("CapEff:")).split()[1], 16)


def root_queue() -> int:
    """A queue only root may touch (0600, owned by root)."""
    return uipc.msgget(uipc.IPC_PRIVATE, 0o600)


def raw_call(sock: socket.socket, op: str, req_id: int, args: tuple[Any, ...],
             tail: bytes = b"") -> tuple[int, bytes]:
    """One request on a raw connection: (status, payload)."""
    sock.sendall(P.encode_request(P.OPS_BY_NAME[op], req_id, args, tail))
    dec = P.FrameDecoder(reply=True)
    while (frame := dec.next_frame()) is P.NEED_DATA:
        data = sock.recv(65536)
        if not data:
            return -1, b""
        dec.feed(data)
    return frame[1], frame[2]  # type: ignore[index]


def test_capabilities_from_a_user_namespace_count_for_nothing(system_daemon) -> None:
    """unshare(CLONE_NEWUSER) shows a full CapEff; Linux's ns_capable() asks
    for capabilities in the IPC namespace's user namespace, not the caller's."""
    uipc.unshare_namespace()
    q = root_queue()

    def attacker() -> tuple[int, int, int]:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.unshare(CLONE_NEWUSER) != 0:
            pytest.skip(f"unshare(CLONE_NEWUSER): {os.strerror(ctypes.get_errno())}")
        caps = cap_eff()
        return (caps, errno_of(lambda: uipc.msgctl(q, uipc.IPC_STAT)),
                errno_of(lambda: uipc.msgctl(q, uipc.IPC_RMID)))

    caps, stat_err, rmid_err = as_user(1000, 1000, attacker)  # type: ignore[misc]
    assert caps & FULL_CAPS == FULL_CAPS  # the precondition: it looks all-powerful
    assert stat_err == errno.EACCES      # CAP_IPC_OWNER would have let it read
    assert rmid_err == errno.EPERM       # CAP_SYS_ADMIN would have let it remove
    assert uipc.msgctl(q, uipc.IPC_STAT).msg_perm.uid == 0


def test_a_setuid_exec_behind_a_connected_socket_gains_nothing(system_daemon) -> None:
    """Connect as uid 1000, hand the socket to a child, exec a setuid-root
    binary: the daemon must not read the new image's credentials at hello."""
    uipc.unshare_namespace()
    q = root_queue()
    ns = os.environ["UIPC_NAMESPACE"]
    bindir = Path(tempfile.mkdtemp(prefix="uipc-suid-"))
    try:
        os.chmod(bindir, 0o755)
        suid = bindir / "suid-sleep"
        shutil.copy("/usr/bin/sleep", suid)
        os.chmod(suid, 0o4755)
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:  # the attacker: uid 1000
            os.close(r)
            try:
                os.setgroups([])
                os.setgid(1000)
                os.setuid(1000)
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                sock.connect(str(system_daemon.socket))
                if os.fork() == 0:  # the accomplice keeps the socket
                    parent = os.getppid()
                    wait_until(lambda: _euid_of(parent) == 0, what="the setuid exec")
                    st, _ = raw_call(sock, "hello", 1, (P.VERSION, 0, 0), ns.encode())
                    rm = raw_call(sock, "msgctl", 2, (q, uipc.IPC_RMID))[0] if st == 0 else st
                    os.write(w, f"{st} {rm}".encode())
                    os._exit(0)
                os.execv(str(suid), [str(suid), "30"])
            finally:
                os._exit(1)
        os.close(w)
        with os.fdopen(r) as f:
            hello_status, rmid_status = map(int, f.read().split())
        os.kill(pid, 9)
        os.waitpid(pid, 0)
    finally:
        shutil.rmtree(bindir)
    # refused at hello (credentials changed since connect), or at least not root
    assert hello_status == errno.EPERM or rmid_status == errno.EPERM
    assert uipc.msgctl(q, uipc.IPC_STAT).msg_perm.uid == 0  # still there


def _euid_of(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            return int(next(line for line in f if line.startswith("Uid:")).split()[2])
    except (OSError, StopIteration):
        return -1


def test_a_process_that_drops_privileges_does_not_keep_them(system_daemon) -> None:
    """Root connects, then setuid(65534): its next call is checked as 65534."""
    uipc.unshare_namespace()
    q = root_queue()

    def dropper() -> tuple[int, int, int]:
        assert uipc.msgctl(q, uipc.IPC_STAT).msg_qnum == 0  # connected as root
        os.setgroups([])
        os.setgid(65534)
        os.setuid(65534)
        return (errno_of(lambda: uipc.msgctl(q, uipc.IPC_STAT)),
                errno_of(lambda: uipc.msgsnd(q, 1, b"x")),
                errno_of(lambda: uipc.msgctl(q, uipc.IPC_RMID)))

    assert Child(dropper).result() == (errno.EACCES, errno.EACCES, errno.EPERM)
    assert uipc.msgctl(q, uipc.IPC_STAT).msg_qnum == 0


def test_joining_another_users_namespace_by_name_is_refused(system_daemon) -> None:
    """setns() needs the namespace's creator or CAP_SYS_ADMIN."""
    mine = uipc.unshare_namespace()  # where the attacker is born
    holder, theirs = _namespace_holder()  # another of root's, kept alive by a process

    def attacker() -> tuple[int, str, int]:
        uipc.configure(namespace=theirs)  # naming another namespace is setns
        err = errno_of(lambda: uipc.msgget(uipc.IPC_PRIVATE, 0o600))
        uipc.configure(namespace="")      # no preference: where it was born
        here = uipc.introspect.namespace()["namespace"]
        uipc.configure(namespace=theirs)  # a known process cannot be moved either
        return err, here, errno_of(lambda: uipc.msgget(uipc.IPC_PRIVATE, 0o600))

    try:
        err, here, again = as_user(1000, 1000, attacker)  # type: ignore[misc]
    finally:
        holder.kill()
        holder.wait()
    assert (err, here, again) == (errno.EPERM, mine, errno.EPERM)


def _namespace_holder() -> tuple[subprocess.Popen[str], str]:
    """A root process in a namespace of its own, until killed; and its name."""
    code = ("import sys, uipc; print(uipc.unshare_namespace(), flush=True); sys.stdin.read()")
    proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, cwd=ROOT)
    assert proc.stdout is not None
    return proc, proc.stdout.readline().strip()


def test_unsetting_the_namespace_variable_does_not_escape(system_daemon) -> None:
    """A child of `uipc run --new-namespace` that clears UIPC_NAMESPACE stays
    in the new namespace: membership belongs to the process, not its env."""
    code = ("import os; os.environ.pop('UIPC_NAMESPACE', None); import uipc; "
            "print(uipc.introspect.namespace()['namespace'])")
    env = dict(os.environ, UIPC_SOCKET=str(system_daemon.socket))
    env.pop("UIPC_NAMESPACE", None)
    out = subprocess.run([sys.executable, "-m", "uipc.cli.main", "run", "--new-namespace", "--name",
                          "no-escape", "--", sys.executable, "-c", code],
                         capture_output=True, text=True, env=env, cwd=ROOT, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "no-escape"


def test_sysctls_need_the_namespace_owner_or_root(system_daemon) -> None:
    """kernel.msgmni=0 in a namespace one does not own is EACCES (ipc_permissions:
    the /proc/sys file is not the caller's to open for writing);
    one's own namespace is one's to tune; quotas are root's."""
    uipc.unshare_namespace()

    def attacker() -> tuple[int, int, str, int]:
        denied = errno_of(lambda: uipc.sysctl.set("kernel.msgmni", 0))
        forced = errno_of(lambda: uipc.sysctl.set("kernel.shm_rmid_forced", 1))
        uipc.unshare_namespace()  # a namespace of its own
        uipc.sysctl.set("kernel.msgmni", 7)
        return denied, forced, uipc.sysctl.get("kernel.msgmni"), \
            errno_of(lambda: uipc.sysctl.set("uipc.quota.objects", 1 << 30))

    assert as_user(1000, 1000, attacker) == (errno.EACCES, errno.EACCES, "7", errno.EACCES)
    assert uipc.sysctl.get("kernel.msgmni") == "32000"
    assert uipc.sysctl.get("kernel.shm_rmid_forced") == "0"
