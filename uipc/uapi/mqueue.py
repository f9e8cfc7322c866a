"""POSIX message queues, named semaphores and shared memory as user space
sees them: include/uapi/linux/mqueue.h, asm-generic/siginfo.h's sigevent,
glibc's <semaphore.h> limits.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

__all__ = [
    "MQ_PRIO_MAX", "MQ_BYTES_MAX", "NAME_MAX", "SEM_VALUE_MAX", "SIGEV_SIGNAL", "SIGEV_NONE",
    "SIGEV_THREAD", "SI_MESGQ", "MqAttr", "SigEvent", "NOTIFY_NONE", "NOTIFY_WOKENUP",
    "NOTIFY_REMOVED", "SIZEOF_MSG_MSG", "SIZEOF_MSG_TREE_NODE", "RLIMIT_MSGQUEUE_DEFAULT",
]

#: include/uapi/linux/mqueue.h: priorities are 0 .. MQ_PRIO_MAX - 1
MQ_PRIO_MAX = 32768
#: per-uid bytes (RLIMIT_MSGQUEUE's default soft and hard limit: 819200)
MQ_BYTES_MAX = 819200
RLIMIT_MSGQUEUE_DEFAULT = MQ_BYTES_MAX
#: include/uapi/linux/limits.h
NAME_MAX = 255
#: glibc <semaphore.h>: SEM_VALUE_MAX is INT_MAX
SEM_VALUE_MAX = 2147483647

# include/uapi/asm-generic/siginfo.h: sigev_notify
SIGEV_SIGNAL = 0
SIGEV_NONE = 1
SIGEV_THREAD = 2
#: si_code of a notification signal: "sent by real time mesq state change"
SI_MESGQ = -3

# include/uapi/linux/mqueue.h: the cookie byte SIGEV_THREAD's socket receives
NOTIFY_NONE = 0
NOTIFY_WOKENUP = 1
NOTIFY_REMOVED = 2

#: sizeof(struct msg_msg) and sizeof(struct posix_msg_tree_node) on LP64:
#: mqueue_get_inode charges maxmsg of each (the second at most MQ_PRIO_MAX)
#: to the creator's RLIMIT_MSGQUEUE besides maxmsg * msgsize
SIZEOF_MSG_MSG = 48
SIZEOF_MSG_TREE_NODE = 48


@dataclass(frozen=True)
class MqAttr:
    """struct mq_attr.  mq_open reads mq_maxmsg and mq_msgsize; mq_setattr
    only mq_flags (O_NONBLOCK); mq_curmsgs is output only."""

    mq_flags: int = 0
    mq_maxmsg: int = 0
    mq_msgsize: int = 0
    mq_curmsgs: int = 0


@dataclass(frozen=True)
class SigEvent:
    """struct sigevent, as mq_notify takes it.  The constructor checks
    nothing, as C's struct does not: mq_notify validates the fields.

    ``sigev_value`` is the union sigval, an int (sival_int/sival_ptr);
    ``sigev_notify_function`` is SIGEV_THREAD's function, called with it.
    """

    sigev_notify: int
    sigev_signo: int = 0
    sigev_value: int = 0
    sigev_notify_function: Callable[[int], Any] | None = None
