"""Escalation: the runbook's "more than 10 reports inside 5 minutes", counting distinct reports.

A report is a distinct signal attached to an incident, counted once, when first seen:

- each probe whose incident it is, or whose incident is attached to it (grouping.py);
- each distinct thing a probe's finding names (`Observation.signals`: a client of the
  access-log probe, an error of the logs probe, an issue of the Sentry probe);
- each user report (reports.py).

Repeated cycles of one unchanged finding add nothing, so the count does not depend on
probe intervals. When more than `reports` signals were first seen within `within`, the
root incident is raised one level, once (`PipelineEngine.escalate` for a probe's
incident, so its track keeps the raised severity). The rule is the root probe's
`escalate` (or the global `severity.escalate`); `null`/`false` disable it. Signals live
next to grouping because the group (a root and its attached symptoms) is what they count.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

from watchdog.common.state import StateStore
from watchdog.notification.grouping import Grouping
from watchdog.notification.messages import age
from watchdog.notification.store import NotifyStore
from watchdog.pipeline.engine import PipelineEngine, ResultEvent
from watchdog.pipeline.incidents import Incident
from watchdog.runtime.config import Config
from watchdog.runtime.config_models import EscalateRule

log = logging.getLogger(__name__)
SCHEMA = """
CREATE TABLE IF NOT EXISTS incident_signals (
    incident_id INTEGER NOT NULL, signal TEXT NOT NULL, first_seen REAL NOT NULL,
    PRIMARY KEY (incident_id, signal)
);
CREATE TABLE IF NOT EXISTS incident_escalations (
    incident_id INTEGER PRIMARY KEY, at REAL NOT NULL, signals INTEGER NOT NULL
);
"""


def signals_of(event: ResultEvent) -> list[str]:
    """The signals one probe run attaches to its incident: the probe, and what it names."""
    probe = event.probe
    return [f"probe {probe}", *(f"{probe}: {s}" for s in sorted(event.observation.signals))]


class Escalation:
    def __init__(self, config: Config, store: StateStore, db: NotifyStore,
                 engine: PipelineEngine, grouping: Grouping,
                 updated: Callable[[Incident, float], None]) -> None:
        self.config = config
        self.store = store
        self.db = db
        self.engine = engine
        self.grouping = grouping
        self.updated = updated  # announces a change of an incident no probe observes
        store.ensure_schema(SCHEMA)

    def observe(self, event: ResultEvent) -> None:
        """After a probe run: its signals, while its incident is open."""
        if event.escalation or not event.verdict.track.failing:
            return
        incident_id = self.db.open_incident_id(event.probe)
        if incident_id is not None:
            self.note(incident_id, signals_of(event), event.at)

    def note(self, incident_id: int, signals: Iterable[str], now: float) -> None:
        """Attach signals (those already attached keep their first sighting); then judge."""
        with self.store.transaction() as db:
            db.executemany("INSERT OR IGNORE INTO incident_signals VALUES (?, ?, ?)",
                           [(incident_id, signal, now) for signal in signals])
        incident = self.engine.book.get(incident_id)
        if incident is not None and incident.status == "open":
            self.judge(self.grouping.root(incident), now)

    def judge(self, root: Incident, now: float) -> None:
        rule = self._rule(root.probe)
        if rule is None or self._escalated(root.id):
            return
        count = self.count(root, now - rule.within)
        if count <= rule.reports:
            return
        with self.store.transaction() as db:
            db.execute("INSERT OR IGNORE INTO incident_escalations VALUES (?, ?, ?)",
                       (root.id, now, count))
        self._raise(root, f"{count} distinct reports within {age(rule.within)} (more than "
                          f"{rule.reports}: runbook §1)", now)

    def count(self, root: Incident, since: float) -> int:
        """Distinct signals of the root and its attached symptoms first seen after `since`."""
        group = [root.id, *(int(r["child_id"]) for r in self.db.children(root.id)
                            if r["detached_at"] is None)]
        marks = ",".join("?" * len(group))
        rows = self.store.query(
            f"SELECT COUNT(DISTINCT signal) AS n FROM incident_signals "  # noqa: S608
            f"WHERE incident_id IN ({marks}) AND first_seen > ?", (*group, since))
        return int(rows[0]["n"])

    def _rule(self, probe: str) -> EscalateRule | None:
        spec = self.config.probes.get(probe)
        default = self.config.severity.escalate
        return spec.escalation(default) if spec is not None else default

    def _escalated(self, incident_id: int) -> bool:
        return bool(self.store.query("SELECT 1 FROM incident_escalations WHERE incident_id = ?",
                                     (incident_id,)))

    def _raise(self, root: Incident, reason: str, now: float) -> None:
        track = self.engine.tracks.get(root.probe)
        if track is not None and track.failing:
            self.engine.escalate(root.probe, reason)  # its event announces the update
            return
        change = self.engine.book.escalate(root.probe, self.config.severity.raised(root.severity),
                                           reason, now)
        if change is not None:
            log.error("incident %d escalated to %s: %s", root.id,
                      change.incident.severity.upper(), reason)
            self.updated(change.incident, now)
