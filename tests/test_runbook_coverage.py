"""Every step of the runbook is automated or named for a person (docs/runbook-coverage.md).

Walks the runbook's sections and numbered steps (tests/runbook_doc.py) against the coverage
table. An automated step names installed probe or remediation types. A person's step must
be cited by its runbook step in an operator-visible text: a probe's hint or a message
template. The never-automated steps are said to be so in their hints and in the resolved
message.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Iterator, Mapping
from importlib.metadata import entry_points
from typing import Any

import pytest

from probes._hints import HUMAN_STEPS
from probes.logs import BUNDLED_RULES
from tests import runbook_doc
from tests.support import ROOT
from watchdog.common.handoff import HUMAN_ONLY
from watchdog.common.registry import PROBE_GROUP, REMEDIATION_GROUP
from watchdog.notification.messages import BUNDLED

COVERAGE = ROOT / "docs" / "runbook-coverage.md"
KINDS = {"probe": PROBE_GROUP, "remediation": REMEDIATION_GROUP}
_NUMBER = r"\d+(?![\d.])"
# "runbook 3.2 step 7", "§3.4 steps 4-5", "runbook 2 steps 1, 3", "3.8 reconciliation step 4"
_CITATION = re.compile(rf"(?:runbook|§)\s*§?(\d+(?:\.\d+)?)(\s+(?:rollback|reconciliation))?"
                       rf"\s+steps?\s+({_NUMBER}(?:\s*[-,]\s*{_NUMBER})*)")


def table(heading: str | None = None) -> list[list[str]]:
    """The cells of the coverage document's rows (the table after `heading`, else the first)."""
    body = COVERAGE.read_text(encoding="utf-8")
    if heading is not None:
        body = body.split(heading, 1)[1]
    return [[cell.strip() for cell in line.strip("|").split("|")]
            for line in _first_table(body)]


def _first_table(body: str) -> list[str]:
    lines = body.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("|"))
    block = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        block.append(line)
    return block[2:]  # past the header and its separator


def automated_by(cell: str) -> list[tuple[str, str]]:
    return [(kind, name) for kind, name in re.findall(r"`(probe|remediation):(\w+)`", cell)]


def operator_texts() -> list[str]:
    """What an operator reads: every hint of every installed probe, and the templates."""
    texts = [path.read_text(encoding="utf-8") for path in BUNDLED.glob("*.txt")]
    texts += [rule.hint for rule in BUNDLED_RULES if rule.hint]
    for module in {ep.module for ep in entry_points(group=PROBE_GROUP)}:
        for name, value in vars(importlib.import_module(module)).items():
            if "HINT" in name:
                texts += list(_strings(value))
    return texts


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        yield from (v for v in value.values() if isinstance(v, str))


def cited(texts: list[str]) -> set[str]:
    """Every step ref the texts cite ("3.4 steps 4-5" cites 3.4 step 4 and 3.4 step 5)."""
    refs: set[str] = set()
    for text in texts:
        for section, list_name, numbers in _CITATION.findall(text):
            within = list_name.strip()
            refs |= {f"{section}{' ' + within if within else ''} step {n}"
                     for n in _expand(numbers)}
    return refs


def _expand(numbers: str) -> list[int]:
    out: list[int] = []
    for part in re.split(r"\s*,\s*", numbers):
        low, _, high = part.partition("-")
        out += range(int(low), int(high or low) + 1)
    return out


def plain(text: str) -> str:
    """Markdown emphasis, quote markers and line breaks removed."""
    text = re.sub(r"^>\s?", "", text, flags=re.MULTILINE).replace("*", "")
    return re.sub(r"\s+", " ", text)


def test_every_runbook_step_has_one_row_and_no_row_names_a_missing_step() -> None:
    steps = [step.ref for step in runbook_doc.steps()]
    assert len(steps) > 40, "the runbook parsed into too few steps"
    rows = [row[0] for row in table()]
    assert sorted(rows) == sorted(steps)


@pytest.mark.parametrize("row", table(), ids=lambda row: row[0])
def test_each_step_is_automated_by_installed_types_or_cited_for_a_person(
        row: list[str]) -> None:
    ref, _, automated, person = row
    installed = {kind: {ep.name for ep in entry_points(group=group)}
                 for kind, group in KINDS.items()}
    for kind, name in automated_by(automated):
        assert name in installed[kind], f"{ref}: no {kind} type {name!r} is installed"
    assert automated_by(automated) or person != "-", f"{ref}: neither automated nor a person's"
    if person != "-":
        assert ref in cited(operator_texts()), \
            f"{ref} is a person's step, but no hint or message template cites it"


@pytest.mark.parametrize("row", table("## Rules that are not numbered steps"),
                         ids=lambda row: row[0])
def test_each_rule_is_the_runbook_s_and_is_automated_or_in_a_hint(row: list[str]) -> None:
    section, quote, automated, person = row
    assert plain(quote.strip('"')) in plain(runbook_doc.sections()[section])
    words = re.findall(r"`([^`]+)`", person)
    assert automated_by(automated) or words
    for phrase in words:
        assert any(phrase in text for text in operator_texts()), phrase


def test_each_never_automated_step_is_a_runbook_step_and_its_hints_say_so() -> None:
    steps = {step.ref for step in runbook_doc.steps()} | set(runbook_doc.sections())
    texts = operator_texts()
    for step in HUMAN_STEPS.values():
        assert (cited([f"runbook {step.ref}"]) or {step.ref}) <= steps, step.ref
        hints = [text for text in texts if str(step) in text]
        assert hints, f"no hint names {step}"
        assert all(HUMAN_ONLY in hint for hint in hints)
