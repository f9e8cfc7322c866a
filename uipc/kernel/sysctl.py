"""ipc/ipc_sysctl.c and ipc/mq_sysctl.c: per-namespace IPC limits.

One table of every IPC sysctl with Linux's name, the namespace field it
controls and its accepted range (``proc_dointvec_minmax`` and friends); a
value outside the range, or one that does not parse, is EINVAL and changes
nothing.  ``kernel.sem`` is four numbers written in order, as Linux does
(a short write changes only the first ones).

Who may write: as ``ipc_permissions()`` makes the files of an IPC
namespace's sysctl set belong to the root of the user namespace that owns
it, a uipc namespace's limits may be set by its creator's uid and by root;
the per-uid quotas (``uipc.quota.*``, global to the daemon) by root only
(and by the user a per-user daemon serves).
Anyone may read them.
"""
from __future__ import annotations

import errno
from dataclasses import dataclass
from typing import Any

from uipc.kernel.errors import KernelError
from uipc.kernel.namespace import IpcNamespace
from uipc.kernel.quota import QUOTA_NAMES
from uipc.kernel.entry import syscall
from uipc.kernel.task import Cred, Task
from uipc.uapi.ipc import IPCMNI

INT_MAX = 0x7FFFFFFF
ULONG_MAX = 0xFFFFFFFFFFFFFFFF
HARD_MSGMAX = 65536
HARD_MSGSIZEMAX = 16 * 1024 * 1024


@dataclass(frozen=True)
class Sysctl:
    name: str
    #: attribute of IpcNamespace, or "ids.<kind>" for the *_next_id entries
    field: str
    lo: int
    hi: int


SYSCTLS: tuple[Sysctl, ...] = (
    Sysctl("kernel.msgmax", "msg_ctlmax", 0, INT_MAX),
    Sysctl("kernel.msgmnb", "msg_ctlmnb", 0, INT_MAX),
    Sysctl("kernel.msgmni", "msg_ctlmni", 0, IPCMNI),
    Sysctl("kernel.sem", "sem_ctls", -(1 << 31), INT_MAX),
    Sysctl("kernel.shmmax", "shm_ctlmax", 0, ULONG_MAX),
    Sysctl("kernel.shmall", "shm_ctlall", 0, ULONG_MAX),
    Sysctl("kernel.shmmni", "shm_ctlmni", 0, IPCMNI),
    Sysctl("kernel.shm_rmid_forced", "shm_rmid_forced", 0, 1),
    Sysctl("kernel.msg_next_id", "ids.msg", 0, INT_MAX),
    Sysctl("kernel.sem_next_id", "ids.sem", 0, INT_MAX),
    Sysctl("kernel.shm_next_id", "ids.shm", 0, INT_MAX),
    Sysctl("fs.mqueue.queues_max", "mq_queues_max", -(1 << 31), INT_MAX),  # proc_dointvec: any int
    Sysctl("fs.mqueue.msg_max", "mq_msg_max", 1, HARD_MSGMAX),
    Sysctl("fs.mqueue.msgsize_max", "mq_msgsize_max", 128, HARD_MSGSIZEMAX),
    Sysctl("fs.mqueue.msg_default", "mq_msg_default", 1, HARD_MSGMAX),
    Sysctl("fs.mqueue.msgsize_default", "mq_msgsize_default", 128, HARD_MSGSIZEMAX),
) + tuple(Sysctl(f"uipc.quota.{q}", f"quota.{q}", 0, (1 << 62)) for q in QUOTA_NAMES)
BY_NAME = {s.name: s for s in SYSCTLS}


def _lookup(name: str) -> Sysctl:
    key = name.strip().replace("/", ".")
    if key.startswith("proc.sys."):
        key = key[len("proc.sys."):]
    try:
        return BY_NAME[key]
    except KeyError:
        raise KernelError(errno.ENOENT, f"no IPC sysctl named {name!r}; known: "
                          + ", ".join(BY_NAME)) from None


