"""uipc: the Linux kernel's IPC subsystem, in user space.

Layers (data flows down, never back up):

- ``uipc.uapi``: constants and structs user space sees (include/uapi/linux).
- ``uipc.kernel``: the kernel, pure and deterministic (no I/O).
- ``uipc.protocol``: the wire format between clients and the daemon.
- ``uipc.server``: the daemon.
- ``uipc.client``: what this module re-exports: the system calls with their
  C signatures (``msgget``, ``msgsnd``...), Pythonic classes
  (``MessageQueue``...) and asyncio variants.

The client never imports the kernel, as user space sees only headers.
"""
from uipc.client.batch import Batch, BatchError, msgrcv_many, msgsnd_many
from uipc.client.classes import MessageQueue, key_from_name
from uipc.client.memory import SharedMemory
from uipc.client.semaphore import Semaphore, SemaphoreSet
from uipc.client.shm import shm_view, shmat, shmctl, shmdt, shmget
from uipc.client.connection import (
    DaemonRestarted, UipcConnectionError, UntrustedDaemon, configure, unshare_namespace,
)
from uipc.client import introspect, sysctl
from uipc.client.syscalls import (
    msgctl, msgget, msgrcv, msgsnd, semctl, semget, semop, semtimedop,
)
from uipc.client.mqueue import (
    mq_close, mq_fileinfo, mq_getattr, mq_notify, mq_open, mq_receive, mq_send, mq_setattr,
    mq_timedreceive, mq_timedsend, mq_unlink,
)
from uipc.client.files import (
    CLOCK_BOOTTIME, CLOCK_MONOTONIC, CLOCK_REALTIME, EFD_CLOEXEC, EFD_NONBLOCK, EFD_SEMAPHORE,
    TFD_CLOEXEC, TFD_NONBLOCK, TFD_TIMER_ABSTIME, TFD_TIMER_CANCEL_ON_SET, close, eventfd,
    eventfd_read, eventfd_write, poll, read, timerfd_create, timerfd_gettime, timerfd_settime,
    write,
)
from uipc.client.epoll import (
    EPOLL_CLOEXEC, EPOLL_CTL_ADD, EPOLL_CTL_DEL, EPOLL_CTL_MOD, EPOLLERR, EPOLLET, EPOLLEXCLUSIVE,
    EPOLLHUP, EPOLLIN, EPOLLONESHOT, EPOLLOUT, EPOLLPRI, EPOLLRDHUP, EPOLLRDNORM, EPOLLWRNORM,
    epoll_create1, epoll_ctl, epoll_wait,
)
from uipc.client.aio_files import aread, awrite
from uipc.client.pipe import (
    F_GETFL, F_GETPIPE_SZ, F_SETFL, F_SETPIPE_SZ, O_DIRECT, PIPE_BUF, dup, mkfifo, open, pipe2,
    unlink,
)
from uipc.client.pipe import (
    SPLICE_F_GIFT, SPLICE_F_MORE, SPLICE_F_MOVE, SPLICE_F_NONBLOCK, splice, tee,
)
from uipc.client.posix_shm import (
    NamedSem, sem_close, sem_getvalue, sem_open, sem_post, sem_timedwait, sem_trywait, sem_unlink,
    sem_wait, shm_open, shm_unlink,
)
from uipc.uapi import *  # noqa: F401,F403 - constants and structs, as <sys/ipc.h>
# after the uapi names: uipc.uapi.signalfd is a module, uipc.signalfd the call
from uipc.client.signal import (  # noqa: E402
    SFD_CLOEXEC, SFD_NONBLOCK, SIG_BLOCK, SIG_SETMASK, SIG_UNBLOCK, kill, read_siginfo,
    signalfd, sigpending, sigprocmask, sigqueue,
)
from uipc.uapi.signalfd import SI_QUEUE, SI_USER, SignalfdSiginfo  # noqa: E402
from uipc.client.ipc import ipc  # noqa: E402 - after the uapi names (uipc.uapi.ipc is a module)
from uipc.client.pipe import fcntl  # noqa: E402 - the same: uipc.uapi.fcntl is a module

__version__ = "0.1.0"
