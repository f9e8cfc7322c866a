"""Property-based conformance: random operation sequences on Linux and uipc.

Hypothesis draws sequences from a small key and id space (so operations hit
each other's objects) and every result must match.  Nothing blocks: every
msgrcv/semop carries IPC_NOWAIT.  A failure shrinks to a minimal sequence,
printed as the falsifying example.  UIPC_CONFORMANCE_EXAMPLES sets how many
sequences to try (default 40 in the normal test run).
"""
from __future__ import annotations

import os
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from tests.conformance.harness import Recorder, Scenario, assert_conforms, skip_scenarios
from uipc.uapi import (
    GETALL, GETNCNT, GETZCNT, IPC_CREAT, IPC_EXCL, IPC_NOWAIT, IPC_RMID, IPC_SET, IPC_STAT,
    MSG_COPY, MSG_EXCEPT, MSG_NOERROR, MSG_STAT, SEM_UNDO, SETALL, SETVAL, SHM_LOCK, SHM_RDONLY,
    SHM_STAT, SHM_UNLOCK,
)

EXAMPLES = int(os.environ.get("UIPC_CONFORMANCE_EXAMPLES", "40"))

keys = st.sampled_from([0, 0x11, 0x22])
getflags = st.sampled_from([0, IPC_CREAT, IPC_CREAT | IPC_EXCL]).flatmap(
    lambda f: st.sampled_from([0o600, 0o400, 0o000, 0o666]).map(lambda m: f | m))
ids = st.sampled_from([0, 1, 2, 32768, -1])
sops = st.lists(st.tuples(st.integers(0, 3), st.integers(-2, 2),
                          st.sampled_from([IPC_NOWAIT, IPC_NOWAIT | SEM_UNDO])), min_size=1, max_size=3)

ops = st.one_of(
    st.tuples(st.just("msgget"), keys, getflags),
    st.tuples(st.just("msgsnd"), ids, st.integers(-1, 3), st.sampled_from([0, 1, 5, 100])),
    st.tuples(st.just("msgrcv"), ids, st.sampled_from([0, 3, 100]), st.integers(-3, 3),
              st.sampled_from([0, MSG_NOERROR, MSG_EXCEPT, MSG_COPY, MSG_COPY | MSG_NOERROR])),
    st.tuples(st.just("msgctl"), ids, st.sampled_from(["stat", "rmid", "msg_stat", "qbytes"])),
    st.tuples(st.just("semget"), keys, st.integers(0, 3), getflags),
    st.tuples(st.just("semop"), ids, sops),
    st.tuples(st.just("semctl"), ids, st.integers(0, 3),
              st.sampled_from(["getall", "setval", "setall", "ncnt", "zcnt", "rmid", "stat"])),
    st.tuples(st.just("shmget"), keys, st.sampled_from([0, 1, 4096, 5000]), getflags),
    st.tuples(st.just("shmat"), ids, st.sampled_from([0, SHM_RDONLY])),
    st.tuples(st.just("shmctl"), ids, st.sampled_from(["stat", "rmid", "lock", "unlock", "shm_stat"])),
)


def run_ops(rec: Recorder, program: list[tuple[Any, ...]]) -> None:
    api, do = rec.api, rec.do
    for i, op in enumerate(program):
        name, *a = op
        label = f"{i} {op}"
        if name == "msgget":
            do(label, lambda: api.msgget(a[0], a[1]))
        elif name == "msgsnd":
            do(label, lambda: api.msgsnd(a[0], a[1], b"m" * a[2], IPC_NOWAIT))
        elif name == "msgrcv":
            do(label, lambda: api.msgrcv(a[0], a[1], a[2], a[3] | IPC_NOWAIT))
        elif name == "msgctl":
            if a[1] == "stat":
                do(label, lambda: api.msgctl(a[0], IPC_STAT))
            elif a[1] == "rmid":
                do(label, lambda: api.msgctl(a[0], IPC_RMID))
            elif a[1] == "msg_stat":
                do(label, lambda: api.msgctl(a[0], MSG_STAT))
            else:
                import dataclasses

                def setq() -> Any:
                    ds = api.msgctl(a[0], IPC_STAT)
                    return api.msgctl(a[0], IPC_SET, dataclasses.replace(ds, msg_qbytes=16))
                do(label, setq)
        elif name == "semget":
            do(label, lambda: api.semget(a[0], a[1], a[2]))
        elif name == "semop":
            do(label, lambda: api.semop(a[0], a[1]))
        elif name == "semctl":
            cmd = a[2]
            if cmd == "getall":
                do(label, lambda: api.semctl(a[0], 0, GETALL))
            elif cmd == "setval":
                do(label, lambda: api.semctl(a[0], a[1], SETVAL, a[1] + 1))
            elif cmd == "setall":
                do(label, lambda: api.semctl(a[0], 0, SETALL, [a[1]] * 3))
            elif cmd in ("ncnt", "zcnt"):
                do(label, lambda: api.semctl(a[0], a[1], GETNCNT if cmd == "ncnt" else GETZCNT))
            elif cmd == "rmid":
                do(label, lambda: api.semctl(a[0], 0, IPC_RMID))
            else:
                do(label, lambda: api.semctl(a[0], 0, IPC_STAT))
        elif name == "shmget":
            do(label, lambda: api.shmget(a[0], a[1], a[2]))
        elif name == "shmat":
            def attach() -> Any:
                addr = api.shmat(a[0], None, a[1])
                data = bytes(api.shm_view(addr)[:4])
                api.shmdt(addr)
                return data
            do(label, attach)
        else:
            cmd = {"stat": IPC_STAT, "rmid": IPC_RMID, "lock": SHM_LOCK, "unlock": SHM_UNLOCK,
                   "shm_stat": SHM_STAT}[a[1]]
            do(label, lambda: api.shmctl(a[0], cmd))


@pytest.mark.kernel_oracle
@settings(max_examples=EXAMPLES, deadline=None, derandomize=os.environ.get("UIPC_CONFORMANCE_RANDOM") != "1",
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(program=st.lists(ops, min_size=1, max_size=25))
def test_random_sequences_match_the_kernel(program: list[tuple[Any, ...]], oracle) -> None:
    if oracle.unsupported:  # every sequence would skip: count them all, once
        skip_scenarios(oracle.unsupported, EXAMPLES)
    scenario = Scenario("random sequence", "random", lambda rec: run_ops(rec, program))
    assert_conforms(scenario, "program:\n" + "\n".join(map(repr, program)) + "\n")
