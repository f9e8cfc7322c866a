"""Real programs, unmodified, on uipc through the shim: fakeroot and stress-ng.

Neither knows uipc.  fakeroot's libfakeroot and its faked daemon talk over
a SysV message queue and semaphore; stress-ng's stressors hammer SysV and
POSIX IPC from forked workers and verify what they get back.  Under
``uipc run --preload --new-namespace`` they must work as on the kernel,
their objects must be uipc's (visible to ``uipc ipcs`` while they run, and
the daemon must have served their calls), and the machine's own IPC table
and /dev/shm must not change.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import threading
import uuid
from pathlib import Path

import pytest

from tests.conftest import DaemonProc
from tests.preload.conftest import RUN_TIMEOUT, _kernel_objects, shim_env, uipc_run_cmd


def _daemon_calls(daemon: DaemonProc) -> int:
    from uipc.client.introspect import daemon as counters
    return int(counters()["calls"])


@pytest.mark.skipif(not shutil.which("fakeroot") or not shutil.which("faked-sysv"),
                    reason="fakeroot (Debian package fakeroot) is not installed")
def test_fakeroot_chown_over_uipc(daemon: DaemonProc, shim_lib: Path, tmp_path: Path) -> None:
    """fakeroot's chown is remembered by faked over uipc's queue and semaphore."""
    name = f"fakeroot-{uuid.uuid4().hex[:8]}"
    ready, go = tmp_path / "ready", tmp_path / "go"
    os.mkfifo(ready)
    os.mkfifo(go)
    os.chmod(tmp_path, 0o777)
    script = (f"cd {tmp_path} && touch f && chown 123:456 f && stat -c %u:%g f && "
              f"echo ready > {ready} && read x < {go}")
    before = _kernel_objects()
    calls = _daemon_calls(daemon)
    proc = subprocess.Popen(uipc_run_cmd("--preload", "--new-namespace", "--name", name, "--",
                                         "fakeroot", "-s", str(tmp_path / "state"),
                                         "sh", "-c", script),
                            env=shim_env(daemon, shim_lib), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    timer = threading.Timer(RUN_TIMEOUT, proc.kill)
    timer.start()
    try:
        with open(ready) as f:  # fakeroot's command has chowned and stat'ed
            assert f.read().strip() == "ready"
        # while fakeroot runs: faked's queue and semaphore are uipc's
        ipcs = subprocess.run(uipc_run_cmd("--namespace", name, "--", "uipc", "ipcs", "-q", "-s"),
                              env=shim_env(daemon, shim_lib), capture_output=True, text=True,
                              timeout=RUN_TIMEOUT)
        during = _kernel_objects()
        with open(go, "w") as f:
            f.write("go\n")
        out, err = proc.communicate(timeout=RUN_TIMEOUT)
    finally:
        timer.cancel()
        proc.kill()
        proc.wait()
    assert proc.returncode == 0, err
    assert out.strip() == "123:456", (out, err)
    queues = [ln for ln in ipcs.stdout.splitlines() if re.match(r"0x[0-9a-f]{8} ", ln)]
    assert len(queues) >= 2, ipcs.stdout  # at least faked's message queue and semaphore set
    assert "Message Queues" in ipcs.stdout and "Semaphore Arrays" in ipcs.stdout
    assert during == before and _kernel_objects() == before, "fakeroot used the kernel's IPC"
    assert _daemon_calls(daemon) > calls + 4


#: stressor -> its bounded op count: enough to interleave workers, quick on uipc
STRESSORS = {
    "msg": 2000,
    "sem-sysv": 2000,
    "shm-sysv": 40,
    "mq": 2000,
    "shm": 10,
}


@pytest.mark.skipif(not shutil.which("stress-ng"), reason="stress-ng is not installed")
@pytest.mark.parametrize("stressor", list(STRESSORS))
def test_stress_ng_verifies(daemon: DaemonProc, shim_lib: Path, tmp_path: Path,
                            stressor: str) -> None:
    """stress-ng's stressor completes its bogo ops with --verify and no failure."""
    ops = STRESSORS[stressor]
    before = _kernel_objects()
    calls = _daemon_calls(daemon)
    p = subprocess.run(uipc_run_cmd("--preload", "--new-namespace", "--", "stress-ng",
                                    f"--{stressor}", "2", f"--{stressor}-ops", str(ops),
                                    "--verify", "--metrics-brief", "--timeout", "90",
                                    "--temp-path", str(tmp_path)),
                       env=shim_env(daemon, shim_lib), capture_output=True, text=True,
                       timeout=RUN_TIMEOUT * 2, cwd=tmp_path)
    log = p.stdout + p.stderr
    assert p.returncode == 0, log
    assert "successful run completed" in log, log
    assert not re.search(r"\bfail(ed|ure)?\b", log.replace("0 failed", "")), log
    row = re.search(rf"metrc: \[\d+\] {re.escape(stressor)}\s+(\d+)", log)
    assert row and int(row.group(1)) >= ops, log
    assert _kernel_objects() == before, "stress-ng used the kernel's IPC"
    assert _daemon_calls(daemon) > calls + ops, "the daemon did not serve stress-ng's calls"
