"""Descriptor families together, with real processes: an EFD_SEMAPHORE
eventfd handing out tokens to several processes, and a signalfd inside an
epoll woken by another process's uipc.kill."""
from __future__ import annotations

import errno
import os
import signal

import uipc
from tests.helpers import Child, errno_of


def test_an_eventfd_semaphore_hands_each_token_to_exactly_one_process(ns: str) -> None:
    sem = uipc.eventfd(0, uipc.EFD_SEMAPHORE)
    workers, each = 3, 4

    def worker() -> list[int]:
        # blocking reads: each takes one token (EFD_SEMAPHORE reads 1)
        return [uipc.eventfd_read(sem) for _ in range(each)]

    kids = [Child(worker) for _ in range(workers)]
    for _ in range(workers * each):
        uipc.eventfd_write(sem, 1)
    got = [k.result() for k in kids]
    assert got == [[1] * each] * workers
    # every token was taken exactly once: nothing is left
    uipc.fcntl(sem, uipc.F_SETFL, os.O_NONBLOCK)
    assert errno_of(lambda: uipc.eventfd_read(sem)) == errno.EAGAIN
    uipc.close(sem)


def test_a_signalfd_in_an_epoll_is_woken_by_another_processes_kill(ns: str) -> None:
    r, w = os.pipe()

    def target() -> list[tuple[int, int, int]]:
        os.close(r)
        uipc.sigprocmask(uipc.SIG_BLOCK, {signal.SIGUSR1})
        sfd = uipc.signalfd(-1, {signal.SIGUSR1})
        ep = uipc.epoll_create1()
        uipc.epoll_ctl(ep, uipc.EPOLL_CTL_ADD, sfd, uipc.EPOLLIN, 77)
        assert uipc.epoll_wait(ep, 8, 0) == []
        os.write(w, b"!")  # ready: the parent may signal us now
        os.close(w)
        events = uipc.epoll_wait(ep, 8, 20_000)
        infos = uipc.read_siginfo(sfd)
        return [(data, ev, 0) for data, ev in events] + [
            (i.ssi_signo, i.ssi_code, i.ssi_pid) for i in infos]

    kid = Child(target)
    os.close(w)
    assert os.read(r, 1) == b"!"
    os.close(r)
    uipc.kill(kid.pid, signal.SIGUSR1)
    assert kid.result() == [(77, uipc.EPOLLIN, 0),
                            (signal.SIGUSR1, uipc.SI_USER, os.getpid())]
