"""One env-file grammar for the reader and the editor (watchdog/common/envfile.py)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from watchdog.common.envfile import (
    EnvFileError,
    edit_env_file,
    encode,
    parse_env_text,
    set_values,
)

# The literal cases: what the reader returns, and what an edit of K gives.
CASES = [
    ("K=a b # c\n", "a b", "K=new # c\n"),
    ('K="x\\"y"\n', 'x"y', 'K="new"\n'),
    ("export K='single' # kept\n", "single", "export K='new' # kept\n"),
    ("K = spaced   # note\n", "spaced", "K = new   # note\n"),
    ("K=#not-a-comment\n", "#not-a-comment", "K=new\n"),
    ("K=\n", "", "K=new\n"),
    ("K= # only a comment\n", "", "K=new # only a comment\n"),
    ('K="a # b" # c\r\n', "a # b", 'K="new" # c\r\n'),
]


@pytest.mark.parametrize(("line", "value", "edited"), CASES)
def test_reader_and_editor_agree_on_the_literal_cases(line: str, value: str,
                                                       edited: str) -> None:
    assert parse_env_text(line) == ({"K": value}, [])
    assert set_values(line, {"K": "new"}) == edited
    assert parse_env_text(edited)[0] == {"K": "new"}


def test_a_value_that_needs_quotes_gets_double_quotes_and_reads_back() -> None:
    edited = set_values("K=plain # c\nL='x'\n", {"K": 'a "b" # c', "L": "it's"})
    assert edited == 'K="a \\"b\\" # c" # c\nL="it\'s"\n'
    assert parse_env_text(edited)[0] == {"K": 'a "b" # c', "L": "it's"}


def test_an_absent_key_is_appended_after_a_last_line_without_newline() -> None:
    assert set_values("A=1", {"B": "x #y"}) == 'A=1\nB="x #y"\n'


@pytest.mark.parametrize(("line", "problem"), [
    ('K="open\n', "unterminated quote"), ("K='x' y\n", "text after the closing quote"),
    ("just words\n", "not KEY=VALUE")])
def test_a_broken_line_is_a_problem_and_the_editor_refuses_to_touch_its_key(
        line: str, problem: str) -> None:
    text = "A=1\n" + line
    assert parse_env_text(text) == ({"A": "1"}, [(2, problem)])
    assert set_values(text, {"A": "2"}) == "A=2\n" + line  # other keys: the line is kept
    if "K" in line and "=" in line:
        with pytest.raises(EnvFileError, match="line 2 assigns K"):
            set_values(text, {"K": "new"})


def test_edit_keeps_mode_and_owner_and_leaves_a_backup(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text("# secrets\nA=1  # one\n")
    os.chmod(env, 0o640)
    os.chown(env, 1234, 4321)
    edit_env_file(env, {"A": "2"}, tmp_path / ".env.bak")
    info = env.stat()
    assert (stat.S_IMODE(info.st_mode), info.st_uid, info.st_gid) == (0o640, 1234, 4321)
    assert env.read_text() == "# secrets\nA=2  # one\n"
    assert (tmp_path / ".env.bak").read_text() == "# secrets\nA=1  # one\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == [".env", ".env.bak"]


# -- the round trip, generated ---------------------------------------------------------------
KEYS = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True)
VALUES = st.text(st.characters(codec="utf-8"), max_size=12)
BLANK = st.sampled_from(["", " ", "\t", "  "])
COMMENT = st.sampled_from(["", " # a comment", "\t#x", "  # K=shadow"])


@st.composite
def assignment(draw: st.DrawFn) -> str:
    key, value = draw(KEYS), draw(VALUES)
    style = draw(st.sampled_from(['"', "'", ""]))
    export = draw(st.sampled_from(["", "export "]))
    raw = encode(value, style)
    return f"{draw(BLANK)}{export}{key}{draw(BLANK)}={draw(BLANK)}{raw}{draw(COMMENT)}"


LINE = st.one_of(assignment(), st.sampled_from(["", "# a comment", "  #K=1", "   "]))
FILE = st.tuples(st.lists(LINE, max_size=8), st.sampled_from(["\n", "\r\n"]), st.booleans())


def _text(lines: list[str], ending: str, last_newline: bool) -> str:
    return ending.join(lines) + (ending if last_newline and lines else "")


@given(FILE, VALUES, st.data())
def test_parse_edit_one_key_parse_changes_only_that_key(
        file: tuple[list[str], str, bool], new: str, data: st.DataObject) -> None:
    text = _text(*file)
    before, problems = parse_env_text(text)
    assert problems == []
    key = data.draw(st.sampled_from(sorted(before)) if before else KEYS)
    after_text = set_values(text, {key: new})
    after, problems = parse_env_text(after_text)
    assert problems == []
    assert after == {**before, key: new}
    lines, edited = text.split("\n"), after_text.split("\n")
    if not text or text.endswith("\n"):
        lines.pop()  # the split's empty tail is no line of the file
    else:  # an appended key ends the last line first ("\r\n" in a CRLF file)
        edited[len(lines) - 1] = edited[len(lines) - 1].removesuffix("\r")
    for old, new_line in zip(lines, edited, strict=False):
        if key not in parse_env_text(old + "\n")[0]:
            assert new_line == old  # a line that does not assign the key: byte-identical
