"""Typed, frozen models of the config file's sections (the loader lives in `config.py`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from watchdog.common.durations import Duration
from watchdog.common.urls import Url
from watchdog.pipeline.capacity import DEFAULT_MAX_IN_FLIGHT, DEFAULT_MAX_LATENESS


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Level(Strict):
    """One row of the runbook's severity matrix."""

    meaning: str
    response: Duration | None = None


class EscalateRule(Strict):
    """More than `reports` reports within `within` raise an incident one severity."""

    reports: Annotated[int, Field(ge=1)] = 10
    within: Duration = 300.0


RUNBOOK_LEVELS: dict[str, Level] = {
    "sev1": Level(meaning="Site fully down or unable to process payments", response=900),
    "sev2": Level(meaning="Major feature broken for a large share of users", response=3600),
    "sev3": Level(meaning="Minor / cosmetic issue, isolated user reports", response=86400),
    "sev4": Level(meaning="No user impact, hygiene item"),
}


class SeverityConfig(Strict):
    """Levels in order, most severe first; the escalation rule (None disables it)."""

    levels: dict[str, Level] = Field(default_factory=lambda: dict(RUNBOOK_LEVELS))
    escalate: EscalateRule | None = EscalateRule()

    @field_validator("levels")
    @classmethod
    def _not_empty(cls, levels: dict[str, Level]) -> dict[str, Level]:
        if not levels:
            raise ValueError("at least one severity level is needed")
        return levels

    def rank(self, level: str) -> int:
        """0 for the most severe level."""
        return list(self.levels).index(level)

    def raised(self, level: str) -> str:
        """One level more severe (the most severe stays)."""
        names = list(self.levels)
        return names[max(0, names.index(level) - 1)]


class LeaseSettings(Strict):
    """`watchdog.lease`: replicas watching the same services share one Redis lease.

    Only the holder acts; the others run their remediations in dry-run
    (watchdog/remediation/lease.py).
    """

    redis_url: Url
    password: SecretStr | None = None
    key: str = "runbook-watchdog:lease"
    ttl: Duration = 30.0
    identity: str | None = None  # shown as the holder; default hostname:pid

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, value: str) -> str:
        if not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError(f"{value.split('://')[0]!r} is not a redis://, rediss:// or "
                             "unix:// URL")
        return value

    @field_validator("ttl")
    @classmethod
    def _ttl_at_least_a_second(cls, value: float) -> float:
        if value < 1.0:
            raise ValueError("ttl must be at least 1s (the lease is renewed every ttl/3)")
        return value
class ActionLimit(Strict):
    """The blast-radius cap: at most `count` actions (all remediations) within `within`."""

    count: Annotated[int, Field(ge=1)] = 3
    within: Duration = 600.0


class ReportSettings(Strict):
    """`watchdog.reports`: user reports (`POST /api/reports`, `runbook-watchdog report`).

    Absent, the endpoint answers 404: reports need a bearer token, read from `token_file`
    on every request (so a rotated token needs no reload).
    """

    token_file: Path
    max_length: Annotated[int, Field(ge=10, le=8000)] = 2000  # characters of one report
    severity: str = "sev3"  # of the "user reports" incident a report opens
    resolve_after: Duration = 3600.0  # that incident resolves after this long without one


