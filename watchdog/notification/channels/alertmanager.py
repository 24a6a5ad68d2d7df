"""Alertmanager's v2 API: one alert per incident, re-posted while open, ended when resolved.

A firing alert carries `endsAt` a few re-send periods ahead, so if this watchdog dies
Alertmanager resolves the alert by itself instead of keeping it forever; while the
incident is open the dispatcher re-posts it (`refresh` messages) to push `endsAt` on.
"""

from __future__ import annotations

import time
from typing import Any

import httpx

from watchdog.notification.channels.base import accepted
from watchdog.notification.messages import Message
from watchdog.notification.models import AlertmanagerChannel

LIFETIME_PERIODS = 3


def rfc3339(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + f".{int(ts % 1 * 1000):03d}Z"


class AlertmanagerSender:
    def __init__(self, config: AlertmanagerChannel, http: httpx.AsyncClient) -> None:
        self.config = config
        self.http = http

    async def send(self, message: Message, now: float) -> None:
        url = f"{self.config.url.rstrip('/')}/api/v2/alerts"
        accepted(await self.http.post(url, json=[self.alert(message, now)],
                                      timeout=self.config.timeout))

    def alert(self, message: Message, now: float) -> dict[str, Any]:
        data = message.data
        ends = now + LIFETIME_PERIODS * self.config.resend_every if message.firing \
            else float(data.get("resolved_at") or now)
        labels = {**self.config.labels, "alertname": "RunbookWatchdogIncident",
                  "probe": message.probe, "severity": message.severity,
                  "incident": str(message.incident_id)}
        annotations = {"summary": message.subject, "description": message.text,
                       "runbook": str(data.get("runbook") or "")}
        return {"labels": labels, "annotations": annotations,
                "startsAt": rfc3339(float(data.get("opened_at") or now)),
                "endsAt": rfc3339(ends)}
