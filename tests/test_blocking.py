"""Blocking pools: one per kind, queue time never charged to the call or to the probe run."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from tests.support import until
from tests.test_scheduler import ScriptedProbe
from watchdog.common.clock import SystemClock
from watchdog.pipeline.blocking import (
    OVERLOADED,
    BlockingPool,
    BlockingPools,
    BlockingTimeout,
    WatchdogOverloaded,
)
from watchdog.pipeline.observation import Observation, Status, ok
from watchdog.pipeline.scheduler import Job, run_once


async def occupied(pool: BlockingPool) -> tuple[asyncio.Future[str], threading.Event]:
    """Hold the pool's one worker until the returned event is set."""
    started, release = threading.Event(), threading.Event()

    def hold() -> str:
        started.set()
        release.wait(30)
        return "held"

    holder = asyncio.ensure_future(pool.run(hold, timeout=30))
    await until(started.is_set)
    return holder, release


def nap(seconds: float) -> str:
    time.sleep(seconds)
    return f"slept {seconds:g}s"


def test_a_call_queued_past_its_timeout_never_runs_and_is_the_watchdogs_problem() -> None:
    ran: list[str] = []

    async def go() -> None:
        pool = BlockingPool("docker", 1)
        holder, release = await occupied(pool)
        with pytest.raises(WatchdogOverloaded, match="all 1 docker workers"):
            await pool.run(ran.append, "queued", timeout=0.2)
        release.set()
        assert await holder == "held"
        pool.shutdown()

    asyncio.run(go())
    assert ran == []
    assert WatchdogOverloaded.cause == OVERLOADED


def test_the_timeout_starts_when_a_worker_picks_the_call_up() -> None:
    async def go() -> str:
        pool = BlockingPool("smtp", 1)
        holder, release = await occupied(pool)
        asyncio.get_running_loop().call_later(0.8, release.set)
        # Queued ~0.8 s, then runs 0.4 s: 1.2 s in all, within a 1 s timeout of its own.
        result = await pool.run(nap, 0.4, timeout=1.0)
        await holder
        pool.shutdown()
        return result

    assert asyncio.run(go()) == "slept 0.4s"


def test_a_call_running_past_its_timeout_is_a_blocking_timeout() -> None:
    async def go() -> None:
        pool, release = BlockingPool("docker", 1), threading.Event()
        with pytest.raises(BlockingTimeout):
            await pool.run(release.wait, 30, timeout=0.2)
        release.set()
        pool.shutdown()

    asyncio.run(go())


def test_each_kind_has_its_own_workers() -> None:
    async def go() -> str:
        pools = BlockingPools(workers=1)
        hung, release = await occupied(pools["docker"])
        result = await pools["smtp"].run(nap, 0.0, timeout=0.5)  # not behind the hung call
        release.set()
        await hung
        pools.shutdown()
        return result

    assert asyncio.run(go()) == "slept 0s"


def test_a_run_queued_for_workers_gets_its_deadline_extended_not_probe_hung() -> None:
    async def go() -> Observation:
        pool = BlockingPool("docker", 1)
        holder, release = await occupied(pool)

        async def blocking_check() -> Observation:
            return ok(await pool.run(nap, 0.3, timeout=1.0))

        asyncio.get_running_loop().call_later(0.8, release.set)
        job = Job("queued", ScriptedProbe(blocking_check), interval=10.0, timeout=1.0)
        obs = await run_once(job, SystemClock(), grace=0.1)  # 1.1 s: past timeout + grace
        await holder
        pool.shutdown()
        return obs

    obs = asyncio.run(go())
    assert (obs.status, obs.summary) == (Status.OK, "slept 0.3s")


def test_an_overloaded_run_is_unknown_watchdog_overloaded() -> None:
    async def go() -> Observation:
        pool = BlockingPool("docker", 1)
        holder, release = await occupied(pool)

        async def blocking_check() -> Observation:
            return ok(await pool.run(nap, 0.0, timeout=0.2))

        obs = await run_once(Job("starved", ScriptedProbe(blocking_check), 10.0, 0.2),
                             SystemClock(), grace=0.1)
        release.set()
        await holder
        pool.shutdown()
        return obs

    obs = asyncio.run(go())
    assert (obs.status, obs.cause) == (Status.UNKNOWN, OVERLOADED)
    assert "never ran" in obs.summary
