"""Background delivery of queued notifications: one task per channel, retried, persisted.

Each channel drains its own part of the outbox in order (a resolved message never
overtakes its started message), so a slow or dead receiver holds up only itself, never
the probes or the other channels. A round is a few quick attempts (tenacity); when a
round fails the message stays pending with a later `next_at`, doubling up to 10 minutes,
and survives a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping

from tenacity import AsyncRetrying, stop_after_attempt, wait_exponential

from watchdog.common.clock import Clock
from watchdog.common.secrets import scrub
from watchdog.notification.channels import Sender
from watchdog.notification.models import ChannelBase
from watchdog.notification.store import NotifyStore, Queued

log = logging.getLogger(__name__)
MAX_PAUSE = 600.0
IDLE_CHECK = 30.0

SkipReason = Callable[[str, ChannelBase], str | None]


class Dispatcher:
    def __init__(self, store: NotifyStore, clock: Clock, retry_after: float,
                 skip: SkipReason) -> None:
        self.store = store
        self.clock = clock
        self.retry_after = retry_after
        self.skip = skip
        self._senders: dict[str, tuple[ChannelBase, Sender]] = {}
        self._wake: dict[str, asyncio.Event] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def start(self, senders: Mapping[str, tuple[ChannelBase, Sender]]) -> None:
        self._senders = dict(senders)
        self.store.retry_now(self.clock.time())
        for name in self._senders:
            self._wake[name] = asyncio.Event()
            self._tasks[name] = asyncio.create_task(self._drain(name), name=f"notify:{name}")

    def wake(self, channel: str) -> None:
        event = self._wake.get(channel)
        if event is not None:
            event.set()

    async def stop(self) -> None:
        """Stop delivering; a message in flight stays pending and is sent after a restart."""
        for task in self._tasks.values():
            task.cancel()
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)
        self._tasks.clear()
        self._wake.clear()

    async def _drain(self, name: str) -> None:
        while True:
            try:
                await self._next(name)
            except Exception:
                # A database error (locked by another process) must not end the channel's
                # delivery for the rest of the process's life: the row is still pending.
                log.exception("delivery to %s interrupted; retrying", name)
                await self._sleep(name, self.retry_after)

    async def _next(self, name: str) -> None:
        item = self.store.head(name)
        delay = IDLE_CHECK if item is None else item.next_at - self.clock.time()
        if item is not None and delay > MAX_PAUSE:
            delay = 0.0  # never postponed this far: the wall clock went back, retry now
        if delay > 0:
            await self._sleep(name, delay)
            return
        assert item is not None
        await self._deliver(name, item)

    async def _sleep(self, name: str, delay: float) -> None:
        event = self._wake[name]
        event.clear()
        # asyncio.timeout, not wait_for: on 3.11 wait_for swallows a cancel that lands as
        # the wait ends, and stop() then waited for this task forever.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(min(delay, IDLE_CHECK)):
                await event.wait()

    async def _deliver(self, name: str, item: Queued) -> None:
        config, sender = self._senders[name]
        reason = self.skip(name, config)
        if reason is not None:
            log.warning("notification #%d to %s skipped: %s", item.id, name, reason)
            self.store.finish(item.id, "skipped", self.clock.time(), reason)
            return
        try:
            await self._attempts(config, sender, item)
        except Exception as exc:
            self._failed(name, item, exc)
            return
        self.store.finish(item.id, "sent", self.clock.time())
        log.info("notification #%d (%s, incident %d) delivered to %s", item.id,
                 item.message.kind, item.message.incident_id, name)

    async def _attempts(self, config: ChannelBase, sender: Sender, item: Queued) -> None:
        retrying = AsyncRetrying(stop=stop_after_attempt(config.attempts), reraise=True,
                                 wait=wait_exponential(multiplier=0.2, max=2.0))
        async for attempt in retrying:
            with attempt:
                async with asyncio.timeout(config.timeout):
                    await sender.send(item.message, self.clock.time())

    def _failed(self, name: str, item: Queued, exc: Exception) -> None:
        pause = min(MAX_PAUSE, self.retry_after * 2 ** min(item.attempts, 10))
        what = scrub(f"{type(exc).__name__}: {exc}")[:300]
        log.warning("notification #%d to %s failed (%s); retrying in %.0fs", item.id, name,
                    what, pause)
        self.store.postpone(item.id, self.clock.time() + pause, what)
