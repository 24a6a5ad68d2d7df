"""Announcing: a message rendered once and queued in the outbox, one row per routed channel.

Queueing is a SQLite insert, so a slow or dead channel never delays a probe; the
`Dispatcher` delivers in the background. A held message is queued too, as `suppressed`
with the reason, so the post-mortem shows what was not said and why.
"""

from __future__ import annotations

import logging
from typing import Any

from watchdog.notification.delivery import Dispatcher
from watchdog.notification.rendering import MessageRenderer
from watchdog.notification.routing import Router
from watchdog.notification.store import NotifyStore
from watchdog.pipeline.incidents import Incident

log = logging.getLogger(__name__)


class Announcer:
    def __init__(self, router: Router, renderer: MessageRenderer, db: NotifyStore,
                 dispatcher: Dispatcher) -> None:
        self.router = router
        self.renderer = renderer
        self.db = db
        self.dispatcher = dispatcher

    def announce(self, kind: str, incident: Incident, now: float, **extra: Any) -> None:
        channels = self.router.routes(kind, incident.severity)
        if not channels:
            return
        message = self.renderer.message(kind, incident, now, extra)
        reason = self.router.held(kind, incident, now)
        for name in channels:
            self.db.enqueue(name, message, now, "suppressed" if reason else "pending", reason)
            self.dispatcher.wake(name)
        self.db.noticed(incident.id, now)
        log.info("incident %d: %s message %s for %s", incident.id, kind,
                 f"held: {reason}" if reason else "queued", ", ".join(channels))

    def resend(self, channel: str, incident: Incident, now: float) -> None:
        """Queue a "refresh" of a firing alert; unlike a message it is no notice to people."""
        self.db.enqueue(channel, self.renderer.message("refresh", incident, now, {}), now)
        self.dispatcher.wake(channel)
