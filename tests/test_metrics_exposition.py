"""The /metrics body: generate_latest's byte for byte, and the per-probe families (plain
numbers rendered to text, watchdog.runtime.probemetrics) equivalent to prometheus_client's
own Gauge/Counter/Histogram fed the same runs."""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.utils import floatToGoString

from watchdog.pipeline.capacity import SkipReason
from watchdog.runtime.metrics import PREFIX, Exposition, Metrics
from watchdog.runtime.probemetrics import HistogramFamily, ProbeMetrics, go_float


class Reporter(Protocol):
    """What the engine and the scheduler call: ProbeMetrics, or the Reference below."""

    def run(self, probe: str, status: str, duration: float, success: float,
            errored: bool) -> None: ...

    def skip(self, probe: str, reason: str, missed: int) -> None: ...

    def observe_values(self, probe: str, values: Mapping[str, float]) -> None: ...


def name(i: int) -> str:
    return f"probe-{i}" if i % 7 else f'probe "{i}"\\\n'  # every escaped character


def report(to: Reporter, probes: int) -> None:
    """What the engine and the scheduler report for `probes` probes."""
    for i in range(probes):
        status, success = ("ok", 1.0) if i % 3 else ("unknown", math.nan)
        to.run(name(i), status, 0.004 * i, success, i % 5 == 0)
        to.run(name(i), "failed", 0.5 + i, 0.0, False)
        if i % 2:
            to.skip(name(i), SkipReason.LATE.value, i)
        to.observe_values(name(i), {"latency": 0.004, "days_left": 1e6 + i})


class Reference:
    """prometheus_client's own metrics, named and documented as ProbeMetrics' families."""

    def __init__(self, families: ProbeMetrics) -> None:
        self.registry = CollectorRegistry()
        docs = {f.name.removeprefix(PREFIX): f.documentation for f in families.families}
        hist = next(f for f in families.families if isinstance(f, HistogramFamily))
        self.duration = Histogram(hist.name, hist.documentation, ("probe",),
                                  buckets=hist.bounds, registry=self.registry)

        def gauge(short: str, labels: tuple[str, ...]) -> Gauge:
            return Gauge(PREFIX + short, docs[short], labels, registry=self.registry)

        def counter(short: str, labels: tuple[str, ...]) -> Counter:
            return Counter(PREFIX + short, docs[short], labels, registry=self.registry)

        self.success = gauge("probe_success", ("probe",))
        self.runs = counter("probe_runs", ("probe", "status"))
        self.errors = counter("probe_errors", ("probe",))
        self.skipped = counter("scheduler_skipped_runs", ("probe", "reason"))
        self.values = gauge("probe_value", ("probe", "value"))

    def run(self, probe: str, status: str, duration: float, success: float,
            errored: bool) -> None:
        self.runs.labels(probe, status).inc()
        self.duration.labels(probe).observe(duration)
        self.success.labels(probe).set(success)
        if errored:
            self.errors.labels(probe).inc()

    def skip(self, probe: str, reason: str, missed: int) -> None:
        self.skipped.labels(probe, reason).inc(missed)

    def observe_values(self, probe: str, values: Mapping[str, float]) -> None:
        for key, value in values.items():
            self.values.labels(probe, key).set(value)


def parsed(body: bytes) -> dict[str, tuple[str, str, list[tuple[str, Any, Any]]]]:
    """Each family's type, help and samples (sorted; _created values differ by clock)."""
    families = {}
    for family in text_string_to_metric_families(body.decode()):
        samples = sorted((s.name, sorted(s.labels.items()),
                          "created" if s.name.endswith("_created") else repr(s.value))
                         for s in family.samples)
        families[family.name] = (family.type, family.documentation, samples)
    return families


def populated(probes: int) -> Metrics:
    metrics = Metrics(CollectorRegistry())
    report(metrics.probes, probes)
    metrics.incidents_open.labels(severity='sev"1\\\n').set(2)  # every escaped character
    return metrics


