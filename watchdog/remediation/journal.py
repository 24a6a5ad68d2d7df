"""The remediation ledger and journal: attempts, quarantine, resets, and every decision.

Attempts are written *before* an action executes (state `executing`), so a watchdog killed
mid-action finds the row on start and verifies instead of acting twice. Every decision
(acted, would act, skipped and why, refused, succeeded, failed, quarantined, reset) goes to
the `remediation_journal` table and, as one JSON line, to the audit file.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from watchdog.common.secrets import scrub
from watchdog.common.state import StateStore

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS remediation_actions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    remediation TEXT NOT NULL,
    target TEXT NOT NULL,
    mode TEXT NOT NULL,
    probe TEXT,
    cause TEXT,
    incident_id INTEGER,
    state TEXT NOT NULL,  -- executing, verifying, succeeded, failed, would_act
    plan TEXT NOT NULL,
    undo TEXT,
    started_at REAL NOT NULL,
    finished_at REAL,
    outcome TEXT
);
CREATE INDEX IF NOT EXISTS actions_by_target ON remediation_actions (target, started_at);
CREATE UNIQUE INDEX IF NOT EXISTS one_action_in_flight_per_target
    ON remediation_actions (target) WHERE state IN ('executing', 'verifying');
CREATE TABLE IF NOT EXISTS remediation_quarantine (
    target TEXT PRIMARY KEY, remediation TEXT NOT NULL, since REAL NOT NULL, reason TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS remediation_resets (target TEXT PRIMARY KEY, at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS remediation_journal (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at REAL NOT NULL,
    remediation TEXT NOT NULL,
    target TEXT NOT NULL,
    mode TEXT NOT NULL,
    decision TEXT NOT NULL,
    reason TEXT NOT NULL,
    probe TEXT,
    incident_id INTEGER,
    action_id INTEGER,
    detail TEXT
);
"""
COUNTED = ("executing", "verifying", "succeeded", "failed")


@dataclass(frozen=True)
class Entry:
    """One journal line."""

    at: float
    remediation: str
    target: str
    mode: str  # auto, dry-run, operator
    decision: str  # acted, would_act, skipped, refused, succeeded, failed, verify_failed, ...
    reason: str
    probe: str | None = None
    incident_id: int | None = None
    action_id: int | None = None
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ActionRow:
    id: int
    remediation: str
    target: str
    mode: str
    probe: str | None
    incident_id: int | None
    state: str
    plan: dict[str, Any]
    started_at: float


