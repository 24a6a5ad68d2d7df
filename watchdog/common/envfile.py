"""Read and edit dotenv files such as a backend's `.env`: one grammar for both.

The grammar is docker compose's `env_file` as a backend's `.env` uses it:

- blank lines and lines whose first non-blank character is `#` are comments;
- `[export] KEY = VALUE`, KEY `[A-Za-z_][A-Za-z0-9_]*`, blanks around `=` allowed;
- `"..."`: backslash escapes `\\"`, `\\\\`, `\\n`, `\\r`, `\\t` (any other backslash is kept);
- `'...'`: literal;
- unquoted: up to an inline comment (a `#` after a blank), surrounding blanks dropped.

After a closing quote only blanks and a comment may follow. A line that breaks the
grammar (unterminated quote, text after the quote, no `=`) is a problem with its line
number, never a value; values are taken literally (no `${VAR}` interpolation).

The editor (`set_values`) rewrites only the value of the keys it changes, in the quoting
the line had (a bare value that needs quotes gets double quotes); every other byte of the
file, comments, order, blank lines and line endings included, stays as it was.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from watchdog.common.atomicfile import replace_keeping

_HEAD = re.compile(r"^[ \t]*(?:export[ \t]+)?([A-Za-z_][A-Za-z0-9_]*)[ \t]*=")
_COMMENT = re.compile(r"[ \t]#")
_ESCAPES = {'"': '"', "\\": "\\", "n": "\n", "r": "\r", "t": "\t"}
_ENCODE = {v: f"\\{k}" for k, v in _ESCAPES.items()}
_BLANK = " \t"


class EnvFileError(ValueError):
    """The editor was asked to change a key on a line it cannot parse; the message says
    which line and why (never the value)."""


@dataclass(frozen=True)
class Assignment:
    """One `KEY=VALUE` line: the decoded value and where its raw text lies in the line."""

    key: str
    value: str
    start: int  # the raw value is line[start:end] (quotes included)
    end: int
    quote: str  # '"', "'" or "" (bare)


def _lines(text: str) -> list[str]:
    """Lines with their endings; only "\\n" ends a line (as docker compose reads it)."""
    return re.findall(r"[^\n]*\n|[^\n]+", text)


def _body(line: str) -> str:
    return line[:-2] if line.endswith("\r\n") else line.rstrip("\n")


def parse_line(line: str) -> Assignment | str | None:
    """An assignment, a problem (str), or None for a blank or comment line."""
    body = _body(line)
    if not body.strip(_BLANK) or body.lstrip(_BLANK).startswith("#"):
        return None
    head = _HEAD.match(body)
    if head is None:
        return "not KEY=VALUE"
    start = len(body) - len(body[head.end():].lstrip(_BLANK))
    if body[start:start + 1] in ('"', "'"):
        return _quoted(head.group(1), body, start)
    return _bare(head.group(1), body, head.end())


def _quoted(key: str, body: str, start: int) -> Assignment | str:
    quote, chars, i = body[start], [], start + 1
    while i < len(body) and body[i] != quote:
        if quote == '"' and body[i] == "\\" and i + 1 < len(body):
            chars.append(_ESCAPES.get(body[i + 1], body[i:i + 2]))
            i += 2
            continue
        chars.append(body[i])
        i += 1
    if i >= len(body):
        return "unterminated quote"
    rest = body[i + 1:].lstrip(_BLANK)
    if rest and not rest.startswith("#"):
        return "text after the closing quote"
    return Assignment(key, "".join(chars), start, i + 1, quote)


def _bare(key: str, body: str, after_equals: int) -> Assignment:
    raw = body[after_equals:]
    comment = _COMMENT.search(raw)
    raw = raw[:comment.start()] if comment else raw
    value = raw.strip(_BLANK)
    start = after_equals + len(raw) - len(raw.lstrip(_BLANK))
    return Assignment(key, value, start, start + len(value), "")


def parse_env_text(text: str) -> tuple[dict[str, str], list[tuple[int, str]]]:
    """Variables (the last assignment of a key wins) and (line number, problem) pairs;
    values are never part of a problem."""
    values: dict[str, str] = {}
    problems: list[tuple[int, str]] = []
    for number, line in enumerate(_lines(text), start=1):
        parsed = parse_line(line)
        if isinstance(parsed, Assignment):
            values[parsed.key] = parsed.value
        elif parsed is not None:
            problems.append((number, parsed))
    return values, problems


def read_env_file(path: Path) -> tuple[dict[str, str], list[tuple[int, str]]]:
    return parse_env_text(path.read_text(encoding="utf-8"))


def encode(value: str, quote: str) -> str:
    """`value` written so that `parse_line` reads it back, in `quote`'s style if it can."""
    if quote == "'" and "'" not in value and not set(value) & set("\r\n"):
        return f"'{value}'"
    if quote == "" and _bare_safe(value):
        return value
    return '"' + "".join(_ENCODE.get(c, c) for c in value) + '"'


def _bare_safe(value: str) -> bool:
    return (value == value.strip(_BLANK) and not set(value) & set("\r\n\"'")
            and not _COMMENT.search(value))


def set_values(text: str, changes: Mapping[str, str]) -> str:
    """`text` with each key of `changes` set: edited where it stands (every assignment of
    it), appended if absent. EnvFileError if a line assigning one of them cannot be parsed."""
    lines, pending = _lines(text), dict(changes)
    for number, line in enumerate(lines, start=1):
        parsed = parse_line(line)
        head = _HEAD.match(line)
        if isinstance(parsed, str) and head and head.group(1) in changes:
            raise EnvFileError(f"line {number} assigns {head.group(1)} but cannot be "
                               f"edited safely: {parsed}")
        if isinstance(parsed, Assignment) and parsed.key in changes:
            new = encode(changes[parsed.key], parsed.quote)
            lines[number - 1] = line[:parsed.start] + new + line[parsed.end:]
            pending.pop(parsed.key, None)
    return "".join(lines) + _appended(lines, pending)


def _appended(lines: list[str], pending: Mapping[str, str]) -> str:
    if not pending:
        return ""
    ending = "\r\n" if any(line.endswith("\r\n") for line in lines) else "\n"
    lead = ending if lines and not lines[-1].endswith("\n") else ""
    return lead + "".join(f"{k}={encode(v, '')}{ending}" for k, v in pending.items())


def edit_env_file(path: Path, changes: Mapping[str, str], backup: Path) -> None:
    """Set `changes` in the file at `path` atomically, keeping its mode and owner, with the
    previous file copied to `backup`. OSError leaves `path` (and the directory) as it was."""
    new = set_values(path.read_text(encoding="utf-8"), changes)
    replace_keeping(path, new, backup)
