"""Notification channels: one small class per receiver type, each with one `send()`.

A channel raises `DeliveryError` (or lets an httpx/smtplib error through) when the
receiver did not accept the message; the dispatcher retries and keeps the message in the
outbox until it is accepted.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import httpx

from watchdog.notification.channels.alertmanager import AlertmanagerSender
from watchdog.notification.channels.base import DeliveryError
from watchdog.notification.channels.email import EmailSender
from watchdog.notification.channels.http import SlackSender, TelegramSender, WebhookSender
from watchdog.notification.messages import Message

__all__ = ["SENDERS", "DeliveryError", "Sender", "build_sender"]


class Sender(Protocol):
    async def send(self, message: Message, now: float) -> None: ...


SENDERS: dict[str, Callable[[Any, httpx.AsyncClient], Sender]] = {
    "webhook": WebhookSender,
    "slack": SlackSender,
    "telegram": TelegramSender,
    "email": EmailSender,
    "alertmanager": AlertmanagerSender,
}


def build_sender(config: Any, http: httpx.AsyncClient) -> Sender:
    return SENDERS[config.type](config, http)
