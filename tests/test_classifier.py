"""The classifier, table-driven: hysteresis, UNKNOWN, severity (escalation: test_escalation)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from watchdog.pipeline.classifier import (
    HysteresisPolicy,
    Track,
    Transition,
    classify,
    instant_severity,
)
from watchdog.pipeline.observation import Observation, Status
from watchdog.runtime.config_models import SeverityConfig

LEVELS = SeverityConfig()
O = Observation(Status.OK, "ok", "fine")
F = Observation(Status.FAILED, "refused", "down")
T = Observation(Status.FAILED, "timeout", "slow to answer")
U = Observation(Status.UNKNOWN, "probe_crashed", "could not tell")
SLOW = Observation(Status.FAILED, "slow", "slow", severity="sev3")
BURST = Observation(Status.FAILED, "log_match", "37 lines",
                    signals=frozenset(f"client 10.0.0.{i}" for i in range(37)))


def policy(fail_after: int = 2, recover_after: int = 1, severity: str = "sev2"
           ) -> HysteresisPolicy:
    return HysteresisPolicy(severity, fail_after, recover_after, LEVELS)


def run(pol: HysteresisPolicy, observations: list[Observation], step: float = 15.0
        ) -> list[tuple[str | None, str | None]]:
    """(transition, severity) after each observation, observations `step` seconds apart."""
    track, out = Track(), []
    for i, obs in enumerate(observations):
        verdict = classify(pol, track, obs, 1000.0 + i * step)
        track = verdict.track
        out.append((verdict.transition.value if verdict.transition else None, verdict.severity))
    return out


OPEN, UPD, RES = "open", "update", "resolve"


@pytest.mark.parametrize(("pol", "seq", "expected"), [
    # fail_after=2: one failure is not an incident
    (policy(), [F, O], [(None, None), (None, None)]),
    (policy(), [F, F], [(None, None), (OPEN, "sev2")]),
    # failures must be consecutive
    (policy(), [F, O, F, O], [(None, None)] * 4),
    # recover_after=2: one success does not resolve
    (policy(recover_after=2), [F, F, O, F, O, O],
     [(None, None), (OPEN, "sev2"), (None, "sev2"), (None, "sev2"), (None, "sev2"), (RES, None)]),
    # UNKNOWN neither opens, nor resets the failure count, nor resolves
    (policy(), [F, U, F], [(None, None), (None, None), (OPEN, "sev2")]),
    (policy(), [U, U, U], [(None, None)] * 3),
    (policy(), [F, F, U, U], [(None, None), (OPEN, "sev2"), (None, "sev2"), (None, "sev2")]),
    # a change of cause while open is an update, the same cause is not
    (policy(fail_after=1), [F, F, T], [(OPEN, "sev2"), (None, "sev2"), (UPD, "sev2")]),
    # an observation's own severity overrides the probe's
    (policy(fail_after=1, severity="sev1"), [SLOW], [(OPEN, "sev3")]),
    # the incident keeps the worst severity it reached
    (policy(fail_after=1, severity="sev1"), [F, SLOW], [(OPEN, "sev1"), (UPD, "sev1")]),
    (policy(fail_after=1, severity="sev1"), [SLOW, F], [(OPEN, "sev3"), (UPD, "sev1")]),
])
def test_hysteresis_and_severity(pol: HysteresisPolicy, seq: list[Observation],
                                 expected: list[tuple[str | None, str | None]]) -> None:
    assert run(pol, seq) == expected


def test_repeated_failures_never_escalate_in_the_classifier() -> None:
    # The runbook's rule counts distinct reports of an incident (notification/escalation.py).
    assert {sev for _, sev in run(policy(fail_after=1), [F] * 40)} == {"sev2"}
    assert run(policy(fail_after=1), [BURST]) == [(OPEN, "sev2")]


def test_an_escalated_track_keeps_its_raised_severity_until_it_resolves() -> None:
    track = classify(policy(fail_after=1), Track(), F, 1000.0).track
    raised = replace(track, severity="sev1", escalated=True)  # as PipelineEngine.escalate
    again = classify(policy(fail_after=1), raised, T, 1015.0)
    assert (again.transition, again.severity) == (Transition.UPDATE, "sev1")
    resolved = classify(policy(fail_after=1), again.track, O, 1030.0).track
    assert classify(policy(fail_after=1), resolved, F, 1045.0).severity == "sev2"


def test_classify_is_pure_the_input_track_is_unchanged() -> None:
    track = Track(failures=1)
    classify(policy(), track, F, 0.0)
    assert track == Track(failures=1)


@pytest.mark.parametrize(("obs", "severity"), [(O, None), (U, None), (F, "sev2"), (SLOW, "sev3")])
def test_instant_severity_for_check(obs: Observation, severity: str | None) -> None:
    assert instant_severity(policy(), obs) == severity