def get(ns: IpcNamespace, name: str) -> str:
    """The value as /proc/sys shows it (kernel.sem tab-separated)."""
    s = _lookup(name)
    if s.field == "sem_ctls":
        return "\t".join(str(v) for v in ns.sem_ctls)
    if s.field.startswith("ids."):
        return str(getattr(ns, s.field[4:] + "_ids").next_id)
    return str(getattr(*_target(ns, s)))


def _target(ns: IpcNamespace, s: Sysctl) -> tuple[object, str]:
    """The object and attribute a sysctl lives in: the namespace, or the
    kernel's quota limits."""
    if s.field.startswith("quota."):
        if ns.quota is None:
            raise KernelError(errno.ENOENT, f"{s.name}: this kernel keeps no quotas")
        return ns.quota.limits, s.field[6:]
    return ns, s.field


def _parse(s: Sysctl, text: str) -> int:
    try:
        value = int(text, 10)
    except ValueError:
        raise KernelError(errno.EINVAL, f"{s.name}: {text!r} is not an integer") from None
    if not s.lo <= value <= s.hi:
        raise KernelError(errno.EINVAL, f"{s.name}: {value} is outside [{s.lo}, {s.hi}]")
    return value


def set(ns: IpcNamespace, name: str, value: str | int) -> None:  # noqa: A001 - sysctl's verb
    """Write a sysctl; EINVAL (nothing changed) when out of range."""
    s = _lookup(name)
    words = str(value).split()
    if not words:
        raise KernelError(errno.EINVAL, f"{s.name}: empty value")
    if s.field == "sem_ctls":
        values = [_parse(s, w) for w in words[:4]]
        if len(values) == 4 and not 0 <= values[3] <= IPCMNI:
            ns.sem_ctls[:3] = values[:3]
            raise KernelError(errno.EINVAL, f"kernel.sem: semmni {values[3]} is outside [0, {IPCMNI}]")
        ns.sem_ctls[:len(values)] = values
        return
    v = _parse(s, words[0])
    if s.field.startswith("ids."):
        getattr(ns, s.field[4:] + "_ids").next_id = v
    else:
        setattr(*_target(ns, s), v)


def check_write(ns: IpcNamespace, cred: Cred, name: str) -> None:
    """EACCES unless ``cred`` may write sysctl ``name`` of ``ns``: the /proc/sys
    file is 0644 and belongs to the namespace's owner (ipc_permissions), so
    another uid's open for writing fails as open(2) does."""
    s = _lookup(name)
    euid = cred.euid
    if euid == 0:
        return
    if s.field.startswith("quota."):
        if ns.quota is not None and euid == ns.quota.owner_uid:
            return
        raise KernelError(errno.EACCES, f"{s.name}: quotas may be set by root only")
    if euid != ns.owner_uid:
        raise KernelError(errno.EACCES, f"{s.name}: the limits of IPC namespace {ns.name!r} may be "
                          f"set by its creator (uid {ns.owner_uid}) or root, not uid {euid}")


@syscall(13, "sysctl", "write:u8 text:text", result="text",
         doc="Read (write=0) or set (write=1) a sysctl of the caller's namespace. Tail: 'name' or "
             "'name=value' ('-a': every one). Result tail: the value.")
def sys_sysctl(k: Any, task: Task, write: int, text: str) -> str:
    """/proc/sys/kernel/{msg,sem,shm}* and friends, read or written by ``task``."""
    return request(task.ns, task.cred, write, text)


def request(ns: IpcNamespace, cred: Cred, write: int, text: str) -> str:
    """The sysctl op: ``name`` -> its value; ``name=value`` with write=1 sets
    it (if ``cred`` may); ``-a`` -> every value, one ``name = value`` a line."""
    if text == "-a":
        return "\n".join(f"{k} = {v}" for k, v in all_values(ns).items())
    if write:
        name, _, value = text.partition("=")
        check_write(ns, cred, name)
        set(ns, name, value)
        return get(ns, name)
    return get(ns, text)


def all_values(ns: IpcNamespace) -> dict[str, str]:
    return {s.name: get(ns, s.name) for s in SYSCTLS
            if ns.quota is not None or not s.field.startswith("quota.")}
