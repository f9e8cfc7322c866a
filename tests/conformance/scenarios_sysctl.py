"""IPC sysctl write scenarios: every write of tests/kernel/test_sysctl_parse.py's
INPUTS to every IPC sysctl (kernel.msg*, sem, shm*, *_next_id, fs.mqueue.*),
on the kernel with one write(2) to /proc/sys and on uipc with
``uipc.sysctl.set`` through the daemon: the errno (or success) and the value
read back must be the same.

One scenario per sysctl; before each write the sysctl is set back to a
baseline (its default; 0 for the *_next_id ones, whose default -1 cannot be
written), so that what one write leaves behind (kernel.sem keeps the numbers
it parsed before a bad one) is seen by itself.  Inputs are str, written as
UTF-8 on both sides (the client sends UTF-8); bytes that are not UTF-8 (a
lone 0xA0) are compared in the kernel unit test, through the core's op.

The kernel's answers, printed: ``python -m tests.conformance.scenarios_sysctl
--kernel-only [-k SUBSTRING]`` (root).
"""
from __future__ import annotations

import os
import sys
from typing import Callable

import uipc
from tests.conformance.harness import Recorder, Scenario
from tests.kernel.test_sysctl_parse import INPUTS

#: sysctl -> the value written before each input (its default, where writable)
BASELINES = {
    "kernel.msgmax": "8192", "kernel.msgmnb": "16384", "kernel.msgmni": "32000",
    "kernel.sem": "32000 1024000000 500 32000", "kernel.shmmax": "18446744073692774399",
    "kernel.shmall": "18446744073692774399", "kernel.shmmni": "4096",
    "kernel.shm_rmid_forced": "0", "kernel.msg_next_id": "0", "kernel.sem_next_id": "0",
    "kernel.shm_next_id": "0", "fs.mqueue.queues_max": "256", "fs.mqueue.msg_max": "10",
    "fs.mqueue.msgsize_max": "8192", "fs.mqueue.msg_default": "10",
    "fs.mqueue.msgsize_default": "8192",
}


def _texts() -> list[str]:
    """INPUTS that are UTF-8 (what the client can send), as str."""
    out = []
    for data in INPUTS:
        try:
            out.append(data.decode("utf-8"))
        except UnicodeDecodeError:
            continue
    return out


TEXTS = _texts()


def _kernel_write(name: str, text: str) -> str:
    """One write(2) of ``text`` to the sysctl's /proc/sys file at position 0."""
    fd = os.open("/proc/sys/" + name.replace(".", "/"), os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)
    return "ok"


def _kernel_read(name: str) -> str:
    with open("/proc/sys/" + name.replace(".", "/")) as f:
        return f.read().strip()


def _uipc_write(name: str, text: str) -> str:
    uipc.sysctl.set(name, text)
    return "ok"


def writes(name: str) -> Callable[[Recorder], None]:
    """The scenario of sysctl ``name``: each text written after the baseline."""
    def run(rec: Recorder) -> None:
        write: Callable[[str, str], str] = _uipc_write if rec.api is uipc else _kernel_write
        read: Callable[[str], str] = uipc.sysctl.get if rec.api is uipc else _kernel_read
        rec.note("default", read(name))
        for text in TEXTS:
            write(name, BASELINES[name])
            outcome = rec.outcome(lambda: write(name, text))
            label = f"{name}={text[:24]!r}" + (f"...({len(text)})" if len(text) > 24 else "")
            rec.note(label, (outcome, read(name)))
    return run


SCENARIOS = [Scenario(f"sysctl writes {name}", "sysctl", writes(name)) for name in BASELINES]


if __name__ == "__main__":
    from tests.conformance.scenarios_mq import kernel_only
    sys.exit(kernel_only(SCENARIOS))
