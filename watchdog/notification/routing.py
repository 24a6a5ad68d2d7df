"""Routing: which channels a message goes to, and what holds it back or skips a channel."""

from __future__ import annotations

from watchdog.notification.flapping import FlapTracker
from watchdog.notification.maintenance import window_for
from watchdog.notification.models import ChannelBase
from watchdog.notification.store import NotifyStore
from watchdog.pipeline.classifier import Track
from watchdog.pipeline.engine import PipelineEngine
from watchdog.pipeline.incidents import Incident
from watchdog.pipeline.observation import Status
from watchdog.runtime.config import Config


class Router:
    def __init__(self, config: Config, db: NotifyStore, engine: PipelineEngine,
                 flaps: FlapTracker) -> None:
        self.config = config
        self.db = db
        self.engine = engine
        self.flaps = flaps

    def routes(self, kind: str, severity: str) -> list[str]:
        return [name for name, cfg in self.config.notify.channels.items()
                if (not cfg.severities or severity in cfg.severities)
                and (kind != "refresh" or cfg.type == "alertmanager")]

    def held(self, kind: str, incident: Incident, now: float) -> str | None:
        """Why a message is not sent now, or None.

        A resolve is sent exactly when its start was: never lost after a page (silences
        and windows do not hold it), never a surprise "resolved" for something unannounced.
        While a probe flaps only "flapping" and "settled" go out.
        """
        if kind not in ("flapping", "settled") and self.flaps.flapping(incident.probe):
            return "flapping"  # the "settled" message will tell how it ended
        if kind == "resolved":
            announced = self.db.was_announced(incident.id)
            return None if announced else "its start was never announced"
        return self._silenced(incident, now)

    def _silenced(self, incident: Incident, now: float) -> str | None:
        for silence in self.db.active_silences(now):
            if silence.covers(incident.probe, {incident.id}):
                return f"silenced (silence #{silence.id}: {silence.reason})"
        window = window_for(self.config.maintenance, incident.probe, now)
        return f"maintenance window {window.name!r}" if window is not None else None

    def skip_reason(self, channel: str, config: ChannelBase) -> str | None:
        """Email is skipped while the watchdog's own SMTP probe fails: it would bounce too."""
        if getattr(config, "type", None) != "email":
            return None
        for name, spec in self.config.probes.items():
            if spec.type == "smtp" and self._failing(name):
                return f"the smtp probe {name!r} is failing"
        return None

    def _failing(self, probe: str) -> bool:
        last = self.engine.last.get(probe)
        return self.engine.tracks.get(probe, Track()).failing or \
            (last is not None and last.observation.status is Status.FAILED)
