"""B2 schedule accuracy: 1,000 targets at a 10 s interval for 5 minutes.

Meanwhile /metrics is scraped every 15 s and a webhook channel whose receiver takes 30 s
per message is notified of the incidents of 5 refused targets. Lateness is taken exactly
for every run (PipelineEngine.last[probe].lateness), not from the histogram's buckets. Drift: the
median lateness of the last minute minus the first minute's, and runs per probe.

For reference, Debian's monit checks the same targets (`check host`, `set daemon 10`) at
the same time; its share of checks starting within 1 s of when they are due comes from
nginx's access log (due: the first cycle's start + k x 10 s, monit's own promise).
"""

from __future__ import annotations

import asyncio
import collections
import gc
import math
import os
import sys
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from bench.common import (
    Figure,
    LatenessLog,
    Peer,
    Targets,
    daemon_running,
    free_port,
    http_config,
    load1,
    percentile,
    profiled,
    quiet_logs,
    report,
    wait_port,
)

N = 1000
FAILING = 5
INTERVAL = 10.0
SECONDS = float(os.environ.get("B2_SECONDS", "300"))
PROFILE = os.environ.get("B2_PROFILE") == "1"  # a separate diagnostic run: cProfile the loop
# A diagnostic run: the heap built at start-up moved out of the GC's sight (gc.freeze), as
# the daemon could do after start; tells how much of the tail is full GC passes.
FREEZE = os.environ.get("B2_GC_FREEZE") == "1"
MONITRC = """\
set daemon 10
set logfile {tmp}/monit.log
set pidfile {tmp}/monit.pid
set idfile {tmp}/monit.id
set statefile {tmp}/monit.state
"""


def monit_config(tmp: Path, port: int) -> Path:
    checks = [f'check host m{i} with address 127.0.0.1\n  if failed port {port} protocol http '
              f'request "/m/{i}" with timeout 5 seconds then alert' for i in range(N)]
    rc = tmp / "monitrc"
    rc.write_text(MONITRC.format(tmp=tmp) + "\n".join(checks) + "\n")
    rc.chmod(0o600)
    return rc


def monit_share(log: Path, after: float, before: float) -> dict[str, float]:
    """Share of monit's checks that started within 1 s of due (first cycle + k x 10 s)."""
    stamps: dict[str, list[float]] = collections.defaultdict(list)
    for line in log.read_text().splitlines():
        stamp, uri = line.split()
        if after <= float(stamp) <= before:
            stamps[uri].append(float(stamp))
    if not stamps:
        return {"share": float("nan"), "checks": 0, "p99": float("nan")}
    origin = min(times[0] for times in stamps.values())
    lateness = [t - (origin + k * INTERVAL) for times in stamps.values()
                for k, t in enumerate(sorted(times))]
    share = sum(late <= 1.0 for late in lateness) / len(lateness)
    return {"share": share, "checks": len(lateness), "p99": percentile(lateness, 99),
            "max": max(lateness)}


class GcPauses:
    """Each collection the daemon's process makes: (monotonic end, generation, seconds, thread).

    A collection holds the GIL from start to end, so a long one on any thread stalls the loop.
    """

    def __init__(self) -> None:
        self.passes: list[tuple[float, int, float, str]] = []
        self._started: dict[int, float] = {}

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        now = time.perf_counter()
        if phase == "start":
            self._started[threading.get_ident()] = now
            return
        began = self._started.pop(threading.get_ident(), now)
        self.passes.append((time.monotonic(), info["generation"], now - began,
                            threading.current_thread().name))

    def longest(self, generation: int) -> tuple[float, int]:
        took = [seconds for _, gen, seconds, _ in self.passes if gen == generation]
        return max(took, default=0.0), len(took)


async def scrape(port: int, every: float, until: float) -> list[tuple[float, float]]:
    """Scrape with curl (another process) every `every` s: (monotonic start, seconds)."""
    times = []
    while time.monotonic() < until:
        started = time.monotonic()
        proc = await asyncio.create_subprocess_exec(
            "curl", "-s", "-o", "/dev/null", "-m", "10", "-w", "%{time_total}",
            f"http://127.0.0.1:{port}/metrics", stdout=asyncio.subprocess.PIPE)
        out, _ = await proc.communicate()
        times.append((started, float(out or b"nan")))
        await asyncio.sleep(every)
    return times


def during_scrapes(samples: list[tuple[float, float]], scrapes: list[tuple[float, float]]
                   ) -> tuple[list[float], list[float]]:
    """Lateness of runs handled while a scrape was rendering, and of all the others."""
    windows = [(start, start + took + 0.05) for start, took in scrapes]
    inside, outside = [], []
    for at, late in samples:
        hit = any(a <= at <= b for a, b in windows)
        (inside if hit else outside).append(late)
    return inside, outside


