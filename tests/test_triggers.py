"""Which findings may trigger which actions (issue 14 item 3): a probe type declares its
warning causes (`warning_causes`); an `on: [probe]` entry matches the probe's outage
causes only, and a warning never triggers an action that changes something. Evidence
capture (a safe action) still fires on a warning.

The action is the recording fake of tests/remediation_world.py: these tests are about the
trigger, which is the same for every action.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import ClassVar, Literal

from tests.remediation_world import DOWN, RecordingAction, World, make_world, world_settings
from watchdog.pipeline.observation import Observation, Status

CERT = Observation(Status.FAILED, "cert_expiring", "the certificate expires in 3 days")
SLOW = Observation(Status.FAILED, "slow", "answered in 4.2s (max 2s)")


def test_warnings_never_trigger_a_restart_and_an_outage_still_does(tmp_path: Path) -> None:
    async def go() -> World:
        w = make_world(tmp_path)
        for warning in (CERT, SLOW):
            for _ in range(10):
                await w.observe("backend", warning)
        assert w.action.executed == [] and w.decisions() == []
        await w.observe("backend", DOWN)  # `after: 2` counts outage runs: one so far
        assert w.action.executed == []
        await w.observe("backend", DOWN)
        return w

    w = asyncio.run(go())
    assert [p.detail["cause"] for p in w.action.executed] == ["bad_status"]


class SafeRecording(RecordingAction):
    """The recording fake as a safe action fired when an incident opens (like evidence)."""

    fires_on: ClassVar[Literal["failing", "open"]] = "open"
    safe: ClassVar[bool] = True


def test_a_safe_action_fires_on_a_warning(tmp_path: Path) -> None:
    text = world_settings(tmp_path) + """\
probes:
  backend: {type: http, url: "http://127.0.0.1:1/", fail_after: 1, severity: sev3}
remediations:
  evidence: {type: safe, mode: auto}
"""

    async def go() -> World:
        w = World(tmp_path, text, {"safe": SafeRecording})
        await w.observe("backend", CERT)
        await w.finish()
        return w

    w = asyncio.run(go())
    assert [p.detail["cause"] for p in w.action.executed] == ["cert_expiring"]
