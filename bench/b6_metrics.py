"""B6 /metrics with 10,000 series: scrape time p50/p99 and the longest event-loop block.

The daemon's own Metrics and HttpListener (watchdog/runtime/httpapi.py renders in the
listener's thread, through watchdog.runtime.metrics.Exposition) on a loop that runs a 1 ms
lag sampler; another process scrapes 100 times, two at a time. The lag sampler also runs
for a while without scrapes, as the baseline.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest

from bench.common import Figure, LoopLag, Peer, free_port, load1, percentile, profiled, report
from watchdog.runtime.httpapi import HttpListener, StatusSource
from watchdog.runtime.metrics import Exposition, Metrics

SERIES = 10_000
SCRAPES = 50  # per scraping thread
THREADS = 2


def populate(metrics: Metrics) -> int:
    """Fill the daemon's metrics like N http probes do, until there are SERIES series."""
    probe = 0
    while True:
        for _ in range(50):
            name = f"probe-{probe}"
            metrics.probes.run(name, "ok", 0.004, 1.0, False)  # what the engine reports
            metrics.observe_values(name, {"latency": 0.004})
            probe += 1
        count = series(metrics.registry)
        if count >= SERIES:
            return count


def render_all_changed(metrics: Metrics, exposition: Exposition) -> float:
    """The daemon's render when every probe ran since the last scrape (no line reusable)."""
    exposition.render()
    for family in metrics.registry.collect():
        if family.name == "runbook_watchdog_probe_value":
            probes = {sample.labels["probe"] for sample in family.samples}
    for name in probes:
        metrics.probes.run(name, "ok", 0.005, 1.0, False)
        metrics.observe_values(name, {"latency": time.time()})
    started = time.perf_counter()
    exposition.render()
    return time.perf_counter() - started


def series(registry: CollectorRegistry) -> int:
    return sum(1 for line in generate_latest(registry).splitlines()
               if line and not line.startswith(b"#"))


async def main() -> list[Figure]:
    tmp = Path(tempfile.mkdtemp(prefix="bench-b6-"))
    registry = CollectorRegistry()
    metrics = Metrics(registry)
    count = populate(metrics)
    loop = asyncio.get_running_loop()
    listener_source = StatusSource(registry, loop, dict, lambda: (True, "ok"))
    listener = HttpListener("127.0.0.1", free_port(), listener_source)
    listener.start()
    idle = LoopLag().start()
    await asyncio.sleep(3)
    await idle.stop()
    scraper = Peer([sys.executable, "-m", "bench.scraper",
                    f"http://127.0.0.1:{listener.port}/metrics", str(SCRAPES), "0",
                    str(THREADS)], tmp / "scraper.log")
    scraper.proc = None
    lag = LoopLag().start()
    out = await asyncio.create_subprocess_exec(*scraper.argv, stdout=asyncio.subprocess.PIPE)
    stdout, _ = await asyncio.wait_for(out.communicate(), 120)
    await lag.stop()
    listener.stop()
    times = json.loads(stdout)
    started = time.perf_counter()
    generate_latest(registry)
    render = time.perf_counter() - started
    changed = render_all_changed(metrics, listener_source.exposition)
    with profiled("B6"):
        listener_source.exposition.render()
    figures = figures_of(count, times, lag.lags, idle.lags, render, changed)
    report(figures, {"series": count, "scrapes": times})
    return figures


def figures_of(count: int, times: list[float], lags: list[float], idle: list[float],
               render: float, changed: float) -> list[Figure]:
    p50, block = percentile(times, 50) * 1e3, max(lags) * 1e3
    return [
        Figure("B6", "scrape time p50", p50, "ms", "<= 70 ms", p50 <= 70, load=load1(),
               note=f"{count:,} series, {len(times)} scrapes, {THREADS} at a time"),
        Figure("B6", "scrape time p99", percentile(times, 99) * 1e3, "ms"),
        Figure("B6", "longest event-loop block during scrapes", block, "ms", "<= 10 ms",
               block <= 10, note=f"1 ms sampler; p99 lag {percentile(lags, 99) * 1e3:.2f} ms"),
        Figure("B6", "longest event-loop block without scrapes (baseline)", max(idle) * 1e3,
               "ms"),
        Figure("B6", "render alone (prometheus_client generate_latest, one thread)",
               render * 1e3, "ms"),
        Figure("B6", "render alone (the daemon's Exposition), every series changed", changed * 1e3,
               "ms", note="the worst case: every probe ran since the last scrape"),
    ]


if __name__ == "__main__":
    from bench.common import bench_main

    bench_main(main)
