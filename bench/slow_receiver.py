"""A notification receiver that takes `delay` seconds per message (a slow channel for B2).

Run as `python -m bench.slow_receiver PORT DELAY`; answers 200 after the delay.
"""

from __future__ import annotations

import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Slow(BaseHTTPRequestHandler):
    delay = 30.0

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        time.sleep(self.delay)  # the slow channel under test: bounded by the argument
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        sys.stderr.write("message received\n")


if __name__ == "__main__":
    Slow.delay = float(sys.argv[2])
    server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Slow)
    server.daemon_threads = True
    server.serve_forever()
