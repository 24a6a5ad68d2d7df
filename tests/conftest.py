from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.peers.podman import PodmanPeer, podman_peer
from tests.support import HttpPeer
from watchdog.secrets import SCRUBBER


@pytest.fixture
def http_peer(tmp_path: Path) -> Iterator[HttpPeer]:
    """A real HTTP server in its own process on loopback."""
    peer = HttpPeer(tmp_path).start()
    try:
        yield peer
    finally:
        if peer.process is not None:
            peer.process.stop()


@pytest.fixture(autouse=True)
def _fresh_scrubber() -> Iterator[None]:
    """Secrets registered by one test must not mask another test's output."""
    SCRUBBER.clear()
    yield
    SCRUBBER.clear()


@pytest.fixture(scope="session")
def podman() -> Iterator[PodmanPeer]:
    """Podman's Docker API with runc, and a busybox image (localhost/app:v1, :v2, :latest).

    Shared by the host-probe and reliability tests: one service per session.
    """
    with podman_peer() as peer:
        yield peer
