"""Stage 5 of the pipeline, remediation: the action contract.

An action type is a class found through the `runbook_watchdog.remediations` entry-point
group, built as `ActionType(params, ctx)`. It never decides *whether* to act (the policy
does, the same for every action); it says *what* it would do (`plan`), does it
(`execute`), and proves it worked (`verify`). A plan is journaled before execution, so
dry-run can say "would roll back to sha256:…" and a restart after a crash verifies the
recorded plan instead of acting twice.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, Protocol

from pydantic import BaseModel, ConfigDict

from watchdog.pipeline.observation import Observation
from watchdog.pipeline.probe import ProbeContext, Resources


class ActionParams(BaseModel):
    """Base of every action type's own config keys: frozen, unknown keys rejected."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class ActionRefused(Exception):
    """The action will not plan: nothing safe to do (no previous image, operator stop...)."""


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
    summary: str  # one line for people: "roll back nickapp-backend to sha256:…"
    detail: Mapping[str, Any] = field(default_factory=dict)  # JSON-able, for execute/verify


class Action(Protocol):
    Params: ClassVar[type[BaseModel]]
    # "failing": when the trigger has failed `after` cycles; "open": when an incident opens.
    fires_on: ClassVar[Literal["failing", "open"]]
    # Optional `safe: ClassVar[bool] = True` for actions that change nothing on the host
    # (evidence capture): the policy's protective gates do not hold them back.

    async def plan(self, trigger: Trigger) -> Plan:
        """Decide what to do; raise ActionRefused when nothing safe can be done."""
        ...

    async def execute(self, plan: Plan) -> Mapping[str, Any]:
        """Do it; return how to undo it (JSON-able, may be empty); raise ActionFailed."""
        ...

    async def verify(self, plan: Plan) -> bool:
        """True once the action's own effect is observable (the image runs, writes work)."""
        ...


class ActionContext(ProbeContext):
    """What one remediation instance is given: a probe's context (so helpers that take one,
    such as the Docker access in watchdog/peers/docker.py, serve actions too) plus read access to
    the latest observations."""

    def __init__(self, name: str, resources: Resources,
                 last: Callable[[str], Observation | None], timeout: float = 30.0,
                 probe_params: Mapping[str, BaseModel] | None = None) -> None:
        super().__init__(name, timeout, resources)  # timeout bounds each blocking call
        self._last = last
        self._probe_params = dict(probe_params or {})

    def probe_params(self, probe: str) -> BaseModel | None:
        """A configured probe's own keys (an action on Redis reuses the probe's URL)."""
        return self._probe_params.get(probe)

    def last_observation(self, probe: str) -> Observation | None:
        """The latest observation of a probe (for plans that depend on what it saw)."""
        return self._last(probe)
