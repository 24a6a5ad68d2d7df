"""Peers for the sentry and mail_dns tests: the Sentry API stand-in and a real dnsmasq."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.peers.dns_peer import DnsPeer
from tests.support import PEERS, Process, free_port, port_open, wait_for

TOKEN = "sntrys_s3cr3t-T0KEN-for-the-stand-in"  # a test token: must never show in any output


def issues(n: int, age: float = 60, prefix: str = "BACKEND") -> list[dict[str, Any]]:
    """`n` unresolved issues for the stand-in, `age` seconds old."""
    return [{"shortId": f"{prefix}-{i}", "title": f"TypeError: thing {i} is undefined",
             "age": age, "count": i * 10} for i in range(1, n + 1)]


class SentryStandIn:
    """tests/peers/sentry_api.py in its own process: a stand-in, Sentry cannot run here."""

    def __init__(self, tmp: Path) -> None:
        self.port = free_port()
        env = {**os.environ, "SENTRY_STANDIN_TOKEN": TOKEN}
        self.process = Process([sys.executable, str(PEERS / "sentry_api.py"), str(self.port)],
                               tmp / f"sentry-standin-{self.port}.log", env=env)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> SentryStandIn:
        self.process.start()
        wait_for(lambda: port_open(self.port), what=f"sentry stand-in on {self.port}")
        return self

    def set(self, **state: Any) -> None:
        httpx.post(f"{self.url}/_control", json=state).raise_for_status()

    def requests(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = httpx.get(f"{self.url}/_requests").json()
        return result

    def params(self, **extra: Any) -> dict[str, Any]:
        """Probe keys pointing at this stand-in."""
        return {"url": self.url, "token": TOKEN, "organization": "acme", "project": "backend",
                **extra}


@pytest.fixture
def sentry(tmp_path: Path) -> Iterator[SentryStandIn]:
    peer = SentryStandIn(tmp_path).start()
    try:
        yield peer
    finally:
        peer.process.stop()


@pytest.fixture(scope="session")
def dns_peer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DnsPeer]:
    peer = DnsPeer(tmp_path_factory.mktemp("dns")).start()
    try:
        yield peer
    finally:
        peer.stop()
