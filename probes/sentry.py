"""Sentry probe (runbook §2 step 2, §3.7): new issues and error volume in the last minutes.

Reads Sentry's web API (the same `/api/0/` paths on SaaS and self-hosted):

    GET /api/0/projects/{org}/{project}/issues/?query=is:unresolved firstSeen:-15m
        the issues first seen within the window, followed page by page through the
        `Link: <...>; rel="next"; results="true"` header
    GET /api/0/projects/{org}/{project}/stats/?stat=received&since=..&until=..&resolution=10s
        `[[timestamp, count], ...]`: the project's events within the window

A 429 is retried after its `Retry-After` while the probe's timeout allows; otherwise the
run is UNKNOWN `rate_limited` (Sentry did not say, so nothing is known about the app).

Causes: new_issue_spike, error_spike, unauthorized, rate_limited, bad_status, bad_body,
timeout, refused, dns, tls_error, connect_error.
"""

from __future__ import annotations

import asyncio
import email.utils
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar
from urllib.parse import quote

import httpx
from pydantic import Field, SecretStr

from watchdog.common.clock import Clock
from watchdog.common.durations import Duration, format_duration
from watchdog.common.urls import HttpUrl
from watchdog.peers.errors import network_cause
from watchdog.pipeline.observation import Observation, failed, ok, unknown
from watchdog.pipeline.probe import ProbeContext, ProbeParams

HINTS = {
    "new_issue_spike": "runbook 2 step 2: open Sentry filtered to the last 15 minutes; if the "
                       ":latest tag was bumped recently, roll back first (runbook 2 step 6)",
    "error_spike": "unusual error volume: if it comes from one IP, find the offender in the "
                   "nginx access log and block it at the edge (runbook 3.7)",
    "unauthorized": "Sentry refused the token: create an auth token with project:read and "
                    "event:read for this project and set it in the config's environment",
    "bad_status": "Sentry answered with an error: check organization/project slugs, "
                  "status.sentry.io or the self-hosted instance; app health is unknown",
    "bad_body": "Sentry's answer is not what its API documents: a proxy in between, or an "
                "incompatible self-hosted version",
}
_NETWORK_HINT = "Sentry's API cannot be reached from this host: DNS, firewall or proxy?"
_RETRY_LIMIT = 3  # 429s answered in one run before giving up, even with time left


class SentryParams(ProbeParams):
    url: HttpUrl = "https://sentry.io"
    token: Annotated[SecretStr, Field(min_length=1)]
    organization: Annotated[str, Field(min_length=1)]
    project: Annotated[str, Field(min_length=1)]
    within: Annotated[Duration, Field(gt=0)] = 900.0
    new_issues: Annotated[int, Field(ge=1)] = 3
    events: Annotated[int, Field(ge=1)] | None = 500
    max_pages: Annotated[int, Field(ge=1)] = 5
    top: Annotated[int, Field(ge=0)] = 5


@dataclass(frozen=True)
class NewIssue:
    """One issue first seen within the window, as Sentry lists it (titles are data)."""

    short_id: str
    title: str
    link: str
    count: int
    first_seen: str

    @classmethod
    def from_api(cls, item: dict[str, Any]) -> NewIssue:
        return cls(short_id=str(item.get("shortId", "")), title=str(item.get("title", "")),
                   link=str(item.get("permalink", "")), count=_int(item.get("count")),
                   first_seen=str(item.get("firstSeen", "")))

    def detail(self) -> dict[str, Any]:
        return {"short_id": self.short_id, "title": self.title, "link": self.link,
                "count": self.count, "first_seen": self.first_seen}


@dataclass(frozen=True)
class Window:
    """What the API said about the window: new issues (maybe truncated) and event count."""

    issues: tuple[NewIssue, ...]
    truncated: bool
    events: int | None


class ApiError(Exception):
    """Sentry answered, but not with data: carries the cause for the observation."""

    def __init__(self, cause: str, summary: str) -> None:
        super().__init__(summary)
        self.cause = cause
        self.summary = summary


