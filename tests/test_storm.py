"""The storm rule counts independent targets, not failing probes (issue 14 item 2).

A bad deploy fails four probes of one target together (the backend's health endpoint, its
container's crash loop, a missing-env line in its log, its clients' reconnect storm): one
target, so the rollback proceeds. Four unrelated targets failing at once is a storm: the
action holds. The action is the recording fake of tests/remediation_world.py standing in
for the rollback (the policy is the same for every action); the real rollback with these
probes failing together is the production drill's.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from probes.container import ContainerProbe
from probes.http import HttpProbe
from probes.logs import LogsProbe
from probes.reconnect_rate import ReconnectRateProbe
from tests.remediation_world import RecordingAction, World, world_settings
from watchdog.pipeline.observation import Observation, Status
from watchdog.remediation.targets import Symptom, count_targets

CONFIG = """\
probes:
  backend-health: {type: http, url: "http://127.0.0.1:1/", fail_after: 2, severity: sev1}
  backend-container:
    {type: container, container: nickapp-backend, fail_after: 1, severity: sev1}
  backend-logs: {type: logs, container: nickapp-backend, fail_after: 1, severity: sev2}
  websocket-storm:
    {type: reconnect_rate, container: nickapp-backend, threshold: 120, fail_after: 1}
  redis: {type: http, url: "http://127.0.0.1:1/", fail_after: 1}
  smtp: {type: http, url: "http://127.0.0.1:1/", fail_after: 1}
  sentry: {type: http, url: "http://127.0.0.1:1/", fail_after: 1}
remediations:
  rollback-backend:
    type: recording
    mode: auto
    on: [backend-health]
    after: 2
    start_period: 0s
    target: nickapp-backend
"""
TYPES = {"http": HttpProbe, "container": ContainerProbe, "logs": LogsProbe,
         "reconnect_rate": ReconnectRateProbe}
HEALTH_404 = Observation(Status.FAILED, "bad_status", "HTTP 404 from /api/health")
BAD_DEPLOY = {
    "backend-container": Observation(Status.FAILED, "crashloop", "restarted 4 times in 5m"),
    "backend-logs": Observation(Status.FAILED, "missing_env",
                                "Error: Missing required env var JWT_SECRET"),
    "websocket-storm": Observation(Status.FAILED, "websocket_storm", "310 reconnects/min"),
}
DOWN = Observation(Status.FAILED, "refused", "connection refused")


def decide(tmp: Path, others: dict[str, Observation]) -> World:
    async def go() -> World:
        w = World(tmp, world_settings(tmp) + CONFIG, {"recording": RecordingAction}, TYPES)
        for probe, obs in others.items():
            await w.observe(probe, obs, then=0)
        for _ in range(2):
            await w.observe("backend-health", HEALTH_404)
        await w.finish()
        return w

    return asyncio.run(go())


def test_a_bad_deploys_symptoms_are_one_target_and_the_rollback_proceeds(
        tmp_path: Path) -> None:
    w = decide(tmp_path, BAD_DEPLOY)
    assert len(w.engine.failing_probes()) == 4
    assert w.decisions() == ["acted", "succeeded"], w.ledger.entries()


def test_four_unrelated_targets_failing_is_a_storm_and_the_action_holds(
        tmp_path: Path) -> None:
    w = decide(tmp_path, {"redis": DOWN, "smtp": DOWN, "sentry": DOWN})
    assert w.action.executed == []
    [entry] = w.ledger.entries()
    assert entry["reason"] == ("storm: 4 independent targets failing at once: a shared "
                               "cause, alert, don't act")


def test_count_targets_joins_a_container_a_dependency_and_the_actions_target() -> None:
    mongo = Symptom("mongodb", frozenset({"nickapp-mongodb"}))
    mongo_container = Symptom("mongodb-container", frozenset({"nickapp-mongodb"}))
    health = Symptom("backend-health", frozenset(), depends_on=("mongodb",))
    smtp = Symptom("smtp", frozenset())
    assert count_targets([mongo, mongo_container, health, smtp], "smtp", "smtp") == 2
    crash = Symptom("backend-container", frozenset({"nickapp-backend"}))
    api = Symptom("api-health", frozenset())
    assert count_targets([crash, api, smtp], "api-health", "nickapp-backend") == 2
    assert count_targets([crash, api, smtp], "api-health", "api") == 3
