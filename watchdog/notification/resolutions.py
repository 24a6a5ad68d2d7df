"""Operator resolutions: an incident closed by a person, for one the daemon cannot see end.

`runbook-watchdog resolve ID --reason TEXT` closes the incident in the state database at
once (its timeline says by whom and why, and the probe's classifier track is dropped) and
leaves a row here. The daemon applies the row on its next notification tick (every
`notify.check_every`), or on start if none was running: its in-memory track for the probe
starts afresh (a probe still failing opens a new incident after `fail_after`), and the
"resolved" message goes through the ordinary routing, silences and outbox. The command
never delivers itself: one process sends, so nothing is sent twice.
"""

from __future__ import annotations

from dataclasses import dataclass

from watchdog.common.secrets import scrub
from watchdog.common.state import StateStore
from watchdog.pipeline.incidents import Incident, IncidentBook

SCHEMA = """
CREATE TABLE IF NOT EXISTS operator_resolutions (
    incident_id INTEGER PRIMARY KEY, probe TEXT NOT NULL, at REAL NOT NULL,
    reason TEXT NOT NULL, applied_at REAL
);
"""


@dataclass(frozen=True)
class Resolution:
    incident_id: int
    probe: str
    reason: str


def resolve(store: StateStore, incident: Incident, reason: str, now: float) -> None:
    """Close `incident` (open) for an operator, journaled in its timeline."""
    store.ensure_schema(SCHEMA)
    why = scrub(f"resolved by an operator: {reason}")
    with store.transaction() as db:
        db.execute("UPDATE incidents SET status = 'resolved', resolved_at = ?, updated_at = ? "
                   "WHERE id = ?", (now, now, incident.id))
        db.execute("INSERT INTO incident_events (incident_id, at, kind, summary) "
                   "VALUES (?, ?, 'resolve', ?)", (incident.id, now, why))
        db.execute("DELETE FROM tracks WHERE probe = ?", (incident.probe,))
        db.execute("INSERT INTO operator_resolutions VALUES (?, ?, ?, ?, NULL)",
                   (incident.id, incident.probe, now, scrub(reason)))


def pending(store: StateStore) -> list[Resolution]:
    """Resolutions no daemon has applied yet, oldest first (SCHEMA ensured by the caller)."""
    rows = store.query("SELECT incident_id, probe, reason FROM operator_resolutions "
                       "WHERE applied_at IS NULL ORDER BY at")
    return [Resolution(int(r["incident_id"]), str(r["probe"]), str(r["reason"])) for r in rows]


def applied(store: StateStore, incident_id: int, now: float) -> None:
    with store.transaction() as db:
        db.execute("UPDATE operator_resolutions SET applied_at = ? WHERE incident_id = ?",
                   (now, incident_id))


def open_incident(book: IncidentBook, incident_id: int) -> Incident | str:
    """The open incident `incident_id`, or why it cannot be resolved."""
    incident = book.get(incident_id)
    if incident is None:
        return f"no incident #{incident_id}"
    if incident.status != "open":
        return f"incident #{incident_id} is already resolved"
    return incident
