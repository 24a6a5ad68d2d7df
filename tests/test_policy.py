"""The remediation policy's gates, table-driven (pure: no I/O, no clock)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from watchdog.remediation.policy import GATE_NAMES, Situation, backoff_delay, decide
from watchdog.runtime.config_models import Backoff

CLEAR = Situation(now=10_000.0)


@pytest.mark.parametrize(("change", "gate"), [
    ({}, None),
    ({"kill_switch": True}, "kill_switch"),
    ({"quarantined": True}, "quarantined"),
    ({"in_flight": True}, "in_flight"),
    ({"failing_dependencies": ("mongo",)}, "dependency"),
    ({"in_maintenance": True}, "maintenance"),
    ({"in_maintenance": True, "act_in_maintenance": True}, None),
    ({"attempts_in_window": 3, "budget": 3}, "budget"),
    ({"attempts_in_window": 2, "budget": 3}, None),
    ({"last_attempt_at": 9_995.0, "consecutive_attempts": 1}, "backoff"),  # 10 s after 1
    ({"last_attempt_at": 9_990.0, "consecutive_attempts": 1}, None),
    ({"last_attempt_at": 9_985.0, "consecutive_attempts": 2}, "backoff"),  # 20 s after 2
    ({"target_started_at": 9_950.0, "start_period": 60.0}, "starting"),
    ({"target_started_at": 9_900.0, "start_period": 60.0}, None),
    ({"actions_in_window": 3, "max_actions": 3}, "blast_radius"),
    ({"failing_targets": 4, "storm_failing_probes": 4}, "storm"),
    ({"failing_targets": 3, "storm_failing_probes": 4}, None),
    # a safe action (evidence) is held only by the kill switch, quarantine, in-flight,
    # maintenance and budget gates
    ({"safe": True, "failing_targets": 9, "actions_in_window": 9,
      "failing_dependencies": ("mongo",), "target_started_at": 9_999.0,
      "last_attempt_at": 9_999.0, "consecutive_attempts": 5}, None),
    ({"safe": True, "kill_switch": True}, "kill_switch"),
    ({"safe": True, "attempts_in_window": 3}, "budget"),
    # order: the kill switch wins over everything, budget before backoff
    ({"kill_switch": True, "quarantined": True, "failing_targets": 9}, "kill_switch"),
    ({"attempts_in_window": 3, "last_attempt_at": 9_999.0, "consecutive_attempts": 3}, "budget"),
])
def test_gates(change: dict[str, Any], gate: str | None) -> None:
    decision = decide(replace(CLEAR, **change))
    assert (decision.act, decision.gate) == (gate is None, gate)
    assert decision.quarantine == (gate == "budget")
    if gate is not None:
        assert decision.why


@pytest.mark.parametrize(("attempts", "delay"), [(0, 0), (1, 10), (2, 20), (3, 40), (6, 300),
                                                 (30, 300)])
def test_backoff_doubles_up_to_its_max(attempts: int, delay: float) -> None:
    assert backoff_delay(Backoff(initial=10, max=300), attempts) == delay


def test_every_gate_is_named_once() -> None:
    assert len(GATE_NAMES) == len(set(GATE_NAMES)) == 10