def test_the_body_is_generate_latests() -> None:
    metrics = populated(40)
    assert Exposition(metrics.registry).render() == generate_latest(metrics.registry)


def test_per_probe_families_are_prometheus_clients_for_the_same_runs() -> None:
    metrics = Metrics(CollectorRegistry())
    reference = Reference(metrics.probes)
    for to in (metrics.probes, reference):
        report(to, 40)
    ours = parsed(Exposition(metrics.registry).render())
    theirs = parsed(generate_latest(reference.registry))
    assert {name: ours[name] for name in theirs} == theirs
    assert len(theirs) == 6 + 4  # the families and the _created of counters and histogram


def test_every_sample_of_a_family_is_together() -> None:
    body = Exposition(populated(30).registry).render().decode()
    seen: list[str] = []
    for line in body.splitlines():
        if line.startswith("# TYPE "):
            seen.append(line.split()[2])
    assert len(seen) == len(set(seen))
    assert {"runbook_watchdog_probe_duration_seconds",
            "runbook_watchdog_probe_duration_seconds_created"} <= set(seen)


def test_changed_added_and_removed_series_are_rendered_afresh() -> None:
    metrics = populated(40)
    exposition = Exposition(metrics.registry)
    exposition.render()
    metrics.probes.run("probe-1", "failed", 7.0, 0.0, False)
    metrics.probes.run("new", "failed", 0.1, 0.0, False)
    metrics.incidents_open.labels(severity="sev2").set(1)
    metrics.forget_probe("probe-3")
    body = exposition.render()
    assert body == generate_latest(metrics.registry)
    assert b'runbook_watchdog_probe_success{probe="probe-1"} 0.0' in body
    assert b'runbook_watchdog_probe_runs_total{probe="new",status="failed"} 1.0' in body
    assert b'probe="probe-3"' not in body
    assert metrics.registry.get_sample_value("runbook_watchdog_probe_value",
                                             {"probe": "probe-3", "value": "latency"}) is None


def test_a_duplicate_name_is_still_rejected() -> None:
    metrics = populated(1)
    with pytest.raises(ValueError, match="Duplicated timeseries"):
        Counter("runbook_watchdog_probe_runs", "again", ("probe",), registry=metrics.registry)


def test_concurrent_scrapes_all_get_a_current_body() -> None:
    metrics = populated(200)
    exposition = Exposition(metrics.registry)
    bodies: list[bytes] = []
    scrapes = [threading.Thread(target=lambda: bodies.append(exposition.render()))
               for _ in range(4)]
    for scrape in scrapes:
        scrape.start()
    for scrape in scrapes:
        scrape.join(30)
    assert bodies == [generate_latest(metrics.registry)] * 4


def test_scrapes_while_probes_come_and_go_stay_valid() -> None:
    """The loop adds and drops series while the listener's thread renders."""
    metrics = populated(100)
    exposition = Exposition(metrics.registry)
    done = threading.Event()
    bodies: list[bytes] = []

    def scrape() -> None:
        while not done.is_set():
            bodies.append(exposition.render())
            exposition._at = -1.0  # the next render is a fresh one, not the shared body

    scraper = threading.Thread(target=scrape)
    scraper.start()
    for i in range(20_000):
        metrics.probes.observe_values(f"churn-{i % 300}", {f"v{i % 7}": float(i)})
        metrics.probes.skip(f"churn-{i % 300}", SkipReason.OVERRUN.value, 1)
        if i % 3 == 0:
            metrics.forget_probe(f"churn-{(i + 150) % 300}")
    done.set()
    scraper.join(30)
    assert bodies
    for body in bodies:
        assert parsed(body)


@pytest.mark.parametrize("value", [
    0.0, -0.0, 1.0, 0.004, 1e-7, 999_999.9, 1e6, 1_234_567.0, 1.7e9, 1e22, -1e22, -5.5,
    math.inf, -math.inf, math.nan, 3, True])
def test_floats_are_written_as_prometheus_client_writes_them(value: float) -> None:
    library: Callable[[float], str] = floatToGoString  # typed: the library's is not
    assert go_float(value) == library(value)
