from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.peers.podman import PodmanPeer, podman_peer
from tests.peers.redis_server import PASSWORD as REDIS_PASSWORD
from tests.peers.redis_server import RedisServer
from tests.support import Daemon, HttpPeer
from watchdog.common.secrets import SCRUBBER

TESTS = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test in a subdirectory of tests/ talks to real peers (processes, servers,
    containers) that its directory's fixtures start: it is `integration`, so that
    `pytest -m "not integration"` runs the fast unit tests only. A top-level module that
    starts real peers says so itself (`pytestmark = pytest.mark.integration`)."""
    for item in items:
        if item.path.parent != TESTS and TESTS in item.path.parents:
            item.add_marker(pytest.mark.integration)


@pytest.fixture
def http_peer(tmp_path: Path) -> Iterator[HttpPeer]:
    """A real HTTP server in its own process on loopback."""
    peer = HttpPeer(tmp_path).start()
    try:
        yield peer
    finally:
        if peer.process is not None:
            peer.process.stop()


@pytest.fixture
def daemons() -> Iterator[list[Daemon]]:
    """Collects the daemons a test starts and stops them all at the end."""
    started: list[Daemon] = []
    yield started
    for daemon in started:
        daemon.stop()


@pytest.fixture
def full_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """redis-server with maxmemory 2 MB and noeviction, filled until it rejects writes."""
    server = RedisServer(tmp_path, "--maxmemory", "2mb", "--maxmemory-policy", "noeviction",
                         password=REDIS_PASSWORD).start()
    server.fill_until_oom()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def _fresh_scrubber() -> Iterator[None]:
    """Secrets registered by one test must not mask another test's output."""
    SCRUBBER.clear()
    yield
    SCRUBBER.clear()


@pytest.fixture(scope="session")
def podman() -> Iterator[PodmanPeer]:
    """Podman's Docker API with runc, and a busybox image (localhost/app:v1, :v2, :latest);
    shared by every test directory that needs a real engine, started once per session."""
    with podman_peer() as peer:
        yield peer
