"""Who is on the other end of a connection: SO_PEERCRED, pidfds and /proc.

Identity is never the client's word.  It is read once, as close to
``accept`` as the daemon can get, bound to the process image that opened
the connection, and can afterwards only drop:

- uid and gid are SO_PEERCRED's: the kernel records them at ``connect``.
- the process is pinned with a pidfd (SO_PEERPIDFD where the kernel has it,
  else ``pidfd_open`` checked against the start time in /proc/PID/stat), so
  a pid that is reused later is never mistaken for the one that connected.
- supplementary groups and capabilities come from /proc/PID/status, and
  count only while that process is still the image that connected: its
  effective uid/gid are SO_PEERCRED's and it has not gained privileges by
  ``exec`` of a setuid or file-capability binary (such an exec makes it
  non-dumpable, and /proc/PID then belongs to root).  A process that
  changed credentials since ``connect`` is refused; one whose image may
  have gained privileges keeps its uid and loses every capability.
- capabilities count only for processes in the daemon's own user namespace,
  as Linux's ``ns_capable(ns->user_ns, cap)``: in a child user namespace
  everyone shows a full CapEff, which means nothing out here.

This module reads /proc and makes pidfds; the policy it applies lives in the
pure function :func:`effective_caps`, so tests can check it without /proc.
"""
from __future__ import annotations

import errno
import logging
import os
import select
import socket
import struct
from dataclasses import dataclass
from typing import Callable

from uipc.kernel import Cred, Kernel, KernelError, Task
from uipc.kernel.namespace import IpcNamespace, ns_capable_owner
from uipc.kernel.task import CAP_SYS_ADMIN, caps_from_mask
from uipc.server.loop import READ, Poller

log = logging.getLogger("uipc.daemon")

_PEERCRED = struct.Struct("3i")
#: include/uapi/asm-generic/socket.h (Linux 6.5+); Python 3.11 lacks the name
SO_PEERPIDFD = getattr(socket, "SO_PEERPIDFD", 77)
#: how far up the parent chain a new process's namespace is looked for
MAX_ANCESTRY = 64


class IdentityError(Exception):
    """The peer's identity cannot be established: refuse the connection."""

    def __init__(self, err: int, detail: str) -> None:
        super().__init__(detail)
        self.errno = err
        self.detail = detail


@dataclass(frozen=True, slots=True)
class ProcStatus:
    """What /proc/PID/status and /proc/PID say about one process."""

    ruid: int
    euid: int
    rgid: int
    egid: int
    groups: frozenset[int]
    cap_eff: int
    #: owner of /proc/PID: root for a non-dumpable process (privileged exec)
    proc_uid: int
    #: inode of /proc/PID/ns/user, or None if unreadable
    userns: int | None


@dataclass(frozen=True, slots=True)
class Peer:
    """The identity of a connection, fixed at accept."""

    pid: int
    uid: int
    gid: int
    groups: frozenset[int]
    caps: frozenset[str]
    start_time: int
    #: why the process has no capabilities although its CapEff has some ("" if none)
    caps_dropped: str = ""


def effective_caps(uid: int, gid: int, st: ProcStatus, own_userns: int | None
                   ) -> tuple[frozenset[str], str]:
    """The capabilities a peer's credentials give it here, and why not if none.

    Raises IdentityError if the process's effective ids are no longer the
    ones it connected with (it called setuid or exec'd a setuid binary).
    """
    if st.euid != uid or st.egid != gid:
        raise IdentityError(errno.EPERM, f"credentials changed since connect (connected as "
                            f"uid {uid} gid {gid}, now euid {st.euid} egid {st.egid}): reconnect")
    caps = caps_from_mask(st.cap_eff)
    if not caps:
        return caps, ""
    if st.userns is None or own_userns is None or st.userns != own_userns:
        return frozenset(), "it lives in another user namespace"
    if st.proc_uid != uid:
        return frozenset(), "its image may have gained privileges by exec (it is not dumpable)"
    return caps, ""


def read_proc_status(pid: int) -> ProcStatus:
    """Parse /proc/PID/status (and stat /proc/PID); IdentityError if gone."""
    ruid = euid = rgid = egid = -1
    groups: frozenset[int] = frozenset()
    cap_eff = 0
    try:
        proc_uid = os.stat(f"/proc/{pid}").st_uid
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("Uid:"):
                    ids = line.split()[1:]
                    ruid, euid = int(ids[0]), int(ids[1])
                elif line.startswith("Gid:"):
                    ids = line.split()[1:]
                    rgid, egid = int(ids[0]), int(ids[1])
                elif line.startswith("Groups:"):
                    groups = frozenset(int(g) for g in line.split()[1:])
                elif line.startswith("CapEff:"):
                    cap_eff = int(line.split()[1], 16)
    except (OSError, ValueError, IndexError) as exc:
        raise IdentityError(errno.ESRCH, f"cannot read /proc/{pid}: {exc}") from None
    return ProcStatus(ruid, euid, rgid, egid, groups, cap_eff, proc_uid, userns_of(pid))


