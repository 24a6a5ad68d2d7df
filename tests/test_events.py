"""A deploy is an event, not an incident (issue 19 item 3): counted, and written into the
timeline of whatever incident opens within its window, never an incident of its own.
The real deploy probe's events against Podman are in tests/host/test_deploy_probe.py,
and the daemon's, with a rollback, in tests/remediations/test_rollback_drill.py."""

from __future__ import annotations

import asyncio
from pathlib import Path

from probes.deploy import DeployProbe
from probes.http import HttpProbe
from tests.remediation_world import DOWN, World, world_settings
from watchdog.pipeline.observation import Observation, Status

CONFIG = """\
probes:
  backend-health: {type: http, url: "http://127.0.0.1:1/", fail_after: 1}
  smtp: {type: http, url: "http://127.0.0.1:1/", fail_after: 1}
  recent-deploy: {type: deploy, containers: [nickapp-backend], fail_after: 1}
"""


def deployed(at: float) -> Observation:
    event = {"kind": "deploy", "target": "nickapp-backend", "at": at, "window": 1800.0,
             "summary": "nickapp-backend now runs sha256:b (was sha256:a)"}
    return Observation(Status.OK, "ok", "recent deploy", details={"events": [event]})


def test_a_deploy_is_noted_on_incidents_opening_in_its_window_and_opens_none(
        tmp_path: Path) -> None:
    async def go() -> World:
        w = World(tmp_path, world_settings(tmp_path) + CONFIG, {},
                  {"http": HttpProbe, "deploy": DeployProbe})
        await w.observe("smtp", DOWN, then=60)  # open before the deploy: not noted
        at = w.clock.time()
        await w.observe("backend-health", DOWN, then=0)  # opened before the probe saw it
        await w.observe("recent-deploy", deployed(at - 5), then=600)
        await w.observe("recent-deploy", Observation(Status.OK, "ok", "recent deploy"))
        await w.observe("backend-health", Observation(Status.OK, "ok", "200"))
        await w.observe("backend-health", DOWN, then=1800)  # inside the window
        await w.observe("backend-health", Observation(Status.OK, "ok", "200"))
        await w.observe("backend-health", DOWN)  # after it
        return w

    w = asyncio.run(go())
    book = w.engine.book
    by_id = {i.id: i for i in book.all_incidents()}
    assert sorted(i.probe for i in by_id.values()) == ["backend-health"] * 3 + ["smtp"]
    noted = {i: [e["summary"] for e in book.events(i) if e["kind"] == "deploy"]
             for i in by_id}
    smtp, first, second, third = sorted(by_id)
    assert noted[smtp] == [] and noted[third] == []
    assert noted[first] == ["nickapp-backend now runs sha256:b (was sha256:a) "
                            "(5s before this incident opened)"]
    assert noted[second] == ["nickapp-backend now runs sha256:b (was sha256:a) "
                             "(635s before this incident opened)"]
    assert w.metrics.registry.get_sample_value(
        "runbook_watchdog_events_total", {"kind": "deploy", "target": "nickapp-backend"}) == 1
