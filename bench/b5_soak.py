"""B5 soak: a million probes with fault churn; RSS, open fds, threads and asyncio tasks sampled.

1,000 http probes at a 0.7 s interval (1,430 probes/s offered, below the ~1,850 OK probes/s
B8 finds the whole daemon sustains on the 2-core machine) against nginx, which is reloaded
every 20 s between all-healthy and a faulty phase (paths ending in 0 answer 500; the
second port, 5 % of the targets, stops listening: refused). About 150 incidents open and
resolve at each flip. It stops after B5_PROBES runs (default 1,000,000: about 12 min on a quiet
machine) or B5_SECONDS (default 18 min); `B5_SECONDS=120` is a quick look, not the figure.

Runs are counted from the daemon's own counters: completed runs by status
(`probe_runs_total`) and runs shed by the scheduler by reason
(`scheduler_skipped_runs_total`), so an overloaded machine shows up as skips, not as a
quietly smaller soak.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common import (
    Figure,
    Targets,
    daemon_running,
    free_port,
    http_config,
    load1,
    open_fds,
    quiet_logs,
    report,
    rss_mib,
    threads,
)
from watchdog.runtime.metrics import PREFIX

N = 1000
INTERVAL = float(os.environ.get("B5_INTERVAL", "0.7"))
TIMEOUT = 0.5  # below the interval (the config requires it); loopback answers in ~1 ms
CHURN = 20.0
SAMPLE = 10.0
WARMUP = 60.0
PROBES = int(os.environ.get("B5_PROBES", "1000000"))
SECONDS = float(os.environ.get("B5_SECONDS", "1080"))


@dataclass(frozen=True)
class Tally:
    """What the daemon counted: runs by status, skipped runs by reason, incident changes."""

    runs: Counter[str]
    skipped: Counter[str]
    transitions: Counter[str]

    @property
    def completed(self) -> int:
        return sum(self.runs.values())


def by_label(collector: Any, label: str, family: str | None = None) -> Counter[str]:
    """A labelled counter's totals summed over every other label (`family`: the one to
    read when the collector has several, as the daemon's per-probe collector does)."""
    totals: Counter[str] = Counter()
    for metric in collector.collect():
        if family is not None and metric.name != PREFIX + family:
            continue
        for s in metric.samples:
            if s.name.endswith("_total"):
                totals[s.labels[label]] += int(s.value)
    return totals


def tally(daemon: Any) -> Tally:
    metrics = daemon.metrics
    return Tally(by_label(metrics.probes, "status", "probe_runs"),
                 by_label(metrics.probes, "reason", "scheduler_skipped_runs"),
                 by_label(metrics.incident_transitions, "transition"))


def sample(t0: float) -> dict[str, float]:
    pid = os.getpid()
    return {"t": time.monotonic() - t0, "rss": rss_mib(pid), "fds": open_fds(pid),
            "threads": threads(pid), "tasks": len(asyncio.all_tasks()), "load": load1()}


async def soak(daemon: Any, targets: Targets) -> tuple[list[dict[str, float]], int]:
    t0 = time.monotonic()
    samples: list[dict[str, float]] = []
    failing, flips, next_flip = False, 0, t0 + CHURN
    while tally(daemon).completed < PROBES and time.monotonic() - t0 < SECONDS:
        await asyncio.sleep(SAMPLE)
        samples.append({**sample(t0), "runs": tally(daemon).completed})
        if time.monotonic() >= next_flip:
            failing, flips, next_flip = not failing, flips + 1, next_flip + CHURN
            targets.phase(failing)
    return samples, flips


async def main() -> list[Figure]:
    tmp = Path(tempfile.mkdtemp(prefix="bench-b5-"))
    quiet_logs(tmp / "watchdog.log")
    targets = Targets(tmp).start()
    urls = [targets.url(i, second=i % 20 == 1) for i in range(N)]
    config = http_config(tmp / "b5.yaml", urls, interval=INTERVAL, timeout=TIMEOUT,
                         state_dir=tmp / "state", listen_port=free_port())
    start_load = load1()
    try:
        async with daemon_running(config) as daemon:
            t0 = time.monotonic()
            samples, flips = await soak(daemon, targets)
            elapsed = time.monotonic() - t0
            counted = tally(daemon)
    finally:
        targets.stop()
    figures = figures_of(samples, Soak(counted, flips, elapsed, start_load))
    report(figures, {"samples": samples, "runs": dict(counted.runs),
                     "skipped": dict(counted.skipped), "transitions": dict(counted.transitions)})
    return figures


@dataclass(frozen=True)
class Soak:
    counted: Tally
    flips: int
    elapsed: float
    start_load: float

    def note(self) -> str:
        c, runs = self.counted, self.counted.runs
        skipped = ", ".join(f"{k} {v:,}" for k, v in sorted(c.skipped.items())) or "none"
        started = c.completed + sum(c.skipped.values())
        return (f"{started:,} scheduled in {self.elapsed:.0f} s at {N * 1 / INTERVAL:,.0f}/s "
                f"offered ({N} probes every {INTERVAL:g} s): {runs['ok']:,} OK, "
                f"{runs['failed']:,} failed, {runs['unknown']:,} unknown; skipped: {skipped}; "
                f"{self.flips} fault flips, {c.transitions['open']:,} incidents opened, "
                f"{c.transitions['resolve']:,} resolved; load {self.start_load:.2f} at start")


def trend(samples: list[dict[str, float]], key: str) -> float:
    """Growth over the soak by a least-squares line through every sample: a trend, not the
    jitter of connections and runs in flight (fds and tasks move by tens between samples)."""
    times = [s["t"] for s in samples]
    if len(samples) < 2 or times[-1] == times[0]:
        return 0.0
    slope = statistics.linear_regression(times, [s[key] for s in samples]).slope
    return float(slope * (times[-1] - times[0]))


def spread(samples: list[dict[str, float]], key: str) -> str:
    values = [s[key] for s in samples]
    return f"{min(values):.0f}-{max(values):.0f} over {len(values)} samples"


def figures_of(samples: list[dict[str, float]], soak: Soak) -> list[Figure]:
    warm = [s for s in samples if s["t"] >= WARMUP] or samples
    rss = warm[-1]["rss"] - warm[0]["rss"]
    runs = soak.counted.completed
    flat = [("open fds", "fds", 5.0, "flat (trend <= 5)"),
            ("threads", "threads", 0.0, "flat (trend 0)"),
            ("asyncio tasks", "tasks", 50.0, "flat (trend <= 50: runs in flight vary)")]
    return [
        Figure("B5", "probes run (completed)", runs, "probes", ">= 1,000,000",
               runs >= 1_000_000, load=load1(), note=soak.note()),
        Figure("B5", "probes run per second", runs / soak.elapsed, "probes/s",
               note=f"{soak.counted.runs['ok'] / soak.elapsed:,.0f} OK/s"),
        Figure("B5", "RSS growth after warm-up", rss, "MiB", "<= 5 MiB", rss <= 5,
               note=f"{warm[0]['rss']:.1f} -> {warm[-1]['rss']:.1f} MiB; trend "
               f"{trend(warm, 'rss'):.1f} MiB over {warm[-1]['t'] - warm[0]['t']:.0f} s"),
        *(Figure("B5", f"{label}, trend after warm-up", trend(warm, key), key, target,
                 trend(warm, key) <= bound, note=spread(warm, key))
          for label, key, bound, target in flat),
    ]

if __name__ == "__main__":
    from bench.common import bench_main

    bench_main(main)
