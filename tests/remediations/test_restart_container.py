"""restart_container through the policy against the real Podman engine."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from remediations.restart_container import RestartContainer
from tests.peers.podman import PodmanPeer
from tests.remediation_world import World, world_settings
from tests.remediations.conftest import act, real_time_clock
from tests.support import wait_for
from watchdog.pipeline.observation import Observation, Status

CONFIG = """\
probes:
  mongo-container: {{type: http, url: "http://127.0.0.1:1/", fail_after: 1}}
remediations:
  restart-mongo:
    type: restart_container
    mode: auto
    on: [mongo-container]
    after: 1
    start_period: 0s
    verify: {{within: 30s}}
    container: {name}
"""
EXITED = Observation(Status.FAILED, "exited", "container exited")
# sh runs traps only between commands: a short sleep lets `docker stop` end it with 143.
TRAPS_TERM = ["sh", "-c", "trap 'exit 143' TERM; while true; do sleep 0.2; done"]


def world(tmp: Path, podman: PodmanPeer, short: str, extra: str = "") -> World:
    text = world_settings(tmp, podman.url) + CONFIG.format(name=podman.name(short)) + extra
    return World(tmp, text, {"restart_container": RestartContainer}, clock=real_time_clock())


def run(w: World) -> World:
    return act(w, EXITED, "mongo-container", close=True)


def exited(podman: PodmanPeer, short: str, command: list[str]) -> str:
    podman.run(short, command)
    wait_for(lambda: podman.attrs(short)["State"]["Status"] == "exited", what="exited")
    return str(podman.attrs(short)["State"]["StartedAt"])


@contextlib.contextmanager
def stopped_by_an_operator(podman: PodmanPeer, short: str) -> Iterator[None]:
    """A container that exits 143 on SIGTERM, stopped as `docker stop` does; removed after."""
    podman.run(short, TRAPS_TERM)
    try:
        podman.client().api.stop(podman.name(short), timeout=10)
        yield
    finally:
        podman.remove(short)


def test_a_crashed_container_is_restarted_and_verified_by_its_start_time(
        tmp_path: Path, podman: PodmanPeer) -> None:
    before = exited(podman, "crashed", ["sh", "-c", "sleep 0.2; exit 3"])
    try:
        w = run(world(tmp_path, podman, "crashed"))
        assert w.decisions() == ["acted", "succeeded"]
        assert w.ledger.entries()[0]["reason"] == \
            f"restart {podman.name('crashed')} (exited, last exit 3)"
        assert podman.attrs("crashed")["State"]["StartedAt"] != before
    finally:
        podman.remove("crashed")


def test_a_container_stopped_by_an_operator_is_left_alone(
        tmp_path: Path, podman: PodmanPeer) -> None:
    with stopped_by_an_operator(podman, "stopped"):
        assert podman.attrs("stopped")["State"]["ExitCode"] == 143
        w = run(world(tmp_path, podman, "stopped"))
        assert w.decisions() == ["refused"]
        assert "stopped on purpose (exited, exit 143, not OOM)" in w.ledger.entries()[0]["reason"]
        assert podman.attrs("stopped")["State"]["Status"] == "exited"


def test_restart_stopped_true_restarts_even_an_operator_stop(
        tmp_path: Path, podman: PodmanPeer) -> None:
    with stopped_by_an_operator(podman, "allowed"):
        w = run(world(tmp_path, podman, "allowed", extra="    restart_stopped: true\n"))
        assert w.decisions() == ["acted", "succeeded"]
        assert podman.attrs("allowed")["State"]["Running"]


def test_a_missing_container_is_refused(tmp_path: Path, podman: PodmanPeer) -> None:
    w = run(world(tmp_path, podman, "never-created"))
    assert w.decisions() == ["refused"]
    assert "no container" in w.ledger.entries()[0]["reason"]
