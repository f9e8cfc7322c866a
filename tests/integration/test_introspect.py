"""Introspection through the real daemon: paged, private, complete.

The uid-65534 tests need root (the session daemon then runs in system mode,
and a forked child drops to uid 65534 as an unprivileged user would connect).
"""
from __future__ import annotations

import errno
import os
from typing import Any

import pytest

import uipc
from tests.conftest import wait_until
from tests.helpers import NOBODY, Child, as_nobody
from uipc import protocol as P
from uipc.client.connection import call
from uipc.kernel.procfs import PAGE_ITEMS, PAGE_MAX

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to setuid a child")




def test_paging_returns_every_queue_and_no_page_exceeds_the_cap(ns: str) -> None:
    made = [uipc.msgget(uipc.IPC_PRIVATE, 0o600) for _ in range(5000)]
    pages = list(uipc.introspect.pages("msg"))
    sizes = [len(p["entries"]) for p in pages]
    assert len(pages) >= 5000 // PAGE_MAX and max(sizes) <= PAGE_MAX
    ids = [e["id"] for p in pages for e in p["entries"]]
    assert ids == sorted(made, key=lambda i: i % 32768)  # each once, in index order
    assert [e["id"] for e in uipc.introspect.namespace()["msg"]] == ids
    # a smaller page on request; a larger one is capped
    first, nxt = uipc.introspect.page("msg", 0, 10)
    assert len(first["entries"]) == 10 and nxt == ids[10] % 32768
    assert len(uipc.introspect.page("msg", 0, 10**6)[0]["entries"]) == PAGE_MAX
    # a page starts at its cursor: the last one is the last queue alone
    last, nxt = uipc.introspect.page("msg", ids[-1] % 32768)
    assert [e["id"] for e in last["entries"]] == [ids[-1]] and nxt is None


def test_a_page_stops_at_its_item_budget(ns: str) -> None:
    """Sets with thousands of values do not ride together: one per page here."""
    nsems = PAGE_ITEMS + 1
    made = [uipc.semget(uipc.IPC_PRIVATE, nsems, 0o600) for _ in range(3)]
    pages = list(uipc.introspect.pages("sem"))
    assert [[e["id"] for e in p["entries"]] for p in pages] == [[s] for s in made]
    assert all(len(p["entries"][0]["values"]) == nsems for p in pages)
    for s in made:
        uipc.semctl(s, 0, uipc.IPC_RMID)


def test_shm_segments_show_state_and_attachers(ns: str) -> None:
    shm = uipc.shmget(0x5E6, 8192, uipc.IPC_CREAT | 0o640)
    gone = uipc.shmget(0x5E8, 4096, uipc.IPC_CREAT | 0o600)
    a1, a2, a3 = uipc.shmat(shm), uipc.shmat(shm), uipc.shmat(gone)
    uipc.shmctl(gone, uipc.IPC_RMID)  # attached: only marked SHM_DEST
    try:
        segs = {e["id"]: e for e in uipc.introspect.namespace()["shm"]}
        me = os.getpid()
        assert segs[shm]["key"] == 0x5E6 and segs[shm]["size"] == 8192
        assert (segs[shm]["cpid"], segs[shm]["lpid"], segs[shm]["nattch"]) == (me, me, 2)
        assert segs[shm]["perms"] & 0o777 == 0o640 and not segs[shm]["dest"]
        assert segs[shm]["attachers"] == [{"pid": me, "count": 2}]
        assert segs[gone]["dest"] and segs[gone]["key"] == 0 and segs[gone]["nattch"] == 1
        assert segs[gone]["attachers"] == [{"pid": me, "count": 1}]

        def child() -> dict[int, list[dict[str, int]]]:
            uipc.shmdt(uipc.shmat(shm))  # a mapping of its own, gone again
            a = uipc.shmat(shm)
            try:
                return {e["id"]: e["attachers"] for e in uipc.introspect.section("shm")}
            finally:
                uipc.shmdt(a)

        # the child inherited our three mappings at fork, and made one more
        seen = Child(child).result()
        kid = [x["pid"] for x in seen[shm] if x["pid"] != me]
        assert seen[shm] == sorted([{"pid": me, "count": 2}, {"pid": kid[0], "count": 3}],
                                   key=lambda x: x["pid"])
        wait_until(lambda: uipc.shmctl(shm, uipc.IPC_STAT).shm_nattch == 2, what="child's copies gone")
    finally:
        for a in (a1, a2, a3):
            uipc.shmdt(a)
        uipc.shmctl(shm, uipc.IPC_RMID)
    assert gone not in {e["id"] for e in uipc.introspect.section("shm")}


def test_namespace_listing_pages_by_name(ns: str) -> None:
    whole = uipc.introspect.namespaces()
    names, start = [], ""
    while start is not None:
        entries, start = uipc.introspect.namespaces_page(start, 1)
        assert len(entries) == 1
        names += [e["name"] for e in entries]
    # in name order, each once (namespaces of earlier tests may come and go meanwhile)
    assert names == sorted(set(names)) and ns in names
    [mine] = [n for n in whole if n["name"] == ns]
    assert mine["processes"] == [os.getpid()] and mine["owner"] == os.geteuid()


