"""A minimal keep-alive HTTP/1.1 load generator on raw asyncio streams (loopback only).

It drives blackbox_exporter's /probe at its best rate: a handful of persistent
connections, each sending the next request as soon as the previous answer is read.
Bounded by a request count and a deadline.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Iterator
from dataclasses import dataclass


@dataclass
class Tally:
    done: int = 0
    ok: int = 0
    errors: int = 0


async def _read_body(reader: asyncio.StreamReader, head: bytes) -> bytes:
    lower = head.lower()
    if b"transfer-encoding: chunked" in lower:
        chunks = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).strip(), 16)
            chunks.append(await reader.readexactly(size + 2))
            if size == 0:
                return b"".join(chunks)
    length = 0
    for line in lower.split(b"\r\n"):
        if line.startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    return await reader.readexactly(length)


async def _connection(port: int, paths: Iterator[str], tally: Tally, stop_at: float,
                      limit: int, ok_marker: bytes) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while time.monotonic() < stop_at and tally.done < limit:
            writer.write(f"GET {next(paths)} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
            head = await reader.readuntil(b"\r\n\r\n")
            body = await _read_body(reader, head)
            tally.done += 1
            tally.ok += ok_marker in body
    except (OSError, asyncio.IncompleteReadError, ValueError):
        tally.errors += 1
    finally:
        writer.close()


async def drive(port: int, paths: list[str], *, connections: int, seconds: float,
                limit: int, ok_marker: bytes) -> Tally:
    """Send GETs over `connections` keep-alive connections for `seconds` (at most `limit`)."""
    tally = Tally()
    cycle = itertools.cycle(paths)
    stop_at = time.monotonic() + seconds
    await asyncio.gather(*(_connection(port, cycle, tally, stop_at, limit, ok_marker)
                           for _ in range(connections)))
    return tally
