"""The remediation runtime: trigger -> policy gates -> plan -> journal -> execute -> verify.

Subscribes to the engine's results. For each configured remediation whose trigger holds
it gathers a `Situation`, asks the pure policy (`policy.decide`), and journals what
happened whatever it was. Success is reported only after verification; a failed
verification or a tripped budget escalates the incident instead of repeating blindly.
Two exceptions never change an incident's severity, they are journaled and reported on
the incident once: a safe action that fails (evidence capture), and an action the
service's sandbox does not permit ("refused: not permitted by the service's sandbox").

One error boundary, like the scheduler's for probes: an action's `plan`, `execute` or
`verify` raising anything but the contract's `ActionRefused`/`ActionFailed` is a bug in
the action, not a decision. It is journaled (decision `crashed`, the message scrubbed),
counted in `remediation_errors` and logged with its traceback; the runtime goes on.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from watchdog.common.clock import Clock
from watchdog.common.secrets import scrub
from watchdog.pipeline.classifier import Transition
from watchdog.pipeline.engine import PipelineEngine, ResultEvent
from watchdog.pipeline.observation import Observation, Status, unknown
from watchdog.pipeline.probe import Resources
from watchdog.remediation.contract import (
    Action,
    ActionContext,
    ActionFailed,
    ActionRefused,
    ActionType,
    Plan,
    Trigger,
    is_safe,
)
from watchdog.remediation.journal import Entry, Ledger
from watchdog.remediation.policy import Decision, Situation, decide
from watchdog.remediation.sandbox import NotPermitted
from watchdog.remediation.targets import Symptom, about, count_targets
from watchdog.runtime.config import Config, RemediationSpec
from watchdog.runtime.metrics import Metrics

log = logging.getLogger(__name__)
VERIFY_POLL = 1.0
_FRESH = 1e-3  # a pass counted at time t needs a result from after t to count again
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

    def matches(self, probe: str, cause: str, warnings: frozenset[str]) -> bool:
        """`on: [probe]` matches the probe's outage causes, `probe:cause` that cause; no
        `on:` matches every outage. A warning (`warnings`) never triggers an action that
        changes something, only a safe one (evidence)."""
        if cause in warnings and not _is_safe(self):
            return False
        on = self.spec.common.on
        return not on or f"{probe}:{cause}" in on or (probe in on and cause not in warnings)


def build_remediations(config: Config, resources: Resources, types: Mapping[str, ActionType],
                       last: Callable[[str], Any]) -> list[Remediation]:
    built = []
    for name, spec in config.remediations.items():
        if spec.common.mode == "off":
            continue
        try:
            action = build_action(config, resources, types, name, last)
        except Exception as exc:
            # A remediation that cannot be built never acts; the rest still do.
            log.error("remediation %s disabled: %s", name, scrub(f"{type(exc).__name__}: {exc}"))
            continue
        built.append(Remediation(spec, action, str(getattr(action, "target", name))))
    return built


def build_action(config: Config, resources: Resources, types: Mapping[str, ActionType],
                 name: str, last: Callable[[str], Any]) -> Action:
    """The action of remediation `name` (whatever its mode); what its type raises, raised."""
    spec = config.remediations[name]
    params = {probe: p.params for probe, p in config.probes.items()}
    warnings = {probe: p.warnings for probe, p in config.probes.items()}
    ctx = ActionContext(name, resources, last, probe_params=params, warnings=warnings)
    return types[spec.common.type](spec.params, ctx)


@dataclass
class _Streak:
    """Consecutive passes of the verify probe counted so far, and since when to look."""

    since: float
    count: int = 0


@dataclass(frozen=True)
class Case:
    """One decision in progress: what, why, how (mode) and on what."""

    rem: Remediation
    trigger: Trigger
    mode: str  # auto, dry-run, operator
    target: str  # single-flight, budget and quarantine key
    dry_run: bool


class Remediator:
    def __init__(self, config: Config, engine: PipelineEngine, ledger: Ledger, metrics: Metrics,
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
        # The two-replica action lease (lease.py): without it, automatic runs are dry-run
        # only. A single replica always holds it.
        self.may_act: Callable[[], bool] = lambda: True
        # (incident id, what happened): posts an update on the incident (the notification
        # stage's post_update) for what must reach a person without escalating it.
        self.report: Callable[[int, str], None] = lambda incident_id, change: None
        # Runs a probe now, bounded by its timeout (the daemon's scheduler jobs): before a
        # non-safe action its dependencies are re-checked, not read from their last run.
        # None: the probe is not scheduled (nothing to re-check). Without a scheduler (tests
        # of the policy alone) it reads the last result.
        self.probe_now: Callable[[str], Awaitable[Observation | None]] = self._last_result
        self._reported: set[tuple[str, int | None, str]] = set()
        # Remediations whose write the sandbox refused: not tried again by this process
        # (the grants change only with a restart, which builds a new Remediator).
        self._denied: dict[str, NotPermitted] = {}
        self.tasks: set[asyncio.Task[None]] = set()
        self._deciding: set[str] = set()
        self._last_skip: dict[str, str] = {}
        self._last_refusal: dict[str, str] = {}
        self._outage_runs: dict[str, int] = {}  # probe -> consecutive outage runs
        # Safe actions (evidence) neither count towards nor are held by the blast radius.
        self._safe_names = tuple(r.name for r in remediations if _is_safe(r))

    # -- entry points ------------------------------------------------------------------------
    def on_event(self, event: ResultEvent) -> None:
        """PipelineEngine subscriber: consider every remediation this result may trigger."""
        if not event.escalation:
            self._count_outage(event)
        for rem in self.remediations:
            trigger = self._trigger(rem, event)
            if trigger is None:
                continue
            # One decision at a time per remediation; actions fired by an incident opening
            # decide per incident, so two incidents opening together both get theirs.
            key = f"{rem.name}#{trigger.incident_id}" if _fires_on_open(rem) else rem.name
            if key not in self._deciding:
                self._spawn(key, self._handle(rem, trigger, operator_execute=None))

    def _trigger(self, rem: Remediation, event: ResultEvent) -> Trigger | None:
        if event.escalation:
            return None  # not a new probe run: acting on it would act twice on one finding
        obs = event.observation
        warnings = self._warnings(event.probe)
        if obs.status is not Status.FAILED or not rem.matches(event.probe, obs.cause, warnings):
            return None  # UNKNOWN never triggers an action
        if _fires_on_open(rem):
            if event.change is None or event.change.transition is not Transition.OPEN:
                return None
        elif self._runs(rem, event) < rem.spec.common.after:
            return None
        incident = event.change.incident.id if event.change else self._incident_of(event.probe)
        return Trigger(event.probe, obs.cause, obs, incident, event.at)

    def _warnings(self, probe: str) -> frozenset[str]:
        spec = self.config.probes.get(probe)
        return spec.warnings if spec is not None else frozenset()

    def _count_outage(self, event: ResultEvent) -> None:
        """Consecutive outage runs per probe (a warning is none; UNKNOWN changes nothing,
        as for the classifier). Before the first result this process sees, the classifier's
        streak is trusted."""
        obs = event.observation
        if obs.status is Status.UNKNOWN:
            return
        before = self._outage_runs.get(event.probe, event.verdict.track.failures - 1)
        outage = obs.status is Status.FAILED and obs.cause not in self._warnings(event.probe)
        self._outage_runs[event.probe] = before + 1 if outage else 0

    def _runs(self, rem: Remediation, event: ResultEvent) -> int:
        """The failing runs `after` counts: for an action that changes something, outage
        runs only (ten cycles of `slow` then one `refused` is one run, not eleven)."""
        failures = event.verdict.track.failures
        return failures if _is_safe(rem) else min(failures, self._outage_runs[event.probe])

    def _incident_of(self, probe: str) -> int | None:
        for incident in self.engine.book.open_incidents():
            if incident.probe == probe:
                return incident.id
        return None

    def _spawn(self, key: str, work: Awaitable[Any]) -> None:
        self._deciding.add(key)

        async def run() -> None:
            try:
                await work
            except Exception:
                log.exception("remediation %s failed unexpectedly", key)
            finally:
                self._deciding.discard(key)

        task = asyncio.ensure_future(run())
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def operator_run(self, name: str, execute: bool, trigger: Trigger) -> str:
        """`runbook-watchdog remediate NAME`: the same policy, started by a person."""
        rem = next((r for r in self.remediations if r.name == name), None)
        if rem is None:  # off, or its action could not be built (logged when it was built)
            why = "is off" if self.config.remediations[name].common.mode == "off" \
                else "could not be built (the error is logged above)"
            return f"refused: remediation {name} {why}"
        return await self._handle(rem, trigger, operator_execute=execute)

    # -- the decision ------------------------------------------------------------------------
    def _case(self, rem: Remediation, trigger: Trigger, operator_execute: bool | None) -> Case:
        if operator_execute is not None:
            return Case(rem, trigger, "operator", _target(rem, trigger), not operator_execute)
        dry_run = rem.spec.common.mode != "auto" or not self.may_act()
        return Case(rem, trigger, rem.spec.common.mode, _target(rem, trigger), dry_run)

    async def _handle(self, rem: Remediation, trigger: Trigger,
                      operator_execute: bool | None) -> str:
        if rem.name in self._denied:  # journaled and reported when it happened
            return f"refused: {self._denied[rem.name]}"
        case = self._case(rem, trigger, operator_execute)
        situation = self.situation(case)
        decision = decide(situation)
        if decision.act and not situation.safe:
            decision = await self._recheck_dependencies(case, situation)
        if not decision.act:
            self._skipped(case, decision)
            return f"skipped: {decision.why}"
        self._last_skip.pop(rem.name, None)
        try:
            plan = await rem.action.plan(trigger)
        except ActionRefused as exc:
            if isinstance(exc, NotPermitted):
                self._report_once(case, "sandbox", f"remediation {rem.name} refused: {exc}")
            elif exc.step and case.mode != "operator":  # an operator reads it on the spot
                self._report_once(case, "refused", f"remediation {rem.name} cannot act: "
                                  f"{exc}. Do it by hand: {exc.step}")
            return self._refused(case, "refused", str(exc))
        except Exception as exc:
            return self._refused(case, "crashed", self._crashed(case, "plan", exc))
        self._last_refusal.pop(rem.name, None)
        if case.dry_run:
            return self._would_act(case, plan)
        return await self._act(case, plan)

    def _refused(self, case: Case, decision: str, why: str) -> str:
        """No plan: journaled once while the same reason repeats every cycle."""
        name, said = case.rem.name, f"{decision}: {why}"
        if self._last_refusal.get(name) != said:
            self._record(case, decision, why)
        self._last_refusal[name] = said
        return said

    def _crashed(self, case: Case, call: str, exc: BaseException) -> str:
        """The error boundary: an action call raised outside its contract. Counted and
        logged here; the caller journals the returned (scrubbed) reason."""
        why = scrub(f"{call}() raised {type(exc).__name__}: {exc}")
        log.warning("remediation %s: %s", case.rem.name, why, exc_info=exc)
        self.metrics.remediation_errors.labels(remediation=case.rem.name, call=call).inc()
        return why

    def situation(self, case: Case) -> Situation:
        rem, trigger, target = case.rem, case.trigger, case.target
        c, s, now = rem.spec.common, self.config.watchdog, self.clock()
        attempts = self.ledger.attempts(target, now - c.budget.within, case.dry_run)
        return Situation(
            now=now, kill_switch=kill_switch_on(self.config),
            quarantined=self.ledger.is_quarantined(target),
            in_flight=self.ledger.in_flight(target),
            failing_dependencies=self._failing_dependencies(trigger.probe),
            in_maintenance=self.in_maintenance(trigger.probe),
            act_in_maintenance=c.in_maintenance, attempts_in_window=len(attempts),
            budget=c.budget.attempts,
            last_attempt_at=attempts[-1]["started_at"] if attempts else None,
            consecutive_attempts=_since_success(attempts), backoff=c.backoff,
            target_started_at=_started_at(trigger), start_period=c.start_period,
            actions_in_window=self.ledger.actions_since(now - s.max_actions.within,
                                                        case.dry_run, exclude=self._safe_names),
            max_actions=s.max_actions.count,
            failing_targets=self._failing_targets(case),
            storm_failing_probes=s.storm_failing_probes, safe=_is_safe(rem))

    async def _recheck_dependencies(self, case: Case, situation: Situation) -> Decision:
        """Run the trigger's dependencies now: a stale OK (a dependency probed less often
        than its dependent) must not let a restart act while Mongo is down. A dependency
        that fails or cannot tell (UNKNOWN) now holds the action."""
        spec = self.config.probes.get(case.trigger.probe)
        deps = spec.common.depends_on if spec is not None else ()
        results = await asyncio.gather(*(self.probe_now(dep) for dep in deps))
        holding = tuple(f"{dep} (re-checked now: {obs.status.label} {obs.cause})"
                        for dep, obs in zip(deps, results, strict=True)
                        if obs is not None and obs.status is not Status.OK)
        return decide(replace(situation, failing_dependencies=holding))

    async def _last_result(self, probe: str) -> Observation | None:
        return self.engine.last_observation(probe)

    def _failing_targets(self, case: Case) -> int:
        """The storm rule's count: the symptoms of one target count once (targets.py)."""
        trigger, probes = case.trigger.probe, self.config.probes
        failing = {*self.engine.failing_probes(), trigger} & set(probes)
        symptoms = [Symptom(p, about(probes[p].params, self.engine.last_observation(p)),
                            probes[p].common.depends_on) for p in failing]
        return count_targets(symptoms, trigger, case.rem.target)

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

    def _skipped(self, case: Case, decision: Decision) -> None:
        gate, name = decision.gate or "?", case.rem.name
        self.metrics.remediation_skips.labels(remediation=name, gate=gate).inc()
        if decision.quarantine and not case.dry_run:
            self._quarantine(case, decision.why)
        if self._last_skip.get(name) == gate:
            return  # the same reason as last cycle: counted, not journaled again
        self._last_skip[name] = gate
        self.metrics.remediation_attempts.labels(remediation=name, outcome="skipped").inc()
        decision_name = "would_quarantine" if decision.quarantine and case.dry_run else "skipped"
        self._record(case, decision_name, f"{gate}: {decision.why}")

    def _quarantine(self, case: Case, why: str) -> None:
        if not self.ledger.quarantine(case.target, case.rem.name, why, self.clock()):
            return
        self.metrics.remediation_quarantined.labels(remediation=case.rem.name).set(1)
        self._record(case, "quarantined", why)
        what = f"remediation {case.rem.name} quarantined {case.target}: {why}"
        if _is_safe(case.rem):
            self._report_once(case, "quarantined", what)
        else:
            self.engine.escalate(case.trigger.probe, what)

    def _begin(self, case: Case, plan: Plan, state: str) -> int | None:
        return self.ledger.begin(case.rem.name, case.target, case.mode, case.trigger.probe,
                                 case.trigger.incident_id, _plan_json(plan), self.clock(),
                                 state=state)

    def _would_act(self, case: Case, plan: Plan) -> str:
        action_id = self._begin(case, plan, "would_act")
        self._count(case, "would_act")
        self._record(case, "would_act", f"would {plan.summary}", action_id=action_id,
                     detail=dict(plan.detail))
        return f"would {plan.summary}"

    async def _act(self, case: Case, plan: Plan) -> str:
        action_id = self._begin(case, plan, "executing")
        if action_id is None:
            self._record(case, "skipped", "in_flight: another action started")
            return "skipped: in flight"
        self._record(case, "acted", plan.summary, action_id=action_id, detail=dict(plan.detail))
        bound = asyncio.timeout(EXECUTE_TIMEOUT)
        try:
            async with bound:
                undo = await case.rem.action.execute(plan)
        except NotPermitted as exc:
            return self._not_permitted(case, action_id, exc)
        except ActionFailed as exc:
            return self._failed(case, action_id, "failed",
                                f"{plan.summary} failed: {type(exc).__name__}: {exc}")
        except Exception as exc:
            if bound.expired():
                why = f"did not finish within {EXECUTE_TIMEOUT:g}s"
            else:
                why = self._crashed(case, "execute", exc)
            return self._failed(case, action_id, "failed", f"{plan.summary} failed: {why}")
        self.ledger.mark(action_id, "verifying", self.clock(), undo=dict(undo))
        return await self._verify_and_close(case, action_id, plan)

    async def _verify_and_close(self, case: Case, action_id: int, plan: Plan) -> str:
        if await self._verified(case, action_id, plan, since=self.clock()):
            self.ledger.mark(action_id, "succeeded", self.clock(), outcome="verified")
            self._count(case, "succeeded")
            self._record(case, "succeeded", f"{plan.summary}: verified", action_id=action_id)
            return f"succeeded: {plan.summary}"
        within = case.rem.spec.common.verify.within
        return self._failed(case, action_id, "verify_failed",
                            f"{plan.summary}: not verified within {within:g}s")

    def _failed(self, case: Case, action_id: int, outcome: str, why: str) -> str:
        self.ledger.mark(action_id, "failed", self.clock(), outcome=why)
        self._count(case, outcome)
        self._record(case, outcome, why, action_id=action_id)
        if _is_safe(case.rem):  # evidence missing is news, not a worse incident
            self._report_once(case, outcome, f"remediation {case.rem.name}: {why}")
        else:
            self.engine.escalate(case.trigger.probe, f"remediation {case.rem.name}: {why}")
        return f"{outcome}: {scrub(why)}"

    def _not_permitted(self, case: Case, action_id: int, exc: NotPermitted) -> str:
        """The write failed on the sandbox's read-only or denied path: a refusal."""
        self.ledger.mark(action_id, "failed", self.clock(), outcome=f"refused: {exc}")
        self._denied[case.rem.name] = exc
        self._count(case, "refused")
        said = f"refused: {exc}"
        if self._last_refusal.get(case.rem.name) != said:
            self._record(case, "refused", str(exc), action_id=action_id)
        self._last_refusal[case.rem.name] = said
        self._report_once(case, "sandbox", f"remediation {case.rem.name} refused: {exc}")
        return f"refused: {exc}"

    def _report_once(self, case: Case, kind: str, change: str) -> None:
        """Post `change` on the trigger's incident, once per remediation, incident and kind."""
        incident = case.trigger.incident_id
        key = (case.rem.name, incident, kind)
        if incident is None or key in self._reported:
            return
        self._reported.add(key)
        log.error("incident %d: %s", incident, scrub(change))
        self.report(incident, change)

    async def _verified(self, case: Case, action_id: int, plan: Plan, since: float) -> bool:
        verify = case.rem.spec.common.verify
        deadline = self.clock() + verify.within
        crashes: set[str] = set()  # each distinct crash is journaled once per verification
        streak = _Streak(since)
        while True:
            own = await self._verify_once(case, action_id, plan, crashes)
            if own and await self._probe_streak(verify.probe, streak) >= verify.passes:
                return True
            if self.clock() >= deadline:
                return False
            pause = min(VERIFY_POLL, max(0.0, deadline - self.clock()))
            await self.time.sleep_until(self.time.monotonic() + pause)

    async def _probe_streak(self, probe: str | None, streak: _Streak) -> int:
        """How many times in a row `probe` has passed since the action, each on a result
        newer than the last one counted (runbook §3.8: "two health checks pass")."""
        if probe is None:
            return sys.maxsize
        latest = self.engine.last_observation(probe)
        if latest is not None and not latest.ok:
            streak.count = 0  # a failed check breaks the run
        if await self.probe_passed(probe, streak.since):
            streak.count += 1
            streak.since = self.clock() + _FRESH
        return streak.count

    async def _verify_once(self, case: Case, action_id: int, plan: Plan,
                           crashes: set[str]) -> bool:
        """One poll of the action's own check; raising counts as "not yet"."""
        try:
            return bool(await case.rem.action.verify(plan))
        except (ActionFailed, ActionRefused) as exc:
            log.info("verification of %r not yet passing: %s", plan.summary, scrub(str(exc)))
            return False
        except Exception as exc:
            why = self._crashed(case, "verify", exc)
            if why not in crashes:
                crashes.add(why)
                self._record(case, "crashed", f"{why} (counted as not verified yet)",
                             action_id=action_id)
            return False

    # -- restart safety ------------------------------------------------------------------------
    def resume(self) -> None:
        """Verify actions a previous process left executing or verifying; never re-run them."""
        by_name = {r.name: r for r in self.remediations}
        for row in self.ledger.unfinished():
            rem = by_name.get(row.remediation)
            if rem is None:
                self.ledger.mark(row.id, "failed", self.clock(),
                                 outcome="interrupted; remediation no longer configured")
                continue
            trigger = Trigger(row.probe or "", "resumed", _RESUMED, row.incident_id, self.clock())
            case = Case(rem, trigger, row.mode, row.target, dry_run=False)
            plan = Plan(row.target, str(row.plan.get("summary", "")), row.plan.get("detail", {}))
            self._record(case, "resumed", f"found '{plan.summary}' {row.state} after a restart: "
                                          "verifying, not repeating", action_id=row.id)
            self.ledger.mark(row.id, "verifying", self.clock())
            self._spawn(rem.name, self._verify_and_close(case, row.id, plan))

    def _count(self, case: Case, outcome: str) -> None:
        self.metrics.remediation_attempts.labels(remediation=case.rem.name, outcome=outcome).inc()

    def _record(self, case: Case, decision: str, reason: str, action_id: int | None = None,
                detail: dict[str, Any] | None = None) -> None:
        trigger = case.trigger
        self.ledger.journal(Entry(
            at=self.clock(), remediation=case.rem.name, target=case.target, mode=case.mode,
            decision=decision, reason=reason, probe=trigger.probe or None,
            incident_id=trigger.incident_id, action_id=action_id, detail=detail or {}))

    def status(self) -> list[dict[str, Any]]:
        """Budgets and quarantines, for /api/status (`remediations`)."""
        return budget_rows(self.ledger, self.remediations, self.clock())

    def refresh_gauges(self) -> None:
        quarantined = self.ledger.quarantined()
        for rem in self.remediations:
            self.metrics.remediation_quarantined.labels(remediation=rem.name).set(
                1 if rem.target in quarantined else 0)

    async def aclose(self) -> None:
        """Release what actions hold (an engine client); not every action has something."""
        for rem in self.remediations:
            close = getattr(rem.action, "aclose", None)
            if close is not None:
                await close()

    async def drain(self, timeout: float) -> None:
        if self.tasks:
            await asyncio.wait(set(self.tasks), timeout=timeout)


