"""An in-process watchdog for remediation tests: engine, ledger and remediator on a manual
clock, fed observations by the test instead of probes.

`make_world` builds one around `RecordingAction`, a fake action that records what it was
asked to do, for the tests of the policy (which is the same for every action).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, Literal

from prometheus_client import CollectorRegistry

from probes.http import HttpProbe
from tests.support import fed_job
from watchdog.common.clock import ManualClock, settle
from watchdog.common.state import StateStore
from watchdog.pipeline.engine import PipelineEngine
from watchdog.pipeline.incidents import IncidentBook
from watchdog.pipeline.observation import Observation, Status
from watchdog.pipeline.probe import ProbeRegistry, Resources
from watchdog.pipeline.scheduler import RunInfo
from watchdog.remediation.contract import (
    ActionParams,
    ActionRefused,
    Plan,
    RemediationRegistry,
    Trigger,
)
from watchdog.remediation.journal import Ledger
from watchdog.remediation.runtime import Remediator, build_remediations
from watchdog.runtime.config import load_config
from watchdog.runtime.metrics import Metrics


def world_settings(tmp: Path, docker_url: str | None = None) -> str:
    """The `watchdog:` section of the config of a World in `tmp`: its state directory, its
    kill switch (`World.kill`) and, for actions on containers, the Docker engine."""
    lines = ["watchdog:", f"  state_dir: {tmp / 'state'}",
             f"  kill_switch: {tmp / 'disable-remediation'}"]
    if docker_url is not None:
        lines.append(f"  docker_url: {docker_url}")
    return "\n".join(lines) + "\n"


class World:
    def __init__(self, tmp: Path, config_text: str, types: dict[str, Any],
                 probe_types: dict[str, Any] | None = None,
                 clock: ManualClock | None = None) -> None:
        self.tmp = tmp
        self.kill = tmp / "disable-remediation"
        path = tmp / "watchdog.yaml"
        path.write_text(config_text)
        self.types = types
        self.config = load_config(
            path, probes=ProbeRegistry(probe_types or {"http": HttpProbe}),
            remediations=RemediationRegistry(types), environ={})
        # A real engine's timestamps need a wall clock near the real one (`clock`).
        self.clock = clock or ManualClock()
        self.store = StateStore.in_state_dir(tmp / "state")
        self.metrics = Metrics(CollectorRegistry())
        self.engine = PipelineEngine(self.config, IncidentBook(self.store), self.metrics, self.clock.time)
        self.ledger = Ledger(self.store, tmp / "audit.jsonl")
        self.resources = Resources(self.config.watchdog, self.store, self.clock)
        self.remediator = self.new_remediator()

    def new_remediator(self) -> Remediator:
        built = build_remediations(self.config, self.resources, self.types,
                                   self.engine.last_observation)
        remediator = Remediator(self.config, self.engine, self.ledger, self.metrics, built,
                                self._passed, self.clock)
        self.engine.subscribers[:] = [remediator.on_event]
        return remediator

    async def _passed(self, probe: str, since: float) -> bool:
        last = self.engine.last.get(probe)
        return last is not None and last.observation.ok and last.at >= since

    @property
    def action(self) -> Any:
        return self.remediator.remediations[0].action

    async def observe(self, probe: str, obs: Observation, then: float = 15.0) -> None:
        """Feed one observation as if `probe` had run now, let decisions run, move time."""
        now = self.clock.monotonic()
        self.engine.on_result(fed_job(probe), obs, RunInfo(now, now, 0.0))
        await settle()
        await self.clock.advance(then)

    async def finish(self, step: float = 1.0) -> None:
        """Run decisions in progress to their end: real I/O (a command, a Docker call) on
        the real clock, verification polls on the manual one, which moves `step` whenever
        nothing else can progress."""
        import asyncio

        while self.remediator.tasks:
            _, pending = await asyncio.wait(set(self.remediator.tasks), timeout=0.05)
            if pending and self.clock.sleepers:
                await self.clock.advance(step)

    def decisions(self) -> list[str]:
        return [e["decision"] for e in self.ledger.entries()]

    def outcome(self, remediation: str, outcome: str) -> float:
        value = self.metrics.registry.get_sample_value(
            "runbook_watchdog_remediation_attempts_total",
            {"remediation": remediation, "outcome": outcome})
        return value or 0.0


DOWN = Observation(Status.FAILED, "bad_status", "HTTP 503")
UP = Observation(Status.OK, "ok", "HTTP 200")
HUNG = Observation(Status.UNKNOWN, "probe_hung", "could not tell")


class RecordingParams(ActionParams):
    target: str = "nickapp-backend"
    verify_ok: bool = True
    refuse: str | None = None
    raise_in: str | None = None  # plan, execute or verify: raise outside the contract


class RecordingAction:
    """A fake action that records what it was asked to do."""

    Params: ClassVar[type[RecordingParams]] = RecordingParams
    fires_on: ClassVar[Literal["failing", "open"]] = "failing"

    def __init__(self, params: RecordingParams, ctx: Any) -> None:
        self.params = params
        self.target = params.target
        self.executed: list[Plan] = []

    async def plan(self, trigger: Trigger) -> Plan:
        if self.params.refuse:
            raise ActionRefused(self.params.refuse)
        self._maybe_crash("plan")
        return Plan(self.target, f"restart {self.target}", {"cause": trigger.cause})

    async def execute(self, plan: Plan) -> Mapping[str, Any]:
        self.executed.append(plan)
        self._maybe_crash("execute")
        return {"restarted": plan.target}

    async def verify(self, plan: Plan) -> bool:
        self._maybe_crash("verify")
        return self.params.verify_ok

    def _maybe_crash(self, call: str) -> None:
        if self.params.raise_in == call:  # a bug in the action, with a secret in its message
            raise KeyError(f"redis://:hunter2@cache:6379 in {call}")


BASE = """\
probes:
  backend:
    type: http
    url: http://127.0.0.1:1/
    severity: sev2
    fail_after: 2
    depends_on: [mongo]
  mongo: {{type: http, url: "http://127.0.0.1:1/", fail_after: 1}}
  redis: {{type: http, url: "http://127.0.0.1:1/", fail_after: 1}}
  smtp: {{type: http, url: "http://127.0.0.1:1/", fail_after: 1}}
  sentry: {{type: http, url: "http://127.0.0.1:1/", fail_after: 1}}
remediations:
  restart-backend:
    type: recording
    mode: {mode}
    on: [backend]
    after: 2
    budget: {{attempts: 3, within: 30m}}
    backoff: {{initial: 10s, max: 5m}}
    verify: {{within: 3s}}
    start_period: 0s
"""


def make_world(tmp: Path, mode: str = "auto", extra: str = "") -> World:
    text = world_settings(tmp) + BASE.format(mode=mode)
    return World(tmp, text + extra, {"recording": RecordingAction})
