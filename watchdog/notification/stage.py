"""Stage 6 of the pipeline, notification: the subscriber that wires the notification parts.

The `NotificationStage` subscribes to the engine's `ResultEvent`s. For every incident change it
asks grouping.py whether the incident is a symptom of another, flapping.py whether the probe
flaps, and has announcer.py queue the message routing.py and rendering.py make of it, one
outbox row per routed channel; the `Dispatcher` delivers in the background. A periodic
tick settles flapping and runs followup.py's reminders and re-sends.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import httpx

from watchdog.common.clock import Clock
from watchdog.common.state import StateStore
from watchdog.notification import resolutions
from watchdog.notification.announcer import Announcer
from watchdog.notification.channels import Sender, build_sender
from watchdog.notification.decoration import decorate_status
from watchdog.notification.delivery import Dispatcher
from watchdog.notification.escalation import Escalation
from watchdog.notification.flapping import FlapTracker
from watchdog.notification.followup import FollowUps
from watchdog.notification.grouping import Grouping
from watchdog.notification.messages import age
from watchdog.notification.models import ChannelBase
from watchdog.notification.postmortem import draft_path
from watchdog.notification.postmortem import write as write_postmortem
from watchdog.notification.rendering import MessageRenderer
from watchdog.notification.reports import Filed, ReportDesk, UserReport
from watchdog.notification.routing import Router
from watchdog.notification.store import NotifyStore
from watchdog.peers.tls import default_context
from watchdog.pipeline.classifier import Transition
from watchdog.pipeline.engine import PipelineEngine, ResultEvent
from watchdog.pipeline.incidents import Change, Incident
from watchdog.runtime.config import Config

log = logging.getLogger(__name__)


class NotificationStage:
    def __init__(self, config: Config, store: StateStore, engine: PipelineEngine,
                 clock: Clock) -> None:
        self.store = store
        self.engine = engine
        self.clock = clock
        self.db = NotifyStore(store)
        store.ensure_schema(resolutions.SCHEMA)
        self.flaps = FlapTracker()
        self.dispatcher = Dispatcher(self.db, clock, config.notify.retry_after, self.skip_reason)
        self._http: httpx.AsyncClient | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._wire(config)

    def _wire(self, config: Config) -> None:
        # The parts keep no state of their own (flapping and the outbox live here and in
        # the database), so a reload simply wires new ones around the new configuration.
        self.config = config
        self.grouping = Grouping(config, self.db, self.engine.book)
        self.router = Router(config, self.db, self.engine, self.flaps)
        self.renderer = MessageRenderer(config, self.store, self.engine.book, self.grouping)
        self.announcer = Announcer(self.router, self.renderer, self.db, self.dispatcher)
        self.follow_ups = FollowUps(config, self.db, self.engine.book, self.grouping,
                                    self.router, self.announcer)
        self.reports = ReportDesk(config, self.db, self.engine.book, self.grouping,
                                  self.announcer)
        self.escalation = Escalation(config, self.store, self.db, self.engine, self.grouping,
                                     self._updated)

    # -- lifecycle ------------------------------------------------------------------------
    def subscribe(self) -> None:
        self.engine.subscribers.append(self.on_result)

    async def start(self) -> None:
        # Its own client: a hung receiver must not hold connections the probes need.
        self._http = httpx.AsyncClient(verify=default_context(), trust_env=False,
                                       follow_redirects=False)
        self.recover()
        self.dispatcher.start(self._senders(self._http))
        self._ticker = asyncio.create_task(self._tick_loop(), name="notify:tick")

    def recover(self) -> None:
        """Queue what a previous process committed but was killed before queueing.

        An incident's open or resolve and its message are two transactions. A lost
        "started" would wait for the first tick, and be lost for good if the incident
        resolved before it; a lost "resolved" would never be sent at all.
        """
        self._apply_resolutions(self.clock.time())  # before: they are resolved without message
        for incident_id in self.db.resolved_without_message():
            incident = self.engine.book.get(incident_id)
            if incident is not None:
                log.warning("incident %d was resolved before a restart without its message: "
                            "sending it now", incident.id)
                self._resolved(incident, self.clock.time())
        self.tick(self.clock.time())  # open incidents never announced: announce them now

    async def aclose(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            await asyncio.gather(self._ticker, return_exceptions=True)
        await self.dispatcher.stop()
        if self._http is not None:
            await self._http.aclose()

    async def reconfigure(self, config: Config) -> None:
        self._wire(config)
        self.dispatcher.retry_after = config.notify.retry_after
        await self.dispatcher.stop()
        if self._http is not None:
            self.dispatcher.start(self._senders(self._http))

    def _senders(self, http: httpx.AsyncClient) -> dict[str, tuple[ChannelBase, Sender]]:
        return {name: (cfg, build_sender(cfg, http))
                for name, cfg in self.config.notify.channels.items()}

    def skip_reason(self, channel: str, config: ChannelBase) -> str | None:
        # Looked up on each call: the router is replaced by a reload, the dispatcher is not.
        return self.router.skip_reason(channel, config)

    # -- engine events --------------------------------------------------------------------
    def on_result(self, event: ResultEvent) -> None:
        if event.change is not None:
            self._changed(event.change, event.at)
        self.escalation.observe(event)  # after grouping: a symptom's signals count for its root

    def _changed(self, change: Change, now: float) -> None:
        incident = change.incident
        if change.transition is not Transition.UPDATE and self._flapped(incident, now):
            return
        if change.transition is Transition.OPEN:
            self._opened(incident, now)
        elif change.transition is Transition.UPDATE:
            self._updated(incident, now)
        else:
            self._resolved(incident, now)

    def post_update(self, incident_id: int, change: str) -> None:
        """For later stages: an action taken or failed, an escalation, a quarantine."""
        incident = self.engine.book.get(incident_id)
        if incident is not None:
            root = self.grouping.root(incident)
            self.announcer.announce("updated", root, self.clock.time(), change=change)

    def file_report(self, report: UserReport) -> Filed:
        """A user report (the HTTP API's `POST /api/reports`), on the event loop."""
        now = self.clock.time()
        filed = self.reports.file(report, now)
        self.escalation.note(filed.incident.id, [f"user report #{filed.report_id}"], now)
        return filed

    def _opened(self, incident: Incident, now: float) -> None:
        if self.grouping.attach(incident, now):
            return
        self.grouping.adopt_dependents(incident, now)
        if self.grouping.holding(incident, now):
            log.info("incident %d (%s): its page waits up to %s for its dependencies",
                     incident.id, incident.probe, age(self.grouping.hold(incident.probe)))
            return  # paged by the follow-ups when the hold ends, unless adopted before
        self.announcer.announce("started", incident, now)

    def _updated(self, incident: Incident, now: float) -> None:
        if self.grouping.is_symptom(incident.id) or self.grouping.holding(incident, now):
            return  # said through its root cause, or in its page when the hold ends
        change = self.renderer.what_changed(incident)
        self.announcer.announce("updated", incident, now, change=change)

    def _resolved(self, incident: Incident, now: float) -> None:
        if self.grouping.is_symptom(incident.id):
            return  # a symptom ended; its root cause carries on
        self.grouping.release_children(incident, now)
        path = self._postmortem_path(incident)
        self.announcer.announce("resolved", incident, now, postmortem=str(path) if path else "-")
        if path is not None:
            write_postmortem(self.config.watchdog.state_dir, self.store, incident)
            log.info("post-mortem draft for incident %d: %s", incident.id, path)

    def _postmortem_path(self, incident: Incident) -> Path | None:
        if not self.config.notify.postmortems:
            return None
        return draft_path(self.config.watchdog.state_dir, incident.id)

    def _apply_resolutions(self, now: float) -> None:
        """`runbook-watchdog resolve` closed these in the database: forget the probe's
        track (it starts afresh) and say "resolved" as for any other resolution."""
        for done in resolutions.pending(self.store):
            self.engine.tracks.pop(done.probe, None)
            incident = self.engine.book.get(done.incident_id)
            if incident is not None:
                log.info("incident %d resolved by an operator: %s", incident.id, done.reason)
                self._resolved(incident, now)
            resolutions.applied(self.store, done.incident_id, now)

    # -- flapping -------------------------------------------------------------------------
    def _flapped(self, incident: Incident, now: float) -> bool:
        """Record an open/resolve; True when it just started flapping (one notice instead)."""
        rule = self.config.notify.flapping
        started = self.flaps.record(incident.probe, rule, now) if rule is not None else None
        if rule is None or started is None:
            return False
        self.announcer.announce("flapping", incident, now, changes=len(started.changes),
                                window=age(rule.within))
        return True

    def _announce_settled(self, now: float) -> None:
        for probe in self.flaps.settle(self.config.notify.flapping, now):
            latest = self.db.latest_incident_id(probe)
            incident = self.engine.book.get(latest) if latest is not None else None
            if incident is not None:
                state = "failing" if incident.status == "open" else "healthy"
                self.announcer.announce("settled", incident, now, state=state)

    # -- periodic work --------------------------------------------------------------------
    async def _tick_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.notify.check_every)
            try:
                self.tick(self.clock.time())
            except Exception:
                log.exception("notification housekeeping failed")  # try again next tick

    def tick(self, now: float) -> None:
        """Operators' resolutions, settled flapping, silences expired on unannounced
        incidents, reminders, re-sends."""
        self._apply_resolutions(now)
        self._announce_settled(now)
        quiet = self.reports.quiet(now)
        if quiet is not None:
            self._resolved(quiet, now)
        if self.config.notify.channels:
            self.follow_ups.run(now)

    # -- presentation ---------------------------------------------------------------------
    def decorate(self, status: dict[str, Any]) -> dict[str, Any]:
        """/api/status: symptoms nested under their root cause, silences, maintenance."""
        return decorate_status(status, self.db, self.config.maintenance, self.clock.time())
