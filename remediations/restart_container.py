"""Restart a container (runbook §3.2 step 5, §3.3 step 2, §3.6 step 5).

Never undoes an operator's stop: a container that exited with one of `operator_exit_codes`
(0, 130 SIGINT, 143 SIGTERM: what `docker stop` and a clean shutdown leave) and was not
OOM-killed is left alone unless `restart_stopped: true` (restarting a container an admin
stopped on purpose is a known complaint about autoheal). A crash (other codes, 137, OOM)
is restarted. Verified when the container runs with a StartedAt after the one it had.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pydantic import Field

from watchdog.common.durations import Duration
from watchdog.peers.docker import ContainerAction, ContainerParams, timestamp_ns
from watchdog.remediation.contract import ActionRefused, Plan, Trigger

if TYPE_CHECKING:
    import docker  # imported at the first Docker call (watchdog/peers/docker.py)

STOPPED = ("exited", "stopped", "created", "dead")


class RestartParams(ContainerParams):
    restart_stopped: bool = False  # also restart containers stopped on purpose
    operator_exit_codes: list[int] = Field(default_factory=lambda: [0, 130, 143])
    stop_timeout: Duration = 10.0


class RestartContainer(ContainerAction[RestartParams]):
    Params = RestartParams

    async def plan(self, trigger: Trigger) -> Plan:
        name = self.params.container
        attrs = await self.engine.container_to("restart", name)
        state = attrs.get("State") or {}
        status, code = str(state.get("Status", "")), int(state.get("ExitCode") or 0)
        if self._stopped_on_purpose(status, code, bool(state.get("OOMKilled"))):
            raise ActionRefused(f"{name} was stopped on purpose ({status}, exit {code}, not "
                                "OOM): an operator's stop is not undone (restart_stopped)")
        return Plan(self.target, f"restart {name} ({status}, last exit {code})",
                    {"container": name, "started_at_before": _started_ns(state)})

    def _stopped_on_purpose(self, status: str, code: int, oom: bool) -> bool:
        if self.params.restart_stopped or status not in STOPPED or oom:
            return False
        return code in self.params.operator_exit_codes

    async def execute(self, plan: Plan) -> Mapping[str, Any]:
        await self.engine(_restart, self.params.container, self.params.stop_timeout)
        return {}  # a restart has nothing to undo

    async def verify(self, plan: Plan) -> bool:
        attrs = await self.engine.inspect(self.params.container)
        state = (attrs or {}).get("State") or {}
        return bool(state.get("Running")) and \
            _started_ns(state) > int(plan.detail["started_at_before"])


def _started_ns(state: dict[str, Any]) -> int:
    text = str(state.get("StartedAt") or "")
    return 0 if not text or text.startswith("0001-01-01") else timestamp_ns(text)


def _restart(client: docker.DockerClient, name: str, timeout: float) -> None:
    client.api.restart(name, timeout=int(timeout))
