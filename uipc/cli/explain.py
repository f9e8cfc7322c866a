"""`uipc explain ID|KEY|NAME [-q|-s|-m] [--json] [--namespace NAME]`: who
holds an IPC object, who waits on it, and why, in sentences.
`uipc explain --pid PID`: what a process holds (its uipc descriptors:
pipes, FIFOs, eventfds, timerfds, signalfds, epolls), what each of its
threads is blocked in and why, and its signals.

ID is a SysV id (decimal; a message queue, a semaphore set and a segment
may share one: each match is explained unless -q, -s or -m picks a kind),
KEY a SysV key (0x...), NAME a POSIX object (/name: a message queue, a
named semaphore or a shared memory object).  Everything comes from the
daemon's introspection (uipc/kernel/procfs.py); the few facts it lacks --
a queue's msg_qbytes, the pid that last changed a semaphore -- are asked
with the calls any program could make (msgctl IPC_STAT, semctl GETPID).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import dataclass
from typing import Any, Callable

from uipc.uapi import signalfd as U_SIG

#: introspection section -> what the object is called in a sentence
KIND_NAMES = {
    "msg": "message queue", "sem": "semaphore set", "shm": "shared memory segment",
    "mqueue": "POSIX message queue", "posix_sem": "POSIX semaphore",
    "posix_shm": "POSIX shared memory object",
}
SYSV = ("msg", "sem", "shm")
POSIX = ("mqueue", "posix_sem", "posix_shm")
#: struct sigevent's sigev_notify values (uipc.uapi.mqueue)
_SIGEV = {0: "SIGEV_SIGNAL", 1: "SIGEV_NONE", 2: "SIGEV_THREAD"}
#: msgrcv's search modes (kernel/msg.py's SEARCH_*), for a receiver's "mode"
_SEARCH_ANY, _SEARCH_EQUAL, _SEARCH_NOTEQUAL, _SEARCH_LESSEQUAL, _SEARCH_NUMBER = 1, 2, 3, 4, 5
_SEM_UNDO, _IPC_NOWAIT = 0o10000, 0o4000
_U32 = 0xFFFFFFFF


# --- words --------------------------------------------------------------------
def plural(n: int, word: str, words: str | None = None) -> str:
    """'1 message', '2 messages'."""
    return f"{n} {word if n == 1 else (words or word + 's')}"


def age(seconds: float) -> str:
    """A duration as a person reads it: '3.2 s', '4 min 5 s', '2 h 10 min'."""
    s = max(seconds, 0.0)
    if s < 60:
        return f"{s:.1f} s"
    if s < 3600:
        return f"{int(s // 60)} min {int(s % 60)} s"
    return f"{int(s // 3600)} h {int(s % 3600 // 60)} min"


def key_text(key: int) -> str:
    """A SysV key as ipcs prints it (0x0000abcd; IPC_PRIVATE is 0x00000000)."""
    return f"0x{key & _U32:08x}"


def pid_list(pids: list[int]) -> str:
    """'pid 7', 'pids 7, 8 and 9'."""
    if len(pids) == 1:
        return f"pid {pids[0]}"
    return "pids " + ", ".join(map(str, pids[:-1])) + f" and {pids[-1]}"


def _owner(e: dict[str, Any]) -> str:
    return f"owner uid {e['uid']}, mode {e.get('perms', e.get('mode', 0)) & 0o777:03o}"


def object_label(kind: str, e: dict[str, Any]) -> str:
    """'message queue 32768 (key 0x00000010)', 'POSIX semaphore /name'."""
    if kind in SYSV:
        return f"{KIND_NAMES[kind]} {e['id']} (key {key_text(e['key'])})"
    return f"{KIND_NAMES[kind]} {e['name']}"


# --- facts the introspection lacks --------------------------------------------------
@dataclass
class Context:
    """What a sentence needs besides the object's entry: the time now (the
    daemon stamps sleepers and objects with CLOCK_REALTIME) and -- when
    ``live`` -- calls to the daemon for the facts the entry lacks."""

    now: float
    live: bool = True

    def qbytes(self, e: dict[str, Any]) -> int | None:
        """A message queue's msg_qbytes: the entry's if it has one, else
        msgctl(IPC_STAT) (needs read permission, as the sleepers do)."""
        if "qbytes" in e:
            return e["qbytes"]
        return self._ask(lambda uipc: uipc.msgctl(e["id"], uipc.IPC_STAT).msg_qbytes, e)

    def sempid(self, e: dict[str, Any], num: int) -> int | None:
        """sems[num].sempid: the entry's "pids" if it has them, else
        semctl(GETPID)."""
        pids = e.get("pids")
        if pids is not None:
            return pids[num]
        return self._ask(lambda uipc: uipc.semctl(e["id"], num, uipc.GETPID), e)

    def _ask(self, fn: Callable[[Any], int], e: dict[str, Any]) -> int | None:
        if not self.live or not e.get("readable", True):
            return None
        import uipc
        try:
            return int(fn(uipc))
        except OSError:  # removed since the snapshot, or refused
            return None

    def since(self, w: dict[str, Any]) -> str:
        """'since 3.2 s', and for a timed wait whose entry gives the seconds
        left ("timeout", not in the introspection yet) ', gives up in 5.0 s'."""
        text = f"since {age(self.now - w['since'])}"
        if w.get("timeout") is not None:
            text += f", gives up in {age(w['timeout'])}"
        return text

    def ago(self, stamp: float) -> str:
        return f"{age(self.now - stamp)} ago"


# --- SysV message queues ----------------------------------------------------------
def _wanted_type(w: dict[str, Any]) -> str | None:
    """What a sleeping msgrcv asks for, if the entry carries its msgtyp and
    search mode (fields the introspection does not give yet)."""
    if "msgtyp" not in w:
        return None
    t, mode = w["msgtyp"], w.get("mode")
    if mode == _SEARCH_ANY or (mode is None and t == 0):
        return "a message of any type"
    if mode == _SEARCH_LESSEQUAL or (mode is None and t < 0):
        return f"a message of type {abs(t)} or lower"
    if mode == _SEARCH_NOTEQUAL:
        return f"a message of any type but {t}"
    if mode == _SEARCH_NUMBER:
        return f"message number {t} (MSG_COPY)"
    return f"a message of type {t}"


def _msg_header(e: dict[str, Any], qbytes: int | None, ctx: Context) -> list[str]:
    limit = f" of its {qbytes} (msg_qbytes)" if qbytes is not None else ""
    out = [f"{object_label('msg', e)}, {_owner(e)}, holds {plural(e['qnum'], 'message')} in "
           f"{plural(e['cbytes'], 'byte')}{limit}."]
    types = e.get("types")
    if types:
        out.append("By type: " + "; ".join(f"type {t}: {plural(n, 'message')}, "
                                            f"{plural(b, 'byte')}" for t, n, b in types) + ".")
    elif e["qnum"]:
        out.append("Their types are not known: the introspection lists no messages.")
    last = []
    if e["stime"]:
        last.append(f"last msgsnd by pid {e['lspid']}, {ctx.ago(e['stime'])}")
    if e["rtime"]:
        last.append(f"last msgrcv by pid {e['lrpid']}, {ctx.ago(e['rtime'])}")
    if last:
        text = "; ".join(last)
        out.append(text[0].upper() + text[1:] + ".")
    return out


def _msg_receiver(e: dict[str, Any], w: dict[str, Any], ctx: Context) -> str:
    wanted = _wanted_type(w)
    head = f"pid {w['pid']} waits in {w['op']} ({ctx.since(w)})"
    if wanted is not None:
        head += f" for {wanted}"
    if e["qnum"] == 0:
        return f"{head}: the queue is empty."
    queued = "the queued message is not" if e["qnum"] == 1 else \
        f"none of the {e['qnum']} queued messages is"
    if wanted is not None:
        return f"{head}: {queued} one."
    return (f"{head}: {queued} of the type it asks for (its msgtyp is not in the "
            "introspection).")


def _msg_sender(e: dict[str, Any], w: dict[str, Any], qbytes: int | None, ctx: Context) -> str:
    """msg_fits_inqueue() failed: msgsz + q_cbytes > q_qbytes, or the queue
    holds q_qbytes messages already."""
    head = f"pid {w['pid']} waits in {w['op']} ({ctx.since(w)})"
    size = w.get("msgsz")
    what = (f"its {size}-byte message" if size is not None else
            "its message (whose size the introspection does not give)")
    if qbytes is None:
        return (f"{head}: the queue holds {plural(e['cbytes'], 'byte')} and "
                f"{plural(e['qnum'], 'message')}; its byte limit (msg_qbytes) is not known to "
                f"you, so why {what} does not fit cannot be told.")
    if e["qnum"] >= qbytes:
        return (f"{head}: the queue holds {e['qnum']} messages, as many as msg_qbytes "
                f"({qbytes}) allows; {what} waits for a receiver.")
    return (f"{head}: the queue holds {e['cbytes']} of its {qbytes} bytes (msg_qbytes), "
            f"{qbytes - e['cbytes']} free, and {what} does not fit.")


def explain_msg(e: dict[str, Any], ctx: Context) -> list[str]:
    """A SysV message queue: contents, last users, blocked receivers and senders."""
    qbytes = ctx.qbytes(e)
    out = _msg_header(e, qbytes, ctx)
    out += [_msg_receiver(e, w, ctx) for w in e["receivers"]]
    out += [_msg_sender(e, w, qbytes, ctx) for w in e["senders"]]
    if not e["receivers"] and not e["senders"]:
        out.append("Nobody waits on it" + _hidden(e) + ".")
    return out


def _hidden(e: dict[str, Any]) -> str:
    """What 'nobody waits' leaves out for an object the caller may not read
    (a POSIX queue's entry does not say: it is then taken as readable)."""
    if e.get("readable", True):
        return ""
    return (" that you may see (you may not read it: other users' sleepers and its values "
            "are hidden)")


# --- SysV semaphore sets ------------------------------------------------------------
def _sop_text(sop: list[int]) -> str:
    num, op, flg = sop
    flags = [name for bit, name in ((_SEM_UNDO, "SEM_UNDO"), (_IPC_NOWAIT, "IPC_NOWAIT"))
             if flg & bit]
    return f"sem {num} {op:+d}" + (f" {'|'.join(flags)}" if flags else "")


def _undo_effect(pid: int, adj: int) -> str:
    """What a semadj means: semop(-n, SEM_UNDO) leaves semadj +n."""
    if adj > 0:
        return f"has taken {adj} with SEM_UNDO: it is given back when pid {pid} exits"
    return f"has added {-adj} with SEM_UNDO: that is undone when pid {pid} exits"


def _adjustments(e: dict[str, Any]) -> dict[tuple[int, int], int]:
    """(pid, sem_num) -> nonzero semadj, from the set's undo entries."""
    return {(u["pid"], num): adj for u in e["undo"] for num, adj in enumerate(u["semadj"])
            if adj}


def _sem_waiter(e: dict[str, Any], w: dict[str, Any], adj: dict[tuple[int, int], int],
                told: set[tuple[int, int]], ctx: Context) -> str:
    """One sleeping semop: the operation that blocked (q->blocking), the
    semaphore's value, and who last changed it."""
    sops = w.get("sops") or []
    b = w.get("blocking", 0)
    head = f"pid {w['pid']} waits in {w['op']}"
    if not sops or not 0 <= b < len(sops):
        return f"{head} on set {e['id']} ({ctx.since(w)})."
    num, op, _ = sops[b]
    values = e.get("values")
    now = f"it is {values[num]}; " if values is not None else ""
    goal = "to reach 0" if op == 0 else f"to reach at least {-op}" if op < 0 else \
        f"to take {op} more without passing SEMVMX"
    text = f"{head} for sem {num} of set {e['id']} {goal} ({now}{ctx.since(w)})"
    if len(sops) > 1:
        text += "; its whole operation, done at once, is " + ", ".join(map(_sop_text, sops))
    last = ctx.sempid(e, num)
    if last:
        text += f"; pid {last} last changed it"
        if (last, num) in adj:
            told.add((last, num))
            text += f" (it {_undo_effect(last, adj[(last, num)])})"
    elif last == 0:
        text += "; no process has changed it since the set was made"
    return text + "."


def explain_sem(e: dict[str, Any], ctx: Context) -> list[str]:
    """A SysV semaphore set: values, sleeping semops, SEM_UNDO adjustments."""
    values = e.get("values")
    shown = (f"values {', '.join(map(str, values))}" if values is not None else
             "values hidden (no read permission)")
    out = [f"{object_label('sem', e)}, {_owner(e)}, has {plural(e['nsems'], 'semaphore')}: "
           f"{shown}."]
    if e["otime"]:
        out.append(f"Last semop {ctx.ago(e['otime'])}.")
    adj, told = _adjustments(e), set()
    out += [_sem_waiter(e, w, adj, told, ctx) for w in e["waiters"]]
    if not e["waiters"]:
        out.append("Nobody waits on it" + _hidden(e) + ".")
    for (pid, num), a in sorted(adj.items()):
        if (pid, num) not in told:
            out.append(f"On sem {num}, pid {pid} {_undo_effect(pid, a)}.")
    return out


# --- SysV shared memory ---------------------------------------------------------------
def explain_shm(e: dict[str, Any], ctx: Context) -> list[str]:
    """A SysV segment: size, attachers by pid, SHM_DEST."""
    out = [f"{object_label('shm', e)}, {_owner(e)}, is {plural(e['size'], 'byte')} "
           f"({e['rss']} resident), created by pid {e['cpid']}."]
    n, shown = e["nattch"], e["attachers"]
    if n == 0:
        out.append("Nobody is attached.")
    else:
        by = [f"pid {a['pid']}" + (f" ({a['count']} mappings)" if a["count"] > 1 else "")
              for a in shown]
        rest = n - sum(a["count"] for a in shown)
        if rest > 0:
            by.append(f"{plural(rest, 'mapping')} of processes you may not inspect")
        listed = ", ".join(by[:-1]) + f" and {by[-1]}" if len(by) > 1 else "".join(by)
        out.append(f"It is attached {plural(n, 'time')}, by {listed}; the last shmat or shmdt "
                   f"was pid {e['lpid']}'s.")
    if e["dest"]:
        out.append("It is marked for destruction (IPC_RMID): it goes when the last process "
                   "detaches.")
    else:
        out.append("It is not marked for destruction: it stays, attached or not, until "
                   "IPC_RMID.")
    return out


# --- POSIX objects ---------------------------------------------------------------------
def _notify_text(e: dict[str, Any]) -> str:
    n = e["notify"]
    if n is None:
        return "Nobody is registered for notification (mq_notify)."
    how = _SIGEV.get(n["sigev_notify"], f"sigev_notify {n['sigev_notify']}")
    if n["sigev_notify"] == 0:
        how += f", signal {n['sigev_signo']}"
    text = (f"pid {n['pid']} is registered for notification ({how}): it is told when a "
            "message arrives on the empty queue")
    if e["receivers"]:
        text += ", but not while a receiver waits (the receiver takes the message)"
    return text + "."


def explain_mqueue(e: dict[str, Any], ctx: Context) -> list[str]:
    """A POSIX message queue: curmsgs/maxmsg, sleepers, the notification."""
    out = [f"{object_label('mqueue', e)}, {_owner(e)}, holds {e['curmsgs']} of its "
           f"{plural(e['maxmsg'], 'message')} ({plural(e['qsize'], 'byte')}; each at most "
           f"{e['msgsize']}), with {plural(e['open_files'], 'open file')}."]
    if not e["linked"]:
        out.append("It is unlinked: it goes when its last descriptor closes.")
    if e["curmsgs"]:
        out.append("Their priorities are not known: the introspection lists no messages.")
    for w in e["receivers"]:
        out.append(f"pid {w['pid']} waits in {w['op']} ({ctx.since(w)}): the queue is empty.")
    for w in e["senders"]:
        out.append(f"pid {w['pid']} waits in {w['op']} ({ctx.since(w)}): the queue is full "
                   f"({e['curmsgs']} of {e['maxmsg']} messages).")
    if not e["receivers"] and not e["senders"]:
        out.append("Nobody waits on it" + _hidden(e) + ".")
    out.append(_notify_text(e))
    return out


def explain_posix_sem(e: dict[str, Any], ctx: Context) -> list[str]:
    """A named POSIX semaphore: value, openers, sem_wait sleepers."""
    value = e["value"]
    shown = f"has value {value}" if value is not None else \
        "has its value hidden (no read permission)"
    out = [f"{object_label('posix_sem', e)}, {_owner(e)}, {shown}."]
    openers = e["openers"]
    out.append(f"It is open in {pid_list(openers)}." if openers else "Nobody has it open.")
    if not e["linked"]:
        out.append("It is unlinked: it goes when its last opener closes it.")
    for w in e["waiters"]:
        now = f" (it is {value})" if value is not None else ""
        out.append(f"pid {w['pid']} waits in {w['op']} ({ctx.since(w)}) for the value to rise "
                   f"above 0{now}; a POSIX semaphore records no holder.")
    if not e["waiters"]:
        # the entry has no "readable": a hidden value says the same
        out.append("Nobody waits on it" + _hidden(dict(e, readable=value is not None)) + ".")
    return out


def explain_posix_shm(e: dict[str, Any], ctx: Context) -> list[str]:
    """A POSIX shared memory object: size; its openers are not introspected."""
    size = "of unknown size" if e["size"] is None else plural(e["size"], "byte")
    return [f"{object_label('posix_shm', e)}, {_owner(e)}, is {size}.",
            "Who has it open or mapped is not known: the introspection does not list it."]


# --- processes, their descriptors and what they wait on ------------------------------------
#: a descriptor's kind (the files section's "type") in a sentence
FILE_NAMES = {"pipe": "pipe", "fifo": "FIFO", "eventfd": "eventfd", "timerfd": "timerfd",
              "signalfd": "signalfd", "epoll": "epoll", "mqueue": "POSIX message queue"}
#: signal numbers by name (the kernel's numbers: uipc.uapi.signalfd)
_SIGNAMES = {getattr(U_SIG, n): n for n in dir(U_SIG)
             if n.startswith("SIG") and not n.startswith(("SIG_", "SIGRT", "SIGNALFD"))
             and isinstance(getattr(U_SIG, n), int)}
_SI_CODES = {U_SIG.SI_USER: "SI_USER", U_SIG.SI_QUEUE: "SI_QUEUE", U_SIG.SI_MESGQ: "SI_MESGQ",
             U_SIG.SI_KERNEL: "SI_KERNEL", U_SIG.SI_TKILL: "SI_TKILL"}
#: the SysV and POSIX objects a sleeper's "id" names, by its op
_OP_OBJECTS = {"msgrcv": "message queue", "msgsnd": "message queue", "semop": "semaphore set",
               "semtimedop": "semaphore set", "sem_wait": "POSIX semaphore number"}
#: eventfd's ULLONG_MAX - 1: the most its counter holds
_EVENTFD_MAX = (1 << 64) - 2


def signal_name(sig: int) -> str:
    """'SIGUSR1'; real-time signals as strace names them from the kernel's
    SIGRTMIN (32): 'SIGRT_2' is signal 34, glibc's SIGRTMIN."""
    if sig >= U_SIG.SIGRTMIN:
        return f"SIGRT_{sig - U_SIG.SIGRTMIN}"
    return _SIGNAMES.get(sig, f"signal {sig}")


def signal_list(sigs: list[int]) -> str:
    return ", ".join(map(signal_name, sigs))


def file_label(f: dict[str, Any]) -> str:
    """'pipe 1234' (a descriptor's inode, its st_ino), 'FIFO /name'."""
    if f["type"] == "fifo" and f.get("name"):
        return f"FIFO {f['name']}"
    if f["type"] == "mqueue" and f.get("name"):
        return f"POSIX message queue {f['name']}"
    return f"{FILE_NAMES.get(f['type'], f['type'])} {f['ino']}"


def _holders(n: int, what: str, pids: list[int]) -> str:
    """'1 writer: pid 124', '2 readers: pids 4 and 5', '1 writer (held by
    processes you may not inspect)'."""
    text = plural(n, what)
    if not n:
        return text
    return f"{text}: {pid_list(pids)}" if pids else \
        f"{text} (held by processes you may not inspect)"


def _pipe_empty(f: dict[str, Any], reader: int | None = None) -> str:
    """Why a read of an empty pipe waits: it has writers.  A reader that
    holds a write end itself waits for itself (no end of file until it
    closes it)."""
    text = "empty, " + _holders(f["writers"], "writer", f["writer_pids"])
    if reader is not None and reader in f["writer_pids"]:
        text += f"; pid {reader} holds a write end itself, so it sees no end of file " \
                "until it closes it"
    return text


def _pipe_full(f: dict[str, Any]) -> str:
    packets = " in packets (O_DIRECT: one a slot)" if f.get("packet") else ""
    return (f"full: {f['bytes']} of {f['capacity']} bytes{packets}, "
            + _holders(f["readers"], "reader", f["reader_pids"]))


def _timer_text(f: dict[str, Any]) -> str:
    if not f["armed"]:
        return "it is disarmed: only timerfd_settime arms it"
    text = f"it has not expired yet: next expiry in {age(f['remaining'])}"
    if f["interval"]:
        text += f", then every {age(f['interval'])}"
    return text


def _signalfd_text(f: dict[str, Any], blocked: list[int] | None) -> str:
    """What a signalfd read waits for; a signal it reads that the process
    does not block is delivered the ordinary way and never reaches it."""
    sigs = f["sigmask"]
    pending = "it is not pending" if len(sigs) == 1 else "none of them is pending"
    text = f"for {signal_list(sigs)}: {pending}" if sigs else \
        "with an empty mask: it reads nothing"
    loose = [s for s in sigs if blocked is not None and s not in blocked]
    if loose:
        text += (f" ({signal_list(loose)} {'is' if len(loose) == 1 else 'are'} not blocked: "
                 "delivered as a signal, never read here)")
    return text


def _epoll_text(f: dict[str, Any], named: bool = True) -> str:
    """'2 descriptors, none ready (epoll 12: pipe 7 (fd 5), eventfd 9 (fd 6))';
    without the epoll's own label unless ``named``."""
    ready = "none" if not f["ready"] else str(f["ready"])
    watched = [f"{FILE_NAMES.get(t['type'], t['type'])} {t['ino']} (fd {t['tfd']})"
               for t in f["targets"]]
    more = f" and {f['items'] - len(watched)} more" if f["items"] > len(watched) else ""
    listing = ", ".join(watched) + more
    if named:
        listing = file_label(f) + (f": {listing}" if listing else "")
    return f"{plural(f['items'], 'descriptor')}, {ready} ready" + (f" ({listing})" if listing
                                                                    else "")


def _file_wait(pid: int, w: dict[str, Any], files: list[dict[str, Any]],
               blocked: list[int] | None, ctx: Context) -> str | None:
    """The sentence for a sleeper whose "on" names files, by its op."""
    op, since, f = w["op"], ctx.since(w), files[0]
    for_ = w["on"].get("for")
    if op == "pipe read":
        return f"pid {pid} is blocked reading {file_label(f)} ({_pipe_empty(f, pid)}), {since}."
    if op == "pipe write":
        return f"pid {pid} is blocked writing {file_label(f)} ({_pipe_full(f)}), {since}."
    if op in ("splice", "tee") and len(files) == 2:
        fin, fout = files
        why = (f"{file_label(fin)} is {_pipe_empty(fin)}" if for_ == "data" and "writers" in fin
               else f"{file_label(fout)} is {_pipe_full(fout)}" if "readers" in fout else
               "it waits for its other side")
        return f"pid {pid} is blocked in {op} from {file_label(fin)} to {file_label(fout)}: " \
               f"{why} ({since})."
    if op == "eventfd read":
        return (f"pid {pid} is blocked reading {file_label(f)}: its counter is 0, until a "
                f"write adds to it ({since}).")
    if op == "eventfd write":
        return (f"pid {pid} is blocked writing {file_label(f)}: its counter ({f['count']}) has "
                f"no room for the value below {_EVENTFD_MAX}, until a read takes it ({since}).")
    if op == "timerfd read":
        return f"pid {pid} is blocked reading {file_label(f)}: {_timer_text(f)} ({since})."
    if op == "signalfd read":
        label = file_label(f) if len(files) == 1 else \
            "a signalfd (one of " + ", ".join(str(x["ino"]) for x in files) + ")"
        return f"pid {pid} is blocked reading {label} {_signalfd_text(f, blocked)} ({since})."
    if op == "epoll_wait":
        return f"pid {pid} waits in epoll_wait on {_epoll_text(f)}, {since}."
    if op == "poll":
        return (f"pid {pid} waits in poll on {plural(len(files), 'descriptor')} "
                f"({', '.join(map(file_label, files))}), none ready, {since}.")
    return None


def wait_sentence(pid: int, w: dict[str, Any], ctx: Context,
                  blocked: list[int] | None = None) -> str:
    """One sleeping thread of a process (a "waits" entry of the processes
    section): what it is blocked in, on what, and why it still waits.
    ``blocked``: the process's blocked signals, when known."""
    on, since = w.get("on") or {}, ctx.since(w)
    files = on.get("files") or []
    if files:
        text = _file_wait(pid, w, files, blocked, ctx)
        if text is not None:
            return text
        return f"pid {pid} waits in {w['op']} on {', '.join(map(file_label, files))}, {since}."
    if "fifo" in on:
        side = "reading" if on["for"] == "writer" else "writing"
        return (f"pid {pid} is blocked opening FIFO {on['fifo']} for {side}: no {on['for']} "
                f"has opened it yet ({since}).")
    if "mqueue" in on:
        return (f"pid {pid} waits in {w['op']} on POSIX message queue {on['mqueue']} "
                f"({on['curmsgs']} of {plural(on['maxmsg'], 'message')}), {since}.")
    if "id" in on:
        return f"pid {pid} waits in {w['op']} on {_OP_OBJECTS.get(w['op'], 'object')} " \
               f"{on['id']}, {since}."
    return f"pid {pid} waits in {w['op']}, {since}."


def _descriptor_list(files: list[dict[str, Any]]) -> str:
    ends = {"r": " (read end)", "w": " (write end)"}
    return ", ".join(file_label(f) + (ends.get(f["mode"], "") if f["type"] in ("pipe", "fifo")
                                      else "") for f in files)


def _signal_sentences(sig: dict[str, Any]) -> list[str]:
    """Blocked and pending signals; the queued ones' senders where shown."""
    blocked = f"It blocks {signal_list(sig['blocked'])}" if sig["blocked"] else \
        "It blocks no signal"
    pending = sig["pending"]
    out = [f"{blocked}; {'pending: ' + signal_list(pending) if pending else 'none is pending'}."]
    queued = sig.get("queued")
    for q in queued or []:
        code = _SI_CODES.get(q["code"], f"si_code {q['code']}")
        value = f", value {q['value']}" if q["code"] < 0 else ""
        out.append(f"Queued: {signal_name(q['signo'])} from pid {q['pid']} (uid {q['uid']}, "
                   f"{code}{value}).")
    total = sig.get("queued_total") or 0
    if queued is not None and total > len(queued):
        out.append(f"And {total - len(queued)} more queued signals.")
    return out


def explain_process(p: dict[str, Any], files: list[dict[str, Any]] | None,
                    ctx: Context) -> list[str]:
    """A process: its uipc descriptors, what each of its threads is blocked
    in and why, and its signals (``p`` a processes-section entry, ``files``
    its files-section list, None when hidden)."""
    pid = p["pid"]
    head = f"pid {pid} (uid {p['uid']}, {plural(p['tasks'], 'task')})"
    if files is None or p.get("waits") is None:
        out = [f"{head}: its descriptors and waits are hidden (you may not inspect it)."]
    else:
        held = (f"holds {plural(len(files), 'uipc descriptor')}: {_descriptor_list(files)}"
                if files else "holds no uipc descriptor")
        out = [f"{head} {held}."]
        blocked = p["signals"]["blocked"]
        out += [wait_sentence(pid, w, ctx, blocked) for w in p["waits"]]
        if not p["waits"]:
            out.append("It is not blocked in any uipc call.")
    return out + _signal_sentences(p["signals"])


def explain_file(f: dict[str, Any], holders: list[int],
                 sleepers: list[tuple[int, dict[str, Any]]], ctx: Context) -> list[str]:
    """One descriptor's open file (a files-section entry): its state, the
    processes holding it (``holders``) and those blocked on it (``sleepers``:
    (pid, wait entry) pairs)."""
    label, kind = file_label(f), f["type"]
    if kind in ("pipe", "fifo"):
        end = {"r": "read end", "w": "write end"}.get(f["mode"], "both ends")
        head = (f"{label} ({end}) holds {f['bytes']} of {f['capacity']} bytes; "
                f"{_holders(f['readers'], 'reader', f['reader_pids'])}; "
                f"{_holders(f['writers'], 'writer', f['writer_pids'])}.")
    elif kind == "eventfd":
        sem = " (EFD_SEMAPHORE: a read takes 1)" if f["semaphore"] else ""
        head = f"{label} counts {f['count']}{sem}."
    elif kind == "timerfd":
        head = f"{label}: {_timer_text(f)}; {plural(f['ticks'], 'expiration')} not read yet."
    elif kind == "signalfd":
        sigs = signal_list(f["sigmask"]) or "no signal"
        head = f"{label} reads {sigs} of the process reading it (made by pid {f['owner']})."
    elif kind == "epoll":
        head = f"{label} watches {_epoll_text(f, named=False)}."
    else:
        head = f"{label}."
    out = [head, f"It is open in {pid_list(holders)}." if holders else
           "No process you may inspect holds it."]
    out += [wait_sentence(pid, w, ctx) for pid, w in sleepers]
    if not sleepers:
        out.append("Nobody you may inspect is blocked on it.")
    return out


EXPLAINERS: dict[str, Callable[[dict[str, Any], Context], list[str]]] = {
    "msg": explain_msg, "sem": explain_sem, "shm": explain_shm, "mqueue": explain_mqueue,
    "posix_sem": explain_posix_sem, "posix_shm": explain_posix_shm,
}


def explain(kind: str, e: dict[str, Any], ctx: Context) -> list[str]:
    """The sentences for one object of one introspection section."""
    out = EXPLAINERS[kind](e, ctx)
    return [out[0][0].upper() + out[0][1:]] + out[1:]


# --- finding the object ---------------------------------------------------------------
@dataclass(frozen=True)
class Query:
    """What the operator typed: an id, a key (0x...) or a /name."""

    what: str  # "id", "key" or "name"
    value: int | str

    @classmethod
    def parse(cls, text: str) -> "Query":
        """'32768' -> id, '0x1f' -> key, '/q' (or 'q') -> POSIX name."""
        if text.lower().startswith("0x"):
            try:
                return cls("key", int(text, 16) & _U32)
            except ValueError:
                raise ValueError(f"{text!r} is not a hexadecimal key") from None
        if text.lstrip("-").isdigit():
            if text.startswith("-"):
                raise ValueError(f"{text!r}: an IPC id is never negative")
            return cls("id", int(text))
        return cls("name", text if text.startswith("/") else "/" + text)

    def describe(self) -> str:
        if self.what == "key":
            return f"key {key_text(int(self.value))}"
        return f"{self.what} {self.value}"


def find(snapshot: dict[str, Any], q: Query, kinds: tuple[str, ...]) -> list[tuple[str, dict]]:
    """Every object of ``kinds`` in the snapshot that ``q`` names."""
    out = []
    for kind in kinds:
        for e in snapshot.get(kind, []):
            if q.what == "id" and kind in SYSV and e["id"] == q.value:
                out.append((kind, e))
            elif q.what == "key" and kind in SYSV and e["key"] & _U32 == q.value:
                out.append((kind, e))
            elif q.what == "name" and kind in POSIX and e["name"] == q.value:
                out.append((kind, e))
    return out


def context_of(taken: float | None = None, live: bool = True) -> Context:
    """The context of a snapshot taken at ``taken`` (None: now)."""
    return Context(now=time.time() if taken is None else taken, live=live)


# --- the command -------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="uipc explain", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    kind = p.add_mutually_exclusive_group()
    kind.add_argument("-q", "--queue", dest="kinds", action="store_const", const=("msg",),
                      help="only a message queue")
    kind.add_argument("-s", "--semaphore", dest="kinds", action="store_const", const=("sem",),
                      help="only a semaphore set")
    kind.add_argument("-m", "--shmem", dest="kinds", action="store_const", const=("shm",),
                      help="only a shared memory segment")
    p.add_argument("--json", action="store_true", help="print the sentences and the objects "
                   "as JSON")
    p.add_argument("--namespace", metavar="NAME", help="the namespace (default: this process's)")
    p.add_argument("-p", "--pid", type=int, metavar="PID",
                   help="explain a process instead: its descriptors, waits and signals")
    p.add_argument("object", metavar="ID|KEY|NAME", nargs="?", help="a SysV id, a key (0x...) "
                   "or a POSIX /name")
    return p


def _not_found(q: Query, kinds: tuple[str, ...], namespace: str) -> str:
    names = [KIND_NAMES[k] for k in kinds if (k in SYSV) == (q.what != "name")]
    listed = ", ".join(names[:-1]) + f" or {names[-1]}" if len(names) > 1 else names[0]
    return f"no {listed} with {q.describe()} in namespace {namespace}"


def report(matches: list[tuple[str, dict]], ctx: Context) -> list[dict[str, Any]]:
    """One record per match: kind, label, sentences and the entry itself."""
    return [{"kind": kind, "label": object_label(kind, e), "sentences": explain(kind, e, ctx),
             "object": e} for kind, e in matches]


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.pid is not None:
        if args.object is not None or args.kinds:
            parser.error("--pid explains a process: no ID, KEY, NAME, -q, -s or -m with it")
        return explain_pid(args)
    if args.object is None:
        parser.error("an ID, KEY or NAME is required (or --pid PID)")
    try:
        q = Query.parse(args.object)
    except ValueError as exc:
        parser.error(str(exc))
    if args.kinds and q.what == "name":
        parser.error(f"{q.value} is a POSIX name: -q, -s and -m pick a SysV kind")
    from uipc.cli.common import attach, fail
    attach("uipc explain", args.namespace)
    from uipc.client import introspect
    try:
        snapshot = introspect.namespace()
    except OSError as exc:
        fail("uipc explain", exc.strerror or str(exc))
    kinds = args.kinds or SYSV + POSIX
    matches = find(snapshot, q, kinds)
    if not matches:
        fail("uipc explain", _not_found(q, kinds, snapshot.get("namespace", "?")))
    records = report(matches, context_of())
    if args.json:
        return write(json.dumps({"namespace": snapshot["namespace"], "objects": records},
                                indent=2) + "\n")
    return write("\n\n".join("\n".join(r["sentences"]) for r in records) + "\n")


def process_report(pid: int, ctx: Context) -> dict[str, Any] | None:
    """The record of one process of this namespace (None: no such process):
    its processes-section and files-section entries, and the sentences."""
    from uipc.client import introspect
    reply, _ = introspect.page("processes", pid, 1)
    entries = [e for e in reply["entries"] if e["pid"] == pid]
    if not entries:
        return None
    files = introspect.files(pid)
    held = files[0]["files"] if files else None
    p = entries[0]
    sentences = explain_process(p, held, ctx)
    sentences[0] = sentences[0][0].upper() + sentences[0][1:]
    return {"kind": "process", "label": f"pid {pid}", "sentences": sentences,
            "object": dict(p, files=held), "namespace": reply["namespace"]}


def explain_pid(args: argparse.Namespace) -> int:
    """`uipc explain --pid PID`."""
    from uipc.cli.common import attach, fail
    attach("uipc explain", args.namespace)
    if args.pid <= 0:
        fail("uipc explain", f"pid {args.pid} is not positive")
    try:
        record = process_report(args.pid, context_of())
        if record is None:
            from uipc.client import introspect
            ns = introspect.page("processes", 0, 1)[0]["namespace"]
            fail("uipc explain", f"no uipc process {args.pid} in namespace {ns}")
    except OSError as exc:
        fail("uipc explain", exc.strerror or str(exc))
    ns = record.pop("namespace")
    if args.json:
        return write(json.dumps({"namespace": ns, "objects": [record]}, indent=2) + "\n")
    return write("\n".join(record["sentences"]) + "\n")


def write(text: str) -> int:
    """Print ``text``; a reader that went away (`| head`) is no error, as
    for any filter: stdout then goes to /dev/null, so that the interpreter's
    last flush is quiet too."""
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


if __name__ == "__main__":
    sys.exit(main())
