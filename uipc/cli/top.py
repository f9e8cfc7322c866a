"""`uipc top [--namespace NAME] [-d SECONDS] [--once]`: every IPC object of a
namespace, live: counts, bytes, who is blocked on it and for how long.  The
uipc descriptors its processes hold (pipes, FIFOs, eventfds, timerfds,
signalfds, epolls) are rows too, one per open file, named by inode.

Full screen (curses) on a terminal, refreshed every second: q quits, the
arrow keys or j/k select, Enter explains the selected object (as
`uipc explain` does), Esc, Backspace or Left goes back.  When standard
output is not a terminal (`uipc top | cat`), or with --once, it prints one
table and exits.
"""
from __future__ import annotations

import argparse
import os
import socket
import struct
import sys
import textwrap
import time
from dataclasses import dataclass, field
from typing import Any

from uipc.cli.explain import (
    POSIX, SYSV, context_of, explain, explain_file, file_label, key_text, object_label, plural,
    signal_name, write,
)

PROG = "uipc top"
SECTIONS = SYSV + POSIX
#: a section's short name in the KIND column
SHORT = {"msg": "msg", "sem": "sem", "shm": "shm", "mqueue": "mqueue", "posix_sem": "psem",
         "posix_shm": "pshm"}
#: the entry lists that hold a section's sleepers
SLEEPERS = {"msg": ("receivers", "senders"), "sem": ("waiters",),
            "mqueue": ("receivers", "senders"), "posix_sem": ("waiters",)}
#: the entry's timestamps of its last operation (all in the daemon's CLOCK_REALTIME)
STAMPS = {"msg": ("stime", "rtime"), "sem": ("otime",), "shm": ("atime", "dtime"),
          "mqueue": ("mtime",)}
#: column title, width (the last column takes the rest of the line)
COLUMNS = (("KIND", 6), ("ID/NAME", 14), ("KEY", 10), ("UID", 6), ("COUNT", 10), ("BYTES", 9),
           ("OPS/S", 6), ("LAST", 6), ("UNDO", 4), ("ATT", 4), ("BLOCKED", 0))
NO_OPS = "ops/s: not available (the introspection has no operation counters)"
#: the kind of a descriptor's row (its entry's "type" says which file), and
#: the KIND column of each type (a POSIX queue's descriptors are its mqueue row)
FILE = "file"
FILE_SHORT = {"pipe": "pipe", "fifo": "fifo", "eventfd": "efd", "timerfd": "tfd",
              "signalfd": "sfd", "epoll": "epoll"}


# --- one sample of the namespace -------------------------------------------------------
@dataclass
class Sample:
    """One snapshot of the namespace, when it was taken, and the ops/s of
    each object against the previous sample (where an "ops" counter exists)."""

    snapshot: dict[str, Any]
    taken: float
    ops: dict[tuple[str, Any], float] = field(default_factory=dict)
    #: the daemon's syscall counter, and requests/s since the previous sample
    calls: int | None = None
    rate: float | None = None


def ident(kind: str, e: dict[str, Any]) -> Any:
    """What names an object within its section: the id, or the POSIX name;
    a descriptor's open file: its inode."""
    if kind == FILE:
        return e["ino"]
    return e["id"] if kind in SYSV else e["name"]


class Sampler:
    """Takes samples; remembers the last one for the ops/s deltas."""

    def __init__(self) -> None:
        self.last: Sample | None = None

    def sample(self) -> Sample:
        from uipc.client import introspect
        snap = introspect.namespace()
        s = Sample(snap, time.time())
        s.calls = introspect.daemon()["calls"]
        if self.last is not None:
            s.ops = ops_per_second(self.last, s)
            dt = s.taken - self.last.taken
            if dt > 0 and self.last.calls is not None:
                s.rate = (s.calls - self.last.calls) / dt
        self.last = s
        return s


