"""Access-log probe (runbook §3.7): abusive clients and brute force on the login endpoint.

Reads the nginx access log incrementally (positions in the state store) and keeps, per
minute of the requests' own timestamps, the requests and failed logins of each client
IP. Within `within`, a client over `max_requests` (the app's rate limit: 100 requests per
15 minutes per IP) is `abusive_client`; over `max_failed_logins` failed logins (a POST to
`login_path` answered 401/403/429) is `brute_force`. The offenders are in the details:
IPs are data, never metric labels. Its `signals` are the offending clients (each counted
once per incident by the escalation rule).

Causes: abusive_client, brute_force, no_source (UNKNOWN).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, ClassVar

from pydantic import Field

from probes._accesslog import Request, parse
from probes._hints import with_human_steps
from probes._logread import LogSource
from watchdog.common.durations import Duration
from watchdog.pipeline.observation import Observation, Status, failed, unknown
from watchdog.pipeline.probe import ProbeContext, ProbeParams

NS = "access_log.state"
MAX_IPS_PER_MINUTE = 5000  # beyond, a minute's remaining clients share one "other" entry
OTHER = "other"
ABUSE = ("disable_account", "data_breach")  # §3.7's steps for a person
HINTS = {
    "brute_force": with_human_steps(
        "brute force on the login endpoint: block the offender at the edge (Cloudflare / ufw "
        "deny from IP), check RATE_LIMIT in .env (runbook 3.7 steps 2-3), preserve the access "
        "logs in /var/incidents/ (runbook §3.7)", *ABUSE),
    "abusive_client": with_human_steps(
        "a client is over the rate limit: identify it (details), block it at the edge or "
        "tighten RATE_LIMIT (runbook 3.7 steps 1-3); preserve the access logs (runbook §3.7)",
        *ABUSE),
}


class AccessLogParams(ProbeParams):
    path: Path
    within: Duration = 900.0
    max_requests: Annotated[int, Field(ge=1)] = 100
    login_path: str = "/api/auth/login"
    max_failed_logins: Annotated[int, Field(ge=1)] = 10
    failed_statuses: list[int] = Field(default_factory=lambda: [401, 403, 429])
    top: Annotated[int, Field(ge=1, le=100)] = 10
    from_start: bool = False


Minutes = dict[str, dict[str, list[int]]]  # minute (epoch // 60) -> ip -> [requests, failed]


class AccessLogProbe:
    Params: ClassVar[type[AccessLogParams]] = AccessLogParams
    causes: ClassVar[frozenset[str]] = frozenset(
        {"ok", "abusive_client", "brute_force", "no_source"})
    # Reported UNKNOWN (nothing certain was learnt): never trigger anything.
    unknown_causes: ClassVar[frozenset[str]] = frozenset({"no_source"})

    def __init__(self, params: AccessLogParams, ctx: ProbeContext) -> None:
        self.params = params
        self.ctx = ctx
        self.source = LogSource(ctx, container=None, path=params.path, lookback=0,
                                from_start=params.from_start)

    async def check(self) -> Observation:
        state = self._load()
        got = await self.source.read(state.get("pos"))
        if got is None:
            return unknown("no_source", f"{self.source.label} does not exist")
        now = self.ctx.clock.time()
        # Parsing a cycle's lines (up to 8 MiB) would stall the event loop: the executor.
        minutes = await self.ctx.run_blocking(self._tally, state.get("minutes", {}),
                                              got.lines, now)
        if self.ctx.store is not None:
            self.ctx.store.put(NS, self.ctx.name, {"pos": got.position, "minutes": minutes},
                               now)
        return self._verdict(_per_ip(minutes), len(got.lines))

    def _load(self) -> dict[str, Any]:
        store = self.ctx.store
        saved = store.get(NS, self.ctx.name) if store is not None else None
        return saved if isinstance(saved, dict) else {}

    def _tally(self, minutes: Minutes, lines: tuple[str, ...], now: float) -> Minutes:
        oldest = int((now - self.params.within) // 60)
        kept = {m: ips for m, ips in minutes.items() if int(m) >= oldest}
        for request in filter(None, map(parse, lines)):
            minute = int(request.at // 60)
            if minute >= oldest:
                _count(kept.setdefault(str(minute), {}), request, self._failed_login(request))
        return kept

    def _failed_login(self, request: Request) -> bool:
        return (request.method == "POST" and request.path == self.params.login_path
                and request.status in self.params.failed_statuses)

    def _verdict(self, per_ip: dict[str, list[int]], read: int) -> Observation:
        top = sorted(per_ip.items(), key=lambda kv: kv[1][0], reverse=True)
        brute = [ip for ip, (_, bad) in top if bad > self.params.max_failed_logins]
        abusive = [ip for ip, (reqs, _) in top if reqs > self.params.max_requests]
        values = {"top_client_requests": float(top[0][1][0] if top else 0),
                  "failed_logins": float(sum(bad for _, bad in per_ip.values())),
                  "clients": float(len(per_ip)), "lines_read": float(read)}
        details = {"top": [_row(ip, per_ip[ip]) for ip, _ in top[:self.params.top]]}
        cause, offenders = ("brute_force", brute) if brute else ("abusive_client", abusive)
        if not offenders:
            return Observation(Status.OK, "ok", f"{len(per_ip)} clients within "
                               f"{self.params.within:g}s, none over the limits",
                               values=values, details=details)
        worst = offenders[0]
        return failed(cause, f"{len(offenders)} client(s) over the limit within "
                      f"{self.params.within:g}s, worst {worst}: {per_ip[worst][0]} requests, "
                      f"{per_ip[worst][1]} failed logins", hint=HINTS[cause], values=values,
                      details={**details, "offenders": [_row(ip, per_ip[ip])
                                                        for ip in offenders]},
                      signals=frozenset(f"client {ip}" for ip in offenders))

    async def aclose(self) -> None:
        await self.source.aclose()


def _count(ips: dict[str, list[int]], request: Request, failed_login: bool) -> None:
    ip = request.ip if request.ip in ips or len(ips) < MAX_IPS_PER_MINUTE else OTHER
    entry = ips.setdefault(ip, [0, 0])
    entry[0] += 1
    entry[1] += int(failed_login)


def _per_ip(minutes: Minutes) -> dict[str, list[int]]:
    totals: dict[str, list[int]] = {}
    for ips in minutes.values():
        for ip, (reqs, bad) in ips.items():
            entry = totals.setdefault(ip, [0, 0])
            entry[0] += reqs
            entry[1] += bad
    totals.pop(OTHER, None)
    return totals


def _row(ip: str, counts: list[int]) -> dict[str, Any]:
    return {"ip": ip, "requests": counts[0], "failed_logins": counts[1]}