class SentryProbe:
    Params: ClassVar[type[SentryParams]] = SentryParams
    causes: ClassVar[frozenset[str]] = frozenset(
        {"ok", "new_issue_spike", "error_spike", "unauthorized", "rate_limited", "bad_status",
         "bad_body", "timeout", "refused", "dns", "tls_error", "connect_error"})
    # Reported UNKNOWN (nothing certain was learnt): never trigger anything.
    unknown_causes: ClassVar[frozenset[str]] = frozenset({"rate_limited"})
    common_defaults: ClassVar[Mapping[str, Any]] = {"runbook": "2"}

    def __init__(self, params: SentryParams, ctx: ProbeContext) -> None:
        self.params = params
        self.timeout = ctx.timeout
        self.clock: Clock = ctx.clock
        self.client = ctx.http()
        self.base = httpx.URL(params.url.rstrip("/") + "/")
        slugs = f"{quote(params.organization, safe='')}/{quote(params.project, safe='')}"
        self._project_api = self.base.join(f"api/0/projects/{slugs}/")

    async def check(self) -> Observation:
        started = time.monotonic()
        deadline = self.clock.monotonic() + self.timeout
        try:
            async with asyncio.timeout(self.timeout):
                window = await self._read_window(deadline)
        except ApiError as exc:
            obs = self._api_failure(exc)
        except (httpx.HTTPError, OSError, TimeoutError) as exc:
            obs = self._network_failure(exc)
        else:
            obs = self._judge(window)
        return obs.with_latency(time.monotonic() - started)

    async def _read_window(self, deadline: float) -> Window:
        issues, truncated = await self._new_issues(deadline)
        events = await self._event_count(deadline) if self.params.events else None
        return Window(tuple(issues), truncated, events)

    # -- the two API reads -------------------------------------------------------------
    async def _new_issues(self, deadline: float) -> tuple[list[NewIssue], bool]:
        url = self._project_api.join("issues/")
        params: dict[str, str] | None = {"query": f"is:unresolved firstSeen:-{self._minutes()}m",
                                         "statsPeriod": "24h"}
        found: list[NewIssue] = []
        for _ in range(self.params.max_pages):
            response = await self._get(url, params, deadline)
            found += _parse_issues(_json(response, list))
            next_url = self._next_page(response)
            if next_url is None:
                return found, False
            url, params = next_url, None  # the next link carries the query
        return found, True

    async def _event_count(self, deadline: float) -> int:
        until = int(self.clock.time())
        params = {"stat": "received", "since": str(until - int(self.params.within)),
                  "until": str(until), "resolution": "10s"}
        points = _json(await self._get(self._project_api.join("stats/"), params, deadline), list)
        return sum(_int(p[1]) for p in points if isinstance(p, list) and len(p) == 2)

    def _minutes(self) -> int:
        # Sentry's relative-time search takes whole minutes; round up so nothing is missed.
        return max(1, math.ceil(self.params.within / 60))

    # -- HTTP with rate-limit replies ----------------------------------------------------
    async def _get(self, url: httpx.URL, params: dict[str, str] | None,
                   deadline: float) -> httpx.Response:
        for _ in range(_RETRY_LIMIT + 1):
            response = await self.client.get(url, params=params, headers=self._headers(),
                                             timeout=max(0.001, deadline - self.clock.monotonic()))
            if response.status_code != 429:
                return _checked(response)
            await self._wait_out(response, deadline)
        raise ApiError("rate_limited", f"Sentry rate-limited {_RETRY_LIMIT + 1} requests in a row")

    async def _wait_out(self, response: httpx.Response, deadline: float) -> None:
        wait = retry_after(response.headers, self.clock.time())
        if wait is None or self.clock.monotonic() + wait >= deadline:
            after = "no Retry-After" if wait is None else f"Retry-After {wait:g}s"
            raise ApiError("rate_limited", f"Sentry rate-limited the probe ({after}, "
                                           f"beyond the {self.timeout:g}s timeout)")
        await self.clock.sleep_until(self.clock.monotonic() + wait)

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.params.token.get_secret_value()}",
                "Accept": "application/json"}

    def _next_page(self, response: httpx.Response) -> httpx.URL | None:
        link = response.links.get("next")
        if not link or link.get("results") != "true" or "url" not in link:
            return None
        url = response.url.join(link["url"])
        # The token goes only to the configured Sentry: a next link elsewhere is not followed.
        return url if _origin(url) == _origin(self.base) else None

    # -- observations ------------------------------------------------------------------
    def _judge(self, window: Window) -> Observation:
        new, events = len(window.issues), window.events
        values: dict[str, float] = {"new_issues": new}
        if events is not None:
            values["events"] = events
        text = self._counts_text(window)
        if new >= self.params.new_issues:
            return failed("new_issue_spike", f"{text}{self._top_text(window)}",
                          hint=HINTS["new_issue_spike"], values=values,
                          details=self._details(window),
                          signals=frozenset(f"issue {i.short_id}" for i in window.issues))
        if self.params.events is not None and events is not None and events >= self.params.events:
            return failed("error_spike", text, hint=HINTS["error_spike"], values=values,
                          details=self._details(window))
        return ok(text, **values)

    def _counts_text(self, window: Window) -> str:
        span = format_duration(self.params.within)
        more = "at least " if window.truncated else ""
        text = (f"{self.params.project}: {more}{len(window.issues)} new issues in the last "
                f"{span} (threshold {self.params.new_issues})")
        if window.events is not None:
            text += f", {window.events} events (threshold {self.params.events})"
        return text

    def _top_text(self, window: Window) -> str:
        top = self._top(window)
        return f"; top: {top[0].short_id} {_clip(top[0].title)}" if top else ""

    def _top(self, window: Window) -> list[NewIssue]:
        return sorted(window.issues, key=lambda i: i.count, reverse=True)[:self.params.top]

    def _details(self, window: Window) -> dict[str, Any]:
        return {"window": format_duration(self.params.within), "truncated": window.truncated,
                "top_new_issues": [issue.detail() for issue in self._top(window)]}

    def _api_failure(self, exc: ApiError) -> Observation:
        where = f"Sentry {self.params.organization}/{self.params.project}"
        if exc.cause == "rate_limited":
            return unknown("rate_limited", f"{where}: {exc.summary}")
        return failed(exc.cause, f"{where}: {exc.summary}", hint=HINTS.get(exc.cause))

    def _network_failure(self, exc: BaseException) -> Observation:
        if isinstance(exc, httpx.TimeoutException | TimeoutError):
            cause = "timeout"
        else:
            cause = network_cause(exc) or "connect_error"
        return failed(cause, f"Sentry API at {self.base.host}: {cause.replace('_', ' ')} "
                             f"({type(exc).__name__})", hint=_NETWORK_HINT)

    async def aclose(self) -> None:
        """The shared HTTP client belongs to the process, not to this probe."""


