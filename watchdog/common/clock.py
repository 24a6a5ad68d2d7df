"""Time, injected: the real clock for the daemon, a controllable one for tests.

The scheduler only reads time and sleeps through a `Clock`, so tests can run thousands
of cycles in milliseconds and measure drift exactly.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Callable
from typing import Protocol


class Cancellable(Protocol):
    def cancel(self) -> object: ...


class Clock(Protocol):
    def monotonic(self) -> float:
        """Seconds on a clock that never jumps (schedules, durations)."""
        ...

    def time(self) -> float:
        """Wall-clock seconds since the epoch (timestamps shown to people)."""
        ...

    async def sleep_until(self, deadline: float) -> None:
        """Return once `monotonic() >= deadline`."""
        ...

    def call_at(self, deadline: float, callback: Callable[[], object]) -> Cancellable:
        """Call `callback()` on the running loop once `monotonic() >= deadline`, unless
        cancelled first: a timer without a task of its own (the scheduler's per-run one)."""
        ...


class SystemClock:
    def monotonic(self) -> float:
        return time.monotonic()

    def time(self) -> float:
        return time.time()

    async def sleep_until(self, deadline: float) -> None:
        delay = deadline - time.monotonic()
        await asyncio.sleep(max(0.0, delay))

    def call_at(self, deadline: float, callback: Callable[[], object]) -> Cancellable:
        delay = max(0.0, deadline - time.monotonic())
        return asyncio.get_running_loop().call_later(delay, callback)


class ManualClock:
    """A clock that moves only when a test calls `advance()`; sleepers wake in order."""

    def __init__(self, start: float = 1000.0, wall_offset: float = 1_800_000_000.0) -> None:
        self._now = start
        self._wall_offset = wall_offset
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    def monotonic(self) -> float:
        return self._now

    def time(self) -> float:
        return self._now + self._wall_offset

    async def sleep_until(self, deadline: float) -> None:
        if deadline <= self._now:
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (deadline, next(self._seq), future))
        await future

    def call_at(self, deadline: float, callback: Callable[[], object]) -> Cancellable:
        loop = asyncio.get_running_loop()
        if deadline <= self._now:
            return loop.call_soon(callback)
        future: asyncio.Future[None] = loop.create_future()
        future.add_done_callback(lambda done: done.cancelled() or callback())
        heapq.heappush(self._sleepers, (deadline, next(self._seq), future))
        return future

    async def advance(self, seconds: float) -> None:
        """Move time forward, waking each sleeper at its own deadline, in order."""
        target = self._now + seconds
        await settle()  # let tasks that were just started reach their first sleep
        while self._sleepers and self._sleepers[0][0] <= target:
            deadline, _, future = heapq.heappop(self._sleepers)
            self._now = max(self._now, deadline)
            if not future.done():
                future.set_result(None)
            await settle()
        self._now = target
        await settle()

    @property
    def sleepers(self) -> int:
        return sum(1 for _, _, f in self._sleepers if not f.done())


async def settle(rounds: int = 50) -> None:
    """Yield to the loop until woken tasks have run as far as they can without real I/O."""
    for _ in range(rounds):
        await asyncio.sleep(0)
