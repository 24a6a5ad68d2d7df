"""Email over SMTP, with smtplib in a worker thread so the event loop never blocks."""

from __future__ import annotations

import asyncio
import smtplib
from email.message import EmailMessage

import httpx

from watchdog.notification.messages import Message
from watchdog.notification.models import EmailChannel


class EmailSender:
    def __init__(self, config: EmailChannel, http: httpx.AsyncClient) -> None:
        self.config = config

    async def send(self, message: Message, now: float) -> None:
        await asyncio.to_thread(self._send, self._mail(message))

    def _mail(self, message: Message) -> EmailMessage:
        mail = EmailMessage()
        mail["Subject"] = message.subject
        mail["From"] = self.config.sender
        mail["To"] = ", ".join(self.config.to)
        mail["X-Runbook-Watchdog-Incident"] = str(message.incident_id)
        mail.set_content(message.text)
        return mail

    def _send(self, mail: EmailMessage) -> None:
        cfg = self.config
        with smtplib.SMTP(cfg.host, cfg.port, timeout=cfg.timeout) as smtp:
            if cfg.starttls:
                smtp.starttls()
            if cfg.username and cfg.password is not None:
                smtp.login(cfg.username, cfg.password.get_secret_value())
            smtp.send_message(mail)
