"""Container probe (runbook §2.5, §3.1): state, crashloop by restart-count growth, exit code, OOM.

Looks past `docker ps`: a container that restarts fast shows "Up" most of the time, so the
probe keeps the restart count it saw in the state store and reports `crashloop` when it
grew by `crashloop.restarts` within `crashloop.within` (restart-looping containers shown
as UP are a known false negative of simpler monitors).

Causes: missing, crashloop, oom, probable_oom, exited, restarting, unhealthy, paused,
plus the Docker engine's docker_timeout / docker_unreachable / docker_error (UNKNOWN).
Exit code 137 without OOMKilled is `probable_oom`: Podman's API never sets OOMKilled.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, ClassVar

from pydantic import Field

from watchdog.common.durations import Duration
from watchdog.peers.docker import (
    DOCKER_CAUSES,
    DockerAccess,
    DockerUnavailable,
    inspect_container,
    parse_time,
)
from watchdog.pipeline.observation import Observation, Status, failed
from watchdog.pipeline.probe import ProbeContext, ProbeParams

NS = "container.restarts"
HINTS = {
    "missing": "no such container: docker ps -a; was it removed or renamed? "
               "docker compose up -d (runbook §3.1)",
    "crashloop": "restart loop: docker logs --tail=200 <container>; missing env var, Mongo "
                 "unreachable, port conflict or OOM; recent deploy? roll back (runbook §3.1)",
    "oom": "killed for memory: increase the memory limit in compose, restart (runbook 3.1 "
           "step 3)",
    "probable_oom": "exit 137 (SIGKILL), most likely the OOM killer: check the memory limit "
                    "and dmesg, increase it in compose, restart (runbook 3.1 step 3)",
    "exited": "the container stopped: docker logs --tail=200 <container>; docker inspect "
              "<container> | jq '.[0].State' (runbook §3.1)",
    "restarting": "the container is restarting: docker logs --tail=200 <container> (runbook §3.1)",
    "unhealthy": "its HEALTHCHECK fails: docker inspect <container> | jq '.[0].State.Health' "
                 "(runbook §3.1)",
    "paused": "the container is paused: docker unpause <container>",
}


class Crashloop(ProbeParams):
    restarts: Annotated[int, Field(ge=1)] = 3
    within: Duration = 300.0


class ContainerParams(ProbeParams):
    container: str
    crashloop: Crashloop = Crashloop()


@dataclass(frozen=True)
class Snapshot:
    """What the engine said about the container, reduced to what the verdict needs."""

    id: str
    status: str
    exit_code: int
    oom_killed: bool
    restarts: int
    health: str
    created: float | None
    started: float | None  # State.StartedAt: the remediation policy's start-period grace

    @classmethod
    def of(cls, attrs: dict[str, Any]) -> Snapshot:
        state = attrs.get("State") or {}
        health = (state.get("Health") or {}).get("Status") or ""
        return cls(id=attrs["Id"], status=str(state.get("Status", "")),
                   exit_code=int(state.get("ExitCode") or 0),
                   oom_killed=bool(state.get("OOMKilled")),
                   restarts=int(attrs.get("RestartCount") or 0), health=health,
                   created=parse_time(attrs.get("Created")),
                   started=parse_time(state.get("StartedAt")))

    def details(self) -> dict[str, Any]:
        return {"id": self.id[:12], "state": self.status, "exit_code": self.exit_code,
                "oom_killed": self.oom_killed, "restart_count": self.restarts,
                "health": self.health or None, "started_at": self.started}


class ContainerProbe:
    Params: ClassVar[type[ContainerParams]] = ContainerParams
    causes: ClassVar[frozenset[str]] = frozenset(
        {"ok", "missing", "crashloop", "oom", "probable_oom", "exited", "restarting",
         "unhealthy", "paused", "docker_timeout", "docker_unreachable", "docker_error"})
    # Reported UNKNOWN (nothing certain was learnt): never trigger anything.
    unknown_causes: ClassVar[frozenset[str]] = DOCKER_CAUSES

    def __init__(self, params: ContainerParams, ctx: ProbeContext) -> None:
        self.params = params
        self.ctx = ctx
        self.docker = DockerAccess(ctx, reads_only=True)

    async def check(self) -> Observation:
        try:
            attrs = await self.docker.call(inspect_container, self.params.container)
        except DockerUnavailable as exc:
            return exc.observation()
        name = self.params.container
        if attrs is None:
            return failed("missing", f"container {name} does not exist", hint=HINTS["missing"],
                          details={"container": name})
        snap = Snapshot.of(attrs)
        growth = self._restart_growth(snap)
        return self._verdict(snap, growth)

    def _restart_growth(self, snap: Snapshot) -> int:
        """Restarts within the window, from the samples kept in the store."""
        now, within = self.ctx.clock.time(), self.params.crashloop.within
        samples = self._samples(snap, now)
        kept = [s for s in samples if now - s[0] <= within]
        self._save(snap.id, [*kept, [now, snap.restarts]], now)
        if kept:
            return snap.restarts - int(min(count for _, count in kept))
        # First sight: all restarts count when the container was created inside the window.
        created_recently = snap.created is not None and now - snap.created <= within
        return snap.restarts if created_recently else 0

    def _samples(self, snap: Snapshot, now: float) -> list[list[float]]:
        store = self.ctx.store
        saved = store.get(NS, self.ctx.name) if store is not None else None
        if not saved or saved.get("id") != snap.id:
            return []  # a new container (recreated): its count starts again
        return [s for s in saved["samples"] if s[1] <= snap.restarts]

    def _save(self, container_id: str, samples: list[list[float]], now: float) -> None:
        if self.ctx.store is not None:
            self.ctx.store.put(NS, self.ctx.name, {"id": container_id, "samples": samples[-50:]},
                               now)

    def _verdict(self, snap: Snapshot, growth: int) -> Observation:
        name, rule = self.params.container, self.params.crashloop
        values = {"restart_count": float(snap.restarts), "restarts_in_window": float(growth),
                  "exit_code": float(snap.exit_code)}
        details = {"container": name, **snap.details()}
        if growth >= rule.restarts:
            return self._failed("crashloop", f"container {name} restarted {growth} times within "
                                f"{rule.within:g}s (state {snap.status}, last exit "
                                f"{snap.exit_code})", values, details)
        problem = _state_problem(snap)
        if problem is not None:
            cause, why = problem
            return self._failed(cause, f"container {name} {why}", values, details)
        health = f" ({snap.health})" if snap.health else ""
        return Observation(Status.OK, "ok", f"container {name} is {snap.status}{health}",
                           values=values, details=details)

    def _failed(self, cause: str, summary: str, values: dict[str, float],
                details: dict[str, Any]) -> Observation:
        return failed(cause, summary, hint=HINTS[cause], values=values, details=details)

    async def aclose(self) -> None:
        await self.docker.aclose()


def _state_problem(snap: Snapshot) -> tuple[str, str] | None:
    """(cause, words) for a container that is not healthy and running, else None."""
    if snap.status in ("exited", "dead", "stopped", "created"):
        if snap.exit_code == 137:
            return ("oom", "was OOM-killed (exit 137, OOMKilled)") if snap.oom_killed \
                else ("probable_oom", "exited with 137 (killed, probably out of memory)")
        return "exited", f"is {snap.status} with exit code {snap.exit_code}"
    if snap.oom_killed:
        return "oom", f"is {snap.status} after an OOM kill"
    if snap.status == "restarting":
        return "restarting", f"is restarting (last exit {snap.exit_code})"
    if snap.status == "paused":
        return "paused", "is paused"
    if snap.health == "unhealthy":
        return "unhealthy", "is running but its HEALTHCHECK reports unhealthy"
    return None
