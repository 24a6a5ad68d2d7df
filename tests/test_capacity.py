"""Load shedding on a controllable clock: overrun, capacity and lateness skips, with reasons."""

from __future__ import annotations

import asyncio
import gc
import weakref
from collections import Counter

from tests.test_scheduler import Recorder, ScriptedProbe, instant
from watchdog.common.clock import ManualClock
from watchdog.pipeline.capacity import (
    YOUNG_GC_THRESHOLD,
    Capacity,
    SkipReason,
    Slots,
    quiet_gc,
)
from watchdog.pipeline.observation import Observation, ok
from watchdog.pipeline.scheduler import Job, ProbeScheduler, RunInfo, gather_once


class LaggingClock(ManualClock):
    """A fake of an overloaded loop: every sleeper wakes `lag` seconds after its deadline."""

    def __init__(self, lag: float) -> None:
        super().__init__()
        self.lag = lag

    def monotonic(self) -> float:
        return super().monotonic() + self.lag


class Skips:
    def __init__(self) -> None:
        self.counts: Counter[tuple[str, SkipReason]] = Counter()

    def __call__(self, job: Job, runs: int, reason: SkipReason) -> None:
        self.counts[(job.name, reason)] += runs

    def by_reason(self) -> dict[SkipReason, int]:
        totals: Counter[SkipReason] = Counter()
        for (_, reason), runs in self.counts.items():
            totals[reason] += runs
        return dict(totals)


def taking(clock: ManualClock, seconds: float) -> ScriptedProbe:
    async def busy() -> Observation:
        await clock.sleep_until(clock.monotonic() + seconds)
        return ok(f"took {seconds:g}s")

    return ScriptedProbe(busy)


def run_scheduler(clock: ManualClock, jobs: list[Job], capacity: Capacity, seconds: float,
                  *, spread: float = 0.0, grace: float = 100.0,
                  in_use: list[int] | None = None) -> tuple[Recorder, Skips]:
    """Run `jobs` for `seconds` of `clock`; `in_use` collects the slots in use at each result."""
    async def go() -> tuple[Recorder, Skips]:
        rec, skips = Recorder(), Skips()

        def on_result(job: Job, obs: Observation, info: RunInfo) -> None:
            rec(job, obs, info)
            if in_use is not None:
                in_use.append(scheduler.slots.in_use)

        scheduler = ProbeScheduler(clock, on_result, grace=grace, spread=spread, on_skip=skips,
                                   capacity=capacity)
        scheduler.start(jobs)
        await clock.advance(seconds)
        await scheduler.stop(grace=0.1)
        return rec, skips

    return asyncio.run(go())


def test_runs_beyond_max_in_flight_are_skipped_as_capacity_not_queued() -> None:
    clock = ManualClock()
    jobs = [Job(f"p{i}", taking(clock, 5.0), interval=10.0, timeout=9.0) for i in range(4)]
    rec, skips = run_scheduler(clock, jobs, Capacity(max_in_flight=2, max_lateness=0.1), 99.5)
    assert len(rec.runs) == 20  # 2 of the 4 at each of the 10 slots
    assert skips.by_reason() == {SkipReason.CAPACITY: 20}
    assert max(info.lateness for _, _, info in rec.runs) == 0.0


def test_a_slot_freed_within_max_lateness_goes_to_the_waiting_run() -> None:
    clock = ManualClock()
    jobs = [Job("a", taking(clock, 0.05), interval=10.0, timeout=9.0),
            Job("b", taking(clock, 0.05), interval=10.0, timeout=9.0)]
    rec, skips = run_scheduler(clock, jobs, Capacity(max_in_flight=1, max_lateness=0.1), 99.5)
    assert len(rec.runs) == 20
    assert not skips.counts
    lateness = sorted({round(info.lateness, 6) for _, _, info in rec.runs})
    assert lateness == [0.0, 0.05]  # one waits for the other's slot, within the bound


def test_a_run_the_loop_reaches_too_late_is_skipped_as_late() -> None:
    clock = LaggingClock(lag=0.2)
    job = Job("a", ScriptedProbe(instant), interval=10.0, timeout=5.0)
    rec, skips = run_scheduler(clock, [job], Capacity(max_lateness=0.1), 99.5)
    assert rec.runs == []
    assert skips.by_reason() == {SkipReason.LATE: 10}


def test_runs_that_start_are_never_later_than_max_lateness() -> None:
    clock = LaggingClock(lag=0.05)
    job = Job("a", ScriptedProbe(instant), interval=10.0, timeout=5.0)
    rec, skips = run_scheduler(clock, [job], Capacity(max_lateness=0.1), 99.5)
    assert len(rec.runs) == 10
    assert {round(info.lateness, 6) for _, _, info in rec.runs} == {0.05}
    assert not skips.counts


def test_a_probe_still_in_flight_is_skipped_as_overrun() -> None:
    clock = ManualClock()
    job = Job("s", taking(clock, 25.0), interval=10.0, timeout=30.0)
    rec, skips = run_scheduler(clock, [job], Capacity(), 59.5)
    assert len(rec.runs) == 2
    assert skips.counts == {("s", SkipReason.OVERRUN): 4}


