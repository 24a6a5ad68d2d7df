"""The probes' HTTP client (watchdog/peers/http.py): aiohttp's errors in httpx's terms and
the peer certificate of every response, on real HTTP(S) servers."""

from __future__ import annotations

import asyncio

import aiohttp
import httpx
import pytest
import yarl

from probes._tls import client_context
from probes.http import HttpProbe, _next_method, _next_url
from tests.network.conftest import NetHttpPeer, Tls
from watchdog.common.clock import SystemClock
from watchdog.peers.http import fetch, http_client, peer_cert, translated
from watchdog.pipeline.observation import Observation
from watchdog.pipeline.probe import ProbeContext, Resources
from watchdog.runtime.config_models import WatchdogSettings


@pytest.mark.parametrize(("error", "expected"), [
    (aiohttp.ConnectionTimeoutError(), httpx.ConnectTimeout),
    (aiohttp.SocketTimeoutError(), httpx.ReadTimeout),
    (aiohttp.ServerDisconnectedError(), httpx.RemoteProtocolError),  # retried once
    (aiohttp.ClientPayloadError("incomplete body"), httpx.RemoteProtocolError),
    (aiohttp.ClientOSError(104, "reset"), httpx.ReadError),
    (aiohttp.InvalidURL("ftp://x"), httpx.UnsupportedProtocol),
    (aiohttp.ClientError("anything else"), httpx.TransportError),
])
def test_each_aiohttp_error_becomes_the_httpx_error_httpcore_raises_for_it(
        error: aiohttp.ClientError, expected: type[httpx.TransportError]) -> None:
    assert type(translated(error)) is expected


def test_the_certificate_is_read_again_on_a_reused_keep_alive_connection(
        tls_web: NetHttpPeer, tls_expiring: Tls) -> None:
    async def go() -> list[Observation]:
        resources = Resources(WatchdogSettings(), None, SystemClock())
        probe = HttpProbe(HttpProbe.Params(url=tls_web.url(), ca_file=tls_expiring.ca_file,
                                           tls_min_days=1), ProbeContext("t", 2, resources))
        try:
            return [await probe.check() for _ in range(3)]
        finally:
            await probe.aclose()
            await resources.aclose()

    runs = asyncio.run(go())
    assert [obs.cause for obs in runs] == ["ok"] * 3
    assert all(2.9 < obs.values["cert_days_left"] <= 3.0 for obs in runs)


def test_a_response_over_plain_http_has_no_certificate_and_an_unverified_one_an_empty_one(
        web: NetHttpPeer, tls_web: NetHttpPeer) -> None:
    async def go() -> tuple[object, object]:
        async with http_client() as plain, \
                http_client(client_context(verify=False)) as unverified:
            over_http = await plain.get(web.url())
            over_tls = await unverified.get(tls_web.url())
            return peer_cert(over_http), peer_cert(over_tls)

    assert asyncio.run(go()) == (None, {})


def test_a_cookie_one_answer_sets_is_never_sent_back(web: NetHttpPeer) -> None:
    async def go() -> dict[str, str]:
        async with http_client() as client:
            (await client.get(web.url("/set-cookie"))).raise_for_status()
            return dict((await client.get(web.url("/headers"))).json())

    assert "Cookie" not in asyncio.run(go())


def test_fetch_answers_alike_through_the_adapter_and_through_a_stock_httpx_client(
        web: NetHttpPeer) -> None:
    url = yarl.URL(web.url("/redirect-away?to=/json"))

    async def go() -> list[tuple[int, str | None, bytes]]:
        async with http_client() as ours, httpx.AsyncClient() as stock:
            answers = [await fetch(client, "GET", url, [("X-Probe", "1")])
                       for client in (ours, stock)]
        return [(a.status, a.headers.get("location"), a.body) for a in answers]

    assert asyncio.run(go()) == [(302, "/json", b"")] * 2


@pytest.mark.parametrize(("method", "status", "then"), [
    ("POST", 303, "GET"), ("HEAD", 303, "HEAD"), ("POST", 302, "GET"), ("POST", 301, "GET"),
    ("PUT", 302, "PUT"), ("POST", 307, "POST"), ("POST", 308, "POST"),
])
def test_the_next_hop_of_a_redirect_uses_the_method_httpx_would(
        method: str, status: int, then: str) -> None:
    # httpx's rules (Client._redirect_method), which the probe followed before fetch()
    assert _next_method(method, status) == then
    assert _next_url(yarl.URL("http://127.0.0.1/x/a?q=1"), "../b") == \
        yarl.URL("http://127.0.0.1/b")
