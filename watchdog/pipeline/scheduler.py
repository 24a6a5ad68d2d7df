"""The controller: runs each probe on its own fixed-rate schedule, behind one error boundary.

Fixed rate means run k of a probe is due at `start + offset + k * interval`, whatever the
previous run took, so schedules never drift (Gatus measures its interval between checks
and drifts). Offsets spread probes over the first `spread` seconds by a hash of the name,
so a start or a reload does not fire everything at once. Each probe has its own task:
a probe that hangs or raises delays only itself, and is reported as UNKNOWN.

Above capacity the scheduler sheds load instead of queueing it (watchdog/pipeline/capacity.py):
a run whose previous run is still in flight, that finds `max_in_flight` runs in flight until
it would be `max_lateness` late, or that the loop reaches too late, is skipped and counted
with its reason. The runs that start are on time, so their timeouts mean what they say.
"""

from __future__ import annotations

import asyncio
import logging
import math
import zlib
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from watchdog.common.clock import Clock
from watchdog.common.secrets import scrub
from watchdog.pipeline.blocking import ALLOWANCE, OVERLOADED, Allowance, WatchdogOverloaded
from watchdog.pipeline.capacity import (
    DEFAULT_MAX_IN_FLIGHT,
    LAG_TARGET,
    Capacity,
    SkipReason,
    Slots,
    waker,
)
from watchdog.pipeline.observation import Observation, Status, unknown
from watchdog.pipeline.probe import Probe

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Job:
    """One probe to schedule."""

    name: str
    probe: Probe
    interval: float
    timeout: float


@dataclass(frozen=True)
class RunInfo:
    due: float  # monotonic time the run was due
    started: float  # monotonic time it started
    duration: float

    @property
    def lateness(self) -> float:
        return max(0.0, self.started - self.due)


ResultHandler = Callable[[Job, Observation, RunInfo], None]
SkipHandler = Callable[[Job, int, SkipReason], None]


def spread_offset(name: str, interval: float, spread: float) -> float:
    """A stable offset in [0, min(interval, spread)) derived from the probe's name."""
    fraction = zlib.crc32(name.encode()) / 2**32
    return fraction * min(interval, spread)


async def run_once(job: Job, clock: Clock, grace: float) -> Observation:
    """Run one probe behind the error boundary: never raises, never overruns its deadline.

    The deadline is `timeout + grace` plus whatever the run spent queued for blocking
    workers (watchdog/pipeline/blocking.py): waiting for the watchdog is not the target's time.
    """
    started = clock.monotonic()
    allowance = Allowance()
    token = ALLOWANCE.set(allowance)
    try:
        check = asyncio.ensure_future(job.probe.check())  # runs with this run's allowance
    finally:
        ALLOWANCE.reset(token)
    try:
        await _until_done(check, clock, lambda: started + job.timeout + grace + allowance.queued)
    finally:
        if not check.done():
            check.cancel()
    obs = _outcome(job, check, job.timeout + grace)
    return obs if obs.latency else obs.with_latency(clock.monotonic() - started)


async def _until_done(check: asyncio.Future[Observation], clock: Clock,
                      deadline: Callable[[], float]) -> None:
    """Wait for `check` until `deadline()`, which may move later while it runs.

    One future woken by whichever comes first, the check's end or a clock timer: no timer
    task and no asyncio.wait per run (each cost a task step and a set of callbacks, B1).
    """
    loop = asyncio.get_running_loop()
    while not check.done() and clock.monotonic() < deadline():
        woken: asyncio.Future[None] = loop.create_future()
        wake = waker(woken)
        check.add_done_callback(wake)
        timer = clock.call_at(deadline(), wake)
        try:
            await woken
        finally:
            timer.cancel()
            check.remove_done_callback(wake)


def _outcome(job: Job, check: asyncio.Future[Observation], limit: float) -> Observation:
    if not check.done() or check.cancelled():
        return unknown("probe_hung", f"no result within {limit:g}s (probe hung)")
    exc = check.exception()
    if isinstance(exc, WatchdogOverloaded):
        return unknown(OVERLOADED, str(exc))
    if exc is not None:
        log.warning("probe %s crashed: %s", job.name, scrub(f"{type(exc).__name__}: {exc}"),
                    exc_info=exc)
        return unknown("probe_crashed", scrub(f"probe crashed: {type(exc).__name__}: {exc}"))
    result = check.result()
    if not isinstance(result, Observation):
        kind = type(result).__name__
        return unknown("probe_crashed", f"probe returned {kind}, not an Observation")
    return result


