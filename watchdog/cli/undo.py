"""`runbook-watchdog undo ACTION-ID`: put back what an executed remediation changed.

The action id is the journal's (`remediations` shows the last one per remediation as
"action #N"; every journal line carries it as `action_id`). The action is built from the
current config, whatever its mode, and its `undo(plan)` (the optional method of the
remediation contract, watchdog/remediation/contract.py) gets the plan journaled for that
action. Refused, exit 1: an id not in the state, an action that was not executed (a
dry-run "would", one still in flight), one already undone, a remediation no longer
configured, a type without undo, the kill switch on, another action in flight on the
target. The undo, its refusal or its failure is journaled as its own entry (scrubbed).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from dataclasses import dataclass
from pathlib import Path

from watchdog.cli.remediation import action_types, ledger_of
from watchdog.common.clock import SystemClock
from watchdog.common.secrets import SCRUBBER, scrub
from watchdog.pipeline.probe import Resources
from watchdog.remediation.contract import Action, ActionFailed, ActionRefused, Plan
from watchdog.remediation.journal import ActionRow, Entry, Ledger
from watchdog.remediation.runtime import EXECUTE_TIMEOUT, build_action, kill_switch_on
from watchdog.runtime.config import Config, load_config

EXECUTED = ("succeeded", "failed")  # states of an action whose execute ran (or was cut short)
NOT_EXECUTED = {"would_act": "was a dry run: it changed nothing, so there is nothing to undo",
                "executing": "is still in flight", "verifying": "is still in flight"}


class Refusal(Exception):
    """Undo will not run; the message says why (exit 1). `row`: the action, when found."""

    def __init__(self, why: str, row: ActionRow | None = None) -> None:
        super().__init__(why)
        self.row = row


@dataclass(frozen=True)
class Undo:
    config: Config
    ledger: Ledger
    row: ActionRow

    @property
    def plan(self) -> Plan:
        return Plan(self.row.target, str(self.row.plan.get("summary", "")),
                    self.row.plan.get("detail", {}))

    def journal(self, decision: str, reason: str) -> None:
        self.ledger.journal(Entry(
            at=SystemClock().time(), remediation=self.row.remediation, target=self.row.target,
            mode="operator", decision=decision, reason=reason, probe=self.row.probe,
            incident_id=self.row.incident_id, action_id=self.row.id,
            detail={"undo_of": self.row.id, "summary": self.plan.summary}))


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser],
                common: argparse.ArgumentParser) -> None:
    undo = sub.add_parser("undo", parents=[common],
                          help="undo an executed remediation by its action id")
    undo.add_argument("action_id", type=int, metavar="ACTION-ID")


def cmd_undo(args: argparse.Namespace, path: Path) -> int:
    config = load_config(path)
    SCRUBBER.register(config.secrets)
    ledger = ledger_of(config)
    try:
        undo = Undo(config, ledger, _undoable_row(config, ledger, args.action_id))
    except Refusal as exc:
        if exc.row is not None:
            Undo(config, ledger, exc.row).journal("undo_refused", str(exc))
        sys.stderr.write(f"runbook-watchdog: {scrub(str(exc))}\n")
        return 1
    ok, line = asyncio.run(_run(undo))
    (sys.stdout if ok else sys.stderr).write(f"{'' if ok else 'runbook-watchdog: '}{line}\n")
    return 0 if ok else 1


def _undoable_row(config: Config, ledger: Ledger, action_id: int) -> ActionRow:
    row = ledger.action(action_id)
    if row is None:
        raise Refusal(f"no action #{action_id} in the state")
    why = _why_not(config, ledger, row)
    if why is not None:
        raise Refusal(f"action #{row.id} ({row.remediation}: {row.plan.get('summary', '')})"
                      f"{why}", row)
    return row


def _why_not(config: Config, ledger: Ledger, row: ActionRow) -> str | None:
    """Why action `row` cannot be undone now (its tail of a sentence), or None."""
    if row.state not in EXECUTED:
        return f" {NOT_EXECUTED.get(row.state, f'is {row.state}')}"
    if (earlier := ledger.undone(row.id)) is not None:
        return f" was already undone: {earlier['reason']}"
    if row.remediation not in config.remediations:
        return f": remediation {row.remediation} is no longer in {config.path}"
    if kill_switch_on(config):
        return ": remediation is disabled (kill switch or remediation_enabled: false); " \
               "undo changes the host too"
    if ledger.in_flight(row.target):
        return f": another action is in flight on {row.target}"
    return None


async def _run(undo: Undo) -> tuple[bool, str]:
    """(undone?, the line to print); every outcome is journaled."""
    resources = Resources(undo.config.watchdog, undo.ledger.store, SystemClock())
    try:
        action = build_action(undo.config, resources, action_types(), undo.row.remediation,
                              lambda _: None)
    except Exception as exc:
        await resources.aclose()
        return _refused(undo, f"the action could not be built: {type(exc).__name__}: {exc}")
    try:
        return await _call(undo, action)
    finally:
        if (close := getattr(action, "aclose", None)) is not None:
            await close()
        await resources.aclose()


async def _call(undo: Undo, action: Action) -> tuple[bool, str]:
    method = getattr(action, "undo", None)
    if method is None:
        kind = undo.config.remediations[undo.row.remediation].common.type
        return _refused(undo, f"remediation type {kind} has no undo")
    try:
        async with asyncio.timeout(EXECUTE_TIMEOUT):
            line = str(await method(undo.plan))
    except ActionRefused as exc:
        return _refused(undo, str(exc))
    except ActionFailed as exc:
        return _failed(undo, str(exc))
    except TimeoutError:
        return _failed(undo, f"did not finish within {EXECUTE_TIMEOUT:g}s")
    undo.journal("undone", line)
    return True, f"action #{undo.row.id} undone: {scrub(line)}"


def _refused(undo: Undo, why: str) -> tuple[bool, str]:
    undo.journal("undo_refused", why)
    return False, f"action #{undo.row.id} not undone: {scrub(why)}"


def _failed(undo: Undo, why: str) -> tuple[bool, str]:
    undo.journal("undo_failed", why)
    return False, f"undo of action #{undo.row.id} failed: {scrub(why)}"
