"""The bundled config is true to the runbook (issue 19 item 3): every probe names a section
that exists, and where the severity matrix (§1) has a line for what a probe watches, the
probe's severity is that line's and a comment in its block quotes it."""

from __future__ import annotations

import re
from typing import Any

import pytest

from probes.logs import BUNDLED_RULES, LogsParams
from tests import runbook_doc
from tests.support import ROOT
from watchdog.runtime.config import Config, load_config

BUNDLED = ROOT / "config" / "watchdog.yaml"
# (probe, the key whose severity is judged, the matrix words): a row's meaning or example.
MATRIX = [
    ("backend-health", "severity", "Site fully down or unable to process payments"),
    ("backend-container", "severity", "Backend container in crashloop"),
    ("mongodb", "severity", "Mongo unreachable"),
    ("mongodb-container", "severity", "Mongo unreachable"),
    ("shkeeper", "severity", "SHKeeper API permanently failing"),
    ("redis", "severity", "Redis disk full"),
    ("redis-container", "severity", "Major feature broken for a large share of users"),
    ("smtp", "severity", "Email sending broken"),
    ("mail-dns", "severity", "isolated user reports"),
    ("websocket-storm", "severity", "chat undelivered"),
    ("nginx-websocket", "severity", "chat undelivered"),
    ("chat-socketio", "severity", "chat undelivered"),
    ("docker-disk", "severity", "Redis disk full"),
    ("docker-disk", "warn_severity", "disk > 80%"),
    ("mongo-backups", "severity", "Backup older than 24h"),
    ("backend-logs", "rules[request_network]", "unable to process payments"),
]
# The logs probe's bundled rules whose symptom has a matrix line.
RULES = {"mongo_unreachable": "Mongo unreachable",
         "shkeeper_down": "SHKeeper API permanently failing",
         "email_failure": "Email sending broken"}


@pytest.fixture(scope="module")
def bundled(tmp_path_factory: pytest.TempPathFactory) -> Config:
    state = tmp_path_factory.mktemp("state")
    return load_config(BUNDLED, environ={"RUNBOOK_WATCHDOG_STATE_DIR": str(state)})


def severity_of(words: str) -> str:
    """The matrix row whose example is `words`, or whose meaning contains them."""
    hits = {row.severity for row in runbook_doc.matrix()
            if words in row.examples or words in row.meaning}
    assert len(hits) == 1, f"{words!r} is not in exactly one row of the runbook's matrix"
    return hits.pop()


def block_comments(name: str) -> str:
    """The comments above probe `name`'s key and inside its block in the bundled file."""
    lines = BUNDLED.read_text(encoding="utf-8").splitlines()
    start = lines.index(f"  {name}:")
    above = start
    while lines[above - 1].lstrip().startswith("#"):
        above -= 1
    end = next((i for i in range(start + 1, len(lines))
                if re.match(r"^  [a-z][\w-]*:", lines[i])), len(lines))
    return "\n".join(line for line in lines[above:end] if line.lstrip().startswith("#"))


def judged(config: Config, name: str, key: str) -> Any:
    spec = config.probes[name]
    if key == "severity":
        return spec.common.severity
    rule = re.fullmatch(r"rules\[(\w+)\]", key)
    if rule:
        params = spec.params
        assert isinstance(params, LogsParams)
        return next(r.severity for r in params.rules if r.cause == rule[1])
    return getattr(spec.params, key)


def section_exists(ref: str) -> bool:
    """`3.2` is a section; `2.6` is §2 step 6 when §2 has no subsection 6."""
    if ref in runbook_doc.sections():
        return True
    section, _, step = ref.rpartition(".")
    return any(s.section == section and s.number == int(step) for s in runbook_doc.steps())


@pytest.mark.parametrize(("name", "key", "words"), MATRIX, ids=lambda v: str(v))
def test_each_probe_with_a_matrix_line_has_its_severity_and_quotes_it(
        bundled: Config, name: str, key: str, words: str) -> None:
    assert judged(bundled, name, key) == severity_of(words), f"{name}.{key}"
    assert f'"{words}"' in block_comments(name), f"{name}: no comment quotes {words!r}"


def test_every_bundled_probe_names_a_runbook_section_that_exists(bundled: Config) -> None:
    missing = {name: spec.common.runbook for name, spec in bundled.probes.items()
               if spec.common.runbook is None or not section_exists(spec.common.runbook)}
    assert missing == {}


def test_the_bundled_log_rules_follow_the_matrix() -> None:
    got = {rule.cause: rule.severity for rule in BUNDLED_RULES if rule.cause in RULES}
    assert got == {cause: severity_of(words) for cause, words in RULES.items()}


def test_the_matrix_table_lists_every_probe_the_test_judges(bundled: Config) -> None:
    """A renamed probe must not silently leave the check."""
    assert {name for name, _, _ in MATRIX} <= set(bundled.probes)
