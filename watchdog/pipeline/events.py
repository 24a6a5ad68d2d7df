"""Events: what happened that is not an incident (a deploy), recorded where people look.

A probe reports an event in its observation's `details["events"]`, once, on the run that
first saw it: `{"kind": "deploy", "target": "nickapp-backend", "at": <epoch s>,
"window": <s>, "summary": "..."}`. An event is counted
(`runbook_watchdog_events_total{kind, target}`) and written into the timeline of every
incident that opens within its window after it (`at` to `at + window`), including one
already open when the probe reports it. It opens no incident of its own: a deploy only
matters if something fails after it (issue 19 item 3). Events within their window are
kept in the state store, so a restart does not forget them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from watchdog.common.secrets import scrub
from watchdog.pipeline.incidents import Incident, IncidentBook
from watchdog.pipeline.observation import Observation
from watchdog.runtime.metrics import Metrics

log = logging.getLogger(__name__)
NS, KEY = "events", "recent"


@dataclass(frozen=True)
class Event:
    kind: str
    target: str
    at: float  # when it happened (epoch seconds)
    window: float  # incidents opening this long after it get it in their timeline
    summary: str

    @classmethod
    def parse(cls, data: Any) -> Event | None:
        """An event from a probe's details; None (logged) when it is malformed."""
        try:
            return cls(str(data["kind"]), str(data["target"]), float(data["at"]),
                       float(data["window"]), str(data["summary"]))
        except (KeyError, TypeError, ValueError):
            log.warning("malformed event in a probe's details ignored: %r", data)
            return None

    def covers(self, when: float) -> bool:
        return self.at <= when <= self.at + self.window


class EventLog:
    def __init__(self, book: IncidentBook, metrics: Metrics) -> None:
        self.book = book
        self.metrics = metrics

    def record(self, obs: Observation, now: float) -> None:
        """Count the events a run reports, keep them, note them on incidents they precede."""
        new = [e for e in map(Event.parse, obs.details.get("events") or ()) if e is not None]
        if not new:
            return
        for event in new:
            self.metrics.events.labels(kind=event.kind, target=event.target).inc()
            log.info("event %s on %s: %s", event.kind, event.target, scrub(event.summary))
        kept = [e for e in self.recent() if e.at + e.window >= now] + new
        self.book.store.put(NS, KEY, [asdict(e) for e in kept], now)
        for incident in self.book.open_incidents():
            self._note(incident, new)

    def on_open(self, incident: Incident) -> None:
        self._note(incident, self.recent())

    def recent(self) -> list[Event]:
        stored = self.book.store.get(NS, KEY, [])
        return [e for e in map(Event.parse, stored) if e is not None]

    def _note(self, incident: Incident, events: Iterable[Event]) -> None:
        for event in events:
            if event.covers(incident.opened_at):
                ago = incident.opened_at - event.at
                self.book.note(incident.id, event.kind,
                               f"{event.summary} ({ago:.0f}s before this incident opened)",
                               event.at)
