"""Deploy probe (runbook §2.6 "Recent deploy?"): the image history behind each container.

Every cycle records, per watched container, the image reference it was created from, the
image ID behind it and that image's RepoDigests, in the state store (the last `keep`
changes). The history is what a rollback needs: Watchtower's cleanup removes the old
image by ID (every tag on it), so the previous ID and digests are kept here, not looked
up in the engine. `deploy_history()` is the typed read for the rollback.

A deploy is an event, not an incident (issue 19 item 3): the result stays OK (its summary
names a change of image ID within `window`), and the run that first sees a new image
reports it in `details["events"]` (watchdog/pipeline/events.py): it is counted
(`runbook_watchdog_events_total{kind="deploy"}`) and written into the timeline of any
incident that opens within `window` after it. Only something failing after a deploy
opens an incident, and it is the failure's.

Causes: ok, plus docker_timeout / docker_unreachable / docker_error (UNKNOWN).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Annotated, Any, ClassVar

from pydantic import Field

from watchdog.common.durations import Duration
from watchdog.common.state import StateStore
from watchdog.peers.docker import (
    DOCKER_CAUSES,
    DockerAccess,
    DockerUnavailable,
    find_image,
    inspect_container,
    parse_time,
)
from watchdog.pipeline.observation import Observation, Status
from watchdog.pipeline.probe import ProbeContext, ProbeParams

if TYPE_CHECKING:
    from watchdog.peers.docker import Client

NS = "deploy.history"
HINT = ("a new image went live within the window: if the service misbehaves, roll back "
        "first to the previous image (runbook §2.6, §3.1 step 4), investigate after")


@dataclass(frozen=True)
class DeployRecord:
    """One image generation of a container, as first seen."""

    container: str
    image_ref: str  # what the container was created from, e.g. ghcr.io/x/backend:latest
    image_id: str  # sha256:... (survives the tag moving)
    repo_digests: tuple[str, ...]  # repo@sha256:... (pullable by digest)
    container_id: str
    since: float  # when this image went live (container creation), epoch seconds

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DeployRecord:
        return cls(container=str(data["container"]), image_ref=str(data["image_ref"]),
                   image_id=str(data["image_id"]),
                   repo_digests=tuple(str(d) for d in data.get("repo_digests", ())),
                   container_id=str(data.get("container_id", "")), since=float(data["since"]))

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["repo_digests"] = list(self.repo_digests)
        return data


def deploy_history(store: StateStore, container: str) -> list[DeployRecord]:
    """The recorded image generations of `container`, oldest first (the last is current)."""
    return [DeployRecord.from_json(d) for d in store.get(NS, container, [])]


def previous_deploy(store: StateStore, container: str) -> DeployRecord | None:
    """The generation before the current one: the rollback target, if any."""
    history = deploy_history(store, container)
    return history[-2] if len(history) >= 2 else None


class DeployParams(ProbeParams):
    containers: Annotated[list[str], Field(min_length=1)]
    window: Duration = 1800.0
    keep: Annotated[int, Field(ge=2, le=100)] = 10


def _current(client: Client, names: list[str],
             now: float) -> dict[str, DeployRecord | None]:
    """Runs in the executor: each container's current generation (None when missing)."""
    return {name: _record(client, name, now) for name in names}


def _record(client: Client, name: str, now: float) -> DeployRecord | None:
    attrs = inspect_container(client, name)
    if attrs is None:
        return None
    image_id = str(attrs["Image"])
    image_id = image_id if image_id.startswith("sha256:") else f"sha256:{image_id}"
    image = find_image(client, image_id)
    # None: already removed from the engine: the history keeps what it knew.
    digests = tuple(image.get("RepoDigests") or ()) if image is not None else ()
    created = parse_time(attrs.get("Created")) or now
    return DeployRecord(container=name, image_ref=str(attrs["Config"].get("Image", "")),
                        image_id=image_id, repo_digests=digests, container_id=attrs["Id"],
                        since=created)


class DeployProbe:
    Params: ClassVar[type[DeployParams]] = DeployParams
    causes: ClassVar[frozenset[str]] = frozenset({"ok", *DOCKER_CAUSES})
    # Reported UNKNOWN (nothing certain was learnt): never trigger anything.
    unknown_causes: ClassVar[frozenset[str]] = DOCKER_CAUSES

    def __init__(self, params: DeployParams, ctx: ProbeContext) -> None:
        self.params = params
        self.ctx = ctx
        self.docker = DockerAccess(ctx, reads_only=True)

    async def check(self) -> Observation:
        try:
            now = self.ctx.clock.time()
            current = await self.docker.call(_current, list(self.params.containers), now)
        except DockerUnavailable as exc:
            return exc.observation()
        seen = [self._remember(name, rec, now) for name, rec in current.items()
                if rec is not None]
        recent = [change for change, _ in seen if change is not None]
        events = [self._event(change) for change, new in seen if change is not None and new]
        missing = sorted(name for name, rec in current.items() if rec is None)
        return self._verdict(recent, missing, events)

    def _remember(self, name: str, rec: DeployRecord,
                  now: float) -> tuple[dict[str, Any] | None, bool]:
        """Record `rec` if the image changed; the change (if within the window) and
        whether this run is the first to see it."""
        history = self._history(name)
        last = history[-1] if history else None
        new = last is not None and last.image_id != rec.image_id
        if last is None or new:
            history.append(rec)
        elif not last.repo_digests and rec.repo_digests:
            history[-1] = rec  # learnt the digests of the current image
        self._save(name, history[-self.params.keep:], now)
        if len(history) < 2 or now - history[-1].since > self.params.window:
            return None, False
        return _change(history[-2], history[-1]), new

    def _event(self, change: dict[str, Any]) -> dict[str, Any]:
        return {"kind": "deploy", "target": change["container"], "at": change["deployed_at"],
                "window": self.params.window, "summary": _said(change)}

    def _history(self, name: str) -> list[DeployRecord]:
        store = self.ctx.store
        return deploy_history(store, name) if store is not None else []

    def _save(self, name: str, history: list[DeployRecord], now: float) -> None:
        if self.ctx.store is not None:
            self.ctx.store.put(NS, name, [r.to_json() for r in history], now)

    def _verdict(self, recent: list[dict[str, Any]], missing: list[str],
                 events: list[dict[str, Any]]) -> Observation:
        watched = len(self.params.containers)
        values = {"containers": float(watched), "recent_deploys": float(len(recent))}
        summary = f"recent deploy: {_said(recent[0])}" if recent else \
            f"no deploy within {self.params.window:g}s ({watched} containers)"
        return Observation(Status.OK, "ok", summary, values=values, hint=HINT if recent else None,
                           details={"deploys": recent, "missing": missing, "events": events})

    async def aclose(self) -> None:
        await self.docker.aclose()


def _said(change: dict[str, Any]) -> str:
    return (f"{change['container']} now runs {change['new_image_id'][:19]} "
            f"(was {change['old_image_id'][:19]})")


def _change(old: DeployRecord, new: DeployRecord) -> dict[str, Any]:
    return {"container": new.container, "old_image_id": old.image_id,
            "old_repo_digests": list(old.repo_digests), "old_image_ref": old.image_ref,
            "new_image_id": new.image_id, "new_repo_digests": list(new.repo_digests),
            "new_image_ref": new.image_ref, "deployed_at": new.since}
