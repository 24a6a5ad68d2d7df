"""Incremental log-file reading on real files: rotation, truncation, partial and odd lines."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from probes._logread import read_file


class Tail:
    """Reads a file the way a probe does, carrying the saved position between reads."""

    def __init__(self, path: Path, **kw: Any) -> None:
        self.path, self.kw = path, kw
        self.pos: dict[str, Any] | None = None
        self.note = ""

    @classmethod
    def following(cls, path: Path, **kw: Any) -> Tail:
        """A new, empty file, and a tail that has read it once: at its end."""
        path.write_bytes(b"")
        tail = cls(path, **kw)
        tail.read()
        return tail

    def read(self) -> list[str]:
        got = read_file(self.path, self.pos, **self.kw)
        self.pos, self.note = got.position, got.note
        return list(got.lines)


def append(path: Path, data: bytes) -> None:
    with path.open("ab") as f:
        f.write(data)


def test_the_first_read_starts_at_the_end_and_each_line_is_read_once(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_bytes(b"old line\n")
    tail = Tail(log)
    assert tail.read() == []
    append(log, b"one\ntwo\n")
    assert tail.read() == ["one", "two"]
    assert tail.read() == []


def test_from_start_reads_what_is_already_there(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_bytes(b"a\nb\n")
    assert Tail(log, from_start=True).read() == ["a", "b"]


def test_a_partial_last_line_waits_for_its_newline(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    tail = Tail.following(log)
    append(log, b"complete\nhalf a li")
    assert tail.read() == ["complete"]
    append(log, b"ne\n")
    assert tail.read() == ["half a line"]


def test_rotation_reads_the_rest_of_the_old_file_then_the_new_one(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    tail = Tail.following(log)
    append(log, b"before\n")
    assert tail.read() == ["before"]
    append(log, b"written after our read, before rotation\n")
    log.rename(tmp_path / "access.log.1")
    log.write_bytes(b"in the new file\n")
    assert tail.read() == ["written after our read, before rotation", "in the new file"]
    assert tail.note == "rotated"
    assert tail.read() == []


def test_a_rotated_file_that_moved_away_is_not_fatal(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_bytes(b"x\n")
    tail = Tail(log, from_start=True)
    assert tail.read() == ["x"]
    log.rename(tmp_path.parent / f"{tmp_path.name}-elsewhere.log")
    log.write_bytes(b"fresh\n")
    assert tail.read() == ["fresh"]


def test_copytruncate_is_read_from_the_start(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    tail = Tail.following(log)
    append(log, b"first generation line\n" * 3)
    assert len(tail.read()) == 3
    with log.open("r+b") as f:
        f.truncate(0)
    append(log, b"new\n")
    assert tail.read() == ["new"]
    assert tail.note == "truncated"


def test_a_truncated_file_that_regrew_past_the_offset_is_read_from_the_start(
        tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    tail = Tail.following(log)
    append(log, b"aaaa\n")
    tail.read()
    log.write_bytes(b"bbbbbbbbbbbbbbbbbbbb\n")  # same inode, other first bytes, longer
    assert os.stat(log).st_size > 5
    assert tail.read() == ["bbbbbbbbbbbbbbbbbbbb"]


def test_invalid_utf8_is_replaced_not_fatal(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    tail = Tail.following(log)
    append(log, b"bad \xff\xfe bytes \xc3\n\xf0\x9f\x94\x8c User connected\n")
    assert tail.read() == ["bad \ufffd\ufffd bytes \ufffd", "🔌 User connected"]


def test_a_very_long_line_is_cut_and_the_next_line_is_intact(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    tail = Tail.following(log, max_line=100)
    append(log, b"A" * 1000)  # no newline yet, already longer than max_line
    assert tail.read() == ["A" * 100]
    append(log, b"B" * 1000 + b"\nnext\n")
    assert tail.read() == ["next"]
    assert tail.read() == []


def test_reading_is_bounded_per_call_and_resumes(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    tail = Tail.following(log, max_read=64)
    append(log, b"".join(b"line %02d\n" % i for i in range(20)))
    seen: list[str] = []
    for _ in range(10):
        seen += tail.read()
    assert seen == [f"line {i:02d}" for i in range(20)]
