"""The shared client's transport, swappable for the B1 comparison (bench only).

`stock` is what the daemon ships (watchdog/pipeline/probe.py Resources.http); `aiohttp` is the same
httpx.AsyncClient API over the httpx-aiohttp transport, with the same limits.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

import httpx

from watchdog.pipeline.probe import Resources

LIMITS = httpx.Limits(max_connections=200, max_keepalive_connections=100, keepalive_expiry=120.0)


def _aiohttp_client(self: Resources) -> httpx.AsyncClient:
    if self._http is None:
        from httpx_aiohttp import AiohttpTransport

        self._http = httpx.AsyncClient(transport=AiohttpTransport(limits=LIMITS, trust_env=False),
                                       trust_env=False, follow_redirects=False)
    return self._http


class _Bounded(httpx.AsyncBaseTransport):
    """At most `slots` requests inside httpcore's pool at once (its waits scan every request)."""

    def __init__(self, slots: int) -> None:
        self._inner = httpx.AsyncHTTPTransport(limits=LIMITS, trust_env=False)
        self._slots = asyncio.Semaphore(slots)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        async with self._slots:
            return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


def _bounded_client(self: Resources) -> httpx.AsyncClient:
    if self._http is None:
        self._http = httpx.AsyncClient(transport=_Bounded(10), trust_env=False,
                                       follow_redirects=False)
    return self._http


@contextlib.contextmanager
def transport(name: str) -> Iterator[None]:
    """Within the block, Resources.http() builds a client over the named transport."""
    if name == "stock":
        yield
        return
    original = Resources.http
    Resources.http = _aiohttp_client if name == "aiohttp" else _bounded_client  # type: ignore[method-assign]
    try:
        yield
    finally:
        Resources.http = original  # type: ignore[method-assign]
