"""capture_evidence against a real container (Podman's API) and a real access log."""

from __future__ import annotations

import asyncio
import json
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from probes.container import ContainerProbe
from probes.http import HttpProbe
from remediations.capture_evidence import CaptureEvidence
from tests.peers.podman import PodmanPeer
from tests.remediation_world import World
from tests.support import wait_for
from watchdog.pipeline.observation import Observation, Status

CONFIG = """\
watchdog:
  state_dir: {tmp}/state
  kill_switch: {tmp}/kill
  docker_url: {docker}
probes:
  backend-health: {{type: http, url: "http://127.0.0.1:1/", fail_after: 1, severity: sev1}}
  redis: {{type: http, url: "http://127.0.0.1:1/", fail_after: 1}}
  smtp: {{type: http, url: "http://127.0.0.1:1/", fail_after: 1}}
  mongo: {{type: http, url: "http://127.0.0.1:1/", fail_after: 1}}
remediations:
  evidence:
    type: capture_evidence
    mode: auto
    budget: {{attempts: 100, within: 1h}}
    dir: {tmp}/incidents
    container: {container}
    access_log: {tmp}/access.log
    verify: {{within: 5s}}
"""
DOWN = Observation(Status.FAILED, "bad_status", "GET /api/health: HTTP 503",
                   details={"status_code": 503})


@pytest.fixture
def engine(podman: PodmanPeer) -> PodmanPeer:
    """The session's shared Podman engine."""
    return podman


@pytest.fixture
def crashing_backend(engine: PodmanPeer) -> Iterator[str]:
    script = ("echo 'Error: MONGO_URI mongodb://app:pw-in-log@mongo/db unreachable'; "
              "echo 'MongooseServerSelectionError: connect ECONNREFUSED'; sleep 600")
    engine.run("backend", ["sh", "-c", script])
    yield engine.name("backend")
    engine.remove("backend")


def world(tmp: Path, engine: PodmanPeer, container: str) -> World:
    (tmp / "access.log").write_text("".join(
        f'203.0.113.{i % 7} - - [27/Nov/2026:14:00:{i % 60:02d} +0000] "GET /api/x HTTP/1.1" '
        f'200 12\n' for i in range(3000)))
    text = CONFIG.format(tmp=tmp, docker=engine.url, container=container)
    return World(tmp, text, {"capture_evidence": CaptureEvidence})


def open_incidents(w: World, *probes: str) -> World:
    async def go() -> World:
        for probe in probes:
            await w.observe(probe, DOWN, then=0)
        await w.finish()
        return w

    return asyncio.run(go())


def test_evidence_is_saved_when_an_incident_opens(tmp_path: Path, engine: PodmanPeer,
                                                  crashing_backend: str) -> None:

    wait_for(lambda: b"Mongoose" in engine.client().api.logs(crashing_backend),
             what="the container's log lines")
    w = open_incidents(world(tmp_path, engine, crashing_backend), "backend-health")
    assert w.decisions() == ["acted", "succeeded"]
    where = tmp_path / "incidents" / "incident-1"
    assert stat.S_IMODE(where.stat().st_mode) == 0o700
    finding = json.loads((where / "findings.json").read_text())
    assert (finding["probe"], finding["cause"]) == ("backend-health", "bad_status")
    log = (where / "container.log").read_text()
    assert "MongooseServerSelectionError" in log
    assert "pw-in-log" not in log and "mongodb://app:***@mongo/db" in log
    state = json.loads((where / "container-state.json").read_text())
    assert state["Running"] is True
    access = (where / "access.log").read_text().splitlines()
    assert len(access) == 1000 and access[-1].startswith("203.0.113.")


