"""Preserve evidence when an incident opens (runbook §3.1 step 1, §3.7 step 5). Safe: auto.

Saves under DIR/incident-<id>/ (DIR: `dir`, default `<state_dir>/incidents`): the finding
(findings.json), the log tail (`docker logs --tail=200`) and inspected State (`docker
inspect … .State`) of the incident's own container (the one the triggering probe names,
else the configured `container`), and the access-log tail. Everything written passes the
secret scrubber. A part that cannot be read (no such container, no log file) is recorded
as such in its file, not skipped, so the evidence shows what was tried. A capture that
fails is journaled and reported; it never changes the incident's severity.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from watchdog.common.atomicfile import replace_atomically
from watchdog.common.secrets import scrub
from watchdog.peers.docker import DockerAccess, DockerUnavailable
from watchdog.remediation.contract import (
    ActionContext,
    ActionFailed,
    ActionParams,
    BaseAction,
    Plan,
    Trigger,
)
from watchdog.remediation.sandbox import SandboxNeeds, refusal, require_writable
from watchdog.runtime.config_models import WatchdogSettings

TAIL_BYTES = 4 * 1024 * 1024  # read at most this much of an access log's end


class EvidenceParams(ActionParams):
    dir: Path | None = None  # default: <state_dir>/incidents, writable under the unit
    container: str | None = None  # when the triggering probe names no container
    access_log: Path | None = None
    log_lines: int = 200
    access_lines: int = 1000

    def evidence_dir(self, settings: WatchdogSettings) -> Path:
        return self.dir if self.dir is not None else settings.state_dir / "incidents"

    def sandbox_needs(self, settings: WatchdogSettings) -> SandboxNeeds:
        return SandboxNeeds(creates=(self.evidence_dir(settings),),
                            why="evidence of each incident")


class CaptureEvidence(BaseAction[EvidenceParams]):
    Params = EvidenceParams
    fires_on = "open"
    safe: ClassVar[bool] = True

    def __init__(self, params: EvidenceParams, ctx: ActionContext) -> None:
        super().__init__(params, ctx)
        self.dir = params.evidence_dir(ctx.settings)
        self._docker: DockerAccess | None = None
        # One engine call at a time: captures of incidents that open together queue here
        # rather than meet DockerAccess's "previous call has not returned" guard.
        self._engine_turn = asyncio.Lock()

    def container_for(self, probe: str) -> str | None:
        """The incident's own container: the triggering probe's `container`, if it has one."""
        own = getattr(self.ctx.probe_params(probe), "container", None)
        return own if isinstance(own, str) and own else self.params.container

    @property
    def target(self) -> str:
        return f"evidence:{self.ctx.name}"

    async def plan(self, trigger: Trigger) -> Plan:
        incident = trigger.incident_id if trigger.incident_id is not None else "manual"
        where = self.dir / f"incident-{incident}"
        await self.ctx.run_blocking(require_writable, where)
        container = self.container_for(trigger.probe)
        files = ["findings.json"]
        if container:
            files += ["container.log", "container-state.json"]
        if self.params.access_log:
            files.append("access.log")
        finding = {"probe": trigger.probe, "cause": trigger.cause, "at": trigger.at,
                   "summary": trigger.observation.summary, "hint": trigger.observation.hint,
                   "values": dict(trigger.observation.values),
                   "details": dict(trigger.observation.details)}
        of = f" of {container}" if container else ""
        return Plan(self.target, f"save evidence{of} for incident {incident} under {where}",
                    {"dir": str(where), "files": files, "finding": finding,
                     "container": container})

    async def execute(self, plan: Plan) -> Mapping[str, Any]:
        files = {"findings.json": json.dumps(plan.detail["finding"], indent=2, default=str)}
        container = plan.detail.get("container")
        if container:
            files.update(await self._container(str(container)))
        where = Path(plan.detail["dir"])
        try:
            await self.ctx.run_blocking(self._save, where, files)
        except OSError as exc:
            raise refusal(exc, where) or \
                ActionFailed(f"cannot write evidence under {where}: {exc.strerror}") from exc
        return {"dir": str(where)}

    async def _container(self, name: str) -> dict[str, str]:
        if self._docker is None:
            self._docker = DockerAccess(self.ctx)
        import docker.errors

        access, lines = self._docker, self.params.log_lines
        try:
            async with self._engine_turn:
                logs = await access.call(lambda c: c.api.logs(
                    name, tail=lines, timestamps=True).decode(errors="replace"))
                state = await access.call(lambda c: c.api.inspect_container(name)["State"])
        except (docker.errors.NotFound, DockerUnavailable) as exc:
            logs, state = f"could not read: {type(exc).__name__}: {exc}\n", {"error": str(exc)}
        return {"container.log": logs,
                "container-state.json": json.dumps(state, indent=2, default=str)}

    def _save(self, where: Path, files: dict[str, str]) -> None:
        where.mkdir(mode=0o700, parents=True, exist_ok=True)
        for name, text in files.items():
            _write(where / name, text)
        if self.params.access_log:
            _write(where / "access.log", _tail(self.params.access_log, self.params.access_lines))

    async def verify(self, plan: Plan) -> bool:
        where, names = Path(plan.detail["dir"]), plan.detail["files"]
        return await self.ctx.run_blocking(_all_written, where, names)

    async def aclose(self) -> None:
        if self._docker is not None:
            await self._docker.aclose()


def _all_written(where: Path, names: list[str]) -> bool:
    return all((where / n).is_file() and (where / n).stat().st_size > 0 for n in names)


def _write(path: Path, text: str) -> None:
    # Atomic: a crash mid-write leaves no truncated file for `verify` to take as evidence.
    replace_atomically(path, scrub(text), 0o600)


def _tail(path: Path, lines: int) -> str:
    try:
        with path.open("rb") as handle:
            handle.seek(max(0, handle.seek(0, os.SEEK_END) - TAIL_BYTES))
            data = handle.read()
    except OSError as exc:
        return f"could not read {path}: {exc.strerror}\n"
    text = data.decode(errors="replace").splitlines()[-lines:]
    return "\n".join(text) + "\n"
