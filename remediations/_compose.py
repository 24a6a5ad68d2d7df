"""Rewrite one service's `image:` in a compose file, keeping comments and layout.

A line-level edit, not a YAML round trip (which would drop comments and reorder keys):
find `services:` at the top level, the service's key one level below, and its `image:`
key one level below that; replace the value only (quotes and a trailing comment kept).
The result is parsed again to prove the service now names the new image.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from watchdog.common.atomicfile import replace_keeping

_KEY = re.compile(r"^(?P<indent>\s*)(?P<q>[\"']?)(?P<key>[^\"':#]+)(?P=q)\s*:(?P<rest>.*)$")
_VALUE = re.compile(r"^(?P<lead>\s*)(?P<q>[\"']?)(?P<value>[^\"'#\s]+)(?P=q)"
                    r"(?P<tail>\s*(?:#.*)?)$")


class ComposeEditError(ValueError):
    """The compose file does not have the expected shape; the message says what is missing."""


def _content(line: str) -> bool:
    stripped = line.strip()
    return bool(stripped) and not stripped.startswith("#")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _child(lines: list[str], start: int, end: int, key: str) -> int | None:
    """Index of `key:` among the direct children of the block lines[start:end]."""
    level = None
    for i in range(start, end):
        if not _content(lines[i]):
            continue
        level = _indent(lines[i]) if level is None else level
        match = _KEY.match(lines[i])
        if _indent(lines[i]) == level and match and match["key"].strip() == key:
            return i
    return None


def _block_end(lines: list[str], head: int) -> int:
    """One past the last line of the block that starts at lines[head]."""
    for i in range(head + 1, len(lines)):
        if _content(lines[i]) and _indent(lines[i]) <= _indent(lines[head]):
            return i
    return len(lines)


def image_line(lines: list[str], service: str) -> int:
    services = _child(lines, 0, len(lines), "services")
    if services is None:
        raise ComposeEditError("no top-level `services:`")
    entry = _child(lines, services + 1, _block_end(lines, services), service)
    if entry is None:
        raise ComposeEditError(f"no service `{service}` under `services:`")
    image = _child(lines, entry + 1, _block_end(lines, entry), "image")
    if image is None:
        raise ComposeEditError(f"service `{service}` has no `image:` line")
    return image


def with_image(text: str, service: str, image: str) -> tuple[str, str]:
    """(new text, the image it named before) with `service`'s image set to `image`."""
    lines = text.splitlines(keepends=True)
    i = image_line(lines, service)
    key = _KEY.match(lines[i])
    value = _VALUE.match(key["rest"].rstrip("\r\n")) if key else None
    if key is None or value is None:
        raise ComposeEditError(f"service `{service}`: `image:` is not a plain value")
    ending = lines[i][len(lines[i].rstrip("\r\n")):]
    head = lines[i][:len(lines[i].rstrip("\r\n")) - len(key["rest"].rstrip("\r\n"))]
    lines[i] = f"{head}{value['lead']}{value['q']}{image}{value['q']}{value['tail']}{ending}"
    new = "".join(lines)
    _check(new, service, image)
    return new, value["value"]


def _check(text: str, service: str, image: str) -> None:
    parsed = yaml.safe_load(text)
    found = ((parsed or {}).get("services") or {}).get(service, {}).get("image")
    if found != image:
        raise ComposeEditError(f"after the edit, service `{service}` names {found!r}")


def rewrite(path: Path, service: str, image: str, backup: Path) -> str:
    """Point `service` at `image` in the file at `path` (atomically; a copy kept at `backup`).
    Returns the image it named before. A rewrite that cannot complete (read-only
    directory, full disk) raises OSError and leaves `path` as it was, with no temporary
    file beside it."""
    new, old = with_image(path.read_text(encoding="utf-8"), service, image)
    replace_keeping(path, new, backup)
    return old
