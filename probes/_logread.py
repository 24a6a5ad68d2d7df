"""Incremental log reading for the logs, reconnect_rate and access_log probes.

Each read returns only the lines written since the last one, from a position the caller
persists in the state store (so nothing is counted twice across cycles or restarts):

- files: device, inode, byte offset and a fingerprint of the first bytes. A new inode is
  a rotation (the rest of the old file is read from its rotated name when it is next to
  the log, then the new file from the start); a file shorter than the offset, or with
  other first bytes, was truncated (copytruncate) and is read from the start.
- containers: the engine's log timestamps; lines at the last timestamp already seen are
  skipped by count (Podman's timestamps have whole seconds, and `since` is inclusive).

Only complete lines are returned (a partial last line waits for its newline). Lines are
decoded as UTF-8 with replacement characters; a line longer than `max_line` bytes is cut
there and the rest of it skipped.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from watchdog.peers.docker import DockerAccess, inspect_container, timestamp_ns
from watchdog.pipeline.probe import ProbeContext

if TYPE_CHECKING:
    from watchdog.peers.docker import Client

MAX_LINE = 16 * 1024
MAX_READ = 8 * 1024 * 1024  # per cycle; the rest is read next cycle
HEAD = 64


@dataclass(frozen=True)
class FilePosition:
    dev: int
    ino: int
    offset: int
    head: str  # sha256 of the first `head_len` bytes
    head_len: int
    skipping: bool = False  # inside an over-long line: drop bytes until its newline

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> FilePosition | None:
        return cls(**data) if data else None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Lines:
    """New lines, and the position to save once they are processed."""

    lines: tuple[str, ...]
    position: dict[str, Any]
    note: str = ""  # "rotated", "truncated" or "" (for details)


def read_file(path: Path, saved: dict[str, Any] | None, *, from_start: bool = False,
              max_line: int = MAX_LINE, max_read: int = MAX_READ) -> Lines:
    """New complete lines of `path` since `saved` (raises FileNotFoundError)."""
    pos = FilePosition.from_json(saved)
    with path.open("rb") as f:
        st = os.fstat(f.fileno())
        if pos is None:
            start = _fresh(f, st, 0 if from_start else st.st_size)
            if not from_start:
                return Lines((), start.to_json())
            return _continue(f, start, (), "", max_line, max_read)
        if (st.st_dev, st.st_ino) != (pos.dev, pos.ino):
            old = _rotated_rest(path, pos, max_line, max_read)
            return _continue(f, _fresh(f, st, 0), old, "rotated", max_line, max_read)
        if st.st_size < pos.offset or _head(f, pos.head_len) != pos.head:
            return _continue(f, _fresh(f, st, 0), (), "truncated", max_line, max_read)
        return _continue(f, pos, (), "", max_line, max_read)


def _continue(f: Any, pos: FilePosition, before: tuple[str, ...], note: str,
              max_line: int, max_read: int) -> Lines:
    lines, offset, skipping = _read_lines(f, pos.offset, pos.skipping, max_line, max_read)
    head_len = min(HEAD, max(offset, pos.head_len))
    new = replace(pos, offset=offset, skipping=skipping, head_len=head_len,
                  head=_head(f, head_len))
    return Lines(before + lines, new.to_json(), note)


def _fresh(f: Any, st: os.stat_result, offset: int) -> FilePosition:
    head_len = min(HEAD, st.st_size)
    return FilePosition(st.st_dev, st.st_ino, offset, _head(f, head_len), head_len)


def _head(f: Any, length: int) -> str:
    f.seek(0)
    return hashlib.sha256(f.read(length)).hexdigest()


def _read_lines(f: Any, offset: int, skipping: bool, max_line: int, max_read: int,
                final: bool = False) -> tuple[tuple[str, ...], int, bool]:
    """Complete lines from `offset`: (lines, new offset, still skipping a long line)."""
    f.seek(offset)
    data = f.read(max_read)
    lines, used = [], 0
    while (newline := data.find(b"\n", used)) != -1:
        if not skipping:
            lines.append(_decode(data[used:newline], max_line))
        skipping, used = False, newline + 1
    rest = data[used:]
    if len(rest) >= max_line or (final and rest):
        if not skipping:
            lines.append(_decode(rest, max_line))
        skipping, used = True, len(data)
    return tuple(lines), offset + used, skipping


def _decode(raw: bytes, max_line: int) -> str:
    return raw[:max_line].rstrip(b"\r").decode("utf-8", errors="replace")


def _rotated_rest(path: Path, pos: FilePosition, max_line: int,
                  max_read: int) -> tuple[str, ...]:
    """The unread tail of the rotated file (same inode, a sibling such as access.log.1)."""
    for sibling in sorted(path.parent.glob(f"{path.name}*")):
        try:
            st = sibling.stat()
        except OSError:
            continue
        if (st.st_dev, st.st_ino) == (pos.dev, pos.ino) and st.st_size >= pos.offset:
            with sibling.open("rb") as f:
                return _read_lines(f, pos.offset, pos.skipping, max_line, max_read,
                                   final=True)[0]
    return ()


# -- container logs -------------------------------------------------------------------------
@dataclass(frozen=True)
class StreamPosition:
    container_id: str
    ts_ns: int  # timestamp of the last line processed
    seen_at_ts: int  # lines already processed with exactly that timestamp


def read_container(client: Client, name: str, saved: dict[str, Any] | None,
                   now: float, lookback: float,
                   max_line: int = MAX_LINE) -> Lines | None:
    """Runs in the executor: new log lines of `name` (None when there is no such container).

    On first sight the last `lookback` seconds are read; a recreated container (new ID)
    is read from the last timestamp seen of the old one.
    """
    attrs = inspect_container(client, name)
    if attrs is None:
        return None
    pos = StreamPosition(**saved) if saved else None
    same = pos is not None and pos.container_id == attrs["Id"]
    since = pos.ts_ns // 1_000_000_000 if pos is not None else int(now - lookback)
    # The SDK rejects since=0 (InvalidArgument): with no position (a state saved before
    # any line was seen) the whole stream is read instead.
    window: dict[str, int] = {"since": since} if since > 0 else {}
    raw = client.api.logs(attrs["Id"], stdout=True, stderr=True, timestamps=True, **window)
    stamped = _stamped(raw.split(b"\n"), max_line)
    # A first or recreated container starts at the lower bound actually read, so a
    # silent stream still saves a real position (never 0) for the next read.
    start = (pos if same and pos is not None
             else StreamPosition(attrs["Id"], max(since, 0) * 1_000_000_000, 0))
    lines, last = _after(stamped, start)
    return Lines(lines, asdict(last))


def _stamped(raw_lines: Sequence[bytes], max_line: int) -> list[tuple[int, str]]:
    out = []
    for raw in raw_lines:
        stamp, _, text = raw.partition(b" ")
        if not stamp:
            continue
        try:
            ts = timestamp_ns(stamp.decode("ascii"))
        except (ValueError, UnicodeDecodeError):
            continue  # not a line the engine stamped
        out.append((ts, _decode(text, max_line)))
    return out


def _after(stamped: list[tuple[int, str]],
           pos: StreamPosition) -> tuple[tuple[str, ...], StreamPosition]:
    """Lines after `pos`, and the position after them."""
    lines, ts, seen, skip = [], pos.ts_ns, pos.seen_at_ts, pos.seen_at_ts
    for stamp, text in stamped:
        if stamp < pos.ts_ns:
            continue
        if stamp == pos.ts_ns and skip > 0:
            skip -= 1
            continue
        seen = seen + 1 if stamp == ts else 1
        ts = stamp
        lines.append(text)
    return tuple(lines), StreamPosition(pos.container_id, ts, seen)


class LogSource:
    """A container's log stream or a log file, read incrementally through the executor."""

    def __init__(self, ctx: ProbeContext, *, container: str | None, path: Path | None,
                 lookback: float, from_start: bool) -> None:
        self.ctx = ctx
        self.container = container
        self.path = path
        self.lookback = lookback
        self.from_start = from_start
        self.docker = DockerAccess(ctx, reads_only=True) if container is not None else None

    @property
    def label(self) -> str:
        return f"container {self.container}" if self.container else f"file {self.path}"

    async def read(self, saved: dict[str, Any] | None) -> Lines | None:
        """New lines, or None when the container or file does not exist.

        Raises DockerUnavailable when the engine cannot be asked.
        """
        if self.docker is not None:
            return await self.docker.call(read_container, self.container, saved,
                                          self.ctx.clock.time(), self.lookback)
        assert self.path is not None
        try:
            return await self.ctx.run_blocking(self._read_file, saved)
        except FileNotFoundError:
            return None

    def _read_file(self, saved: dict[str, Any] | None) -> Lines:
        assert self.path is not None
        return read_file(self.path, saved, from_start=self.from_start)

    async def aclose(self) -> None:
        if self.docker is not None:
            await self.docker.aclose()
