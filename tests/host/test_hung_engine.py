"""A Docker API that accepts and never answers ends in the probe's timeout, as UNKNOWN,
without holding up other probes (stand-in: tests/peers/hanging_socket.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from probes.container import ContainerProbe
from probes.deploy import DeployProbe
from probes.disk import DiskProbe
from tests.peers.hanging_socket import HangingSocket
from tests.support import free_port, run_probe
from watchdog.common.clock import SystemClock
from watchdog.common.state import StateStore
from watchdog.pipeline.observation import Observation, Status
from watchdog.pipeline.probe import ProbeContext, Resources
from watchdog.pipeline.scheduler import Job, run_once
from watchdog.runtime.config_models import WatchdogSettings


def test_a_hung_engine_is_unknown_docker_timeout_not_probe_hung(hung: HangingSocket) -> None:
    obs = run_probe(ContainerProbe, {"container": "nickapp-backend"}, timeout=0.5,
                    settings={"docker_url": hung.url})
    assert (obs.status, obs.cause) == (Status.UNKNOWN, "docker_timeout")
    assert hung.accepted >= 1


def test_nothing_listening_is_unknown_docker_unreachable(tmp_path: Path) -> None:
    obs = run_probe(DeployProbe, {"containers": ["x"]},
                    settings={"docker_url": f"unix://{tmp_path}/none.sock"})
    assert (obs.status, obs.cause) == (Status.UNKNOWN, "docker_unreachable")
    tcp = run_probe(DeployProbe, {"containers": ["x"]},
                    settings={"docker_url": f"tcp://127.0.0.1:{free_port()}"})
    assert (tcp.status, tcp.cause) == (Status.UNKNOWN, "docker_unreachable")


def test_other_probes_finish_first_and_a_hung_call_is_not_queued_twice(
        hung: HangingSocket, tmp_path: Path) -> None:
    async def go() -> tuple[list[str], Observation, Observation]:
        resources = Resources(WatchdogSettings(docker_url=hung.url, blocking_workers=2),
                              StateStore(":memory:"), SystemClock())
        container = ContainerProbe(ContainerProbe.Params(container="c"),
                                   ProbeContext("container", 0.5, resources))
        disk = DiskProbe(DiskProbe.Params(path=str(tmp_path)),
                         ProbeContext("disk", 0.5, resources))
        order: list[str] = []

        async def run(name: str, probe: Any) -> Observation:
            obs = await run_once(Job(name, probe, 5, 0.5), resources.clock, 1.0)
            order.append(name)
            return obs

        first, disk_obs = await asyncio.gather(run("container", container), run("disk", disk))
        again = await container.check()  # the first call's thread is still blocked
        await container.aclose()
        await resources.aclose()
        assert disk_obs.status is Status.OK
        return order, first, again

    order, first, again = asyncio.run(go())
    assert order == ["disk", "container"]
    assert (first.status, first.cause) == (Status.UNKNOWN, "docker_timeout")
    assert (again.status, again.cause) == (Status.UNKNOWN, "docker_timeout")
    assert "previous call" in again.summary
