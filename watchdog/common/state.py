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
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from watchdog.common.errors import StateError

SCHEMA_VERSION = 1
# How long a write waits for another process's lock. Writes run on the event loop, so a
# long wait would freeze every probe's schedule (and make their timeouts fire late).
BUSY_TIMEOUT_MS = 200
# After a write found the database locked, further writes fail at once for this long.
LOCKED_BACKOFF = 1.0
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
        self._locked_until = 0.0
        self.set_aside: Path | None = None  # where a corrupt database was moved at start
        try:
            self._db = self._connect(readonly)
        except sqlite3.Error as exc:
            raise StateError(f"cannot open state database {self.path}: {exc}") from exc

    @classmethod
    def in_state_dir(cls, state_dir: Path) -> StateStore:
        """Open `state_dir/state.db`, creating the directory 0700 and the file 0600.

        A file that is not a database (corrupt) is moved aside, kept for forensics, and a
        fresh one is started: the watchdog must come up. `set_aside` says where it went,
        so the daemon can journal it.
        """
        db = state_dir / "state.db"
        _create(state_dir, db)
        try:
            return cls(db)
        except StateError as exc:
            if not _corrupt(exc.__cause__):
                raise
            aside = _move_aside(db)
            _create(state_dir, db)
            store = cls(db)
            store.set_aside = aside
            return store

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
        db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
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
        """One atomic write; a crash leaves either all of it or none of it.

        Raises StateError when another process holds the write lock (after waiting
        BUSY_TIMEOUT_MS once, then at once for LOCKED_BACKOFF seconds).
        """
        with self._lock:
            self._begin()
            try:
                yield self._db
                self._db.execute("COMMIT")
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise

    def _begin(self) -> None:
        if time.monotonic() < self._locked_until:
            raise StateError(f"state database {self.path} is locked by another process")
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                self._locked_until = time.monotonic() + LOCKED_BACKOFF
            raise StateError(f"state database {self.path}: {exc}") from exc

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


def _create(state_dir: Path, db: Path) -> None:
    try:
        state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not db.exists():
            os.close(os.open(db, os.O_CREAT | os.O_WRONLY, 0o600))
    except OSError as exc:
        raise StateError(f"cannot create state in {state_dir}: {exc.strerror}") from exc


def _corrupt(exc: BaseException | None) -> bool:
    # OperationalError (locked, read-only, cannot open) is a DatabaseError too, and is
    # not corruption: moving the file aside would throw good state away.
    return isinstance(exc, sqlite3.DatabaseError) and not isinstance(exc, sqlite3.OperationalError)


def _move_aside(db: Path) -> Path:
    """Rename the corrupt file (and its WAL and shared-memory files) to `*.corrupt-<time>`."""
    aside = db.with_name(f"{db.name}.corrupt-{time.strftime('%Y%m%dT%H%M%S')}")
    for suffix in ("", "-wal", "-shm"):
        part = Path(f"{db}{suffix}")
        if part.exists():
            part.rename(f"{aside}{suffix}")
    return aside
