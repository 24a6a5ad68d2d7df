"""Stage 3 of the pipeline, evaluation: a pure function from observation to verdict.

No I/O and no clock: the caller passes `now`. Hysteresis (`fail_after` failures open,
`recover_after` successes resolve) and the severity an open incident carries. The
runbook's escalation rule counts distinct reports across an incident's probes and user
reports, not one probe's repeated failures, so it is not here
(notification/escalation.py); an escalated track keeps its raised severity.
UNKNOWN neither counts as a failure nor as a recovery.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum

from watchdog.pipeline.observation import Observation, Status
from watchdog.runtime.config_models import SeverityConfig


class Transition(StrEnum):
    OPEN = "open"  # hysteresis crossed: an incident starts
    UPDATE = "update"  # the open incident's severity or cause changed
    RESOLVE = "resolve"  # enough successes: the incident ends


@dataclass(frozen=True)
class HysteresisPolicy:
    """How one probe's observations are judged (from its config)."""

    severity: str
    fail_after: int
    recover_after: int
    levels: SeverityConfig


@dataclass(frozen=True)
class Track:
    """What the classifier remembers about one probe between observations."""

    failures: int = 0  # consecutive FAILED observations
    successes: int = 0  # consecutive OK observations
    failing: bool = False  # an incident is open
    severity: str | None = None  # the open incident's severity
    cause: str | None = None  # the open incident's cause
    escalated: bool = False  # severity was raised (PipelineEngine.escalate): it stays raised


@dataclass(frozen=True)
class Verdict:
    track: Track
    transition: Transition | None

    @property
    def severity(self) -> str | None:
        return self.track.severity if self.track.failing else None


def classify(policy: HysteresisPolicy, track: Track, obs: Observation, now: float) -> Verdict:
    """The next track and the transition, if any, for `obs` observed at `now`."""
    if obs.status is Status.UNKNOWN:
        return Verdict(track, None)
    if obs.status is Status.OK:
        return _on_success(policy, track)
    return _on_failure(policy, track, obs)


def _on_success(policy: HysteresisPolicy, track: Track) -> Verdict:
    successes = track.successes + 1
    if track.failing and successes >= policy.recover_after:
        return Verdict(Track(successes=successes), Transition.RESOLVE)
    return Verdict(replace(track, failures=0, successes=successes), None)


def _on_failure(policy: HysteresisPolicy, track: Track, obs: Observation) -> Verdict:
    failures = track.failures + 1
    base = obs.severity if obs.severity in policy.levels.levels else policy.severity
    severity = policy.levels.raised(base) if track.escalated else base
    nxt = replace(track, failures=failures, successes=0)
    if not track.failing:
        if failures < policy.fail_after:
            return Verdict(nxt, None)
        opened = replace(nxt, failing=True, severity=severity, cause=obs.cause)
        return Verdict(opened, Transition.OPEN)
    # An open incident keeps the worst severity it reached: no de-escalation while open.
    severity = _worst(policy.levels, severity, track.severity)
    updated = replace(nxt, severity=severity, cause=obs.cause)
    changed = (severity, obs.cause) != (track.severity, track.cause)
    return Verdict(updated, Transition.UPDATE if changed else None)


def _worst(levels: SeverityConfig, a: str, b: str | None) -> str:
    if b is None or b not in levels.levels:
        return a
    return a if levels.rank(a) <= levels.rank(b) else b


def instant_severity(policy: HysteresisPolicy, obs: Observation) -> str | None:
    """The severity of a single observation with no history (the `check` command)."""
    if obs.status is not Status.FAILED:
        return None
    return obs.severity if obs.severity in policy.levels.levels else policy.severity
