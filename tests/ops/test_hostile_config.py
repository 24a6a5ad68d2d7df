"""Config input that broke the loader: each is a clear error naming file and position, from
`validate` and `check`, in bounded time (the subprocess timeout is a hang guard only)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import cli


def alias_bomb(section: str) -> str:
    """Billion laughs: nine levels of nine aliases each, 9^9 strings once expanded."""
    lines = [f"{section}:", "  x:", '    a: &a ["lol","lol","lol","lol","lol","lol","lol","lol",'
             '"lol"]']
    for level in range(1, 9):
        previous, name = chr(ord("a") + level - 1), chr(ord("a") + level)
        lines.append(f"    {name}: &{name} [" + ", ".join([f"*{previous}"] * 9) + "]")
    return "\n".join(lines) + "\n"


NESTED = "watchdog:\n  x: " + "[" * 1500 + "]" * 1500 + "\n"
LONG_URL = "http://127.0.0.1:9/" + "a" * 2_000_000

CASES = {
    "alias bomb under notify": (alias_bomb("notify"), "line 8, column 12: invalid YAML: the "
                                "document expands to more than 100000 values (aliases "
                                "counted as what they repeat)"),
    "alias bomb under watchdog": (alias_bomb("watchdog"), "line 8, column 12: invalid YAML: "
                                  "the document expands to more than 100000 values"),
    "recursive alias": ("watchdog:\n  x: &a {x: [*a]}\n", "line 2, column 14: invalid YAML: "
                        "alias *a refers to a node that contains it (a recursive alias)"),
    "1500 levels of nesting": (NESTED, "line 2, column 68: invalid YAML: nested more than 64 "
                               "levels deep"),
    "unhashable key": ("watchdog:\n  ? [1, 2]\n  : x\n", "line 2, column 5: invalid YAML: a "
                       "key must be a plain value, not a list"),
    "2 MB URL": (f"probes:\n  web: {{type: http, url: '{LONG_URL}'}}\n",
                 f"probes.web.url: the URL is {len(LONG_URL)} characters long; at most 8192 "
                 "are accepted"),
}


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize(("command", "code"), [("validate", 1), ("check", 3)])
def test_config_input_that_broke_the_loader_is_one_clear_error(
        tmp_path: Path, case: str, command: str, code: int) -> None:
    text, expected = CASES[case]
    config = tmp_path / "watchdog.yaml"
    config.write_text(text)
    result = cli(command, "--config", str(config), timeout=60)
    assert result.returncode == code, result.stderr[-2000:]
    assert result.stderr.startswith("runbook-watchdog: the config is invalid (1 problem):\n"
                                    f"  {config}: {expected}"), result.stderr[-2000:]
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(("url", "expected"), [
    ("ftp://example.com/", "'ftp://example.com/' is not an http:// or https:// URL with a "
                           "host"),
    ("http://example.com:port/", "not a valid URL: Invalid port: 'port'"),
    ("http:///health", "'http:///health' is not an http:// or https:// URL with a host"),
])
def test_a_url_no_http_client_can_request_fails_validation(
        tmp_path: Path, url: str, expected: str) -> None:
    config = tmp_path / "watchdog.yaml"
    config.write_text(f"probes:\n  web: {{type: http, url: '{url}'}}\n")
    result = cli("validate", "--config", str(config))
    assert result.returncode == 1
    assert result.stderr.splitlines()[1:] == [f"  {config}: probes.web.url: {expected}"]
