"""The cached /metrics body is generate_latest's, byte for byte, as series change and go."""

from __future__ import annotations

import math
import threading

from prometheus_client import CollectorRegistry, generate_latest

from watchdog.pipeline.capacity import SkipReason
from watchdog.runtime.metrics import Exposition, Metrics


def populated(probes: int) -> Metrics:
    metrics = Metrics(CollectorRegistry())
    for i in range(probes):
        name = f"probe-{i}"
        metrics.probe_success.labels(probe=name).set(1 if i % 3 else math.nan)
        metrics.probe_duration.labels(probe=name).observe(0.004 * i)
        metrics.probe_runs.labels(probe=name, status="ok").inc()
        metrics.skipped.labels(probe=name, reason=SkipReason.LATE.value).inc(i)
        metrics.observe_values(name, {"latency": 0.004, "days_left": 1e6 + i})
    metrics.incidents_open.labels(severity='sev"1\\\n').set(2)  # every escaped character
    return metrics


def test_the_body_is_generate_latests() -> None:
    metrics = populated(40)
    assert Exposition(metrics.registry).render() == generate_latest(metrics.registry)


def test_changed_added_and_removed_series_are_rendered_afresh() -> None:
    metrics = populated(40)
    exposition = Exposition(metrics.registry)
    exposition.render()
    metrics.probe_success.labels(probe="probe-1").set(0)
    metrics.probe_duration.labels(probe="probe-2").observe(7.0)
    metrics.probe_runs.labels(probe="new", status="failed").inc()
    metrics.forget_probe("probe-3")
    body = exposition.render()
    assert body == generate_latest(metrics.registry)
    assert b'probe_success{probe="probe-1"} 0.0' in body
    assert b'probe="probe-3"' not in body


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
