"""The pipeline after acquisition: observation -> classifier -> incidents -> metrics, status.

`PipelineEngine.on_result` is called by the scheduler for every probe run; it is synchronous and
short (one SQLite transaction at most), so results are handled in the order they arrive.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from watchdog.common.errors import StateError
from watchdog.common.secrets import scrub
from watchdog.pipeline.classifier import HysteresisPolicy, Track, Transition, Verdict, classify
from watchdog.pipeline.events import EventLog
from watchdog.pipeline.incidents import Change, Incident, IncidentBook
from watchdog.pipeline.observation import Observation, Status
from watchdog.pipeline.scheduler import Job, RunInfo
from watchdog.runtime.config import Config, ProbeSpec
from watchdog.runtime.metrics import Metrics

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ResultEvent:
    """Delivered to every subscriber after each probe run has been classified and recorded.

    Later stages (remediation policy, notifications, evidence capture) subscribe here
    instead of adding code to the engine.
    """

    probe: str
    observation: Observation
    verdict: Verdict
    change: Change | None  # set when the run opened, updated or resolved an incident
    at: float  # wall-clock time
    # True when no probe ran: an escalation re-announces the last result so notifications
    # see the change; remediation must not take it as a new failure and act again.
    escalation: bool = False


Subscriber = Callable[[ResultEvent], None]
_SUCCESS = {Status.OK: 1.0, Status.FAILED: 0.0}  # probe_success; anything else is NaN
_ERRORS = frozenset({"probe_crashed", "probe_hung"})  # counted in probe_errors_total


@dataclass(frozen=True)
class LastRun:
    """The latest observation of one probe, as shown by /api/status."""

    observation: Observation
    at: float  # wall-clock time
    lateness: float
    changed_at: float  # wall-clock time the status last changed


def policy_for(spec: ProbeSpec, config: Config) -> HysteresisPolicy:
    return HysteresisPolicy(severity=spec.common.severity, fail_after=spec.common.fail_after,
                            recover_after=spec.common.recover_after, levels=config.severity)


class PipelineEngine:
    def __init__(self, config: Config, book: IncidentBook, metrics: Metrics,
                 wall: Callable[[], float]) -> None:
        self.book = book
        self.metrics = metrics
        self.wall: Callable[[], float] = wall  # wall-clock seconds
        self.tracks: dict[str, Track] = book.tracks()
        self.last: dict[str, LastRun] = {}
        self.config = config
        self.policies: dict[str, HysteresisPolicy] = {}
        self.subscribers: list[Subscriber] = []
        self.events = EventLog(book, metrics)
        self.reconfigure(config)

    def reconfigure(self, config: Config) -> None:
        """Adopt a (re)loaded config; incidents of removed probes are resolved."""
        removed = set(self.policies) - set(config.probes)
        self.config = config
        self.policies = {name: policy_for(spec, config) for name, spec in config.probes.items()}
        for incident in self.book.resolve_orphans(config.probes, self.wall(),
                                                  "probe removed from the config"):
            log.info("incident %d resolved: probe %s is no longer configured", incident.id,
                     incident.probe)
        for name in removed:
            self.tracks.pop(name, None)
            self.last.pop(name, None)
            self.metrics.forget_probe(name)
        self.refresh_open_gauge()

    def on_result(self, job: Job, obs: Observation, info: RunInfo) -> None:
        self._observe_metrics(job.name, obs, info)
        policy = self.policies.get(job.name)
        if policy is None:
            return  # a run that finished after its probe was removed by a reload
        now = self.wall()
        verdict = classify(policy, self.tracks.get(job.name, Track()), obs, now)
        spec = self.config.probes[job.name]
        try:
            change = self.book.record(job.name, verdict, obs, runbook=spec.common.runbook,
                                      hint=obs.hint or spec.common.hint, now=now)
        except StateError as exc:
            # Not persisted, so the track is not advanced either: the next run computes
            # the transition again instead of believing an incident exists that does not.
            log.error("result of probe %s not recorded: %s", job.name, exc)
            self._remember(job.name, obs, info, now)
            return
        self.tracks[job.name] = verdict.track
        self._remember(job.name, obs, info, now)
        self._record_events(job.name, obs, change, now)
        if change is not None:
            self._announce(change)
        self._publish(ResultEvent(job.name, obs, verdict, change, now))

    def _record_events(self, probe: str, obs: Observation, change: Change | None,
                       now: float) -> None:
        """Events the run reports (a deploy), and those an opening incident follows."""
        try:
            self.events.record(obs, now)
            if change is not None and change.transition is Transition.OPEN:
                self.events.on_open(change.incident)
        except StateError as exc:  # a timeline line lost, never the result itself
            log.error("events around a result of probe %s not recorded: %s", probe, exc)

    def escalate(self, probe: str, reason: str) -> Incident | None:
        """Raise the probe's open incident one level (remediation failed or quarantined)."""
        track = self.tracks.get(probe)
        if track is None or not track.failing or track.severity is None:
            return None
        severity = self.config.severity.raised(track.severity)
        change = self.book.escalate(probe, severity, reason, self.wall())
        if change is None:
            return None
        # The classifier keeps the worst severity while open, so this sticks.
        self.tracks[probe] = replace(track, severity=severity, escalated=True)
        self.book.save_track(probe, self.tracks[probe])
        log.error("incident %d escalated to %s: %s", change.incident.id, severity.upper(),
                  scrub(reason))
        self._announce(change)
        last = self.last.get(probe)
        if last is not None:
            verdict = Verdict(self.tracks[probe], change.transition)
            self._publish(ResultEvent(probe, last.observation, verdict, change, self.wall(),
                                      escalation=True))
        return change.incident

    def failing_probes(self) -> list[str]:
        return [name for name, track in self.tracks.items() if track.failing]

    def last_observation(self, probe: str) -> Observation | None:
        last = self.last.get(probe)
        return None if last is None else last.observation

    def _publish(self, event: ResultEvent) -> None:
        for subscriber in self.subscribers:
            try:
                subscriber(event)
            except Exception:
                # One broken subscriber must not stop the others or the probe's schedule.
                log.exception("subscriber %r failed on a result of probe %s", subscriber,
                              event.probe)

    def _observe_metrics(self, name: str, obs: Observation, info: RunInfo) -> None:
        self.metrics.lateness.observe(info.lateness)
        probes = self.metrics.probes  # plain numbers: no labels() lookup per run
        probes.run(name, obs.status.label, info.duration, _SUCCESS.get(obs.status, math.nan),
                   obs.cause in _ERRORS)
        probes.observe_values(name, obs.values)

    def _remember(self, name: str, obs: Observation, info: RunInfo, now: float) -> None:
        previous = self.last.get(name)
        same = previous is not None and previous.observation.status == obs.status
        changed_at = previous.changed_at if same and previous is not None else now
        self.last[name] = LastRun(obs, now, info.lateness, changed_at)

    def _announce(self, change: Change) -> None:
        incident = change.incident
        self.metrics.incident_transitions.labels(
            severity=incident.severity, transition=change.transition.value).inc()
        self.refresh_open_gauge()
        where = f" (runbook {incident.runbook})" if incident.runbook else ""
        if change.transition is Transition.RESOLVE:
            log.warning("incident %d resolved after %.0fs: %s %s", incident.id,
                        incident.duration or 0.0, incident.probe, incident.summary)
            return
        verb = "opened" if change.transition is Transition.OPEN else "updated"
        log.error("incident %d %s: %s %s %s: %s%s", incident.id, verb,
                  incident.severity.upper(), incident.probe, incident.cause,
                  incident.summary, where)

    def refresh_open_gauge(self) -> None:
        counts = dict.fromkeys(self.config.severity.levels, 0)
        for incident in self.book.open_incidents():
            counts[incident.severity] = counts.get(incident.severity, 0) + 1
        for severity, count in counts.items():
            self.metrics.incidents_open.labels(severity=severity).set(count)

    def status(self) -> dict[str, Any]:
        """The JSON document served at /api/status."""
        return {
            "probes": [self._probe_status(name, spec) for name, spec in self.config.probes.items()],
            "incidents": [incident_json(i) for i in self.book.open_incidents()],
        }

    def _probe_status(self, name: str, spec: ProbeSpec) -> dict[str, Any]:
        last = self.last.get(name)
        track = self.tracks.get(name, Track())
        entry: dict[str, Any] = {"probe": name, "type": spec.type, "runbook": spec.common.runbook,
                                 "interval": spec.common.interval, "failing": track.failing,
                                 "severity": track.severity if track.failing else None}
        if last is not None:
            entry.update(observation_json(last.observation), last_run=last.at,
                         last_change=last.changed_at, lateness=last.lateness)
        else:
            entry.update(status=None, cause=None, summary="not run yet")
        return entry


def observation_json(obs: Observation) -> dict[str, Any]:
    return {"status": obs.status.label, "cause": obs.cause, "summary": scrub(obs.summary),
            "hint": obs.hint, "latency": round(obs.latency, 6),
            "values": dict(obs.values), "details": _plain(obs.details)}


def incident_json(incident: Incident) -> dict[str, Any]:
    data = incident.to_dict()
    data["summary"] = scrub(incident.summary)
    return data


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, str):
        return scrub(value)
    return value
