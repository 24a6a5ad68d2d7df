"""Post-mortem drafts: at resolution, a Markdown file per incident with its timeline.

The draft holds what the watchdog knows (detections, severity changes, attached
symptoms, actions and their outcomes, notifications, evidence paths, impact duration) and
leaves root cause and follow-ups for people, after the runbook's post-mortem template.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from watchdog.common.atomicfile import replace_atomically
from watchdog.common.errors import StateError
from watchdog.common.secrets import scrub
from watchdog.common.state import StateStore
from watchdog.notification.messages import age, sev_label, utc_timestamp
from watchdog.pipeline.incidents import Incident, IncidentBook

_KIND_WORDS = {"open": "detected", "update": "changed", "resolve": "resolved",
               "attach": "symptom attached", "ack": "acknowledged", "report": "received"}


def draft_path(state_dir: Path, incident_id: int) -> Path:
    return state_dir / "postmortems" / f"incident-{incident_id}.md"


def render(store: StateStore, incident: Incident) -> str:
    book = IncidentBook(store)
    children = _children(store, incident.id)
    resolved = utc_timestamp(incident.resolved_at) if incident.resolved_at else "still open"
    lines = [f"# Post-mortem draft: incident #{incident.id} — {incident.probe}", "",
             f"- Severity: {sev_label(incident.severity)}",
             f"- Started: {utc_timestamp(incident.opened_at)}",
             f"- Resolved: {resolved}",
             f"- Impact duration: {age(incident.duration)}",
             f"- Runbook section: {incident.runbook or '-'}",
             f"- Summary: {scrub(incident.summary)}",
             f"- Attached symptoms: {', '.join(f'{p} (#{i})' for i, p in children) or 'none'}",
             "", "## Timeline", ""]
    lines += _timeline(store, book, incident, children)
    lines += ["", "## Actions and outcomes", "", *_actions(book, incident.id), "",
              "## Evidence", "", *_evidence(book, incident.id), "",
              "## Root cause", "", "_To be written._", "",
              "## What went well / what went badly", "", "_To be written._", "",
              "## Follow-ups", "", "- [ ] _owner — action — due date_", ""]
    return "\n".join(lines)


def write(state_dir: Path, store: StateStore, incident: Incident) -> Path:
    path = draft_path(state_dir, incident.id)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    replace_atomically(path, render(store, incident), 0o600)  # readers never see half a draft
    return path


def _timeline(store: StateStore, book: IncidentBook, incident: Incident,
              children: list[tuple[int, str]]) -> list[str]:
    entries: list[tuple[float, str]] = []
    for inc_id, probe in [(incident.id, incident.probe), *children]:
        for e in book.events(inc_id):
            entries.append((e["at"], _event_line(probe, e)))
    for n in _notifications(store, incident.id):
        status = "queued" if n["status"] == "pending" else n["status"]
        state = status + (f" ({n['note']})" if n["note"] else "")
        entries.append((n["created_at"], f"notification `{n['kind']}` to {n['channel']}: {state}"))
    return [f"- {_stamp(at)} — {scrub(text)}" for at, text in sorted(entries, key=lambda e: e[0])]


def _stamp(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(ts))


def _event_line(probe: str, event: dict[str, Any]) -> str:
    word = _KIND_WORDS.get(event["kind"], event["kind"])
    sev = f" {sev_label(event['severity'])}" if event.get("severity") else ""
    cause = f" {event['cause']}:" if event.get("cause") else ""
    return f"{probe} {word}{sev}{cause} {event.get('summary') or ''}".rstrip()


def _actions(book: IncidentBook, incident_id: int) -> list[str]:
    rows = [e for e in book.events(incident_id) if e["kind"] not in _KIND_WORDS
            and e["kind"] != "evidence"]
    lines = [f"- {_stamp(e['at'])} {e['kind']}: {scrub(e['summary'] or '')}" for e in rows]
    lines += [f"- {_stamp(a['started_at'])} {describe_action(a)}"
              for a in remediation_actions(book.store, incident_id)]
    return lines or ["- none recorded"]


def remediation_actions(store: StateStore, incident_id: int) -> list[dict[str, Any]]:
    """The remediation stage's actions for this incident (none if it never ran here)."""
    try:
        rows = store.query("SELECT remediation, target, mode, state, outcome, started_at, "
                           "plan FROM remediation_actions WHERE incident_id = ? ORDER BY id",
                           (incident_id,))
    except StateError:
        return []
    return [{**dict(r), "plan": json.loads(r["plan"])} for r in rows]


def describe_action(action: dict[str, Any]) -> str:
    outcome = f" — {scrub(action['outcome'])}" if action.get("outcome") else ""
    return f"{action['remediation']} on {action['target']} ({action['mode']}): " \
           f"{action['state']}{outcome}"


def _evidence(book: IncidentBook, incident_id: int) -> list[str]:
    """Where evidence was saved: the actions for this incident whose plan names a `dir`
    and the `files` written there (capture_evidence journals its folder so)."""
    lines = []
    for action in remediation_actions(book.store, incident_id):
        detail = action["plan"].get("detail") or {}
        if not isinstance(detail, dict) or "dir" not in detail or "files" not in detail:
            continue
        files = ", ".join(str(f) for f in detail["files"])
        outcome = f" — {scrub(action['outcome'])}" if action["outcome"] else ""
        lines.append(f"- `{detail['dir']}` ({action['remediation']}, {action['state']}"
                     f"{outcome}): {files}")
    return lines or ["- none recorded"]


def _children(store: StateStore, incident_id: int) -> list[tuple[int, str]]:
    try:
        rows = store.query("SELECT child_id, probe FROM incident_links WHERE parent_id = ? "
                           "ORDER BY child_id", (incident_id,))
    except StateError:
        return []
    return [(int(r["child_id"]), str(r["probe"])) for r in rows]


def _notifications(store: StateStore, incident_id: int) -> list[dict[str, Any]]:
    try:
        rows = store.query("SELECT channel, kind, status, note, created_at FROM outbox "
                           "WHERE incident_id = ? AND kind != 'refresh' ORDER BY id",
                           (incident_id,))
    except StateError:
        return []
    return [dict(r) for r in rows]
