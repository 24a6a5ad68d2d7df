"""The probes' HTTP client: httpx's API over aiohttp's connection pool (runbook §2.4).

Probes (http, shkeeper, sentry) keep httpx's request/response API; the connections are
aiohttp's, whose pool does not rescan every connection per request as httpcore's does
(docs/benchmarks.md, B1). The adapter is ours rather than the httpx-aiohttp package's
because that transport cannot carry what the probes need:

- the peer certificate of the connection a response came on (`cert_expiring`): its
  aiohttp response stays hidden in a private attribute, and a small body has already
  released the connection when the transport returns. Here a response class records the
  certificate when aiohttp starts the response (`peer_cert(response)`);
- the cause vocabulary: it maps every `ClientConnectionError` (refused, DNS, a dropped
  keep-alive) to `httpx.ConnectTimeout`, lets a garbled response escape as a raw
  aiohttp error, and sends header names lower-cased. Here each aiohttp error becomes the
  httpx error httpcore raises for the same event, chained to the original, so
  `network_cause()` still finds the OSError, gaierror or SSL error underneath:

    aiohttp error                        httpx error            the probe's cause
    ClientConnectorError (refused, DNS,  ConnectError           refused / dns / tls_error
      certificate, unreachable)                                 / connect_error
    ServerTimeoutError (connect, read)   ConnectTimeout,        timeout
                                         ReadTimeout
    ServerDisconnectedError,             RemoteProtocolError    retried once, then
      ClientPayloadError,                                       connect_error
      ClientResponseError (garbage)
    ClientOSError (reset mid-request)    ReadError              retried once
    InvalidURL                           UnsupportedProtocol    connect_error

The http probe, the one run thousands of times a second, skips httpx's request and
response objects: `fetch()` sends through the same shared aiohttp session and returns an
`Answer` (status, headers, body, certificate), with the same error vocabulary. Other
probes keep httpx's API; `fetch()` on a stock httpx client (bench/transports.py) goes
through that API. Neither path sets a timeout of its own: the caller bounds the whole
exchange (the probe's `asyncio.timeout`), which expires when httpx's connect, read and
pool timeouts (all the probe's timeout) would have.

The client keeps no cookies: a probe's request is what its config says, whatever an
earlier answer (of any target) set, and no run pays for httpx's cookie jar.

DNS answers are cached by aiohttp for 10 s (its default), so a changed record reaches new
connections within 10 s; a failed lookup is not cached.
"""

from __future__ import annotations

import functools
import ssl
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any, cast

import aiohttp
import httpx
import yarl

from watchdog.peers.tls import default_context

LIMITS = httpx.Limits(max_connections=200, max_keepalive_connections=100,
                      keepalive_expiry=120.0)
_PEER_CERT = "runbook_watchdog.peer_cert"  # the response extension carrying the certificate
_CHUNK = 64 * 1024

# First match wins: most specific first.
_ERRORS: tuple[tuple[type[Exception], type[httpx.TransportError]], ...] = (
    (aiohttp.ConnectionTimeoutError, httpx.ConnectTimeout),
    (aiohttp.ServerTimeoutError, httpx.ReadTimeout),
    (aiohttp.ClientConnectorError, httpx.ConnectError),
    (aiohttp.ServerDisconnectedError, httpx.RemoteProtocolError),
    (aiohttp.ClientPayloadError, httpx.RemoteProtocolError),
    (aiohttp.ClientResponseError, httpx.RemoteProtocolError),
    (aiohttp.ClientOSError, httpx.ReadError),
    (aiohttp.InvalidURL, httpx.UnsupportedProtocol),
    (aiohttp.ClientError, httpx.TransportError),
)


_UNBOUNDED = aiohttp.ClientTimeout()  # fetch(): the caller's asyncio.timeout bounds it
Headers = Sequence[tuple[str, str]]


def translated(exc: aiohttp.ClientError) -> httpx.TransportError:
    """The httpx error httpcore raises for the event `exc` reports (chain it from `exc`)."""
    kind = next(target for source, target in _ERRORS if isinstance(exc, source))
    return kind(str(exc) or type(exc).__name__)


def peer_cert(response: httpx.Response) -> dict[str, Any] | None:
    """The decoded certificate of the peer that sent `response`; None over plain HTTP.

    Empty when the certificate was not verified (ssl decodes only a verified one).
    """
    return cast(dict[str, Any] | None, response.extensions.get(_PEER_CERT))


class _CertResponse(aiohttp.ClientResponse):
    """Records the peer certificate while the connection is still the response's own."""

    peer_cert: dict[str, Any] | None = None

    async def start(self, connection: aiohttp.connector.Connection) -> aiohttp.ClientResponse:
        transport = connection.transport
        if transport is not None and transport.get_extra_info("ssl_object") is not None:
            self.peer_cert = transport.get_extra_info("peercert") or {}
        return await super().start(connection)


class _Body(httpx.AsyncByteStream):
    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._response.content.iter_chunked(_CHUNK):
                yield chunk
        except aiohttp.ClientError as exc:
            raise translated(exc) from exc

    async def aclose(self) -> None:
        # Back to the pool when the body was read to the end, closed otherwise.
        self._response.release()


