"""Stopping delivery while a channel's wake-up and the stop land in the same loop turn.

On Python 3.11 `asyncio.wait_for` returns the inner result instead of raising when the
cancellation arrives just as the awaited thing finishes: a delivery task woken at that
moment swallowed `stop()`'s cancel, went round its loop again and `stop()` waited forever
(a test run hung 16 minutes at load 13). Each case below wakes the idle channel, lets the
loop turn `turns` times, then stops: one of these turns is the one the race needs.
"""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.peers.receiver import Receiver
from tests.support import free_port
from watchdog.common.clock import SystemClock
from watchdog.common.state import StateStore
from watchdog.notification.channels.http import WebhookSender
from watchdog.notification.delivery import Dispatcher
from watchdog.notification.models import WebhookChannel
from watchdog.notification.store import NotifyStore


@pytest.mark.parametrize("turns", range(6))
def test_stop_ends_delivery_even_when_a_wake_up_lands_with_it(turns: int) -> None:
    receiver = Receiver(free_port()).start()
    channel = WebhookChannel(type="webhook", url=receiver.url("/hook"))

    async def go() -> None:
        async with httpx.AsyncClient() as http:
            dispatcher = Dispatcher(NotifyStore(StateStore(":memory:")), SystemClock(), 1.0,
                                    lambda name, cfg: None)
            dispatcher.start({"oncall": (channel, WebhookSender(channel, http))})
            for _ in range(3):  # the channel's task is parked in its idle wait
                await asyncio.sleep(0)
            dispatcher.wake("oncall")
            for _ in range(turns):
                await asyncio.sleep(0)
            await asyncio.wait_for(dispatcher.stop(), 10.0)

    try:
        asyncio.run(go())
    finally:
        receiver.stop()
