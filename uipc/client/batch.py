"""Several system calls in one write to the daemon: batches.

A daemon in the middle costs a round trip per call.  A batch pays it once:
its requests go out together and run in order on this thread's task, as if
called one after another (a request that blocks holds back those behind
it).  Like io_uring's submission queue, a batch is *linked* by default
(IOSQE_IO_LINK): when a request fails, the rest are not run and report
ECANCELED.  Requests that return nothing (msgsnd, semop) are sent with
SKIP_SUCCESS (IOSQE_CQE_SKIP_SUCCESS), so only failures and results come
back.

``msgsnd_many`` / ``msgrcv_many`` are the sendmmsg(2) / recvmmsg(2) of
message queues, with their conventions: at most 1024 (UIO_MAXIOV) messages
per call, the count of what was done when a later one fails, and
MSG_WAITFORONE's "block for the first, then take what is there".  Each is a
single request: the daemon loops.
"""
from __future__ import annotations

from typing import Any, Callable, Iterable

from uipc import protocol as P
from uipc.client import connection
from uipc.client.args import LONG_MAX, LONG_MIN, buffer, c_int, c_long, int_in
from uipc.client.syscalls import (
    ctl_result, msg_result, msgrcv_args, msgsnd_args, semctl_args, semtimedop_args,
)
from uipc.uapi.msg import UIO_MAXIOV

#: requests per batch, as sendmmsg/recvmmsg cap vlen at UIO_MAXIOV
MAX_BATCH = UIO_MAXIOV

_MSGSND = P.OPS_BY_NAME["msgsnd"]
_MSGRCV = P.OPS_BY_NAME["msgrcv"]
_SEMTIMEDOP = P.OPS_BY_NAME["semtimedop"]
_SEMCTL = P.OPS_BY_NAME["semctl"]
_MSGRCV_MANY = P.OPS_BY_NAME["msgrcv_many"]
_MSGSND_MANY = P.OPS_BY_NAME["msgsnd_many"]
_INT = P.INT_RESULT.unpack_from
#: bytes of messages per msgsnd_many request (a frame holds 16 MiB, but
#: frames of a few MiB are copied several times, cold in cache)
_CHUNK = 2 * 1024 * 1024


class BatchError(OSError):
    """A request of a batch failed.

    ``errno``/``strerror`` are its error; ``index`` is its position;
    ``results`` holds every request's outcome: its value, or the OSError it
    failed with (ECANCELED for the ones a linked failure kept from running).
    """

    def __init__(self, cause: OSError, index: int, results: list[Any]) -> None:
        super().__init__(cause.errno, f"request {index} of the batch: {cause.strerror}")
        self.index = index
        self.results = results


class Batch:
    """Record system calls, then ``submit()`` them in one write.

    >>> b = Batch()
    >>> b.msgsnd(q, 1, b"ping")
    >>> b.msgrcv(q, 64, 2)             # the reply, sent by the partner
    >>> _, (mtype, mtext) = b.submit()
    """

    def __init__(self, *, link: bool = True) -> None:
        self.link = link
        self._requests: list[tuple[P.Op, tuple[Any, ...], bytes]] = []
        self._decoders: list[Callable[[bytes], Any]] = []

    def __len__(self) -> int:
        return len(self._requests)

    def _add(self, op: P.Op, args: tuple[Any, ...], tail: bytes, decode: Callable[[bytes], Any]) -> None:
        if len(self._requests) >= MAX_BATCH:
            raise ValueError(f"a batch holds at most {MAX_BATCH} requests")
        self._requests.append((op, args, tail))
        self._decoders.append(decode)

    def msgsnd(self, msqid: int, mtype: int, mtext: bytes, msgflg: int = 0) -> None:
        args, tail = msgsnd_args(msqid, mtype, mtext, msgflg)
        self._add(_MSGSND, args, tail, _none)

    def msgrcv(self, msqid: int, msgsz: int, msgtyp: int, msgflg: int = 0) -> None:
        self._add(_MSGRCV, msgrcv_args(msqid, msgsz, msgtyp, msgflg), b"", msg_result)

    def semop(self, semid: int, sops: Any) -> None:
        self.semtimedop(semid, sops, None)

    def semtimedop(self, semid: int, sops: Any, timeout: float | None) -> None:
        args, tail = semtimedop_args(semid, sops, timeout)
        self._add(_SEMTIMEDOP, args, tail, _none)

    def semctl(self, semid: int, semnum: int, cmd: int, arg: Any = None) -> None:
        args, tail = semctl_args(semid, semnum, cmd, arg)
        self._add(_SEMCTL, args, tail, lambda payload, cmd=args[2]: ctl_result(cmd, payload))

    def submit(self) -> list[Any]:
        """Run the recorded calls; returns their results in order.

        Raises :class:`BatchError` (an OSError with the first failure's errno)
        if any failed.  The batch is emptied either way.
        """
        requests, decoders = self._requests, self._decoders
        self._requests, self._decoders = [], []
        return _run(requests, decoders, self.link)


