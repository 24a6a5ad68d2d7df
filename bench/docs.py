"""Write docs/benchmarks.md from bench/results/*.json and the hand-written analysis."""

from __future__ import annotations

import datetime
import importlib.metadata
import json
import os
import platform
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common import RESULTS, ROOT, fmt

PACKAGES = ("httpx", "httpcore", "anyio", "sniffio", "pymongo", "redis", "prometheus-client",
            "httpx-aiohttp", "aiohttp")
TITLES = {"B1": "B1 throughput", "B2": "B2 schedule accuracy", "B3": "B3 detection latency",
          "B4": "B4 idle footprint", "B5": "B5 soak", "B6": "B6 /metrics with 10,000 series",
          "B7": "B7 a hung Docker API call",
          "B8": "B8 stepped load, 200 -> 4,000 probes/s offered (plot: b8-load-steps.png)"}




@dataclass(frozen=True)
class Pick:
    """Figures of one benchmark whose name matches `pattern` (re.match); `peak`: show only
    the largest value (e.g. the worst of five faults), the verdict still covers them all."""

    bench: str
    pattern: str
    peak: bool = False


@dataclass(frozen=True)
class Target:
    """One line of issue 16's targets table: the figures that measure it and its peer's."""

    label: str
    target: str
    measured: tuple[Pick, ...]
    peers: tuple[Pick, ...] = ()
    no_peer: str = "-"


TARGETS = (
    Target("B1 shipped probe path", ">= 2,000 probes/s; CPU per probe <= 1.0 x "
           "blackbox_exporter's in the same run (then <= 0.5 x)",
           (Pick("B1", "probes/s: shipped"), Pick("B1", "CPU per probe: shipped")),
           (Pick("B1", "blackbox_exporter probes/s"), Pick("B1", "blackbox_exporter CPU"))),
    Target("B1 whole daemon", "sustains >= 2,000 probes/s offered with p99 lateness <= 10 ms; "
           "above capacity no collapse",
           (Pick("B1", "whole daemon"), Pick("B8", "OK rate at the highest step")),
           (Pick("B1", "blackbox_exporter probes/s"),)),
    Target("B2", "p99 lateness <= 10 ms, max <= 100 ms at 1,000 targets with /metrics "
           "scraped every 15 s", (Pick("B2", "lateness p99$"), Pick("B2", "lateness max$")),
           (Pick("B2", "monit"),)),
    Target("B4", "idle RSS <= 60 MiB, CPU <= 0.5 % of a core (bundled config)",
           (Pick("B4", "idle RSS"), Pick("B4", "idle CPU")),
           (Pick("B4", "blackbox_exporter"), Pick("B4", "monit"))),
    Target("B5", ">= 1M probes, RSS growth <= 5 MiB, fds/tasks/threads flat",
           (Pick("B5", r"probes run \("), Pick("B5", "RSS growth"), Pick("B5", "open fds"),
            Pick("B5", "threads"), Pick("B5", "asyncio tasks")),
           no_peer="itself: after a 1-min warm-up vs the end (no peer soaks)"),
    Target("B6", "10k series scrape p50 <= 70 ms, loop blocked <= 10 ms during scrapes",
           (Pick("B6", "scrape time p50"), Pick("B6", "longest event-loop block during")),
           (Pick("B6", "longest event-loop block without"),
            Pick("B6", r"render alone \(prometheus_client"))),
    Target("B3", "detection within k x interval + timeout (+10 %); bad deploy -> verified "
           "rollback <= 60 s", (Pick("B3", ".*injection -> incident open", peak=True),
                                Pick("B3", ".*-> remediation start", peak=True),
                                Pick("B3", "bad deploy: broken deploy -> rollback verified"))),
    Target("B7", "other probes' lateness unchanged while Docker API calls hang",
           (Pick("B7", ".*Docker API hung"),), (Pick("B7", ".*baseline"),)),
    Target("B8", "OK rate rises to capacity and stays there; p99 lateness <= 100 ms at "
           "every step", (Pick("B8", "[0-9,]+/s offered", peak=True),
                          Pick("B8", "OK rate at the highest step"))),
)


def results() -> dict[str, list[dict[str, Any]]]:
    return {path.stem: json.loads(path.read_text())["figures"]
            for path in sorted(RESULTS.glob("B*.json"))}


