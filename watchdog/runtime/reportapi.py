"""`POST /api/reports`: user reports into the running daemon, behind a bearer token.

Off (404) unless `watchdog.reports.token_file` is set. The token is read from that file on
every request (a rotated token needs no reload) and compared in constant time. The body
is JSON, `{"text": "...", "probe": "NAME"}` (`probe` optional), at most `MAX_BODY` bytes;
the text, once cleaned (notification/reports.py), at most `max_length` characters.

Answers (JSON): 201 filed, with the incident; 400 not JSON, no text, an unknown probe;
401 no bearer token; 403 a wrong token; 404 reports are off; 411 no Content-Length;
413 the body or the text is too long; 503 the token file cannot be read, or the event
loop did not take the report in time. Runs on the listener's threads; the report itself
is filed on the event loop.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from email.message import Message
from typing import Any, Protocol

from watchdog.common.secrets import SCRUBBER
from watchdog.notification.reports import Filed, UserReport, clean
from watchdog.runtime.config_models import ReportSettings

log = logging.getLogger(__name__)
MAX_BODY = 64 * 1024  # bytes: max_length (at most 8000) characters, escaped, fit with room
MIN_TOKEN = 16  # characters: a short token is guessable, and scrubbed from every text
FILE_TIMEOUT = 10.0  # seconds the listener thread waits for the loop to file a report


class Body(Protocol):
    def read(self, size: int, /) -> bytes: ...


@dataclass(frozen=True)
class Reply:
    code: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)

    def payload(self) -> bytes:
        return (json.dumps(self.body) + "\n").encode()


def _error(code: int, message: str, **headers: str) -> Reply:
    return Reply(code, {"error": message}, headers)


class ReportDenied(Exception):
    """The request is refused before its body is read."""

    def __init__(self, reply: Reply) -> None:
        super().__init__(reply.body.get("error"))
        self.reply = reply


@dataclass(frozen=True)
class ReportEndpoint:
    """What the endpoint needs from the daemon; the callables follow a reload."""

    settings: Callable[[], ReportSettings | None]
    probes: Callable[[], Collection[str]]
    file: Callable[[UserReport], Filed]  # called on the event loop
    loop: asyncio.AbstractEventLoop

    def handle(self, headers: Message, body: Body) -> Reply:
        try:
            settings = self._authorized(headers)
            report = self._report(settings, self._read(headers, body))
        except ReportDenied as exc:
            return exc.reply
        return self._file(report)

    def _authorized(self, headers: Message) -> ReportSettings:
        settings = self.settings()
        if settings is None:
            raise ReportDenied(_error(404, "user reports are off: set "
                                           "watchdog.reports.token_file"))
        scheme, _, given = (headers.get("Authorization") or "").partition(" ")
        if scheme.lower() != "bearer" or not given.strip():
            raise ReportDenied(_error(401, "a bearer token is required",
                                      **{"WWW-Authenticate": 'Bearer realm="reports"'}))
        if not hmac.compare_digest(given.strip().encode(), _token(settings).encode()):
            raise ReportDenied(_error(403, "wrong token"))
        return settings

    def _read(self, headers: Message, body: Body) -> bytes:
        length = headers.get("Content-Length")
        if length is None or not length.isdigit():
            raise ReportDenied(_error(411, "Content-Length is required"))
        if int(length) > MAX_BODY:
            raise ReportDenied(_error(413, f"the body is over {MAX_BODY} bytes"))
        return body.read(int(length))

    def _report(self, settings: ReportSettings, raw: bytes) -> UserReport:
        try:
            data = json.loads(raw)
        except ValueError:
            raise ReportDenied(_error(400, "the body is not JSON")) from None
        given = data if isinstance(data, dict) else {}
        text, probe = given.get("text"), given.get("probe")
        text = clean(text) if isinstance(text, str) else ""
        if not text:
            raise ReportDenied(_error(400, 'no report: give {"text": "..."}'))
        if len(text) > settings.max_length:
            raise ReportDenied(_error(413, f"the text is over {settings.max_length} characters"))
        if probe is not None and (not isinstance(probe, str) or probe not in self.probes()):
            raise ReportDenied(_error(400, f"unknown probe {str(probe)[:80]!r}"))
        return UserReport(text, probe)

    def _file(self, report: UserReport) -> Reply:
        async def on_loop() -> Filed:
            return self.file(report)

        try:
            filed = asyncio.run_coroutine_threadsafe(on_loop(), self.loop).result(FILE_TIMEOUT)
        except Exception as exc:  # the loop is stalled or shutting down
            log.error("user report not filed: %s", type(exc).__name__)
            return _error(503, f"report not filed: {type(exc).__name__}")
        log.info("user report filed on incident %d", filed.incident.id)
        return Reply(201, filed.to_json())


def _token(settings: ReportSettings) -> str:
    """The token, never short: an empty file would let an empty bearer token in."""
    try:
        token = settings.token_file.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeError) as exc:
        log.error("user reports refused: cannot read watchdog.reports.token_file %s: %s",
                  settings.token_file, getattr(exc, "strerror", None) or type(exc).__name__)
        raise ReportDenied(_error(503, "the reports token file cannot be read")) from None
    if len(token) < MIN_TOKEN:
        log.error("user reports refused: the token in watchdog.reports.token_file %s is "
                  "shorter than %d characters", settings.token_file, MIN_TOKEN)
        raise ReportDenied(_error(503, "the reports token is too short"))
    SCRUBBER.register([token])
    return token
