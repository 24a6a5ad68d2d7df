"""Edit a dotenv file in place, keeping comments, order and layout; atomic, with a backup."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from watchdog.common.atomicfile import copy_atomically, replace_atomically

# prefix, key, "=", value (quoted, or up to whitespace/#), the rest (an inline comment)
_ASSIGN = re.compile(r"""^(\s*(?:export\s+)?)([A-Za-z_][A-Za-z0-9_]*)(\s*=\s*)"""
                     r"""("[^"]*"|'[^']*'|[^\s#]*)(.*)$""")


def rewrite_env(text: str, changes: Mapping[str, str]) -> str:
    """`text` with each key in `changes` set: edited where it stands, appended if absent."""
    pending = dict(changes)
    out = []
    for line in text.splitlines():
        match = _ASSIGN.match(line)
        if match and match.group(2) in pending:
            prefix, key, equals, _, rest = match.groups()
            line = f"{prefix}{key}{equals}{pending.pop(key)}{rest}"
        out.append(line)
    out.extend(f"{key}={value}" for key, value in pending.items())
    return "\n".join(out) + "\n"


def current_values(text: str, keys: list[str]) -> dict[str, str | None]:
    found: dict[str, str | None] = dict.fromkeys(keys)
    for line in text.splitlines():
        match = _ASSIGN.match(line)
        if match and match.group(2) in found:
            found[match.group(2)] = match.group(4).strip().strip("'\"")
    return found


def write_atomically(path: Path, text: str, backup: Path) -> None:
    """Copy `path` to `backup`, then replace it by rename: readers see old or new, never half;
    a write that cannot complete leaves `path` as it was (OSError)."""
    copy_atomically(path, backup)
    try:
        replace_atomically(path, text, path.stat().st_mode & 0o777)
    except BaseException:
        backup.unlink(missing_ok=True)  # the directory is left as it was found
        raise
