"""The deploy probe against Podman: a `:latest` retag plus recreate, as Watchtower does it."""

from __future__ import annotations

from pathlib import Path

import pytest

from probes.deploy import DeployProbe, deploy_history, previous_deploy
from tests.peers.podman import PodmanPeer
from tests.support import run_probe
from watchdog.common.state import StateStore
from watchdog.pipeline.observation import Observation, Status


def check(podman: PodmanPeer, store: Path, *names: str, **params: object) -> Observation:
    return run_probe(DeployProbe, {"containers": [podman.name(n) for n in names], **params},
                     timeout=5, store_path=str(store), settings={"docker_url": podman.url},
                     name="deploy")


@pytest.fixture
def images(podman: PodmanPeer) -> tuple[str, str]:
    """Two images of a repository of this test's own: v1 (as :latest) and v2."""
    old = podman.import_image(["localhost/deployed:v1", "localhost/deployed:latest"],
                              {"etc/version": "1\n"})
    new = podman.import_image(["localhost/deployed:v2"], {"etc/version": "2\n"})
    return old, new


def watchtower_deploy(podman: PodmanPeer, short: str, new_id: str) -> None:
    """Move :latest to the new image and recreate the container from :latest."""
    podman.client().images.get(new_id).tag("localhost/deployed", "latest")
    podman.remove(short)
    podman.run(short, ["sleep", "600"], image="localhost/deployed:latest")


def test_a_first_sighting_is_recorded_but_is_no_deploy(
        podman: PodmanPeer, tmp_path: Path, images: tuple[str, str]) -> None:
    podman.run("backend1", ["sleep", "600"], image="localhost/deployed:latest")
    try:
        obs = check(podman, tmp_path / "s.db", "backend1")
        assert (obs.status, obs.cause) == (Status.OK, "ok")
        history = deploy_history(StateStore(tmp_path / "s.db"), podman.name("backend1"))
        assert [r.image_id for r in history] == [images[0]]
        assert history[0].image_ref == "localhost/deployed:latest"
        assert history[0].repo_digests and history[0].repo_digests[0].startswith(
            "localhost/deployed@sha256:")
    finally:
        podman.remove("backend1")


def test_a_new_image_behind_the_container_is_a_deploy_event_that_survives_a_restart(
        podman: PodmanPeer, tmp_path: Path, images: tuple[str, str]) -> None:
    old_id, new_id = images
    store = tmp_path / "state.db"
    podman.run("backend", ["sleep", "600"], image="localhost/deployed:latest")
    try:
        assert check(podman, store, "backend").cause == "ok"
        old_digests = podman.image(old_id)["RepoDigests"]
        watchtower_deploy(podman, "backend", new_id)
        # Watchtower's cleanup: the old image is removed by ID, every tag with it.
        podman.client().images.remove(old_id, force=True)

        # A fresh probe on the same state file plays a restart of the watchdog.
        obs = check(podman, store, "backend")
        # An event, not an incident (issue 19 item 3): the result stays OK.
        assert (obs.status, obs.cause) == (Status.OK, "ok")
        assert obs.summary.startswith(f"recent deploy: {podman.name('backend')} now runs")
        [event] = obs.details["events"]
        assert (event["kind"], event["target"], event["window"]) == \
            ("deploy", podman.name("backend"), 1800.0)
        change = obs.details["deploys"][0]
        assert event["at"] == change["deployed_at"]
        assert (change["old_image_id"], change["new_image_id"]) == (old_id, new_id)
        assert change["old_repo_digests"] == old_digests
        assert obs.hint is not None and "roll back" in obs.hint

        again = check(podman, store, "backend")  # the event is reported once
        assert again.details["events"] == [] and again.details["deploys"]
        target = previous_deploy(StateStore(store), podman.name("backend"))
        assert target is not None
        assert (target.image_id, list(target.repo_digests)) == (old_id, old_digests)
    finally:
        podman.remove("backend")


def test_a_deploy_older_than_the_window_is_ok(
        podman: PodmanPeer, tmp_path: Path, images: tuple[str, str]) -> None:
    store = tmp_path / "state.db"
    podman.run("backend2", ["sleep", "600"], image="localhost/deployed:v1")
    try:
        check(podman, store, "backend2")
        watchtower_deploy(podman, "backend2", images[1])
        obs = check(podman, store, "backend2", window="1ms")
        assert (obs.status, obs.cause) == (Status.OK, "ok")
        assert len(deploy_history(StateStore(store), podman.name("backend2"))) == 2
    finally:
        podman.remove("backend2")


def test_the_history_is_bounded(podman: PodmanPeer, tmp_path: Path) -> None:
    store = tmp_path / "state.db"
    ids = []
    try:
        for version in range(4):
            ids.append(podman.import_image([f"localhost/bounded:v{version}"],
                                           {"etc/version": f"{version}\n"}))
            podman.remove("bounded")
            podman.run("bounded", ["sleep", "600"], image=f"localhost/bounded:v{version}")
            check(podman, store, "bounded", keep=2)
        history = deploy_history(StateStore(store), podman.name("bounded"))
        assert [r.image_id for r in history] == ids[2:]
    finally:
        podman.remove("bounded")