def budget_rows(ledger: Ledger, remediations: list[Remediation],
                now: float) -> list[dict[str, Any]]:
    """Each remediation's mode, target, budget use, quarantine and last decision.

    The budget counts what the budget gate counts: attempts on the target, or for an
    action fired per incident (evidence) attempts per incident, shown as the most any one
    incident used, with `budget_per` "incident" and the total in `attempts`."""
    quarantined, rows = ledger.quarantined(), []
    for rem in remediations:
        c = rem.spec.common
        since, dry_run = now - c.budget.within, c.mode != "auto"
        keys = [rem.target]  # an operator's run has no incident: it counts per target
        if _fires_on_open(rem):
            keys += ledger.incident_targets(rem.target, since)
        used = [len(ledger.attempts(key, since, dry_run)) for key in keys]
        last = ledger.last_outcome(rem.name) or {}
        rows.append({"remediation": rem.name, "mode": c.mode, "target": rem.target,
                     "budget": f"{max(used, default=0)}/{c.budget.attempts}",
                     "budget_per": "incident" if _fires_on_open(rem) else "target",
                     "attempts": sum(used), "quarantined": rem.target in quarantined,
                     "last": last.get("decision"), "last_reason": last.get("reason"),
                     "last_action": last.get("action_id")})
    return rows


def _target(rem: Remediation, trigger: Trigger) -> str:
    """Actions fired per incident (evidence) are keyed per incident, the rest per target."""
    if _fires_on_open(rem) and trigger.incident_id is not None:
        return f"{rem.target}#incident-{trigger.incident_id}"
    return rem.target


def _fires_on_open(rem: Remediation) -> bool:
    return getattr(rem.action, "fires_on", "failing") == "open"


def _is_safe(rem: Remediation) -> bool:
    return is_safe(rem.action)


def kill_switch_on(config: Config) -> bool:
    s = config.watchdog
    return not s.remediation_enabled or (s.kill_switch is not None and s.kill_switch.exists())


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
