"""Logs probe (runbook §3.1-§3.5): the runbook's symptoms in a container's log or a log file.

Reads only the lines written since the last cycle (positions persisted in the state
store: no double counting across cycles or watchdog restarts) and counts each rule's
matches in a sliding window; a rule fires when it has `threshold` matches within
`within`. The first firing rule (the operator's rules before the bundled ones) gives the
cause; every firing rule is in the details. Its `signals` are the firing rules' causes
(distinct errors: the escalation rule counts each once per incident, never the lines).

The bundled rules (`bundled_rules: true`) cover the runbook's symptoms:

    mongo_unreachable   MongoNetworkError, MongooseServerSelectionError,
                        Could not connect to server                       §3.2
    redis_unreachable   ECONNREFUSED redis:6379, NOAUTH Authentication required  §3.3
    shkeeper_down       SHKeeper request failed                           §3.4
    email_failure       SMTPError                                         §3.5
    missing_env         a thrown missing-environment-variable error        §3.1
    port_conflict       EADDRINUSE                                        §3.1

Their hints name the operator's env file (`watchdog.env_file`). Other causes: no_source
(no such container or file: UNKNOWN), docker_timeout, docker_unreachable, docker_error
(UNKNOWN).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, ClassVar

from pydantic import Field, field_validator, model_validator

from probes import _window
from probes._hints import env_file, fill, with_human_steps
from probes._logread import Lines, LogSource
from watchdog.common.durations import Duration
from watchdog.peers.docker import DOCKER_CAUSES, DockerUnavailable
from watchdog.pipeline.observation import Observation, Status, failed, unknown
from watchdog.pipeline.probe import ProbeContext, ProbeParams

NS = "logs.state"
SAMPLE = 200


class LogRule(ProbeParams):
    pattern: str  # a regular expression, searched in each line
    cause: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]
    severity: str | None = None  # overrides the probe's severity for this finding
    threshold: Annotated[int, Field(ge=1)] = 1
    within: Duration = 300.0
    runbook: str | None = None
    hint: str | None = None

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a regular expression: {exc}") from exc
        return value

    @property
    def key(self) -> str:
        return f"{self.cause}:{self.pattern}"


_ENV = r"env(?:ironment)?[ _-]?var(?:iable)?s?"
BUNDLED_RULES: tuple[LogRule, ...] = (
    LogRule(pattern=r"MongoNetworkError|MongooseServerSelectionError|Could not connect to server",
            cause="mongo_unreachable", severity="sev1", threshold=3, within=300, runbook="3.2",
            hint=with_human_steps("MongoDB unreachable: docker ps -a --filter name=mongodb; "
                                  "docker logs --tail=200 <the MongoDB container>; df -h "
                                  "/var/lib/docker (runbook §3.2)", "restore")),
    LogRule(pattern=r"ECONNREFUSED redis:6379|NOAUTH Authentication required",
            cause="redis_unreachable", severity="sev2", threshold=3, within=300, runbook="3.3",
            hint="Redis unreachable or auth mismatch: docker ps -a --filter name=redis; "
                 "redis-cli -a \"$REDIS_PASSWORD\" PING; check REDIS_PASSWORD (runbook §3.3)"),
    LogRule(pattern=r"SHKeeper request failed", cause="shkeeper_down", severity="sev1",
            threshold=3, within=300, runbook="3.4",
            hint="payments blocked: curl $SHKEEPER_API_URL/api/v1/healthcheck; 5xx is their "
                 "side, else check our network/DNS; post a status update (runbook §3.4)"),
    LogRule(pattern=r"SMTPError", cause="email_failure", severity="sev2", threshold=1,
            within=900, runbook="3.5",
            hint="email failing: verify SMTP credentials from the container; auth failed -> "
                 "update SMTP_PASS, timeout -> provider rate limit (runbook §3.5)"),
    LogRule(pattern=rf"(?i)\b(?:missing|required|undefined|not set|not defined)\b.{{0,60}}"
                    rf"\b{_ENV}\b|\b{_ENV}\b.{{0,60}}\b(?:missing|required|undefined|not set|"
                    rf"not defined)\b",
            cause="missing_env", severity="sev1", threshold=1, within=900, runbook="3.1",
            hint="a required environment variable is missing: add it to {env_file}, "
                 "then docker compose up -d (runbook 3.1 step 3)"),
    LogRule(pattern=r"EADDRINUSE", cause="port_conflict", severity="sev1", threshold=1,
            within=900, runbook="3.1",
            hint="port conflict: another process holds the port (ss -ltnp); stop it or "
                 "change the port, then docker compose up -d (runbook §3.1)"),
)

# The next steps of a configured rule that names its runbook section and no hint of its own
# (the bundled config's Request Network rule, the trigger of payments-to-shkeeper).
SECTION_HINTS = {
    "3.8": with_human_steps(
        "Request Network payments failing: stop routing to it — REQUEST_NETWORK_ENABLED=false, "
        "PAYMENT_ENABLED_PROVIDERS=shkeeper, keep PAYMENT_ROLLBACK_PROVIDER=shkeeper — and "
        "restart the backend (runbook 3.8 rollback steps 1-2; the payment_provider_switch "
        "remediation does this when enabled)", "provider_mode", "reconciliation", "reenable"),
}


def _sectioned(rule: LogRule) -> LogRule:
    """A configured rule with its section's hint when it has none of its own."""
    hint = SECTION_HINTS.get(rule.runbook or "") if rule.hint is None else None
    return rule.model_copy(update={"hint": hint}) if hint else rule


