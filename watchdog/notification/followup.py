"""Follow-ups: what an open incident is owed as time passes, checked on every tick.

A start that was held (a silence or window ended, a symptom was released), a reminder
once the severity's response time passed unacknowledged, and Alertmanager's re-send: a
firing alert carries an `endsAt` a few periods ahead, and each re-send pushes it on.
"""

from __future__ import annotations

from watchdog.notification.announcer import Announcer
from watchdog.notification.grouping import Grouping
from watchdog.notification.routing import Router
from watchdog.notification.store import NotifyStore, parents
from watchdog.pipeline.incidents import Incident, IncidentBook
from watchdog.runtime.config import Config


class FollowUps:
    def __init__(self, config: Config, db: NotifyStore, book: IncidentBook, grouping: Grouping,
                 router: Router, announcer: Announcer) -> None:
        self.config = config
        self.db = db
        self.book = book
        self.grouping = grouping
        self.router = router
        self.announcer = announcer

    def run(self, now: float) -> None:
        attached = parents(self.db.store)
        for incident in self.book.open_incidents():
            if incident.id not in attached:  # a symptom is followed up through its root
                self.follow_up(incident, now)

    def follow_up(self, incident: Incident, now: float) -> None:
        if self.router.held("started", incident, now) is not None:
            return
        if not self.db.was_announced(incident.id):
            if not self.grouping.settling(incident, now) and \
                    not self.grouping.holding(incident, now):
                self.announcer.announce("started", incident, now)
        elif self.reminder_due(incident, now):
            self.announcer.announce("reminder", incident, now)
        self.refresh_alertmanager(incident, now)

    def reminder_due(self, incident: Incident, now: float) -> bool:
        level = self.config.severity.levels.get(incident.severity)
        if not self.config.notify.reminders or level is None or not level.response:
            return False
        if self.db.acknowledged(incident.id):
            return False
        last = self.db.last_notice(incident.id) or incident.opened_at
        return now - last >= level.response

    def refresh_alertmanager(self, incident: Incident, now: float) -> None:
        for name in self.router.routes("refresh", incident.severity):
            if self._refresh_due(name, incident, now):
                self.announcer.resend(name, incident, now)

    def _refresh_due(self, channel: str, incident: Incident, now: float) -> bool:
        last = self.db.last_sent(channel, incident.id)
        every = getattr(self.config.notify.channels[channel], "resend_every", 60.0)
        return last is not None and now - last >= every and \
            not self.db.has_pending(channel, incident.id, "refresh")
