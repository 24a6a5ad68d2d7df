"""rollback's image side against real peers: pulls from a real Registry v2
(Debian's docker-registry on loopback) when the previous image is gone, and the recreate
strategy keeping the container's anonymous volumes. Podman is the engine."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from docker.types import Mount

from remediations.rollback import create_body
from tests.peers.registry import RegistryPeer
from tests.remediation_world import World
from tests.remediations.conftest import App, close_actions, record_deploys
from tests.remediations.test_rollback import healed, world


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[RegistryPeer]:
    peer = RegistryPeer.start(tmp_path)
    try:
        yield peer
    finally:
        peer.stop()


def push(app: App, image_id: str, ref: str) -> None:
    """What a CI job does: tag the build and push it (plain HTTP to the loopback registry)."""
    for args in (("tag", image_id, ref), ("push", "--tls-verify=false", ref)):
        result = app.podman.podman(*args, timeout=120)
        assert result.returncode == 0, result.stderr


def pull(app: App, ref: str) -> str:
    """What a deploy (Watchtower) does: pull the reference; the image ID it got."""
    app.podman.client().api.pull(ref)
    return str(app.podman.image(ref)["Id"])


def rolled_back(tmp: Path, app: App, deploy: Callable[[str], None]) -> World:
    """v1 deployed from the registry and recorded, then v2 (`deploy(tag)` runs one),
    v1's image removed as Watchtower's --cleanup does, then the bad deploy's outage."""
    w = world(tmp, app, extra="    registry_pull: true\n")

    async def go() -> World:
        try:
            deploy("v1")
            app.run_watchtower()
            await record_deploys(w, app.name)
            app.podman.remove(app.short)
            deploy("v2")
            await record_deploys(w, app.name)
            app.remove_image(app.good)
            await healed(app)(w)
        finally:
            await close_actions(w)
        return w

    return asyncio.run(go())


def test_a_previous_image_pulled_from_a_registry_comes_back_by_digest(
        tmp_path: Path, app: App, registry: RegistryPeer) -> None:
    name = app.short
    for image, tag in ((app.good, "v1"), (app.bad, "v2")):
        push(app, image, f"{registry.host}/{name}:{tag}")
    app.remove_image(app.good)  # the host only has what it pulls
    app.remove_image(app.bad)
    v1_digest = f"{registry.host}/{name}@{registry.manifest_digest(name, 'v1')}"

    def deploy(tag: str) -> None:
        assert pull(app, f"{registry.host}/{name}:{tag}") == (app.good if tag == "v1"
                                                               else app.bad)
        app.run(image=f"{registry.host}/{name}:{tag}")

    w = rolled_back(tmp_path, app, deploy)
    assert w.decisions() == ["acted", "succeeded"]
    assert app.image() == app.good and app.healthy()
    assert v1_digest in app.podman.image(app.good)["RepoDigests"]
    assert json.loads(w.ledger.entries()[0]["detail"])["pull"][0] == v1_digest


def test_an_image_built_and_pushed_on_the_host_comes_back_by_its_tag_checked_by_id(
        tmp_path: Path, app: App, registry: RegistryPeer) -> None:
    """Podman records a locally built image's own manifest digest, which the registry
    (given a recompressed manifest on push) does not know: that pull fails, and the
    recorded tag brings back the very image ID instead."""
    name = app.short

    def deploy(tag: str) -> None:
        ref = f"{registry.host}/{name}:{tag}"
        push(app, app.good if tag == "v1" else app.bad, ref)
        app.run(image=ref)

    w = rolled_back(tmp_path, app, deploy)
    recorded = json.loads(w.ledger.entries()[0]["detail"])["pull"]
    served = registry.manifest_digest(name, "v1")
    assert not any(ref.endswith(served) for ref in recorded[:-1])  # the premise
    assert recorded[-1] == f"{registry.host}/{name}:v1"
    assert w.decisions() == ["acted", "succeeded"]
    assert app.image() == app.good and app.healthy()


# -- anonymous volumes --------------------------------------------------------------------------
def volume_of(app: App) -> str:
    [mount] = [m for m in app.podman.attrs(app.short)["Mounts"] if m["Destination"] == "/data"]
    return str(mount["Name"])


def test_recreate_keeps_the_containers_anonymous_volume_and_its_data(
        tmp_path: Path, app: App) -> None:
    anonymous = [Mount("/data", None, type="volume")]  # --mount type=volume,dst=/data
    w = world(tmp_path, app)
    volumes = []

    async def go() -> None:
        try:
            app.run(mounts=anonymous)
            app.run_watchtower()
            await record_deploys(w, app.name)
            app.podman.client().images.get(app.bad).tag(app.repo, "latest")
            app.podman.remove(app.short)
            app.run(mounts=anonymous)
            await record_deploys(w, app.name)
            exec_in(app, "sh", "-c", "echo uploads > /data/kept")
            volumes.append(volume_of(app))
            await healed(app)(w)
        finally:
            await close_actions(w)

    asyncio.run(go())
    assert w.decisions() == ["acted", "succeeded"]
    assert exec_in(app, "cat", "/data/kept") == "uploads\n"
    assert volume_of(app) == volumes[0]


def exec_in(app: App, *argv: str) -> str:
    api = app.podman.client().api
    run = api.exec_create(app.name, list(argv))
    return bytes(api.exec_start(run["Id"])).decode()


# The shape Docker Engine (24) reports for `docker run -v /data` (trimmed): the volume only
# in Mounts and Config.Volumes, nothing in HostConfig. Podman lists it in Binds instead,
# so only this recorded shape shows what a recreate on Docker would lose.
DOCKER_ANONYMOUS = {
    "Id": "4f1c0a7d2b9e" + "0" * 52,
    "Config": {"Image": "app:v2", "Volumes": {"/data": {}, "/cache": {}}, "Hostname": "web"},
    "HostConfig": {"Binds": ["/srv/conf:/etc/app:ro"], "NetworkMode": "default",
                   "Mounts": [{"Type": "volume", "Target": "/cache"}]},
    "Mounts": [
        {"Type": "bind", "Source": "/srv/conf", "Destination": "/etc/app", "RW": False},
        {"Type": "volume", "Name": "a1" * 32, "Destination": "/data", "RW": True},
        {"Type": "volume", "Name": "b2" * 32, "Destination": "/cache", "RW": False},
    ],
}


def test_the_create_body_mounts_dockers_anonymous_volumes_by_name() -> None:
    body = create_body(json.loads(json.dumps(DOCKER_ANONYMOUS)), "sha256:v1")
    assert body["HostConfig"]["Binds"] == ["/srv/conf:/etc/app:ro", f"{'a1' * 32}:/data:rw",
                                           f"{'b2' * 32}:/cache:ro"]
    assert body["HostConfig"]["Mounts"] == []
    assert body["Volumes"] is None
