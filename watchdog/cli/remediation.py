"""Operator commands on remediations: list, reset a quarantine, run one by hand.

They work on the daemon's state database directly (WAL lets both write), and an
operator-initiated run goes through the same policy, ledger and journal as the daemon's.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry

from watchdog.cli.state import existing_state
from watchdog.common.clock import SystemClock
from watchdog.common.errors import unknown_name
from watchdog.common.secrets import scrub
from watchdog.pipeline.engine import PipelineEngine
from watchdog.pipeline.incidents import IncidentBook
from watchdog.pipeline.observation import Observation, Status, unknown
from watchdog.pipeline.probe import ProbeRegistry, Resources
from watchdog.pipeline.scheduler import gather_once
from watchdog.remediation.contract import RemediationRegistry, Trigger
from watchdog.remediation.journal import Entry, Ledger
from watchdog.remediation.runtime import Remediator, budget_rows, build_remediations
from watchdog.runtime.config import Config
from watchdog.runtime.metrics import Metrics


def ledger_of(config: Config) -> Ledger:
    store = existing_state(config)
    return Ledger(store, config.watchdog.audit_file or config.watchdog.state_dir / "audit.jsonl")


def action_types() -> RemediationRegistry:
    return RemediationRegistry.from_entry_points()


def remediation_rows(config: Config) -> list[dict[str, Any]]:
    """Every configured remediation, in config order: those `off` (never built) and those
    that could not be built too, with their last journaled decision."""
    ledger = ledger_of(config)
    resources = Resources(config.watchdog, ledger.store, SystemClock())
    built = build_remediations(config, resources, action_types(), lambda _: None)
    rows = {row["remediation"]: row for row in budget_rows(ledger, built,
                                                           resources.clock.time())}
    return [rows.get(name) or _unbuilt_row(ledger, name, spec.common.mode)
            for name, spec in config.remediations.items()]


def _unbuilt_row(ledger: Ledger, name: str, mode: str) -> dict[str, Any]:
    last = ledger.last_outcome(name) or {}
    why = "off: never acts" if mode == "off" else "could not be built (see the log)"
    return {"remediation": name, "mode": mode, "target": None, "budget": None,
            "budget_per": None, "attempts": 0, "quarantined": False, "not_built": why,
            "last": last.get("decision"), "last_reason": last.get("reason"),
            "last_action": last.get("action_id")}


def remediation_line(row: dict[str, Any]) -> str:
    """One line of `remediations`: name, mode, target, budget (or why it never acts), last."""
    if row.get("not_built"):
        state = str(row["not_built"])
    elif row["quarantined"]:
        state = "QUARANTINED"
    else:
        state = f"budget used {row['budget']}"
        if row["budget_per"] == "incident":
            state += f" per incident ({row['attempts']} in the window)"
    action = f" (action #{row['last_action']})" if row.get("last_action") else ""
    return f"{row['remediation']:28} {row['mode']:8} {row['target'] or '-':24} {state:18} " \
           f"{row['last'] or '-'}{action}: {scrub(str(row['last_reason'] or ''))}"


def reset_target(config: Config, target: str, where: object) -> bool:
    """Lift `target`'s quarantine; UsageError listing the known targets for another name."""
    ledger = ledger_of(config)
    known = known_targets(config, ledger)
    if target not in known:
        raise unknown_name("remediation target", target, known, where)
    now = SystemClock().time()
    lifted = ledger.reset(target, now)
    ledger.journal(Entry(at=now, remediation="-", target=target, mode="operator",
                         decision="reset", reason="operator ran `runbook-watchdog reset`"))
    return lifted


def known_targets(config: Config, ledger: Ledger) -> set[str]:
    """Targets of the configured remediations, and any the ledger has acted on or holds."""
    resources = Resources(config.watchdog, ledger.store, SystemClock())
    built = build_remediations(config, resources, action_types(), lambda _: None)
    seen = ledger.store.query("SELECT DISTINCT target FROM remediation_actions")
    return {r.target for r in built} | set(ledger.quarantined()) | {r["target"] for r in seen}


async def remediate(config: Config, name: str, *, execute: bool) -> str:
    """Run remediation `name` once through the full policy; returns the outcome line."""
    ledger, clock = ledger_of(config), SystemClock()
    metrics = Metrics(CollectorRegistry())
    engine = PipelineEngine(config, IncidentBook(ledger.store), metrics, clock.time)
    resources = Resources(config.watchdog, ledger.store, clock)
    probes = ProbeRegistry.from_entry_points()

    async def passed(probe: str, since: float) -> bool:
        return (await _run_probe(config, resources, probes, probe)).status is Status.OK

    try:
        built = build_remediations(config, resources, action_types(), engine.last_observation)
        remediator = Remediator(config, engine, ledger, metrics, built, passed, clock)
        trigger = await _operator_trigger(config, resources, probes, name, clock.time())
        return await remediator.operator_run(name, execute, trigger)
    finally:
        await resources.aclose()


async def _operator_trigger(config: Config, resources: Resources, probes: ProbeRegistry,
                            name: str, now: float) -> Trigger:
    on = config.remediations[name].common.on
    probe = on[0].partition(":")[0] if on else ""
    obs = await _run_probe(config, resources, probes, probe) if probe else \
        unknown("operator", "started by an operator")
    return Trigger(probe, obs.cause, obs, None, now, operator=True)


async def _run_probe(config: Config, resources: Resources, probes: ProbeRegistry,
                     probe: str) -> Observation:
    from watchdog.runtime.daemon import build_jobs, close_jobs

    jobs = build_jobs(config, resources, probes, only=probe)
    try:
        [obs] = await gather_once(jobs, resources.clock, config.watchdog.deadline_grace)
    finally:
        await close_jobs(jobs)
    return obs
