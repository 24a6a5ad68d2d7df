"""Stage 2 of the pipeline, the observation: what one probe run saw, as an immutable value.

A probe returns an `Observation`; it never decides severity or incidents (the classifier
does). `Status` is ordered like nagiosplugin's states: OK < FAILED < UNKNOWN, and UNKNOWN
("could not tell") is never treated as "down".

Causes form a small vocabulary; probes document their own in their `causes` attribute.
Causes every probe may produce, or the framework assigns:

    ok             the check passed
    refused        connection refused
    timeout        the peer did not answer within the probe's timeout
    dns            the name did not resolve
    tls_error      TLS handshake or certificate verification failed
    bad_status     an unexpected HTTP status
    bad_body       the response body did not match expect_body / expect_json
    slow           answered, but slower than max_latency
    cert_expiring  the TLS certificate expires within the configured number of days
    probe_crashed  (framework, UNKNOWN) the probe raised an unexpected exception
    probe_hung     (framework, UNKNOWN) the probe overran its hard deadline
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any


class Status(enum.IntEnum):
    """Ordered: the worst of several statuses is `max()`."""

    OK = 0  # the check ran and passed
    FAILED = 1  # the check ran and the target is not healthy
    UNKNOWN = 2  # the check could not tell (probe crashed, hung, misconfigured)

    @property
    def label(self) -> str:
        return self.name.lower()


def _frozen(mapping: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(mapping))


@dataclass(frozen=True)
class Observation:
    """The result of one probe run.

    `values` are numeric measurements (exported where a probe says so); `details` is
    JSON-able data for operators (offending IPs, image IDs): never used as metric labels.
    `severity` overrides the probe's configured severity for this finding (e.g. `slow`).
    `signals` name the distinct things this finding reports (a client, an error, a
    Sentry issue); the escalation rule counts each once per incident, the first time it is
    seen, so repeated cycles of one unchanged finding never count again.
    """

    status: Status
    cause: str
    summary: str
    latency: float = 0.0
    values: Mapping[str, float] = field(default_factory=dict)
    details: Mapping[str, Any] = field(default_factory=dict)
    hint: str | None = None
    severity: str | None = None
    signals: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        object.__setattr__(self, "values", _frozen(self.values))
        object.__setattr__(self, "details", _frozen(self.details))

    def with_latency(self, latency: float) -> Observation:
        return replace(self, latency=latency)

    @property
    def ok(self) -> bool:
        return self.status is Status.OK


def ok(summary: str, **values: float) -> Observation:
    return Observation(Status.OK, "ok", summary, values=values)


def failed(cause: str, summary: str, *, hint: str | None = None, **kw: Any) -> Observation:
    return Observation(Status.FAILED, cause, summary, hint=hint, **kw)


def unknown(cause: str, summary: str, **kw: Any) -> Observation:
    return Observation(Status.UNKNOWN, cause, summary, **kw)
