"""The remediation runtime: trigger -> policy gates -> plan -> journal -> execute -> verify.

Subscribes to the engine's results. For each configured remediation whose trigger holds
it gathers a `Situation`, asks the pure policy (`policy.decide`), and journals what
happened whatever it was. Success is reported only after verification; a failed
verification or a tripped budget escalates the incident instead of repeating blindly.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from watchdog.classifier import Transition
from watchdog.clock import Clock
from watchdog.config import Config, RemediationSpec
from watchdog.engine import Engine, ResultEvent
from watchdog.journal import Entry, Ledger
from watchdog.metrics import Metrics
from watchdog.observation import Status, unknown
from watchdog.policy import Decision, Situation, decide
from watchdog.probe import Resources
from watchdog.remediation import Action, ActionContext, ActionRefused, Plan, Trigger
from watchdog.secrets import scrub

log = logging.getLogger(__name__)
VERIFY_POLL = 1.0
EXECUTE_TIMEOUT = 300.0

# probe name, wall-clock time -> has the probe passed since then?
ProbeCheck = Callable[[str, float], Awaitable[bool]]


@dataclass(frozen=True)
class Remediation:
    """A configured remediation with its built action."""

    spec: RemediationSpec
    action: Action
    target: str

    @property
    def name(self) -> str:
        return self.spec.name

    def matches(self, probe: str, cause: str) -> bool:
        on = self.spec.common.on
        return not on or probe in on or f"{probe}:{cause}" in on


def build_remediations(config: Config, resources: Resources, types: Mapping[str, Any],
                       last: Callable[[str], Any]) -> list[Remediation]:
    built = []
    for name, spec in config.remediations.items():
        if spec.common.mode == "off":
            continue
        params = {probe: p.params for probe, p in config.probes.items()}
        ctx = ActionContext(name, resources, last, probe_params=params)
        try:
            action = types[spec.common.type](spec.params, ctx)
        except Exception as exc:
            # A remediation that cannot be built never acts; the rest still do.
            log.error("remediation %s disabled: %s", name, scrub(f"{type(exc).__name__}: {exc}"))
            continue
        built.append(Remediation(spec, action, str(getattr(action, "target", name))))
    return built


class Remediator:
    def __init__(self, config: Config, engine: Engine, ledger: Ledger, metrics: Metrics,
                 remediations: list[Remediation], probe_passed: ProbeCheck,
                 clock: Clock) -> None:
        self.config = config
        self.engine = engine
        self.ledger = ledger
        self.metrics = metrics
        self.remediations = remediations
        self.probe_passed = probe_passed
        self.time = clock
        self.clock = clock.time
        self.in_maintenance: Callable[[str], bool] = lambda probe: False
        # The two-replica action lease (watchdog/lease.py): without it, automatic runs are
        # dry-run only. A single replica always holds it.
        self.may_act: Callable[[], bool] = lambda: True
        self.tasks: set[asyncio.Task[None]] = set()
        self._deciding: set[str] = set()
        self._last_skip: dict[str, str] = {}

    # -- entry points ------------------------------------------------------------------------
    def on_event(self, event: ResultEvent) -> None:
        """Engine subscriber: consider every remediation this result may trigger."""
        for rem in self.remediations:
            trigger = self._trigger(rem, event)
            if trigger is not None and rem.name not in self._deciding:
                self._spawn(rem, self._handle(rem, trigger, operator_execute=None))

    def _trigger(self, rem: Remediation, event: ResultEvent) -> Trigger | None:
        obs = event.observation
        if obs.status is not Status.FAILED or not rem.matches(event.probe, obs.cause):
            return None  # UNKNOWN never triggers an action
        if getattr(rem.action, "fires_on", "failing") == "open":
            if event.change is None or event.change.transition is not Transition.OPEN:
                return None
        elif event.verdict.track.failures < rem.spec.common.after:
            return None
        incident = event.change.incident.id if event.change else self._incident_of(event.probe)
        return Trigger(event.probe, obs.cause, obs, incident, event.at)

    def _incident_of(self, probe: str) -> int | None:
        for incident in self.engine.book.open_incidents():
            if incident.probe == probe:
                return incident.id
        return None

    def _spawn(self, rem: Remediation, work: Awaitable[Any]) -> None:
        self._deciding.add(rem.name)

        async def run() -> None:
            try:
                await work
            except Exception:
                log.exception("remediation %s failed unexpectedly", rem.name)
            finally:
                self._deciding.discard(rem.name)

        task = asyncio.ensure_future(run())
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def operator_run(self, name: str, execute: bool, trigger: Trigger) -> str:
        """`runbook-watchdog remediate NAME`: the same policy, started by a person."""
        rem = next(r for r in self.remediations if r.name == name)
        return await self._handle(rem, trigger, operator_execute=execute)

    # -- the decision ------------------------------------------------------------------------
    async def _handle(self, rem: Remediation, trigger: Trigger,
                      operator_execute: bool | None) -> str:
        dry_run = not operator_execute if operator_execute is not None \
            else rem.spec.common.mode != "auto" or not self.may_act()
        mode = "operator" if operator_execute is not None else rem.spec.common.mode
        decision = decide(self.situation(rem, trigger, dry_run))
        if not decision.act:
            self._skipped(rem, trigger, mode, decision, dry_run)
            return f"skipped: {decision.why}"
        self._last_skip.pop(rem.name, None)
        try:
            plan = await rem.action.plan(trigger)
        except ActionRefused as exc:
            self._record(rem, trigger, mode, "refused", str(exc))
            return f"refused: {exc}"
        if dry_run:
            return self._would_act(rem, trigger, mode, plan)
        return await self._act(rem, trigger, mode, plan)

    def situation(self, rem: Remediation, trigger: Trigger, dry_run: bool) -> Situation:
        c, s, now = rem.spec.common, self.config.watchdog, self.clock()
        attempts = self.ledger.attempts(rem.target, now - c.budget.within, dry_run)
        consecutive = _since_success(attempts)
        return Situation(
            now=now, kill_switch=kill_switch_on(self.config),
            quarantined=self.ledger.is_quarantined(rem.target),
            in_flight=self.ledger.in_flight(rem.target),
            failing_dependencies=self._failing_dependencies(trigger.probe),
            in_maintenance=self.in_maintenance(trigger.probe),
            act_in_maintenance=c.in_maintenance, attempts_in_window=len(attempts),
            budget=c.budget.attempts,
            last_attempt_at=attempts[-1]["started_at"] if attempts else None,
            consecutive_attempts=consecutive, backoff=c.backoff,
            target_started_at=_started_at(trigger), start_period=c.start_period,
            actions_in_window=self.ledger.actions_since(now - s.max_actions.within, dry_run),
            max_actions=s.max_actions.count,
            failing_probes=len(self.engine.failing_probes()),
            storm_failing_probes=s.storm_failing_probes)

    def _failing_dependencies(self, probe: str) -> tuple[str, ...]:
        spec = self.config.probes.get(probe)
        if spec is None:
            return ()
        failing = set(self.engine.failing_probes())
        for dep in spec.common.depends_on:
            last = self.engine.last_observation(dep)
            if last is not None and last.status is Status.FAILED:
                failing.add(dep)
        return tuple(d for d in spec.common.depends_on if d in failing)

    def _skipped(self, rem: Remediation, trigger: Trigger, mode: str, decision: Decision,
                 dry_run: bool) -> None:
        gate = decision.gate or "?"
        self.metrics.remediation_skips.labels(remediation=rem.name, gate=gate).inc()
        if decision.quarantine and not dry_run:
            self._quarantine(rem, trigger, decision.why)
        if self._last_skip.get(rem.name) == gate:
            return  # the same reason as last cycle: counted, not journaled again
        self._last_skip[rem.name] = gate
        self.metrics.remediation_attempts.labels(remediation=rem.name, outcome="skipped").inc()
        decision_name = "would_quarantine" if decision.quarantine and dry_run else "skipped"
        self._record(rem, trigger, mode, decision_name, f"{gate}: {decision.why}")

    def _quarantine(self, rem: Remediation, trigger: Trigger, why: str) -> None:
        if not self.ledger.quarantine(rem.target, rem.name, why, self.clock()):
            return
        self.metrics.remediation_quarantined.labels(remediation=rem.name).set(1)
        self._record(rem, trigger, "auto", "quarantined", why)
        self.engine.escalate(trigger.probe, f"remediation {rem.name} quarantined "
                                            f"{rem.target}: {why}")

    def _would_act(self, rem: Remediation, trigger: Trigger, mode: str, plan: Plan) -> str:
        action_id = self.ledger.begin(rem.name, rem.target, mode, trigger.probe,
                                      trigger.incident_id, _plan_json(plan), self.clock(),
                                      state="would_act")
        self.metrics.remediation_attempts.labels(remediation=rem.name, outcome="would_act").inc()
        self._record(rem, trigger, mode, "would_act", f"would {plan.summary}",
                     action_id=action_id, detail=dict(plan.detail))
        return f"would {plan.summary}"

    async def _act(self, rem: Remediation, trigger: Trigger, mode: str, plan: Plan) -> str:
        action_id = self.ledger.begin(rem.name, rem.target, mode, trigger.probe,
                                      trigger.incident_id, _plan_json(plan), self.clock())
        if action_id is None:
            self._record(rem, trigger, mode, "skipped", "in_flight: another action started")
            return "skipped: in flight"
        self._record(rem, trigger, mode, "acted", plan.summary, action_id=action_id,
                     detail=dict(plan.detail))
        try:
            undo = await asyncio.wait_for(rem.action.execute(plan), EXECUTE_TIMEOUT)
        except Exception as exc:
            return self._failed(rem, trigger, mode, action_id, "failed",
                                f"{plan.summary} failed: {type(exc).__name__}: {exc}")
        self.ledger.mark(action_id, "verifying", self.clock(), undo=dict(undo))
        return await self._verify_and_close(rem, trigger, mode, action_id, plan)

    async def _verify_and_close(self, rem: Remediation, trigger: Trigger, mode: str,
                                action_id: int, plan: Plan) -> str:
        if await self._verified(rem, plan, since=self.clock()):
            self.ledger.mark(action_id, "succeeded", self.clock(), outcome="verified")
            self.metrics.remediation_attempts.labels(remediation=rem.name,
                                                     outcome="succeeded").inc()
            self._record(rem, trigger, mode, "succeeded", f"{plan.summary}: verified",
                         action_id=action_id)
            return f"succeeded: {plan.summary}"
        within = rem.spec.common.verify.within
        return self._failed(rem, trigger, mode, action_id, "verify_failed",
                            f"{plan.summary}: not verified within {within:g}s")

    def _failed(self, rem: Remediation, trigger: Trigger, mode: str, action_id: int,
                outcome: str, why: str) -> str:
        self.ledger.mark(action_id, "failed", self.clock(), outcome=why)
        self.metrics.remediation_attempts.labels(remediation=rem.name, outcome=outcome).inc()
        self._record(rem, trigger, mode, outcome, why, action_id=action_id)
        self.engine.escalate(trigger.probe, f"remediation {rem.name}: {why}")
        return f"{outcome}: {scrub(why)}"

    async def _verified(self, rem: Remediation, plan: Plan, since: float) -> bool:
        verify = rem.spec.common.verify
        deadline = self.clock() + verify.within
        while True:
            own = await _safe_verify(rem.action, plan)
            passed = verify.probe is None or await self.probe_passed(verify.probe, since)
            if own and passed:
                return True
            if self.clock() >= deadline:
                return False
            pause = min(VERIFY_POLL, max(0.0, deadline - self.clock()))
            await self.time.sleep_until(self.time.monotonic() + pause)

    # -- restart safety ------------------------------------------------------------------------
    def resume(self) -> None:
        """Verify actions a previous process left executing or verifying; never re-run them."""
        by_name = {r.name: r for r in self.remediations}
        for row in self.ledger.unfinished():
            rem = by_name.get(row.remediation)
            trigger = Trigger(row.probe or "", "resumed", _RESUMED, row.incident_id, self.clock())
            if rem is None:
                self.ledger.mark(row.id, "failed", self.clock(),
                                 outcome="interrupted; remediation no longer configured")
                continue
            plan = Plan(row.target, str(row.plan.get("summary", "")), row.plan.get("detail", {}))
            self._record(rem, trigger, row.mode, "resumed",
                         f"found '{plan.summary}' {row.state} after a restart: verifying, "
                         "not repeating", action_id=row.id)
            self.ledger.mark(row.id, "verifying", self.clock())
            self._spawn(rem, self._verify_and_close(rem, trigger, row.mode, row.id, plan))

    def _record(self, rem: Remediation, trigger: Trigger, mode: str, decision: str, reason: str,
                action_id: int | None = None, detail: dict[str, Any] | None = None) -> None:
        self.ledger.journal(Entry(
            at=self.clock(), remediation=rem.name, target=rem.target, mode=mode,
            decision=decision, reason=reason, probe=trigger.probe or None,
            incident_id=trigger.incident_id, action_id=action_id, detail=detail or {}))

    def status(self) -> list[dict[str, Any]]:
        """Budgets and quarantines, for /api/status (`remediations`)."""
        quarantined, now = self.ledger.quarantined(), self.clock()
        rows = []
        for rem in self.remediations:
            budget = rem.spec.common.budget
            used = len(self.ledger.attempts(rem.target, now - budget.within, False))
            last = self.ledger.last_outcome(rem.name) or {}
            rows.append({"remediation": rem.name, "mode": rem.spec.common.mode,
                         "target": rem.target, "budget": f"{used}/{budget.attempts}",
                         "quarantined": rem.target in quarantined,
                         "last": last.get("decision")})
        return rows

    def refresh_gauges(self) -> None:
        quarantined = self.ledger.quarantined()
        for rem in self.remediations:
            self.metrics.remediation_quarantined.labels(remediation=rem.name).set(
                1 if rem.target in quarantined else 0)

    async def drain(self, timeout: float) -> None:
        if self.tasks:
            await asyncio.wait(set(self.tasks), timeout=timeout)


def kill_switch_on(config: Config) -> bool:
    s = config.watchdog
    return not s.remediation_enabled or (s.kill_switch is not None and s.kill_switch.exists())


async def _safe_verify(action: Action, plan: Plan) -> bool:
    try:
        return bool(await action.verify(plan))
    except Exception as exc:
        log.info("verification of %r not yet passing: %s", plan.summary, scrub(str(exc)))
        return False


def _since_success(attempts: list[dict[str, Any]]) -> int:
    count = 0
    for attempt in attempts:
        count = 0 if attempt["state"] == "succeeded" else count + 1
    return count


def _started_at(trigger: Trigger) -> float | None:
    value = trigger.observation.details.get("started_at")
    return float(value) if isinstance(value, int | float) else None


def _plan_json(plan: Plan) -> dict[str, Any]:
    return {"summary": plan.summary, "detail": dict(plan.detail)}


_RESUMED = unknown("resumed", "verifying an action found unfinished after a restart")