def test_in_flight_runs_stay_bounded_when_offered_far_more_than_capacity() -> None:
    clock = ManualClock()
    seen: list[int] = []
    jobs = [Job(f"p{i}", taking(clock, 3.0), interval=1.0, timeout=5.0) for i in range(200)]

    _, skips = run_scheduler(clock, jobs, Capacity(max_in_flight=10, max_lateness=0.1), 30.0,
                             spread=1.0, grace=1.0, in_use=seen)
    assert seen and max(seen) <= 10
    shed = skips.by_reason()
    assert shed[SkipReason.CAPACITY] > 0 and shed[SkipReason.OVERRUN] > 0
    # Every slot of every probe either ran or was counted: nothing piles up unseen.
    assert len(seen) + sum(shed.values()) >= 200 * 29


def test_slots_pass_in_arrival_order_and_a_cancelled_waiter_leaves_none_taken() -> None:
    async def go() -> tuple[list[str], int]:
        clock = ManualClock()
        slots = Slots(3, clock)
        order: list[str] = []
        for _ in range(3):
            assert await slots.acquire(clock.monotonic())

        async def wait(name: str) -> None:
            if await slots.acquire(clock.monotonic() + 10.0):
                order.append(name)
                slots.release()

        first = asyncio.create_task(wait("first"))
        cancelled = asyncio.create_task(wait("cancelled"))
        second = asyncio.create_task(wait("second"))
        await asyncio.sleep(0)
        # As many waiting as there are slots: one more could not start in time anyway.
        assert not await slots.acquire(clock.monotonic() + 10.0)
        cancelled.cancel()
        slots.release()
        await asyncio.gather(first, second, cancelled, return_exceptions=True)
        return order, slots.in_use

    order, in_use = asyncio.run(go())
    assert order == ["first", "second"]
    assert in_use == 2  # the two the test still holds


def test_check_runs_at_most_limit_probes_at_once_and_times_them_from_their_turn() -> None:
    async def go() -> tuple[list[Observation], int]:
        clock = ManualClock()
        running, peak = 0, 0

        async def one_second() -> Observation:
            nonlocal running, peak
            running += 1
            peak = max(peak, running)
            await clock.sleep_until(clock.monotonic() + 1.0)
            running -= 1
            return ok("done")

        jobs = [Job(f"p{i}", ScriptedProbe(one_second), 10.0, 1.5) for i in range(30)]
        gathered = asyncio.create_task(gather_once(jobs, clock, 0.0, limit=10))
        for _ in range(3):
            await clock.advance(1.0)
        return await gathered, peak

    observations, peak = asyncio.run(go())
    assert peak == 10
    assert [o.summary for o in observations] == ["done"] * 30  # none timed out in the queue


def test_the_limit_follows_the_loop_between_floor_and_ceiling() -> None:
    slots = Slots(10, ManualClock())
    for _ in range(20):
        slots.adapt(lag=0.05, target=0.02)  # the loop wakes runs late: saturated
    assert slots.limit == 4
    slots.adapt(lag=0.0, target=0.02)  # on time, but slots to spare: no reason to grow
    assert slots.limit == 4
    for _ in range(20):
        slots.in_use = slots.limit
        slots.adapt(lag=0.0, target=0.02)  # on time and every slot taken: grow
    assert slots.limit == 10


def test_a_saturated_loop_gets_fewer_runs_in_flight() -> None:
    clock = LaggingClock(lag=0.05)  # past 0.2 x max_lateness: the process is saturated
    seen: list[int] = []
    jobs = [Job(f"p{i}", taking(clock, 3.0), interval=10.0, timeout=5.0) for i in range(30)]

    _, skips = run_scheduler(clock, jobs, Capacity(max_in_flight=20, max_lateness=0.1), 60.0,
                             spread=5.0, grace=1.0, in_use=seen)
    assert scheduler_limit_reached(seen) <= 4 + 1
    assert skips.by_reason().get(SkipReason.CAPACITY, 0) > 0


def scheduler_limit_reached(in_use_at_results: list[int]) -> int:
    """The most runs in flight seen after the first wave had taught the limit."""
    return max(in_use_at_results[len(in_use_at_results) // 2:])


def test_quiet_gc_freezes_the_start_up_heap_once_and_raises_the_young_threshold() -> None:
    before = gc.get_threshold()
    garbage: list[object] = []
    garbage.append(garbage)  # a cycle made before the call: collected, not frozen
    ref = weakref.ref(Cycle(garbage))
    del garbage
    try:
        quiet_gc()
        frozen = gc.get_freeze_count()
        assert ref() is None
        assert frozen > 0
        assert gc.get_threshold() == (max(before[0], YOUNG_GC_THRESHOLD), *before[1:])
        quiet_gc()  # a reload: the heap is frozen again, not once more on top
        assert gc.get_freeze_count() < 2 * frozen
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)


class Cycle:
    def __init__(self, other: object) -> None:
        self.other = other
        self.me = self
