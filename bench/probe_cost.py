"""B1's CPU per probe in a short run, for before/after comparisons (`python -m bench.probe_cost`).

The same 1,000 nginx targets as B1, 10 s windows: the shipped client at its best rate
(B1's saturate, 200 in flight), the whole daemon on its schedule (1,000 probes at 5 s and
at 2 s), and blackbox_exporter. The framework's own cost per probe is the daemon's CPU per
OK probe minus the client's. `IN_FLIGHT=10 TRANSPORT=httpcore` measures stock httpx at its
best rate for the client row. `PROFILE=1` adds a cProfile of the daemon at 200/s
(bench/results/B1-daemon.txt).
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import b1_throughput as b1
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


async def daemon_cost(config: Path, profile: str | None) -> dict[str, float]:
    async with daemon_running(config) as daemon:
        await asyncio.sleep(b1.WARMUP + 2)
        log = LatenessLog(daemon)
        cpu0, t0 = cpu_seconds(os.getpid()), time.monotonic()
        if profile:
            with profiled(profile, top=40):
                await asyncio.sleep(WINDOW)
        else:
            await asyncio.sleep(WINDOW)
        elapsed, cpu = time.monotonic() - t0, cpu_seconds(os.getpid()) - cpu0
    return {"rate": log.ok / elapsed, "cpu_us": 1e6 * cpu / max(1, log.ok),
            "p99_ms": 1e3 * percentile(log.lateness(), 99), "load": load1()}


async def main() -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="bench-cost-"))
    quiet_logs(tmp / "watchdog.log")
    targets = Targets(tmp).start()
    urls = [targets.url(i) for i in range(b1.N)]
    out: dict[str, Any] = {"load_start": load1()}
    b1.IN_FLIGHT = int(os.environ.get("IN_FLIGHT", "200"))
    try:
        config = http_config(tmp / "c.yaml", urls, interval=10, timeout=5,
                             state_dir=tmp / "state", listen_port=free_port())
        with transport(os.environ.get("TRANSPORT", "shipped")):
            client = await b1.saturate(config, WINDOW)
        out["client"] = {"rate": client["rate"], "cpu_us": client["cpu"] * 1e6,
                         "load": client["load"]}
        for interval in (5.0, 2.0):
            sched = http_config(tmp / f"d{interval}.yaml", urls, interval=interval,
                                timeout=interval / 2, state_dir=tmp / f"state-{interval}",
                                listen_port=free_port())
            profile = "B1-daemon" if os.environ.get("PROFILE") and interval == 5.0 else None
            out[f"daemon@{b1.N / interval:.0f}"] = await daemon_cost(sched, profile)
        bb = await b1.blackbox(tmp, targets, WINDOW)
        out["blackbox"] = {"rate": bb["rate"], "cpu_us": bb["cpu"] * 1e6, "load": bb["load"]}
    finally:
        targets.stop()
    return out


if __name__ == "__main__":
    for key, value in asyncio.run(main()).items():
        print(f"{key}: {value}", flush=True)
