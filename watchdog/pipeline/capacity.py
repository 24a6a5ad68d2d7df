"""Stage 1's load shedding: how much probe work the scheduler takes on at once.

Offered more than it can do, a monitor must degrade, not collapse: runs that cannot start
in time are skipped and counted (`runbook_watchdog_scheduler_skipped_runs_total`, with a
`reason` label), so the runs that do start are on time and keep their whole timeout.
Queueing them instead only makes every run late and every timeout spurious.

How many runs fit at once depends on the host, so `max_in_flight` is a ceiling and the
limit in force adapts below it (additive increase, additive decrease, like TCP's window):
each time the loop wakes a run later than LAG_TARGET x max_lateness, the process is
saturated and the limit drops by one; each on-time run that finds every slot taken raises
it by one. Too many runs in flight on a saturated loop would each wait for the loop longer
than their timeout (Little's law) and fail as if their targets were slow.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from watchdog.common.clock import Clock

DEFAULT_MAX_IN_FLIGHT = 100
DEFAULT_MAX_LATENESS = 0.1
LAG_TARGET = 0.2  # of max_lateness: a loop waking runs later than this is saturated
FLOOR = 4  # the adaptive limit never drops below this (or max_in_flight, if smaller)
# Allocations (net) between two young collections; CPython's default is 700 (see quiet_gc).
YOUNG_GC_THRESHOLD = 10_000


def quiet_gc() -> None:
    """Keep the cyclic garbage collector from stalling the loop (call once the probes are
    built, before they start; again after a reload).

    With CPython's default threshold of 700, 2,000 runs/s collected the young generation
    50 times a second, and what each probe's last result keeps for one interval was
    promoted to the old generation, whose full collections (every few seconds) held the
    loop 100-150 ms: late runs, shed runs and most of the p99 lateness (bench/analysis-path.md).
    A higher threshold lets those objects die young, and the objects built at start
    (modules, config, probes) are frozen out of every collection: they live as long as
    the process.
    """
    gc.unfreeze()  # after a reload, what the previous config left may be collected
    gc.collect()
    gc.freeze()
    young, older, oldest = gc.get_threshold()
    gc.set_threshold(max(young, YOUNG_GC_THRESHOLD), older, oldest)


def waker(future: asyncio.Future[None]) -> Callable[..., None]:
    """A callback (for a done-callback or a clock timer) that completes `future` once."""
    def wake(*_: object) -> None:
        if not future.done():
            future.set_result(None)

    return wake


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
        self.ceiling = limit
        self.floor = min(FLOOR, limit)
        self.limit = limit
        self.clock = clock
        self.in_use = 0
        self._waiters: deque[asyncio.Future[None]] = deque()

    def adapt(self, lag: float, target: float) -> None:
        """Follow the loop: one slot fewer when it woke a run `lag` > `target` late, one
        more when it was on time and every slot is taken."""
        if lag > target:
            self.limit = max(self.floor, self.limit - 1)
        elif self.in_use >= self.limit:
            self.limit = min(self.ceiling, self.limit + 1)

    async def acquire(self, deadline: float) -> bool:
        """Take a slot; False when none came free by `deadline`."""
        if self.in_use < self.limit and not self._waiters:
            self.in_use += 1
            return True
        if len(self._waiters) >= self.limit:
            return False
        return await self._wait(deadline)

    async def _wait(self, deadline: float) -> bool:
        loop = asyncio.get_running_loop()
        granted: asyncio.Future[None] = loop.create_future()
        woken: asyncio.Future[None] = loop.create_future()  # a slot, or the deadline
        wake = waker(woken)
        self._waiters.append(granted)
        granted.add_done_callback(wake)
        timer = self.clock.call_at(deadline, wake)  # no timer task, no asyncio.wait
        try:
            await woken
        except asyncio.CancelledError:
            self._give_up(granted)
            raise
        finally:
            timer.cancel()
        if granted.done() and not granted.cancelled():
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
        while self._waiters and self.in_use <= self.limit:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)  # the slot passes straight to the waiter
                return
        self.in_use -= 1  # (above a lowered limit: the slot is retired)