def ops_per_second(before: Sample, after: Sample) -> dict[tuple[str, Any], float]:
    """Per object, the change of its "ops" counter over the time between two
    samples.  The introspection has no such counter yet (stime/rtime/otime
    are whole seconds: they tell that an object was used, not how often),
    so this is empty until procfs.py gives one."""
    dt = after.taken - before.taken
    if dt <= 0:
        return {}
    old = {(k, ident(k, e)): e["ops"] for k in SECTIONS for e in before.snapshot.get(k, [])
           if "ops" in e}
    return {(k, ident(k, e)): (e["ops"] - old[(k, ident(k, e))]) / dt
            for k in SECTIONS for e in after.snapshot.get(k, [])
            if "ops" in e and (k, ident(k, e)) in old}


# --- the daemon ---------------------------------------------------------------------
def daemon_pid() -> int | None:
    """The daemon's pid, from SO_PEERCRED on our connection (0 or None when
    it lives in a pid namespace we cannot see)."""
    from uipc.client import connection
    try:
        sock = connection.get_connection().sock
        pid, _, _ = struct.unpack("3i", sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED,
                                                        12))
    except OSError:
        return None
    return pid or None


def process_uptime(pid: int) -> float | None:
    """Seconds since ``pid`` started: /proc/PID/stat's starttime against
    /proc/uptime (the introspection does not give the daemon's uptime)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rpartition(")")[2].split()
        with open("/proc/uptime") as f:
            boot = float(f.read().split()[0])
        return boot - int(fields[19]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def short_age(seconds: float | None) -> str:
    """A compact duration for a column: '0.4s', '12s', '5m', '3h', '2d'."""
    if seconds is None:
        return "-"
    s = max(seconds, 0.0)
    if s < 10:
        return f"{s:.1f}s"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if s >= size:
            return f"{int(s // size)}{unit}"
    return f"{int(s)}s"


# --- rows ---------------------------------------------------------------------------
@dataclass
class Row:
    """One object as the table shows it."""

    kind: str
    entry: dict[str, Any]
    cells: list[str]
    sleepers: list[dict[str, Any]]

    @property
    def ref(self) -> tuple[str, Any]:
        return self.kind, ident(self.kind, self.entry)


def sleepers_of(kind: str, e: dict[str, Any]) -> list[dict[str, Any]]:
    return [w for name in SLEEPERS.get(kind, ()) for w in e[name]]


def _counts(kind: str, e: dict[str, Any]) -> tuple[str, str, str, str]:
    """COUNT, BYTES, UNDO and ATT of one object."""
    if kind == "msg":
        limit = f"/{e['qbytes']}" if "qbytes" in e else ""
        return f"{e['qnum']} msgs", f"{e['cbytes']}{limit}", "-", "-"
    if kind == "sem":
        return f"{e['nsems']} sems", "-", str(len(e["undo"])), "-"
    if kind == "shm":
        return "-", str(e["size"]), "-", f"{e['nattch']}{'D' if e['dest'] else ''}"
    if kind == "mqueue":
        return f"{e['curmsgs']}/{e['maxmsg']}", str(e["qsize"]), "-", str(e["open_files"])
    if kind == "posix_sem":
        value = "?" if e["value"] is None else e["value"]
        return f"val {value}", "-", "-", str(len(e["openers"]))
    size = "?" if e["size"] is None else str(e["size"])
    return "-", size, "-", "-"


def _blocked(sleepers: list[dict[str, Any]], now: float) -> str:
    """'2: 812 msgrcv 3.2s, 813 msgsnd 1.0s', longest first."""
    if not sleepers:
        return ""
    ws = sorted(sleepers, key=lambda w: w["since"])
    return f"{len(ws)}: " + ", ".join(f"{w['pid']} {w['op']} {short_age(now - w['since'])}"
                                      for w in ws)


@dataclass
class Descriptor:
    """One open file of the namespace (the files section lists it once per
    process holding it): its entry, who holds it and who is blocked on it."""

    entry: dict[str, Any]
    uid: int
    holders: list[int] = field(default_factory=list)
    #: (pid, wait entry) of the threads whose wait names it
    sleepers: list[tuple[int, dict[str, Any]]] = field(default_factory=list)


def descriptors(sample: Sample) -> list[Descriptor]:
    """Each pipe, FIFO, eventfd, timerfd, signalfd and epoll file the
    processes one may inspect hold, once, in inode order."""
    seen: dict[int, Descriptor] = {}
    for p in sample.snapshot.get("files", []):
        for f in p["files"] or []:
            if f["type"] in FILE_SHORT:
                seen.setdefault(f["ino"], Descriptor(f, p["uid"])).holders.append(p["pid"])
    for p in sample.snapshot.get("process_details", []):
        for w in p.get("waits") or []:
            for f in (w.get("on") or {}).get("files") or []:
                if f["ino"] in seen:
                    seen[f["ino"]].sleepers.append((p["pid"], w))
    return [seen[ino] for ino in sorted(seen)]


def _file_counts(f: dict[str, Any]) -> tuple[str, str]:
    """COUNT and BYTES of a descriptor's row."""
    kind = f["type"]
    if kind in ("pipe", "fifo"):
        return f"{f['readers']}r/{f['writers']}w", f"{f['bytes']}/{f['capacity']}"
    if kind == "eventfd":
        return f"val {f['count']}", "-"
    if kind == "timerfd":
        return (f"{f['ticks']} ticks" if f["armed"] or f["ticks"] else "off"), "-"
    if kind == "signalfd":
        return f"{len(f['sigmask'])} sigs", "-"
    return f"{f['ready']}/{f['items']} rdy", "-"


