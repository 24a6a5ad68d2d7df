"""B1 throughput: 1,000 HTTP targets on a real keep-alive server (nginx, another process).

runbook-watchdog's probe path is driven at its best rate: run_once (the framework's error
boundary included) over the 1,000 http probes, back to back with a fixed number in flight,
through the shared client (shipped: the http probe's `fetch()` straight on the client's
aiohttp session; and two stock httpx clients that are not shipped, through httpx's API,
bench/transports.py). The whole daemon runs on its schedule at 200, 500 and 2,000 probes/s
offered; the 2,000/s row is judged against its target.
Debian's prometheus-blackbox-exporter probes the same targets, driven at its best rate by
concurrent keep-alive /probe requests. CPU is each prober's own (from /proc).
"""

from __future__ import annotations

import asyncio
import itertools
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.b8_load_steps import skipped
from bench.common import (
    Figure,
    LatenessLog,
    Peer,
    Targets,
    cpu_seconds,
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
from bench.loadgen import drive
from bench.transports import transport

N = 1000
WINDOW = 15.0
WARMUP = 3.0
IN_FLIGHT = 200
BLACKBOX_CONNECTIONS = 64
BLACKBOX_YML = """\
modules:
  http_2xx:
    prober: http
    timeout: 5s
    http:
      preferred_ip_protocol: ip4
      ip_protocol_fallback: false
"""


async def saturate(config_path: Path, seconds: float, profile: str | None = None
                   ) -> dict[str, float]:
    """Run the probes back to back, IN_FLIGHT at a time; OK probes/s and CPU s/probe."""
    from watchdog.common.clock import SystemClock
    from watchdog.pipeline.probe import ProbeRegistry, Resources
    from watchdog.pipeline.scheduler import run_once
    from watchdog.runtime.config import load_config
    from watchdog.runtime.daemon import build_jobs, close_jobs

    config = load_config(config_path, environ={})
    clock = SystemClock()
    resources = Resources(config.watchdog, None, clock)
    jobs = build_jobs(config, resources, ProbeRegistry.from_entry_points())
    cycle = itertools.cycle(jobs)
    counts = {"ok": 0, "runs": 0}

    async def worker(stop_at: float, limit: int) -> None:
        while time.monotonic() < stop_at and counts["runs"] < limit:
            obs = await run_once(next(cycle), clock, 1.0)
            counts["runs"] += 1
            counts["ok"] += obs.ok

    async def phase(secs: float) -> None:
        stop_at = time.monotonic() + secs
        await asyncio.gather(*(worker(stop_at, 10_000_000) for _ in range(IN_FLIGHT)))

    await phase(WARMUP)
    counts.update(ok=0, runs=0)
    cpu0, t0 = cpu_seconds(os.getpid()), time.monotonic()
    if profile:
        with profiled(profile):
            await phase(seconds)
    else:
        await phase(seconds)
    elapsed, cpu = time.monotonic() - t0, cpu_seconds(os.getpid()) - cpu0
    await close_jobs(jobs)
    await resources.aclose()
    return {"rate": counts["ok"] / elapsed, "cpu": cpu / max(1, counts["ok"]),
            "failed": counts["runs"] - counts["ok"], "load": load1()}


async def scheduled(config_path: Path, seconds: float) -> dict[str, float]:
    """The whole daemon on its fixed-rate schedule: OK probes/s, CPU s/probe, lateness, and
    the runs it shed (skipped, from its own counter)."""
    async with daemon_running(config_path) as daemon:
        await asyncio.sleep(WARMUP + 2)
        log = LatenessLog(daemon)
        shed0 = sum(skipped(daemon).values())
        cpu0, t0 = cpu_seconds(os.getpid()), time.monotonic()
        await asyncio.sleep(seconds)
        elapsed, cpu = time.monotonic() - t0, cpu_seconds(os.getpid()) - cpu0
        shed = sum(skipped(daemon).values()) - shed0
        tasks = len(asyncio.all_tasks())
    return {"rate": log.ok / elapsed, "cpu": cpu / max(1, log.ok), "runs": log.runs,
            "p99": percentile(log.lateness(), 99), "skipped": shed / elapsed, "tasks": tasks,
            "load": load1()}


async def blackbox(tmp: Path, targets: Targets, seconds: float) -> dict[str, float]:
    port = free_port()
    (tmp / "blackbox.yml").write_text(BLACKBOX_YML)
    peer = Peer(["prometheus-blackbox-exporter", f"--config.file={tmp / 'blackbox.yml'}",
                 f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
                tmp / "blackbox.log").start()
    try:
        wait_port(port)
        paths = [f"/probe?module=http_2xx&target={targets.url(i)}" for i in range(N)]
        await drive(port, paths, connections=BLACKBOX_CONNECTIONS, seconds=WARMUP,
                    limit=10_000_000, ok_marker=b"\nprobe_success 1")
        cpu0, t0 = cpu_seconds(peer.pid), time.monotonic()
        tally = await drive(port, paths, connections=BLACKBOX_CONNECTIONS, seconds=seconds,
                            limit=10_000_000, ok_marker=b"\nprobe_success 1")
        elapsed, cpu = time.monotonic() - t0, cpu_seconds(peer.pid) - cpu0
    finally:
        peer.stop()
    return {"rate": tally.ok / elapsed, "cpu": cpu / max(1, tally.ok),
            "failed": tally.done - tally.ok, "load": load1()}


# 1,000 probes at these intervals: 200, 500 and 2,000 probes/s offered (the last is the
# whole daemon's target: sustained with p99 lateness <= 10 ms).
SCHEDULES = (5.0, 2.0, 0.5)
DAEMON_TARGET = 2000.0
VARIANTS = (("shipped", 200), ("httpcore", 10), ("httpcore", 200), ("httpx-aiohttp", 200))


async def main() -> list[Figure]:
    tmp = Path(tempfile.mkdtemp(prefix="bench-b1-"))
    quiet_logs(tmp / "watchdog.log")
    targets = Targets(tmp).start()
    urls = [targets.url(i) for i in range(N)]
    config = http_config(tmp / "b1.yaml", urls, interval=10, timeout=5,
                         state_dir=tmp / "state", listen_port=free_port())
    extra: dict[str, Any] = {}
    global IN_FLIGHT
    try:
        for name, in_flight in VARIANTS:
            IN_FLIGHT = in_flight
            with transport(name):
                extra[f"{name}@{in_flight}"] = await saturate(config, WINDOW)
            print(f"B1 {name}@{in_flight}: {extra[f'{name}@{in_flight}']}", flush=True)
        for interval in SCHEDULES:
            offered = http_config(tmp / f"b1-{interval}.yaml", urls, interval=interval,
                                  timeout=interval / 2, state_dir=tmp / f"state-{interval}",
                                  listen_port=free_port())
            extra[f"daemon@{N / interval:.0f}"] = await scheduled(offered, WINDOW)
            print(f"B1 daemon@{N / interval:.0f}: {extra[f'daemon@{N / interval:.0f}']}",
                  flush=True)
        extra["blackbox"] = await blackbox(tmp, targets, WINDOW)
        print(f"B1 blackbox: {extra['blackbox']}", flush=True)
        for in_flight in (10, 200):
            IN_FLIGHT = in_flight
            await saturate(config, 5.0, profile=f"B1-shipped-{in_flight}")
    finally:
        targets.stop()
    figures = figures_of(extra)
    report(figures, extra)
    return figures


LABELS = {"shipped@200": "shipped client (fetch() on aiohttp), 200 in flight",
          "httpcore@10": "stock httpx (httpcore), 10 in flight (its best rate; not shipped)",
          "httpcore@200": "stock httpx (httpcore), 200 in flight (not shipped)",
          "httpx-aiohttp@200": "httpx over PyPI httpx-aiohttp, 200 in flight (not shipped)"}


def figures_of(x: dict[str, Any]) -> list[Figure]:
    bb = x["blackbox"]
    figures = []
    for key, label in LABELS.items():
        r = x[key]
        figures += [
            Figure("B1", f"probes/s: {label}", r["rate"], "probes/s", ">= 2,000",
                   r["rate"] >= 2000, f"{r['rate'] / bb['rate']:.2f} x blackbox", r["load"],
                   f"{r['failed']:.0f} failed" if r["failed"] else ""),
            Figure("B1", f"CPU per probe: {label}", r["cpu"] * 1e6, "µs CPU",
                   "<= 1.0 x blackbox", r["cpu"] <= bb["cpu"],
                   f"{r['cpu'] / bb['cpu']:.2f} x blackbox", r["load"]),
        ]
    for interval in SCHEDULES:
        figures.append(daemon_figure(x[f"daemon@{N / interval:.0f}"], interval))
    return [
        *figures,
        Figure("B1", "blackbox_exporter probes/s (peer, best rate)", bb["rate"], "probes/s",
               load=bb["load"], note=f"{BLACKBOX_CONNECTIONS} concurrent /probe requests"),
        Figure("B1", "blackbox_exporter CPU per probe (peer)", bb["cpu"] * 1e6, "µs CPU",
               load=bb["load"]),
    ]


def daemon_figure(r: dict[str, Any], interval: float) -> Figure:
    """A whole-daemon row; the one at the target rate is judged (>= 99 % of the offered
    rate done OK, p99 lateness <= 10 ms), the others are reference."""
    offered = N / interval
    judged = offered == DAEMON_TARGET
    met = r["rate"] >= 0.99 * offered and r["p99"] <= 0.010 if judged else None
    return Figure(
        "B1", f"whole daemon, 1,000 probes at {interval:g} s ({offered:,.0f}/s offered): "
        "OK probes/s", r["rate"], "probes/s",
        ">= 2,000 sustained, p99 lateness <= 10 ms" if judged else "", met, load=r["load"],
        note=f"{r['cpu'] * 1e6:.0f} µs CPU per OK probe; lateness p99 "
             f"{r['p99'] * 1e3:.1f} ms; skipped {r.get('skipped', 0):.0f}/s; "
             f"{r['tasks']} asyncio tasks at the end")


if __name__ == "__main__":
    from bench.common import bench_main

    bench_main(main)