def test_bad_requests_are_refused(ns: str) -> None:
    op = P.OPS_BY_NAME["introspect"]
    for args, tail in [((3, 0, 0, 0), b""), ((2, 1, 0, 0), b""), ((0, 8, 0, 0), b""), ((0, 1, -1, 0), b""),
                       ((0, 1, 0, 0), b"x"), ((1, 0, 5, 0), b""), ((1, 2, 0, 0), b""),
                       ((1, 0, 0, 0), b"\xff")]:
        with pytest.raises(OSError) as info:
            call(op, args, tail)
        assert info.value.errno == errno.EINVAL, args
    with pytest.raises(ValueError):
        uipc.introspect.page("queues")
    with pytest.raises(TypeError):
        uipc.introspect.page("msg", "0")  # type: ignore[arg-type]


@needs_root
def test_another_user_sees_a_private_set_as_proc_sysvipc_shows_it(ns: str) -> None:
    s = uipc.semget(0x5E7, 2, uipc.IPC_CREAT | 0o600)
    shm = uipc.shmget(uipc.IPC_PRIVATE, 4096, 0o600)
    uipc.semctl(s, 1, uipc.SETVAL, 5)
    uipc.semop(s, [(1, -2, uipc.SEM_UNDO)])  # root's undo entry: semadj +2

    def sleeper() -> None:
        a = uipc.shmat(shm)
        uipc.semop(s, [(0, -1, 0), (1, -1, 0)])  # sleeps until released
        uipc.shmdt(a)

    kid = Child(sleeper)
    wait_until(lambda: uipc.semctl(s, 0, uipc.GETNCNT) == 1, what="root's sleeper")
    try:
        def look() -> dict[str, Any]:
            state = uipc.introspect.namespace()
            return {"sem": [x for x in state["sem"] if x["id"] == s],
                    "shm": [x for x in state["shm"] if x["id"] == shm],
                    "procs": {p["pid"]: p for p in state["process_details"]},
                    "me": os.getpid()}

        theirs = as_nobody(look)
        [st] = theirs["sem"]
        # listed with /proc/sysvipc/sem's columns ...
        assert (st["key"], st["perms"] & 0o777, st["nsems"], st["uid"], st["cuid"]) == \
            (0x5E7, 0o600, 2, 0, 0)
        assert st["otime"] > 0 and st["ctime"] > 0
        # ... and nothing semctl(GETALL/GETNCNT) would have refused
        assert not st["readable"] and st["values"] is None
        assert st["waiters"] == [] and st["undo"] == []
        [seg] = theirs["shm"]
        assert seg["nattch"] == 1 and seg["cpid"] == os.getpid() and seg["attachers"] == []
        # root's processes: pid, uid, tasks; their undo lists and attachments hidden
        mine = theirs["procs"][os.getpid()]
        assert mine["uid"] == 0 and mine["undo"] is None and mine["shm_attachments"] is None
        assert theirs["procs"][kid.pid]["shm_attachments"] is None
        own = theirs["procs"][theirs["me"]]
        assert own["uid"] == NOBODY and own["undo"] == {} and own["shm_attachments"] == 0

        # the owner sees it all
        [full] = [x for x in uipc.introspect.namespace()["sem"] if x["id"] == s]
        assert full["readable"] and full["values"] == [0, 3]
        assert [(w["pid"], w["sops"]) for w in full["waiters"]] == [(kid.pid, [[0, -1, 0], [1, -1, 0]])]
        assert full["undo"] == [{"pid": os.getpid(), "semadj": [0, 2]}]
    finally:
        uipc.semop(s, [(0, 1, 0)])
        kid.result()
        uipc.semctl(s, 0, uipc.IPC_RMID)
        uipc.shmctl(shm, uipc.IPC_RMID)


@needs_root
def test_namespace_listing_shows_only_joinable_namespaces(ns: str) -> None:
    def listings() -> tuple[set[str], str, set[str]]:
        before = {n["name"] for n in uipc.introspect.namespaces()}
        own = uipc.unshare_namespace()
        return before, own, {n["name"] for n in uipc.introspect.namespaces()}

    before, own, after = as_nobody(listings)
    # where it lives (root's namespace) it sees; root's other namespaces it does not
    assert before == {ns}
    # its own namespace, and no longer the one it left
    assert after == {own}
    # root (CAP_SYS_ADMIN) sees the initial namespace and its own
    assert {"", ns} <= {n["name"] for n in uipc.introspect.namespaces()}


def test_counters_count_calls_and_objects_their_operations(ns: str) -> None:
    """What `uipc top` derives rates from: the daemon's syscall counter and
    each object's operations; a queue's messages summarised by type."""
    before = uipc.introspect.daemon()["calls"]
    q = uipc.msgget(uipc.IPC_PRIVATE, 0o600)
    for mtype in (3, 1, 3):
        uipc.msgsnd(q, mtype, b"xy")
    uipc.msgrcv(q, 10, 1)
    assert uipc.introspect.daemon()["calls"] >= before + 5
    (entry,) = uipc.introspect.namespace()["msg"]
    assert entry["ops"] == 4
    assert entry["types"] == [[3, 2, 4]]
    uipc.msgctl(q, uipc.IPC_RMID)
