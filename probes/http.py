"""HTTP probe (runbook §2.4, §3.1): GET a URL and judge status, body, JSON fields and latency.

Causes: refused, timeout, dns, tls_error, connect_error, bad_status, bad_body, slow.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from typing import Any, ClassVar

import httpx
from pydantic import Field, SecretStr

from probes._errors import network_cause
from watchdog.durations import Duration
from watchdog.observation import Observation, failed, ok
from watchdog.probe import ProbeContext, ProbeParams

HINTS = {
    "refused": "nothing is listening: check the container (docker ps) and its logs (runbook 3.1)",
    "timeout": "no answer in time: check docker ps for a Restarting container (runbook 3.1)",
    "dns": "the name does not resolve: DNS or /etc/hosts changed?",
    "tls_error": "TLS failed: certificate expired, wrong name or untrusted chain",
    "bad_status": "the endpoint answers with an error: docker logs --tail=200 (runbook 3.1)",
    "bad_body": "the endpoint answers, but not with what a healthy service returns",
    "slow": "the endpoint answers slowly: look for load, OOM pressure or a slow dependency",
}
_MISSING = object()


class HttpParams(ProbeParams):
    url: str
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


class HttpProbe:
    Params: ClassVar[type[HttpParams]] = HttpParams
    causes: ClassVar[frozenset[str]] = frozenset(
        {"ok", "refused", "timeout", "dns", "tls_error", "connect_error", "bad_status",
         "bad_body", "slow"})

    def __init__(self, params: HttpParams, ctx: ProbeContext) -> None:
        self.params = params
        self.timeout = ctx.timeout
        # verify_tls: false needs a client of its own; the shared one always verifies.
        self._own_client = not params.verify_tls
        self.client = httpx.AsyncClient(verify=False, trust_env=False) \
            if self._own_client else ctx.http()  # noqa: S501 - the operator asked for it
        self._body_re = re.compile(params.expect_body) if params.expect_body else None

    def _headers(self) -> dict[str, str]:
        secret = {k: v.get_secret_value() for k, v in self.params.secret_headers.items()}
        return {**self.params.headers, **secret}

    async def check(self) -> Observation:
        started = time.monotonic()
        try:
            async with asyncio.timeout(self.timeout):
                response = await self.client.request(self.params.method, self.params.url,
                                                      headers=self._headers(),
                                                      timeout=self.timeout)
        except (httpx.HTTPError, OSError, TimeoutError) as exc:
            return self._failure(exc, time.monotonic() - started)
        latency = time.monotonic() - started
        return self._judge(response, latency).with_latency(latency)

    def _failure(self, exc: BaseException, latency: float) -> Observation:
        if isinstance(exc, httpx.TimeoutException | TimeoutError):
            cause = "timeout"
        else:
            cause = network_cause(exc) or "connect_error"
        return failed(cause, f"{self.params.method} {self.params.url}: {cause.replace('_', ' ')}"
                      f" ({type(exc).__name__})", hint=HINTS.get(cause), latency=latency)

    def _judge(self, response: httpx.Response, latency: float) -> Observation:
        where = f"{self.params.method} {self.params.url}"
        if response.status_code not in self.params.expect_status:
            return failed("bad_status", f"{where}: HTTP {response.status_code}",
                          hint=HINTS["bad_status"], values={"status_code": response.status_code})
        problem = self._body_problem(response.text)
        if problem is not None:
            return failed("bad_body", f"{where}: {problem}", hint=HINTS["bad_body"])
        limit = self.params.max_latency
        if limit is not None and latency > limit:
            return failed("slow", f"{where}: {latency * 1000:.0f} ms > {limit * 1000:.0f} ms",
                          hint=HINTS["slow"], severity=self.params.slow_severity,
                          values={"latency_seconds": latency})
        return ok(f"{where}: HTTP {response.status_code} in {latency * 1000:.0f} ms",
                  status_code=response.status_code, latency_seconds=latency)

    def _body_problem(self, text: str) -> str | None:
        if self._body_re is not None and not self._body_re.search(text):
            return f"body does not match {self.params.expect_body!r}"
        if self.params.expect_json is None:
            return None
        try:
            doc = json.loads(text)
        except ValueError:
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