def file_rows(sample: Sample) -> list[Row]:
    """A row per descriptor's open file: KEY is its access mode, ATT the
    processes holding it, BLOCKED the threads waiting on it."""
    rows = []
    for d in descriptors(sample):
        f = d.entry
        count, size = _file_counts(f)
        ws = [dict(w, pid=pid) for pid, w in d.sleepers]
        cells = [FILE_SHORT[f["type"]], str(f["ino"]), f["mode"] or "-", str(d.uid), count,
                 size, "-", "-", "-", str(len(d.holders)), _blocked(ws, sample.taken)]
        rows.append(Row(FILE, f, cells, ws))
    return rows


def make_rows(sample: Sample) -> list[Row]:
    """Every object of the sample, section by section, then the descriptors."""
    rows = []
    now = sample.taken
    for kind in SECTIONS:
        for e in sample.snapshot.get(kind, []):
            count, size, undo, att = _counts(kind, e)
            stamps = [e[s] for s in STAMPS.get(kind, ()) if e.get(s)]
            last = short_age(now - max(stamps)) if stamps else "-"
            rate = sample.ops.get((kind, ident(kind, e)))
            ws = sleepers_of(kind, e)
            cells = [SHORT[kind], str(ident(kind, e)),
                     key_text(e["key"]) if kind in SYSV else "-", str(e["uid"]), count, size,
                     "-" if rate is None else f"{rate:.0f}", last, undo, att, _blocked(ws, now)]
            rows.append(Row(kind, e, cells, ws))
    return rows + file_rows(sample)


def format_row(cells: list[str]) -> str:
    """Cells padded to their columns (a cell longer than its column pushes
    the rest right rather than being cut: an id must read whole)."""
    parts = [c if width == 0 else c.ljust(width) for c, (_, width) in zip(cells, COLUMNS)]
    return " ".join(parts).rstrip()


def table_title() -> str:
    return format_row([title for title, _ in COLUMNS])


# --- the header and the processes -------------------------------------------------------
def waits_by_pid(sample: Sample) -> dict[int, list[str]]:
    """pid -> 'msgrcv on msg 0 for 3.2s' for each of its sleepers."""
    out: dict[int, list[str]] = {}
    for kind in SECTIONS:
        for e in sample.snapshot.get(kind, []):
            for w in sleepers_of(kind, e):
                out.setdefault(w["pid"], []).append(
                    f"{w['op']} on {SHORT[kind]} {ident(kind, e)} for "
                    f"{short_age(sample.taken - w['since'])}")
    for p in sample.snapshot.get("process_details", []):
        for w in p.get("waits") or []:
            what = _file_wait_target(w.get("on") or {})
            if what:
                out.setdefault(p["pid"], []).append(
                    f"{w['op']} on {what} for {short_age(sample.taken - w['since'])}")
    return out


