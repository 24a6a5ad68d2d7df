"""What the storm rule counts: independent targets failing, not failing probes.

Several probes often watch one thing: the backend's health endpoint, its container
(crash loop), its log (a missing env var) and its reconnect rate all fail together after
one bad deploy. The storm rule (`watchdog.storm_failing_probes`) is for *independent*
targets failing at once (a shared cause: the network, the host, the disk), so the
symptoms of one target count once. Two failing probes are one target when, as data:

- they name the same container (a probe's `container` key, e.g. `mongodb` and
  `mongodb-container`), or an observation names it in `details["targets"]`;
- one depends on the other (`depends_on`: its incident is attached to the other's);
- one is the trigger of the action being decided and the other is about the action's
  target (the backend's health probe triggers the rollback of `nickapp-backend`).

Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from watchdog.pipeline.observation import Observation


@dataclass(frozen=True)
class Symptom:
    """One failing probe, with what it is about."""

    probe: str
    about: frozenset[str]  # container names (or other target names) it watches
    depends_on: tuple[str, ...] = ()


def about(params: object, obs: Observation | None) -> frozenset[str]:
    """The targets a probe's config and latest observation name."""
    named: set[str] = set()
    container = getattr(params, "container", None)
    if isinstance(container, str) and container:
        named.add(container)
    targets = obs.details.get("targets") if obs is not None else None
    if isinstance(targets, list | tuple):
        named.update(str(t) for t in targets)
    return frozenset(named)


def count_targets(symptoms: Iterable[Symptom], trigger: str, target: str) -> int:
    """How many independent targets the failing probes (`symptoms`) are about, the
    trigger probe counting as the action's `target`."""
    by_probe = {s.probe: s for s in symptoms}
    parent = {p: p for p in by_probe}

    def root(p: str) -> str:
        while parent[p] != p:
            parent[p] = parent[parent[p]]
            p = parent[p]
        return p

    def join(a: str, b: str) -> None:
        parent[root(a)] = root(b)

    owner: dict[str, str] = {}
    for s in by_probe.values():
        names = s.about | ({target} if s.probe == trigger else set())
        for name in names:
            join(s.probe, owner.setdefault(name, s.probe))
        for dep in s.depends_on:
            if dep in by_probe:
                join(s.probe, dep)
    return len({root(p) for p in by_probe})

