"""`uipc trace [--pid PID] [--namespace NAME] [--syscall NAME,...] [--json]`

A live stream of every IPC call in the namespace, in strace's style: the
time, the pid, the call with its arguments decoded (flags by name), the
result or errno with the rule that fired, and for a call that slept, how
long it slept.  Others' calls are shown only to root (as strace needs
ptrace rights).  Ctrl-C stops it.
"""
from __future__ import annotations

import argparse
import errno
import json
import os
import sys
import time
from typing import Any

import uipc
from uipc.cli.common import attach, fail
from uipc.cli.explain import signal_name
from uipc.uapi import fcntl as U_FCNTL
from uipc.uapi import ipc as U_IPC
from uipc.uapi import msg as U_MSG
from uipc.uapi import sem as U_SEM
from uipc.uapi import shm as U_SHM

#: flag bits by name, for the arguments that carry them
IPC_FLAGS = [("IPC_CREAT", U_IPC.IPC_CREAT), ("IPC_EXCL", U_IPC.IPC_EXCL),
             ("IPC_NOWAIT", U_IPC.IPC_NOWAIT)]
MSG_FLAGS = IPC_FLAGS + [("MSG_NOERROR", U_MSG.MSG_NOERROR), ("MSG_EXCEPT", U_MSG.MSG_EXCEPT),
                         ("MSG_COPY", U_MSG.MSG_COPY)]
SEM_FLAGS = IPC_FLAGS + [("SEM_UNDO", U_SEM.SEM_UNDO)]
SHM_FLAGS = IPC_FLAGS + [("SHM_RDONLY", U_SHM.SHM_RDONLY), ("SHM_RND", U_SHM.SHM_RND),
                         ("SHM_REMAP", U_SHM.SHM_REMAP), ("SHM_EXEC", U_SHM.SHM_EXEC),
                         ("SHM_HUGETLB", U_SHM.SHM_HUGETLB),
                         ("SHM_NORESERVE", U_SHM.SHM_NORESERVE)]
O_FLAGS = [("O_CREAT", os.O_CREAT), ("O_EXCL", os.O_EXCL), ("O_TRUNC", os.O_TRUNC),
           ("O_NONBLOCK", os.O_NONBLOCK), ("O_CLOEXEC", os.O_CLOEXEC)]
def _names(module: Any, names: tuple[str, ...]) -> dict[int, str]:
    return {getattr(module, n): n for n in names if hasattr(module, n)}


_IPC_CMDS = _names(U_IPC, ("IPC_RMID", "IPC_SET", "IPC_STAT", "IPC_INFO"))
CMDS = {**_IPC_CMDS, **_names(U_MSG, ("MSG_STAT", "MSG_INFO", "MSG_STAT_ANY"))}
SEM_CMDS = {**_IPC_CMDS, **_names(U_SEM, ("GETPID", "GETVAL", "GETALL", "GETNCNT", "GETZCNT",
                                         "SETVAL", "SETALL", "SEM_STAT", "SEM_INFO",
                                         "SEM_STAT_ANY"))}
SHM_CMDS = {**_IPC_CMDS, **_names(U_SHM, ("SHM_LOCK", "SHM_UNLOCK", "SHM_STAT", "SHM_INFO",
                                         "SHM_STAT_ANY"))}


def flags(value: int, table: list[tuple[str, int]], mode: bool = False) -> str:
    """IPC_CREAT|IPC_EXCL|0600, as strace prints a flag argument (a name of
    several bits, O_SYNC's, is given only when all of them are set)."""
    names, rest = [], value
    for name, bit in table:
        if rest & bit == bit:
            names.append(name)
            rest &= ~bit
    if mode and rest & 0o777:
        names.append(f"{rest & 0o777:#o}")
        rest &= ~0o777
    if rest:
        names.append(f"{rest:#x}")
    return "|".join(names) or "0"


