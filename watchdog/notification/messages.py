"""Notification messages: what is said about an incident, rendered from editable templates.

Templates are plain text files with `${name}` placeholders (Python's `string.Template`),
one per kind, in the runbook's §4 style. An operator's `notify.templates_dir` overrides
any of them; a missing file falls back to the bundled one. Unknown placeholders are left
as written, so a typo shows in the message instead of losing it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from string import Template
from typing import Any

from watchdog.common.durations import format_duration
from watchdog.common.secrets import scrub

BUNDLED = Path(__file__).resolve().parent / "templates"
KINDS = ("started", "updated", "resolved", "reminder", "flapping", "settled")


@dataclass(frozen=True)
class Message:
    """One notification, rendered once when queued so a restart delivers the same text."""

    kind: str  # started | updated | resolved | reminder | flapping | settled | refresh
    incident_id: int
    probe: str
    severity: str
    firing: bool  # the incident is still open
    text: str
    data: dict[str, Any] = field(default_factory=dict)  # structured fields for JSON receivers

    @property
    def subject(self) -> str:
        return self.text.split("\n", 1)[0]

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "incident_id": self.incident_id, "probe": self.probe,
                "severity": self.severity, "firing": self.firing, "text": self.text,
                "data": self.data}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Message:
        return cls(data["kind"], int(data["incident_id"]), data["probe"], data["severity"],
                   bool(data["firing"]), data["text"], dict(data.get("data") or {}))


def sev_label(severity: str) -> str:
    """`sev1` -> `SEV-1`, as the runbook writes it; custom level names are upper-cased."""
    if severity.lower().startswith("sev") and severity[3:].isdigit():
        return f"SEV-{severity[3:]}"
    return severity.upper()


def utc_timestamp(ts: float | None) -> str:
    """'2026-11-27 14:02 UTC': the same for every reader of a message; '-' when never."""
    if ts is None:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(ts))


def age(seconds: float | None) -> str:
    return "-" if seconds is None else format_duration(max(0.0, seconds))


class Templates:
    def __init__(self, directory: Path | None) -> None:
        self.directory = directory

    def source(self, kind: str) -> str:
        if self.directory is not None:
            custom = self.directory / f"{kind}.txt"
            if custom.is_file():
                return custom.read_text(encoding="utf-8")
        return (BUNDLED / f"{kind}.txt").read_text(encoding="utf-8")

    def render(self, kind: str, values: dict[str, Any]) -> str:
        text = Template(self.source(kind)).safe_substitute(
            {k: "" if v is None else str(v) for k, v in values.items()})
        return scrub(text.rstrip("\n"))
