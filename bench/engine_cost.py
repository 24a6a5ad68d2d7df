"""The framework's own CPU per OK run after the probe returns (`python -m bench.engine_cost`).

The whole daemon runs (state database, notification stage, remediation policy, service
hooks, metrics) with 1,000 http probes whose schedule never comes due in the window; the
bench hands the engine RUNS OK results round-robin, as the scheduler does after each run,
and divides the process CPU time by them. No network: this is B1's "whole daemon" cost
beyond the client, without the load on the machine in it (CPU time, not wall time).
`PROFILE=1` keeps a cProfile of the window (bench/results/engine-cost-profile.txt).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import tempfile
import time
from pathlib import Path

from bench.common import daemon_running, free_port, http_config, load1, profiled, quiet_logs

N = 1000
RUNS = 50_000


async def main() -> dict[str, float]:
    from watchdog.pipeline.observation import ok
    from watchdog.pipeline.scheduler import RunInfo

    tmp = Path(tempfile.mkdtemp(prefix="bench-engine-"))
    quiet_logs(tmp / "watchdog.log")
    urls = [f"http://127.0.0.1:9/t/{i}" for i in range(N)]  # never probed in the window
    config = http_config(tmp / "e.yaml", urls, interval=3600, timeout=5,
                         state_dir=tmp / "state", listen_port=free_port())
    async with daemon_running(config) as daemon:
        jobs = itertools.cycle(daemon._jobs)
        obs = ok("GET http://127.0.0.1:9/t/0: HTTP 200 in 1 ms", status_code=200.0,
                 latency_seconds=0.001)
        now = time.monotonic()
        info = RunInfo(due=now, started=now, duration=0.001)
        for _ in range(N):  # every probe's first result, as after a start
            daemon.engine.on_result(next(jobs), obs, info)
        cpu0 = time.process_time()
        with profiled("engine-cost", top=30) if os.environ.get("PROFILE") \
                else contextlib.nullcontext():
            for _ in range(RUNS):
                daemon.engine.on_result(next(jobs), obs, info)
        cpu = time.process_time() - cpu0
    return {"cpu_us_per_ok_run": 1e6 * cpu / RUNS, "runs": RUNS, "load": load1()}


if __name__ == "__main__":
    print(asyncio.run(main()), flush=True)