def oflags(value: int) -> str:
    acc = {0: "O_RDONLY", 1: "O_WRONLY", 2: "O_RDWR"}.get(value & 3, "O_ACCMODE")
    rest = flags(value & ~3, O_FLAGS)
    return acc if rest == "0" else f"{acc}|{rest}"


# --- the descriptor calls: flags, commands and sets as their headers name them ------
#: open(2)'s and pipe2(2)'s flags as the wire carries them: asm-generic's
#: (uipc/uapi/fcntl.py; O_NONBLOCK and O_CLOEXEC from asm-generic/fcntl.h),
#: the names of several bits first
WIRE_O_FLAGS = [("O_TMPFILE", U_FCNTL.O_TMPFILE), ("O_SYNC", U_FCNTL.O_SYNC),
                ("O_NONBLOCK", 0o4000), ("O_CLOEXEC", 0o2000000),
                ("O_CREAT", U_FCNTL.O_CREAT), ("O_EXCL", U_FCNTL.O_EXCL),
                ("O_NOCTTY", U_FCNTL.O_NOCTTY), ("O_TRUNC", U_FCNTL.O_TRUNC),
                ("O_APPEND", U_FCNTL.O_APPEND), ("O_DSYNC", U_FCNTL.O_DSYNC),
                ("FASYNC", U_FCNTL.FASYNC), ("O_DIRECT", U_FCNTL.O_DIRECT),
                ("O_LARGEFILE", U_FCNTL.O_LARGEFILE), ("O_DIRECTORY", U_FCNTL.O_DIRECTORY),
                ("O_NOFOLLOW", U_FCNTL.O_NOFOLLOW), ("O_NOATIME", U_FCNTL.O_NOATIME),
                ("O_PATH", U_FCNTL.O_PATH)]
EFD_FLAGS = [("EFD_SEMAPHORE", uipc.EFD_SEMAPHORE), ("EFD_NONBLOCK", uipc.EFD_NONBLOCK),
             ("EFD_CLOEXEC", uipc.EFD_CLOEXEC)]
TFD_FLAGS = [("TFD_NONBLOCK", uipc.TFD_NONBLOCK), ("TFD_CLOEXEC", uipc.TFD_CLOEXEC)]
TFD_SETTIME_FLAGS = [("TFD_TIMER_ABSTIME", uipc.TFD_TIMER_ABSTIME),
                     ("TFD_TIMER_CANCEL_ON_SET", uipc.TFD_TIMER_CANCEL_ON_SET)]
SFD_FLAGS = [("SFD_NONBLOCK", uipc.SFD_NONBLOCK), ("SFD_CLOEXEC", uipc.SFD_CLOEXEC)]
EPOLL_CREATE_FLAGS = [("EPOLL_CLOEXEC", uipc.EPOLL_CLOEXEC)]
SPLICE_FLAGS = [("SPLICE_F_MOVE", uipc.SPLICE_F_MOVE),
                ("SPLICE_F_NONBLOCK", uipc.SPLICE_F_NONBLOCK),
                ("SPLICE_F_MORE", uipc.SPLICE_F_MORE), ("SPLICE_F_GIFT", uipc.SPLICE_F_GIFT)]
#: include/uapi/linux/eventpoll.h's events, and poll.h's (poll(2)'s events)
EPOLL_EVENTS = [(n, getattr(uipc, n)) for n in (
    "EPOLLIN", "EPOLLPRI", "EPOLLOUT", "EPOLLERR", "EPOLLHUP", "EPOLLRDNORM", "EPOLLWRNORM",
    "EPOLLRDHUP", "EPOLLEXCLUSIVE", "EPOLLONESHOT", "EPOLLET")] + [("EPOLLWAKEUP", 1 << 29)]
POLL_EVENTS = [("POLLIN", 0x1), ("POLLPRI", 0x2), ("POLLOUT", 0x4), ("POLLERR", 0x8),
               ("POLLHUP", 0x10), ("POLLNVAL", 0x20), ("POLLRDNORM", 0x40), ("POLLRDBAND", 0x80),
               ("POLLWRNORM", 0x100), ("POLLWRBAND", 0x200), ("POLLMSG", 0x400),
               ("POLLRDHUP", 0x2000)]
