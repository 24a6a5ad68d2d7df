"""The remediation policy at work: one runtime, its ledger and journal, on a manual clock.

The action here is a recording fake (`RecordingAction`, in tests/remediation_world.py):
these tests are about the policy, which is the same for every action; each real action is
tested against its real peer in its own module.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from tests.remediation_world import (
    BASE,
    DOWN,
    HUNG,
    UP,
    RecordingAction,
    World,
    make_world,
    world_settings,
)
from watchdog.common.clock import settle


def play(coro: Any) -> Any:
    return asyncio.run(coro)


def test_auto_acts_after_the_trigger_held_and_reports_success_only_after_verify(
        tmp_path: Path) -> None:
    async def go() -> World:
        w = make_world(tmp_path)
        await w.observe("backend", DOWN)
        assert w.action.executed == []  # after: 2
        await w.observe("backend", DOWN)
        return w

    w = play(go())
    assert [p.summary for p in w.action.executed] == ["restart nickapp-backend"]
    assert w.decisions() == ["acted", "succeeded"]
    assert w.outcome("restart-backend", "succeeded") == 1.0
    audit = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]
    assert [a["decision"] for a in audit] == ["acted", "succeeded"]
    assert audit[0]["probe"] == "backend" and audit[0]["incident_id"] == 1


def test_dry_run_journals_what_it_would_do_and_does_nothing(tmp_path: Path) -> None:
    async def go() -> World:
        w = make_world(tmp_path, mode="dry-run")
        for _ in range(3):
            await w.observe("backend", DOWN)
        return w

    w = play(go())
    assert w.action.executed == []
    entries = w.ledger.entries()
    assert entries[0]["decision"] == "would_act"
    assert entries[0]["reason"] == "would restart nickapp-backend"
    assert w.outcome("restart-backend", "would_act") >= 1


def test_a_broken_fix_is_tried_within_budget_then_quarantined_and_escalated(
        tmp_path: Path) -> None:
    """Four simulated hours of failure: three attempts, one quarantine, no loop."""

    async def long_outage() -> World:
        w = make_world(tmp_path, extra="    verify_ok: false\n")
        for _ in range(4 * 60 * 4):  # 4 h of 15 s cycles
            await w.observe("backend", DOWN)
        return w

    w = play(long_outage())
    assert len(w.action.executed) == 3
    decisions = w.decisions()
    assert decisions.count("verify_failed") == 3
    assert decisions.count("quarantined") == 1
    assert w.ledger.is_quarantined("nickapp-backend")
    [incident] = w.engine.book.open_incidents()
    # sev2 -> sev1 by the first failed verification (then it stays at the top)
    assert incident.severity == "sev1"
    kinds = [e["kind"] for e in w.engine.book.events(incident.id)]
    assert "escalate" in kinds
    assert w.metrics.registry.get_sample_value(
        "runbook_watchdog_remediation_quarantined", {"remediation": "restart-backend"}) == 1.0

    # an operator resets the target: the budget refills and the policy may act again
    assert w.ledger.reset("nickapp-backend", w.clock.time())

    async def after_reset() -> int:
        w.remediator = w.new_remediator()
        await w.observe("backend", DOWN)
        return len(w.action.executed)

    assert play(after_reset()) == 1


def test_backoff_spaces_attempts_and_a_success_counts_against_the_budget(tmp_path: Path) -> None:
    async def go() -> World:
        w = make_world(tmp_path)
        for _ in range(20):  # failing on and on, though each fix "succeeds"
            await w.observe("backend", DOWN, then=5.0)
        return w

    w = play(go())
    assert len(w.action.executed) == 3  # healed 3 times in 30 min: the 4th is refused
    assert w.ledger.is_quarantined("nickapp-backend")


def test_the_kill_switch_stops_every_action_and_is_journaled_once(tmp_path: Path) -> None:
    async def go() -> World:
        w = make_world(tmp_path)
        w.kill.touch()
        for _ in range(6):
            await w.observe("backend", DOWN)
        return w

    w = play(go())
    assert w.action.executed == []
    assert w.decisions() == ["skipped"]
    assert w.ledger.entries()[0]["reason"].startswith("kill_switch")


def test_no_action_on_a_dependent_while_its_dependency_fails(tmp_path: Path) -> None:
    async def go() -> World:
        w = make_world(tmp_path)
        await w.observe("mongo", DOWN, then=0)
        for _ in range(3):
            await w.observe("backend", DOWN)
        return w

    w = play(go())
    assert w.action.executed == []
    assert "dependency: dependency failing: mongo" in w.ledger.entries()[0]["reason"]


def test_many_probes_failing_at_once_is_a_storm_alert_dont_act(tmp_path: Path) -> None:
    async def go() -> World:
        w = make_world(tmp_path)
        for probe in ("redis", "smtp", "sentry"):
            await w.observe(probe, DOWN, then=0)
        for _ in range(3):
            await w.observe("backend", DOWN)
        return w

    w = play(go())
    assert w.action.executed == []
    assert w.ledger.entries()[0]["reason"].startswith("storm")


def test_unknown_never_triggers_an_action(tmp_path: Path) -> None:
    async def go() -> World:
        w = make_world(tmp_path)
        await w.observe("backend", DOWN)
        for _ in range(5):
            await w.observe("backend", HUNG)
        return w

    w = play(go())
    assert w.action.executed == [] and w.decisions() == []


def test_a_refusing_action_is_journaled_as_refused(tmp_path: Path) -> None:
    (tmp_path / "x").mkdir()

    async def go() -> World:
        w = make_world(tmp_path, extra="    refuse: no previous image recorded\n")
        await w.observe("backend", DOWN)
        await w.observe("backend", DOWN)
        return w

    w = play(go())
    assert w.action.executed == []
    assert w.ledger.entries()[-1]["decision"] == "refused"
    assert w.ledger.entries()[-1]["reason"] == "no previous image recorded"


def test_an_action_found_in_flight_after_a_crash_is_verified_not_repeated(tmp_path: Path) -> None:
    async def crash_then_restart() -> World:
        w = make_world(tmp_path)
        w.ledger.begin("restart-backend", "nickapp-backend", "auto", "backend", 1,
                       {"summary": "restart nickapp-backend", "detail": {}}, w.clock.time())
        w.remediator.resume()
        await settle()
        await asyncio.gather(*w.remediator.tasks)
        return w

    w = play(crash_then_restart())
    assert w.action.executed == []
    assert w.decisions() == ["resumed", "succeeded"]
    assert w.ledger.unfinished() == []


@pytest.mark.parametrize("mode", ["auto", "dry-run"])
def test_single_flight_per_target(tmp_path: Path, mode: str) -> None:
    w = make_world(tmp_path, mode=mode)
    first = w.ledger.begin("a", "t", "auto", None, None, {}, 1.0)
    second = w.ledger.begin("b", "t", "auto", None, None, {}, 2.0)
    assert first is not None and second is None


def test_an_escalation_is_not_a_new_failure_to_act_on(tmp_path: Path) -> None:
    async def go() -> World:
        w = make_world(tmp_path)
        await w.observe("backend", DOWN)
        await w.observe("backend", DOWN)  # acts once, succeeds
        w.engine.escalate("backend", "another remediation failed")
        await settle()
        await w.finish()
        return w

    w = play(go())
    assert len(w.action.executed) == 1
    assert w.decisions() == ["acted", "succeeded"]


def errors(w: World, call: str, remediation: str = "restart-backend") -> float:
    return w.metrics.registry.get_sample_value(
        "runbook_watchdog_remediation_errors_total",
        {"remediation": remediation, "call": call}) or 0.0


OTHER = """\
  restart-other:
    type: recording
    mode: auto
    on: [backend]
    after: 2
    target: other-container
    verify: {within: 3s}
    start_period: 0s