class WatchdogSettings(Strict):
    """The `watchdog:` section: process-wide settings."""

    listen: str = "127.0.0.1:9877"
    web_config_file: Path | None = None  # exporter-toolkit format: TLS, basic auth (webconfig.py)
    state_dir: Path = Path("/var/lib/runbook-watchdog")
    env_file: Path | None = None
    docker_url: Url | None = None
    blocking_workers: Annotated[int, Field(ge=1, le=64)] = 4
    shutdown_grace: Duration = 10.0
    stall_after: Duration = 30.0
    deadline_grace: Duration = 1.0
    spread: Duration = 10.0
    # Load shedding (watchdog/pipeline/capacity.py): runs in flight at once, and how late a
    # run may start before it is skipped (and counted) instead.
    max_in_flight: Annotated[int, Field(ge=1, le=10_000)] = DEFAULT_MAX_IN_FLIGHT
    max_lateness: Duration = DEFAULT_MAX_LATENESS
    audit_file: Path | None = None  # default: state_dir/audit.jsonl
    lease: LeaseSettings | None = None  # absent: a single replica, which always acts
    kill_switch: Path | None = Path("/etc/runbook-watchdog/disable-remediation")
    remediation_enabled: bool = True  # false: every remediation behaves as if kill-switched
    max_actions: ActionLimit = ActionLimit()
    # This many probes failing at once is a shared cause (network, host, disk): alert, don't act.
    storm_failing_probes: Annotated[int, Field(ge=2)] = 4
    reports: ReportSettings | None = None  # absent: user reports are refused (404)

    @field_validator("listen")
    @classmethod
    def _host_port(cls, value: str) -> str:
        host, sep, port = value.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
            raise ValueError(f"{value!r} is not HOST:PORT (e.g. 127.0.0.1:9877)")
        return value

    @property
    def listen_host(self) -> str:
        return self.listen.rpartition(":")[0].strip("[]")

    @property
    def listen_port(self) -> int:
        return int(self.listen.rpartition(":")[2])


class ProbeCommon(Strict):
    """Keys every probe has, whatever its type; the type's own keys are in its Params."""

    type: str
    interval: Duration = 30.0
    timeout: Duration = 10.0
    severity: str = "sev2"
    fail_after: Annotated[int, Field(ge=1)] = 2
    recover_after: Annotated[int, Field(ge=1)] = 1
    runbook: str | None = None
    hint: str | None = None
    depends_on: tuple[str, ...] = ()
    # How long a dependent's first page waits for its dependencies to be detected;
    # None: derived from them (notification/grouping.py), 0: no wait.
    hold_for: Duration | None = None
    escalate: EscalateRule | Literal[False] | None = None
    enabled: bool = True

    @model_validator(mode="after")
    def _timeout_within_interval(self) -> ProbeCommon:
        if self.interval <= 0:
            raise ValueError("interval must be greater than 0")
        if not 0 < self.timeout < self.interval:
            raise ValueError(
                f"timeout ({self.timeout:g}s) must be greater than 0 and less than "
                f"interval ({self.interval:g}s), so a run never overlaps the next"
            )
        return self


class Budget(Strict):
    """At most `attempts` actions on one target within `within`; then it is quarantined."""

    attempts: Annotated[int, Field(ge=1)] = 3
    within: Duration = 1800.0


class Backoff(Strict):
    """Wait between attempts: initial, doubled each time, at most max."""

    initial: Duration = 10.0
    max: Duration = 300.0


class Verify(Strict):
    """How success is proven: the action's own check plus, optionally, a probe passing."""

    probe: str | None = None
    within: Duration = 120.0
    passes: int = Field(1, ge=1)  # consecutive passes of `probe` needed, each a new result


class RemediationCommon(Strict):
    """The policy keys every remediation has; the type's own keys are in its Params."""

    type: str
    mode: Literal["off", "dry-run", "auto"] = "dry-run"
    on: tuple[str, ...] = ()  # probe names, or probe:cause
    after: Annotated[int, Field(ge=1)] = 2  # consecutive failed cycles of the trigger
    budget: Budget = Budget()
    backoff: Backoff = Backoff()
    verify: Verify = Verify()
    start_period: Duration = 60.0  # no action while the target (re)started this recently
    in_maintenance: bool = False  # act during maintenance windows?



def section_keys(model: type[BaseModel]) -> frozenset[str]:
    return frozenset(model.model_fields)


def dump_public(model: BaseModel) -> dict[str, Any]:
    """JSON-able dump in which secrets stay masked."""
    return model.model_dump(mode="json")