def userns_of(pid: int | str) -> int | None:
    """The inode of a process's user namespace, None if we may not look."""
    try:
        return os.stat(f"/proc/{pid}/ns/user").st_ino
    except OSError:
        return None


def start_time(pid: int) -> int:
    """Field 22 of /proc/PID/stat (clock ticks after boot): with the pid, it
    names one process for its whole life.  -1 if the process is gone."""
    ppid, start = _stat_fields(pid)
    return start


def parent_of(pid: int) -> tuple[int, int]:
    """(ppid, start time of pid) from /proc/PID/stat; (-1, -1) if gone."""
    return _stat_fields(pid)


def _stat_fields(pid: int) -> tuple[int, int]:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return -1, -1
    # comm may hold spaces and parentheses: the fields start after the last ')'
    fields = data[data.rfind(b")") + 2:].split()
    try:
        return int(fields[1]), int(fields[19])
    except (IndexError, ValueError):
        return -1, -1


def peer_pidfd(sock: socket.socket, pid: int) -> int:
    """A pidfd for the connecting process: SO_PEERPIDFD (the process that
    called connect, whatever became of its pid since), else pidfd_open."""
    try:
        return sock.getsockopt(socket.SOL_SOCKET, SO_PEERPIDFD)
    except OSError:
        pass
    try:
        return os.pidfd_open(pid)
    except OSError as exc:
        raise IdentityError(errno.ESRCH, f"cannot watch pid {pid}: {exc.strerror}") from None


def pidfd_exited(pidfd: int) -> bool:
    """Has the process behind ``pidfd`` exited?  poll(2), never select(2):
    select cannot take descriptors above 1023."""
    p = select.poll()
    p.register(pidfd, select.POLLIN)
    return bool(p.poll(0))


class ProcWatch:
    """Identity of peers and the parent chains of processes."""

    def __init__(self) -> None:
        self.own_userns = userns_of("self")

    def identify(self, sock: socket.socket) -> tuple[Peer, int]:
        """The peer of a freshly accepted socket and a pidfd for it (the caller
        owns the pidfd).  Raises IdentityError to refuse the connection."""
        pid, uid, gid = _PEERCRED.unpack(sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED,
                                                         _PEERCRED.size))
        if pid <= 0:
            raise IdentityError(errno.ESRCH, "the peer's pid is not visible here (another pid "
                                "namespace)")
        pidfd = peer_pidfd(sock, pid)
        try:
            started = start_time(pid)
            st = read_proc_status(pid)
            # the /proc entries we read belong to the process of the pidfd
            # only if it is still alive now (else the pid may be reused)
            if started < 0 or pidfd_exited(pidfd):
                raise IdentityError(errno.ESRCH, f"pid {pid} exited while connecting")
            caps, why = effective_caps(uid, gid, st, self.own_userns)
        except BaseException:
            os.close(pidfd)
            raise
        return Peer(pid, uid, gid, st.groups, caps, started, why), pidfd

    def recheck(self, peer: Peer) -> Peer:
        """At hello: the same process, whose credentials may only have
        dropped since accept.  Raises IdentityError otherwise."""
        if start_time(peer.pid) != peer.start_time:
            raise IdentityError(errno.ESRCH, f"pid {peer.pid} is no longer the process that "
                                "connected")
        st = read_proc_status(peer.pid)
        caps, why = effective_caps(peer.uid, peer.gid, st, self.own_userns)
        if caps == peer.caps:
            return peer
        return Peer(peer.pid, peer.uid, peer.gid, peer.groups & st.groups, caps & peer.caps,
                    peer.start_time, why or peer.caps_dropped or "capabilities dropped")

    @staticmethod
    def ancestors(pid: int) -> list[tuple[int, int]]:
        """(pid, start time) of the parent, grandparent... of ``pid``, nearest
        first, up to init or MAX_ANCESTRY steps."""
        out: list[tuple[int, int]] = []
        ppid, _ = parent_of(pid)
        while ppid > 1 and len(out) < MAX_ANCESTRY:
            grand, started = parent_of(ppid)
            if started < 0:
                break
            out.append((ppid, started))
            ppid = grand
        return out


