"""Stage 4 of the pipeline, incidents: open / update / resolve, persisted with their timeline.

One open incident per probe. A verdict's track and the incident change it causes are
written in one transaction, so a crash never leaves an incident open that the classifier
forgot (or the reverse), and an incident open before a restart is the same one after it.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from watchdog.common.secrets import scrub
from watchdog.common.state import StateStore
from watchdog.pipeline.classifier import Track, Transition, Verdict
from watchdog.pipeline.observation import Observation


@dataclass(frozen=True)
class Incident:
    id: int
    probe: str
    severity: str
    status: str  # "open" | "resolved"
    cause: str
    summary: str
    runbook: str | None
    hint: str | None
    opened_at: float
    updated_at: float
    resolved_at: float | None

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Incident:
        return cls(**{f.name: row[f.name] for f in dataclasses.fields(cls)})

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @property
    def duration(self) -> float | None:
        # Timestamps are wall-clock: a clock set back mid-incident must not show "-3600s".
        return None if self.resolved_at is None else max(0.0, self.resolved_at - self.opened_at)


@dataclass(frozen=True)
class Change:
    """What `IncidentBook.record` did: the transition and the incident after it."""

    transition: Transition
    incident: Incident


def track_to_json(track: Track) -> dict[str, Any]:
    return dataclasses.asdict(track)


def track_from_json(data: dict[str, Any]) -> Track:
    known = {f.name for f in dataclasses.fields(Track)}
    values = {k: v for k, v in data.items() if k in known}
    values["reports"] = tuple((float(t), int(n)) for t, n in values.get("reports", ()))
    return Track(**values)


class IncidentBook:
    def __init__(self, store: StateStore) -> None:
        self.store = store

    def open_incidents(self) -> list[Incident]:
        rows = self.store.query("SELECT * FROM incidents WHERE status = 'open' ORDER BY id")
        return [Incident.from_row(r) for r in rows]

    def all_incidents(self, limit: int = 1000) -> list[Incident]:
        rows = self.store.query("SELECT * FROM incidents ORDER BY id DESC LIMIT ?", (limit,))
        return [Incident.from_row(r) for r in rows]

    def get(self, incident_id: int) -> Incident | None:
        rows = self.store.query("SELECT * FROM incidents WHERE id = ?", (incident_id,))
        return Incident.from_row(rows[0]) if rows else None

    def events(self, incident_id: int) -> list[dict[str, Any]]:
        rows = self.store.query(
            "SELECT at, kind, severity, cause, summary FROM incident_events "
            "WHERE incident_id = ? ORDER BY id", (incident_id,))
        return [dict(r) for r in rows]

    def tracks(self) -> dict[str, Track]:
        return {name: track_from_json(d) for name, d in self.store.load_tracks().items()}

    def record(self, probe: str, verdict: Verdict, obs: Observation, *, runbook: str | None,
               hint: str | None, now: float) -> Change | None:
        """Persist the verdict's track and apply its transition, atomically."""
        summary = scrub(obs.summary)
        with self.store.transaction() as db:
            db.execute("INSERT INTO tracks VALUES (?, ?) ON CONFLICT (probe) DO UPDATE "
                       "SET data = excluded.data", (probe, _dumps(verdict.track)))
            if verdict.transition is None:
                return None
            incident_id = self._apply(db, probe, verdict, obs.cause, summary, runbook, hint, now)
            db.execute("INSERT INTO incident_events (incident_id, at, kind, severity, cause, "
                       "summary) VALUES (?, ?, ?, ?, ?, ?)",
                       (incident_id, now, verdict.transition.value, verdict.track.severity,
                        obs.cause, summary))
            row = db.execute("SELECT * FROM incidents WHERE id = ?", (incident_id,)).fetchone()
        return Change(verdict.transition, Incident.from_row(row))

    def _apply(self, db: sqlite3.Connection, probe: str, verdict: Verdict, cause: str,
               summary: str, runbook: str | None, hint: str | None, now: float) -> int:
        current = db.execute("SELECT id FROM incidents WHERE probe = ? AND status = 'open'",
                             (probe,)).fetchone()
        if verdict.transition is Transition.OPEN and current is None:
            cur = db.execute(
                "INSERT INTO incidents (probe, severity, status, cause, summary, runbook, hint, "
                "opened_at, updated_at) VALUES (?, ?, 'open', ?, ?, ?, ?, ?, ?)",
                (probe, verdict.track.severity, cause, summary, runbook, hint, now, now))
            return int(cur.lastrowid or 0)
        if current is None:
            # A resolve or update with nothing open (state lost by hand): record it on a
            # zero-length incident rather than dropping the event.
            cur = db.execute(
                "INSERT INTO incidents (probe, severity, status, cause, summary, runbook, hint, "
                "opened_at, updated_at, resolved_at) "
                "VALUES (?, ?, 'resolved', ?, ?, ?, ?, ?, ?, ?)",
                (probe, verdict.track.severity or "unknown", cause, summary, runbook, hint,
                 now, now, now))
            return int(cur.lastrowid or 0)
        incident_id = int(current["id"])
        if verdict.transition is Transition.RESOLVE:
            db.execute("UPDATE incidents SET status = 'resolved', resolved_at = ?, updated_at = ? "
                       "WHERE id = ?", (now, now, incident_id))
        else:
            db.execute("UPDATE incidents SET severity = ?, cause = ?, summary = ?, hint = ?, "
                       "updated_at = ? WHERE id = ?",
                       (verdict.track.severity, cause, summary, hint, now, incident_id))
        return incident_id

    def escalate(self, probe: str, severity: str, reason: str, now: float) -> Change | None:
        """Raise the open incident of `probe` to `severity`, with the reason in its timeline."""
        with self.store.transaction() as db:
            row = db.execute("SELECT id FROM incidents WHERE probe = ? AND status = 'open'",
                             (probe,)).fetchone()
            if row is None:
                return None
            db.execute("UPDATE incidents SET severity = ?, updated_at = ? WHERE id = ?",
                       (severity, now, row["id"]))
            db.execute("INSERT INTO incident_events (incident_id, at, kind, severity, summary) "
                       "VALUES (?, ?, 'escalate', ?, ?)", (row["id"], now, severity, scrub(reason)))
            current = db.execute("SELECT * FROM incidents WHERE id = ?", (row["id"],)).fetchone()
        return Change(Transition.UPDATE, Incident.from_row(current))

    def note(self, incident_id: int, kind: str, at: float, summary: str) -> None:
        """Add an entry to an incident's timeline that changes nothing else (an event)."""
        with self.store.transaction() as db:
            db.execute("INSERT INTO incident_events (incident_id, at, kind, summary) "
                       "VALUES (?, ?, ?, ?)", (incident_id, at, kind, scrub(summary)))

    def resolve_orphans(self, configured: Iterable[str], now: float, why: str) -> list[Incident]:
        """Resolve open incidents whose probe is no longer configured."""
        names = set(configured)
        orphans = [i for i in self.open_incidents() if i.probe not in names]
        with self.store.transaction() as db:
            for incident in orphans:
                db.execute("UPDATE incidents SET status = 'resolved', resolved_at = ?, "
                           "updated_at = ? WHERE id = ?", (now, now, incident.id))
                db.execute("INSERT INTO incident_events (incident_id, at, kind, summary) "
                           "VALUES (?, ?, 'resolve', ?)", (incident.id, now, why))
                db.execute("DELETE FROM tracks WHERE probe = ?", (incident.probe,))
        return orphans


def _dumps(track: Track) -> str:
    return json.dumps(track_to_json(track))