#: each call's flags argument ("flags"), by call
CALL_FLAGS = {"pipe2": WIRE_O_FLAGS, "eventfd2": EFD_FLAGS, "timerfd_create": TFD_FLAGS,
              "timerfd_settime": TFD_SETTIME_FLAGS, "signalfd4": SFD_FLAGS,
              "epoll_create1": EPOLL_CREATE_FLAGS, "splice": SPLICE_FLAGS, "tee": SPLICE_FLAGS}
CLOCKS = {uipc.CLOCK_REALTIME: "CLOCK_REALTIME", uipc.CLOCK_MONOTONIC: "CLOCK_MONOTONIC",
          uipc.CLOCK_BOOTTIME: "CLOCK_BOOTTIME"}
EPOLL_OPS = {uipc.EPOLL_CTL_ADD: "EPOLL_CTL_ADD", uipc.EPOLL_CTL_DEL: "EPOLL_CTL_DEL",
             uipc.EPOLL_CTL_MOD: "EPOLL_CTL_MOD"}
FCNTL_CMDS = _names(U_FCNTL, ("F_DUPFD", "F_GETFD", "F_SETFD", "F_GETFL", "F_SETFL",
                              "F_DUPFD_CLOEXEC", "F_SETPIPE_SZ", "F_GETPIPE_SZ"))
SIG_HOW = {uipc.SIG_BLOCK: "SIG_BLOCK", uipc.SIG_UNBLOCK: "SIG_UNBLOCK",
           uipc.SIG_SETMASK: "SIG_SETMASK"}
#: include/uapi/linux/stat.h's file types, for mknod's mode
S_IFMT = 0o170000
FILE_TYPES = {0o010000: "S_IFIFO", 0o020000: "S_IFCHR", 0o040000: "S_IFDIR",
              0o060000: "S_IFBLK", 0o100000: "S_IFREG", 0o140000: "S_IFSOCK"}


def wire_oflags(value: int) -> str:
    """O_RDWR|O_NONBLOCK from open(2)'s flags as the wire carries them."""
    acc = {0: "O_RDONLY", 1: "O_WRONLY", 2: "O_RDWR"}.get(value & 3, "O_ACCMODE")
    rest = flags(value & ~3, WIRE_O_FLAGS)
    return acc if rest == "0" else f"{acc}|{rest}"


def sigset(mask: int) -> str:
    """[USR1 USR2 RT_2], as strace prints a sigset_t (bit n-1: signal n)."""
    mask &= (1 << 64) - 1
    names = [signal_name(n).removeprefix("SIG") for n in range(1, 65) if mask >> (n - 1) & 1]
    return "[" + " ".join(names) + "]"


def _timeout_ms(value: Any) -> str:
    """poll(2)'s and epoll_wait(2)'s timeout in milliseconds (-1: none)."""
    return "-1" if value is None else str(round(value * 1000))


def _fcntl_args(a: dict[str, Any]) -> list[str]:
    cmd = a["cmd"]
    out = [str(a["fd"]), FCNTL_CMDS.get(cmd, str(cmd))]
    if cmd == U_FCNTL.F_SETFL:
        out.append(flags(a["arg"], WIRE_O_FLAGS))
    elif cmd not in (U_FCNTL.F_GETFL, U_FCNTL.F_GETFD, U_FCNTL.F_GETPIPE_SZ):
        out.append(str(a["arg"]))
    return out


def _splice_args(a: dict[str, Any]) -> list[str]:
    """splice(fd_in, off_in, fd_out, off_out, len, flags): NULL or [offset]."""
    def off(side: str) -> str:
        return "NULL" if a[f"off_{side}_null"] else f"[{a[f'off_{side}']}]"
    return [str(a["fd_in"]), off("in"), str(a["fd_out"]), off("out"), str(a["len"]),
            flags(a["flags"], SPLICE_FLAGS)]


