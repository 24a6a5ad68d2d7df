"""The remediation policy: pure gates over a snapshot of the situation (no I/O, no clock).

Every action passes the same gates, in this order; the first that holds decides. The
thresholds are config (budget, backoff, start_period, max_actions, storm_failing_probes),
the gates themselves a table, so the order is visible and testable in one place.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

from watchdog.runtime.config_models import Backoff

_DEFAULT_BACKOFF = Backoff()


@dataclass(frozen=True)
class Situation:
    """Everything the gates look at, gathered by the remediator at decision time."""

    now: float
    kill_switch: bool = False  # the kill-switch file exists or remediation is disabled
    quarantined: bool = False
    in_flight: bool = False  # an action on this target is executing or verifying
    failing_dependencies: tuple[str, ...] = ()
    in_maintenance: bool = False
    act_in_maintenance: bool = False
    attempts_in_window: int = 0  # actions on this target inside the budget window
    budget: int = 3
    last_attempt_at: float | None = None
    consecutive_attempts: int = 0  # attempts since the last success (drives backoff)
    backoff: Backoff = _DEFAULT_BACKOFF
    target_started_at: float | None = None
    start_period: float = 60.0
    actions_in_window: int = 0  # all remediations, inside max_actions.within
    max_actions: int = 3
    failing_targets: int = 0  # independent targets failing (targets.py), not probes
    storm_failing_probes: int = 4
    # A safe action (evidence capture) changes nothing on the host: the gates that protect
    # against making an incident worse (dependency, starting, backoff, blast radius, storm)
    # do not hold it back, since storms are exactly when evidence matters.
    safe: bool = False


class Gate(NamedTuple):
    name: str  # the journaled reason, and a metric label value
    holds: Callable[[Situation], bool]
    why: Callable[[Situation], str]


def backoff_delay(backoff: Backoff, attempts: int) -> float:
    """initial, 2×initial, 4×initial, … capped at max; 0 before the first attempt."""
    if attempts <= 0:
        return 0.0
    return float(min(backoff.max, backoff.initial * 2 ** (attempts - 1)))


def _backing_off(s: Situation) -> bool:
    if s.safe or s.last_attempt_at is None:
        return False
    return s.now < s.last_attempt_at + backoff_delay(s.backoff, s.consecutive_attempts)


def _starting(s: Situation) -> bool:
    return not s.safe and s.target_started_at is not None \
        and s.now - s.target_started_at < s.start_period


GATES: tuple[Gate, ...] = (
    Gate("kill_switch", lambda s: s.kill_switch,
         lambda s: "the kill switch is on: no remediation acts"),
    Gate("quarantined", lambda s: s.quarantined,
         lambda s: "the target is quarantined until an operator runs `runbook-watchdog reset`"),
    Gate("in_flight", lambda s: s.in_flight,
         lambda s: "an action on this target is still executing or verifying"),
    Gate("dependency", lambda s: not s.safe and bool(s.failing_dependencies),
         lambda s: f"dependency failing: {', '.join(s.failing_dependencies)}; fix that first"),
    Gate("maintenance", lambda s: s.in_maintenance and not s.act_in_maintenance,
         lambda s: "inside a maintenance window"),
    Gate("budget", lambda s: s.attempts_in_window >= s.budget,
         lambda s: f"{s.attempts_in_window} attempts within the budget window (cap {s.budget})"),
    Gate("backoff", _backing_off,
         lambda s: f"backing off after {s.consecutive_attempts} attempts"),
    Gate("starting", _starting,
         lambda s: f"the target started less than {s.start_period:g}s ago"),
    Gate("blast_radius", lambda s: not s.safe and s.actions_in_window >= s.max_actions,
         lambda s: f"{s.actions_in_window} actions recently (cap {s.max_actions}): "
                   "alert, don't act"),
    Gate("storm", lambda s: not s.safe and s.failing_targets >= s.storm_failing_probes,
         lambda s: f"{s.failing_targets} independent targets failing at once: a shared "
                   "cause, alert, don't act"),
)
GATE_NAMES = tuple(g.name for g in GATES)


@dataclass(frozen=True)
class Decision:
    act: bool
    gate: str | None = None  # the gate that blocked, None when acting
    why: str = ""

    @property
    def quarantine(self) -> bool:
        """The budget gate tripping quarantines the target."""
        return self.gate == "budget"


def decide(situation: Situation) -> Decision:
    for gate in GATES:
        if gate.holds(situation):
            return Decision(False, gate.name, gate.why(situation))
    return Decision(True)