def _file_wait_target(on: dict[str, Any]) -> str | None:
    """'pipe 1234', 'FIFO /f': the descriptors a wait names (objects' waits
    are told by the objects' rows)."""
    if "fifo" in on:
        return f"FIFO {on['fifo']}"
    files = on.get("files") or []
    if not files:
        return None
    labels = [file_label(f) for f in files[:3]]
    return ", ".join(labels) + (f" and {len(files) - 3} more" if len(files) > 3 else "")


def blocked_pids(sample: Sample) -> set[int]:
    """Processes with a thread asleep: on an object, or as their waits say."""
    snap = sample.snapshot
    pids = {w["pid"] for k in SECTIONS for e in snap.get(k, []) for w in sleepers_of(k, e)}
    return pids | {p["pid"] for p in snap.get("process_details", []) if p.get("waits")}


def others(sample: Sample) -> list[dict[str, Any]]:
    """The namespace's processes but this one (top is connected too)."""
    me = os.getpid()
    return [p for p in sample.snapshot.get("process_details", []) if p["pid"] != me]


def header(sample: Sample, dpid: int | None) -> list[str]:
    """Namespace, daemon, processes, object counts, and what is not known."""
    snap = sample.snapshot
    up = process_uptime(dpid) if dpid else None
    daemon = (f"daemon pid {dpid}, up {short_age(up)}" if up is not None else
              f"daemon pid {dpid}, uptime not available" if dpid else
              "daemon pid and uptime not available")
    procs = others(sample)
    blocked = blocked_pids(sample)
    counts = ", ".join(f"{len(snap.get(k, []))} {SHORT[k]}" for k in SECTIONS)
    counts += f", {plural(len(descriptors(sample)), 'descriptor')}"
    if sample.rate is not None:
        daemon += f", {sample.rate:,.0f} requests/s"
    lines = [f"uipc top - namespace {snap.get('namespace', '?')} - {daemon} - "
             f"{plural(len(procs), 'process', 'processes')} connected (besides this one), "
             f"{len(blocked)} blocked - "
             f"{time.strftime('%H:%M:%S', time.localtime(sample.taken))}",
             f"objects: {counts}"]
    if not sample.ops and not any("ops" in e for k in SECTIONS for e in snap.get(k, [])):
        lines[-1] += f"; {NO_OPS}"
    return lines


def process_lines(sample: Sample) -> list[str]:
    """PID UID TASKS UNDO SHMAT FDS SIGPND WAITING, for every other process."""
    waits = waits_by_pid(sample)
    fds = {p["pid"]: p["files"] for p in sample.snapshot.get("files", [])}
    out = [f"{'PID':<8} {'UID':<6} {'TASKS':<5} {'UNDO':<5} {'SHMAT':<5} {'FDS':<4} "
           f"{'SIGPND':<8} WAITING"]
    for p in others(sample):
        undo = "?" if p["undo"] is None else str(len(p["undo"]))
        att = "?" if p["shm_attachments"] is None else str(p["shm_attachments"])
        held = fds.get(p["pid"])
        nfds = "?" if held is None else str(len(held))
        pending = ",".join(signal_name(sig).removeprefix("SIG")
                           for sig in (p.get("signals") or {}).get("pending") or [])
        out.append(f"{p['pid']:<8} {p['uid']:<6} {p['tasks']:<5} {undo:<5} {att:<5} "
                   f"{nfds:<4} {pending or '-':<8} " + "; ".join(waits.get(p["pid"], [])))
    return out


def plain(sample: Sample, dpid: int | None) -> str:
    """The one-shot table: header, objects, processes."""
    rows = make_rows(sample)
    lines = header(sample, dpid) + ["", table_title()] + [format_row(r.cells) for r in rows]
    if not rows:
        lines.append("(no IPC objects in this namespace)")
    return "\n".join(lines + [""] + process_lines(sample)) + "\n"


# --- the full-screen view -----------------------------------------------------------------
class Gone(Exception):
    """The daemon stopped answering while the screen was up."""


@dataclass
class View:
    """What the screen shows: the list with a selection, or one object explained."""

    selected: tuple[str, Any] | None = None
    index: int = 0
    scroll: int = 0
    detail: tuple[str, Any] | None = None
    detail_scroll: int = 0


KEY_QUIT = (ord("q"), ord("Q"))
KEY_ENTER = (10, 13)
KEY_DOWN = (ord("j"),)
KEY_UP = (ord("k"),)
KEY_BACK = (27, 127, 8, ord("h"))


