"""Stop routing payments to Request Network (runbook §3.8 "Immediate rollback"). Off by default.

Sets REQUEST_NETWORK_ENABLED=false and PAYMENT_ENABLED_PROVIDERS=shkeeper, keeps
PAYMENT_ROLLBACK_PROVIDER=shkeeper, in the backend's env file (edited in place, atomically,
the previous file kept beside it; watchdog/common/envfile.py), then recreates the backend
service with compose (`COMPOSE -f FILE up -d --no-deps --force-recreate SERVICE`): a
container reads a compose `env_file` when it is created, so a restart would keep the old
providers. Verification: the file holds the values, the container was started since the
action and its environment, read through the engine, carries them; the policy's
`verify.probe` (with `passes: 2`, the runbook's "two health checks") adds the backend's
health.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import Field, model_validator

from remediations._command import run_command
from watchdog.common.durations import Duration
from watchdog.common.envfile import EnvFileError, edit_env_file, parse_env_text, set_values
from watchdog.peers.docker import DockerAccess, docker_url, inspect_container, parse_time
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
    env_file: Path  # the backend's env file (the compose service's `env_file`)
    container: str | None  # the backend container, recreated and checked; null: edit only
    compose_file: Path | None = None  # the compose file that defines the backend service
    service: str | None = None  # the backend's service name in it
    compose_command: list[str] = Field(default_factory=lambda: ["docker", "compose"],
                                       min_length=1)  # ["docker-compose"] for compose v1
    compose_timeout: Duration = 180.0

    @model_validator(mode="after")
    def _container_needs_compose(self) -> SwitchParams:
        if self.container and (self.compose_file is None or not self.service):
            raise ValueError("container needs compose_file and service: the backend is "
                             "recreated with compose, as a restart does not re-read its "
                             "env_file")
        return self

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
        text = self._read()
        values, _ = parse_env_text(text)
        now = {k: values.get(k) for k in SAFE}
        changes = {k: v for k, v in SAFE.items() if now[k] != v}
        if not changes:
            raise ActionRefused("payments already route to shkeeper only")
        try:
            set_values(text, changes)
        except EnvFileError as exc:
            raise ActionRefused(f"{self.params.env_file}: {exc}") from exc
        require_writable(self.params.env_file.parent)
        what = ", ".join(f"{k}={v}" for k, v in changes.items())
        then = f", recreate {self.params.service} with compose" if self.params.container else ""
        # Only the three routing keys are recorded: the file's other values are secrets.
        return Plan(self.target, f"set {what} in {self.params.env_file}{then}",
                    {"changes": changes, "previous": {k: now[k] for k in changes},
                     "planned_at": time.time()})

    def _read(self) -> str:
        try:
            return self.params.env_file.read_text(encoding="utf-8")
        except OSError as exc:
            raise ActionRefused(f"cannot read {self.params.env_file}: {exc.strerror}") from exc

    async def execute(self, plan: Plan) -> Mapping[str, Any]:
        path = self.params.env_file
        backup = path.with_name(f"{path.name}.bak-{int(time.time())}")
        try:
            edit_env_file(path, plan.detail["changes"], backup)
        except EnvFileError as exc:
            raise ActionFailed(f"cannot rewrite {path}: {exc}") from exc
        except OSError as exc:
            raise refusal(exc, path.parent) or \
                ActionFailed(f"cannot rewrite {path}: {exc.strerror}") from exc
        if self.params.container:
            await self._recreate()
        return {"backup": str(backup), "previous": plan.detail["previous"],
                "restore": f"copy {backup} over {path}, then recreate the service"}

    async def _recreate(self) -> None:
        file, service = self.params.compose_file, self.params.service
        if file is None or service is None:  # the params' validator has refused this
            raise ActionFailed("no compose_file and service to recreate the backend with")
        up = [*self.params.compose_command, "-f", str(file), "up", "-d", "--no-deps",
              "--force-recreate", service]
        # The compose CLI must talk to the engine the watchdog watches.
        env = {**os.environ, "DOCKER_HOST": docker_url(self.ctx.settings)}
        await run_command(up, self.params.compose_timeout, env=env, cwd=file.parent)

    async def verify(self, plan: Plan) -> bool:
        values, _ = parse_env_text(self.params.env_file.read_text(encoding="utf-8"))
        if {k: values.get(k) for k in SAFE} != SAFE:
            return False
        if not self.params.container:
            return True
        state = await self.docker.call(inspect_container, self.params.container)
        return state is not None and _runs_with_safe_env(state, _planned_at(plan))


def _runs_with_safe_env(attrs: Mapping[str, Any], since: float) -> bool:
    """The container runs, was started since `since`, and its environment routes to
    SHKeeper only (what the process really sees, not what the file says)."""
    started = parse_time(attrs["State"].get("StartedAt"))
    if not attrs["State"].get("Running") or started is None or started < since:
        return False
    env = dict(item.partition("=")[::2] for item in attrs["Config"].get("Env") or [])
    return all(env.get(k) == v for k, v in SAFE.items())


def _planned_at(plan: Plan) -> float:
    return float(plan.detail.get("planned_at", 0.0))