def retry_after(headers: httpx.Headers, now: float) -> float | None:
    """Seconds to wait: Retry-After (seconds or HTTP date), else Sentry's reset time."""
    value = headers.get("retry-after")
    if value is not None:
        try:
            return max(0.0, float(value))
        except ValueError:
            pass
        try:
            return max(0.0, email.utils.parsedate_to_datetime(value).timestamp() - now)
        except (TypeError, ValueError):
            return None
    reset = headers.get("x-sentry-rate-limit-reset")
    try:
        return max(0.0, float(reset) - now) if reset is not None else None
    except ValueError:
        return None


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    return url.scheme, url.host, url.port


def _checked(response: httpx.Response) -> httpx.Response:
    code = response.status_code
    if code in (401, 403):
        raise ApiError("unauthorized", f"HTTP {code}: the token was refused "
                                       f"({_detail(response)})")
    if code == 404:
        raise ApiError("bad_status", "HTTP 404: no such organization or project")
    if not 200 <= code < 300:
        raise ApiError("bad_status", f"HTTP {code} from the Sentry API")
    return response


def _json(response: httpx.Response, kind: type) -> Any:
    try:
        doc = response.json()
    except ValueError:
        doc = None
    if not isinstance(doc, kind):
        raise ApiError("bad_body", f"{response.url.path}: not a JSON {kind.__name__}")
    return doc


def _parse_issues(items: list[Any]) -> list[NewIssue]:
    return [NewIssue.from_api(item) for item in items if isinstance(item, dict)]


def _detail(response: httpx.Response) -> str:
    try:
        detail = response.json().get("detail")
    except (ValueError, AttributeError):
        detail = None
    return _clip(str(detail)) if detail else "no detail"


def _int(value: Any) -> int:
    # Sentry sends issue counts as strings ("count": "42").
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def _clip(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[:limit - 3] + "..."
