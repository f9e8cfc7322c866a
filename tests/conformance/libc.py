"""The kernel backend: the real kernel's SysV IPC through ctypes on libc,
with exactly uipc's public syscall API (names, signatures, result types),
so one scenario runs unchanged on either.
"""
from __future__ import annotations

from tests.conformance.libc_mq import (  # noqa: F401
    get_mq_sysctl, mq_close, mq_getattr, mq_notify, mq_open, mq_receive, mq_send, mq_setattr,
    mq_timedreceive, mq_timedsend, mq_unlink, set_mq_sysctl,
)
from tests.conformance.libc_msg import msgctl, msgget, msgrcv, msgsnd, unshare_ipc  # noqa: F401
from tests.conformance.libc_posix import (  # noqa: F401
    private_dev_shm, sem_close, sem_getvalue, sem_open, sem_post, sem_timedwait, sem_trywait,
    sem_unlink, sem_wait, shm_open, shm_unlink,
)
from tests.conformance.libc_sem import semctl, semget, semop, semtimedop  # noqa: F401
from tests.conformance.libc_shm import shm_view, shmat, shmctl, shmdt, shmget  # noqa: F401


def set_sysctl(name: str, value: object) -> None:
    """Write /proc/sys/kernel/NAME: per IPC namespace, so only ours changes."""
    import builtins  # this module's `open` is uipc.open's counterpart (libc_pipe.py)
    with builtins.open(f"/proc/sys/kernel/{name}", "w") as f:
        f.write(str(value))


# the descriptor family: the kernel's own, through os (uipc.eventfd... on the uipc side)
import os as _os  # noqa: E402

eventfd = _os.eventfd
read = _os.read
write = _os.write
close = _os.close
from tests.conformance.libc_timerfd import (  # noqa: E402,F401
    timerfd_create, timerfd_gettime, timerfd_settime,
)
from tests.conformance.libc_pipe import (  # noqa: E402,F401
    dup, fcntl, mkfifo, open, pipe2, unlink,
)
from tests.conformance.libc_epoll import epoll_create1, epoll_ctl, epoll_wait  # noqa: E402,F401


def poll(fds: list[tuple[int, int]], timeout_ms: int | None = -1) -> list[tuple[int, int]]:
    """poll(2) as uipc.poll takes it: [(fd, events)] -> [(fd, revents)] of the ready ones."""
    import select as _select
    p = _select.poll()
    for fd, events in fds:
        p.register(fd, events)
    return p.poll(-1 if timeout_ms is None else timeout_ms)
