"""Conformance without root: a user namespace in which we are root.

unshare(CLONE_NEWIPC) needs CAP_SYS_ADMIN.  A user who is not root can still
get it where the machine allows unprivileged user namespaces: after
unshare(CLONE_NEWUSER), mapping our own uid and gid to 0 (what
``unshare --map-root-user`` does), the process is uid 0 with every
capability *in that user namespace*, and an IPC namespace it creates
belongs to it (kernel/user_namespace.c, ipc/namespace.c create_ipc_ns).

Only our own uid is mapped (an unprivileged writer of uid_map may map just
its euid), so ``setuid(1001)`` fails there with EINVAL: scenarios that act
as other users still need real root (harness.as_user skips them).  Chowning
an object to an unmapped uid, and the few checks Linux makes with capable()
(the initial user namespace) instead of ns_capable(), also differ from real
root: scenarios mark those operations with ``rec.real_root``.
"""
from __future__ import annotations

import ctypes
import os

CLONE_NEWUSER = 0x10000000
CLONE_NEWIPC = 0x08000000
_libc = ctypes.CDLL(None, use_errno=True)


def _check(ret: int, what: str) -> None:
    if ret == -1:
        e = ctypes.get_errno()
        raise OSError(e, f"{what}: {os.strerror(e)}")


def _write(path: str, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)


def enter_new_userns() -> None:
    """unshare(CLONE_NEWUSER), then map our euid/egid to 0 inside.

    setgroups must be denied before an unprivileged process may write
    gid_map (kernel/user_namespace.c new_idmap_permitted)."""
    uid, gid = os.geteuid(), os.getegid()
    _check(_libc.unshare(CLONE_NEWUSER), "unshare(CLONE_NEWUSER)")
    _write("/proc/self/setgroups", "deny")
    _write("/proc/self/uid_map", f"0 {uid} 1\n")
    _write("/proc/self/gid_map", f"0 {gid} 1\n")


def join_userns(fd: int) -> None:
    """setns() into the user namespace ``fd`` names: we own it, so we get
    every capability in it (and are uid 0 there).  Single-threaded callers
    only (a forked child is)."""
    _check(_libc.setns(fd, CLONE_NEWUSER), "setns(CLONE_NEWUSER)")


def probe() -> str:
    """"" if this process may make a user namespace and, in it, a private IPC
    namespace; else why not.  Tried in a throw-away child."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        why = ""
        try:
            enter_new_userns()
            _check(_libc.unshare(CLONE_NEWIPC), "unshare(CLONE_NEWIPC) in it")
        except OSError as exc:
            why = str(exc)
        os.write(w, why.encode() or b"ok")
        os._exit(0)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        out = f.read().decode()
    os.waitpid(pid, 0)
    return "" if out == "ok" else out or "the probe child died"
