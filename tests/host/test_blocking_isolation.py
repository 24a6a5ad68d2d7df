"""Blocking work isolated by kind (issue 16 item 4): a hung Docker engine holding every Docker
worker makes no false SMTP timeout, and `check` on 600 refused http probes says `refused`.

Peers: a Docker API that accepts and never answers (tests/peers/hanging_socket.py, no real
engine hangs on demand), a real aiosmtpd server, a real closed port.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from probes.container import ContainerProbe
from probes.smtp import SmtpProbe
from tests.network.conftest import SmtpServer, start_smtp
from tests.peers.hanging_socket import HangingSocket
from tests.support import free_port, until
from watchdog.common.clock import SystemClock
from watchdog.common.state import StateStore
from watchdog.pipeline.blocking import OVERLOADED
from watchdog.pipeline.observation import Observation, Status
from watchdog.pipeline.probe import ProbeContext, Resources
from watchdog.pipeline.scheduler import Job, ProbeScheduler, RunInfo
from watchdog.runtime.config_models import WatchdogSettings


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = start_smtp(None)
    try:
        yield server
    finally:
        server.controller.stop()


def test_six_container_probes_on_a_hung_engine_cause_no_false_smtp_timeout(
        hung: HangingSocket, smtp: SmtpServer) -> None:
    results: dict[str, list[Observation]] = {}

    def record(job: Job, obs: Observation, info: RunInfo) -> None:
        results.setdefault(job.name, []).append(obs)

    async def go() -> None:
        # The bundled Docker timings (5 s timeout) and worker count (4 per kind).
        resources = Resources(WatchdogSettings(docker_url=hung.url), StateStore(":memory:"),
                              SystemClock())
        jobs = [Job(f"c{i}", ContainerProbe(ContainerProbe.Params(container=f"app{i}"),
                                            ProbeContext(f"c{i}", 5.0, resources)), 10.0, 5.0)
                for i in range(6)]
        mail = SmtpProbe(SmtpProbe.Params(host="127.0.0.1", port=smtp.port, tls="none"),
                         ProbeContext("smtp", 1.0, resources))
        jobs.append(Job("smtp", mail, 2.0, 1.0))
        scheduler = ProbeScheduler(SystemClock(), record, grace=1.0, spread=0.0)
        scheduler.start(jobs)
        try:
            await until(lambda: len(results.get("smtp", [])) >= 6
                        and all(f"c{i}" in results for i in range(6)), timeout=60)
        finally:
            await scheduler.stop(1.0)
            await resources.aclose()

    asyncio.run(go())
    smtp_runs = Counter((o.status, o.cause) for o in results["smtp"])
    assert smtp_runs == {(Status.OK, "ok"): len(results["smtp"])}, smtp_runs
    docker = {(o.status, o.cause) for i in range(6) for o in results[f"c{i}"]}
    # Four calls hang on the four Docker workers; the two queued behind them are the
    # watchdog's problem, not the engine's answer.
    assert docker <= {(Status.UNKNOWN, "docker_timeout"), (Status.UNKNOWN, OVERLOADED)}
    assert (Status.UNKNOWN, "docker_timeout") in docker


def test_check_of_600_http_probes_on_a_refusing_port_says_refused(tmp_path: Path) -> None:
    port = free_port()  # nothing listens: every connect is refused at once
    lines = ["watchdog:", f"  state_dir: {tmp_path}/state", "probes:"]
    for i in range(600):
        lines += [f"  web{i}:", "    type: http", f"    url: http://127.0.0.1:{port}/{i}",
                  "    timeout: 5s"]
    config = tmp_path / "watchdog.yaml"
    config.write_text("\n".join(lines) + "\n")
    out = subprocess.run([sys.executable, "-m", "watchdog", "check", "--config", str(config),
                          "--format", "json"], capture_output=True, text=True, timeout=300, check=False)
    rows = json.loads(out.stdout)
    causes = Counter(row["cause"] for row in rows)
    assert causes == {"refused": 600}, causes
