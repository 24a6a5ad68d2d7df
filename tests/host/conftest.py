"""Fixtures for the host probes: a real Docker Engine API (Podman) for the session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.peers.nginx import NginxPeer
from tests.peers.podman import PodmanPeer, podman_peer


@pytest.fixture(scope="session")
def podman() -> Iterator[PodmanPeer]:
    """Podman's Docker API with runc, and a busybox image (localhost/app:v1, :v2, :latest)."""
    with podman_peer() as peer:
        yield peer


@pytest.fixture
def docker_settings(podman: PodmanPeer) -> dict[str, object]:
    """`watchdog:` settings pointing the probes at the test engine."""
    return {"docker_url": podman.url}


@pytest.fixture
def nginx(tmp_path: Path) -> Iterator[NginxPeer]:
    """A real nginx on loopback whose socket.io location has the upgrade headers."""
    peer = NginxPeer(tmp_path).start()
    try:
        yield peer
    finally:
        peer.stop()
