"""Stage 1's blocking work: one bounded thread pool per kind of blocking peer.

Blocking SDKs (the docker SDK, smtplib, file scans) run in threads, never on the event loop.
Each kind has its own pool, so a hung Docker engine holding every Docker worker cannot make
an SMTP probe wait. Time spent queued for a worker is the watchdog's problem, not the
target's, so it is never charged to a probe's timeout:

- the call's own timeout starts when a worker picks it up;
- a call still queued after `timeout` is not run: it raises `WatchdogOverloaded`, which the
  scheduler reports as UNKNOWN `watchdog_overloaded` (never as a target timing out);
- the time queued is added to the run's `Allowance`, which extends the scheduler's hard
  deadline for that run (and a probe's own time budget, `Allowance.charged`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")
OVERLOADED = "watchdog_overloaded"


class BlockingTimeout(Exception):
    """A blocking call overran its timeout once running (its thread may still be busy)."""


class WatchdogOverloaded(Exception):
    """Every worker of a pool stayed busy for the call's whole timeout: the call never ran."""

    cause = OVERLOADED


@dataclass
class Allowance:
    """Seconds one probe run spent queued for workers: added to its deadlines."""

    queued: float = 0.0

    def charged(self, started: float, now: float) -> float:
        """Seconds of the run's own time budget used since `started` (queue time excluded)."""
        return max(0.0, now - started - self.queued)


ALLOWANCE: contextvars.ContextVar[Allowance | None] = contextvars.ContextVar(
    "runbook_watchdog_allowance", default=None)


def current_allowance() -> Allowance:
    """The running probe run's allowance (a throwaway one outside a scheduled run)."""
    return ALLOWANCE.get() or Allowance()


class BlockingPool:
    """A bounded thread pool for one kind of blocking peer."""

    def __init__(self, kind: str, workers: int) -> None:
        self.kind = kind
        self.workers = workers
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=workers, thread_name_prefix=f"blocking-{kind}")

    async def run(self, fn: Callable[..., T], *args: Any, timeout: float) -> T:
        """`fn(*args)` in a worker: at most `timeout` queued, then at most `timeout` running."""
        loop = asyncio.get_running_loop()
        picked = _Pickup(loop)
        work = self._executor.submit(picked.wrap, fn, *args)
        try:
            await self._picked_up(work, picked, timeout)
            current_allowance().queued += picked.queued
            remaining = picked.at + timeout - time.monotonic()
            async with asyncio.timeout(max(0.0, remaining)):  # not wait_for: see _picked_up
                return await asyncio.wrap_future(work)
        except TimeoutError as exc:
            raise BlockingTimeout(f"blocking call overran {timeout:g}s") from exc
        finally:
            work.cancel()  # a call still queued when its run is cancelled never runs

    async def _picked_up(self, work: concurrent.futures.Future[Any], picked: _Pickup,
                         timeout: float) -> None:
        try:
            # asyncio.timeout, not wait_for: on 3.11 wait_for swallows a cancel that lands
            # as the awaited thing finishes, and a stopping scheduler would wait on this run.
            async with asyncio.timeout(timeout):
                await asyncio.shield(picked.event)
        except TimeoutError:
            if work.cancel():
                raise WatchdogOverloaded(
                    f"the watchdog is overloaded: all {self.workers} {self.kind} workers "
                    f"stayed busy for {timeout:g}s, so the call never ran") from None
            await picked.event  # picked up just now: it runs with its full timeout

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


class _Pickup:
    """When a worker picked the call up (set from the worker thread)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.submitted = time.monotonic()
        self.at = self.submitted
        self.event: asyncio.Future[None] = loop.create_future()

    @property
    def queued(self) -> float:
        return self.at - self.submitted

    def wrap(self, fn: Callable[..., T], *args: Any) -> T:
        self.at = time.monotonic()
        self.loop.call_soon_threadsafe(self._set)
        return fn(*args)

    def _set(self) -> None:
        if not self.event.done():
            self.event.set_result(None)


class BlockingPools:
    """The pools by kind, each built on first use with `workers` threads."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._pools: dict[str, BlockingPool] = {}

    def __getitem__(self, kind: str) -> BlockingPool:
        pool = self._pools.get(kind)
        if pool is None:
            pool = self._pools[kind] = BlockingPool(kind, self.workers)
        return pool

    def shutdown(self) -> None:
        for pool in self._pools.values():
            pool.shutdown()
        self._pools.clear()
