"""A small nginx configuration reader: directives, blocks and `include`s, with file and line.

Enough of nginx's grammar for reading proxy settings: words, quoted strings, comments,
`;` and `{ }`. `include` is followed (relative paths against the main file's directory,
as nginx does with `-c`; globs allowed), with a depth limit against include loops.
"""

from __future__ import annotations

import glob
import re
from dataclasses import dataclass, field
from pathlib import Path

_TOKEN = re.compile(r"""\s+|\#[^\n]*"""  # blanks and comments
                    r"""|"((?:\\.|[^"\\])*)"|'((?:\\.|[^'\\])*)'"""  # quoted strings
                    r"""|([{};])|([^\s{};"'#]+)""")  # punctuation, words
MAX_DEPTH = 10


class NginxConfError(ValueError):
    """The configuration cannot be read (syntax, missing include)."""


@dataclass(frozen=True)
class Directive:
    name: str
    args: tuple[str, ...]
    file: str
    line: int
    block: tuple[Directive, ...] | None = field(default=None)

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


def load(path: Path) -> tuple[Directive, ...]:
    """The directives of `path` with every include spliced in place."""
    return _load(path.resolve(), path.resolve().parent, 0)


def _load(path: Path, prefix: Path, depth: int) -> tuple[Directive, ...]:
    if depth > MAX_DEPTH:
        raise NginxConfError(f"{path}: includes nested deeper than {MAX_DEPTH} (a loop?)")
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        raise NginxConfError(f"cannot read {path}: {exc.strerror}") from exc
    tokens = _tokens(text, str(path))
    block, rest = _block(tokens, 0, str(path), prefix, depth)
    if rest != len(tokens):
        raise NginxConfError(f"{path}:{tokens[rest][2]}: unexpected \"}}\"")
    return block


def _tokens(text: str, file: str) -> list[tuple[str, bool, int]]:
    """(text, is_punctuation, line) for each token."""
    out, pos, line = [], 0, 1
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            raise NginxConfError(f"{file}:{line}: cannot parse {text[pos:pos + 20]!r}")
        quoted = match.group(1) if match.group(1) is not None else match.group(2)
        if quoted is not None:
            out.append((quoted, False, line))
        elif match.group(3):
            out.append((match.group(3), True, line))
        elif match.group(4):
            out.append((match.group(4), False, line))
        line += match.group(0).count("\n")
        pos = match.end()
    return out


def _block(tokens: list[tuple[str, bool, int]], i: int, file: str, prefix: Path,
           depth: int) -> tuple[tuple[Directive, ...], int]:
    out: list[Directive] = []
    while i < len(tokens) and tokens[i][0:2] != ("}", True):
        words, line = [], tokens[i][2]
        while i < len(tokens) and not tokens[i][1]:
            words.append(tokens[i][0])
            i += 1
        if i >= len(tokens) or not words:
            raise NginxConfError(f"{file}:{line}: unexpected end or stray punctuation")
        if tokens[i][0] == "{":
            inner, i = _block(tokens, i + 1, file, prefix, depth)
            if i >= len(tokens):
                raise NginxConfError(f"{file}:{line}: block not closed")
            out.append(Directive(words[0], tuple(words[1:]), file, line, inner))
        elif tokens[i][0] == "}":
            raise NginxConfError(f"{file}:{line}: missing \";\"")
        elif words[0] == "include":
            out.extend(_include(words[1:], prefix, depth, f"{file}:{line}"))
        else:
            out.append(Directive(words[0], tuple(words[1:]), file, line))
        i += 1
    return tuple(out), i


def _include(args: list[str], prefix: Path, depth: int, where: str) -> list[Directive]:
    if len(args) != 1:
        raise NginxConfError(f"{where}: include takes one argument")
    pattern = args[0] if Path(args[0]).is_absolute() else str(prefix / args[0])
    paths = sorted(glob.glob(pattern))
    if not paths and not glob.has_magic(pattern):
        raise NginxConfError(f"{where}: included file {pattern} does not exist")
    return [d for p in paths for d in _load(Path(p), prefix, depth + 1)]
