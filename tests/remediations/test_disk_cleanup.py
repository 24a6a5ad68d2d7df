"""disk_cleanup against a Podman engine of its own (it prunes engine-wide, so it must not
see the session engine other tests use) and real log files."""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from probes.deploy import NS, DeployRecord
from remediations.disk_cleanup import DiskCleanup
from tests.peers.podman import PodmanPeer, podman_peer
from tests.remediation_world import World, world_settings
from tests.remediations.conftest import act, real_time_clock
from tests.support import wait_for
from watchdog.pipeline.observation import Observation, Status

CONFIG = """\
probes:
  docker-disk: {{type: http, url: "http://127.0.0.1:1/", fail_after: 1}}
remediations:
  disk-cleanup:
    type: disk_cleanup
    mode: {mode}
    on: [docker-disk]
    after: 1
    start_period: 0s
    verify: {{within: 10s}}
    truncate_logs_over: 10KB
    log_files: ["{tmp}/logs/*.log"]
    keep_containers: [{keep}]
    backup_lock: {tmp}/backup.lock
"""
FULL = Observation(Status.FAILED, "disk_full", "/var/lib/docker 96% used")


@pytest.fixture(scope="module")
def engine() -> Iterator[PodmanPeer]:
    with podman_peer() as peer:
        yield peer


def exited(peer: PodmanPeer, short: str) -> bool:
    return bool(peer.attrs(short)["State"]["Status"] == "exited")


class Host:
    """Stopped containers, dangling images and big logs, some of them protected."""

    def __init__(self, tmp: Path, peer: PodmanPeer) -> None:
        self.tmp, self.peer = tmp, peer
        for short, cmd in (("junk", "exit 1"), ("watched", "exit 2"), ("watchtower", "exit 0")):
            peer.run(short, ["sh", "-c", cmd])
            wait_for(functools.partial(exited, peer, short))
        peer.run("chatty", ["sh", "-c", "seq 1 5000; sleep 3600"])
        self.container_log = str(peer.attrs("chatty")["LogPath"])
        wait_for(lambda: Path(self.container_log).stat().st_size > 10_000, what="log written")
        self.rollback_image = peer.import_image([], files={"app/release": "previous\n"})
        self.junk_image = peer.import_image([], files={"app/release": "junk\n"})
        (tmp / "logs").mkdir()
        (tmp / "logs" / "big.log").write_text("x" * 50_000)
        (tmp / "logs" / "small.log").write_text("y" * 100)

    def world(self, mode: str = "auto") -> World:
        text = world_settings(self.tmp, self.peer.url) + CONFIG.format(
            tmp=self.tmp, mode=mode, keep=self.peer.name("watchtower"))
        w = World(self.tmp, text, {"disk_cleanup": DiskCleanup}, clock=real_time_clock())
        record = DeployRecord(self.peer.name("watched"), "localhost/app:latest",
                              self.rollback_image, (), "x", w.clock.time())
        w.store.put(NS, self.peer.name("watched"), [record.to_json()], w.clock.time())
        return w

    def containers(self) -> set[str]:
        return {c.name for c in self.peer.client().containers.list(all=True)}

    def has_image(self, image_id: str) -> bool:
        return any(i.id == image_id for i in self.peer.client().images.list(all=True))


@pytest.fixture
def host(tmp_path: Path, engine: PodmanPeer) -> Iterator[Host]:
    made = Host(tmp_path, engine)
    try:
        yield made
    finally:
        engine.remove_containers()
        engine.podman("rmi", "-f", made.rollback_image, made.junk_image)


def run(w: World) -> World:
    return act(w, FULL, "docker-disk", close=True)


def test_cleanup_removes_junk_and_keeps_rollback_images_and_watched_containers(
        host: Host) -> None:
    w = run(host.world())
    assert w.decisions() == ["acted", "succeeded"]
    names = host.containers()
    assert host.peer.name("junk") not in names
    assert {host.peer.name("watched"), host.peer.name("watchtower"),
            host.peer.name("chatty")} <= names
    assert host.has_image(host.rollback_image)  # dangling, but a rollback target
    assert not host.has_image(host.junk_image)
    assert Path(host.container_log).stat().st_size == 0
    assert (host.tmp / "logs" / "big.log").stat().st_size == 0
    assert (host.tmp / "logs" / "small.log").stat().st_size == 100
    [row] = w.store.query("SELECT undo FROM remediation_actions")
    undo = json.loads(row["undo"])
    assert undo["build_cache"] == "not supported by this engine"  # Podman has no /build/prune
    assert undo["removed_containers"] == [host.peer.name("junk")]


def test_dry_run_lists_what_would_go_and_removes_nothing(host: Host) -> None:
    w = run(host.world(mode="dry-run"))
    assert w.decisions() == ["would_act"]
    assert w.ledger.entries()[0]["reason"] == (
        "would clean up 1 stopped containers, 1 dangling images, 2 log files over the limit "
        f"({(50_000 + Path(host.container_log).stat().st_size) / 1e6:.1f} MB), the build cache")
    assert host.peer.name("junk") in host.containers()
    assert host.has_image(host.junk_image)


def test_nothing_runs_while_a_backup_holds_its_lock(host: Host) -> None:
    (host.tmp / "backup.lock").write_text("4242")
    w = run(host.world())
    assert w.decisions() == ["refused"]
    assert "a backup holds" in w.ledger.entries()[0]["reason"]
    assert host.peer.name("junk") in host.containers()
    assert (host.tmp / "logs" / "big.log").stat().st_size == 50_000
