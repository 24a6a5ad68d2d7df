"""Stage 5 of the pipeline, remediation: the action contract.

An action type is a class found through the `runbook_watchdog.remediations` entry-point
group, built as `ActionType(params, ctx)`. It never decides *whether* to act (the policy
does, the same for every action); it says *what* it would do (`plan`), does it
(`execute`), and proves it worked (`verify`). A plan is journaled before execution, so
dry-run can say "would roll back to sha256:…" and a restart after a crash verifies the
recorded plan instead of acting twice.

The contract is enforced when a type is registered (`RemediationRegistry`, an entry point
or an injected class): `Params` must subclass `ActionParams`, `plan`, `execute` and
`verify` must be coroutine functions (and `aclose` and `undo`, if it has them), `fires_on`, if
declared, must be "failing" or "open", and `Params.probe_fields`, if declared, must name
fields of `Params`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, Literal, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict

from watchdog.common.registry import REMEDIATION_GROUP, Contract, Registry
from watchdog.pipeline.observation import Observation
from watchdog.pipeline.probe import ProbeContext, Resources


class ActionParams(BaseModel):
    """Base of every action type's own config keys: frozen, unknown keys rejected.

    An action that writes files or needs a capability says so with a method
    `sandbox_needs(settings) -> SandboxNeeds` (watchdog/remediation/sandbox.py): the unit's
    drop-in (`runbook-watchdog unit-drop-in`) is generated from it.

    `probe_fields` names the fields whose value is a configured probe's name (a string, a
    list of strings, or None): `validate` checks each names a probe in the config."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    probe_fields: ClassVar[tuple[str, ...]] = ()


class ActionRefused(Exception):
    """The action will not plan: nothing safe to do (no previous image, operator stop...).

    `step`, when given, is what a person must do instead: the action applies but cannot be
    done automatically (the previous image is gone). The open incident is told once, in an
    "updated" message with the reason and the step, at the same severity. A refusal without
    a step (the action does not apply: no recent deploy, already done) is journaled only."""

    def __init__(self, reason: str, step: str | None = None) -> None:
        super().__init__(reason)
        self.step = step


class ActionFailed(Exception):
    """Execution failed; the message says where (scrubbed before it is journaled)."""


@dataclass(frozen=True)
class Trigger:
    """Why the policy is considering an action: a probe's failing observation."""

    probe: str
    cause: str
    observation: Observation
    incident_id: int | None
    at: float  # wall-clock time
    operator: bool = False  # `runbook-watchdog remediate` rather than a probe


@dataclass(frozen=True)
class Plan:
    """What an action will do, recorded before it is done."""

    target: str  # what single-flight, budgets and quarantine are keyed on
    summary: str  # one line for people: "roll back backend to sha256:…"
    detail: Mapping[str, Any] = field(default_factory=dict)  # JSON-able, for execute/verify


FiresOn = Literal["failing", "open"]


class Action(Protocol):
    """An action instance. Its class declares `Params` and `fires_on` (`ActionType`), and
    optionally `safe: ClassVar[bool] = True` when it changes nothing on the host (evidence
    capture): the policy's protective gates do not hold it back. It may have a `target`
    (what budgets and quarantine are keyed on; else its name), `async def aclose()`, and
    `async def undo(plan)` when its effect can be undone (`Undoable`)."""

    async def plan(self, trigger: Trigger) -> Plan:
        """Decide what to do; raise ActionRefused when nothing safe can be done."""
        ...

    async def execute(self, plan: Plan) -> Mapping[str, Any]:
        """Do it; return how to undo it (JSON-able, may be empty); raise ActionFailed."""
        ...

    async def verify(self, plan: Plan) -> bool:
        """True once the action's own effect is observable (the image runs, writes work)."""
        ...


class Undoable(Protocol):
    """An action whose effect can be undone (`runbook-watchdog undo ACTION-ID`)."""

    async def undo(self, plan: Plan) -> str:
        """Put back what the action with this journaled `plan` changed; what that needs is in
        `plan.detail` (recorded by `plan`). Return one line saying what was restored. Check
        the restored state where it can be read back; raise ActionFailed when it could not
        be restored or confirmed, ActionRefused when nothing safe can be done."""
        ...


class ActionType(Protocol):
    """An action class (read-only members, so that a class object matches the protocol)."""

    @property
    def Params(self) -> type[BaseModel]: ...

    @property
    def fires_on(self) -> FiresOn:
        """When it fires: "failing", once its trigger failed `after` cycles; "open", when an
        incident opens."""
        ...

    def __call__(self, params: Any, ctx: ActionContext) -> Action: ...


REMEDIATION_CONTRACT = Contract(
    "remediation", REMEDIATION_GROUP, ActionParams, coroutines=("plan", "execute", "verify"),
    optional_coroutines=("aclose", "undo"), choices={"fires_on": ("failing", "open")})


def is_safe(action: object) -> bool:
    """An action (class or instance) that changes nothing on the host (`safe = True`)."""
    return bool(getattr(action, "safe", False))


class RemediationRegistry(Registry[ActionType]):
    """Action types by name, each checked against the action contract."""

    contract = REMEDIATION_CONTRACT


ParamsT = TypeVar("ParamsT", bound=ActionParams)


class BaseAction(Generic[ParamsT]):
    """The preamble every action type shares, written once: `class X(BaseAction[XParams])`
    names `Params = XParams`, and gets `self.params`, `self.ctx`, `fires_on = "failing"`
    and a `target` (its configured name unless it overrides the property). An action on
    the Docker engine starts from `watchdog.peers.docker.DockerAction` instead."""

    Params: ClassVar[type[ActionParams]]
    fires_on: ClassVar[FiresOn] = "failing"

    def __init__(self, params: ParamsT, ctx: ActionContext) -> None:
        self.params = params
        self.ctx = ctx

    @property
    def target(self) -> str:
        """What single-flight, budgets and quarantine are keyed on."""
        return self.ctx.name


class ActionContext(ProbeContext):
    """What one remediation instance is given: a probe's context (so helpers that take one,
    such as the Docker access in watchdog/peers/docker.py, serve actions too) plus read access to
    the latest observations."""

    def __init__(self, name: str, resources: Resources,
                 last: Callable[[str], Observation | None], timeout: float = 30.0,
                 probe_params: Mapping[str, BaseModel] | None = None,
                 warnings: Mapping[str, frozenset[str]] | None = None) -> None:
        super().__init__(name, timeout, resources)  # timeout bounds each blocking call
        self._last = last
        self._probe_params = dict(probe_params or {})
        self._warnings = dict(warnings or {})

    def warning_causes(self, probe: str) -> frozenset[str]:
        """A configured probe's warning causes (never an outage)."""
        return self._warnings.get(probe, frozenset())

    def probe_params(self, probe: str) -> BaseModel | None:
        """A configured probe's own keys (an action on Redis reuses the probe's URL)."""
        return self._probe_params.get(probe)

    def last_observation(self, probe: str) -> Observation | None:
        """The latest observation of a probe (for plans that depend on what it saw)."""
        return self._last(probe)