@functools.lru_cache(maxsize=64)
def _timeout(connect: float | None, read: float | None, pool: float | None
             ) -> aiohttp.ClientTimeout:
    # aiohttp's `connect` covers waiting for a pool slot plus connecting: httpx's `pool`.
    return aiohttp.ClientTimeout(total=None, connect=pool, sock_connect=connect, sock_read=read)


@dataclass(frozen=True, slots=True)
class Answer:
    """One response, read to the end: what the http probe judges."""

    status: int
    headers: Any  # a case-insensitive multi-mapping (aiohttp's or httpx's)
    body: bytes
    charset: str | None
    peer_cert: dict[str, Any] | None  # None over plain HTTP, {} when unverified

    @property
    def text(self) -> str:
        """The body decoded as httpx's `Response.text` does (utf-8 unless declared)."""
        try:
            return self.body.decode(self.charset or "utf-8", errors="replace")
        except LookupError:  # a charset Python does not know
            return self.body.decode("utf-8", errors="replace")


class AiohttpTransport(httpx.AsyncBaseTransport):
    """An httpx transport over one aiohttp session (built on first use, in the loop)."""

    def __init__(self, context: ssl.SSLContext, limits: httpx.Limits = LIMITS) -> None:
        self._context = context
        self._limits = limits
        self._session: aiohttp.ClientSession | None = None

    async def fetch(self, method: str, url: yarl.URL, headers: Headers) -> Answer:
        """Send one request on the shared session and read the whole answer, httpx-free."""
        if self._session is None:
            self._session = self._open()
        try:
            async with self._session.request(
                    method, url, headers=headers, allow_redirects=False, compress=None,
                    auto_decompress=True, timeout=_UNBOUNDED) as response:
                body = await response.read()
        except aiohttp.ClientError as exc:
            raise translated(exc) from exc
        return Answer(response.status, response.headers, body, response.charset,
                      cast(_CertResponse, response).peer_cert)

    def _open(self) -> aiohttp.ClientSession:
        # getaddrinfo in a thread, as httpcore did, even where aiodns is installed: its
        # errors carry the socket.gaierror that `network_cause()` reads as `dns`.
        connector = aiohttp.TCPConnector(
            ssl=self._context, limit=self._limits.max_connections or 0,
            keepalive_timeout=self._limits.keepalive_expiry or 0,
            resolver=aiohttp.ThreadedResolver())
        # No cookie jar: one probe's cookies must never reach another's request.
        return aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar(),
                                     auto_decompress=False, response_class=_CertResponse)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self._session is None:
            self._session = self._open()
        try:
            response = await self._send(self._session, request)
        except aiohttp.ClientError as exc:
            raise translated(exc) from exc
        extensions: dict[str, Any] = {"http_version": b"HTTP/1.1",
                                      "reason_phrase": (response.reason or "").encode()}
        cert = cast(_CertResponse, response).peer_cert
        if cert is not None:
            extensions[_PEER_CERT] = cert
        return httpx.Response(response.status, headers=response.raw_headers,
                              stream=_Body(response), request=request, extensions=extensions)

    async def _send(self, session: aiohttp.ClientSession, request: httpx.Request
                    ) -> aiohttp.ClientResponse:
        timeout = request.extensions.get("timeout", {})
        body = await request.aread()
        # Raw names: the header case the probe's config spells is the one sent.
        headers = [(name.decode("latin-1"), value.decode("latin-1"))
                   for name, value in request.headers.raw]
        return await session.request(
            request.method, yarl.URL(str(request.url), encoded=True), headers=headers,
            data=body or None, allow_redirects=False, compress=None,
            timeout=_timeout(timeout.get("connect"), timeout.get("read"), timeout.get("pool")))

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


class _NoCookies(httpx.Cookies):
    """A jar that keeps nothing (httpx builds a urllib request per response to fill it)."""

    def extract_cookies(self, response: httpx.Response) -> None:
        return None


class ProbeClient(httpx.AsyncClient):
    """httpx.AsyncClient with no cookie jar, and `fetch()` on its aiohttp session."""

    _no_cookies = _NoCookies()  # empty: httpx only reads it, and nothing is ever kept

    def __init__(self, transport: AiohttpTransport, **kwargs: Any) -> None:
        super().__init__(transport=transport, **kwargs)
        self.adapter = transport

    @property
    def cookies(self) -> httpx.Cookies:
        return self._no_cookies

    @cookies.setter
    def cookies(self, cookies: object) -> None:
        raise TypeError("the probes' HTTP client keeps no cookies")


async def fetch(client: httpx.AsyncClient, method: str, url: yarl.URL, headers: Headers
                ) -> Answer:
    """One request without redirects through `client`: straight to aiohttp when it is ours,
    through httpx's API otherwise (a stock client, bench/transports.py)."""
    if isinstance(client, ProbeClient):
        return await client.adapter.fetch(method, url, headers)
    async with client.stream(method, str(url), headers=list(headers),
                             follow_redirects=False) as response:
        body = await response.aread()
    return Answer(response.status_code, response.headers, body, response.charset_encoding,
                  peer_cert(response))


def http_client(context: ssl.SSLContext | None = None) -> ProbeClient:
    """An AsyncClient over the aiohttp transport: no environment proxies, no redirects.

    Without `context`, certificates are verified against the system's CAs, with the
    context every default-configured client here shares (watchdog/peers/tls.py).
    """
    context = context or default_context()
    return ProbeClient(transport=AiohttpTransport(context), trust_env=False,
                       follow_redirects=False)
