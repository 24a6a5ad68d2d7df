"""Prometheus metrics, registered on an injected registry (tests build a fresh one).

Labels are bounded: probe names, severity levels, statuses, transitions. Error text,
IPs, IDs and URLs never become labels.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.metrics_core import Metric
from prometheus_client.samples import Sample

from watchdog import __version__
from watchdog.runtime.probemetrics import (
    ProbeFamily,
    ProbeMetrics,
    escape,
    go_float,
    header,
)

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

        # Every `probe`-labelled family: plain numbers, rendered straight to text.
        self.probes = ProbeMetrics(registry, PREFIX, _DURATION_BUCKETS)
        self.incidents_open = gauge("incidents_open", "Open incidents by severity", ("severity",))
        self.incident_transitions = counter(
            "incident_transitions", "Incident transitions (open, update, resolve)",
            ("severity", "transition"))
        self.lateness = Histogram(
            PREFIX + "scheduler_lateness_seconds",
            "How late probe runs start relative to their fixed-rate schedule",
            buckets=_LATENCY_BUCKETS, registry=registry)
        self.in_flight = gauge("scheduler_in_flight", "Probe runs in flight now")
        self.in_flight_limit = gauge(
            "scheduler_in_flight_limit", "Probe runs allowed in flight now: adapts below "
            "watchdog.max_in_flight, lower while the event loop runs late (overload)")
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

    def observe_values(self, probe: str, values: dict[str, float]) -> None:
        """Export a run's values; names come from probe code, so the label stays bounded."""
        self.probes.observe_values(probe, values)

    def forget_probe(self, probe: str) -> None:
        """Drop a removed probe's series so they do not linger after a reload."""
        self.probes.forget(probe)


# -- the /metrics body ------------------------------------------------------------------------
_TYPES = {"counter": "counter", "gauge": "gauge", "histogram": "histogram",
          "summary": "summary", "info": "gauge", "stateset": "gauge",
          "gaugehistogram": "histogram", "unknown": "untyped"}
_SUFFIX = {"counter": "_total", "info": "_info"}
_OPENMETRICS_ONLY = ("_created", "_gsum", "_gcount")
_YIELD_EVERY = 500  # lines: let the event loop take the GIL this often while rendering


class Exposition:
    """The Prometheus text exposition of a registry, byte for byte `generate_latest`'s.

    Rendering 10k series with prometheus_client builds and formats every sample again on
    each scrape, holding the GIL ~100 ms against the event loop. Here the per-probe
    families (ProbeMetrics, nearly all the series) give their text directly; the few other
    series are formatted once and kept while their value is unchanged. One render runs at
    a time (scrapes that arrive meanwhile share it), and the render thread yields the GIL
    every few hundred lines so the loop never waits long for it.
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self._lock = threading.Lock()
        self._lines: dict[tuple[str, tuple[tuple[str, str], ...]], tuple[float, str]] = {}
        self._body = b""
        self._at = -1.0

    def render(self) -> bytes:
        asked = time.monotonic()
        with self._lock:
            if self._at >= asked:
                return self._body  # rendered while this scrape waited: as fresh as asked
            seen: set[tuple[str, tuple[tuple[str, str], ...]]] = set()
            self._body = "".join(self._families(seen)).encode()
            self._at = time.monotonic()
            for gone in self._lines.keys() - seen:  # series removed (a probe left the config)
                del self._lines[gone]
            return self._body

    def _families(self, seen: set[tuple[str, tuple[tuple[str, str], ...]]]) -> Iterator[str]:
        lines = self._lines_of(seen)
        for count, line in enumerate(lines, 1):
            yield line
            if count % _YIELD_EVERY == 0:
                time.sleep(0)  # releases the GIL: the event loop runs now

    def _lines_of(self, seen: set[tuple[str, tuple[tuple[str, str], ...]]]) -> Iterator[str]:
        for family in self.registry.collect():
            if isinstance(family, ProbeFamily):
                yield from family.lines()
                continue
            late: dict[str, list[Sample]] = {}
            only_openmetrics = {family.name + suffix: suffix for suffix in _OPENMETRICS_ONLY}
            yield header(family.name + _SUFFIX.get(family.type, ""), family.documentation,
                         _TYPES.get(family.type, family.type))
            for sample in family.samples:
                suffix = only_openmetrics.get(sample.name)
                if suffix is not None:
                    late.setdefault(suffix, []).append(sample)
                    continue
                yield self._line(sample, seen)
            yield from self._openmetrics_only(family, late, seen)

    def _openmetrics_only(self, family: Metric, late: dict[str, list[Sample]],
                          seen: set[tuple[str, tuple[tuple[str, str], ...]]]) -> Iterable[str]:
        for suffix, samples in sorted(late.items()):
            yield header(family.name + suffix, family.documentation, "gauge")
            yield from (self._line(sample, seen) for sample in samples)

    def _line(self, sample: Sample, seen: set[tuple[str, tuple[tuple[str, str], ...]]]) -> str:
        key = (sample.name, tuple(sample.labels.items()))
        seen.add(key)
        cached = self._lines.get(key)
        if cached is not None and cached[0] == sample.value and sample.timestamp is None:
            return cached[1]
        line = _sample_line(sample)
        self._lines[key] = (sample.value, line)
        return line


def _sample_line(sample: Sample) -> str:
    labels = ",".join(f'{k}="{escape(v)}"' for k, v in sorted(sample.labels.items()))
    series = f"{sample.name}{{{labels}}}" if labels else sample.name
    stamp = "" if sample.timestamp is None else f" {int(float(sample.timestamp) * 1000):d}"
    return f"{series} {go_float(sample.value)}{stamp}\n"

