"""The data side of util-linux's sys-utils/ipcutils.c, over uipc's syscalls.

util-linux reads /proc/sysvipc when it can and falls back to the syscalls;
uipc has no /proc, so this asks the uipc kernel what the /proc path prints
on the real kernel:

- ``objects``: ipc_{msg,sem,shm}_get_info(): ``*_INFO`` for the highest
  index, then ``*_STAT_ANY`` per index (which, like /proc/sysvipc, needs no
  read permission); a failing index is skipped, as the C skips it, and
  only a lost daemon ends the scan;
- ``sem_elements``: get_sem_elements(), GETVAL, GETNCNT, GETZCNT, GETPID
  per semaphore in the C's order (one batch, not 4n round trips), its
  err() on the first refusal;
- ``posix_objects``: 2.41's posix_ipc_*_get_info(), from introspection
  (what /dev/mqueue and /dev/shm would list to this process);
- ``*_limits``: ipc_*_get_limits(), the /proc/sys values lsipc reads;
- ``pid_get_cmdline``: lib/procfs.c, lsipc's COMMAND column.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator

import uipc
from uipc.client.batch import MAX_BATCH


class Fatal(Exception):
    """util-linux's err(EXIT_FAILURE, ...): the message, then exit 1."""


# --- System V objects ------------------------------------------------------------------------

def _msgctl(index: int, cmd: int) -> Any:
    return uipc.msgctl(index, cmd)


def _shmctl(index: int, cmd: int) -> Any:
    return uipc.shmctl(index, cmd)


def _semctl(index: int, cmd: int) -> Any:
    return uipc.semctl(index, 0, cmd)


#: kind -> (the *ctl call, its *_INFO, its *_STAT_ANY)
_KINDS: dict[str, tuple[Callable[[int, int], Any], int, int]] = {
    "msg": (_msgctl, uipc.MSG_INFO, uipc.MSG_STAT_ANY),
    "shm": (_shmctl, uipc.SHM_INFO, uipc.SHM_STAT_ANY),
    "sem": (_semctl, uipc.SEM_INFO, uipc.SEM_STAT_ANY),
}


def objects(kind: str, want: int = -1) -> Iterator[tuple[int, Any]]:
    """ipc_{msg,shm,sem}_get_info(want): (id, ds) of every object of one kind
    in index order, or (``want`` > -1) of the one with that id.  An id names
    its index (ipcid_to_idx), so that one index is asked instead of all."""
    ctl, info_cmd, stat_cmd = _KINDS[kind]
    if want > -1:
        indexes: Iterable[int] = [want % uipc.SEQ_MULTIPLIER]
    else:
        try:
            maxid, _ = ctl(0, info_cmd)
        except ConnectionError:
            raise
        except OSError:
            return  # the C: "if (maxid < 0) return 0"
        indexes = range(maxid + 1)
    for index in indexes:
        try:
            found = ctl(index, stat_cmd)
        except ConnectionError:
            raise
        except OSError:
            continue  # a free index (EINVAL), as C skips any failure
        if want > -1 and found[0] != want:
            continue
        yield found


@dataclass
class SysvObject:
    """struct msg_data / sem_data / shm_data: one object as /proc/sysvipc shows it."""

    key: int
    id: int
    mode: int
    uid: int
    gid: int
    cuid: int
    cgid: int
    ctime: int
    ds: Any
    elements: list[SemElem] | None = None


def sysv_objects(kind: str, want: int = -1) -> list[SysvObject]:
    """``objects`` with the fields every kind shares taken out of its ds."""
    out = []
    for obj_id, ds in objects(kind, want):
        # msqid_ds.msg_perm, semid_ds.sem_ctime, ...: the kind is the fields' prefix
        perm, ctime = getattr(ds, f"{kind}_perm"), getattr(ds, f"{kind}_ctime")
        out.append(SysvObject(perm.key, obj_id, perm.mode, perm.uid, perm.gid, perm.cuid,
                              perm.cgid, ctime, ds))
    return out


@dataclass(frozen=True)
class SemElem:
    """struct sem_elem."""
    semval: int
    ncount: int
    zcount: int
    pid: int


#: get_sem_elements()'s calls per semaphore, in its order (SemElem's fields)
_ELEM_CMDS = ("GETVAL", "GETNCNT", "GETZCNT", "GETPID")


