"""docs/design.md's table of causes (issue 14 item 3) is the code's: each installed probe
type's outage, warning and UNKNOWN causes, and which installed actions each may trigger.

Regenerate it with `python -m tests.test_cause_table` and paste it over the old one.
"""

from __future__ import annotations

from pathlib import Path

from watchdog.pipeline.probe import ProbeRegistry, outage_causes, warning_causes
from watchdog.remediation.contract import RemediationRegistry, is_safe

DESIGN = Path(__file__).resolve().parents[1] / "docs" / "design.md"


def _names(causes: frozenset[str]) -> str:
    return ", ".join(f"`{c}`" for c in sorted(causes)) or "-"


def table() -> str:
    probes, actions = ProbeRegistry.from_entry_points(), RemediationRegistry.from_entry_points()
    safe = sorted(name for name, action in actions.items() if is_safe(action))
    lines = [
        f"An outage cause may trigger any action its remediation names "
        f"({', '.join(f'`{a}`' for a in sorted(actions))}); a warning only a safe one "
        f"({', '.join(f'`{a}`' for a in safe)}); an UNKNOWN cause none.",
        "",
        "| probe type | outage causes | warning causes | UNKNOWN causes (never act) |",
        "|---|---|---|---|",
    ]
    for name in sorted(probes):
        probe = probes[name]
        unknown = frozenset(getattr(probe, "unknown_causes", frozenset()))
        outage = _names(outage_causes(probe))
        if hasattr(probe, "configured_causes"):
            outage += ", and those of its configured rules"
        lines.append(f"| `{name}` | {outage} | {_names(warning_causes(probe))} | "
                     f"{_names(unknown)} |")
    return "\n".join(lines) + "\n"


def test_the_design_docs_table_of_causes_is_the_codes() -> None:
    expected = table()
    assert expected in DESIGN.read_text(), \
        f"docs/design.md's table of causes is stale; regenerate it:\n{expected}"


if __name__ == "__main__":
    print(table(), end="")
