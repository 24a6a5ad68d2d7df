"""A stand-in for a hung Docker engine (no real engine can be made to hang on demand):
a unix socket that accepts every connection and never answers."""

from __future__ import annotations

import contextlib
import socket
import threading
from pathlib import Path


class HangingSocket:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.url = f"unix://{path}"
        self.accepted = 0
        self._server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._held: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def start(self) -> HangingSocket:
        self._server.bind(str(self.path))
        self._server.listen(64)
        self._server.settimeout(0.05)
        self._thread.start()
        return self

    def _serve(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                conn, _ = self._server.accept()
                self._held.append(conn)  # read nothing, answer nothing
                self.accepted += 1

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        for conn in self._held:
            conn.close()
        self._server.close()
