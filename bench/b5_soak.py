"""B5 soak: many probes with fault churn; RSS, open fds, threads and asyncio tasks sampled.

1,000 http probes at a 5 s interval (200 probes/s offered: the shipped client collapses
when many more are in flight, see B1) against nginx, which is
reloaded every 20 s between all-healthy and a faulty phase (paths ending in 0 answer 500;
the second port, 5 % of the targets, stops listening: refused). Incidents open and resolve
all the time. Bounded by B5_PROBES runs and B5_SECONDS.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from pathlib import Path

from bench.common import (
    Figure,
    LatenessLog,
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

N = 1000
INTERVAL = 5.0
CHURN = 20.0
SAMPLE = 10.0
WARMUP = 60.0
PROBES = int(os.environ.get("B5_PROBES", "1000000"))
SECONDS = float(os.environ.get("B5_SECONDS", "2400"))


def sample(t0: float) -> dict[str, float]:
    pid = os.getpid()
    return {"t": time.monotonic() - t0, "rss": rss_mib(pid), "fds": open_fds(pid),
            "threads": threads(pid), "tasks": len(asyncio.all_tasks())}


async def soak(daemon: object, targets: Targets) -> tuple[list[dict[str, float]], int, int]:
    log = LatenessLog(daemon)
    t0 = time.monotonic()
    samples, failing, flips = [], False, 0
    next_flip = t0 + CHURN
    while log.runs < PROBES and time.monotonic() - t0 < SECONDS:
        await asyncio.sleep(SAMPLE)
        log.samples.clear()  # keep only counts: the soak must not grow the bench itself
        samples.append(sample(t0))
        if time.monotonic() >= next_flip:
            failing, flips, next_flip = not failing, flips + 1, next_flip + CHURN
            targets.phase(failing)
    return samples, log.runs, flips


async def main() -> list[Figure]:
    tmp = Path(tempfile.mkdtemp(prefix="bench-b5-"))
    quiet_logs(tmp / "watchdog.log")
    targets = Targets(tmp).start()
    urls = [targets.url(i, second=i % 20 == 1) for i in range(N)]
    config = http_config(tmp / "b5.yaml", urls, interval=INTERVAL, timeout=1,
                         state_dir=tmp / "state", listen_port=free_port())
    try:
        async with daemon_running(config) as daemon:
            t0 = time.monotonic()
            samples, runs, flips = await soak(daemon, targets)
            elapsed = time.monotonic() - t0
            opened = sum(s.value for m in daemon.metrics.incident_transitions.collect()
                         for s in m.samples if s.name.endswith("_total")
                         and s.labels.get("transition") == "open")
    finally:
        targets.stop()
    figures = figures_of(samples, runs, flips, elapsed, opened)
    report(figures, {"samples": samples})
    return figures


def growth(samples: list[dict[str, float]], key: str) -> float:
    """Max of the last three samples minus max of the first three: a trend, not the jitter
    of connections and runs in flight."""
    return max(s[key] for s in samples[-3:]) - max(s[key] for s in samples[:3])


def figures_of(samples: list[dict[str, float]], runs: int, flips: int, elapsed: float,
               opened: float) -> list[Figure]:
    warm = [s for s in samples if s["t"] >= WARMUP] or samples
    rss = warm[-1]["rss"] - warm[0]["rss"]
    last = warm[-1]
    return [
        Figure("B5", "probes run", runs, "probes", ">= 1,000,000", runs >= 1_000_000,
               load=load1(), note=f"{elapsed:.0f} s, {runs / elapsed:.0f} probes/s, "
               f"{flips} fault flips, {opened:.0f} incidents opened"),
        Figure("B5", "RSS growth after warm-up", rss, "MiB", "<= 5 MiB", rss <= 5,
               note=f"{warm[0]['rss']:.1f} -> {last['rss']:.1f} MiB"),
        Figure("B5", "open fds, growth after warm-up", growth(warm, "fds"), "fds",
               "flat (<= 5)", growth(warm, "fds") <= 5, note=f"last {last['fds']:.0f}"),
        Figure("B5", "threads, growth after warm-up", growth(warm, "threads"), "threads",
               "flat (0)", growth(warm, "threads") <= 0, note=f"last {last['threads']:.0f}"),
        Figure("B5", "asyncio tasks, growth after warm-up", growth(warm, "tasks"), "tasks",
               "flat (<= 50: runs in flight vary)", growth(warm, "tasks") <= 50,
               note=f"last {last['tasks']:.0f}"),
    ]


if __name__ == "__main__":
    from bench.common import bench_main

    bench_main(main)
