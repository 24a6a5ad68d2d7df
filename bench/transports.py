"""The shared client's transport, swappable for the B1 comparison (bench only).

`shipped` is what the daemon ships (watchdog/pipeline/probe.py Resources.http: the aiohttp
adapter in watchdog/peers/http.py, whose `fetch()` the http probe uses without httpx's
objects); `httpcore` is stock httpx (what was shipped before); the http probe's `fetch()`
goes through httpx's API on these; `httpx-aiohttp` is the PyPI transport the adapter
replaced (it cannot carry the certificate or the causes, see watchdog/peers/http.py).
Same limits for all.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import httpx

from watchdog.peers.http import LIMITS
from watchdog.pipeline.probe import Resources

Build = Callable[[], httpx.AsyncBaseTransport]


def _client(build: Build) -> Callable[[Resources], httpx.AsyncClient]:
    def http(self: Resources) -> httpx.AsyncClient:
        if self._http is None:
            self._http = httpx.AsyncClient(transport=build(), trust_env=False,
                                           follow_redirects=False)
        return self._http

    return http


def _httpx_aiohttp() -> httpx.AsyncBaseTransport:
    from httpx_aiohttp import AiohttpTransport

    return AiohttpTransport(limits=LIMITS, trust_env=False)


BUILDERS: dict[str, Build] = {
    "httpcore": lambda: httpx.AsyncHTTPTransport(limits=LIMITS, trust_env=False),
    "httpx-aiohttp": _httpx_aiohttp,
}


@contextlib.contextmanager
def transport(name: str) -> Iterator[None]:
    """Within the block, Resources.http() builds a client over the named transport."""
    if name == "shipped":
        yield
        return
    original = Resources.http
    Resources.http = _client(BUILDERS[name])  # type: ignore[method-assign]
    try:
        yield
    finally:
        Resources.http = original  # type: ignore[method-assign]
