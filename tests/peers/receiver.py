"""A real HTTP receiver on loopback that records what it is sent (webhook, Slack, Telegram).

Runs in a thread of the test process so tests can read the bodies directly. Modes:
`ok` accepts (200; Telegram-style paths get `{"ok": true}`), `down` answers 503,
`hang` holds the request until the mode changes or the receiver stops.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Received:
    path: str
    body: Any


class Receiver:
    def __init__(self, port: int) -> None:
        self.port = port
        self.received: list[Received] = []
        self.mode = "ok"
        self.released = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def set_mode(self, mode: str) -> None:
        self.mode = mode
        if mode != "hang":
            self.released.set()
        else:
            self.released.clear()

    def texts(self) -> list[str]:
        return [_text(r.body) for r in self.received]

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if receiver.mode == "hang":
                    receiver.released.wait(30)
                if receiver.mode == "down":
                    return self._send(503, b'{"ok": false}')
                receiver.received.append(Received(self.path, json.loads(body)))
                reply = b'{"ok": true, "result": {}}' if "/sendMessage" in self.path else b"ok"
                return self._send(200, reply)

            def _send(self, code: int, body: bytes) -> None:
                self.send_response(code)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.released.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


def _text(body: Any) -> str:
    if isinstance(body, dict):
        return str(body.get("text", ""))
    return json.dumps(body)