def _poll_args(a: dict[str, Any]) -> list[str]:
    """poll([{fd=INO, events=POLLIN}, ...], nfds, timeout_ms)."""
    fds = a["fds"]
    if not isinstance(fds, list):  # a long list is summarised ({"items": n})
        return [f"[... {fds.get('items', 0) // 2} descriptors]", _timeout_ms(a["timeout"])]
    pairs = [f"{{fd={fd}, events={flags(ev, POLL_EVENTS)}}}" for fd, ev in zip(fds[0::2],
                                                                               fds[1::2])]
    return ["[" + ", ".join(pairs) + "]", str(len(pairs)), _timeout_ms(a["timeout"])]


def _itimerspec_args(a: dict[str, Any]) -> list[str]:
    spec = (f"{{it_interval={{tv_sec={a['int_sec']}, tv_nsec={a['int_nsec']}}}, "
            f"it_value={{tv_sec={a['val_sec']}, tv_nsec={a['val_nsec']}}}}}")
    return [str(a["fd"]), flags(a["flags"], TFD_SETTIME_FLAGS), spec]


def _sigprocmask_args(a: dict[str, Any]) -> list[str]:
    return [SIG_HOW.get(a["how"], str(a["how"])), sigset(a["set"]) if a["has"] else "NULL"]


#: calls whose arguments read as strace shows them only together
CALL_ARGS = {"fcntl": _fcntl_args, "splice": _splice_args, "poll": _poll_args,
             "timerfd_settime": _itimerspec_args, "rt_sigprocmask": _sigprocmask_args}


def _descriptor_arg(call: str, name: str, value: int) -> str | None:
    """A descriptor call's argument by name, or None if it is a plain number."""
    if name == "flags" and call == "open":
        return wire_oflags(value)
    if name == "flags" and call in CALL_FLAGS:
        return flags(value, CALL_FLAGS[call])
    if name == "clockid":
        return CLOCKS.get(value, str(value))
    if call == "epoll_ctl" and name == "op":
        return EPOLL_OPS.get(value, str(value))
    if call == "epoll_ctl" and name == "events":
        return flags(value, EPOLL_EVENTS)
    if call == "signalfd4" and name == "mask":
        return sigset(value)
    if name == "sig" and call in ("kill", "rt_sigqueueinfo"):
        return signal_name(value) if value else "0"
    if call == "mknod" and name == "mode":
        kind = FILE_TYPES.get(value & S_IFMT)
        return f"{kind}|0{value & 0o7777:o}" if kind else f"0{value:o}"
    return None


def arg(call: str, name: str, value: Any) -> str:
    """One argument as strace would show it."""
    if call == "epoll_wait" and name == "timeout":
        return _timeout_ms(value)
    if isinstance(value, dict) and "bytes" in value:
        head = value["head"].encode("latin-1")
        more = "..." if value["bytes"] > len(head) else ""
        return json.dumps(head.decode("latin-1"))[:-1] + more + '"'
    if isinstance(value, str):
        return json.dumps("/" + value if call.startswith("mq_") and name == "name" else value)
    if not isinstance(value, int) or isinstance(value, bool):
        return json.dumps(value)
    decoded = _descriptor_arg(call, name, value)
    if decoded is not None:
        return decoded
    if name == "key":
        return "IPC_PRIVATE" if value == 0 else f"{value & 0xFFFFFFFF:#010x}"
    if name == "msgflg":
        return flags(value, MSG_FLAGS, mode=call == "msgget")
    if name == "semflg":
        return flags(value, SEM_FLAGS, mode=True)
    if name == "shmflg":
        return flags(value, SHM_FLAGS, mode=call == "shmget")
    if name == "oflag":
        return oflags(value)
    if name == "mode":
        return f"0{value:o}"
    if name == "cmd":
        table = SEM_CMDS if call == "semctl" else SHM_CMDS if call == "shmctl" else CMDS
        return table.get(value & ~U_IPC.IPC_64, str(value))
    return str(value)


