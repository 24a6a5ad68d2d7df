"""B8 load steps: the whole daemon offered 200 -> 4,000 probes/s; does it degrade or collapse?

1,000 http probes on a real keep-alive server (nginx, another process), at the interval that
offers each step's rate, with the shipped scheduler settings (max_in_flight, max_lateness).
Per step: OK probes/s, runs skipped (by reason, from the daemon's own counter), p99 and max
lateness of the runs that started, CPU per OK probe. Each step is short (a few seconds) so
the run stays polite on a shared machine; the plot goes to docs/b8-load-steps.png.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bench.common import (
    ROOT,
    Figure,
    LatenessLog,
    Targets,
    cpu_seconds,
    daemon_running,
    free_port,
    http_config,
    load1,
    percentile,
    quiet_logs,
    report,
)

N = 1000
RATES = tuple(int(r) for r in os.environ.get(
    "B8_RATES", "200,500,1000,1500,2000,3000,4000").split(","))
WARMUP = float(os.environ.get("B8_WARMUP", "2"))
WINDOW = float(os.environ.get("B8_WINDOW", "4"))
IN_FLIGHT = os.environ.get("B8_MAX_IN_FLIGHT", "")
PLOT = ROOT / "docs" / "b8-load-steps.png"
SKIPPED = "runbook_watchdog_scheduler_skipped_runs_total"


def skipped(daemon: Any) -> Counter[str]:
    """The daemon's skipped-runs counter summed over probes, by reason ("" before reasons)."""
    totals: Counter[str] = Counter()
    for family in daemon.registry.collect():
        for sample in family.samples:
            if sample.name == SKIPPED:
                totals[sample.labels.get("reason", "")] += sample.value
    return totals


async def step(tmp: Path, urls: list[str], rate: int) -> dict[str, Any]:
    interval = N / rate
    config = http_config(tmp / f"b8-{rate}.yaml", urls, interval=interval,
                         timeout=min(2.0, interval / 2), state_dir=tmp / f"state-{rate}",
                         listen_port=free_port())
    if IN_FLIGHT:  # to compare settings; the shipped default otherwise
        text = config.read_text().replace("watchdog:\n",
                                          f"watchdog:\n  max_in_flight: {IN_FLIGHT}\n")
        config.write_text(text)
    async with daemon_running(config) as daemon:
        await asyncio.sleep(WARMUP)
        log = LatenessLog(daemon)
        causes: Counter[str] = Counter()
        daemon.engine.subscribers.append(
            lambda e: e.observation.ok or causes.update([e.observation.cause or "?"]))
        before = skipped(daemon)
        cpu0, t0 = cpu_seconds(os.getpid()), time.monotonic()
        await asyncio.sleep(WINDOW)
        elapsed, cpu = time.monotonic() - t0, cpu_seconds(os.getpid()) - cpu0
        shed = skipped(daemon) - before
        tasks = len(asyncio.all_tasks())
    late = log.lateness()
    return {"offered": rate, "ok_rate": log.ok / elapsed, "runs": log.runs,
            "failed": log.runs - log.ok, "causes": dict(causes), "skipped": dict(shed),
            "skipped_rate": sum(shed.values()) / elapsed, "p99": percentile(late, 99),
            "max": max(late, default=float("nan")), "cpu": cpu / max(1, log.ok),
            "tasks": tasks, "load": load1()}


def plot(steps: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    offered = [s["offered"] for s in steps]
    fig, (rates, late) = plt.subplots(2, 1, figsize=(7, 6), sharex=True)
    rates.plot(offered, offered, "k:", label="offered")
    rates.plot(offered, [s["ok_rate"] for s in steps], "o-", label="OK probes/s")
    rates.plot(offered, [s["skipped_rate"] for s in steps], "s--", label="skipped runs/s")
    rates.set_ylabel("runs/s")
    rates.legend()
    rates.grid(alpha=0.3)
    late.plot(offered, [s["p99"] * 1e3 for s in steps], "o-", label="p99 lateness (started)")
    late.plot(offered, [s["max"] * 1e3 for s in steps], "^:", label="max lateness (started)")
    late.axhline(100, color="r", lw=0.8, label="target p99 100 ms")
    late.set_ylabel("ms")
    late.set_xlabel("offered probes/s (1,000 http probes)")
    late.legend()
    late.grid(alpha=0.3)
    loads = ", ".join(f"{s['load']:.1f}" for s in steps)
    fig.suptitle(f"B8 whole daemon under stepped load (load avg per step: {loads})",
                 fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def line(s: dict[str, Any]) -> str:
    reasons = ", ".join(f"{k or 'all'} {v:.0f}" for k, v in sorted(s["skipped"].items()))
    return (f"B8 offered {s['offered']:>5}/s: OK {s['ok_rate']:7.1f}/s, failed {s['failed']} "
            f"{s['causes'] or ''}, "
            f"skipped {s['skipped_rate']:7.1f}/s ({reasons or 'none'}), lateness p99 "
            f"{s['p99'] * 1e3:6.1f} ms max {s['max'] * 1e3:6.1f} ms, "
            f"{s['cpu'] * 1e6:5.0f} µs CPU/OK, {s['tasks']} tasks, load {s['load']:.2f}")


async def main() -> list[Figure]:
    tmp = Path(tempfile.mkdtemp(prefix="bench-b8-"))
    quiet_logs(tmp / "watchdog.log")
    targets = Targets(tmp).start()
    urls = [targets.url(i) for i in range(N)]
    steps = []
    try:
        for rate in RATES:
            steps.append(await step(tmp, urls, rate))
            print(line(steps[-1]), flush=True)
    finally:
        targets.stop()
    plot(steps, PLOT)
    print(f"B8 plot: {PLOT}", flush=True)
    figures = figures_of(steps)
    report(figures, {"steps": steps})
    return figures


def figures_of(steps: list[dict[str, Any]]) -> list[Figure]:
    peak = max(s["ok_rate"] for s in steps)
    last = steps[-1]
    figures = [Figure(
        "B8", f"{s['offered']:,}/s offered: OK probes/s", s["ok_rate"], "probes/s",
        "p99 lateness <= 100 ms", s["p99"] <= 0.1, load=s["load"],
        note=f"skipped {s['skipped_rate']:.0f}/s; lateness p99 {s['p99'] * 1e3:.1f} ms, "
             f"max {s['max'] * 1e3:.1f} ms; {s['cpu'] * 1e6:.0f} µs CPU per OK probe")
        for s in steps]
    figures.append(Figure(
        "B8", "OK rate at the highest step / peak OK rate (no fall past the knee)",
        last["ok_rate"] / peak * 100, "%", ">= 90 %", last["ok_rate"] >= 0.9 * peak,
        load=last["load"]))
    return figures


if __name__ == "__main__":
    from bench.common import bench_main

    bench_main(main)
