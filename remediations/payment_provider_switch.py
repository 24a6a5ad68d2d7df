"""Stop routing payments to Request Network (runbook §3.8 "Immediate rollback"). Off by default.

Sets REQUEST_NETWORK_ENABLED=false and PAYMENT_ENABLED_PROVIDERS=shkeeper, keeps
PAYMENT_ROLLBACK_PROVIDER=shkeeper, in the backend's env file (edited in place, atomically,
the previous file kept beside it), then restarts the backend container so it reads them.
Verification: the file holds the values, the container runs again since the action, and
(through the policy's `verify.probe`) the backend's health check passes.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from remediations._envfile import current_values, rewrite_env, write_atomically
from watchdog.peers.docker import DockerAccess, DockerUnavailable, inspect_container, parse_time
from watchdog.remediation.contract import (
    ActionContext,
    ActionFailed,
    ActionParams,
    ActionRefused,
    BaseAction,
    Plan,
    Trigger,
)
from watchdog.remediation.sandbox import SandboxNeeds, refusal, require_writable
from watchdog.runtime.config_models import WatchdogSettings

SAFE = {"REQUEST_NETWORK_ENABLED": "false", "PAYMENT_ENABLED_PROVIDERS": "shkeeper",
        "PAYMENT_ROLLBACK_PROVIDER": "shkeeper"}


class SwitchParams(ActionParams):
    # Both required: which file and container are this installation's, not the code's.
    env_file: Path  # the backend's env file
    container: str | None  # the backend container, restarted afterwards; null: edit only
    restart_timeout: int = 10  # docker stop's grace; within the action's 30 s call bound

    def sandbox_needs(self, settings: WatchdogSettings) -> SandboxNeeds:
        return SandboxNeeds(writes=(self.env_file.parent,),
                            why=f"rewrites {self.env_file.name} by an atomic rename, "
                                "with a backup beside it")


class PaymentProviderSwitch(BaseAction[SwitchParams]):
    Params = SwitchParams

    def __init__(self, params: SwitchParams, ctx: ActionContext) -> None:
        super().__init__(params, ctx)
        self.docker = DockerAccess(ctx)

    @property
    def target(self) -> str:
        return f"payments:{self.params.env_file}"

    async def plan(self, trigger: Trigger) -> Plan:
        try:
            text = self.params.env_file.read_text(encoding="utf-8")
        except OSError as exc:
            raise ActionRefused(f"cannot read {self.params.env_file}: {exc.strerror}") from exc
        now = current_values(text, list(SAFE))
        changes = {k: v for k, v in SAFE.items() if now[k] != v}
        if not changes:
            raise ActionRefused("payments already route to shkeeper only")
        require_writable(self.params.env_file.parent)
        what = ", ".join(f"{k}={v}" for k, v in changes.items())
        restart = f", restart {self.params.container}" if self.params.container else ""
        # Only the three routing keys are recorded: the file's other values are secrets.
        return Plan(self.target, f"set {what} in {self.params.env_file}{restart}",
                    {"changes": changes, "previous": {k: now[k] for k in changes},
                     "planned_at": time.time()})

    async def execute(self, plan: Plan) -> Mapping[str, Any]:
        path = self.params.env_file
        backup = path.with_name(f"{path.name}.bak-{int(time.time())}")
        text = path.read_text(encoding="utf-8")
        try:
            write_atomically(path, rewrite_env(text, plan.detail["changes"]), backup)
        except OSError as exc:
            raise refusal(exc, path.parent) or \
                ActionFailed(f"cannot rewrite {path}: {exc.strerror}") from exc
        started = time.time()
        if self.params.container:
            await self._restart(self.params.container)
        return {"backup": str(backup), "previous": plan.detail["previous"],
                "restarted_after": started}

    async def _restart(self, name: str) -> None:
        import docker.errors

        try:
            await self.docker.call(
                lambda c: c.api.restart(name, timeout=self.params.restart_timeout))
        except docker.errors.NotFound as exc:
            raise ActionFailed(f"restart of {name} failed: no such container") from exc
        except DockerUnavailable as exc:
            raise ActionFailed(f"restart of {name} failed: {exc}") from exc

    async def verify(self, plan: Plan) -> bool:
        text = self.params.env_file.read_text(encoding="utf-8")
        if current_values(text, list(SAFE)) != SAFE:
            return False
        if not self.params.container:
            return True
        state = await self.docker.call(inspect_container, self.params.container)
        if state is None or not state["State"].get("Running"):
            return False
        started = parse_time(state["State"].get("StartedAt"))
        return started is not None and started >= _planned_at(plan)


def _planned_at(plan: Plan) -> float:
    return float(plan.detail.get("planned_at", 0.0))
