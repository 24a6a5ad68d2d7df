"""rollback through the policy against the real Podman engine (recreate strategy); the
daemon drills with the compose strategy are in test_rollback_drill.py."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from probes.deploy import DeployRecord
from remediations.rollback import Rollback, live_since, rollback_tag, rollback_target
from tests.remediation_world import World, world_settings
from tests.remediations.conftest import App, close_actions, real_time_clock, record_deploys
from watchdog.pipeline.observation import Observation, Status

DOWN = Observation(Status.FAILED, "bad_status", "HTTP 404 from /api/health")
UP = Observation(Status.OK, "ok", "HTTP 200")

CONFIG = """\
probes:
  backend-health: {{type: http, url: "http://127.0.0.1:1/", fail_after: 2, severity: sev2}}
remediations:
  rollback-backend:
    type: rollback
    mode: {mode}
    on: [backend-health]
    after: 2
    start_period: 0s
    budget: {{attempts: 3, within: 30m}}
    backoff: {{initial: 10s, max: 5m}}
    verify: {{probe: backend-health, within: 30s}}
    strategy: recreate
    container: {container}
    watchtower: {watchtower}
"""

def world(tmp: Path, app: App, mode: str = "auto", extra: str = "") -> World:
    text = world_settings(tmp, app.podman.url) + CONFIG.format(
        mode=mode, container=app.name, watchtower=app.watchtower) + extra
    return World(tmp, text, {"rollback": Rollback}, clock=real_time_clock())

def deployed_broken(app: App) -> None:
    """v1 running and recorded, then the broken image deployed as Watchtower would."""
    app.run()
    app.run_watchtower()

def run(w: World, app: App, scenario: Callable[[World], Awaitable[None]]) -> World:
    async def go() -> World:
        try:
            await record_deploys(w, app.name)  # v1 is in the history
            app.deploy_broken()
            await record_deploys(w, app.name)  # and the broken deploy after it
            await scenario(w)
        finally:
            await close_actions(w)
        return w

    return asyncio.run(go())

async def failing(w: World, cycles: int = 2) -> None:
    for _ in range(cycles):
        await w.observe("backend-health", DOWN, then=15)
    await w.finish()

def healed(app: App) -> Callable[[World], Awaitable[None]]:
    """Down for two cycles; while the rollback runs, the health probe reports the truth."""
    async def scenario(w: World) -> None:
        for _ in range(2):
            await w.observe("backend-health", DOWN, then=15)
        while w.remediator.tasks:
            healthy = await asyncio.to_thread(app.healthy)
            await w.observe("backend-health", UP if healthy else DOWN, then=1)
            if w.remediator.tasks:  # the decision may have ended during the awaits above
                await asyncio.wait(set(w.remediator.tasks), timeout=0.2)

    return scenario

def test_recreate_rolls_back_to_the_recorded_image_with_the_same_configuration(
        tmp_path: Path, app: App) -> None:
    deployed_broken(app)
    before = app.podman.attrs(app.short)
    w = run(world(tmp_path, app), app, healed(app))
    assert w.decisions() == ["acted", "succeeded"]
    after = app.podman.attrs(app.short)
    assert after["Image"] == app.good
    assert app.healthy()
    assert sorted(after["Config"]["Env"]) == sorted(before["Config"]["Env"])
    assert after["Config"]["Cmd"] == before["Config"]["Cmd"]
    assert after["Config"]["Labels"]["app"] == app.short
    assert after["HostConfig"]["RestartPolicy"] == before["HostConfig"]["RestartPolicy"]
    assert not app.running(app.watchtower)
    # the image is easy to find, and the replaced container is kept (stopped) for undo
    repo, tag = rollback_tag(f"{app.repo}:latest", app.good)
    assert app.podman.image(f"{repo}:{tag}")["Id"] == app.good
    undo = _undo(w)
    assert undo["watchtower_stopped"] == app.watchtower
    assert app.podman.client().api.inspect_container(undo["kept_container"])["Image"] == app.bad
    assert not app.running(undo["kept_container"])

def _undo(w: World) -> dict[str, Any]:

    [row] = w.store.query("SELECT undo FROM remediation_actions WHERE state = 'succeeded'")
    return dict(json.loads(row["undo"]))

def test_dry_run_changes_nothing_and_journals_the_image_it_would_use(
        tmp_path: Path, app: App) -> None:
    deployed_broken(app)
    w = run(world(tmp_path, app, mode="dry-run"), app, failing)
    assert w.decisions() == ["would_act"]
    assert w.ledger.entries()[0]["reason"] == f"would roll back {app.name} to {app.good}"
    assert app.image() == app.bad
    assert app.running(app.watchtower)

def test_a_previous_image_removed_from_the_engine_is_refused_and_nothing_is_touched(
        tmp_path: Path, app: App) -> None:
    deployed_broken(app)

    reports: list[tuple[int, str]] = []

    async def gone_then_failing(w: World) -> None:
        w.remediator.report = lambda incident, change: reports.append((incident, change))
        app.remove_image(app.good)
        await failing(w, cycles=6)

    w = run(world(tmp_path, app), app, gone_then_failing)
    assert w.decisions() == ["refused"]
    reason = w.ledger.entries()[0]["reason"]
    assert f"previous image {app.good} is no longer in the engine" in reason
    assert app.image() == app.bad
    assert app.running(app.name) and app.running(app.watchtower)
    # Issue 14 item 9: the incident is told once, with the reason and the human step, and
    # keeps its severity.
    [(incident_id, change)] = reports
    assert change.startswith(f"remediation rollback-backend cannot act: {reason}. Do it by "
                             "hand: ")
    assert change.endswith(f"roll {app.name} back to a known-good image yourself: point its "
                           "`image:` at that tag and `docker compose up -d` (runbook §3.1 "
                           "step 4)")
    incident = w.engine.book.get(incident_id)
    assert incident is not None and incident.status == "open" and incident.severity == "sev2"

def test_a_broken_previous_image_is_tried_once_then_escalates_without_a_loop(
        tmp_path: Path, app: App) -> None:
    """v1 is no better: verification fails, the incident escalates, and over two simulated
    hours the watchdog never rolls back again (the broken image is never a target)."""
    deployed_broken(app)

    async def down_for_hours(w: World) -> None:
        for _ in range(2 * 3600 // 15):
            await w.observe("backend-health", DOWN, then=15)
            await w.finish()

    w = run(world(tmp_path, app), app, down_for_hours)
    decisions = w.decisions()
    assert decisions.count("acted") == 1
    assert decisions[:2] == ["acted", "verify_failed"]
    assert set(decisions[2:]) == {"refused"} and len(decisions) == 3
    assert "no earlier image" in w.ledger.entries()[2]["reason"]
    assert app.image() == app.good  # still the rollback target, not flip-flopping
    [incident] = w.engine.book.open_incidents()
    assert incident.severity == "sev1"  # one up from sev2: it says why in its events
    assert w.outcome("rollback-backend", "verify_failed") == 1

def test_without_a_recent_deploy_it_is_not_a_deploy_problem(tmp_path: Path, app: App) -> None:
    deployed_broken(app)
    extra = "    deploy_window: 0s\n"
    w = run(world(tmp_path, app, extra=extra), app, failing)
    assert w.decisions() == ["refused"]
    assert "not a deploy problem" in w.ledger.entries()[0]["reason"]

def test_no_hypothesis_after_rolls_back_anyway_once_the_incident_is_that_old(
        tmp_path: Path, app: App) -> None:
    deployed_broken(app)
    extra = "    deploy_window: 0s\n    no_hypothesis_after: 5m\n"

    async def long_incident(w: World) -> None:
        for _ in range(2 + 300 // 15):
            await w.observe("backend-health", DOWN, then=15)
            await w.finish()

    w = run(world(tmp_path, app, extra=extra), app, long_incident)
    assert w.decisions()[:3] == ["refused", "acted", "verify_failed"]
    assert w.decisions().count("acted") == 1
    assert "no hypothesis after" in json.loads(w.ledger.entries()[1]["detail"])["reason"]
    assert app.image() == app.good

def test_a_slow_backend_never_rolls_back_even_through_no_hypothesis_after(
        tmp_path: Path, app: App) -> None:
    """Issue 14 item 3: `slow` is a warning; six minutes of it is no reason to roll back."""
    deployed_broken(app)
    extra = "    deploy_window: 0s\n    no_hypothesis_after: 5m\n"
    slow = Observation(Status.FAILED, "slow", "answered in 4.2s (max 2s)")

    async def slow_for_six_minutes_then_down(w: World) -> None:
        for _ in range(6 * 60 // 15):
            await w.observe("backend-health", slow, then=15)
            await w.finish()
        assert w.decisions() == []
        # The outage begins now, not when the incident opened as `slow`: no hypothesis
        # after 30 s is no reason to roll back.
        await failing(w)

    w = run(world(tmp_path, app, extra=extra), app, slow_for_six_minutes_then_down)
    assert w.decisions() == ["refused"]
    assert "not a deploy problem" in w.ledger.entries()[0]["reason"]
    assert app.image() == app.bad


# -- pure helpers ----------------------------------------------------------------------------
def rec(image: str, since: float = 0.0) -> DeployRecord:
    return DeployRecord("web", "ghcr.io/x/web:latest", image, (), "c", since)

@pytest.mark.parametrize(("history", "live", "rejected", "expected"), [
    (["a", "b"], "b", set(), "a"),
    (["a"], "b", set(), "a"),  # the tracker has not seen the new image yet
    (["a", "b", "a"], "a", {"b"}, None),  # rolled back from b: never back to it
    (["a", "b", "c"], "c", set(), "b"),
    (["a", "b", "c"], "c", {"b"}, "a"),
    (["a"], "a", set(), None),
])
def test_rollback_target(history: list[str], live: str, rejected: set[str],
                         expected: str | None) -> None:
    found = rollback_target([rec(i) for i in history], live, rejected)
    assert (found.image_id if found else None) == expected

def test_live_since_is_the_start_of_the_running_generation() -> None:
    history = [rec("a", 10), rec("b", 20), rec("b", 30)]
    assert live_since(history, "b", created=99) == 20
    assert live_since(history, "c", created=99) == 99

@pytest.mark.parametrize(("ref", "expected"), [
    ("ghcr.io/x/web:latest", ("ghcr.io/x/web", "rollback-0123456789ab")),
    ("localhost:5000/web", ("localhost:5000/web", "rollback-0123456789ab")),
    ("web@sha256:ffff", ("web", "rollback-0123456789ab")),
])
def test_rollback_tag(ref: str, expected: tuple[str, str]) -> None:
    assert rollback_tag(ref, "sha256:0123456789abcdef") == expected
