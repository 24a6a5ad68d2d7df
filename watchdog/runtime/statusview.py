"""Presentation of /api/status for people: a text table (`runbook-watchdog status`) and HTML (`/`).

Both are pure functions of the status document, so the page and the command always show
the same thing. The page is read-only and self-contained (inline CSS, no script, no
external asset), refreshes itself, and escapes every value it shows.
"""

from __future__ import annotations

import html
import time
from collections.abc import Sequence
from typing import Any

PROBE_COLUMNS = ("probe", "type", "status", "severity", "since", "cause", "summary")
INCIDENT_COLUMNS = ("id", "severity", "probe", "cause", "opened", "runbook", "summary")
SUMMARY_WIDTH = 60


def local_time_with_age(ts: float | None, now: float) -> str:
    """'2026-11-27 14:02:11 (3m ago)'; '-' when never."""
    if ts is None:
        return "-"
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))
    return f"{stamp} ({ago(now - ts)})"


def ago(seconds: float) -> str:
    seconds = max(0, int(seconds))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit} ago"
    return f"{seconds}s ago"


def probe_row(probe: dict[str, Any], now: float) -> dict[str, str]:
    return {"probe": probe["probe"], "type": probe.get("type") or "",
            "status": probe.get("status") or "pending",
            "severity": probe.get("severity") or "",
            "since": local_time_with_age(probe.get("last_change"), now),
            "cause": probe.get("cause") or "", "summary": probe.get("summary") or ""}


def incident_row(incident: dict[str, Any], now: float) -> dict[str, str]:
    return {"id": f"#{incident['id']}", "severity": incident["severity"],
            "probe": incident["probe"], "cause": incident["cause"],
            "opened": local_time_with_age(incident.get("opened_at"), now),
            "runbook": incident.get("runbook") or "", "summary": incident.get("summary") or ""}


def lease_line(lease: dict[str, Any] | None) -> str:
    if not lease or lease.get("mode") == "single":
        return "single replica: this watchdog acts"
    holder = lease.get("holder") or "nobody"
    role = "this replica acts" if lease.get("held") else "this replica is in dry-run"
    error = f"; Redis: {lease['error']}" if lease.get("error") else ""
    return f"held by {holder} ({role}){error}"


def remediation_rows(status: dict[str, Any]) -> list[dict[str, str]]:
    """Budgets and quarantines, as the remediation stage reports them (any flat mapping)."""
    items = status.get("remediations") or []
    return [{k: _text(v) for k, v in item.items()} for item in items if isinstance(item, dict)]


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


# -- text --------------------------------------------------------------------------------
def render_table(status: dict[str, Any], now: float | None = None) -> str:
    now = time.time() if now is None else now
    probes = [probe_row(p, now) for p in status.get("probes", [])]
    incidents = [incident_row(i, now) for i in status.get("incidents", [])]
    parts = ["PROBES", *table(PROBE_COLUMNS, probes), "",
             f"OPEN INCIDENTS ({len(incidents)})"]
    parts += table(INCIDENT_COLUMNS, incidents) if incidents else ["none"]
    remediations = remediation_rows(status)
    if remediations:
        parts += ["", "REMEDIATIONS", *table(tuple(remediations[0]), remediations)]
    parts += ["", f"LEASE: {lease_line(status.get('lease'))}"]
    return "\n".join(parts) + "\n"


def table(columns: Sequence[str], rows: Sequence[dict[str, str]]) -> list[str]:
    cells = [[_clip(row.get(c, ""), c) for c in columns] for row in rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    lines = [[c.upper() for c in columns], *cells]
    return ["  ".join(v.ljust(w) for v, w in zip(line, widths, strict=True)).rstrip()
            for line in lines]


def _clip(value: str, column: str) -> str:
    value = " ".join(value.split())
    if column == "summary" and len(value) > SUMMARY_WIDTH:
        return value[:SUMMARY_WIDTH - 1] + "…"
    return value


# -- html --------------------------------------------------------------------------------
_CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#1d1d1f;background:#fafafa}
h1{font-size:1.3em}h2{font-size:1.1em;margin-top:1.5em}
table{border-collapse:collapse;width:100%;background:#fff}
th,td{text-align:left;padding:.3em .6em;border-bottom:1px solid #ddd;vertical-align:top}
th{background:#f0f0f0}.ok{color:#13711f}.failed{color:#b00020;font-weight:600}
.unknown{color:#8a5a00}.pending{color:#666}.muted{color:#666}
"""


def render_html(status: dict[str, Any], now: float | None = None, refresh: int = 10) -> str:
    now = time.time() if now is None else now
    probes = status.get("probes", [])
    incidents = status.get("incidents", [])
    body = [f"<h1>runbook-watchdog</h1><p class=muted id=generated>"
            f"{_e(time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(now)))} · "
            f"{len(probes)} probes · {len(incidents)} open incidents · "
            f"lease: {_e(lease_line(status.get('lease')))}</p>",
            "<h2>Probes</h2>", _html_probes(probes, now),
            "<h2>Open incidents</h2>", _html_incidents(incidents, now)]
    remediations = remediation_rows(status)
    if remediations:
        body += ["<h2>Remediations</h2>",
                 _html_table("remediations", tuple(remediations[0]), remediations)]
    return ("<!doctype html><html lang=en><head><meta charset=utf-8>"
            f"<meta http-equiv=refresh content={int(refresh)}>"
            "<title>runbook-watchdog status</title>"
            f"<style>{_CSS}</style></head><body>{''.join(body)}</body></html>")


def _html_probes(probes: list[dict[str, Any]], now: float) -> str:
    rows = [probe_row(p, now) for p in probes]
    return _html_table("probes", PROBE_COLUMNS, rows, key="probe")


def _html_incidents(incidents: list[dict[str, Any]], now: float) -> str:
    if not incidents:
        return "<p id=incidents-none>No open incident.</p>"
    rows = [incident_row(i, now) for i in incidents]
    return _html_table("incidents", INCIDENT_COLUMNS, rows, key="probe")


def _html_table(name: str, columns: Sequence[str], rows: list[dict[str, str]],
                key: str | None = None) -> str:
    head = "".join(f"<th>{_e(c)}</th>" for c in columns)
    lines = []
    for row in rows:
        attrs = f" data-{name[:-1]}={_q(row[key])}" if key else ""
        cells = "".join(_html_cell(c, row.get(c, "")) for c in columns)
        lines.append(f"<tr{attrs}>{cells}</tr>")
    return f"<table id={name}><thead><tr>{head}</tr></thead><tbody>{''.join(lines)}</tbody></table>"


def _html_cell(column: str, value: str) -> str:
    css = f" class={_q(value)}" if column == "status" else ""
    return f"<td data-col={column}{css}>{_e(value)}</td>"


def _e(value: str) -> str:
    return html.escape(value, quote=True)


def _q(value: str) -> str:
    return f'"{_e(value)}"'
