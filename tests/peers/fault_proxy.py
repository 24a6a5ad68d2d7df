"""A small fault-injecting TCP proxy of the project's own, in a thread of the test process.

    proxy = FaultProxy(upstream_port).start()   # listens on proxy.port
    proxy.set("latency", delay=0.8)             # every chunk waits 0.8 s, both directions
    proxy.set("pass")                           # back to a clean pipe

Modes (they apply to new connections and, where it makes sense, to open ones):
  pass       forward both ways
  latency    hold every chunk `delay` seconds before forwarding it
  reset      every connection, open or new, is reset (RST, SO_LINGER 0)
  blackhole  nothing passes any more, on open or new connections: bytes are read and
             dropped, nothing comes back, no FIN, no RST (a peer frozen, a dead route)
  drip       the upstream's bytes reach the client one byte every `delay` seconds
  half_open  the connections open now lost their upstream leg without the client being
             told (a peer that crashed behind a NAT, a pooled connection that silently
             died): what the client sends on them vanishes; new connections work
  refuse     the listener is closed: new connections are refused; `pass` reopens it

The upstream is a TCP port or, given as a path, a unix socket (a TCP front for the
Docker API socket, so the same faults apply to it).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

MODES = ("pass", "latency", "reset", "blackhole", "drip", "half_open", "refuse")


@dataclass(eq=False)  # hashed by identity: kept in a set
class _Conn:
    client: asyncio.StreamWriter
    upstream: asyncio.StreamWriter | None = None
    dead: bool = False  # half_open: the upstream leg is gone, the client was not told
    tasks: list[asyncio.Task[None]] = field(default_factory=list)


class FaultProxy:
    def __init__(self, upstream: int | str) -> None:
        self.upstream = upstream
        self.mode = "pass"
        self.delay = 0.5
        self.accepted = 0
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self._conns: set[_Conn] = set()

    # -- control (from the test's thread) -----------------------------------------------
    def start(self) -> FaultProxy:
        self._thread.start()
        self._call(self._listen())
        return self

    def set(self, mode: str, delay: float | None = None) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown proxy mode {mode!r}")
        self._call(self._set(mode, delay))

    def stop(self) -> None:
        self._call(self._close_all())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()

    def _call(self, coro: Coroutine[Any, Any, object]) -> None:
        asyncio.run_coroutine_threadsafe(coro, self._loop).result(10)

    # -- the proxy (on its own loop) ------------------------------------------------------
    async def _listen(self) -> None:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        self.port = sock.getsockname()[1]
        self._server = await asyncio.start_server(self._accept, sock=sock)

    async def _set(self, mode: str, delay: float | None) -> None:
        self.mode = mode
        if delay is not None:
            self.delay = delay
        if mode == "refuse" and self._server is not None:
            self._server.close()
            self._server = None
            self._abort_all()
        elif mode != "refuse" and self._server is None:
            await self._listen()
        if mode == "reset":
            self._abort_all()
        elif mode == "half_open":
            for conn in list(self._conns):
                conn.dead = True
                if conn.upstream is not None:
                    _close(conn.upstream)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        conn = _Conn(writer)
        self._conns.add(conn)
        try:
            await self._serve(conn, reader)
        finally:
            self._conns.discard(conn)
            _close(conn.client)
            if conn.upstream is not None:
                _close(conn.upstream)

    async def _serve(self, conn: _Conn, reader: asyncio.StreamReader) -> None:
        if self.mode == "reset":
            return _abort(conn.client)
        if self.mode == "blackhole":
            return await _swallow(reader)
        try:
            up_reader, conn.upstream = await self._connect()
        except OSError:
            return _abort(conn.client)
        conn.tasks = [asyncio.create_task(self._pump(conn, reader, conn.upstream, upward=True)),
                      asyncio.create_task(self._pump(conn, up_reader, conn.client,
                                                     upward=False))]
        await asyncio.gather(*conn.tasks, return_exceptions=True)

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if isinstance(self.upstream, str):
            return await asyncio.open_unix_connection(self.upstream)
        return await asyncio.open_connection("127.0.0.1", self.upstream)

    async def _pump(self, conn: _Conn, src: asyncio.StreamReader, dst: asyncio.StreamWriter,
                    upward: bool) -> None:
        while data := await src.read(65536):
            if conn.dead or self.mode == "blackhole":
                continue  # the other side is gone or frozen; the sender is not told
            if self.mode == "latency":
                await asyncio.sleep(self.delay)
            if self.mode == "drip" and not upward:
                for i in range(len(data)):
                    dst.write(data[i:i + 1])
                    await dst.drain()
                    await asyncio.sleep(self.delay)
                continue
            dst.write(data)
            await dst.drain()
        if upward and not conn.dead:
            with contextlib.suppress(OSError):
                dst.write_eof()

    def _abort_all(self) -> None:
        for conn in list(self._conns):
            for task in conn.tasks:
                task.cancel()
            _abort(conn.client)
            if conn.upstream is not None:
                _close(conn.upstream)

    async def _close_all(self) -> None:
        if self._server is not None:
            self._server.close()
        self._abort_all()
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def _swallow(reader: asyncio.StreamReader) -> None:
    with contextlib.suppress(OSError):
        while await reader.read(65536):
            pass


def _abort(writer: asyncio.StreamWriter) -> None:
    """Close with RST instead of FIN."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


def _close(writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(Exception):
        writer.close()
