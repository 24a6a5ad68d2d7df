"""The controller: runs each probe on its own fixed-rate schedule, behind one error boundary.

Fixed rate means run k of a probe is due at `start + offset + k * interval`, whatever the
previous run took, so schedules never drift (Gatus measures its interval between checks
and drifts). Offsets spread probes over the first `spread` seconds by a hash of the name,
so a start or a reload does not fire everything at once. Each probe has its own task:
a probe that hangs or raises delays only itself, and is reported as UNKNOWN.
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


def spread_offset(name: str, interval: float, spread: float) -> float:
    """A stable offset in [0, min(interval, spread)) derived from the probe's name."""
    fraction = zlib.crc32(name.encode()) / 2**32
    return fraction * min(interval, spread)


async def run_once(job: Job, clock: Clock, grace: float) -> Observation:
    """Run one probe behind the error boundary: never raises, never overruns its deadline."""
    started = clock.monotonic()
    check = asyncio.ensure_future(job.probe.check())
    deadline = asyncio.ensure_future(clock.sleep_until(started + job.timeout + grace))
    try:
        await asyncio.wait({check, deadline}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        deadline.cancel()
        if not check.done():
            check.cancel()
    obs = _outcome(job, check, job.timeout + grace)
    return obs if obs.latency else obs.with_latency(clock.monotonic() - started)


def _outcome(job: Job, check: asyncio.Future[Observation], limit: float) -> Observation:
    if not check.done() or check.cancelled():
        return unknown("probe_hung", f"no result within {limit:g}s (probe hung)")
    exc = check.exception()
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
                 spread: float = 10.0, on_skip: Callable[[Job, int], None] | None = None) -> None:
        self.clock = clock
        self.on_result = on_result
        self.grace = grace
        self.spread = spread
        self.on_skip = on_skip
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
            await self._run(job, due)
            due = self._next_due(job, due)

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
        if self.on_skip is not None:
            self.on_skip(job, missed)
        return nxt + missed * job.interval

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


async def gather_once(jobs: Iterable[Job], clock: Clock, grace: float) -> list[Observation]:
    """Run every job once, concurrently (the `check` command)."""
    runs: list[Awaitable[Observation]] = [run_once(job, clock, grace) for job in jobs]
    return list(await asyncio.gather(*runs))


def status_of(obs: Observation) -> str:
    return Status(obs.status).label