def test_a_storm_of_incidents_still_gets_evidence_for_each(tmp_path: Path,
                                                          engine: PodmanPeer) -> None:
    # four probes at once trip the storm gate for real actions; evidence is safe
    w = open_incidents(world(tmp_path, engine, engine.name("gone")),
                       "backend-health", "redis", "smtp", "mongo")
    assert sorted(p.name for p in (tmp_path / "incidents").iterdir()) == [
        "incident-1", "incident-2", "incident-3", "incident-4"]
    assert w.decisions().count("succeeded") == 4
    # every capture asked the engine (one call at a time), none was turned away
    for i in range(1, 5):
        missing = (tmp_path / "incidents" / f"incident-{i}" / "container.log").read_text()
        assert missing.startswith("could not read: NotFound"), missing


OWN_TARGET = """\
watchdog:
  state_dir: {tmp}/state
  kill_switch: {tmp}/kill
  docker_url: {docker}
probes:
  backend-health: {{type: http, url: "http://127.0.0.1:1/", fail_after: 1, severity: sev1}}
  db-container: {{type: container, container: {db}, fail_after: 1, severity: sev2}}
remediations:
  evidence:
    type: capture_evidence
    mode: auto
    container: {backend}
    verify: {{within: 5s}}
"""


@pytest.fixture
def database(engine: PodmanPeer) -> Iterator[str]:
    engine.run("db", ["sh", "-c", "echo 'db: journal corrupt, refusing to start'; sleep 600"])
    yield engine.name("db")
    engine.remove("db")


def own_target_world(tmp: Path, engine: PodmanPeer, backend: str, db: str) -> World:
    text = OWN_TARGET.format(tmp=tmp, docker=engine.url, backend=backend, db=db)
    return World(tmp, text, {"capture_evidence": CaptureEvidence},
                 probe_types={"http": HttpProbe, "container": ContainerProbe})


def test_evidence_keeps_the_container_of_the_incidents_own_probe(
        tmp_path: Path, engine: PodmanPeer, crashing_backend: str, database: str) -> None:
    wait_for(lambda: b"journal corrupt" in engine.client().api.logs(database),
             what="the database's log line")
    wait_for(lambda: b"Mongoose" in engine.client().api.logs(crashing_backend),
             what="the backend's log lines")
    w = open_incidents(own_target_world(tmp_path, engine, crashing_backend, database),
                       "db-container", "backend-health")
    assert w.decisions() == ["acted", "acted", "succeeded", "succeeded"]
    # evidence defaults to <state_dir>/incidents
    db_dir, backend_dir = (tmp_path / "state" / "incidents" / f"incident-{i}" for i in (1, 2))
    db_log = (db_dir / "container.log").read_text()
    assert "journal corrupt" in db_log and "Mongoose" not in db_log
    assert json.loads((db_dir / "container-state.json").read_text())["Running"] is True
    # an http probe names no container: the configured one
    assert "MongooseServerSelectionError" in (backend_dir / "container.log").read_text()
    summaries = sorted(e["reason"] for e in w.ledger.entries() if e["decision"] == "acted")
    assert summaries == sorted([
        f"save evidence of {database} for incident 1 under {db_dir}",
        f"save evidence of {crashing_backend} for incident 2 under {backend_dir}"])


def test_a_failed_capture_is_journaled_and_reported_and_never_raises_the_severity(
        tmp_path: Path, engine: PodmanPeer) -> None:
    w = world(tmp_path, engine, engine.name("gone"))
    (tmp_path / "incidents").write_text("a file where the evidence directory should be\n")
    reports: list[tuple[int, str]] = []
    w.remediator.report = lambda incident, change: reports.append((incident, change))
    open_incidents(w, "redis")  # sev2 by default: an escalation would make it sev1
    assert w.decisions() == ["acted", "failed"]
    failed = w.ledger.entries()[-1]
    assert failed["reason"].startswith(
        f"save evidence of {engine.name('gone')} for incident 1 under "
        f"{tmp_path}/incidents/incident-1 failed: ActionFailed: cannot write evidence under ")
    incident = w.engine.book.get(1)
    assert incident is not None and incident.severity == "sev2"
    assert [(e["kind"], e["severity"]) for e in w.engine.book.events(1)] == [("open", "sev2")]
    assert reports == [(1, f"remediation evidence: {failed['reason']}")]
    assert w.outcome("evidence", "failed") == 1.0
