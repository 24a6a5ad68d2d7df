"""A real HTTP server for the tests, run as its own process: `python http_peer.py PORT`.

Routes:
  /health                  the "service": answers per the current mode (see /_control)
  /status/<code>           that status, JSON body {"status": "..."}
  /slow/<ms>               200 after <ms> milliseconds
  /hang                    accepts the request and never answers
  /text/<word>             200 with the body <word>
  /json?<k>=<v>            200 with those fields as a JSON object
  /headers                 200 with the request headers as JSON
  /garbage                 writes bytes that are not HTTP, then closes
  POST /_control?mode=M    M: ok (200 {"status":"ok"}), 503, 500, hang, slow, badjson,
                           chunked (200, a chunked body whose last chunk never comes)
"""

from __future__ import annotations

import json
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

STATE = {"mode": "ok"}
FOREVER = threading.Event()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        pass

    def _send(self, code: int, body: bytes, ctype: str = "application/json") -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        url = urlsplit(self.path)
        if url.path == "/_control":
            STATE.update(parse_qsl(url.query))
            self._send(200, json.dumps(STATE).encode())
        else:
            self._send(404, b"{}")

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        parts = url.path.strip("/").split("/")
        if parts[0] == "health":
            return self._health()
        if parts[0] == "status":
            return self._send(int(parts[1]), json.dumps({"status": parts[1]}).encode())
        if parts[0] == "slow":
            time.sleep(int(parts[1]) / 1000)
            return self._send(200, b'{"status": "ok"}')
        if parts[0] == "hang":
            FOREVER.wait()
            return None
        if parts[0] == "text":
            return self._send(200, parts[1].encode(), "text/plain")
        if parts[0] == "json":
            return self._send(200, json.dumps(dict(parse_qsl(url.query))).encode())
        if parts[0] == "headers":
            return self._send(200, json.dumps(dict(self.headers.items())).encode())
        if parts[0] == "garbage":
            self.wfile.write(b"\x00\x01 this is not http\r\n\r\n")
            self.close_connection = True
            return None
        return self._send(404, b"{}")

    def _health(self) -> None:
        mode = STATE["mode"]
        if mode == "ok":
            self._send(200, b'{"status": "ok"}')
        elif mode == "hang":
            FOREVER.wait()
        elif mode == "slow":
            time.sleep(float(STATE.get("delay", "1")))
            self._send(200, b'{"status": "ok"}')
        elif mode == "chunked":
            self._unfinished_chunked_body()
        elif mode == "badjson":
            self._send(200, b'{"status": "degraded"}')
        else:
            self._send(int(mode), b'{"status": "error"}')

    def _unfinished_chunked_body(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.wfile.write(b"5\r\n{\"sta\r\n")
        self.wfile.flush()
        FOREVER.wait()


def serve(handler: type[BaseHTTPRequestHandler], port: int,
          tls: tuple[str, str] | None = None) -> None:
    """Serve `handler` on 127.0.0.1:`port` (over TLS with `tls`: certificate and key
    files) until killed; the peers' shared main loop."""
    server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    server.daemon_threads = True
    if tls is not None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(*tls)
        server.socket = context.wrap_socket(server.socket, server_side=True)
    print("ready", flush=True)
    server.serve_forever()


def main() -> None:
    serve(Handler, int(sys.argv[1]))


if __name__ == "__main__":
    main()
