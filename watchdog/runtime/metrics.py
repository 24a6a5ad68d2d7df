"""Prometheus metrics, registered on an injected registry (tests build a fresh one).

Labels are bounded: probe names, severity levels, statuses, transitions. Error text,
IPs, IDs and URLs never become labels.
"""

from __future__ import annotations

import contextlib

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from watchdog import __version__

PREFIX = "runbook_watchdog_"
_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
_DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Metrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry

        def gauge(name: str, doc: str, labels: tuple[str, ...] = ()) -> Gauge:
            return Gauge(PREFIX + name, doc, labels, registry=registry)

        def counter(name: str, doc: str, labels: tuple[str, ...] = ()) -> Counter:
            return Counter(PREFIX + name, doc, labels, registry=registry)

        self.probe_success = gauge(
            "probe_success", "1 if the probe's last run passed, 0 if it failed, NaN if unknown",
            ("probe",))
        self.probe_duration = Histogram(
            PREFIX + "probe_duration_seconds", "How long probe runs take", ("probe",),
            buckets=_DURATION_BUCKETS, registry=registry)
        self.probe_runs = counter("probe_runs", "Probe runs by status (ok, failed, unknown)",
                                  ("probe", "status"))
        self.probe_errors = counter(
            "probe_errors", "Probe runs that crashed or hung (reported as unknown)", ("probe",))
        self.incidents_open = gauge("incidents_open", "Open incidents by severity", ("severity",))
        self.incident_transitions = counter(
            "incident_transitions", "Incident transitions (open, update, resolve)",
            ("severity", "transition"))
        self.lateness = Histogram(
            PREFIX + "scheduler_lateness_seconds",
            "How late probe runs start relative to their fixed-rate schedule",
            buckets=_LATENCY_BUCKETS, registry=registry)
        self.skipped = counter(
            "scheduler_skipped_runs", "Scheduled runs skipped because the previous run overran",
            ("probe",))
        self.reload_ok = gauge("config_last_reload_successful",
                               "1 if the last config (re)load succeeded")
        self.reload_ts = gauge("config_last_reload_success_timestamp_seconds",
                               "When the config was last loaded successfully")
        self.remediation_attempts = counter(
            "remediation_attempts",
            "Remediation decisions by outcome: succeeded, failed, verify_failed, would_act, "
            "refused, skipped", ("remediation", "outcome"))
        self.remediation_skips = counter(
            "remediation_skips", "Remediations held back, by the gate that held them",
            ("remediation", "gate"))
        self.remediation_errors = counter(
            "remediation_errors", "Action calls (plan, execute, verify) that raised outside "
            "the action contract: a bug in the action, journaled as `crashed`",
            ("remediation", "call"))
        self.remediation_quarantined = gauge(
            "remediation_quarantined", "1 while the remediation's target is quarantined",
            ("remediation",))
        self.events = counter(
            "events", "Events probes reported that are not incidents, e.g. a deploy "
            "(kind=deploy, target=the container)", ("kind", "target"))
        self.build_info = gauge("build_info", "Version of runbook-watchdog", ("version",))
        self.build_info.labels(version=__version__).set(1)
        self.probe_value = gauge(
            "probe_value", "What a probe's last run measured (Observation.values: latency, "
            "memory ratio, stuck payments, certificate days left)", ("probe", "value"))
        self._value_names: dict[str, set[str]] = {}

    def observe_values(self, probe: str, values: dict[str, float]) -> None:
        """Export a run's values; names come from probe code, so the label stays bounded."""
        for name, value in values.items():
            self.probe_value.labels(probe=probe, value=name).set(value)
        self._value_names.setdefault(probe, set()).update(values)

    def forget_probe(self, probe: str) -> None:
        """Drop a removed probe's series so they do not linger after a reload."""
        for metric in (self.probe_success, self.probe_duration, self.probe_errors,
                       self.skipped):
            with contextlib.suppress(KeyError):
                metric.remove(probe)
        for status in ("ok", "failed", "unknown"):
            with contextlib.suppress(KeyError):
                self.probe_runs.remove(probe, status)
        for name in self._value_names.pop(probe, set()):
            with contextlib.suppress(KeyError):
                self.probe_value.remove(probe, name)
