"""Persistence: incidents, their timelines, classifier tracks and plugin data in SQLite.

One file, `state.db` in the state directory (0700), created 0600, WAL journal so readers
(`runbook-watchdog incidents`) never block the daemon. Plugins keep small JSON values in
a namespaced key-value table (deploy history, log offsets).
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from watchdog.errors import StateError

SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS incidents (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    probe TEXT NOT NULL,
    severity TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('open', 'resolved')),
    cause TEXT NOT NULL,
    summary TEXT NOT NULL,
    runbook TEXT,
    hint TEXT,
    opened_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    resolved_at REAL
);
CREATE UNIQUE INDEX IF NOT EXISTS one_open_per_probe ON incidents (probe) WHERE status = 'open';
CREATE TABLE IF NOT EXISTS incident_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    incident_id INTEGER NOT NULL REFERENCES incidents (id),
    at REAL NOT NULL,
    kind TEXT NOT NULL,
    severity TEXT,
    cause TEXT,
    summary TEXT
);
CREATE TABLE IF NOT EXISTS tracks (probe TEXT PRIMARY KEY, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS kv (
    ns TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, updated_at REAL NOT NULL,
    PRIMARY KEY (ns, key)
);
"""


class StateStore:
    """A thread-safe handle on the state database."""

    def __init__(self, path: Path | str, *, readonly: bool = False) -> None:
        self.path = str(path)
        self._lock = threading.RLock()
        try:
            self._db = self._connect(readonly)
        except sqlite3.Error as exc:
            raise StateError(f"cannot open state database {self.path}: {exc}") from exc

    @classmethod
    def in_state_dir(cls, state_dir: Path) -> StateStore:
        """Open `state_dir/state.db`, creating the directory 0700 and the file 0600."""
        try:
            state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            db = state_dir / "state.db"
            if not db.exists():
                os.close(os.open(db, os.O_CREAT | os.O_WRONLY, 0o600))
        except OSError as exc:
            raise StateError(f"cannot create state in {state_dir}: {exc.strerror}") from exc
        return cls(db)

    def _connect(self, readonly: bool) -> sqlite3.Connection:
        if readonly:
            db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, check_same_thread=False)
            db.row_factory = sqlite3.Row
            return db
        db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        db.row_factory = sqlite3.Row
        if self.path != ":memory:":
            db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("PRAGMA busy_timeout=2000")
        db.executescript(_SCHEMA)
        db.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (SCHEMA_VERSION,))
        return db

    def ensure_schema(self, ddl: str) -> None:
        """Create a module's own tables (idempotent DDL: CREATE ... IF NOT EXISTS).

        Stages beyond the core (remediation, notifications) own their tables this way
        instead of growing the core schema.
        """
        with self._lock:
            try:
                self._db.executescript(ddl)
            except sqlite3.Error as exc:
                raise StateError(f"state database {self.path}: {exc}") from exc

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One atomic write; a crash leaves either all of it or none of it."""
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                yield self._db
                self._db.execute("COMMIT")
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise

    def query(self, sql: str, args: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        with self._lock:
            try:
                return list(self._db.execute(sql, args))
            except sqlite3.Error as exc:
                raise StateError(f"state database {self.path}: {exc}") from exc

    # -- plugin key-value data ----------------------------------------------------------
    def get(self, ns: str, key: str, default: Any = None) -> Any:
        rows = self.query("SELECT value FROM kv WHERE ns = ? AND key = ?", (ns, key))
        return json.loads(rows[0]["value"]) if rows else default

    def put(self, ns: str, key: str, value: Any, now: float) -> None:
        with self.transaction() as db:
            db.execute("INSERT INTO kv VALUES (?, ?, ?, ?) ON CONFLICT (ns, key) DO UPDATE "
                       "SET value = excluded.value, updated_at = excluded.updated_at",
                       (ns, key, json.dumps(value, sort_keys=True), now))

    # -- classifier tracks --------------------------------------------------------------
    def load_tracks(self) -> dict[str, dict[str, Any]]:
        return {r["probe"]: json.loads(r["data"]) for r in self.query("SELECT * FROM tracks")}

    def save_track(self, probe: str, data: dict[str, Any]) -> None:
        with self.transaction() as db:
            db.execute("INSERT INTO tracks VALUES (?, ?) ON CONFLICT (probe) DO UPDATE "
                       "SET data = excluded.data", (probe, json.dumps(data)))

    def close(self) -> None:
        with self._lock:
            self._db.close()
