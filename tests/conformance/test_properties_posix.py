"""Property-based conformance for POSIX IPC: random sequences of mq_* and
sem_* calls on Linux (glibc, in a private IPC namespace and /dev/shm) and
on uipc; every result must match.

Descriptors and semaphore handles live in slots: an operation names a slot,
and a slot with nothing open in it stands for a closed descriptor (EBADF) —
never a closed semaphore, whose use glibc does not survive.  Nothing
blocks: sends and receives carry a timeout in the past (ETIMEDOUT where
they would sleep).  UIPC_CONFORMANCE_EXAMPLES sets how many sequences.
"""
from __future__ import annotations

import os
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from tests.conformance.harness import (
    CAPABLE_NEEDS_ROOT, ORACLE, Recorder, Scenario, SkippedOp, assert_conforms, skip_scenarios,
)
from uipc.uapi.mqueue import SIGEV_NONE, MqAttr, SigEvent

EXAMPLES = int(os.environ.get("UIPC_CONFORMANCE_EXAMPLES", "40"))
O_RDONLY, O_WRONLY, O_RDWR = os.O_RDONLY, os.O_WRONLY, os.O_RDWR
O_CREAT, O_EXCL, O_NONBLOCK = os.O_CREAT, os.O_EXCL, os.O_NONBLOCK

names = st.sampled_from(["/pa", "/pb"])
slots = st.integers(0, 3)
oflags = st.sampled_from([O_RDONLY, O_WRONLY, O_RDWR]).flatmap(
    lambda acc: st.sampled_from([0, O_CREAT, O_CREAT | O_EXCL, O_NONBLOCK | O_CREAT]).map(
        lambda f: acc | f))
attrs = st.sampled_from([None, (2, 16), (3, 8), (0, 8), (11, 8)])

ops = st.one_of(
    st.tuples(st.just("mq_open"), names, oflags, st.sampled_from([0o600, 0o400, 0o200]), attrs),
    st.tuples(st.just("mq_send"), slots, st.sampled_from([0, 1, 8, 17]),
              st.sampled_from([0, 1, 31, 32767, 32768])),
    st.tuples(st.just("mq_receive"), slots, st.sampled_from([7, 8, 16, 100])),
    st.tuples(st.just("mq_getattr"), slots),
    st.tuples(st.just("mq_setattr"), slots, st.sampled_from([0, O_NONBLOCK, 1])),
    st.tuples(st.just("mq_notify"), slots, st.booleans()),
    st.tuples(st.just("mq_close"), slots),
    st.tuples(st.just("mq_unlink"), names),
    st.tuples(st.just("sem_open"), names, st.sampled_from([0, O_CREAT, O_CREAT | O_EXCL]),
              st.sampled_from([0, 1, 2147483647, 2147483648])),
    st.tuples(st.just("sem_post"), slots),
    st.tuples(st.just("sem_trywait"), slots),
    st.tuples(st.just("sem_getvalue"), slots),
    st.tuples(st.just("sem_close"), slots),
    st.tuples(st.just("sem_unlink"), names),
)

#: a descriptor nothing has: a closed slot's
CLOSED_FD = 987


def run_ops(rec: Recorder, program: list[tuple[Any, ...]]) -> None:
    api, do = rec.api, rec.do
    mqds: dict[int, int] = {}
    sems: dict[int, Any] = {}

    def free_slot(table: dict[int, Any]) -> int:
        return next(i for i in range(64) if i not in table)

    def handle(label: str, fn: Any, mark: str) -> Any:
        """Open something: recorded as ``mark`` (numbers differ), returned as is."""
        try:
            value = fn()
        except OSError as exc:
            rec.note(label, f"errno {exc.errno}")
            return None
        rec.note(label, mark)
        return value

    for i, op in enumerate(program):
        name, *a = op
        label = f"{i} {op}"
        if name == "mq_open":
            attr = None if a[3] is None else MqAttr(0, *a[3])
            if attr is not None and attr.mq_maxmsg > 10 and a[1] & O_CREAT \
                    and ORACLE.userns_fd is not None:
                # past fs.mqueue.msg_max: CAP_SYS_RESOURCE decides, which capable() asks
                # of the initial user namespace, where a non-root run has none
                rec.log.append((label, SkippedOp(CAPABLE_NEEDS_ROOT)))
                continue
            fd = handle(label, lambda: api.mq_open(a[0], a[1], a[2], attr), "fd")
            if fd is not None:
                mqds[free_slot(mqds)] = fd
        elif name.startswith("mq_") and name != "mq_unlink":
            fd = mqds.get(a[0], CLOSED_FD)
            if name == "mq_send":
                do(label, lambda: api.mq_timedsend(fd, b"s" * a[1], a[2], 0.0))
            elif name == "mq_receive":
                do(label, lambda: api.mq_timedreceive(fd, a[1], 0.0))
            elif name == "mq_getattr":
                do(label, lambda: api.mq_getattr(fd))
            elif name == "mq_setattr":
                do(label, lambda: api.mq_setattr(fd, MqAttr(a[1])))
            elif name == "mq_notify":
                do(label, lambda: api.mq_notify(fd, SigEvent(SIGEV_NONE) if a[1] else None))
            else:
                do(label, lambda: api.mq_close(fd))
                mqds.pop(a[0], None)
        elif name == "mq_unlink":
            do(label, lambda: api.mq_unlink(a[0]))
        elif name == "sem_open":
            sem = handle(label, lambda: api.sem_open(a[0], a[1], 0o600, a[2]), "sem")
            if sem is not None:
                sems[free_slot(sems)] = sem
        elif name == "sem_unlink":
            do(label, lambda: api.sem_unlink(a[0]))
        elif a[0] in sems:  # only open semaphores: glibc would fault on closed ones
            sem = sems[a[0]]
            if name == "sem_post":
                do(label, lambda: api.sem_post(sem))
            elif name == "sem_trywait":
                do(label, lambda: api.sem_trywait(sem))
            elif name == "sem_getvalue":
                do(label, lambda: api.sem_getvalue(sem))
            else:
                do(label, lambda: api.sem_close(sem))
                del sems[a[0]]
    for fd in mqds.values():  # the uipc side's namespace dies with its child anyway
        try:
            api.mq_close(fd)
        except OSError:
            pass


@pytest.mark.kernel_oracle
@settings(max_examples=EXAMPLES, deadline=None,
          derandomize=os.environ.get("UIPC_CONFORMANCE_RANDOM") != "1",
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(program=st.lists(ops, min_size=1, max_size=25))
def test_random_posix_sequences_match_the_kernel(program: list[tuple[Any, ...]], oracle) -> None:
    if oracle.unsupported:
        skip_scenarios(oracle.unsupported, EXAMPLES)
    scenario = Scenario("random POSIX sequence", "random", lambda rec: run_ops(rec, program),
                        dev_shm=True)
    assert_conforms(scenario, "program:\n" + "\n".join(map(repr, program)) + "\n")
