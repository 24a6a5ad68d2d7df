"""Mongo down (issue 5, "Done when"): no backend restart or rollback, and the backend's
symptom is grouped under the Mongo incident. The installed daemon, a real MongoDB
wire-protocol server (nx-27017) that goes away, a real HTTP backend answering 503, and a
real container on Podman's API that must not be touched.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.network.conftest import NxMongo
from tests.peers.podman import PodmanPeer
from tests.support import Daemon, HttpPeer, cli, free_port, wait_for


@pytest.fixture
def backend(podman: PodmanPeer) -> Iterator[str]:
    podman.run("dep-backend", ["sleep", "600"])
    yield podman.name("dep-backend")
    podman.remove("dep-backend")


def settings(tmp: Path, port: int, docker: str) -> str:
    return textwrap.dedent(f"""\
        watchdog:
          listen: 127.0.0.1:{port}
          state_dir: {tmp}/state
          kill_switch: {tmp}/kill
          docker_url: {docker}
          spread: 0s
        """)


def restart(name: str) -> str:
    """The backend's restart, after two failing runs of its health probe."""
    return textwrap.dedent(f"""\
        remediations:
          restart-backend:
            type: restart_container
            mode: auto
            on: [backend-health]
            after: 2
            container: {name}
            start_period: 0s
        """)


def rollback(name: str) -> str:
    """The backend's rollback, in `remediations:` after `restart()`."""
    return textwrap.indent(textwrap.dedent(f"""\
        rollback-backend:
          type: rollback
          mode: auto
          on: [backend-health]
          after: 2
          container: {name}
          strategy: recreate
          start_period: 0s
        """), "  ")


def config(tmp: Path, port: int, mongo: NxMongo, peer: HttpPeer, docker: str, name: str) -> str:
    return settings(tmp, port, docker) + textwrap.dedent(f"""\
        probes:
          mongodb:
            type: mongo
            uri: {mongo.uri}
            interval: 1s
            timeout: 800ms
            severity: sev1
            fail_after: 1
            runbook: "3.2"
          backend-health:
            type: http
            url: {peer.url()}
            interval: 1s
            timeout: 500ms
            severity: sev1
            fail_after: 2
            depends_on: [mongodb]
            runbook: "3.1"
        """) + restart(name) + rollback(name)


def audit(tmp: Path) -> list[dict[str, Any]]:
    path = tmp / "state" / "audit.jsonl"
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


def incidents(cfg: Path) -> list[dict[str, Any]]:
    out = cli("incidents", "--all", "--format", "json", "--config", str(cfg))
    rows: list[dict[str, Any]] = json.loads(out.stdout) if out.returncode == 0 else []
    return rows


def runs(port: int, probe: str) -> float:
    text = httpx.get(f"http://127.0.0.1:{port}/metrics").text
    total = 0.0
    for line in text.splitlines():
        if line.startswith("runbook_watchdog_probe_runs_total{") and f'probe="{probe}"' in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_mongo_down_no_backend_action_and_one_grouped_incident(
        tmp_path: Path, podman: PodmanPeer, backend: str, http_peer: HttpPeer) -> None:
    mongo = NxMongo(tmp_path).start()
    mongo.stop()  # the database is down...
    http_peer.set_mode("503")  # ...and the backend fails because of it
    started = podman.attrs("dep-backend")["State"]["StartedAt"]
    port, cfg = free_port(), tmp_path / "watchdog.yaml"
    cfg.write_text(config(tmp_path, port, mongo, http_peer, podman.url, backend))
    daemon = Daemon(cfg, port, tmp_path / "daemon.log").start()
    try:
        skipped = wait_for(lambda: {e["remediation"] for e in audit(tmp_path)
                                    if e["decision"] == "skipped"} >=
                           {"restart-backend", "rollback-backend"}, timeout=60,
                           what="both backend remediations held back")
        assert skipped
        floor = runs(port, "backend-health")
        wait_for(lambda: runs(port, "backend-health") >= floor + 5, timeout=60,
                 what="five more failing backend cycles")
        entries = audit(tmp_path)
        assert {e["decision"] for e in entries} == {"skipped"}
        assert all(e["reason"] == "dependency: dependency failing: mongodb; fix that first"
                   for e in entries)
        assert podman.attrs("dep-backend")["State"]["StartedAt"] == started

        listed = {i["probe"]: i for i in incidents(cfg)}
        assert listed["mongodb"]["status"] == "open" and listed["mongodb"]["cause"] == \
            "unreachable"
        assert listed["backend-health"]["attached_to"] == listed["mongodb"]["id"]

        mongo.process.start()  # Mongo back (same port), backend healthy again
        wait_for(mongo.ping, what="nx-27017 back")
        http_peer.set_mode("ok")
        wait_for(lambda: all(i["status"] == "resolved" for i in incidents(cfg)), timeout=60,
                 what="both incidents to resolve")
    finally:
        assert daemon.shutdown() == 0
        mongo.stop()
    assert "acted" not in {e["decision"] for e in audit(tmp_path)}


def stale_config(tmp: Path, port: int, mongo: NxMongo, peer: HttpPeer, docker: str,
                 name: str) -> str:
    """The bundled config's timings: mongodb every 30 s (timeout 10 s), backend-health
    every 15 s, failing after 2, its restart and rollback after 2."""
    return settings(tmp, port, docker) + textwrap.dedent(f"""\
        probes:
          mongodb:
            type: mongo
            uri: {mongo.uri}
            severity: sev1
          backend-health:
            type: http
            url: {peer.url()}
            interval: 15s
            timeout: 5s
            severity: sev1
            fail_after: 2
            depends_on: [mongodb]
        """) + restart(name) + rollback(name)


def test_a_dependency_stopped_right_after_its_run_is_rechecked_before_acting(
        tmp_path: Path, podman: PodmanPeer, backend: str, http_peer: HttpPeer) -> None:
    """Issue 14 item 8: Mongo stops just after its probe passed; the backend fails twice
    (30 s) before the mongodb probe runs again, so its last result is a stale OK. The
    restart and the rollback re-check Mongo now and hold instead of "succeeding" while
    Mongo is down."""
    mongo = NxMongo(tmp_path).start()
    started = podman.attrs("dep-backend")["State"]["StartedAt"]
    port, cfg = free_port(), tmp_path / "watchdog.yaml"
    cfg.write_text(stale_config(tmp_path, port, mongo, http_peer, podman.url, backend))
    daemon = Daemon(cfg, port, tmp_path / "daemon.log").start()
    try:
        wait_for(lambda: runs(port, "mongodb") >= 1, timeout=60, what="a mongodb run")
        mongo.stop()  # right after its run: the next is 30 s away
        http_peer.set_mode("503")
        decided = wait_for(lambda: {e["remediation"]: e for e in audit(tmp_path)}
                           if len({e["remediation"] for e in audit(tmp_path)}) == 2 else None,
                           timeout=120, what="the restart's and the rollback's decisions")
        for entry in decided.values():
            assert entry["decision"] == "skipped", decided
            assert entry["reason"].startswith(
                "dependency: dependency failing: mongodb (re-checked now: failed "), decided
        assert podman.attrs("dep-backend")["State"]["StartedAt"] == started
    finally:
        assert daemon.shutdown() == 0
        mongo.stop()
    assert "acted" not in {e["decision"] for e in audit(tmp_path)}