def _filled(rule: LogRule, env: str) -> LogRule:
    """A bundled rule with its hint naming this installation's env file."""
    return rule.model_copy(update={"hint": fill(rule.hint, env_file=env)}) if rule.hint \
        else rule


class LogsParams(ProbeParams):
    container: str | None = None
    path: Path | None = None
    rules: list[LogRule] = Field(default_factory=list)
    bundled_rules: bool = True
    # On first sight: a container's last `lookback` is read; a file is read from its end
    # unless `from_start` (old lines must not raise today's incident).
    lookback: Duration = 300.0
    from_start: bool = False

    @model_validator(mode="after")
    def _one_source(self) -> LogsParams:
        if (self.container is None) == (self.path is None):
            raise ValueError("give exactly one of `container` or `path`")
        if not self.rules and not self.bundled_rules:
            raise ValueError("no rules: give `rules` or keep `bundled_rules: true`")
        return self


@dataclass(frozen=True)
class Firing:
    rule: LogRule
    in_window: int
    new: int
    sample: str

    def details(self) -> dict[str, Any]:
        return {"cause": self.rule.cause, "matches_in_window": self.in_window,
                "new_matches": self.new, "threshold": self.rule.threshold,
                "within": self.rule.within, "runbook": self.rule.runbook,
                "sample": self.sample}


class LogsProbe:
    Params: ClassVar[type[LogsParams]] = LogsParams
    causes: ClassVar[frozenset[str]] = frozenset(
        {"ok", "no_source", "docker_timeout", "docker_unreachable", "docker_error",
         *(rule.cause for rule in BUNDLED_RULES)})
    # Reported UNKNOWN (nothing certain was learnt): never trigger anything.
    unknown_causes: ClassVar[frozenset[str]] = frozenset({"no_source", *DOCKER_CAUSES})

    @classmethod
    def configured_causes(cls, params: LogsParams) -> frozenset[str]:
        """The vocabulary plus the causes of the config's own rules."""
        return cls.causes | {rule.cause for rule in params.rules}

    def __init__(self, params: LogsParams, ctx: ProbeContext) -> None:
        self.params = params
        self.ctx = ctx
        bundled = [_filled(rule, env_file(ctx)) for rule in BUNDLED_RULES] \
            if params.bundled_rules else []
        self.rules = [*(_sectioned(rule) for rule in params.rules), *bundled]
        self.compiled = [re.compile(rule.pattern) for rule in self.rules]
        self.source = LogSource(ctx, container=params.container, path=params.path,
                                lookback=params.lookback, from_start=params.from_start)

    async def check(self) -> Observation:
        state = self._load()
        try:
            got = await self.source.read(state.get("pos"))
        except DockerUnavailable as exc:
            return exc.observation()
        if got is None:
            return unknown("no_source", f"{self.source.label} does not exist")
        # Regexes over a cycle's lines (up to 8 MiB) take long enough to stall the loop.
        matched = await self.ctx.run_blocking(self._match, got.lines)
        firing = self._count(got, matched, state, self.ctx.clock.time())
        return self._verdict(got, firing)

    def _match(self, lines: tuple[str, ...]) -> list[list[str]]:
        """Per rule, the lines it matches."""
        return [[line for line in lines if regex.search(line)] for regex in self.compiled]

    def _load(self) -> dict[str, Any]:
        store = self.ctx.store
        saved = store.get(NS, self.ctx.name) if store is not None else None
        return saved if isinstance(saved, dict) else {}

    def _count(self, got: Lines, per_rule: list[list[str]], state: dict[str, Any],
               now: float) -> list[Firing]:
        """Update the windows; save position and windows together (one atomic write)."""
        hits: dict[str, Any] = state.get("hits", {})
        firing = []
        for rule, matched in zip(self.rules, per_rule, strict=True):
            hits[rule.key] = _window.add(hits.get(rule.key), now, len(matched), rule.within)
            in_window = _window.total(hits[rule.key], now, rule.within)
            if in_window >= rule.threshold:
                sample = (matched[-1] if matched else "")[:SAMPLE]
                firing.append(Firing(rule, in_window, len(matched), sample))
        if self.ctx.store is not None:
            keys = {rule.key for rule in self.rules}
            self.ctx.store.put(NS, self.ctx.name, {"pos": got.position, "hits": {
                k: v for k, v in hits.items() if k in keys}}, now)
        return firing

    def _verdict(self, got: Lines, firing: list[Firing]) -> Observation:
        values = {"lines_read": float(len(got.lines))}
        if not firing:
            return Observation(Status.OK, "ok", f"{self.source.label}: no rule over its "
                               f"threshold ({len(got.lines)} new lines)", values=values,
                               details={"note": got.note} if got.note else {})
        top = firing[0]
        summary = (f"{self.source.label}: {top.in_window} lines matching {top.rule.cause} "
                   f"within {top.rule.within:g}s (threshold {top.rule.threshold})")
        return failed(top.rule.cause, summary, hint=top.rule.hint, severity=top.rule.severity,
                      values={**values, "matches_in_window": float(top.in_window)},
                      details={"runbook": top.rule.runbook,
                               "rules": [f.details() for f in firing]},
                      signals=frozenset(f"error {f.rule.cause}" for f in firing))

    async def aclose(self) -> None:
        await self.source.aclose()
