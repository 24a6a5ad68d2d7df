"""B7: a Docker API call hung for 60 s must not change the other probes' lateness.

200 http probes at a 1 s interval run beside two container probes whose Docker API is a
stand-in for a hung engine (tests/peers/hanging_socket.py: accepts, never answers; no real
engine can be made to hang on demand). Baseline: 30 s with no socket (the container probes
fail fast); then 60 s with every Docker call hanging, each holding a blocking worker until
the socket goes away. Lateness of the http probes is compared between the two windows.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from bench.common import (
    Figure,
    LatenessLog,
    Targets,
    daemon_running,
    free_port,
    http_config,
    load1,
    percentile,
    quiet_logs,
    report,
)
from tests.peers.hanging_socket import HangingSocket

N = 200
BASELINE = 30.0
HANG = 60.0


def container_probes(socket: Path) -> tuple[str, str]:
    probes = "".join(f"  docker{i}:\n    type: container\n    container: app{i}\n"
                     "    interval: 2s\n    timeout: 1s\n" for i in range(2))
    return probes, f"  docker_url: unix://{socket}\n"


async def main() -> list[Figure]:
    tmp = Path(tempfile.mkdtemp(prefix="bench-b7-"))
    quiet_logs(tmp / "watchdog.log")
    targets = Targets(tmp).start()
    sock = tmp / "docker.sock"
    probes, setting = container_probes(sock)
    config = http_config(tmp / "b7.yaml", [targets.url(i) for i in range(N)], interval=1,
                         timeout=0.5, state_dir=tmp / "state", listen_port=free_port())
    text = config.read_text().replace("watchdog:\n", "watchdog:\n" + setting, 1)
    config.write_text(text + probes)
    http_names = frozenset(f"t{i}" for i in range(N))
    hung = HangingSocket(sock)
    try:
        async with daemon_running(config) as daemon:
            await asyncio.sleep(3)
            log = LatenessLog(daemon, only=http_names)
            await asyncio.sleep(BASELINE)
            before = log.lateness()
            log.reset()
            hung.start()
            await asyncio.sleep(HANG)
            during = log.lateness()
            held = hung.accepted
            hung.stop()
            docker = [daemon.engine.last[f"docker{i}"].observation for i in range(2)]
    finally:
        targets.stop()
    causes = ", ".join(sorted({obs.cause or "ok" for obs in docker}))
    figures = figures_of(before, during, held, causes)
    report(figures)
    return figures


def figures_of(before: list[float], during: list[float], held: int, causes: str
               ) -> list[Figure]:
    b99, d99 = percentile(before, 99) * 1e3, percentile(during, 99) * 1e3
    bmax, dmax = max(before) * 1e3, max(during) * 1e3
    return [
        Figure("B7", "other probes' lateness p99, baseline", b99, "ms", load=load1(),
               note=f"{len(before)} runs"),
        Figure("B7", "other probes' lateness p99, Docker API hung", d99, "ms",
               "unchanged (<= baseline + 1 ms)", d99 <= b99 + 1, f"{d99 / b99:.2f} x baseline",
               note=f"{len(during)} runs; {held} Docker calls hung; container probes: {causes}"),
        Figure("B7", "other probes' lateness max, baseline", bmax, "ms"),
        Figure("B7", "other probes' lateness max, Docker API hung", dmax, "ms",
               "unchanged (<= 100 ms, B2's max)", dmax <= 100, f"{dmax / bmax:.2f} x baseline"),
    ]


if __name__ == "__main__":
    from bench.common import bench_main

    bench_main(main)