class Ledger:
    def __init__(self, store: StateStore, audit_file: Path | None) -> None:
        self.store = store
        self.audit_file = audit_file
        store.ensure_schema(SCHEMA)

    # -- journal ---------------------------------------------------------------------------
    def journal(self, entry: Entry) -> None:
        entry = _scrubbed(entry)
        with self.store.transaction() as db:
            db.execute(
                "INSERT INTO remediation_journal (at, remediation, target, mode, decision, "
                "reason, probe, incident_id, action_id, detail) VALUES (?,?,?,?,?,?,?,?,?,?)",
                (entry.at, entry.remediation, entry.target, entry.mode, entry.decision,
                 entry.reason, entry.probe, entry.incident_id, entry.action_id,
                 json.dumps(entry.detail, default=str)))
        self._audit(entry)
        log.info("remediation %s on %s: %s (%s)", entry.remediation, entry.target,
                 entry.decision, entry.reason)

    def _audit(self, entry: Entry) -> None:
        if self.audit_file is None:
            return
        line = json.dumps(asdict(entry), default=str, ensure_ascii=False) + "\n"
        try:
            fd = os.open(self.audit_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, line.encode())
            finally:
                os.close(fd)
        except OSError as exc:
            # The SQLite journal still has the entry; a full disk must not stop decisions.
            log.error("audit file %s not written: %s", self.audit_file, exc.strerror)

    def entries(self, remediation: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
        where, args = ("WHERE remediation = ?", (remediation,)) if remediation else ("", ())
        rows = self.store.query(f"SELECT * FROM remediation_journal {where} "  # noqa: S608
                                "ORDER BY id DESC LIMIT ?", (*args, limit))
        return [dict(r) for r in reversed(rows)]

    # -- attempts --------------------------------------------------------------------------
    def begin(self, remediation: str, target: str, mode: str, probe: str | None,
              incident_id: int | None, plan: dict[str, Any], now: float,
              state: str = "executing") -> int | None:
        """Record an attempt before acting; None if one is already in flight on the target."""
        with self.store.transaction() as db:
            busy = db.execute("SELECT 1 FROM remediation_actions WHERE target = ? AND state IN "
                              "('executing', 'verifying')", (target,)).fetchone()
            if busy is not None and state != "would_act":
                return None
            cur = db.execute(
                "INSERT INTO remediation_actions (remediation, target, mode, probe, incident_id,"
                " state, plan, started_at) VALUES (?,?,?,?,?,?,?,?)",
                (remediation, target, mode, probe, incident_id, state, json.dumps(plan), now))
            return int(cur.lastrowid or 0)

    def mark(self, action_id: int, state: str, now: float, outcome: str = "",
             undo: dict[str, Any] | None = None) -> None:
        final = state in ("succeeded", "failed")
        with self.store.transaction() as db:
            db.execute("UPDATE remediation_actions SET state = ?, outcome = ?, "
                       "finished_at = CASE WHEN ? THEN ? ELSE finished_at END, "
                       "undo = COALESCE(?, undo) WHERE id = ?",
                       (state, scrub(outcome), final, now,
                        None if undo is None else json.dumps(undo), action_id))

    def action(self, action_id: int) -> ActionRow | None:
        rows = self.store.query("SELECT * FROM remediation_actions WHERE id = ?", (action_id,))
        return _action(rows[0]) if rows else None

    def undone(self, action_id: int) -> dict[str, Any] | None:
        """The journal entry of a completed undo of action `action_id`, if there is one."""
        rows = self.store.query("SELECT * FROM remediation_journal WHERE action_id = ? AND "
                                "decision = 'undone' ORDER BY id DESC LIMIT 1", (action_id,))
        return dict(rows[0]) if rows else None

    def unfinished(self) -> list[ActionRow]:
        rows = self.store.query("SELECT * FROM remediation_actions WHERE state IN "
                                "('executing', 'verifying') ORDER BY id")
        return [_action(r) for r in rows]

    def in_flight(self, target: str) -> bool:
        return bool(self.store.query("SELECT 1 FROM remediation_actions WHERE target = ? AND "
                                     "state IN ('executing', 'verifying')", (target,)))

    def attempts(self, target: str, since: float, dry_run: bool) -> list[dict[str, Any]]:
        """Attempts on `target` since `since` (and since its last reset), oldest first."""
        states = ("would_act",) if dry_run else COUNTED
        since = max(since, self.reset_at(target))
        marks = ",".join("?" * len(states))
        rows = self.store.query(
            f"SELECT state, started_at FROM remediation_actions WHERE target = ? AND "  # noqa: S608
            f"started_at >= ? AND state IN ({marks}) ORDER BY id", (target, since, *states))
        return [dict(r) for r in rows]

    def actions_since(self, since: float, dry_run: bool, exclude: tuple[str, ...] = ()) -> int:
        """Attempts by every remediation since `since`, but those named in `exclude`."""
        states = ("would_act",) if dry_run else COUNTED
        marks, skip = ",".join("?" * len(states)), ",".join("?" * len(exclude))
        rows = self.store.query(
            f"SELECT COUNT(*) AS n FROM remediation_actions WHERE started_at >= ? "  # noqa: S608
            f"AND state IN ({marks}) AND remediation NOT IN ({skip})",
            (since, *states, *exclude))
        return int(rows[0]["n"])

    def incident_targets(self, target: str, since: float) -> list[str]:
        """The per-incident keys (`TARGET#incident-N`) of `target` acted on since `since`."""
        prefix = f"{target}#incident-"
        rows = self.store.query("SELECT DISTINCT target FROM remediation_actions WHERE "
                                "substr(target, 1, ?) = ? AND started_at >= ?",
                                (len(prefix), prefix, since))
        return [str(r["target"]) for r in rows]

    def last_outcome(self, remediation: str) -> dict[str, Any] | None:
        rows = self.store.query("SELECT decision, reason, at, action_id FROM remediation_journal "
                                "WHERE remediation = ? ORDER BY id DESC LIMIT 1", (remediation,))
        return dict(rows[0]) if rows else None

    # -- quarantine ------------------------------------------------------------------------
    def quarantine(self, target: str, remediation: str, reason: str, now: float) -> bool:
        """Quarantine a target; False if it already was."""
        with self.store.transaction() as db:
            cur = db.execute("INSERT OR IGNORE INTO remediation_quarantine VALUES (?,?,?,?)",
                             (target, remediation, now, reason))
            return cur.rowcount == 1

    def quarantined(self) -> dict[str, dict[str, Any]]:
        return {r["target"]: dict(r) for r in self.store.query(
            "SELECT * FROM remediation_quarantine")}

    def is_quarantined(self, target: str) -> bool:
        return bool(self.store.query("SELECT 1 FROM remediation_quarantine WHERE target = ?",
                                     (target,)))

    def reset(self, target: str, now: float) -> bool:
        """Lift a quarantine and refill the budget; True if the target was quarantined."""
        with self.store.transaction() as db:
            cur = db.execute("DELETE FROM remediation_quarantine WHERE target = ?", (target,))
            db.execute("INSERT INTO remediation_resets VALUES (?, ?) ON CONFLICT (target) "
                       "DO UPDATE SET at = excluded.at", (target, now))
            return cur.rowcount == 1

    def reset_at(self, target: str) -> float:
        rows = self.store.query("SELECT at FROM remediation_resets WHERE target = ?", (target,))
        return float(rows[0]["at"]) if rows else 0.0


def _scrubbed(entry: Entry) -> Entry:
    detail = json.loads(scrub(json.dumps(entry.detail, default=str)))
    return Entry(**{**asdict(entry), "reason": scrub(entry.reason), "detail": detail})


def _action(row: Any) -> ActionRow:
    return ActionRow(id=row["id"], remediation=row["remediation"], target=row["target"],
                     mode=row["mode"], probe=row["probe"], incident_id=row["incident_id"],
                     state=row["state"], plan=json.loads(row["plan"]),
                     started_at=row["started_at"])
