"""User reports: "users say checkout fails", from support staff or bots, on an incident.

A report arrives through `POST /api/reports` (runtime/reportapi.py) or `runbook-watchdog
report` (which posts there). Its text is data: control characters (newlines included)
become spaces, it is clipped by the endpoint, and every channel sends it as text
(channels/). It attaches to an open incident, or opens the "user reports" incident:

- with a probe (`--probe NAME`): that probe's open incident (its root cause, when it is
  an attached symptom);
- without: the open incident of a probe, when exactly one is open (attached symptoms
  and the user reports incident aside);
- otherwise (none, several, or the probe has none open): the open "user reports"
  incident, opened at `watchdog.reports.severity` (Sev3) for the first report. It
  resolves after `watchdog.reports.resolve_after` without a new report.

Each report is an event of the incident's timeline (`report`), one "updated" message
(the started one for the report that opened it; none while the incident's page is still
held: the page will carry it), a line of every later message (`${reports}`), and one
distinct signal of the escalation rule (escalation.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from watchdog.notification.announcer import Announcer
from watchdog.notification.grouping import Grouping
from watchdog.notification.messages import age
from watchdog.notification.store import NotifyStore
from watchdog.pipeline.incidents import USER_REPORTS, Incident, IncidentBook
from watchdog.runtime.config import Config

CAUSE = "user_report"
HINT = ("ask the reporter what they did, when, and what they saw; compare with the probes' "
        "status (runbook §2)")
SUMMARY_CHARS = 160  # the first report's text in the incident's summary (the subject line)


def clean(text: str) -> str:
    """One line of printable text: control characters and runs of spaces become one space."""
    return " ".join("".join(c if c.isprintable() else " " for c in text).split())


@dataclass(frozen=True)
class UserReport:
    text: str  # cleaned
    probe: str | None = None

    def line(self) -> str:
        about = f" (about {self.probe})" if self.probe else ""
        return f'user report{about}: "{self.text}"'

    def headline(self) -> str:
        text = self.text if len(self.text) <= SUMMARY_CHARS \
            else self.text[:SUMMARY_CHARS - 1] + "…"
        return UserReport(text, self.probe).line()


@dataclass(frozen=True)
class Filed:
    """Where a report went: the incident (opened by it or not) and its timeline event."""

    incident: Incident
    opened: bool
    report_id: int

    def to_json(self) -> dict[str, Any]:
        return {"incident": self.incident.id, "probe": self.incident.probe,
                "severity": self.incident.severity, "opened": self.opened,
                "report": self.report_id}


class ReportDesk:
    def __init__(self, config: Config, db: NotifyStore, book: IncidentBook,
                 grouping: Grouping, announcer: Announcer) -> None:
        self.config = config
        self.db = db
        self.book = book
        self.grouping = grouping
        self.announcer = announcer

    def file(self, report: UserReport, now: float) -> Filed:
        target = self.target(report.probe)
        if target is None:
            return self._open(report, now)
        report_id = self.book.note(target.id, "report", report.line(), now)
        if self.db.was_announced(target.id):  # else its page (held) will carry the report
            self.announcer.announce("updated", target, now, change=report.line())
        return Filed(target, False, report_id)

    def target(self, probe: str | None) -> Incident | None:
        """The open incident a report about `probe` (or about nothing named) belongs to."""
        if probe is not None:
            own = self._open_incident(probe)
            if own is not None:
                return self.grouping.root(own)
        else:
            roots = [i for i in self.book.open_incidents()
                     if i.probe != USER_REPORTS and not self.grouping.is_symptom(i.id)]
            if len(roots) == 1:
                return roots[0]
        return self._open_incident(USER_REPORTS)

    def quiet(self, now: float) -> Incident | None:
        """Resolve the user reports incident once no report came for `resolve_after`."""
        settings = self.config.watchdog.reports
        incident = self._open_incident(USER_REPORTS)
        if incident is None or settings is None:
            return None
        last = self.book.last_event_at(incident.id, "report") or incident.opened_at
        if now - last < settings.resolve_after:
            return None
        return self.book.close(incident.id, f"no new user report for {age(now - last)}", now)

    def _open(self, report: UserReport, now: float) -> Filed:
        settings = self.config.watchdog.reports
        severity = settings.severity if settings is not None else "sev3"
        incident = self.book.open_unobserved(USER_REPORTS, severity, CAUSE, report.headline(),
                                             now, runbook="2", hint=HINT)
        report_id = self.book.note(incident.id, "report", report.line(), now)
        self.announcer.announce("started", incident, now)
        return Filed(incident, True, report_id)

    def _open_incident(self, probe: str) -> Incident | None:
        incident_id = self.db.open_incident_id(probe)
        return self.book.get(incident_id) if incident_id is not None else None
