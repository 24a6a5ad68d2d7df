"""The read-only HTTP listener: /metrics, /healthz, /api/status, and the status page at /.

It runs in its own threads so that rendering a large exposition never blocks the event
loop; /api/status asks the loop for a snapshot (and answers 503 if the loop is stalled),
/healthz only reads the loop's heartbeat.
"""

from __future__ import annotations

import asyncio
import errno
import json
import logging
import socket
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry

from watchdog.common.errors import WatchdogError
from watchdog.runtime.metrics import Exposition
from watchdog.runtime.reportapi import ReportEndpoint
from watchdog.runtime.statusview import render_html
from watchdog.runtime.webconfig import WebConfig

log = logging.getLogger(__name__)


class StatusSource:
    """What the listener needs from the daemon; every method is safe to call off-loop."""

    def __init__(self, registry: CollectorRegistry, loop: asyncio.AbstractEventLoop,
                 status: Callable[[], dict[str, Any]], healthy: Callable[[], tuple[bool, str]]
                 ) -> None:
        self.registry = registry
        self.exposition = Exposition(registry)
        self.loop = loop
        self.status = status
        self.healthy = healthy
        self.reports: ReportEndpoint | None = None  # POST /api/reports (reportapi.py)

    def status_json(self, timeout: float = 5.0) -> dict[str, Any]:
        async def snapshot() -> dict[str, Any]:
            return self.status()

        return asyncio.run_coroutine_threadsafe(snapshot(), self.loop).result(timeout)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    timeout = 10  # a slow client cannot hold a thread for long

    def setup(self) -> None:
        tls = self.server.web.tls if self.server.web is not None else None
        if tls is not None:  # the handshake in this connection's thread, under its timeout
            self.request.settimeout(self.timeout)
            self.request = tls.wrap_socket(self.request, server_side=True)
        super().setup()

    def do_GET(self) -> None:
        route = self.path.split("?", 1)[0]
        handler = {"/metrics": self._metrics, "/healthz": self._healthz,
                   "/api/status": self._status, "/": self._page}.get(route)
        if handler is None:
            self._send(404, b"not found\n", "text/plain; charset=utf-8")
            return
        if route != "/healthz" and not self._authorized():
            return
        handler()

    def _authorized(self) -> bool:
        """watchdog.web_config_file's basic_auth_users, when it has any."""
        auth = self.server.web.auth if self.server.web is not None else None
        if auth is None or auth.allows(self.headers.get("Authorization")):
            return True
        self.send_response(401)
        self.send_header("WWW-Authenticate", 'Basic realm="runbook-watchdog"')
        self.send_header("Content-Length", "13")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(b"Unauthorized\n")
        return False

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_POST(self) -> None:
        endpoint = self.server.source.reports
        if self.path.split("?", 1)[0] != "/api/reports" or endpoint is None:
            self.send_error(501, "Unsupported method ('POST')")  # everything else is read-only
            return
        reply = endpoint.handle(self.headers, self.rfile)
        self._send(reply.code, reply.payload(), "application/json", reply.headers)

    def _metrics(self) -> None:
        self._send(200, self.server.source.exposition.render(), CONTENT_TYPE_LATEST)

    def _healthz(self) -> None:
        ok, why = self.server.source.healthy()
        self._send(200 if ok else 503, (why + "\n").encode(), "text/plain; charset=utf-8")

    def _status(self) -> None:
        try:
            body = json.dumps(self.server.source.status_json(), default=str).encode()
        except Exception as exc:  # the loop is stalled or shutting down
            self._send(503, f"status unavailable: {type(exc).__name__}\n".encode(),
                       "text/plain; charset=utf-8")
            return
        self._send(200, body, "application/json")

    def _page(self) -> None:
        try:
            page = render_html(self.server.source.status_json())
        except Exception as exc:  # the loop is stalled or shutting down
            self._send(503, f"status unavailable: {type(exc).__name__}\n".encode(),
                       "text/plain; charset=utf-8")
            return
        self._send(200, page.encode(), "text/html; charset=utf-8")

    def _send(self, code: int, body: bytes, ctype: str,
              headers: dict[str, str] | None = None) -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        # Read-only and self-contained: nothing may be loaded from anywhere, nothing run.
        self.send_header("Content-Security-Policy",
                         "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("http: " + format, *args)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    source: StatusSource
    web: WebConfig | None = None  # replaced on reload; read once per connection

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A failed TLS handshake (a plain-HTTP client, a wrong certificate) or a client that
        # went away: the client's problem, not a traceback on stderr.
        log.debug("http: connection from %s failed", client_address, exc_info=True)


class _Server6(_Server):
    address_family = socket.AF_INET6


class ListenError(WatchdogError):
    """The listener's address cannot be bound (in use, not on this host, privileged)."""


class HttpListener:
    def __init__(self, host: str, port: int, source: StatusSource,
                 web: WebConfig | None = None) -> None:
        server = _Server6 if ":" in host else _Server  # an IPv6 literal, e.g. [::]:9877
        try:
            self._server = server((host, port), _Handler)
        except OSError as exc:
            raise ListenError(_cannot_listen(host, port, exc)) from exc
        self._server.source = source
        self._server.web = web
        self._thread = threading.Thread(target=self._server.serve_forever, name="http",
                                        kwargs={"poll_interval": 0.2}, daemon=True)

    def set_web(self, web: WebConfig | None) -> None:
        """A reloaded web config (a renewed certificate, other users): new connections."""
        self._server.web = web

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def _cannot_listen(host: str, port: int, exc: OSError) -> str:
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    if exc.errno != errno.EADDRINUSE:
        return f"cannot listen on {address} (watchdog.listen): {exc.strerror or exc}"
    return (f"cannot listen on {address} (watchdog.listen): the address is already in use "
            f"by {_holder(host, port)}; stop it or change watchdog.listen")


def _holder(host: str, port: int) -> str:
    """Who holds the address, if cheaply known: another watchdog answers /api/status."""
    target = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)  # noqa: S104
    target = f"[{target}]" if ":" in target else target
    try:
        response = httpx.get(f"http://{target}:{port}/api/status", timeout=1.0,
                             trust_env=False)
        if response.status_code == 200 and "probes" in response.json():
            return "another runbook-watchdog (`runbook-watchdog status` shows it)"
    except (httpx.HTTPError, ValueError):
        pass
    return "another process"
