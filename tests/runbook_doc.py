"""The runbook (the project's spec) as data for tests: its sections, numbered steps and
severity matrix, read from `../shared/runbook/incident-response.md` beside the checkout
(where CI and the development machines keep it).

Steps are numbered lines, in Markdown (`1. **Acknowledge.**`) or as comments in a section's
shell block (`# 7. If data is corrupt ...`). A section with several numbered lists under
bold `**Title:**` lines (§3.8) names its steps by list: "3.8 rollback step 3". Rules are
not steps; tests quote them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tests.support import ROOT

RUNBOOK = ROOT.parent / "shared" / "runbook" / "incident-response.md"
# The lists of a section with more than one, by their bold title (an unknown one fails).
LISTS = {"Immediate rollback (minutes)": "rollback",
         "Reconciliation before re-enabling": "reconciliation"}
_HEADING = re.compile(r"^#{2,3} (\d+(?:\.\d+)?)\.? (.+)$")
_STEP = re.compile(r"^(?:#\s*)?(\d+)\.\s+(.+)$")
_LIST_TITLE = re.compile(r"^\*\*(.+?):\*\*\s*$")
_MATRIX_ROW = re.compile(r"^\|\s*\*\*Sev (\d)\*\*\s*\|([^|]*)\|([^|]*)\|([^|]*)\|")


@dataclass(frozen=True)
class Step:
    section: str  # "3.2"
    number: int
    text: str
    list_name: str | None = None  # "rollback" in §3.8

    @property
    def ref(self) -> str:
        """How hints cite it: "3.2 step 7", "3.8 reconciliation step 4"."""
        within = f" {self.list_name}" if self.list_name else ""
        return f"{self.section}{within} step {self.number}"


@dataclass(frozen=True)
class MatrixRow:
    severity: str  # "sev1"
    meaning: str
    examples: tuple[str, ...]


def text() -> str:
    assert RUNBOOK.is_file(), f"the runbook is not at {RUNBOOK} (CI keeps ../shared beside " \
                              "the clone)"
    return RUNBOOK.read_text(encoding="utf-8")


def sections() -> dict[str, str]:
    """Section number -> its body (up to the next numbered heading)."""
    out: dict[str, str] = {}
    current: str | None = None
    for line in text().splitlines():
        heading = _HEADING.match(line)
        if heading:
            current = heading[1]
            out[current] = ""
        elif current is not None:
            out[current] += line + "\n"
    return out


def steps() -> list[Step]:
    return [step for number, body in sections().items() for step in _steps(number, body)]


def _steps(section: str, body: str) -> list[Step]:
    found: list[Step] = []
    list_name: str | None = None
    for line in body.splitlines():
        title = _LIST_TITLE.match(line.strip())
        if title:
            assert title[1] in LISTS, f"§{section}: a list titled {title[1]!r} has no short name"
            list_name = LISTS[title[1]]
        step = _STEP.match(line.strip())
        if step:
            found.append(Step(section, int(step[1]), step[2].strip(), list_name))
    return found


def matrix() -> list[MatrixRow]:
    rows = [_MATRIX_ROW.match(line) for line in sections()["1"].splitlines()]
    return [MatrixRow(f"sev{m[1]}", m[2].strip(),
                      tuple(e.strip() for e in m[4].split(";") if e.strip()))
            for m in rows if m]


def severity_of(example: str) -> str:
    """The matrix's severity for one of its examples ("Mongo unreachable" -> "sev1")."""
    hits = [row.severity for row in matrix() if example in row.examples]
    assert len(hits) == 1, f"{example!r} is not one example of the runbook's matrix"
    return hits[0]