class ProcessWatch:
    """The kernel's processes as the daemon sees them come and go.

    A process appears with its first connection (placed in the namespace of
    its nearest known ancestor), is pinned by a pidfd whose readiness is its
    exit, and loses its image (exec) when its last connection closes while
    it lives on: connections are close-on-exec, and a client keeps one open
    while it has attachments.
    """

    def __init__(self, kernel: Kernel, poller: Poller, clock: Callable[[], tuple[float, float]],
                 close_tasks: Callable[[list[Task]], None]) -> None:
        self.kernel, self.poller, self.clock, self.close_tasks = kernel, poller, clock, close_tasks
        self.identity = ProcWatch()
        self.pidfds: dict[int, int] = {}  # pid -> pidfd
        #: pid -> start time of the process the kernel knows by that pid
        self.start_times: dict[int, int] = {}

    def attach(self, peer: Peer, pidfd: int, ns_name: str, create: bool) -> tuple[Task, Peer, bool]:
        """hello: the connection becomes a task of its process.  Returns the
        task, the peer as of now (credentials may only have dropped), and
        whether the pidfd was taken (else the caller closes it)."""
        kernel = self.kernel
        peer = self.identity.recheck(peer)
        cred = Cred.of(peer.uid, peer.gid, peer.groups, peer.caps)
        proc = kernel.processes.get(peer.pid)
        if proc is not None and (self.start_times.get(peer.pid) != peer.start_time
                                 or self.reap_if_dead(peer.pid)):
            self.exited(peer.pid)  # the pid was reused after its old owner exited
            proc = None
        took = False
        if proc is None:
            ns, ppid = self._place(peer, cred, ns_name, create)
            proc = kernel.new_process(peer.pid, cred, ns)
            proc.ppid = ppid
            self.pidfds[peer.pid] = pidfd
            self.start_times[peer.pid] = peer.start_time
            self.poller.register(pidfd, READ, lambda m, pid=peer.pid: self.exited(pid), first=True)
            took = True
        elif ns_name and proc.ns.name != ns_name and ns_name in kernel.namespaces:
            # a live process cannot be moved by one of its threads' hellos; a
            # hint naming a namespace that is gone is stale (the process
            # unshared since) and the process stays where it is
            self.check_setns(ns_name, cred)
            raise KernelError(errno.EINVAL, f"process {peer.pid} lives in namespace "
                              f"{proc.ns.name!r}, not {ns_name!r}")
        return kernel.new_task(proc, cred), peer, took

    def _place(self, peer: Peer, cred: Cred, name: str, create: bool) -> tuple[IpcNamespace, int]:
        """A process the daemon has not seen lives where its nearest known
        ancestor lives (as a child inherits nsproxy at fork), whatever its
        environment says; its parent, if known, is recorded (fork reports).
        Naming another namespace is setns(): it needs the namespace's
        creator or CAP_SYS_ADMIN; ``create`` makes a missing one."""
        kernel = self.kernel
        inherited, ppid = kernel.init_ns, 0
        for depth, (pid, started) in enumerate(self.identity.ancestors(peer.pid)):
            parent = kernel.processes.get(pid)
            if parent is not None and self.start_times.get(pid) == started:
                inherited, ppid = parent.ns, (pid if depth == 0 else 0)
                break
        if not name or name == inherited.name:
            return inherited, ppid
        if name not in kernel.namespaces and create:
            return kernel.create_namespace(name, peer.uid), ppid
        return self.check_setns(name, cred), ppid

    def check_setns(self, name: str, cred: Cred) -> IpcNamespace:
        """The namespace ``name``, if ``cred`` may join it (setns)."""
        ns = self.kernel.namespaces.get(name)
        if ns is None:
            raise KernelError(errno.ENOENT, f"no IPC namespace named {name!r}")
        if not ns_capable_owner(ns, cred, CAP_SYS_ADMIN):
            raise KernelError(errno.EPERM, f"joining IPC namespace {name!r} (setns) needs its "
                              f"creator's uid ({ns.owner_uid}) or CAP_SYS_ADMIN")
        return ns

    def reap_if_dead(self, pid: int) -> bool:
        pidfd = self.pidfds.get(pid)
        if pidfd is not None and pidfd_exited(pidfd):
            self.exited(pid)
            return True
        return False

    def exited(self, pid: int) -> None:
        """The process is gone (its pidfd said so): do_exit in the kernel."""
        pidfd = self.pidfds.pop(pid, None)
        self.start_times.pop(pid, None)
        if pidfd is not None:
            self.poller.unregister(pidfd)
            os.close(pidfd)
        proc = self.kernel.processes.get(pid)
        if proc is None:
            return
        self.close_tasks(list(proc.tasks))
        now, mono = self.clock()
        self.kernel.exit_process(proc, now, mono)
        log.debug("process %d exited", pid)

    def task_gone(self, task: Task) -> None:
        """A connection closed: that thread is gone; the exec rule."""
        proc = task.process
        now, mono = self.clock()
        self.kernel.exit_task(task, now, mono)
        if not proc.tasks and not proc.exited and not self.reap_if_dead(proc.pid):
            self.kernel.exec_process(proc, now, mono)

    def close(self) -> None:
        for fd in self.pidfds.values():
            os.close(fd)
        self.pidfds.clear()