def sem_elements(semid: int, nsems: int) -> list[SemElem]:
    """get_sem_elements(): four semctl calls per semaphore, in util-linux's
    order, sent as unlinked batches; the first failure is util-linux's
    ``err("semctl(GETVAL) failed")``, raised as Fatal."""
    per_batch = MAX_BATCH // len(_ELEM_CMDS)
    values: list[int] = []
    for start in range(0, nsems, per_batch):
        batch = uipc.Batch(link=False)
        for num in range(start, min(start + per_batch, nsems)):
            for name in _ELEM_CMDS:
                batch.semctl(semid, num, getattr(uipc, name))
        try:
            results = batch.submit()
        except uipc.BatchError as exc:
            results = exc.results
        for k, result in enumerate(results):
            if isinstance(result, OSError):
                if isinstance(result, ConnectionError):
                    raise result
                # err() prints strerror(errno), not uipc's longer explanation
                raise Fatal(f"semctl({_ELEM_CMDS[k % 4]}) failed: {os.strerror(result.errno)}")
        values.extend(results)
    return [SemElem(*values[i:i + 4]) for i in range(0, len(values), 4)]


# --- POSIX objects (2.41's posix_ipc_*_get_info) --------------------------------------------

def may_access(entry: dict[str, Any], mask: int) -> bool:
    """Could this process open the object's file in /dev/mqueue or /dev/shm
    with ``mask`` (4 read, 2 write)?  What util-linux's open skips."""
    euid = os.geteuid()
    if euid == 0:
        return True
    mode = entry["mode"]
    if euid == entry["uid"]:
        bits = mode >> 6
    elif entry["gid"] == os.getegid() or entry["gid"] in os.getgroups():
        bits = mode >> 3
    else:
        bits = mode
    return bits & mask == mask


def posix_objects(section: str) -> list[dict[str, Any]]:
    """The objects lsipc would find: linked ones (a directory lists names),
    queues it may read, semaphores it may open read-write, shm files not
    named sem.* (lsipc takes those for semaphores)."""
    out = []
    for page in uipc.introspect.pages(section):
        for e in page["entries"]:
            if section == "mqueue" and e.get("linked", True) and may_access(e, 4):
                out.append(e)
            elif (section == "posix_sem" and e.get("linked", True) and may_access(e, 6)
                  and e.get("value") is not None):
                out.append(e)
            elif section == "posix_shm" and not e["name"].lstrip("/").startswith("sem."):
                out.append(e)
    return out


# --- limits and processes ----------------------------------------------------------------------

def sysctl_int(name: str) -> int:
    """A /proc/sys value as lsipc reads it (ul_path_read_* / fscanf)."""
    return int(uipc.sysctl.get(name).split()[0])


def msg_limits() -> tuple[int, int, int]:
    """ipc_msg_get_limits(): (msgmni, msgmax, msgmnb) from /proc/sys/kernel."""
    return sysctl_int("kernel.msgmni"), sysctl_int("kernel.msgmax"), sysctl_int("kernel.msgmnb")


def shm_limits() -> tuple[int, int, int, int]:
    """ipc_shm_get_limits(): (shmmni, shmall, shmmax, shmmin); SHMMIN is a constant."""
    return (sysctl_int("kernel.shmmni"), sysctl_int("kernel.shmall"),
            sysctl_int("kernel.shmmax"), uipc.SHMMIN)


def sem_limits() -> tuple[int, int, int, int, int]:
    """ipc_sem_get_limits(): (semmni, semmns, semmsl, semopm, semvmx), the
    first four from /proc/sys/kernel/sem ("semmsl semmns semopm semmni")."""
    semmsl, semmns, semopm, semmni = (int(v) for v in uipc.sysctl.get("kernel.sem").split()[:4])
    return semmni, semmns, semmsl, semopm, uipc.SEMVMX


def posix_msg_limits() -> tuple[int, int, int]:
    """2.41's posix_ipc_msg_get_limits(): (queues_max, msgsize_max, msg_max)
    from /proc/sys/fs/mqueue."""
    return (sysctl_int("fs.mqueue.queues_max"), sysctl_int("fs.mqueue.msgsize_max"),
            sysctl_int("fs.mqueue.msg_max"))


def pid_get_cmdline(pid: int) -> str | None:
    """lib/procfs.c pid_get_cmdline(): /proc/PID/cmdline, NULs as spaces,
    its last byte dropped (the final NUL), at most BUFSIZ bytes."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            data = f.read(8192)
    except OSError:
        return None
    if not data:
        return None
    return data.replace(b"\0", b" ")[:-1].decode("utf-8", "surrogateescape")
