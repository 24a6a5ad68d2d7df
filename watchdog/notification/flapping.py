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
