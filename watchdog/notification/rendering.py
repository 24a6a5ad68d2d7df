"""Rendering: what a message says about an incident, filled into its template.

The text is for people (templates/, editable); `data` carries the same facts for JSON
receivers, so neither has to parse the other.
"""

from __future__ import annotations

from typing import Any

from watchdog.common.handoff import human_part
from watchdog.common.state import StateStore
from watchdog.notification.grouping import Grouping
from watchdog.notification.messages import Message, Templates, age, sev_label, utc_timestamp
from watchdog.notification.postmortem import describe_action, remediation_actions
from watchdog.pipeline.incidents import Incident, IncidentBook
from watchdog.runtime.config import Config

# Timeline kinds a message leaves out of "actions": they are what the message itself says.
_CHANGES = ("open", "update", "escalate")  # the events that change severity or cause
_QUIET = ("open", "update", "resolve", "attach", "ack", "evidence", "report")


class MessageRenderer:
    def __init__(self, config: Config, store: StateStore, book: IncidentBook,
                 grouping: Grouping) -> None:
        self.config = config
        self.store = store
        self.book = book
        self.grouping = grouping
        self.templates = Templates(config.notify.templates_dir)

    def message(self, kind: str, incident: Incident, now: float,
                extra: dict[str, Any]) -> Message:
        values = self._values(incident, now) | extra
        template = "started" if kind == "refresh" else kind  # a re-send says it again
        text = self.templates.render(template, values)
        return Message(kind, incident.id, incident.probe, incident.severity,
                       incident.status == "open", text, self._data(incident, values))

    def what_changed(self, incident: Incident) -> str:
        events = [e for e in self.book.events(incident.id) if e["kind"] in _CHANGES]
        if len(events) < 2:
            return f"now {sev_label(incident.severity)}, {incident.cause}"
        before, after = events[-2], events[-1]
        if before.get("severity") != after.get("severity"):
            old = sev_label(before["severity"]) if before.get("severity") else "-"
            return f"severity {old} → {sev_label(incident.severity)}"
        return f"cause {before.get('cause')} → {after.get('cause')}"

    def _data(self, incident: Incident, values: dict[str, Any]) -> dict[str, Any]:
        return {"incident": incident.id, "probe": incident.probe, "severity": incident.severity,
                "status": incident.status, "cause": incident.cause,
                "summary": values["summary"], "runbook": incident.runbook,
                "hint": incident.hint, "opened_at": incident.opened_at,
                "resolved_at": incident.resolved_at, "duration": incident.duration,
                "attached": self.grouping.attached(incident.id)}

    def _values(self, incident: Incident, now: float) -> dict[str, Any]:
        return self._facts(incident) | self._times(incident, now) | {
            "actions": self._actions(incident.id), "attached": self._attached_line(incident.id),
            "human": _human_line(incident.hint), "reports": self._reports_line(incident.id),
            "postmortem": "-", "change": "-"}

    def _facts(self, incident: Incident) -> dict[str, Any]:
        level = self.config.severity.levels.get(incident.severity)
        return {"SEV": sev_label(incident.severity), "sev": incident.severity,
                "id": incident.id, "probe": incident.probe, "cause": incident.cause,
                "summary": incident.summary, "impact": level.meaning if level else "-",
                "runbook": incident.runbook or "-", "hint": incident.hint or "-"}

    def _times(self, incident: Incident, now: float) -> dict[str, Any]:
        level = self.config.severity.levels.get(incident.severity)
        response = level.response if level is not None else None
        return {"started": utc_timestamp(incident.opened_at), "time": utc_timestamp(now),
                "resolved": utc_timestamp(incident.resolved_at),
                "duration": age(incident.duration), "age": age(now - incident.opened_at),
                "next_update": utc_timestamp(now + response) if response else "when it changes"}

    def _attached_line(self, incident_id: int) -> str:
        attached = self.grouping.attached(incident_id)
        return f"\nAlso affected (attached): {', '.join(attached)}" if attached else ""

    def _reports_line(self, incident_id: int) -> str:
        """How many user reports the incident got, and the latest (reports.py)."""
        said = [e["summary"] for e in self.book.events(incident_id) if e["kind"] == "report"]
        return f"\nUser reports: {len(said)}, latest: {said[-1]}" if said else ""

    def _actions(self, incident_id: int) -> str:
        events = [e for e in self.book.events(incident_id) if e["kind"] not in _QUIET]
        said = [f"{e['kind']}: {e['summary']}" for e in events]
        said += [describe_action(a) for a in remediation_actions(self.store, incident_id)]
        return "; ".join(said) or "none yet"


def _human_line(hint: str | None) -> str:
    """The hint's never-automated steps on a line of their own (resolved messages lack the
    hint, and after recovery is when they are due), or nothing."""
    steps = human_part(hint)
    return f"\n{steps}" if steps else ""
