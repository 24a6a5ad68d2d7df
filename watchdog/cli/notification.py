"""Operator commands of the notification stage: ack, silence add|list|remove, postmortem.

They write to the daemon's state database while it runs (SQLite WAL lets both write);
the daemon reads acknowledgements and silences on its next event or tick.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

from watchdog.common.durations import parse_duration
from watchdog.common.errors import StateError
from watchdog.common.state import StateStore
from watchdog.notification.messages import utc_timestamp
from watchdog.notification.postmortem import draft_path, render
from watchdog.notification.store import NotifyStore, acknowledge, add_silence, remove_silence
from watchdog.pipeline.incidents import IncidentBook
from watchdog.runtime.config import load_config

Handler = Callable[[argparse.Namespace, Path], int]


def add_parsers(sub: argparse._SubParsersAction,  # type: ignore[type-arg]
                common: argparse.ArgumentParser) -> dict[str, Handler]:
    ack = sub.add_parser("ack", parents=[common], help="acknowledge an incident (no reminders)")
    ack.add_argument("id", type=int)
    silence = sub.add_parser("silence", help="hold notifications for a while")
    verbs = silence.add_subparsers(dest="verb", required=True)
    add = verbs.add_parser("add", parents=[common], help="silence a probe or an incident")
    target = add.add_mutually_exclusive_group(required=True)
    target.add_argument("--probe")
    target.add_argument("--incident", type=int)
    add.add_argument("--for", dest="duration", required=True, help="e.g. 30m, 2h")
    add.add_argument("--reason", required=True)
    listing = verbs.add_parser("list", parents=[common], help="active silences")
    listing.add_argument("--format", choices=("text", "json"), default="text")
    remove = verbs.add_parser("remove", parents=[common], help="end a silence now")
    remove.add_argument("id", type=int)
    postmortem = sub.add_parser("postmortem", parents=[common],
                                help="print an incident's post-mortem draft")
    postmortem.add_argument("id", type=int)
    return {"ack": cmd_ack, "silence": cmd_silence, "postmortem": cmd_postmortem}


def _store(path: Path, *, readonly: bool = False) -> tuple[StateStore, Path]:
    config = load_config(path)
    db = config.watchdog.state_dir / "state.db"
    if not db.exists():
        raise StateError(f"no state database at {db} (has the daemon run yet?)")
    return StateStore(db, readonly=readonly), config.watchdog.state_dir


def cmd_ack(args: argparse.Namespace, path: Path) -> int:
    store, _ = _store(path)
    if not acknowledge(store, args.id, time.time()):
        sys.stderr.write(f"runbook-watchdog: no incident #{args.id}\n")
        return 1
    print(f"incident #{args.id} acknowledged: no more reminders")
    return 0


def cmd_silence(args: argparse.Namespace, path: Path) -> int:
    store, _ = _store(path)
    now = time.time()
    if args.verb == "add":
        try:
            seconds = parse_duration(args.duration)
        except ValueError as exc:
            sys.stderr.write(f"runbook-watchdog: --for: {exc}\n")
            return 2
        silence_id = add_silence(store, probe=args.probe, incident_id=args.incident,
                                 until=now + seconds, reason=args.reason, now=now)
        print(f"silence #{silence_id} until {utc_timestamp(now + seconds)}")
        return 0
    if args.verb == "remove":
        if not remove_silence(store, args.id, now):
            sys.stderr.write(f"runbook-watchdog: no active silence #{args.id}\n")
            return 1
        print(f"silence #{args.id} removed")
        return 0
    return _list(NotifyStore(store), now, args.format)


def _list(db: NotifyStore, now: float, fmt: str) -> int:
    silences = db.active_silences(now)
    if fmt == "json":
        print(json.dumps([s.to_dict() for s in silences], indent=2))
        return 0
    for s in silences:
        what = f"probe {s.probe}" if s.probe else f"incident #{s.incident_id}"
        print(f"#{s.id} {what} until {utc_timestamp(s.until)}: {s.reason}")
    if not silences:
        print("no active silences")
    return 0


def cmd_postmortem(args: argparse.Namespace, path: Path) -> int:
    store, state_dir = _store(path, readonly=True)
    draft = draft_path(state_dir, args.id)
    if draft.exists():
        print(draft.read_text(encoding="utf-8"), end="")
        return 0
    incident = IncidentBook(store).get(args.id)
    if incident is None:
        sys.stderr.write(f"runbook-watchdog: no incident #{args.id}\n")
        return 1
    print(render(store, incident))  # still open: the draft so far
    return 0
