"""Fixtures for the host probes (the session's Podman engine, `podman`, is in tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.peers.hanging_socket import HangingSocket
from tests.peers.nginx import NginxPeer
from tests.peers.podman import PodmanPeer


@pytest.fixture
def docker_settings(podman: PodmanPeer) -> dict[str, object]:
    """`watchdog:` settings pointing the probes at the test engine."""
    return {"docker_url": podman.url}


@pytest.fixture
def hung(tmp_path: Path) -> Iterator[HangingSocket]:
    """A stand-in for a hung Docker engine: accepts every connection, never answers."""
    peer = HangingSocket(tmp_path / "docker.sock").start()
    try:
        yield peer
    finally:
        peer.stop()


@pytest.fixture
def nginx(tmp_path: Path) -> Iterator[NginxPeer]:
    """A real nginx on loopback whose socket.io location has the upgrade headers."""
    peer = NginxPeer(tmp_path).start()
    try:
        yield peer
    finally:
        peer.stop()
