"""The classifier, table-driven: hysteresis, escalation, UNKNOWN, severity."""

from __future__ import annotations

import pytest

from watchdog.pipeline.classifier import HysteresisPolicy, Track, classify, instant_severity
from watchdog.pipeline.observation import Observation, Status
from watchdog.runtime.config_models import EscalateRule, SeverityConfig

LEVELS = SeverityConfig()
O = Observation(Status.OK, "ok", "fine")
F = Observation(Status.FAILED, "refused", "down")
T = Observation(Status.FAILED, "timeout", "slow to answer")
U = Observation(Status.UNKNOWN, "probe_crashed", "could not tell")
SLOW = Observation(Status.FAILED, "slow", "slow", severity="sev3")
BURST = Observation(Status.FAILED, "log_match", "37 lines", reports=37)


def policy(fail_after: int = 2, recover_after: int = 1, severity: str = "sev2",
           escalate: EscalateRule | None = None) -> HysteresisPolicy:
    return HysteresisPolicy(severity, fail_after, recover_after, escalate, LEVELS)


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


RULE = EscalateRule(reports=10, within=300)


def test_more_than_ten_reports_within_five_minutes_escalate_one_level() -> None:
    # 15 s apart: the 11th failure is the first with more than 10 inside the window.
    out = run(policy(fail_after=1, escalate=RULE), [F] * 12)
    assert out[0] == (OPEN, "sev2")
    assert out[9] == (None, "sev2")
    assert out[10] == (UPD, "sev1")
    assert out[11] == (None, "sev1")


def test_reports_outside_the_window_do_not_escalate() -> None:
    # 31 s apart: never more than 10 within 300 s.
    out = run(policy(fail_after=1, escalate=RULE), [F] * 30, step=31.0)
    assert {sev for _, sev in out} == {"sev2"}


def test_one_observation_standing_for_many_reports_escalates_at_once() -> None:
    assert run(policy(fail_after=1, escalate=RULE), [BURST]) == [(OPEN, "sev1")]


def test_escalation_stops_at_the_most_severe_level() -> None:
    assert run(policy(fail_after=1, severity="sev1", escalate=RULE), [BURST]) == [(OPEN, "sev1")]


def test_no_rule_no_escalation() -> None:
    assert run(policy(fail_after=1), [BURST]) == [(OPEN, "sev2")]


def test_resolution_clears_escalation_for_the_next_incident() -> None:
    out = run(policy(fail_after=1, escalate=RULE), [BURST, O, F], step=400)
    assert out == [(OPEN, "sev1"), (RES, None), (OPEN, "sev2")]


def test_classify_is_pure_the_input_track_is_unchanged() -> None:
    track = Track(failures=1)
    classify(policy(), track, F, 0.0)
    assert track == Track(failures=1)


@pytest.mark.parametrize(("obs", "severity"), [(O, None), (U, None), (F, "sev2"), (SLOW, "sev3")])
def test_instant_severity_for_check(obs: Observation, severity: str | None) -> None:
    assert instant_severity(policy(), obs) == severity
