"""Soak, CI-sized: the whole daemon for 12 minutes of manual-clock time with fault churn.

The daemon runs in this process on a `ManualClock` (its schedules and remediation waits
follow it), its probes do real I/O against real peers (HTTP, Redis through the fault
proxy) and page a real receiver. Every 30 s of clock time the faults change. Tasks, file
descriptors and threads are counted at the same point of each fault cycle: they must not
grow from the first cycle to the last.
"""

from __future__ import annotations

import asyncio
import os
import textwrap
import threading
from pathlib import Path

from prometheus_client import CollectorRegistry

from tests.peers.fault_proxy import FaultProxy
from tests.peers.receiver import Receiver
from tests.peers.redis_server import PASSWORD, RedisServer
from tests.support import HttpPeer, free_port
from watchdog.common.clock import ManualClock, settle
from watchdog.runtime.config import load_config
from watchdog.runtime.daemon import Daemon

MINUTES = 12
CYCLE = 30  # seconds of clock time per fault phase
FAULTS = [("ok", "pass"), ("503", "reset"), ("ok", "blackhole"), ("hang", "pass"),
          ("ok", "half_open"), ("badjson", "refuse")]


POOLS = ("blocking", "asyncio")


def usage() -> tuple[int, int, int]:
    # Thread pools start their threads lazily, up to a bound: ours ("blocking_N") and the
    # loop's default one ("asyncio_N", e.g. getaddrinfo). A late start is not a leak: pool
    # threads are counted apart and checked against their bounds.
    others = [t for t in threading.enumerate() if not t.name.startswith(POOLS)]
    return (len(asyncio.all_tasks()), len(os.listdir("/proc/self/fd")), len(others))


async def run_soak(daemon: Daemon, clock: ManualClock, web: HttpPeer,
                   proxy: FaultProxy) -> list[tuple[int, int, int]]:
    samples = []
    for second in range(MINUTES * 60):
        if second % CYCLE == 0:
            web_mode, proxy_mode = FAULTS[(second // CYCLE) % len(FAULTS)]
            await asyncio.to_thread(web.set_mode, web_mode if web_mode != "hang" else "slow",
                                    **({"delay": "2"} if web_mode == "hang" else {}))
            await asyncio.to_thread(proxy.set, proxy_mode)
            if web_mode == "ok" and proxy_mode == "pass":
                samples.append(usage())
        await clock.advance(1.0)
        while daemon.scheduler._running:  # the runs due now do real I/O
            await asyncio.sleep(0.002)
        await settle()
    return samples


def test_twelve_minutes_of_churn_leak_nothing(tmp_path: Path) -> None:
    web = HttpPeer(tmp_path).start()
    redis = RedisServer(tmp_path, password=PASSWORD).start()
    proxy = FaultProxy(redis.port).start()
    receiver = Receiver(free_port()).start()
    config = tmp_path / "watchdog.yaml"
    config.write_text(textwrap.dedent(f"""\
        watchdog:
          listen: 127.0.0.1:{free_port()}
          state_dir: {tmp_path / 'state'}
          spread: 0s
          kill_switch: {tmp_path / 'kill'}
        probes:
          web: {{type: http, url: "{web.url()}", expect_json: {{status: ok}}, interval: 5s,
                timeout: 300ms, fail_after: 1, recover_after: 1}}
          cache: {{type: redis, url: "redis://127.0.0.1:{proxy.port}/0",
                  password: "{redis.password}", interval: 5s, timeout: 300ms, fail_after: 1,
                  recover_after: 1}}
        notify:
          check_every: 1s
          retry_after: 1s
          channels:
            oncall: {{type: webhook, url: "{receiver.url('/hook')}", timeout: 1s}}
        """))
    clock = ManualClock()
    daemon = Daemon(load_config(config, environ={}), registry=CollectorRegistry(),
                    clock=clock, environ={})

    async def go() -> list[tuple[int, int, int]]:
        running = asyncio.create_task(daemon.run())
        while not hasattr(daemon, "scheduler") or not daemon.scheduler.jobs:
            await asyncio.sleep(0.01)
        try:
            return await run_soak(daemon, clock, web, proxy)
        finally:
            daemon.stop()
            await running

    try:
        samples = asyncio.run(go())
    finally:
        for peer in (proxy, receiver, web, redis):
            peer.stop()
    print("soak samples (tasks, fds, threads):", samples, "messages:", len(receiver.received))
    assert clock.monotonic() - 1000.0 >= MINUTES * 60
    assert len(samples) >= 3, samples
    first, last = samples[1], samples[-1]  # the first cycle warms pools and executors
    assert last[0] <= first[0], f"tasks grew: {samples}"
    assert last[1] <= first[1] + 2, f"file descriptors grew: {samples}"
    assert last[2] <= first[2], f"threads grew: {samples}"
    ours = [t for t in threading.enumerate() if t.name.startswith("blocking")]
    assert len(ours) <= daemon.config.watchdog.blocking_workers
    loop_pool = [t for t in threading.enumerate() if t.name.startswith("asyncio")]
    assert len(loop_pool) <= min(32, (os.cpu_count() or 1) + 4)  # the stdlib's default bound
    assert len(receiver.received) >= 4, "the churn paged and resolved"
