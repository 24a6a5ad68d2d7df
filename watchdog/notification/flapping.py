"""Flapping, a pure rule: too many state changes in a window hold a probe's notifications.

A probe is flapping when more than `changes` opens and resolves happened within `within`;
it settles when a whole `within` passes with at most one change. Notifications are held
to one ("flapping") while it flaps, and one more ("settled") when it stops.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from watchdog.notification.models import FlappingConfig


@dataclass(frozen=True)
class Flap:
    changes: tuple[float, ...] = ()  # times of state changes within the window
    flapping: bool = False


def on_change(flap: Flap, rule: FlappingConfig, now: float) -> Flap:
    """Record a state change at `now`."""
    changes = (*_recent(flap.changes, rule, now), now)
    return Flap(changes, flap.flapping or len(changes) > rule.changes)


def settled(flap: Flap, rule: FlappingConfig, now: float) -> Flap:
    """Drop old changes; a flapping probe settles once at most one change is left."""
    changes = _recent(flap.changes, rule, now)
    return replace(flap, changes=changes, flapping=flap.flapping and len(changes) > 1)


def _recent(changes: tuple[float, ...], rule: FlappingConfig, now: float) -> tuple[float, ...]:
    return tuple(t for t in changes if t > now - rule.within)


class FlapTracker:
    """Each probe's `Flap`, kept across incidents and reloads for the life of the process."""

    def __init__(self) -> None:
        self.flaps: dict[str, Flap] = {}

    def flapping(self, probe: str) -> bool:
        return self.flaps.get(probe, Flap()).flapping

    def record(self, probe: str, rule: FlappingConfig, now: float) -> Flap | None:
        """Record an open or resolve; the new state if the probe just started flapping."""
        before = self.flaps.get(probe, Flap())
        after = self.flaps[probe] = on_change(before, rule, now)
        return after if after.flapping and not before.flapping else None

    def settle(self, rule: FlappingConfig | None, now: float) -> list[str]:
        """The probes that just stopped flapping (all of them once the rule is removed)."""
        stopped = []
        for probe, flap in list(self.flaps.items()):
            after = self.flaps[probe] = settled(flap, rule, now) if rule else Flap()
            if flap.flapping and not after.flapping:
                stopped.append(probe)
        return stopped