def _put(win: Any, y: int, x: int, text: str, attr: int = 0) -> None:
    """addnstr clipped to the window; curses raises on the last cell, which
    we never need."""
    import curses
    h, w = win.getmaxyx()
    if 0 <= y < h and x < w - 1:
        try:
            win.addnstr(y, x, text, w - 1 - x, attr)
        except curses.error:
            pass


def draw_list(win: Any, view: View, sample: Sample, dpid: int | None) -> list[Row]:
    """Header, the object table with the selection, then the processes."""
    import curses
    rows = make_rows(sample)
    refs = [r.ref for r in rows]
    if view.selected in refs:
        view.index = refs.index(view.selected)
    view.index = max(0, min(view.index, len(rows) - 1))
    view.selected = refs[view.index] if rows else None
    h, _ = win.getmaxyx()
    top = header(sample, dpid)
    for y, line in enumerate(top):
        _put(win, y, 0, line, curses.A_BOLD if y == 0 else 0)
    y0 = len(top) + 1
    _put(win, y0, 0, table_title(), curses.A_REVERSE)
    # half the rest for objects, at least; the processes get what remains
    room = max(1, h - y0 - 3 - min(len(others(sample)) + 2, (h - y0) // 2))
    if view.index < view.scroll:
        view.scroll = view.index
    elif view.index >= view.scroll + room:
        view.scroll = view.index - room + 1
    for i, r in enumerate(rows[view.scroll:view.scroll + room]):
        attr = curses.A_REVERSE if view.scroll + i == view.index else 0
        _put(win, y0 + 1 + i, 0, format_row(r.cells), attr)
    if not rows:
        _put(win, y0 + 1, 0, "(no IPC objects in this namespace)")
    y = y0 + 2 + min(room, max(len(rows), 1))
    for i, line in enumerate(process_lines(sample)):
        if y + i < h - 1:
            _put(win, y + i, 0, line, curses.A_REVERSE if i == 0 else 0)
    _put(win, h - 1, 0, "q quit  up/down/j/k PgUp/PgDn/g/G select  Enter explain",
         curses.A_BOLD)
    return rows


def detail_lines(sample: Sample, ref: tuple[str, Any], width: int) -> tuple[str, list[str]]:
    """The explain text of one object, wrapped, or a line saying it is gone."""
    kind, name = ref
    if kind == FILE:
        return _file_detail(sample, name, width)
    for e in sample.snapshot.get(kind, []):
        if ident(kind, e) == name:
            text = explain(kind, e, context_of(sample.taken))
            lines = [part for s in text for part in textwrap.wrap(s, max(width - 2, 20)) + [""]]
            return object_label(kind, e), lines
    return f"{kind} {name}", ["It is gone: removed since it was selected."]


def _file_detail(sample: Sample, ino: int, width: int) -> tuple[str, list[str]]:
    """The explain text of one descriptor's open file."""
    for d in descriptors(sample):
        if d.entry["ino"] == ino:
            text = explain_file(d.entry, d.holders, d.sleepers, context_of(sample.taken))
            text[0] = text[0][0].upper() + text[0][1:]
            lines = [part for s in text for part in textwrap.wrap(s, max(width - 2, 20)) + [""]]
            return file_label(d.entry), lines
    return f"descriptor {ino}", ["It is gone: closed since it was selected."]


def draw_detail(win: Any, view: View, sample: Sample) -> None:
    import curses
    assert view.detail is not None
    h, w = win.getmaxyx()
    title, lines = detail_lines(sample, view.detail, w)
    _put(win, 0, 0, f"uipc explain - {title} - "
                    f"{time.strftime('%H:%M:%S', time.localtime(sample.taken))}", curses.A_BOLD)
    view.detail_scroll = max(0, min(view.detail_scroll, len(lines) - 1))
    for i, line in enumerate(lines[view.detail_scroll:view.detail_scroll + h - 3]):
        _put(win, 2 + i, 1, line)
    _put(win, h - 1, 0, "Esc/Left/Backspace back  up/down/j/k scroll  q quit", curses.A_BOLD)


def _steps() -> dict[int, int]:
    """Page Up/Down move ten rows, Home/End (g/G) to the first or last."""
    import curses
    far = 1 << 30
    return {curses.KEY_NPAGE: 10, curses.KEY_PPAGE: -10, curses.KEY_HOME: -far,
            curses.KEY_END: far, ord("g"): -far, ord("G"): far}


def on_key(ch: int, view: View, rows: list[Row]) -> bool:
    """Apply one key to the view; False to quit."""
    import curses
    if ch in KEY_QUIT:
        return False
    down = ch in KEY_DOWN or ch == curses.KEY_DOWN
    up = ch in KEY_UP or ch == curses.KEY_UP
    if view.detail is not None:
        if ch in KEY_BACK or ch in (curses.KEY_LEFT, curses.KEY_BACKSPACE):
            view.detail = None
        elif down or up:
            view.detail_scroll += 1 if down else -1
        return True
    step = _steps().get(ch, 1 if down else -1 if up else 0)
    if step and rows:
        view.index = max(0, min(view.index + step, len(rows) - 1))
        view.selected = rows[view.index].ref
    elif ch in KEY_ENTER or ch == curses.KEY_ENTER:
        if rows:
            view.detail, view.detail_scroll = rows[view.index].ref, 0
    return True


def run_screen(win: Any, interval: float, sampler: Sampler, dpid: int | None) -> None:
    """The loop: sample every ``interval`` seconds, redraw on each sample
    and each key, wait for keys in between."""
    import curses
    try:
        curses.curs_set(0)
    except curses.error:  # a terminal that cannot hide the cursor
        pass
    win.keypad(True)
    view = View()
    due = 0.0
    sample: Sample | None = None
    rows: list[Row] = []
    while True:
        if time.monotonic() >= due:
            try:
                sample = sampler.sample()
            except OSError as exc:
                raise Gone(exc.strerror or str(exc)) from exc
            due = time.monotonic() + interval
        assert sample is not None
        win.erase()
        if view.detail is None:
            rows = draw_list(win, view, sample, dpid)
        else:
            draw_detail(win, view, sample)
        win.refresh()
        win.timeout(max(1, int((due - time.monotonic()) * 1000)))
        ch = win.getch()
        if ch != -1 and not on_key(ch, view, rows):
            return


def screen(interval: float, sampler: Sampler, dpid: int | None) -> int:
    """The full-screen view, or the one-shot table if this terminal has no
    curses description."""
    import curses
    # ncurses believes LINES/COLUMNS over the terminal's own size; exported
    # ones are stale (a shell's at export time, or 80x24 from a parent that
    # ran setupterm without a terminal) and would pin the screen's size
    for var in ("LINES", "COLUMNS"):
        os.environ.pop(var, None)
        os.unsetenv(var)
    try:
        curses.setupterm()
    except curses.error as exc:
        print(f"{PROG}: {exc}: printing one table instead", file=sys.stderr)
        return write(plain(sampler.sample(), dpid))
    os.environ.setdefault("ESCDELAY", "25")  # Esc goes back at once, not after 1 s
    try:
        curses.wrapper(run_screen, interval, sampler, dpid)
    except Gone as exc:
        from uipc.cli.common import fail
        fail(PROG, f"the daemon stopped answering: {exc}")
    except KeyboardInterrupt:
        pass
    return 0


# --- the command -----------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=PROG, description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--namespace", metavar="NAME", help="the namespace (default: this process's)")
    p.add_argument("-d", "--delay", type=float, default=1.0, metavar="SECONDS",
                   help="time between refreshes (default 1)")
    p.add_argument("--once", action="store_true", help="print one table and exit")
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.delay > 0:
        parser.error(f"--delay {args.delay}: must be more than 0")
    from uipc.cli.common import attach, fail
    attach(PROG, args.namespace)
    sampler, dpid = Sampler(), daemon_pid()
    if args.once or not sys.stdout.isatty():
        try:
            sample = sampler.sample()
        except OSError as exc:
            fail(PROG, exc.strerror or str(exc))
        return write(plain(sample, dpid))
    return screen(args.delay, sampler, dpid)


if __name__ == "__main__":
    sys.exit(main())
