"""Typed, frozen models of the `notify:` and `maintenance:` config sections."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator, model_validator

from watchdog.common.durations import Duration
from watchdog.common.urls import HttpUrl, SecretUrl
from watchdog.notification.cron import Cron, parse_cron
from watchdog.runtime.config_models import SeverityConfig, Strict


class ChannelBase(Strict):
    """Keys every channel has."""

    severities: tuple[str, ...] = ()  # empty: every severity
    timeout: Duration = 10.0
    attempts: Annotated[int, Field(ge=1, le=10)] = 3  # tenacity attempts per delivery round


class WebhookChannel(ChannelBase):
    type: Literal["webhook"]
    url: SecretUrl  # webhook URLs often carry a token
    headers: dict[str, str] = Field(default_factory=dict)
    secret_headers: dict[str, SecretStr] = Field(default_factory=dict)


class SlackChannel(ChannelBase):
    type: Literal["slack"]
    url: SecretUrl  # an incoming-webhook URL is itself the credential


class TelegramChannel(ChannelBase):
    type: Literal["telegram"]
    bot_token: SecretStr
    chat_id: str
    api_url: HttpUrl = "https://api.telegram.org"


class EmailChannel(ChannelBase):
    type: Literal["email"]
    host: str
    port: Annotated[int, Field(ge=1, le=65535)] = 25
    starttls: bool = False
    username: str | None = None
    password: SecretStr | None = None
    sender: str
    to: tuple[str, ...]

    @field_validator("to")
    @classmethod
    def _some_recipient(cls, to: tuple[str, ...]) -> tuple[str, ...]:
        if not to:
            raise ValueError("at least one recipient is needed")
        return to


class AlertmanagerChannel(ChannelBase):
    type: Literal["alertmanager"]
    url: HttpUrl  # base URL, e.g. http://127.0.0.1:9093
    resend_every: Duration = 60.0  # active alerts are re-posted so Alertmanager keeps them
    labels: dict[str, str] = Field(default_factory=dict)  # extra labels (e.g. instance)


Channel = Annotated[WebhookChannel | SlackChannel | TelegramChannel | EmailChannel
                    | AlertmanagerChannel, Field(discriminator="type")]


class FlappingConfig(Strict):
    """More than `changes` state changes within `within` mark a probe as flapping."""

    changes: Annotated[int, Field(ge=2)] = 4
    within: Duration = 600.0


class NotifyConfig(Strict):
    """The `notify:` section."""

    channels: dict[str, Channel] = Field(default_factory=dict)
    templates_dir: Path | None = None  # operators' templates; missing files fall back
    reminders: bool = True  # re-notify unacknowledged incidents at the response time
    flapping: FlappingConfig | None = FlappingConfig()
    retry_after: Duration = 30.0  # first pause after a failed delivery round (doubles, max 10m)
    check_every: Duration = 5.0  # reminders, flapping and Alertmanager re-sends
    postmortems: bool = True


class MaintenanceWindow(Strict):
    """One-off (`start`, `end`) or recurring (`cron`, `duration`) maintenance."""

    name: str
    probes: tuple[str, ...] = ()  # empty: every probe
    start: datetime | None = None
    end: datetime | None = None
    cron: str | None = None
    duration: Duration | None = None
    timezone: str = "UTC"

    @field_validator("cron")
    @classmethod
    def _valid_cron(cls, value: str | None) -> str | None:
        if value is not None:
            parse_cron(value)
        return value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @model_validator(mode="after")
    def _one_kind(self) -> MaintenanceWindow:
        one_off = self.start is not None or self.end is not None
        recurring = self.cron is not None or self.duration is not None
        if one_off == recurring:
            raise ValueError("give either start and end, or cron and duration")
        if one_off and (self.start is None or self.end is None or self.end <= self.start):
            raise ValueError("a one-off window needs start and end, end after start")
        if recurring and (self.cron is None or not self.duration):
            raise ValueError("a recurring window needs cron and a duration")
        return self

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def schedule(self) -> Cron | None:
        return parse_cron(self.cron) if self.cron else None


def cross_check(notify: NotifyConfig, maintenance: tuple[MaintenanceWindow, ...],
                severity: SeverityConfig, probes: Mapping[str, object]
                ) -> Iterator[tuple[str, str]]:
    """(key, problem) for references to severities and probes that do not exist."""
    levels = ", ".join(severity.levels)
    for name, channel in notify.channels.items():
        for sev in channel.severities:
            if sev not in severity.levels:
                yield f"notify.channels.{name}.severities", \
                    f"unknown severity {sev!r} (levels: {levels})"
    for i, window in enumerate(maintenance):
        for probe in window.probes:
            if probe not in probes:
                yield f"maintenance.{i}.probes", f"{probe!r} is not a configured probe"
