"""Read dotenv files such as a backend's `.env` (KEY=VALUE, # comments)."""

from __future__ import annotations

import re
from pathlib import Path

_LINE = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$")


def parse_env_text(text: str) -> tuple[dict[str, str], list[tuple[int, str]]]:
    """Variables and (line number, problem) pairs; values are never part of a problem."""
    values: dict[str, str] = {}
    problems: list[tuple[int, str]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        match = _LINE.match(line)
        if match is None:
            problems.append((number, "not KEY=VALUE"))
            continue
        values[match.group(1)] = _unquote(match.group(2))
    return values, problems


def _unquote(raw: str) -> str:
    if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "\"'":
        inner = raw[1:-1]
        return inner.replace("\\n", "\n").replace('\\"', '"') if raw[0] == '"' else inner
    # An unquoted value ends at an inline comment, as in docker compose's env files.
    return re.split(r"\s+#", raw, maxsplit=1)[0]


def read_env_file(path: Path) -> tuple[dict[str, str], list[tuple[int, str]]]:
    return parse_env_text(path.read_text(encoding="utf-8"))