def _none(payload: bytes) -> None:
    return None


def _run(requests: list[tuple[P.Op, tuple[Any, ...], bytes]],
         decoders: list[Callable[[bytes], Any]], link: bool) -> list[Any]:
    if not requests:
        return []
    last = len(requests) - 1
    wire = []
    for i, (op, args, tail) in enumerate(requests):
        flags = P.OP_LINK if link and i < last else 0
        if op.result == "none" and i < last:
            flags |= P.OP_SKIP_SUCCESS
        wire.append((op, args, tail, flags))
    replies = connection.call_many(wire)
    results: list[Any] = []
    first_error: tuple[int, OSError] | None = None
    for i, (reply, decode) in enumerate(zip(replies, decoders)):
        if isinstance(reply, OSError):
            results.append(reply)
            if first_error is None:
                first_error = (i, reply)
        else:
            results.append(decode(reply) if reply is not None else None)
    if first_error is not None:
        raise BatchError(first_error[1], first_error[0], results)
    return results


def msgsnd_many(msqid: int, messages: Iterable[tuple[int, bytes]], msgflg: int = 0) -> int:
    """Send (mtype, mtext) messages in order, up to 1024 per call (sendmmsg).

    Returns how many were sent.  If the first fails, its error is raised; if
    a later one fails, the ones before it were sent and their count is
    returned (the next call meets the error again, as with sendmmsg).  One
    request (or one per 2 MiB): the daemon does the loop.
    """
    args = (c_int("msqid", msqid), c_int("msgflg", msgflg))
    items = _messages(messages)
    sent = 0
    while sent < len(items):
        # as many as fit one frame (at least one: msgmax bounds a message)
        end, size = sent + 1, len(items[sent][1])
        while end < len(items) and size + P.MSGS_ITEM.size + len(items[end][1]) <= _CHUNK:
            size += P.MSGS_ITEM.size + len(items[end][1])
            end += 1
        try:
            payload, _ = connection.call(_MSGSND_MANY, args, P.pack_msgs(items[sent:end]))
        except OSError:
            if not sent:
                raise
            return sent
        sent += _INT(payload)[0]
        if sent < end:  # a message failed after others were sent
            break
    return sent


#: iterable, but never a list of messages (b"ab" would be two ints)
_NOT_MESSAGES = (str, bytes, bytearray, memoryview)


def _messages(messages: Any) -> list[tuple[int, bytes]]:
    """msgsnd_many's (mtype, mtext) pairs, each checked before any is sent."""
    if isinstance(messages, _NOT_MESSAGES):
        raise TypeError(f"messages must be an iterable of (mtype, mtext) pairs, not {type(messages).__name__}")
    try:
        it = iter(messages)
    except TypeError:
        raise TypeError(f"messages must be an iterable of (mtype, mtext) pairs, "
                        f"not {type(messages).__name__}") from None
    items = []
    for i, item in enumerate(it):
        if i == MAX_BATCH:
            raise ValueError(f"at most {MAX_BATCH} messages per call")
        if type(item) is tuple and len(item) == 2:  # the common case, checked inline
            mtype, mtext = item
            if type(mtype) is int and LONG_MIN <= mtype <= LONG_MAX and type(mtext) is bytes:
                items.append(item)
                continue
        items.append(_message(i, item))
    return items


def _message(i: int, item: Any) -> tuple[int, bytes]:
    """Message ``i`` of msgsnd_many, checked with errors that name it."""
    if not isinstance(item, (tuple, list)) or len(item) != 2:
        raise TypeError(f"message {i} must be an (mtype, mtext) pair, not {_describe(item)}")
    return c_long(f"message {i}: mtype", item[0]), buffer(f"message {i}: mtext", item[1])


def _describe(value: Any) -> str:
    """A value's type, and its length when that is what is wrong."""
    if isinstance(value, (tuple, list)):
        return f"a {type(value).__name__} of {len(value)}"
    return type(value).__name__


def msgrcv_many(msqid: int, msgsz: int, msgtyp: int, count: int, msgflg: int = 0
                ) -> list[tuple[int, bytes]]:
    """Receive up to ``count`` (<= 1024) messages (recvmmsg with MSG_WAITFORONE).

    Waits for the first as msgrcv(2) would (unless IPC_NOWAIT), then takes
    the ones already queued without waiting.  Raises the first one's error;
    returns what it got when a later one finds none (ENOMSG) or fails.  One
    request: the daemon does the loop.
    """
    count = int_in("count", count, 1, MAX_BATCH)
    payload, _ = connection.call(_MSGRCV_MANY, msgrcv_args(msqid, msgsz, msgtyp, msgflg) + (count,))
    return P.unpack_msgs(payload)


__all__ = ["Batch", "BatchError", "MAX_BATCH", "msgrcv_many", "msgsnd_many"]
