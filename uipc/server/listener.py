"""The listening socket: its directory, its lock, accepting, running out of
descriptors without spinning."""
from __future__ import annotations

import errno
import fcntl
import os
import socket
import stat
import time
from pathlib import Path
from typing import Callable

from uipc import protocol as P
from uipc.server.loop import READ, Poller
from uipc.server.ratelimit import RateLimitedLog

#: connections accepted per loop turn
ACCEPTS_PER_TURN = 64
#: how long the listener rests after the descriptor table was found full
EMFILE_PAUSE = 0.1


def prepare_socket_dir(path: Path, *, system: bool) -> None:
    """Create the socket directory, refusing one that someone else controls.

    As tmux and gpg-agent do: the per-user directory must be ours and 0700;
    the system directory must be root's and not writable by others.
    """
    path.mkdir(mode=0o755 if system else 0o700, parents=True, exist_ok=True)
    st = os.lstat(path)
    if not stat.S_ISDIR(st.st_mode):
        raise SystemExit(f"uipc: {path} is not a directory")
    if st.st_uid != os.geteuid():
        raise SystemExit(f"uipc: {path} is owned by uid {st.st_uid}, not {os.geteuid()}; refusing")
    if st.st_mode & (0o022 if system else 0o077):
        raise SystemExit(f"uipc: {path} has mode {st.st_mode & 0o777:03o}; "
                         f"it must not be accessible by others")


def refuse(sock: socket.socket, err: int, detail: str) -> None:
    """Answer a connection we will not serve with one error frame, and close it."""
    try:
        sock.send(P.encode_error(P.EVENT_REQ_ID, err, detail))
    except OSError:
        pass
    sock.close()


class Listener:
    """Binds the socket (one daemon per socket: a lock decides) and accepts."""

    def __init__(self, path: Path, system: bool, poller: Poller, admit: Callable[[socket.socket], None],
                 warn: RateLimitedLog) -> None:
        self.path, self.system, self.poller, self.admit, self.log = path, system, poller, admit, warn
        self.sock: socket.socket | None = None
        self._lock_fd = -1
        #: a descriptor kept spare, so that a full table still lets the daemon
        #: accept a connection to tell it so (the classic EMFILE reserve)
        self._reserve_fd = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
        #: when the listener, paused for lack of descriptors, is polled again
        self.resume_at: float | None = None

    def bind(self) -> bool:
        """Take the lock and listen.  False if another daemon holds the lock."""
        prepare_socket_dir(self.path.parent, system=self.system)
        self._lock_fd = os.open(str(self.path) + ".lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._lock_fd)
            self._lock_fd = -1
            return False
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.bind(str(self.path))
        os.chmod(self.path, 0o666 if self.system else 0o600)
        sock.listen(512)
        sock.setblocking(False)
        self.sock = sock
        Path(str(self.path) + ".pid").write_text(f"{os.getpid()}\n")
        self.poller.register(sock, READ, self.accept)
        return True

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            for suffix in ("", ".pid"):
                try:
                    os.unlink(str(self.path) + suffix)
                except FileNotFoundError:
                    pass
        for fd in (self._lock_fd, self._reserve_fd):
            if fd >= 0:
                os.close(fd)
        self._lock_fd = self._reserve_fd = -1

    def accept(self, mask: int) -> None:
        assert self.sock is not None
        for _ in range(ACCEPTS_PER_TURN):
            try:
                sock, _ = self.sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                if exc.errno in (errno.EMFILE, errno.ENFILE):
                    self._out_of_descriptors(exc)
                else:
                    self.log.warn("accept", "accept failed: %s", exc)
                return
            try:
                self.admit(sock)
            except Exception:
                self.log.warn("admit", "internal error admitting a connection", exc_info=True)
                sock.close()

    def _out_of_descriptors(self, exc: OSError) -> None:
        """accept() found the descriptor table full.  Spend the spare
        descriptor on telling one waiting client so (instead of leaving it
        hanging), then stop polling the listener until a descriptor is freed
        or a moment has passed: no busy loop, no flood of log lines."""
        self.log.warn("emfile", "out of descriptors (%s): new connections wait", exc.strerror)
        assert self.sock is not None
        if self._reserve_fd >= 0:
            os.close(self._reserve_fd)
            self._reserve_fd = -1
            try:
                sock, _ = self.sock.accept()
                refuse(sock, errno.EMFILE, "the uipc daemon is out of file descriptors; "
                       "try again later")
            except OSError:
                pass
            self._take_reserve()
        if self.resume_at is None:
            self.poller.modify(self.sock, 0)
        self.resume_at = time.monotonic() + EMFILE_PAUSE

    def resume(self) -> None:
        """A descriptor may be free again: poll the listener (and the spare)."""
        if self.resume_at is None or self.sock is None:
            return
        self.resume_at = None
        self._take_reserve()
        self.poller.modify(self.sock, READ)

    def _take_reserve(self) -> None:
        if self._reserve_fd < 0:
            try:
                self._reserve_fd = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
            except OSError:
                pass