def picked(pick: Pick, figures: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    found = [f for f in figures.get(pick.bench, []) if re.match(pick.pattern, f["name"])]
    if pick.peak and found:
        top = max(found, key=lambda f: f["value"])
        verdicts = [f["met"] for f in found if f["met"] is not None]
        met = all(verdicts) if verdicts else None
        counted = f"; {sum(verdicts)} of {len(verdicts)} met" if verdicts else ""
        return [{**top, "met": met, "name": f"{top['name']} (largest of {len(found)}{counted})"}]
    return found


def value(f: dict[str, Any], with_note: bool = False) -> str:
    note = f" ({f['note']})" if with_note and f["note"] and len(f["note"]) < 60 else ""
    return f"{f['name']}: **{fmt(f['value'])} {f['unit']}**{note}"


def verdict(figures: list[dict[str, Any]]) -> str:
    if not figures:
        return "not run"
    missed = [f["name"] for f in figures if f["met"] is False]
    if missed:
        return "**missed**: " + "; ".join(missed)
    return "met" if any(f["met"] for f in figures) else "no verdict (reference figures)"


def target_row(t: Target, figures: dict[str, list[dict[str, Any]]]) -> str:
    measured = [f for p in t.measured for f in picked(p, figures)]
    peers = [f for p in t.peers for f in picked(p, figures)]
    loads = [f["load"] for f in measured + peers]
    load = f"{min(loads):.2f}-{max(loads):.2f}" if loads else "-"
    shown = "<br>".join(value(f) for f in measured) or "not in this run"
    peer = "<br>".join(value(f, with_note=True) for f in peers) or t.no_peer
    return (f"| {t.label} | {cell(t.target)} | {cell(shown)} | {cell(verdict(measured))} "
            f"| {cell(peer)} | {load} |")


def targets_table() -> list[str]:
    figures = results()
    return ["## Issue 16's targets", "",
            "Each figure and its peer come from the same run (bench/results/*.json); "
            "the per-benchmark tables below have every figure, its note and its load.", "",
            "| | Target | Measured | Result | Peer / baseline (same run) | Load (1 min) |",
            "|---|---|---|---|---|---|", *(target_row(t, figures) for t in TARGETS), ""]


def version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def tool_version(argv: list[str]) -> str:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)
    except OSError:
        return "not installed"
    return (out.stdout or out.stderr).strip().splitlines()[0]


def machine() -> list[str]:
    cpu = next((line.split(":", 1)[1].strip() for line in
                Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")),
               platform.processor())
    mem = int(Path("/proc/meminfo").read_text().split()[1]) // 1024
    return [f"- Machine: {cpu}, {os.cpu_count()} cores, {mem:,} MiB RAM, "
            f"{platform.system()} {platform.release()}",
            f"- Python {platform.python_version()}; "
            + ", ".join(f"{p} {version(p)}" for p in PACKAGES),
            f"- Peers: {tool_version(['prometheus-blackbox-exporter', '--version'])}; "
            f"{tool_version(['monit', '-V'])}; {tool_version(['nginx', '-v'])} (targets)"]


def cell(text: str) -> str:
    return text.replace("|", "\\|")


def table(figures: list[dict[str, Any]]) -> list[str]:
    rows = ["| Figure | Value | Target | Result | Ratio / peer | Load (1 min) | Note |",
            "|---|---|---|---|---|---|---|"]
    for f in figures:
        verdict = {True: "met", False: "**missed**", None: "reference"}[f["met"]]
        rows.append(f"| {cell(f['name'])} | {fmt(f['value'])} {f['unit']} "
                    f"| {cell(f['target'] or '-')} | {verdict} | {cell(f['ratio'] or '-')} "
                    f"| {f['load']:.2f} | {cell(f['note'] or '')} |")
    return rows


def profiles() -> list[str]:
    out = []
    for path in sorted(RESULTS.glob("*-profile.txt")):
        name = path.name.removesuffix("-profile.txt")
        out += [f"### Profile {name}", "", "```", *path.read_text().splitlines()[:40], "```", ""]
    return out


def suite_line(suite: dict[str, Any]) -> str:
    quiet = suite["load"] < suite["quiet_below"]
    wait = (f"quiet (below {suite['quiet_below']:g}) after waiting {suite['waited'] / 60:.1f} min"
            if quiet else f"**not quiet**: still at or above {suite['quiet_below']:g} after "
            f"the bounded wait of {suite['waited'] / 60:.1f} min")
    return (f"- Suite wall time: {suite['seconds'] / 60:.1f} min (after the wait), started "
            f"{suite['at']}; 1-minute load average at the start: {suite['load']:.2f}, {wait}. "
            "The load average is also recorded next to every figure.")


def analyses() -> list[Path]:
    """bench/analysis.md, then each helper's bench/analysis-<topic>.md in name order."""
    here = ROOT / "bench"
    return [p for p in (here / "analysis.md", *sorted(here.glob("analysis-*.md"))) if p.exists()]


def write(suite: dict[str, Any] | None = None) -> Path:
    """Write the page. `suite` (wall time, load at start, the wait for a quiet machine) is
    kept in bench/results/suite.json, so a later `python -m bench.run docs` still says it."""
    meta = RESULTS / "suite.json"
    if suite is not None:
        meta.write_text(json.dumps(suite))
    elif meta.exists():
        suite = json.loads(meta.read_text())
    lines = ["# Benchmarks", "",
             "Generated by `make bench` (`python -m bench.run all`) from one run of the whole "
             "suite (what was re-run alone is said under \"About this run\"); "
             "`make bench-one B=B3` runs one, `make soak` runs B5 alone. The code is in "
             "`bench/`. Figures are printed by each benchmark and collected here; nothing "
             "in `tests/` asserts speed.",
             "", f"- Date (page written): {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC",
             *machine()]
    if suite is not None:
        lines.append(suite_line(suite))
    lines += ["", *targets_table()]
    for bench, title in TITLES.items():
        path = RESULTS / f"{bench}.json"
        lines += [f"## {title}", ""]
        if path.exists():
            lines += table(json.loads(path.read_text())["figures"])
        else:
            lines.append("Not run in this suite run.")
        lines.append("")
    for analysis in analyses():
        lines += [*analysis.read_text().splitlines(), ""]
    lines += ["## Profiles (cProfile, top functions by own time)", "", *profiles()]
    target = ROOT / "docs" / "benchmarks.md"
    target.write_text("\n".join(lines).rstrip() + "\n")
    return target
