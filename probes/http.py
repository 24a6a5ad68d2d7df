"""HTTP probe (runbook §2.4, §3.1): GET a URL and judge status, body, certificate, latency.

Causes: refused, timeout, dns, tls_error, connect_error, bad_status, bad_body, bad_redirect,
cert_expiring, slow.

Each request goes through `fetch()` (watchdog/peers/http.py): straight to the shared
aiohttp session, without httpx's request and response objects (this probe runs thousands
of times a second). The certificate is read from the connection the request used, so no
second TLS handshake is made. Redirects are followed by the probe itself, one hop at a
time, so the secret headers only ever go to the configured host. The body is decoded only
when `expect_body` or `expect_json` reads it.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, ClassVar

import httpx
import yarl
from pydantic import Field, SecretStr, model_validator

from probes._retry import http_transient, retry_once
from probes._tls import HTTP_ALPN, client_context, days_left
from watchdog.common.durations import Duration
from watchdog.common.urls import HttpUrl
from watchdog.peers.errors import network_cause
from watchdog.peers.http import Answer, fetch, http_client
from watchdog.pipeline.observation import Observation, Status, failed
from watchdog.pipeline.probe import ProbeContext, ProbeParams

HINTS = {
    "refused": "nothing is listening: check the container (docker ps) and its logs (runbook 3.1)",
    "timeout": "no answer in time: check docker ps for a Restarting container (runbook 3.1)",
    "dns": "the name does not resolve: DNS or /etc/hosts changed?",
    "connect_error": "the connection failed: check the container (docker ps) and the proxy "
                     "in front of it (runbook 3.1)",
    "tls_error": "TLS failed: certificate expired, wrong name or untrusted chain",
    "bad_status": "the endpoint answers with an error: docker logs --tail=200 (runbook 3.1)",
    "bad_body": "the endpoint answers, but not with what a healthy service returns",
    "bad_redirect": "the endpoint redirects somewhere unexpected: proxy or nginx config changed?",
    "cert_expiring": "renew the TLS certificate (certbot renew / the proxy's ACME) before it "
                     "expires and the site is down for every browser",
    "slow": "the endpoint answers slowly: look for load, OOM pressure or a slow dependency",
}
_MISSING = object()
_REDIRECTS = frozenset({301, 302, 303, 307, 308})


class HttpParams(ProbeParams):
    url: HttpUrl
    method: str = "GET"
    expect_status: list[int] = Field(default_factory=lambda: list(range(200, 300)))
    headers: dict[str, str] = Field(default_factory=dict)
    # Header values that are credentials: scrubbed from every output.
    secret_headers: dict[str, SecretStr] = Field(default_factory=dict)
    expect_json: dict[str, Any] | None = None
    expect_body: str | None = None
    max_latency: Duration | None = None
    slow_severity: str | None = None
    verify_tls: bool = True
    ca_file: Path | None = None
    tls_min_days: Annotated[float, Field(gt=0)] | None = None
    cert_severity: str | None = None
    follow_redirects: bool = False
    max_redirects: Annotated[int, Field(ge=1, le=20)] = 5
    redirect_other_hosts: bool = False

    @model_validator(mode="after")
    def _expiry_needs_verification(self) -> HttpParams:
        # An unverified peer certificate is not decoded by ssl: there is no date to read.
        if self.tls_min_days is not None and not self.verify_tls:
            raise ValueError("tls_min_days needs verify_tls: true (use ca_file for a private CA)")
        return self


@dataclass(frozen=True, slots=True)
class Fetched:
    """The final answer of one run, with the number of redirects followed to it."""

    answer: Answer
    redirects: int

    @property
    def cert_days(self) -> float | None:
        cert = self.answer.peer_cert
        return None if cert is None else days_left(cert)


class RedirectRefused(Exception):
    """A redirect the policy does not allow (too many hops, another host)."""


class HttpProbe:
    Params: ClassVar[type[HttpParams]] = HttpParams
    causes: ClassVar[frozenset[str]] = frozenset(
        {"ok", "refused", "timeout", "dns", "tls_error", "connect_error", "bad_status",
         "bad_body", "bad_redirect", "cert_expiring", "slow"})
    # Warnings, not "down": certificate expiring and a slow answer: the site still serves.
    warning_causes: ClassVar[frozenset[str]] = frozenset({"cert_expiring", "slow"})

    def __init__(self, params: HttpParams, ctx: ProbeContext) -> None:
        self.params = params
        self.timeout = ctx.timeout
        # A private CA or verify_tls: false needs a client of its own (built once, reused);
        # everything else shares the process-wide client.
        self._own_client = params.ca_file is not None or not params.verify_tls
        self.client = http_client(
            client_context(params.ca_file, params.verify_tls, HTTP_ALPN)) \
            if self._own_client else ctx.http()
        self._body_re = re.compile(params.expect_body) if params.expect_body else None
        # Parsed once, not on every run; httpx normalises the URL as it did when it sent it.
        self._url = yarl.URL(str(httpx.URL(params.url)), encoded=True)
        self._where = f"{params.method} {params.url}"
        self._plain_headers = tuple(params.headers.items())

    def _headers(self, url: yarl.URL) -> tuple[tuple[str, str], ...]:
        # Secret headers go to the configured host only.
        if url.host != self._url.host or not self.params.secret_headers:
            return self._plain_headers
        secret = {k: v.get_secret_value() for k, v in self.params.secret_headers.items()}
        return tuple({**self.params.headers, **secret}.items())

    async def check(self) -> Observation:
        started = time.monotonic()
        try:
            async with asyncio.timeout(self.timeout):
                fetched = await retry_once(self._follow, http_transient)
        except RedirectRefused as exc:
            return failed("bad_redirect", f"{self._where}: {exc}", hint=HINTS["bad_redirect"],
                          latency=time.monotonic() - started)
        except (httpx.HTTPError, OSError, TimeoutError) as exc:
            return self._failure(exc, time.monotonic() - started)
        latency = time.monotonic() - started
        return self._judge(fetched, latency)

    async def _follow(self) -> Fetched:
        url, method = self._url, self.params.method
        for hop in range(self.params.max_redirects + 1):
            answer = await fetch(self.client, method, url, self._headers(url))
            location = answer.headers.get("Location") if answer.status in _REDIRECTS else None
            if not self.params.follow_redirects or location is None:
                return Fetched(answer, hop)
            url, method = _next_url(url, location), _next_method(method, answer.status)
            self._allow(url)
        raise RedirectRefused(f"more than {self.params.max_redirects} redirects")

    def _allow(self, target: yarl.URL) -> None:
        if not self.params.redirect_other_hosts and target.host != self._url.host:
            raise RedirectRefused(f"redirects to another host ({target.host})")

    def _failure(self, exc: BaseException, latency: float) -> Observation:
        if isinstance(exc, httpx.TimeoutException | TimeoutError):
            cause = "timeout"
        else:
            cause = network_cause(exc) or "connect_error"
        return failed(cause, f"{self._where}: {cause.replace('_', ' ')} ({type(exc).__name__})",
                      hint=HINTS.get(cause), latency=latency)

    def _judge(self, fetched: Fetched, latency: float) -> Observation:
        code = fetched.answer.status
        days = fetched.cert_days
        values = _values(code, fetched.redirects, days, latency)
        if code not in self.params.expect_status:
            return failed("bad_status", f"{self._where}: HTTP {code}",
                          hint=HINTS["bad_status"], values=values, latency=latency)
        problem = self._body_problem(fetched.answer)
        if problem is not None:
            return failed("bad_body", f"{self._where}: {problem}", hint=HINTS["bad_body"],
                          values=values, latency=latency)
        return self._judge_cert(days, values, latency) or \
            self._judge_latency(latency, values) or \
            Observation(Status.OK, "ok", f"{self._where}: HTTP {code} in "
                        f"{latency * 1000:.0f} ms", latency, values)

    def _judge_cert(self, days: float | None, values: dict[str, float], latency: float
                    ) -> Observation | None:
        minimum = self.params.tls_min_days
        if minimum is None or days is None or days >= minimum:
            return None
        return failed("cert_expiring", f"{self._where}: TLS certificate expires in "
                      f"{days:.1f} days (< {minimum:g})", hint=HINTS["cert_expiring"],
                      severity=self.params.cert_severity, values=values, latency=latency)

    def _judge_latency(self, latency: float, values: dict[str, float]) -> Observation | None:
        limit = self.params.max_latency
        if limit is None or latency <= limit:
            return None
        return failed("slow", f"{self._where}: {latency * 1000:.0f} ms > {limit * 1000:.0f} ms",
                      hint=HINTS["slow"], severity=self.params.slow_severity, values=values,
                      latency=latency)

    def _body_problem(self, answer: Answer) -> str | None:
        if self._body_re is None and self.params.expect_json is None:
            return None  # the body is not decoded when nothing reads it
        text = answer.text
        if self._body_re is not None and not self._body_re.search(text):
            return f"body does not match {self.params.expect_body!r}"
        if self.params.expect_json is None:
            return None
        try:
            doc = json.loads(text)
        except (ValueError, RecursionError):  # RecursionError: nested deeper than Python goes
            return "body is not JSON"
        for path, expected in self.params.expect_json.items():
            actual = _lookup(doc, path)
            if actual is _MISSING:
                return f"JSON field {path!r} is missing"
            if actual != expected:
                return f"JSON field {path!r} is {_short(actual)}, expected {_short(expected)}"
        return None

    async def aclose(self) -> None:
        if self._own_client:
            await self.client.aclose()


def _values(code: int, redirects: int, cert_days: float | None, latency: float
            ) -> dict[str, float]:
    values = {"status_code": float(code), "latency_seconds": latency}
    if redirects:
        values["redirects"] = float(redirects)
    if cert_days is not None:
        values["cert_days_left"] = round(cert_days, 3)
    return values


def _next_url(url: yarl.URL, location: str) -> yarl.URL:
    """Where a redirect leads (a relative Location is resolved against `url`)."""
    try:
        return url.join(yarl.URL(location))
    except ValueError as exc:  # httpx's answer to a Location it cannot parse
        raise httpx.RemoteProtocolError(f"Invalid URL in location header: {exc}.") from exc


def _next_method(method: str, status: int) -> str:
    """The method of the next hop, as browsers (and httpx) choose it."""
    if status == 303 and method != "HEAD":
        return "GET"
    if status in (301, 302) and method == "POST":
        return "GET"
    return method


def _lookup(doc: Any, path: str) -> Any:
    for part in path.split("."):
        if isinstance(doc, dict) and part in doc:
            doc = doc[part]
        elif isinstance(doc, list) and part.isdigit() and int(part) < len(doc):
            doc = doc[int(part)]
        else:
            return _MISSING
    return doc


def _short(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."
