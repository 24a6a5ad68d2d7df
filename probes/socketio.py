"""socket.io probe (runbook §3.6): what the app's browsers do, through nginx.

One run is a client's session: the Engine.IO v4 handshake over polling
(`GET URL?EIO=4&transport=polling`, with httpx), the upgrade to WebSocket with the session
id (`websockets`), the upgrade's ping/pong (`2probe` -> `3probe`, then `5`) and, with
`hold`, the upgraded connection kept open that long, answering the server's pings as a
browser does. nginx closing a quiet upgraded connection after `proxy_read_timeout`
(shorter than socket.io's ping interval) is the runbook's "disconnects every 60 s"; a
`hold` longer than that timeout sees it.

Causes: upgrade_rejected (the upgrade answered with an HTTP status, e.g. the 502 of an
nginx without the Upgrade headers, or no WebSocket offered), handshake_failed (no
Engine.IO open packet, or no pong), dropped_early (closed after N s of `hold`; N is in
summary and details), refused, timeout, dns, tls_error. A `hold` that does not fit in
the probe's `timeout` is a config error (`config_problems`), and UNKNOWN `misconfigured`
for a probe built outside the config loader.

It does not join a socket.io namespace: the app's connect handler authenticates with a
user's JWT, which the watchdog does not have; the transport is what fails in §3.6.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from probes._tls import HTTP_ALPN, client_context
from watchdog.common.durations import Duration
from watchdog.peers.errors import network_cause
from watchdog.pipeline.observation import Observation, Status, failed, unknown
from watchdog.pipeline.probe import ProbeContext, ProbeParams
from watchdog.runtime.config_models import ProbeCommon

RESTART = "then nginx -t and docker compose restart nginx nickapp-backend (runbook 3.6 step 5)"
HINTS = {
    "upgrade_rejected": "nginx does not upgrade socket.io to WebSocket: clients fall back to "
                        "polling and reconnect in a loop. Add to the socket.io location: "
                        "proxy_http_version 1.1; proxy_set_header Upgrade $http_upgrade; "
                        "proxy_set_header Connection \"upgrade\" (runbook 3.6 steps 3-4), "
                        + RESTART,
    "dropped_early": "the upgraded connection was closed before socket.io's next ping: "
                     "nginx's proxy_read_timeout is shorter than the ping interval. Quick "
                     "mitigation: raise proxy_read_timeout (runbook 3.6 step 4), " + RESTART,
    "handshake_failed": "socket.io does not answer through nginx: is the backend up? "
                        "docker logs --tail=500 <the backend> | grep -c 🔌 (runbook 3.6 "
                        "step 1; 3.1 if the backend is down)",
    "refused": "nothing listens at the socket.io address: is nginx up? (runbook 3.6 step 5)",
    "timeout": "socket.io did not answer in time through nginx: backend overloaded or hung? "
               "(runbook 3.6 step 1, 3.1)",
    "tls_error": "TLS failed on the socket.io address: certificate expired, wrong name or "
                 "untrusted chain",
}
# The Engine.IO v4 packet types a client sees (protocol spec, "packet encoding").
OPEN, CLOSE, PING, PONG, UPGRADE = "0", "1", "2", "3", "5"


class SocketioParams(ProbeParams):
    url: str  # the socket.io endpoint through nginx, e.g. https://amn.gg/socket.io/
    hold: Duration = 0.0  # keep the upgraded connection this long; 0 = don't hold
    ca_file: Path | None = None  # a private CA; the system's CAs otherwise


@dataclass(frozen=True)
class Session:
    """The Engine.IO open packet's fields the probe uses."""

    sid: str
    websocket: bool  # WebSocket among the offered upgrades
    ping_interval: float


class Finding(Exception):
    """A step failed with a cause of the vocabulary (raised by a step, turned into FAILED)."""

    def __init__(self, cause: str, summary: str, **details: Any) -> None:
        super().__init__(summary)
        self.cause, self.summary, self.details = cause, summary, details


