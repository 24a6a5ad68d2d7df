"""A real socket.io server (python-socketio on aiohttp): the app's chat endpoint in tests.

`SocketioServer(tmp, ping_interval=4).start()` runs this module as its own process on a free
port. It serves `/socket.io/` with Engine.IO v4 (polling and WebSocket), accepts every
client's upgrade and pings each client every `ping_interval` seconds. A ping interval
longer than nginx's `proxy_read_timeout` leaves an upgraded connection silent long enough
for nginx to drop it (the runbook's "disconnects every 60 s").
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from tests.support import Process, free_port, port_open, wait_for


class SocketioServer:
    def __init__(self, tmp: Path, ping_interval: float) -> None:
        self.tmp = tmp
        self.port = free_port()
        self.ping_interval = ping_interval
        self.process: Process | None = None

    def start(self) -> SocketioServer:
        argv = [sys.executable, "-m", "tests.peers.socketio_server", str(self.port),
                str(self.ping_interval)]
        self.process = Process(argv, self.tmp / f"socketio-{self.port}.log").start()
        wait_for(lambda: port_open(self.port), what=f"socket.io server on {self.port}")
        return self

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()


def serve(port: int, ping_interval: float) -> None:
    import socketio
    from aiohttp import web

    server: Any = socketio.AsyncServer(async_mode="aiohttp", ping_interval=ping_interval,
                                       ping_timeout=ping_interval)
    application = web.Application()
    server.attach(application)
    web.run_app(application, host="127.0.0.1", port=port, print=None)


if __name__ == "__main__":
    serve(int(sys.argv[1]), float(sys.argv[2]))