async def main() -> list[Figure]:
    tmp = Path(tempfile.mkdtemp(prefix="bench-b2-"))
    quiet_logs(tmp / "watchdog.log")
    targets = Targets(tmp).start()
    receiver_port, listen = free_port(), free_port()
    receiver = Peer([sys.executable, "-m", "bench.slow_receiver", str(receiver_port), "30"],
                    tmp / "receiver.log").start()
    dead = free_port()
    urls = [targets.url(i) for i in range(N - FAILING)]
    urls += [f"http://127.0.0.1:{dead}/t/{i}" for i in range(FAILING)]
    channel = (f"notify:\n  channels:\n    slow:\n      type: webhook\n"
               f"      url: http://127.0.0.1:{receiver_port}/hook\n      timeout: 40s\n"
               "      attempts: 1\n")
    config = http_config(tmp / "b2.yaml", urls, interval=INTERVAL, timeout=5,
                         state_dir=tmp / "state", listen_port=listen, extra=channel)
    monit = Peer(["monit", "-I", "-c", str(monit_config(tmp, targets.port))], tmp / "monit.out")
    try:
        wait_port(receiver_port)
        async with daemon_running(config) as daemon:
            monit.start()
            await asyncio.sleep(INTERVAL + 2)  # every probe has started its schedule
            if FREEZE:
                gc.collect()
                gc.freeze()
            log = LatenessLog(daemon)
            skipped0 = skipped_runs(daemon.metrics.registry)
            pauses = GcPauses()
            gc.callbacks.append(pauses)
            wall0 = time.time()
            if PROFILE:
                with profiled("B2"):
                    scrapes = await scrape(listen, 15.0, time.monotonic() + SECONDS)
            else:
                scrapes = await scrape(listen, 15.0, time.monotonic() + SECONDS)
            wall1 = time.time()
            gc.callbacks.remove(pauses)
            samples = list(log.samples)
            counts = dict(daemon.engine.last)
            skipped = {reason: count - skipped0.get(reason, 0.0)
                       for reason, count in skipped_runs(daemon.metrics.registry).items()}
        monit.stop()
        figures = figures_of(samples, len(counts), scrapes,
                             monit_share(tmp / "monit-access.log", wall0, wall1), pauses)
        figures.append(Figure("B2", "runs skipped (not started) in the window",
                              sum(skipped.values()), "runs",
                              note=", ".join(f"{k}: {v:.0f}" for k, v in skipped.items())))
    finally:
        monit.stop()
        receiver.stop()
        targets.stop()
    if FREEZE:
        figures = [replace(f, bench="B2-gc-frozen") for f in figures]
    if PROFILE:  # a profiled run's figures are inflated by the profiler: not for the docs
        figures = [replace(f, bench="B2-profiled") for f in figures]
    report(figures, {"runs": len(samples), "scrapes": scrapes})
    return figures


def figures_of(samples: list[tuple[float, float]], probes: int,
               scrapes: list[tuple[float, float]], monit: dict[str, Any],
               pauses: GcPauses) -> list[Figure]:
    late = [x for _, x in samples]
    inside, outside = during_scrapes(samples, scrapes)
    start, end = samples[0][0], samples[-1][0]
    first = [x for t, x in samples if t < start + 60]
    last = [x for t, x in samples if t > end - 60]
    drift = (percentile(last, 50) - percentile(first, 50)) * 1e3
    expected = probes * SECONDS / INTERVAL
    p99, worst = percentile(late, 99) * 1e3, max(late) * 1e3
    return [
        Figure("B2", "lateness p50", percentile(late, 50) * 1e3, "ms", load=load1(),
               note=f"{len(late)} runs of {probes} probes in {SECONDS:.0f} s "
                    f"({len(late) / expected:.1%} of the {expected:.0f} due)"),
        Figure("B2", "lateness p99", p99, "ms", "<= 10 ms", p99 <= 10),
        Figure("B2", "lateness max", worst, "ms", "<= 100 ms", worst <= 100),
        Figure("B2", "drift (median lateness, last minute - first minute)", drift, "ms",
               "no drift (|drift| <= 1 ms)", abs(drift) <= 1.0),
        Figure("B2", "lateness p99 of runs handled while /metrics rendered",
               percentile(inside, 99) * 1e3, "ms", note=f"{len(inside)} runs; max "
               f"{max(inside or [math.nan]) * 1e3:.0f} ms"),
        Figure("B2", "lateness p99 of all other runs", percentile(outside, 99) * 1e3, "ms",
               note=f"{len(outside)} runs; max {max(outside or [math.nan]) * 1e3:.0f} ms"),
        Figure("B2", "/metrics scrape time (every 15 s) max", max(t for _, t in scrapes) * 1e3,
               "ms", note=f"{len(scrapes)} scrapes"),
        *gc_figures(pauses),
        Figure("B2", "monit: share of checks started within 1 s of due (peer)",
               monit["share"] * 100, "%",
               note=f"{monit['checks']} checks; lateness p99 {monit['p99']:.1f} s"),
    ]


def skipped_runs(registry: CollectorRegistry) -> dict[str, float]:
    """Runs the scheduler did not start, by reason (a stall shows as `late` skips)."""
    total: dict[str, float] = collections.defaultdict(float)
    for family in registry.collect():
        for sample in family.samples:
            if sample.name == "runbook_watchdog_scheduler_skipped_runs_total":
                total[sample.labels["reason"]] += sample.value
    return dict(total)


def gc_figures(pauses: GcPauses) -> list[Figure]:
    """The longest garbage-collection pass of each generation: the GIL is held throughout."""
    figures = []
    for generation in (0, 1, 2):
        longest, count = pauses.longest(generation)
        figures.append(Figure("B2", f"longest GC pass, generation {generation}", longest * 1e3,
                              "ms", note=f"{count} passes in the window"))
    return figures


if __name__ == "__main__":
    from bench.common import bench_main

    bench_main(main)
