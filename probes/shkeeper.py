"""SHKeeper probe (runbook §3.4): the payment provider's health check, and stuck payments.

GET {url}/api/v1/healthcheck with the X-Shkeeper-Api-Key header, through the shared HTTP
client. Causes: provider_error (5xx: their side), unreachable (DNS, refused, TLS, timeout:
our network), unauthorized (401/403: the key is wrong), bad_response (anything else that is
not a healthy answer), stuck_payments (§3.4 step 4: `pending` payments older than
`older_than`, counted in MongoDB, above `threshold`). The count is reported as a value
whenever it could be taken, whatever SHKeeper said.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, ClassVar

import httpx
from pydantic import Field, SecretStr

from probes._hints import env_file, fill_all
from probes._mongo import bounded_client, mongo_cause, mongo_errors
from probes._retry import http_transient, retry_once
from watchdog.common.durations import Duration
from watchdog.common.urls import HttpUrl
from watchdog.peers.errors import network_cause
from watchdog.pipeline.observation import Observation, failed, ok
from watchdog.pipeline.probe import ProbeContext, ProbeParams

if TYPE_CHECKING:
    from pymongo import AsyncMongoClient  # imported when the client is built (probes/_mongo.py)

HINTS = {
    "provider_error": "5xx from SHKeeper: their side. Check their status page / contact the "
                      "provider, toggle the checkout banner; never SHKEEPER_FORCE_PAYOUT_DEMO "
                      "for real customer money (runbook 3.4 step 2)",
    "unreachable": "our network cannot reach SHKeeper: curl from the host vs from inside "
                   "the backend container; DNS / firewall changes? (runbook 3.4 step 3)",
    "unauthorized": "SHKeeper rejects the API key: check SHKEEPER_API_KEY in {env_file} "
                    "(runbook 3.4 step 1)",
    "bad_response": "SHKeeper answers, but not with a healthy health check: check their status "
                    "page (runbook 3.4 steps 1-2)",
    "stuck_payments": "payments pending past the window: once SHKeeper is back, verify the "
                      "backlog drains; stuck > 24h: verify against SHKeeper and run "
                      "fix-transaction-hashes.js (runbook 3.4 steps 4-5)",
}


class StuckPayments(ProbeParams):
    """§3.4 step 4: db.payments.find({status: 'pending', createdAt: {$lt: now - 30m}})."""

    uri: SecretStr
    database: str = "marketplace"
    collection: str = "payments"
    older_than: Duration = 1800.0
    threshold: Annotated[int, Field(ge=0)] = 0


class ShkeeperParams(ProbeParams):
    url: HttpUrl
    api_key: SecretStr
    # A 2xx JSON body whose "status" is not one of these is a bad_response.
    ok_statuses: list[str] = Field(default_factory=lambda: ["success", "ok"])
    stuck_payments: StuckPayments | None = None


@dataclass(frozen=True)
class Count:
    """The stuck-payments count, or why it could not be taken."""

    value: int | None
    problem: str | None = None


class ShkeeperProbe:
    Params: ClassVar[type[ShkeeperParams]] = ShkeeperParams
    causes: ClassVar[frozenset[str]] = frozenset(
        {"ok", "provider_error", "unreachable", "unauthorized", "bad_response",
         "stuck_payments"})

    def __init__(self, params: ShkeeperParams, ctx: ProbeContext) -> None:
        self.params = params
        self.timeout = ctx.timeout
        self.clock = ctx.clock
        self.http = ctx.http()
        self.endpoint = params.url.rstrip("/") + "/api/v1/healthcheck"
        self.hints = fill_all(HINTS, env_file=env_file(ctx))
        stuck = params.stuck_payments
        self.mongo: AsyncMongoClient[dict[str, Any]] | None = \
            bounded_client(stuck.uri.get_secret_value(), ctx.timeout) if stuck else None

    async def check(self) -> Observation:
        started = time.monotonic()
        api, count = await asyncio.gather(self._api(), self._count())
        latency = time.monotonic() - started
        values = dict(api.values)
        if count.value is not None:
            values["stuck_payments"] = float(count.value)
        details = {"stuck_payments": count.problem} if count.problem else {}
        return self._judge(api, count, values, details).with_latency(latency)

    def _judge(self, api: Observation, count: Count, values: dict[str, float],
               details: dict[str, Any]) -> Observation:
        note = f"; stuck payments not counted: {count.problem}" if count.problem else ""
        if not api.ok:
            return failed(api.cause, api.summary + note, hint=api.hint, values=values,
                          details=details)
        stuck = self.params.stuck_payments
        if stuck is not None and count.value is not None and count.value > stuck.threshold:
            return failed("stuck_payments", f"{count.value} payments pending for more than "
                          f"{stuck.older_than / 60:g} min (threshold {stuck.threshold})",
                          hint=self.hints["stuck_payments"], values=values, details=details)
        return ok(api.summary + note, **values)

    # -- the health check ----------------------------------------------------------------
    async def _api(self) -> Observation:
        started = time.monotonic()
        try:
            async with asyncio.timeout(self.timeout):
                response = await retry_once(self._get, http_transient)
        except (httpx.HTTPError, OSError, TimeoutError) as exc:
            how = "timeout" if isinstance(exc, httpx.TimeoutException | TimeoutError) \
                else network_cause(exc) or "connect_error"
            return failed("unreachable", f"SHKeeper unreachable ({how.replace('_', ' ')}, "
                          f"{type(exc).__name__})", hint=self.hints["unreachable"])
        return _judge_response(response, self.params.ok_statuses, time.monotonic() - started,
                               self.hints)

    async def _get(self) -> httpx.Response:
        headers = {"X-Shkeeper-Api-Key": self.params.api_key.get_secret_value()}
        return await self.http.get(self.endpoint, headers=headers, timeout=self.timeout)

    # -- stuck payments --------------------------------------------------------------------
    async def _count(self) -> Count:
        stuck = self.params.stuck_payments
        if stuck is None or self.mongo is None:
            return Count(None)
        since = dt.datetime.fromtimestamp(self.clock.time() - stuck.older_than, dt.UTC)
        query = {"status": "pending", "createdAt": {"$lt": since}}
        try:
            async with asyncio.timeout(self.timeout):
                collection = self.mongo[stuck.database][stuck.collection]
                return Count(await collection.count_documents(query))
        except mongo_errors() as exc:
            return Count(None, f"MongoDB {mongo_cause(exc) or 'error'} ({type(exc).__name__})")
        except Exception as exc:  # the driver has raised KeyError("payload")
            # An unexpected failure of the count is reported beside SHKeeper's own finding,
            # never instead of it (issue 19 item 4).
            return Count(None, f"count failed ({type(exc).__name__}: {exc})")

    async def aclose(self) -> None:
        if self.mongo is not None:
            await self.mongo.close()


def _judge_response(response: httpx.Response, ok_statuses: list[str], latency: float,
                    hints: dict[str, str]) -> Observation:
    code = response.status_code
    values = {"status_code": float(code), "latency_seconds": latency}
    if code in (401, 403):
        return failed("unauthorized", f"SHKeeper rejects the API key (HTTP {code})",
                      hint=hints["unauthorized"], values=values)
    if code >= 500:
        return failed("provider_error", f"SHKeeper answers HTTP {code}",
                      hint=hints["provider_error"], values=values)
    problem = _body_problem(response, ok_statuses)
    if problem is not None:
        return failed("bad_response", f"SHKeeper health check: {problem}",
                      hint=hints["bad_response"], values=values)
    return ok(f"SHKeeper healthy (HTTP {code} in {latency * 1000:.0f} ms)", **values)


def _body_problem(response: httpx.Response, ok_statuses: list[str]) -> str | None:
    if not 200 <= response.status_code < 300:
        return f"HTTP {response.status_code}"
    try:
        doc = json.loads(response.text)
    except ValueError:
        return "body is not JSON"
    if not isinstance(doc, dict):
        return "body is not a JSON object"
    status = doc.get("status")
    if status is not None and status not in ok_statuses:
        return f"status is {json.dumps(status)[:40]}"
    return None
