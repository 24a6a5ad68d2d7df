"""The Docker Engine API reads that probes make, without the docker SDK.

Probes only read (a container's and an image's inspect document, a container's log lines).
The docker SDK with requests, urllib3 and charset_normalizer adds ~6 MiB to an idle daemon
(bench/analysis-rss.md), so probes speak the Engine API through the standard library's
http.client instead. Actions keep the SDK, imported when one first runs.
The client has the part of the SDK's interface the readers use (`client.api.inspect_container`,
`inspect_image`, `logs`, `close`), so the readers run unchanged on either client. It runs in
the Docker pool like the SDK (watchdog/peers/docker.py), with the same socket timeout.

Paths are unversioned: the engine answers them in its own current API version, which is
the version the SDK client negotiates (`connect` in watchdog/peers/docker.py).
"""

from __future__ import annotations

import http.client
import json
import socket
import struct
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

# A multiplexed log stream (a container without a TTY): frames of an 8-byte header
# (stream, 3 zero bytes, big-endian payload length) and the payload.
_FRAME = struct.Struct(">BxxxL")


class EngineNotFound(Exception):
    """404: no such container or image."""


class EngineError(Exception):
    """The engine answered with an error status; `explanation` is its message."""

    def __init__(self, status: int, explanation: str) -> None:
        self.status = status
        self.explanation = explanation
        super().__init__(f"{status} {explanation}")


def supports(url: str) -> bool:
    """The endpoints this client speaks: a unix socket or plain TCP (as the SDK does with
    a bare base_url); anything else (ssh://, npipe://) stays with the SDK."""
    return url.startswith(("unix://", "tcp://", "http://"))


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(self.timeout)
            sock.connect(self.path)
        except BaseException:
            sock.close()
            raise
        self.sock = sock


class EngineReads:
    """`client.api` of this client: one short connection per request."""

    def __init__(self, url: str, timeout: float) -> None:
        self.url = url
        self.timeout = timeout

    def _connection(self) -> http.client.HTTPConnection:
        if self.url.startswith("unix://"):
            return _UnixConnection(self.url.removeprefix("unix://"), self.timeout)
        parts = urlsplit(self.url)
        return http.client.HTTPConnection(parts.hostname or "localhost", parts.port or 2375,
                                          timeout=self.timeout)

    def _get(self, path: str, params: dict[str, Any] | None = None) -> tuple[bytes, str]:
        conn = self._connection()
        try:
            conn.request("GET", path + (f"?{urlencode(params)}" if params else ""))
            response = conn.getresponse()
            body = response.read()
        finally:
            conn.close()
        if response.status == 404:
            raise EngineNotFound(_message(body))
        if response.status >= 400:
            raise EngineError(response.status, _message(body))
        return body, response.getheader("Content-Type", "")

    def _json(self, path: str) -> dict[str, Any]:
        document: dict[str, Any] = json.loads(self._get(path)[0])
        return document

    def inspect_container(self, name: str) -> dict[str, Any]:
        return self._json(f"/containers/{quote(name, safe='')}/json")

    def inspect_image(self, image: str) -> dict[str, Any]:
        return self._json(f"/images/{quote(image, safe='')}/json")

    def logs(self, container: str, *, stdout: bool = True, stderr: bool = True,
             timestamps: bool = False, since: int | None = None) -> bytes:
        """Like the SDK's `logs(..., stream=False)`: both streams' payloads in order."""
        params: dict[str, Any] = {"stdout": int(stdout), "stderr": int(stderr),
                                  "timestamps": int(timestamps), "tail": "all"}
        if since is not None:
            params["since"] = since
        tty = bool(self.inspect_container(container).get("Config", {}).get("Tty"))
        body, _ = self._get(f"/containers/{quote(container, safe='')}/logs", params)
        return body if tty else demultiplex(body)


def demultiplex(body: bytes) -> bytes:
    """The payloads of a multiplexed stream, concatenated (a truncated last frame as is)."""
    out, at = [], 0
    while at + _FRAME.size <= len(body):
        _, size = _FRAME.unpack_from(body, at)
        at += _FRAME.size
        out.append(body[at:at + size])
        at += size
    return b"".join(out)


def _message(body: bytes) -> str:
    try:
        return str(json.loads(body).get("message", "")) or body.decode(errors="replace")
    except (ValueError, AttributeError):
        return body.decode(errors="replace")[:200]


class EngineReadClient:
    """A read-only client for probes, shaped like the part of docker.DockerClient they use."""

    def __init__(self, url: str, timeout: float) -> None:
        self.api = EngineReads(url, timeout)

    def close(self) -> None:
        return None  # no connection outlives a request
