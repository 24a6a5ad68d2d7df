"""One retry of a transient failure, inside the probe's own timeout (shared by probes).

A dropped keep-alive connection or a reset is retried once, immediately; everything else
(refused, timeout, auth) is an answer and is not retried. The caller keeps the whole
attempt inside `asyncio.timeout(ctx.timeout)`, so a retry can never run past the timeout,
which is itself shorter than the interval.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import httpx

from watchdog.peers.errors import chain

T = TypeVar("T")


async def retry_once(attempt: Callable[[], Awaitable[T]],
                     transient: Callable[[BaseException], bool]) -> T:
    """`await attempt()`, and once more if it raised something `transient` says is.

    A plain try, not tenacity: its retry state machine cost more per run than the rest of
    the probe's own code (issue 16, B1), and one immediate retry needs none of it.
    """
    try:
        return await attempt()
    except Exception as exc:
        if not transient(exc):
            raise
    return await attempt()


def is_reset(exc: BaseException) -> bool:
    """A connection the peer dropped (stale keep-alive, reset): worth one more try."""
    return any(isinstance(item, ConnectionResetError | BrokenPipeError) for item in chain(exc))


def http_transient(exc: BaseException) -> bool:
    """httpx saw the server drop the connection before answering (stale keep-alive)."""
    return isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError) or is_reset(exc)