class ProbeScheduler:
    def __init__(self, clock: Clock, on_result: ResultHandler, *, grace: float = 1.0,
                 spread: float = 10.0, on_skip: SkipHandler | None = None,
                 capacity: Capacity | None = None) -> None:
        self.clock = clock
        self.on_result = on_result
        self.grace = grace
        self.spread = spread
        self.on_skip = on_skip
        self.capacity = capacity or Capacity()
        self.slots = Slots(self.capacity.max_in_flight, clock)
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._running: set[str] = set()
        self._stopping = False

    def start(self, jobs: Iterable[Job]) -> None:
        origin = self.clock.monotonic()
        for job in jobs:
            offset = spread_offset(job.name, job.interval, self.spread)
            task = asyncio.create_task(self._loop(job, origin + offset), name=f"probe:{job.name}")
            self._tasks[job.name] = task

    @property
    def jobs(self) -> list[str]:
        return list(self._tasks)

    def alive(self) -> bool:
        """False once a probe's schedule has ended (it never should outside stop())."""
        return all(not task.done() for task in self._tasks.values())

    async def _loop(self, job: Job, due: float) -> None:
        while not self._stopping:
            await self.clock.sleep_until(due)
            if self._stopping:
                return
            shed = await self._attempt(job, due)
            if shed is not None:
                self._skip(job, 1, shed)
            due = self._next_due(job, due)

    async def _attempt(self, job: Job, due: float) -> SkipReason | None:
        """Run the job now if it can start within max_lateness of `due`; else say why not."""
        limit = due + self.capacity.max_lateness
        lag = self.clock.monotonic() - due
        self.slots.adapt(lag, LAG_TARGET * self.capacity.max_lateness)
        if lag > self.capacity.max_lateness:
            return SkipReason.LATE
        if not await self.slots.acquire(limit):
            return SkipReason.CAPACITY
        try:
            if self.clock.monotonic() > limit:
                return SkipReason.LATE
            await self._run(job, due)
        finally:
            self.slots.release()
        return None

    async def _run(self, job: Job, due: float) -> None:
        started = self.clock.monotonic()
        self._running.add(job.name)
        try:
            obs = await run_once(job, self.clock, self.grace)
        finally:
            self._running.discard(job.name)
        info = RunInfo(due, started, self.clock.monotonic() - started)
        try:
            self.on_result(job, obs, info)
        except Exception:
            # The pipeline after the probe must not kill the probe's schedule either.
            log.exception("handling the result of probe %s failed", job.name)

    def _next_due(self, job: Job, due: float) -> float:
        nxt = due + job.interval
        now = self.clock.monotonic()
        if nxt >= now:
            return nxt
        missed = math.ceil((now - nxt) / job.interval)
        self._skip(job, missed, SkipReason.OVERRUN)
        return nxt + missed * job.interval

    def _skip(self, job: Job, runs: int, reason: SkipReason) -> None:
        if self.on_skip is not None:
            self.on_skip(job, runs, reason)

    async def stop(self, grace: float) -> None:
        """Stop scheduling; let runs in flight finish within `grace` seconds, then cancel."""
        self._stopping = True
        for name, task in self._tasks.items():
            if name not in self._running:
                task.cancel()
        pending = [t for t in self._tasks.values() if not t.done()]
        if pending:
            _, still = await asyncio.wait(pending, timeout=grace)
            for task in still:
                task.cancel()
            await asyncio.gather(*still, return_exceptions=True)
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)
        self._tasks.clear()


async def gather_once(jobs: Iterable[Job], clock: Clock, grace: float,
                      limit: int = DEFAULT_MAX_IN_FLIGHT) -> list[Observation]:
    """Run every job once, at most `limit` at a time (the `check` command).

    A job's timeout starts when it gets its turn, not while it waits for one.
    """
    turns = asyncio.Semaphore(limit)

    async def in_turn(job: Job) -> Observation:
        async with turns:
            return await run_once(job, clock, grace)

    runs: list[Awaitable[Observation]] = [in_turn(job) for job in jobs]
    return list(await asyncio.gather(*runs))


def status_of(obs: Observation) -> str:
    return Status(obs.status).label
