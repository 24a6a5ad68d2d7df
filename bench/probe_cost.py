"""B1's CPU per probe in a short run, for before/after comparisons (`python -m bench.probe_cost`).

The same 1,000 nginx targets as B1, 10 s windows: the shipped client at its best rate
(B1's saturate, 200 in flight), the whole daemon on its schedule (1,000 probes at the
offered rates in `RATES`, default 200,500,2000 probes/s), and blackbox_exporter. The
framework's own cost per probe is the daemon's CPU per OK probe minus the client's.
`IN_FLIGHT=10 TRANSPORT=httpcore` measures stock httpx at its best rate for the client row.
`PROFILE=2000` adds a cProfile of the event loop's thread while the daemon runs at that
offered rate (bench/results/B1-daemon-2000-profile.txt); `ONLY=daemon` skips the client and
blackbox_exporter rows.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import b1_throughput as b1
from bench.b8_load_steps import skipped
from bench.common import (
    LatenessLog,
    Targets,
    cpu_seconds,
    daemon_running,
    free_port,
    http_config,
    load1,
    percentile,
    profiled,
    quiet_logs,
)
from bench.transports import transport

WINDOW = 10.0


RATES = tuple(int(r) for r in os.environ.get("RATES", "200,500,2000").split(",") if r)


async def daemon_cost(config: Path, profile: str | None) -> dict[str, float]:
    async with daemon_running(config) as daemon:
        await asyncio.sleep(b1.WARMUP + 2)
        log = LatenessLog(daemon)
        shed0 = sum(skipped(daemon).values())
        cpu0, t0 = cpu_seconds(os.getpid()), time.monotonic()
        with profiled(profile, top=60) if profile else contextlib.nullcontext():
            await asyncio.sleep(WINDOW)
        elapsed, cpu = time.monotonic() - t0, cpu_seconds(os.getpid()) - cpu0
        shed = sum(skipped(daemon).values()) - shed0
    return {"rate": log.ok / elapsed, "cpu_us": 1e6 * cpu / max(1, log.ok),
            "p99_ms": 1e3 * percentile(log.lateness(), 99), "skipped_rate": shed / elapsed,
            "load": load1()}


async def client_cost(tmp: Path, urls: list[str]) -> dict[str, float]:
    config = http_config(tmp / "c.yaml", urls, interval=10, timeout=5,
                         state_dir=tmp / "state", listen_port=free_port())
    with transport(os.environ.get("TRANSPORT", "shipped")):
        client = await b1.saturate(config, WINDOW)
    return {"rate": client["rate"], "cpu_us": client["cpu"] * 1e6, "load": client["load"]}


async def main() -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="bench-cost-"))
    quiet_logs(tmp / "watchdog.log")
    targets = Targets(tmp).start()
    urls = [targets.url(i) for i in range(b1.N)]
    out: dict[str, Any] = {"load_start": load1()}
    daemon_only = os.environ.get("ONLY") == "daemon"
    b1.IN_FLIGHT = int(os.environ.get("IN_FLIGHT", "200"))
    try:
        if not daemon_only:
            out["client"] = await client_cost(tmp, urls)
        for rate in RATES:
            interval = b1.N / rate
            sched = http_config(tmp / f"d{rate}.yaml", urls, interval=interval,
                                timeout=interval / 2, state_dir=tmp / f"state-{rate}",
                                listen_port=free_port())
            profile = f"B1-daemon-{rate}" if os.environ.get("PROFILE") == str(rate) else None
            out[f"daemon@{rate}"] = await daemon_cost(sched, profile)
            print(f"daemon@{rate}: {out[f'daemon@{rate}']}", flush=True)
        if not daemon_only:
            bb = await b1.blackbox(tmp, targets, WINDOW)
            out["blackbox"] = {"rate": bb["rate"], "cpu_us": bb["cpu"] * 1e6,
                               "load": bb["load"]}
    finally:
        targets.stop()
    return out


if __name__ == "__main__":
    for key, value in asyncio.run(main()).items():
        print(f"{key}: {value}", flush=True)
