"""A real HTTP or HTTPS server for the network-probe tests, as its own process.

    python net_http_peer.py PORT API_KEY [CERT_PEM KEY_PEM]

Everything http_peer.py serves, plus:
  /api/v1/healthcheck      SHKeeper's health check: 401 unless X-Shkeeper-Api-Key is API_KEY;
                           then per the mode (POST /_control?mode=M): ok ({"status":
                           "success"}), 503, 500, hang, slow, malformed (200, not JSON),
                           forbidden (403), denied (JSON {"status": "error"})
  /redirect/<n>            302 to /redirect/<n-1>; /redirect/0 answers 200
  /redirect-away?to=URL    302 to URL
  /flaky/<key>             the first request per key: the connection is dropped without an
                           answer (a stale keep-alive connection); later ones: 200
  /requests                how many requests each path got, as JSON
  /set-cookie              200 with a session cookie (Set-Cookie: session=s3cr3t)
With CERT_PEM and KEY_PEM the server speaks TLS only.
"""

from __future__ import annotations

import json
import sys
import threading
from collections import Counter
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlsplit

if TYPE_CHECKING:  # run as a script, next to http_peer.py
    from tests.peers.http_peer import FOREVER, STATE, Handler, serve
else:
    from http_peer import FOREVER, STATE, Handler, serve

API_KEY = sys.argv[2] if len(sys.argv) > 2 else ""
SEEN: Counter[str] = Counter()
LOCK = threading.Lock()


class NetHandler(Handler):
    def do_GET(self) -> None:
        url = urlsplit(self.path)
        parts = url.path.strip("/").split("/")
        with LOCK:
            SEEN[url.path] += 1
            seen = SEEN[url.path]
        if url.path == "/api/v1/healthcheck":
            return self._shkeeper()
        if parts[0] == "redirect" and len(parts) == 2:
            return self._redirect(int(parts[1]))
        if parts[0] == "redirect-away":
            return self._location(dict(parse_qsl(url.query))["to"])
        if parts[0] == "flaky":
            return self._flaky(seen)
        if parts[0] == "set-cookie":
            return self._set_cookie()
        if parts[0] == "requests":
            return self._send(200, json.dumps(dict(SEEN)).encode())
        return super().do_GET()

    def _location(self, where: str) -> None:
        self.send_response(302)
        self.send_header("Location", where)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _set_cookie(self) -> None:
        self.send_response(200)
        self.send_header("Set-Cookie", "session=s3cr3t; Path=/")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _redirect(self, hops: int) -> None:
        if hops == 0:
            return self._send(200, b'{"status": "ok"}')
        return self._location(f"/redirect/{hops - 1}")

    def _flaky(self, seen: int) -> None:
        if seen == 1:
            self.close_connection = True  # no status line at all: the client sees a drop
            return
        self._send(200, b'{"status": "ok"}')

    def _shkeeper(self) -> None:
        if self.headers.get("X-Shkeeper-Api-Key") != API_KEY:
            return self._send(401, b'{"status": "error", "message": "Unauthorized"}')
        mode = STATE["mode"]
        replies = {"ok": (200, b'{"status": "success"}'), "forbidden": (403, b"{}"),
                   "malformed": (200, b"<html>maintenance</html>"),
                   "denied": (200, b'{"status": "error"}')}
        if mode == "hang":
            FOREVER.wait()
        elif mode in replies:
            self._send(*replies[mode])
        else:
            self._send(int(mode), b'{"status": "error"}')


def main() -> None:
    serve(NetHandler, int(sys.argv[1]), (sys.argv[3], sys.argv[4]) if len(sys.argv) > 4 else None)


if __name__ == "__main__":
    main()
