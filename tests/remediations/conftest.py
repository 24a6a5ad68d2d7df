"""Fixtures for the Docker actions: an app with a good and a broken image on the session's
real Podman engine (`podman`, tests/conftest.py), and a World whose manual clock reads the
real wall-clock time, so the engine's timestamps (creation, StartedAt) line up with it."""

from __future__ import annotations

import asyncio
import functools
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from probes.deploy import DeployProbe
from tests.peers.podman import PodmanPeer
from tests.remediation_world import World
from tests.support import free_port, wait_for
from watchdog.common.clock import ManualClock
from watchdog.pipeline.observation import Observation
from watchdog.pipeline.probe import ProbeContext

# The app reads its port from the environment, so a recreated container keeps serving on it.
GOOD = "exec httpd -f -p 127.0.0.1:$PORT -h /www\n"
BROKEN = "exec httpd -f -p 127.0.0.1:$PORT -h /bin\n"  # serves, but /api/health is a 404


@dataclass
class App:
    """One test's application: images localhost/<repo>:v1 (good, also :latest) and :v2."""

    podman: PodmanPeer
    repo: str
    good: str  # image IDs
    bad: str
    port: int
    short: str  # container name without the session prefix

    @property
    def name(self) -> str:
        return self.podman.name(self.short)

    @property
    def watchtower(self) -> str:
        return self.podman.name(f"{self.short}-watchtower")

    @property
    def health_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/health"

    def run(self, tag: str = "latest", image: str | None = None, **extra: Any) -> None:
        """Run the app from `repo:tag` (or the reference `image`); `extra`: more of
        containers.run's keywords (mounts=...)."""
        self.podman.run(self.short, ["sh", "/app/start.sh"], image=image or f"{self.repo}:{tag}",
                        environment={"PORT": str(self.port), "APP_MODE": "production"},
                        labels={"app": self.short},
                        restart_policy={"Name": "on-failure", "MaximumRetryCount": 2}, **extra)

    def run_watchtower(self) -> None:
        self.podman.run(f"{self.short}-watchtower", ["sleep", "3600"])

    def deploy_broken(self) -> None:
        """What Watchtower does: `:latest` now names the new image; the container is
        recreated from it."""
        self.podman.client().images.get(self.bad).tag(self.repo, "latest")
        self.podman.remove(self.short)
        self.run()

    def image(self) -> str:
        return str(self.podman.attrs(self.short)["Image"])

    def healthy(self) -> bool:
        try:
            return httpx.get(self.health_url, timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def running(self, name: str) -> bool:
        return bool(self.podman.client().api.inspect_container(name)["State"]["Running"])

    def remove_image(self, image_id: str) -> None:
        """As Watchtower's --cleanup does: by ID, with force (every tag goes)."""
        self.podman.podman("rmi", "-f", image_id)

    def compose_env(self) -> dict[str, str]:
        return {**self.podman.env(), "DOCKER_HOST": self.podman.url}

    def compose(self, file: Path, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["docker-compose", "-f", str(file), *args], env=self.compose_env(),
                              capture_output=True, text=True, timeout=180, check=False)

    def cleanup(self) -> None:
        client = self.podman.client()
        for container in client.containers.list(all=True):
            if container.name.startswith(self.name):
                wait_for(functools.partial(self.podman.removed, container.id), what="removed")


def make_app(podman: PodmanPeer) -> App:
    """A new app (its own repo, images and port) on `podman`; also used by bench/b3."""
    short = f"app{uuid.uuid4().hex[:6]}"
    repo = f"localhost/{short}"
    good = podman.import_image([f"{repo}:v1", f"{repo}:latest"],
                               files={"app/start.sh": GOOD, "app/release": f"{short} v1\n"})
    bad = podman.import_image([f"{repo}:v2"],
                              files={"app/start.sh": BROKEN, "app/release": f"{short} v2\n"})
    return App(podman, repo, good, bad, free_port(), short)


@pytest.fixture
def app(podman: PodmanPeer) -> Iterator[App]:
    peer = make_app(podman)
    try:
        yield peer
    finally:
        peer.cleanup()


def real_time_clock() -> ManualClock:
    """A manual clock whose wall time starts a minute after the real time (so containers
    the test creates are never younger than its "now")."""
    return ManualClock(wall_offset=time.time() - 1000.0 + 60.0)


async def record_deploys(world: World, *containers: str) -> None:
    """One run of the real deploy probe into the world's store (the rollback's history)."""
    probe = DeployProbe(DeployProbe.Params(containers=list(containers)),
                        ProbeContext("recent-deploy", 10.0, world.resources))
    try:
        await probe.check()
    finally:
        await probe.aclose()


async def close_actions(world: World) -> None:
    await world.remediator.aclose()


def act(world: World, obs: Observation, *probes: str, close: bool = False) -> World:
    """In a fresh event loop: `obs` from each of `probes` as if it had just run, and every
    decision run to its end; `close`: then close the actions (their Docker clients)."""
    async def go() -> World:
        try:
            for probe in probes:
                await world.observe(probe, obs, then=0)
            await world.finish()
        finally:
            if close:
                await close_actions(world)
        return world

    return asyncio.run(go())


def journal(world: World) -> list[dict[str, Any]]:
    return world.ledger.entries()
