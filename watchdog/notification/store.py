"""The notification stage's own tables: outbox, attachments, acknowledgements, silences.

Created through `StateStore.ensure_schema`, so the core schema does not grow. The outbox
is the durability guarantee: a message is a row before anyone tries to send it, and stays
`pending` until a channel accepted it, across restarts.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any

from watchdog.common.errors import StateError
from watchdog.common.state import StateStore
from watchdog.notification.messages import Message

SCHEMA = """
CREATE TABLE IF NOT EXISTS incident_links (
    child_id INTEGER PRIMARY KEY, parent_id INTEGER NOT NULL, probe TEXT NOT NULL,
    attached_at REAL NOT NULL, detached_at REAL
);
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT, channel TEXT NOT NULL, kind TEXT NOT NULL,
    incident_id INTEGER NOT NULL, message TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',  -- pending | sent | skipped | suppressed
    attempts INTEGER NOT NULL DEFAULT 0, created_at REAL NOT NULL, next_at REAL NOT NULL,
    done_at REAL, note TEXT
);
CREATE INDEX IF NOT EXISTS outbox_pending ON outbox (channel, status, id);
CREATE TABLE IF NOT EXISTS incident_acks (incident_id INTEGER PRIMARY KEY, at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS incident_notices (incident_id INTEGER PRIMARY KEY, at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS silences (
    id INTEGER PRIMARY KEY AUTOINCREMENT, probe TEXT, incident_id INTEGER,
    created_at REAL NOT NULL, until REAL NOT NULL, reason TEXT NOT NULL, removed_at REAL
);
"""


@dataclass(frozen=True)
class Queued:
    id: int
    channel: str
    message: Message
    attempts: int
    next_at: float


@dataclass(frozen=True)
class Silence:
    id: int
    probe: str | None
    incident_id: int | None
    created_at: float
    until: float
    reason: str

    def covers(self, probe: str, incident_ids: set[int]) -> bool:
        return self.probe == probe or self.incident_id in incident_ids

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "probe": self.probe, "incident": self.incident_id,
                "created_at": self.created_at, "until": self.until, "reason": self.reason}


class NotifyStore:
    def __init__(self, store: StateStore) -> None:
        self.store = store
        store.ensure_schema(SCHEMA)

    # -- outbox ---------------------------------------------------------------------------
    def enqueue(self, channel: str, message: Message, now: float, status: str = "pending",
                note: str | None = None) -> int:
        with self.store.transaction() as db:
            cur = db.execute(
                "INSERT INTO outbox (channel, kind, incident_id, message, status, created_at, "
                "next_at, done_at, note) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (channel, message.kind, message.incident_id, json.dumps(message.to_json()),
                 status, now, now, None if status == "pending" else now, note))
            return int(cur.lastrowid or 0)

    def head(self, channel: str) -> Queued | None:
        """The oldest pending message of `channel` (per-channel order is kept)."""
        rows = self.store.query("SELECT * FROM outbox WHERE channel = ? AND status = 'pending' "
                                "ORDER BY id LIMIT 1", (channel,))
        if not rows:
            return None
        row = rows[0]
        return Queued(row["id"], channel, Message.from_json(json.loads(row["message"])),
                      row["attempts"], row["next_at"])

    def has_pending(self, channel: str, incident_id: int, kind: str) -> bool:
        return bool(self.store.query(
            "SELECT 1 FROM outbox WHERE channel = ? AND incident_id = ? AND kind = ? "
            "AND status = 'pending' LIMIT 1", (channel, incident_id, kind)))

    def finish(self, item_id: int, status: str, now: float, note: str | None = None) -> None:
        with self.store.transaction() as db:
            db.execute("UPDATE outbox SET status = ?, done_at = ?, attempts = attempts + 1, "
                       "note = ? WHERE id = ?", (status, now, note, item_id))

    def postpone(self, item_id: int, next_at: float, note: str) -> None:
        with self.store.transaction() as db:
            db.execute("UPDATE outbox SET next_at = ?, attempts = attempts + 1, note = ? "
                       "WHERE id = ?", (next_at, note, item_id))

    def history(self, incident_ids: list[int]) -> list[dict[str, Any]]:
        marks = ",".join("?" * len(incident_ids)) or "NULL"
        rows = self.store.query(
            f"SELECT id, channel, kind, incident_id, status, created_at, done_at, note "  # noqa: S608
            f"FROM outbox WHERE incident_id IN ({marks}) ORDER BY id", tuple(incident_ids))
        return [dict(r) for r in rows]

    def last_sent(self, channel: str, incident_id: int) -> float | None:
        rows = self.store.query("SELECT MAX(done_at) AS at FROM outbox WHERE channel = ? AND "
                                "incident_id = ? AND status = 'sent'", (channel, incident_id))
        return rows[0]["at"] if rows else None

    def was_announced(self, incident_id: int) -> bool:
        """Was a started message queued for delivery (not suppressed) for this incident?"""
        return bool(self.store.query(
            "SELECT 1 FROM outbox WHERE incident_id = ? AND kind IN ('started', 'flapping') "
            "AND status != 'suppressed' LIMIT 1", (incident_id,)))

    # -- attachments (grouping) -----------------------------------------------------------
    def link(self, child: int, parent: int, probe: str, now: float) -> None:
        with self.store.transaction() as db:
            db.execute("INSERT INTO incident_links VALUES (?, ?, ?, ?, NULL) ON CONFLICT "
                       "(child_id) DO UPDATE SET parent_id = excluded.parent_id, "
                       "detached_at = NULL", (child, parent, probe, now))
            db.execute("INSERT INTO incident_events (incident_id, at, kind, summary) "
                       "VALUES (?, ?, 'attach', ?)",
                       (parent, now, f"{probe} (incident #{child})"))

    def detach(self, child: int, now: float) -> None:
        with self.store.transaction() as db:
            db.execute("UPDATE incident_links SET detached_at = ? WHERE child_id = ?",
                       (now, child))

    def detached_at(self, child: int) -> float | None:
        rows = self.store.query("SELECT detached_at FROM incident_links WHERE child_id = ?",
                                (child,))
        return float(rows[0]["detached_at"]) if rows and rows[0]["detached_at"] else None

    def retry_now(self, now: float) -> None:
        """After a restart, pending messages are tried at once rather than after their pause."""
        with self.store.transaction() as db:
            db.execute("UPDATE outbox SET next_at = ? WHERE status = 'pending' AND next_at > ?",
                       (now, now))

    def parent_of(self, child: int) -> int | None:
        rows = self.store.query("SELECT parent_id FROM incident_links WHERE child_id = ? "
                                "AND detached_at IS NULL", (child,))
        return int(rows[0]["parent_id"]) if rows else None

    def children(self, parent: int) -> list[sqlite3.Row]:
        return self.store.query("SELECT * FROM incident_links WHERE parent_id = ? "
                                "ORDER BY child_id", (parent,))

    # -- the engine's incidents, as this stage needs them ---------------------------------
    def open_incident_id(self, probe: str) -> int | None:
        rows = self.store.query("SELECT id FROM incidents WHERE probe = ? AND status = 'open'",
                                (probe,))
        return int(rows[0]["id"]) if rows else None

    def latest_incident_id(self, probe: str) -> int | None:
        rows = self.store.query(
            "SELECT id FROM incidents WHERE probe = ? ORDER BY id DESC LIMIT 1", (probe,))
        return int(rows[0]["id"]) if rows else None

    def resolved_without_message(self) -> list[int]:
        """Announced incidents resolved by a process killed before it queued the message."""
        rows = self.store.query(
            "SELECT i.id FROM incidents i JOIN incident_notices n ON n.incident_id = i.id "
            "WHERE i.status = 'resolved' AND NOT EXISTS (SELECT 1 FROM outbox o WHERE "
            "o.incident_id = i.id AND o.kind IN ('resolved', 'flapping')) ORDER BY i.id")
        return [int(row["id"]) for row in rows]

    # -- acknowledgements and notices -----------------------------------------------------
    def acknowledged(self, incident_id: int) -> bool:
        return bool(self.store.query("SELECT 1 FROM incident_acks WHERE incident_id = ?",
                                     (incident_id,)))

    def last_notice(self, incident_id: int) -> float | None:
        rows = self.store.query("SELECT at FROM incident_notices WHERE incident_id = ?",
                                (incident_id,))
        return float(rows[0]["at"]) if rows else None

    def noticed(self, incident_id: int, now: float) -> None:
        with self.store.transaction() as db:
            db.execute("INSERT INTO incident_notices VALUES (?, ?) ON CONFLICT (incident_id) "
                       "DO UPDATE SET at = excluded.at", (incident_id, now))

    # -- silences -------------------------------------------------------------------------
    def active_silences(self, now: float) -> list[Silence]:
        rows = self.store.query("SELECT * FROM silences WHERE removed_at IS NULL AND until > ? "
                                "ORDER BY id", (now,))
        return [_silence(r) for r in rows]


def _silence(row: sqlite3.Row) -> Silence:
    return Silence(row["id"], row["probe"], row["incident_id"], row["created_at"], row["until"],
                   row["reason"])


# -- operator commands (the CLI writes these while the daemon runs; SQLite WAL allows it) --
def acknowledge(store: StateStore, incident_id: int, now: float) -> bool:
    """Record an acknowledgement; False if there is no such incident."""
    NotifyStore(store)
    if not store.query("SELECT 1 FROM incidents WHERE id = ?", (incident_id,)):
        return False
    with store.transaction() as db:
        db.execute("INSERT OR IGNORE INTO incident_acks VALUES (?, ?)", (incident_id, now))
        db.execute("INSERT INTO incident_events (incident_id, at, kind, summary) "
                   "VALUES (?, ?, 'ack', 'acknowledged by an operator')", (incident_id, now))
    return True


def add_silence(store: StateStore, *, probe: str | None, incident_id: int | None,
                until: float, reason: str, now: float) -> int:
    NotifyStore(store)
    with store.transaction() as db:
        cur = db.execute("INSERT INTO silences (probe, incident_id, created_at, until, reason) "
                         "VALUES (?, ?, ?, ?, ?)", (probe, incident_id, now, until, reason))
        return int(cur.lastrowid or 0)


def remove_silence(store: StateStore, silence_id: int, now: float) -> bool:
    NotifyStore(store)
    with store.transaction() as db:
        cur = db.execute("UPDATE silences SET removed_at = ? WHERE id = ? AND removed_at IS NULL",
                         (now, silence_id))
        return cur.rowcount > 0


def parents(store: StateStore, *, history: bool = False) -> dict[int, int]:
    """child incident id -> the incident it is attached to (empty before any grouping).

    With `history`, also symptoms released when their root resolved first.
    """
    where = "" if history else " WHERE detached_at IS NULL"
    try:
        rows = store.query(f"SELECT child_id, parent_id FROM incident_links{where}")  # noqa: S608
    except StateError:
        return {}  # a read-only view of a database the notification stage never touched
    return {int(r["child_id"]): int(r["parent_id"]) for r in rows}
