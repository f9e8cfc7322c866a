"""Helpers shared by the integration tests."""
from __future__ import annotations

import os
import pickle
import struct
import traceback
from typing import Any, Callable


def snapshot() -> dict[str, Any]:
    """The daemon's view of the caller's namespace (every page of it)."""
    import uipc
    return uipc.introspect.namespace()


def receivers(msqid: int) -> list[dict[str, Any]]:
    return [w for m in snapshot()["msg"] if m["id"] == msqid for w in m["receivers"]]


def senders(msqid: int) -> list[dict[str, Any]]:
    return [w for m in snapshot()["msg"] if m["id"] == msqid for w in m["senders"]]


def send_obj(fd: int, obj: Any) -> None:
    """One pickled object, length-prefixed, down a pipe to another process."""
    data = pickle.dumps(obj)
    os.write(fd, struct.pack("I", len(data)) + data)


def _read_exact(fd: int, n: int) -> bytes:
    out = b""
    while len(out) < n:
        chunk = os.read(fd, n - len(out))
        if not chunk:
            raise EOFError("the other process closed its pipe")
        out += chunk
    return out


def recv_obj(fd: int, timeout: float = 10.0) -> Any:
    """The next object send_obj wrote, within ``timeout`` seconds."""
    import select
    ready, _, _ = select.select([fd], [], [], timeout)
    if not ready:
        raise AssertionError(f"no report from the other process within {timeout} s")
    (n,) = struct.unpack("I", _read_exact(fd, 4))
    return pickle.loads(_read_exact(fd, n))


class Child:
    """A forked process running fn(); its result (or exception) comes back pickled."""

    def __init__(self, fn: Callable[[], Any]) -> None:
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(r)
            try:
                try:
                    out: Any = ("ok", fn())
                except BaseException as exc:  # noqa: BLE001 - reported to the parent
                    out = ("err", exc, traceback.format_exc())
                data = pickle.dumps(out)
                with os.fdopen(w, "wb") as f:
                    f.write(data)
            finally:
                os._exit(0)
        os.close(w)
        self.pid = pid
        self._r = r

    def result(self, timeout: float = 30.0) -> Any:
        import select
        ready, _, _ = select.select([self._r], [], [], timeout)
        if not ready:
            os.kill(self.pid, 9)
            os.waitpid(self.pid, 0)
            raise AssertionError("child did not finish")
        with os.fdopen(self._r, "rb") as f:
            data = f.read()
        os.waitpid(self.pid, 0)
        out = pickle.loads(data)
        if out[0] == "err":
            raise AssertionError(f"child failed: {out[2]}") from out[1]
        return out[1]

    def kill(self, sig: int = 9) -> int:
        os.kill(self.pid, sig)
        _, status = os.waitpid(self.pid, 0)
        os.close(self._r)
        return status


class Peer:
    """A child running ``fn(peer)`` that talks with the test over two pipes:
    ``say``/``hear`` in the child, ``tell``/``expect`` in the test."""

    def __init__(self, fn: Callable[["Peer"], Any]) -> None:
        self._down_r, self._down_w = os.pipe()
        self._up_r, self._up_w = os.pipe()
        self.child = Child(lambda: fn(self))
        self.pid = self.child.pid

    # in the child
    def say(self, obj: Any) -> None:
        send_obj(self._up_w, obj)

    def hear(self, timeout: float = 60.0) -> Any:
        return recv_obj(self._down_r, timeout)

    # in the test
    def tell(self, obj: Any) -> None:
        send_obj(self._down_w, obj)

    def expect(self, timeout: float = 60.0) -> Any:
        return recv_obj(self._up_r, timeout)

    def result(self, timeout: float = 60.0) -> Any:
        try:
            return self.child.result(timeout)
        finally:
            self._close()

    def reap(self) -> int:
        """Its wait status, once it ended by itself (or by a signal)."""
        _, status = os.waitpid(self.pid, 0)
        os.close(self.child._r)
        self._close()
        return status

    def cleanup(self) -> None:
        """Whatever state it is in: killed and reaped, pipes closed."""
        if self._down_r < 0:
            return
        try:
            self.child.kill()
        except (ProcessLookupError, ChildProcessError):
            os.close(self.child._r)
        self._close()

    def _close(self) -> None:
        for fd in (self._down_r, self._down_w, self._up_r, self._up_w):
            if fd >= 0:
                os.close(fd)
        self._down_r = self._down_w = self._up_r = self._up_w = -1


def as_user(uid: int, gid: int, fn: Callable[[], Any], groups: list[int] | None = None) -> Any:
    """fn() in a forked child that dropped to ``uid``/``gid`` (and ``groups``) first."""
    def run() -> Any:
        os.setgroups(groups or [])
        os.setgid(gid)
        os.setuid(uid)
        return fn()
    return Child(run).result()


#: the unprivileged user the tests attack as
NOBODY = 65534


def as_nobody(fn: Callable[[], Any]) -> Any:
    """fn() in a forked child that dropped to uid/gid 65534, no groups."""
    return as_user(NOBODY, NOBODY, fn)


def errno_of(fn: Callable[[], object]) -> int:
    """The errno fn() fails with (0 if it succeeds)."""
    try:
        fn()
    except OSError as exc:
        return exc.errno or 0
    return 0


# --- uipc descriptors (pipes) ----------------------------------------------------
def close_all(*fds: int) -> None:
    """uipc.close each descriptor, whichever are still open."""
    import uipc
    for fd in fds:
        try:
            uipc.close(fd)
        except OSError:
            pass


def read_all(fd: int, chunk: int = 1 << 20) -> bytes:
    """Blocking uipc reads until EOF."""
    import uipc
    chunks = []
    while True:
        data = uipc.read(fd, chunk)
        if not data:
            return b"".join(chunks)
        chunks.append(data)


def read_all_now(fd: int, chunk: int = 1 << 20) -> bytes:
    """uipc reads of a non-blocking descriptor until EAGAIN or EOF."""
    import uipc
    out = b""
    while True:
        try:
            data = uipc.read(fd, chunk)
        except BlockingIOError:
            return out
        if not data:
            return out
        out += data
