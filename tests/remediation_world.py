"""An in-process watchdog for remediation tests: engine, ledger and remediator on a manual
clock, fed observations by the test instead of probes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from probes.http import HttpProbe
from watchdog.common.clock import ManualClock, settle
from watchdog.common.state import StateStore
from watchdog.pipeline.engine import PipelineEngine
from watchdog.pipeline.incidents import IncidentBook
from watchdog.pipeline.observation import Observation
from watchdog.pipeline.probe import ProbeRegistry, Resources
from watchdog.pipeline.scheduler import Job, RunInfo
from watchdog.remediation.contract import RemediationRegistry
from watchdog.remediation.journal import Ledger
from watchdog.remediation.runtime import Remediator, build_remediations
from watchdog.runtime.config import load_config
from watchdog.runtime.metrics import Metrics


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
        self.engine.on_result(Job(probe, None, 15.0, 5.0), obs, RunInfo(now, now, 0.0))  # type: ignore[arg-type]
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
