"""The `uipc` command's own options."""
from __future__ import annotations

import subprocess
import sys
import tomllib

from tests.conftest import ROOT


def test_version_is_the_packages() -> None:
    out = subprocess.run([sys.executable, "-m", "uipc.cli.main", "--version"], cwd=ROOT,
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert out.stdout == f"uipc {version}\n"


def test_quotas_are_listed_by_uipc_sysctl(ns: str) -> None:
    from uipc.cli import sysctl
    import contextlib
    import io
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert sysctl.main(["-a"]) == 0
    listed = dict(line.split(" = ", 1) for line in buf.getvalue().splitlines())
    for name in ("objects", "segments", "sems", "msg_bytes", "namespaces", "connections",
                 "reply_bytes", "input_bytes"):
        assert int(listed[f"uipc.quota.{name}"]) > 0


def test_the_demo_runs_and_says_ok(ns: str) -> None:
    """The README's first command: `uipc demo` (SysV, then POSIX), against the
    test run's daemon, in this test's namespace."""
    import os
    from uipc.client.connection import current_socket
    env = dict(os.environ, UIPC_SOCKET=str(current_socket()), UIPC_NAMESPACE=ns)
    out = subprocess.run([sys.executable, "-m", "uipc.cli.main", "demo"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "demo ok" in out.stdout and "posix demo ok" in out.stdout
    assert "urgent (9), normal (5), low (1)" in out.stdout