def line(rec: dict[str, Any]) -> str:
    """`12:00:00.123456 [pid 812] msgrcv(65536, 8192, 1, IPC_NOWAIT) = -1 ENOMSG (...) <0.0012>`"""
    t = rec["time"]
    stamp = time.strftime("%H:%M:%S", time.localtime(t)) + f".{int(t % 1 * 1e6):06d}"
    call = rec["call"]
    pairs = rec["args"]
    if pairs and pairs[-1][0] in ("name", "path"):  # the name travels last; C has it first
        pairs = [pairs[-1], *pairs[:-1]]
    together = CALL_ARGS.get(call)
    if together is not None:
        args = ", ".join(together(dict(pairs)))
    else:
        args = ", ".join(arg(call, n, v) for n, v in pairs)
    if rec["errno"]:
        name = errno.errorcode.get(rec["errno"], str(rec["errno"]))
        result = f"-1 {name} ({os.strerror(rec['errno'])}: {rec.get('detail', '')})"
    else:
        result = _call_result(call, dict(pairs), rec.get("result"))
    slept = f" <{rec['slept']:.6f}>" if rec.get("slept") is not None else ""
    return f"{stamp} [pid {rec['pid']}] {call}({args}) = {result}{slept}"


def _call_result(call: str, a: dict[str, Any], value: Any) -> str:
    """A result as strace shows it: descriptors, ready events by name, signal
    sets, F_GETFL's flags; else as _result does."""
    if isinstance(value, list) and value and all(v == "NewFile" for v in value):
        return "[" + ", ".join("<descriptor>" for _ in value) + "]"  # pipe2's two ends
    if call == "epoll_wait" and isinstance(value, list):
        events = [f"{{events={flags(ev, EPOLL_EVENTS)}, data={data}}}"
                  for ev, data in zip(value[0::2], value[1::2])]
        return f"{len(events)} [" + ", ".join(events) + "]"
    if call == "poll" and isinstance(value, list) and isinstance(a.get("fds"), list):
        fds = a["fds"][0::2]
        ready = [f"{{fd={fd}, revents={flags(rev, POLL_EVENTS)}}}"
                 for fd, rev in zip(fds, value) if rev]
        return f"{len(ready)} ([" + ", ".join(ready) + "])" if ready else "0 (Timeout)"
    if call in ("rt_sigprocmask", "rt_sigpending") and isinstance(value, int):
        return sigset(value)
    if call == "fcntl" and a.get("cmd") == U_FCNTL.F_GETFL and isinstance(value, int):
        return f"{value:#x} (flags {wire_oflags(value)})"
    return _result(value)


def _result(value: Any) -> str:
    if value is None:
        return "0"
    if value in ("NewFile", "MemfdFile", "MemfdSegment"):
        return "<descriptor>"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, list) and len(value) == 2 and isinstance(value[1], dict) \
            and "bytes" in value[1]:
        return f"{value[1]['bytes']} (type/prio {value[0]})"  # msgrcv, mq_timedreceive
    return json.dumps(value)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="uipc trace", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pid", type=int, default=0, help="only this process's calls")
    p.add_argument("--namespace", metavar="NAME", help="the namespace (default: this process's)")
    p.add_argument("--syscall", default="", metavar="NAME,...", help="only these calls")
    p.add_argument("--json", action="store_true", help="one JSON record per line")
    p.add_argument("--count", type=int, default=0, help="stop after this many records")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    attach("uipc trace", args.namespace)
    from uipc.client.trace import records
    names = tuple(n.strip() for n in args.syscall.split(",") if n.strip())
    seen = 0
    try:
        ready = lambda: print("uipc trace: listening", file=sys.stderr, flush=True)  # noqa: E731
        for rec in records(args.pid, names, ready):
            print(json.dumps(rec) if args.json else line(rec), flush=True)
            seen += 1
            if args.count and seen >= args.count:
                break
    except KeyboardInterrupt:
        return 0
    except OSError as exc:
        fail("uipc trace", exc.strerror or str(exc))
    return 0


if __name__ == "__main__":
    sys.exit(main())
