"""The daemon: wires config, probes, scheduler, engine, state and the HTTP listener.

Signals: SIGHUP reloads the config (a bad file is rejected and the old config keeps
running), SIGTERM/SIGINT stop scheduling, let runs in flight finish within
`watchdog.shutdown_grace`, close clients, flush state and exit 0.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from watchdog.common.clock import Clock, SystemClock
from watchdog.common.errors import ConfigError
from watchdog.common.secrets import SCRUBBER, scrub
from watchdog.common.state import StateStore
from watchdog.notification.maintenance import in_maintenance
from watchdog.notification.stage import NotificationStage
from watchdog.pipeline.capacity import Capacity, SkipReason, quiet_gc
from watchdog.pipeline.engine import PipelineEngine, ResultEvent
from watchdog.pipeline.incidents import IncidentBook
from watchdog.pipeline.observation import Observation, unknown
from watchdog.pipeline.probe import Probe, ProbeContext, ProbeRegistry, ProbeType, Resources
from watchdog.pipeline.scheduler import Job, ProbeScheduler, run_once
from watchdog.remediation.contract import RemediationRegistry
from watchdog.remediation.journal import Entry, Ledger
from watchdog.remediation.lease import lease_for
from watchdog.remediation.runtime import Remediator, build_remediations
from watchdog.remediation.sandbox import needs_of, self_check
from watchdog.runtime.config import Config, load_config
from watchdog.runtime.httpapi import HttpListener, StatusSource
from watchdog.runtime.metrics import Metrics
from watchdog.runtime.reportapi import ReportEndpoint
from watchdog.runtime.systemd import LoopPulseCollector, ServiceHooks, summary_line

log = logging.getLogger(__name__)
HEARTBEAT = 1.0


class BrokenProbe:
    """Stands in for a probe whose constructor raised: every run is UNKNOWN with the reason."""

    def __init__(self, reason: str) -> None:
        self.reason = reason

    async def check(self) -> Observation:
        return unknown("probe_crashed", self.reason)

    async def aclose(self) -> None:
        return None


def build_jobs(config: Config, resources: Resources, types: Mapping[str, ProbeType],
               only: str | None = None) -> list[Job]:
    jobs = []
    for name, spec in config.probes.items():
        if (only is None and spec.common.enabled) or name == only:
            ctx = ProbeContext(name, spec.common.timeout, resources)
            jobs.append(Job(name, _build_probe(spec.params, types[spec.type], ctx),
                            spec.common.interval, spec.common.timeout))
    return jobs


def _build_probe(params: Any, cls: ProbeType, ctx: ProbeContext) -> Probe:
    try:
        probe = cls(params, ctx)
    except Exception as exc:
        reason = scrub(f"could not start: {type(exc).__name__}: {exc}")
        log.error("probe %s %s", ctx.name, reason)
        return BrokenProbe(reason)
    return probe


async def close_jobs(jobs: list[Job]) -> None:
    for job in jobs:
        try:
            await job.probe.aclose()
        except Exception as exc:
            log.warning("closing probe %s failed: %s", job.name, scrub(str(exc)))


class Daemon:
    def __init__(self, config: Config, *, registry: CollectorRegistry | None = None,
                 clock: Clock | None = None, probe_types: ProbeRegistry | None = None,
                 remediation_types: RemediationRegistry | None = None,
                 environ: Mapping[str, str] | None = None) -> None:
        self.config = config
        self.registry = registry or CollectorRegistry()
        self.clock = clock or SystemClock()
        self.probe_types = probe_types or ProbeRegistry.from_entry_points()
        self.remediation_types = remediation_types or RemediationRegistry.from_entry_points()
        self.environ = environ
        self.metrics = Metrics(self.registry)
        self.stopping = asyncio.Event()
        self._beat = time.monotonic()
        self._jobs: list[Job] = []
        self._rechecks: dict[str, asyncio.Future[Observation]] = {}
        self.listener: HttpListener | None = None
        self.service = ServiceHooks.from_env(environ)
        self.lease = lease_for(config.watchdog.lease, self.registry)
        self.registry.register(LoopPulseCollector(lambda: time.monotonic() - self._beat))

    # -- lifecycle ----------------------------------------------------------------------
    async def run(self) -> int:
        SCRUBBER.register(self.config.secrets)
        self.store = StateStore.in_state_dir(self.config.watchdog.state_dir)
        self.resources = Resources(self.config.watchdog, self.store, self.clock)
        self.engine = PipelineEngine(self.config, IncidentBook(self.store), self.metrics,
                                     self.clock.time)
        self.notifier = NotificationStage(self.config, self.store, self.engine, self.clock)
        self.notifier.subscribe()
        await self.notifier.start()
        self.scheduler = self._scheduler()
        self.ledger = Ledger(self.store, self.config.watchdog.audit_file
                             or self.config.watchdog.state_dir / "audit.jsonl")
        self._journal_state_reset()
        self._check_sandbox()
        self.remediator = self._remediator()
        self.engine.subscribers.append(self._on_result)
        self.remediator.resume()
        self._loaded()
        self._start_listener()
        self._install_signals()
        heartbeat = asyncio.create_task(self._heartbeat(), name="heartbeat")
        lease = asyncio.create_task(self.lease.run(), name="lease")
        self._start_jobs()
        self.engine.subscribers.append(self.service.on_result)
        self.service.start(self._summary, self._progressing)
        log.info("runbook-watchdog started: %d probes, listening on %s", len(self._jobs),
                 self.config.watchdog.listen)
        if not self.config.probes:
            log.warning("watches nothing: %s configures no probes", self.config.path)
        try:
            await self.stopping.wait()
        finally:
            heartbeat.cancel()
            lease.cancel()
            await self._shutdown()
        return 0

    def _check_sandbox(self) -> None:
        """Say at start (and reload) what the sandbox will refuse, not at the first incident."""
        for problem in self_check(needs_of(self.config)):
            log.warning("%s", problem)

    def _journal_state_reset(self) -> None:
        aside = self.store.set_aside
        if aside is None:
            return
        reason = (f"the state database was corrupt: moved aside to {aside}, started a fresh "
                  "one (open incidents, tracks and budgets of the old one are not carried over)")
        log.error("%s", reason)
        self.ledger.journal(Entry(at=self.clock.time(), remediation="watchdog", target="state",
                                  mode="auto", decision="state_reset", reason=reason))

    def _scheduler(self) -> ProbeScheduler:
        settings = self.config.watchdog
        capacity = Capacity(settings.max_in_flight, settings.max_lateness)
        scheduler = ProbeScheduler(self.clock, self.engine.on_result,
                                   grace=settings.deadline_grace, spread=settings.spread,
                                   on_skip=self._skipped, capacity=capacity)
        self.metrics.in_flight.set_function(lambda: scheduler.slots.in_use)
        self.metrics.in_flight_limit.set_function(lambda: scheduler.slots.limit)
        return scheduler

    def _remediator(self) -> Remediator:
        built = build_remediations(self.config, self.resources, self.remediation_types,
                                   self.engine.last_observation)
        remediator = Remediator(self.config, self.engine, self.ledger, self.metrics, built,
                                self._probe_passed, self.clock)
        remediator.in_maintenance = lambda probe: in_maintenance(
            self.config.maintenance, probe, self.clock.time())
        remediator.refresh_gauges()
        remediator.may_act = self.lease.may_act
        remediator.report = self.notifier.post_update
        remediator.probe_now = self._probe_now
        return remediator

    def _on_result(self, event: ResultEvent) -> None:
        self.remediator.on_event(event)

    async def _probe_passed(self, probe: str, since: float) -> bool:
        last = self.engine.last.get(probe)
        return last is not None and last.observation.ok and last.at >= since

    async def _probe_now(self, probe: str) -> Observation | None:
        """Run a scheduled probe once more, now, within its timeout (never raises). Two
        remediations re-checking one dependency together share one run."""
        job = next((j for j in self._jobs if j.name == probe), None)
        if job is None:
            return None
        running = self._rechecks.get(probe)
        if running is None or running.done():
            running = asyncio.ensure_future(
                run_once(job, self.clock, self.config.watchdog.deadline_grace))
            self._rechecks[probe] = running
        return await asyncio.shield(running)

    def _skipped(self, job: Job, missed: int, reason: SkipReason) -> None:
        self.metrics.probes.skip(job.name, reason.value, missed)

    def _start_jobs(self) -> None:
        self._jobs = build_jobs(self.config, self.resources, self.probe_types)
        quiet_gc()
        self.scheduler.start(self._jobs)

    def _start_listener(self) -> None:
        loop = asyncio.get_running_loop()
        source = StatusSource(self.registry, loop, self.status, self.healthy)
        source.reports = ReportEndpoint(lambda: self.config.watchdog.reports,
                                        lambda: self.config.probes,
                                        lambda report: self.notifier.file_report(report), loop)
        settings = self.config.watchdog
        self.listener = HttpListener(settings.listen_host, settings.listen_port, source,
                                     self.config.web)
        self.listener.start()

    def _install_signals(self) -> None:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, self.stop)
        loop.add_signal_handler(signal.SIGINT, self.stop)
        loop.add_signal_handler(signal.SIGHUP, self.request_reload)

    def stop(self) -> None:
        log.info("stopping")
        self.service.stopping()
        self.stopping.set()

    async def _shutdown(self) -> None:
        await self.scheduler.stop(self.config.watchdog.shutdown_grace)
        # An action being verified is left in the ledger; the next start verifies it.
        await self.remediator.drain(self.config.watchdog.shutdown_grace)
        await self.remediator.aclose()
        await close_jobs(self._jobs)
        await self.notifier.aclose()
        await self.resources.aclose()
        await self.lease.aclose()
        await self.service.aclose()
        if self.listener is not None:
            self.listener.stop()
        self.store.close()
        log.info("stopped")

    async def _heartbeat(self) -> None:
        while True:
            self._beat = time.monotonic()
            await asyncio.sleep(HEARTBEAT)

    def healthy(self) -> tuple[bool, str]:
        """Called from the listener thread: is the event loop making progress?"""
        stalled = time.monotonic() - self._beat
        if stalled > self.config.watchdog.stall_after:
            return False, f"event loop stalled for {stalled:.0f}s"
        return True, "ok"

    def _progressing(self) -> bool:
        """Gates the systemd watchdog ping: the loop beats and no probe schedule died."""
        return self.healthy()[0] and self.scheduler.alive()

    def _summary(self) -> str:
        severities = [i.severity for i in self.engine.book.open_incidents()]
        return summary_line(len(self._jobs), severities, self.config.severity.levels)

    def status(self) -> dict[str, Any]:
        return {**self.notifier.decorate(self.engine.status()),
                "remediations": self.remediator.status(), "lease": self.lease.status()}

    # -- reload ---------------------------------------------------------------------------
    def request_reload(self) -> None:
        asyncio.get_running_loop().create_task(self.reload(), name="reload")

    async def reload(self) -> bool:
        """Re-read the config file; keep the running config if the new one is invalid."""
        self.service.reloading()
        try:
            # The types this daemon was started with: new code needs a restart anyway.
            new = load_config(self.config.path, probes=self.probe_types, environ=self.environ)
        except ConfigError as exc:
            for problem in exc.problems:
                log.error("reload rejected: %s", problem)
            self.metrics.reload_ok.set(0)
            self.service.reloaded(ok=False)
            return False
        self._warn_restart_only(new)
        await self.scheduler.stop(self.config.watchdog.shutdown_grace)
        await close_jobs(self._jobs)
        SCRUBBER.register(new.secrets)
        self.config = new
        self.engine.reconfigure(new)
        await self.notifier.reconfigure(new)
        if self.listener is not None:
            self.listener.set_web(new.web)
        self._check_sandbox()
        self.remediator = self._remediator()
        self.scheduler = self._scheduler()
        self._start_jobs()
        self._loaded()
        log.info("config reloaded from %s: %d probes", new.path, len(self._jobs))
        self.service.reloaded(ok=True)
        return True

    def _warn_restart_only(self, new: Config) -> None:
        old = self.config.watchdog
        for key in ("listen", "state_dir", "blocking_workers", "lease"):
            if getattr(old, key) != getattr(new.watchdog, key):
                log.warning("watchdog.%s changed: it takes effect at the next restart", key)

    def _loaded(self) -> None:
        self.metrics.reload_ok.set(1)
        self.metrics.reload_ts.set(self.clock.time())


def run_daemon(path: Path, environ: Mapping[str, str] | None = None) -> int:
    config = load_config(path, environ=environ)
    return asyncio.run(Daemon(config, environ=environ).run())
