"""Grouping: an incident of a probe that another depends on is the root cause of the other's.

While a probe that another depends on (`depends_on`) has an open incident, the
dependent's incident is attached to it as a symptom: no page of its own, shown under the
root cause in /api/status, `incidents` and the post-mortem. The attachments are rows of
`incident_links` (store.py); this class only decides them.

A dependent is often detected first (an HTTP check sees `refused` at once, a database
probe fails only at its server-selection timeout), so its first page is held for as long
as its dependencies need to be detected: `hold_for`, by default the longest
`interval × fail_after + timeout` of what it depends on. A dependency that opens within
the hold adopts it (one page, under the root cause); when the hold ends first, the
dependent pages alone (followup.py).
"""

from __future__ import annotations

import logging

from watchdog.notification.store import NotifyStore
from watchdog.pipeline.incidents import Incident, IncidentBook
from watchdog.runtime.config import Config, ProbeSpec

log = logging.getLogger(__name__)
MAX_DEPTH = 32  # depends_on may chain; a bound guards against a bad cycle


class Grouping:
    def __init__(self, config: Config, db: NotifyStore, book: IncidentBook) -> None:
        self.config = config
        self.db = db
        self.book = book

    def is_symptom(self, incident_id: int) -> bool:
        return self.db.parent_of(incident_id) is not None

    def root(self, incident: Incident) -> Incident:
        for _ in range(MAX_DEPTH):
            parent_id = self.db.parent_of(incident.id)
            parent = self.book.get(parent_id) if parent_id is not None else None
            if parent is None or parent.status != "open":
                return incident
            incident = parent
        return incident

    def attach(self, incident: Incident, now: float) -> bool:
        """Attach a new incident to the open root cause of what it depends on, if any."""
        root = self._open_root_of_dependencies(incident.probe)
        if root is None:
            return False
        self.db.link(incident.id, root.id, incident.probe, now)
        log.info("incident %d (%s) attached to incident %d (%s): a symptom of it",
                 incident.id, incident.probe, root.id, root.probe)
        return True

    def adopt_dependents(self, incident: Incident, now: float) -> None:
        """Dependents that opened first (a faster schedule) become symptoms of this one."""
        for name, spec in self.config.probes.items():
            child = self._open_incident(name) if incident.probe in spec.common.depends_on \
                else None
            if child is not None and self.db.parent_of(child.id) is None:
                self.db.link(child.id, incident.id, child.probe, now)

    def release_children(self, incident: Incident, now: float) -> None:
        """Symptoms still open when their root resolves become incidents of their own.

        They are announced only if still failing a little later (see `settling`): a
        backend usually recovers one run after its database, and that is no news.
        """
        for row in self.db.children(incident.id):
            child = self.book.get(int(row["child_id"]))
            if child is not None and child.status == "open" and row["detached_at"] is None:
                self.db.detach(child.id, now)

    def settling(self, incident: Incident, now: float) -> bool:
        """Released from its root cause too recently to be announced on its own."""
        detached = self.db.detached_at(incident.id)
        spec = self.config.probes.get(incident.probe)
        grace = 2 * spec.common.interval * spec.common.recover_after if spec else 0.0
        return detached is not None and now - detached < grace

    def hold(self, probe: str) -> float:
        """How long `probe`'s first page waits for its dependencies to be detected."""
        spec = self.config.probes.get(probe)
        if spec is None or not spec.common.depends_on:
            return 0.0
        if spec.common.hold_for is not None:
            return spec.common.hold_for
        return max((detection_time(self.config.probes[name]) for name in spec.common.depends_on
                    if name in self.config.probes), default=0.0)

    def holding(self, incident: Incident, now: float) -> bool:
        """A dependent's page still waiting: its dependencies may not have been detected yet."""
        return not self.is_symptom(incident.id) and \
            now - incident.opened_at < self.hold(incident.probe)

    def attached(self, incident_id: int) -> list[str]:
        """The probes of the symptoms attached to an incident, ever."""
        return [str(r["probe"]) for r in self.db.children(incident_id)]

    def _open_incident(self, probe: str) -> Incident | None:
        incident_id = self.db.open_incident_id(probe)
        return self.book.get(incident_id) if incident_id is not None else None

    def _open_root_of_dependencies(self, probe: str) -> Incident | None:
        spec = self.config.probes.get(probe)
        for dependency in spec.common.depends_on if spec is not None else ():
            incident = self._open_incident(dependency)
            if incident is not None:
                return self.root(incident)
        return None


def detection_time(spec: ProbeSpec) -> float:
    """The longest a probe takes to open an incident once its target fails."""
    return spec.common.interval * spec.common.fail_after + spec.common.timeout
