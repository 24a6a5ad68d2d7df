"""Fixtures of the operations tests: the daemon as a real process, a real redis-server."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.peers.redis_server import RedisServer
from tests.support import Process, daemon_env, free_port, port_open, wait_for

HERE = Path(__file__).resolve().parent
REDIS_PASSWORD = "lease-pw-7f3a9c"  # a test secret: asserted absent from every output


class Daemon:
    """`runbook-watchdog run` (or the stall launcher) in its own process on a free port."""

    def __init__(self, tmp: Path, probes: dict[str, Any], name: str = "daemon",
                 settings: dict[str, Any] | None = None, stall_launcher: bool = False) -> None:
        self.port = free_port()
        self.dir = tmp / name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.config = self.dir / "watchdog.yaml"
        self.write_config(probes, settings or {})
        exe = [sys.executable, str(HERE / "stall_daemon.py"), str(self.config)] \
            if stall_launcher else \
            [str(Path(sys.executable).parent / "runbook-watchdog"), "run", "--config",
             str(self.config)]
        self.argv = exe
        self.process: Process | None = None

    def write_config(self, probes: dict[str, Any], settings: dict[str, Any]) -> None:
        doc = {"watchdog": {"listen": f"127.0.0.1:{self.port}",
                            "state_dir": str(self.dir / "state"), "spread": "0s",
                            **settings},
               "probes": probes}
        self.config.write_text(yaml.safe_dump(doc))

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def start(self, **env: str) -> Daemon:
        self.process = Process(self.argv, self.dir / "daemon.log", env=daemon_env(**env)).start()
        wait_for(lambda: port_open(self.port) or self._died(), what="daemon listener")
        assert not self._died(), self.output()
        return self

    def _died(self) -> bool:
        return self.process is not None and self.process.proc is not None and \
            self.process.proc.poll() is not None

    def status(self) -> dict[str, Any]:
        response = httpx.get(self.url("/api/status"), timeout=5)
        response.raise_for_status()
        data: dict[str, Any] = response.json()
        return data

    def output(self) -> str:
        return self.process.output() if self.process is not None else ""

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()


@pytest.fixture
def daemons(tmp_path: Path) -> Iterator[list[Daemon]]:
    """Collects daemons a test starts and stops them all at the end."""
    started: list[Daemon] = []
    yield started
    for daemon in started:
        daemon.stop()


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
