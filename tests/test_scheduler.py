"""The scheduler on a controllable clock: fixed rate, spread, and the single error boundary."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from watchdog.common.clock import ManualClock
from watchdog.pipeline.observation import Observation, Status, ok
from watchdog.pipeline.scheduler import Job, ProbeScheduler, RunInfo, run_once, spread_offset


class ScriptedProbe:
    """A test double for a probe: runs `behaviour` (instant, raising or hanging)."""

    def __init__(self, behaviour: Callable[[], Awaitable[Observation]]) -> None:
        self.behaviour = behaviour
        self.runs = 0

    async def check(self) -> Observation:
        self.runs += 1
        return await self.behaviour()

    async def aclose(self) -> None:
        pass


async def instant() -> Observation:
    return ok("fine")


async def raising() -> Observation:
    raise RuntimeError("boom at postgres://admin:hunter2@db")


async def hanging() -> Observation:
    await asyncio.Event().wait()
    raise AssertionError("unreachable")


class Recorder:
    def __init__(self) -> None:
        self.runs: list[tuple[str, Observation, RunInfo]] = []

    def __call__(self, job: Job, obs: Observation, info: RunInfo) -> None:
        self.runs.append((job.name, obs, info))

    def of(self, name: str) -> list[tuple[Observation, RunInfo]]:
        return [(o, i) for n, o, i in self.runs if n == name]


def scenario(jobs: list[Job], seconds: float, spread: float = 0.0
             ) -> tuple[Recorder, ManualClock]:
    async def go() -> tuple[Recorder, ManualClock]:
        clock, rec = ManualClock(), Recorder()
        scheduler = ProbeScheduler(clock, rec, grace=1.0, spread=spread)
        scheduler.start(jobs)
        await clock.advance(seconds)
        await scheduler.stop(grace=1.0)
        return rec, clock

    return asyncio.run(go())


def test_fixed_rate_has_no_drift_over_many_cycles() -> None:
    job = Job("a", ScriptedProbe(instant), interval=10.0, timeout=5.0)
    rec, _ = scenario([job], seconds=10_000.0 - 0.5)
    runs = rec.of("a")
    assert len(runs) == 1000
    dues = [info.due - runs[0][1].due for _, info in runs]
    assert dues == [k * 10.0 for k in range(1000)]
    assert max(info.lateness for _, info in runs) == 0.0


def test_a_hanging_and_a_raising_probe_delay_nothing_else() -> None:
    good = Job("good", ScriptedProbe(instant), interval=10.0, timeout=5.0)
    hung = Job("hung", ScriptedProbe(hanging), interval=10.0, timeout=5.0)
    bad = Job("bad", ScriptedProbe(raising), interval=10.0, timeout=5.0)
    rec, _ = scenario([hung, bad, good], seconds=99.5)
    good_runs = rec.of("good")
    assert len(good_runs) == 10
    assert all(info.lateness == 0.0 for _, info in good_runs)
    assert all(o.status is Status.OK for o, _ in good_runs)
    hung_runs = rec.of("hung")
    assert len(hung_runs) == 10
    assert {(o.status, o.cause) for o, _ in hung_runs} == {(Status.UNKNOWN, "probe_hung")}
    # the hard deadline is timeout + grace, measured on the schedule's clock
    assert {info.duration for _, info in hung_runs} == {6.0}
    bad_runs = rec.of("bad")
    assert {(o.status, o.cause) for o, _ in bad_runs} == {(Status.UNKNOWN, "probe_crashed")}


def test_a_crash_message_is_scrubbed_of_uri_credentials() -> None:
    async def go() -> Observation:
        job = Job("bad", ScriptedProbe(raising), interval=10.0, timeout=5.0)
        return await run_once(job, ManualClock(), 1.0)

    obs = asyncio.run(go())
    assert "hunter2" not in obs.summary
    assert "postgres://admin:***@db" in obs.summary


def test_a_probe_returning_garbage_is_unknown() -> None:
    async def garbage() -> Any:  # not an Observation, whatever the protocol says
        return "ok"

    async def go() -> Observation:
        return await run_once(Job("g", ScriptedProbe(garbage), 10.0, 5.0), ManualClock(), 1.0)

    obs = asyncio.run(go())
    assert (obs.status, obs.cause) == (Status.UNKNOWN, "probe_crashed")


def test_an_overrunning_run_skips_missed_slots_and_keeps_the_grid() -> None:
    clock = ManualClock()

    async def slow() -> Observation:
        await clock.sleep_until(clock.monotonic() + 25.0)
        return ok("slow")

    async def go() -> tuple[Recorder, list[int]]:
        rec, skipped = Recorder(), []
        scheduler = ProbeScheduler(clock, rec, grace=100.0, spread=0.0,
                              on_skip=lambda job, n, why: skipped.append(n))
        scheduler.start([Job("s", ScriptedProbe(slow), interval=10.0, timeout=9.0)])
        await clock.advance(59.5)
        await scheduler.stop(grace=0.1)
        return rec, skipped

    rec, skipped = asyncio.run(go())
    dues = [info.due - 1000.0 for _, info in rec.of("s")]
    assert dues == [0.0, 30.0]  # runs at 0 (ends 25) and 30 (ends 55): 10 and 20 skipped
    assert skipped == [2, 2]


def test_start_times_are_spread_by_name_and_stable() -> None:
    names = [f"probe-{i}" for i in range(50)]
    offsets = [spread_offset(n, 30.0, 10.0) for n in names]
    assert all(0.0 <= o < 10.0 for o in offsets)
    assert len({round(o, 3) for o in offsets}) > 40
    assert offsets == [spread_offset(n, 30.0, 10.0) for n in names]
    assert spread_offset("x", 2.0, 10.0) < 2.0


def test_first_runs_follow_the_spread() -> None:
    jobs = [Job(f"p{i}", ScriptedProbe(instant), 30.0, 5.0) for i in range(5)]
    rec, _ = scenario(jobs, seconds=29.0, spread=10.0)
    first = {name: info.due - 1000.0 for name, _, info in rec.runs}
    assert first == pytest.approx({j.name: spread_offset(j.name, 30.0, 10.0) for j in jobs})


def test_stop_lets_a_run_in_flight_finish() -> None:
    clock = ManualClock()
    release = asyncio.Event()

    async def in_flight() -> Observation:
        await release.wait()
        return ok("finished")

    async def go() -> Recorder:
        rec = Recorder()
        scheduler = ProbeScheduler(clock, rec, grace=1.0, spread=0.0)
        scheduler.start([Job("f", ScriptedProbe(in_flight), 10.0, 5.0)])
        await clock.advance(0.0)
        stopping = asyncio.create_task(scheduler.stop(grace=30.0))
        await asyncio.sleep(0)
        release.set()
        await stopping
        return rec

    rec = asyncio.run(go())
    assert [o.summary for _, o, _ in rec.runs] == ["finished"]
