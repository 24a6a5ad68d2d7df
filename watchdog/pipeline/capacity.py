"""Stage 1's load shedding: how much probe work the scheduler takes on at once.

Offered more than it can do, a monitor must degrade, not collapse: runs that cannot start
in time are skipped and counted (`runbook_watchdog_scheduler_skipped_runs_total`, with a
`reason` label), so the runs that do start are on time and keep their whole timeout.
Queueing them instead only makes every run late and every timeout spurious.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from dataclasses import dataclass
from enum import StrEnum

from watchdog.common.clock import Clock

DEFAULT_MAX_IN_FLIGHT = 100
DEFAULT_MAX_LATENESS = 0.1


class SkipReason(StrEnum):
    """Why a scheduled run did not start (the `reason` label of the skipped-runs counter)."""

    OVERRUN = "overrun"  # the probe's previous run was still in flight
    CAPACITY = "capacity"  # max_in_flight runs were in flight until it would have been late
    LATE = "late"  # the loop reached it after max_lateness (the process is overloaded)


@dataclass(frozen=True)
class Capacity:
    """`watchdog.max_in_flight` and `watchdog.max_lateness`."""

    max_in_flight: int = DEFAULT_MAX_IN_FLIGHT
    max_lateness: float = DEFAULT_MAX_LATENESS


class Slots:
    """At most `limit` holders; a waiter gives up at its deadline (on the injected clock).

    Slots pass to waiters in arrival order. At most `limit` runs wait: one that would queue
    behind as many waiters as there are slots could not start in time anyway.
    """

    def __init__(self, limit: int, clock: Clock) -> None:
        self.limit = limit
        self.clock = clock
        self._free = limit
        self._waiters: deque[asyncio.Future[None]] = deque()

    @property
    def in_use(self) -> int:
        return self.limit - self._free

    async def acquire(self, deadline: float) -> bool:
        """Take a slot; False when none came free by `deadline`."""
        if self._free > 0 and not self._waiters:
            self._free -= 1
            return True
        if len(self._waiters) >= self.limit:
            return False
        return await self._wait(deadline)

    async def _wait(self, deadline: float) -> bool:
        granted: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(granted)
        timer = asyncio.ensure_future(self.clock.sleep_until(deadline))
        try:
            await asyncio.wait({granted, timer}, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            self._give_up(granted)
            raise
        finally:
            timer.cancel()
        if granted.done():
            return True
        self._give_up(granted)
        return False

    def _give_up(self, granted: asyncio.Future[None]) -> None:
        if granted.done() and not granted.cancelled():
            self.release()  # handed over just as the waiter gave up: pass it on
            return
        granted.cancel()
        with contextlib.suppress(ValueError):
            self._waiters.remove(granted)

    def release(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)  # the slot passes straight to the waiter
                return
        self._free += 1
