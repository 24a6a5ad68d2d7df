"""Channels that POST JSON: a generic webhook, a Slack-compatible webhook, Telegram's bot API."""

from __future__ import annotations

import httpx

from watchdog.notification.channels.base import DeliveryError, accepted
from watchdog.notification.messages import Message
from watchdog.notification.models import SlackChannel, TelegramChannel, WebhookChannel


class WebhookSender:
    """The whole message as JSON: text plus structured fields, for any receiver."""

    def __init__(self, config: WebhookChannel, http: httpx.AsyncClient) -> None:
        self.config = config
        self.http = http

    async def send(self, message: Message, now: float) -> None:
        headers = dict(self.config.headers)
        headers.update({k: v.get_secret_value() for k, v in self.config.secret_headers.items()})
        accepted(await self.http.post(self.config.url.get_secret_value(),
                                      json=message.to_json(), headers=headers,
                                      timeout=self.config.timeout))


def slack_escape(text: str) -> str:
    """Slack's mrkdwn reads `<...>` as links and mentions (`<!channel>`): messages are text.

    Slack's documented escaping is exactly these three characters, shown as themselves.
    """
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class SlackSender:
    """Slack's incoming-webhook body (`{"text": ...}`); Mattermost and Rocket.Chat take it too.

    The text is escaped (`slack_escape`): what users or probes wrote is never markup.
    """

    def __init__(self, config: SlackChannel, http: httpx.AsyncClient) -> None:
        self.config = config
        self.http = http

    async def send(self, message: Message, now: float) -> None:
        accepted(await self.http.post(self.config.url.get_secret_value(),
                                      json={"text": slack_escape(message.text)},
                                      timeout=self.config.timeout))


class TelegramSender:
    """`POST {api_url}/bot<token>/sendMessage`; Telegram answers 200 with `ok: false` on errors."""

    def __init__(self, config: TelegramChannel, http: httpx.AsyncClient) -> None:
        self.config = config
        self.http = http

    async def send(self, message: Message, now: float) -> None:
        token = self.config.bot_token.get_secret_value()
        url = f"{self.config.api_url.rstrip('/')}/bot{token}/sendMessage"
        body = {"chat_id": self.config.chat_id, "text": message.text,
                "disable_web_page_preview": True}
        response = accepted(await self.http.post(url, json=body, timeout=self.config.timeout))
        if response.json().get("ok") is not True:
            raise DeliveryError(f"Telegram refused the message: {response.text[:200]}")