class SocketioProbe:
    Params: ClassVar[type[SocketioParams]] = SocketioParams
    causes: ClassVar[frozenset[str]] = frozenset(
        {"ok", "upgrade_rejected", "handshake_failed", "dropped_early", "refused", "timeout",
         "dns", "tls_error", "misconfigured"})
    unknown_causes: ClassVar[frozenset[str]] = frozenset({"misconfigured"})
    common_defaults: ClassVar[dict[str, Any]] = {"runbook": "3.6"}

    @classmethod
    def config_problems(cls, params: SocketioParams,
                        common: ProbeCommon) -> list[tuple[str, str]]:
        """The hold runs inside the run's timeout (the scheduler ends a run past it)."""
        if params.hold < common.timeout:
            return []
        return [("hold", f"{params.hold:g}s must be less than the probe's timeout "
                         f"({common.timeout:g}s): the hold runs inside it")]

    def __init__(self, params: SocketioParams, ctx: ProbeContext) -> None:
        self.params = params
        self.timeout = ctx.timeout
        self.ssl = client_context(params.ca_file, alpn=HTTP_ALPN)  # websockets: HTTP/1.1 too
        self._own_client = params.ca_file is not None
        self.client = httpx.AsyncClient(verify=self.ssl, trust_env=False) \
            if self._own_client else ctx.http()

    async def check(self) -> Observation:
        if self.params.hold >= self.timeout:
            return unknown("misconfigured", f"hold ({self.params.hold:g}s) must be less than "
                           f"the probe's timeout ({self.timeout:g}s)")
        started = time.monotonic()
        try:
            async with asyncio.timeout(self.timeout):
                obs = await self._session()
        except Finding as exc:
            obs = failed(exc.cause, f"{self.params.url}: {exc.summary}",
                         hint=HINTS.get(exc.cause), details=exc.details)
        except TimeoutError:
            obs = failed("timeout", f"{self.params.url}: no answer within {self.timeout:g}s",
                         hint=HINTS["timeout"])
        return obs.with_latency(time.monotonic() - started)

    async def _session(self) -> Observation:
        session = await self._handshake()
        if not session.websocket:
            raise Finding("upgrade_rejected", "the server offers no WebSocket upgrade")
        async with await self._upgrade(session) as ws:
            await _ping_pong(ws)
            held = await _hold(ws, self.params.hold)
        if held is not None:
            raise Finding("dropped_early", f"the upgraded connection dropped after {held:.0f}s "
                          f"of the {self.params.hold:g}s hold (server pings every "
                          f"{session.ping_interval:g}s)", dropped_at=round(held, 1),
                          hold=self.params.hold, ping_interval=session.ping_interval)
        return Observation(Status.OK, "ok", f"{self.params.url}: handshake, WebSocket upgrade "
                           f"and ping/pong passed" + _held(self.params.hold),
                           details={"ping_interval": session.ping_interval})

    async def _handshake(self) -> Session:
        try:
            response = await self.client.get(self.params.url, timeout=self.timeout,
                                             params={"EIO": "4", "transport": "polling"})
        except httpx.TimeoutException as exc:
            raise TimeoutError from exc
        except httpx.HTTPError as exc:
            raise _network(exc, "the polling handshake") from exc
        if response.status_code != 200:
            raise Finding("handshake_failed", f"the polling handshake answered HTTP "
                          f"{response.status_code}", status=response.status_code)
        return _open_packet(response.text)

    async def _upgrade(self, session: Session) -> ClientConnection:
        url = httpx.URL(self.params.url).copy_merge_params(
            {"EIO": "4", "transport": "websocket", "sid": session.sid})
        ws_url = str(url.copy_with(scheme="wss" if url.scheme == "https" else "ws"))
        try:
            # Like a browser: no WebSocket-level pings (they would keep nginx's read timer
            # alive), no proxy from the environment; the run's own timeout bounds the open.
            return await connect(ws_url, ssl=self.ssl if ws_url.startswith("wss") else None,
                                 ping_interval=None, open_timeout=None, proxy=None)
        except InvalidStatus as exc:
            status = exc.response.status_code
            raise Finding("upgrade_rejected", f"the WebSocket upgrade answered HTTP {status}",
                          status=status) from exc
        except InvalidHandshake as exc:
            raise Finding("upgrade_rejected", f"the WebSocket upgrade failed: {exc}") from exc
        except OSError as exc:
            raise _network(exc, "the WebSocket upgrade") from exc

    async def aclose(self) -> None:
        if self._own_client:
            await self.client.aclose()


def _open_packet(body: str) -> Session:
    """The session in the first polling packet (`0{"sid": ...}`), else handshake_failed."""
    first = body.split("\x1e", 1)[0]
    try:
        data = json.loads(first[1:]) if first.startswith(OPEN) else None
    except ValueError:
        data = None
    if not isinstance(data, dict) or not isinstance(data.get("sid"), str):
        raise Finding("handshake_failed", f"no Engine.IO open packet in the answer "
                      f"({first[:40]!r})")
    return Session(data["sid"], "websocket" in data.get("upgrades", ()),
                   float(data.get("pingInterval", 0)) / 1000)


async def _ping_pong(ws: ClientConnection) -> None:
    """The upgrade's probe: `2probe` must come back as `3probe`; then the upgrade packet."""
    try:
        await ws.send(PING + "probe")
        reply = await ws.recv()
        if reply != PONG + "probe":
            raise Finding("handshake_failed", f"the upgrade's ping got {str(reply)[:40]!r}, "
                          f"not {PONG + 'probe'!r}")
        await ws.send(UPGRADE)
    except ConnectionClosed as exc:
        raise Finding("handshake_failed", f"closed during the upgrade's ping/pong ({exc})") \
            from exc


async def _hold(ws: ClientConnection, hold: float) -> float | None:
    """Keep the connection `hold` seconds, answering pings; the second it dropped, or None."""
    started = time.monotonic()
    try:
        async with asyncio.timeout(hold):
            while True:
                message = await ws.recv()
                if message == CLOSE:
                    return time.monotonic() - started
                if message == PING:
                    await ws.send(PONG)
    except TimeoutError:
        return None  # held for the whole duration
    except ConnectionClosed:
        return time.monotonic() - started


def _network(exc: Exception, step: str) -> Finding:
    cause = network_cause(exc) or "handshake_failed"
    return Finding(cause, f"{step}: {str(exc) or type(exc).__name__}")


def _held(hold: float) -> str:
    return f"; held {hold:g}s" if hold else ""
