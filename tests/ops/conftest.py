"""Fixtures of the operations tests: the daemon as a real process, a real redis-server."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.peers.redis_server import RedisServer
from tests.support import Daemon, free_port

HERE = Path(__file__).resolve().parent
REDIS_PASSWORD = "lease-pw-7f3a9c"  # a test secret: asserted absent from every output


def stall_daemon(directory: Path, probes: dict[str, Any]) -> Daemon:
    """The real daemon run by the stall launcher (tests/ops/stall_daemon.py), which adds a
    `stall` probe type that blocks the event loop."""
    return Daemon.from_config(directory, {"probes": probes},
                              command=(sys.executable, str(HERE / "stall_daemon.py")))


def refused_probe(interval: str = "500ms", severity: str = "sev2") -> dict[str, Any]:
    """An http probe against a port nothing listens on: fails at once, opens an incident."""
    return {"type": "http", "url": f"http://127.0.0.1:{free_port()}/api/health",
            "interval": interval, "timeout": "300ms", "fail_after": 1, "severity": severity,
            "runbook": "3.1", "escalate": False}  # a fixed severity, whatever the rate


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path, password=REDIS_PASSWORD).start()
    try:
        yield server
    finally:
        server.process.stop()


def chromium() -> str:
    found = shutil.which("chromium")
    assert found, "chromium is missing: run scripts/install-test-deps.sh"
    return found


def tool(name: str) -> str:
    found = shutil.which(name) or (f"/usr/bin/{name}" if os.path.exists(f"/usr/bin/{name}")
                                   else None)
    assert found, f"{name} is missing: run scripts/install-test-deps.sh"
    return found