"""


def test_a_plan_that_raises_outside_the_contract_is_journaled_counted_and_the_loop_goes_on(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    async def go() -> World:
        w = make_world(tmp_path, extra="    raise_in: plan\n" + OTHER)
        for _ in range(4):
            await w.observe("backend", DOWN)
        await w.finish()
        return w

    w = play(go())
    crashed = [e for e in w.ledger.entries() if e["decision"] == "crashed"]
    # journaled once while the same crash repeats, counted every time, secret scrubbed
    assert len(crashed) == 1
    assert crashed[0]["remediation"] == "restart-backend"
    assert crashed[0]["reason"] == "plan() raised KeyError: 'redis://:***@cache:6379 in plan'"
    assert "hunter2" not in (tmp_path / "audit.jsonl").read_text()
    assert errors(w, "plan") == 3.0  # cycles 2, 3 and 4 (after: 2)
    assert "failed unexpectedly" not in caplog.text
    # the other remediation on the same trigger acted as if nothing had happened
    other = w.remediator.remediations[1].action.executed
    assert other and {p.target for p in other} == {"other-container"}
    assert w.action.executed == []


def test_an_execute_that_raises_outside_the_contract_fails_the_attempt_and_is_counted(
        tmp_path: Path) -> None:
    async def go() -> World:
        w = make_world(tmp_path, extra="    raise_in: execute\n")
        await w.observe("backend", DOWN)
        await w.observe("backend", DOWN)
        await w.finish()
        return w

    w = play(go())
    assert w.decisions() == ["acted", "failed"]
    reason = w.ledger.entries()[-1]["reason"]
    assert reason == ("restart nickapp-backend failed: "
                      "execute() raised KeyError: 'redis://:***@cache:6379 in execute'")
    assert errors(w, "execute") == 1.0
    assert w.outcome("restart-backend", "failed") == 1.0
    assert w.ledger.unfinished() == []
    [incident] = w.engine.book.open_incidents()
    assert "escalate" in [e["kind"] for e in w.engine.book.events(incident.id)]


def test_a_verify_that_raises_outside_the_contract_is_journaled_once_and_not_verified(
        tmp_path: Path) -> None:
    async def go() -> World:
        w = make_world(tmp_path, extra="    raise_in: verify\n")
        await w.observe("backend", DOWN)
        await w.observe("backend", DOWN)
        await w.finish()
        return w

    w = play(go())
    assert w.decisions() == ["acted", "crashed", "verify_failed"]
    crashed = w.ledger.entries()[1]
    assert crashed["reason"] == ("verify() raised KeyError: 'redis://:***@cache:6379 in "
                                 "verify' (counted as not verified yet)")
    assert crashed["action_id"] is not None
    assert errors(w, "verify") >= 2.0  # every poll within verify.within counts


def test_verify_passes_wants_that_many_consecutive_new_passes_of_the_probe(
        tmp_path: Path) -> None:
    """Runbook §3.8: "two health checks pass". A failed check in between starts again."""
    text = world_settings(tmp_path) + BASE.format(mode="auto").replace(
        "verify: {within: 3s}", "verify: {probe: backend, within: 5m, passes: 2}")
    seen: list[list[str]] = []

    async def go() -> World:
        w = World(tmp_path, text, {"recording": RecordingAction})
        for obs in (DOWN, DOWN, UP, DOWN, UP, UP):
            await w.observe("backend", obs)
            seen.append([d for d in w.decisions() if d in ("acted", "succeeded")])
        await w.finish()
        return w

    w = play(go())
    assert seen == [[], ["acted"], ["acted"], ["acted"], ["acted"], ["acted", "succeeded"]]
    assert len(w.action.executed) == 1
