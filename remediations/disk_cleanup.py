"""Free disk space on the Docker host (runbook §3.2 step 4). Destructive: off by default.

Removes stopped containers, dangling images and the build cache, and truncates container
log files over `truncate_logs_over`. Never removes:
- an image named in the deploy history (probes/deploy.py): those are the rollback
  targets, and after Watchtower moves `:latest` the previous image *is* dangling, so a
  plain `docker image prune` would delete exactly what a rollback needs;
- an image a container still uses, a watched container (deploy history) or one in
  `keep_containers` (a stopped Watchtower is how a rollback pauses it);
- anything while a backup holds its lock file (`backup_lock`): a backup mid-way must not
  lose its container or have its disk churned (autoheal interfered with one, see notes).
"""

from __future__ import annotations

import glob
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ByteSize, Field

from probes.deploy import NS as DEPLOY_NS
from watchdog.peers.docker import DockerAction
from watchdog.remediation.contract import ActionFailed, ActionParams, ActionRefused, Plan, Trigger
from watchdog.remediation.sandbox import NotPermitted, SandboxNeeds, writable
from watchdog.runtime.config_models import WatchdogSettings

if TYPE_CHECKING:
    import docker  # imported at the first Docker call (watchdog/peers/docker.py)

STOPPED = ("exited", "created", "dead")


class DiskCleanupParams(ActionParams):
    prune_containers: bool = True
    prune_images: bool = True  # dangling ones only, never the rollback images
    prune_build_cache: bool = True
    truncate_logs_over: ByteSize | None = ByteSize(100 * 1024 * 1024)
    log_files: list[str] = Field(default_factory=list)  # globs beyond the containers' logs
    keep_containers: list[str] = Field(default_factory=lambda: ["watchtower"])
    # Required: the backup's lock file is this installation's; null: no backup to respect.
    backup_lock: Path | None
    # Where the engine keeps container logs (Docker's default; rootful Podman:
    # /var/lib/containers/storage/overlay-containers): granted to the sandbox for truncation.
    engine_log_dir: Path = Path("/var/lib/docker/containers")

    def sandbox_needs(self, settings: WatchdogSettings) -> SandboxNeeds:
        if self.truncate_logs_over is None:
            return SandboxNeeds()  # pruning goes through the Engine API only
        dirs = [self.engine_log_dir, *(Path(_static_prefix(g)) for g in self.log_files)]
        # The engine's log files are root's (0640, in 0710 directories): truncating them as
        # the service's user takes CAP_DAC_OVERRIDE. `truncate_logs_over: null` avoids it.
        return SandboxNeeds(writes=tuple(dirs), capabilities=("CAP_DAC_OVERRIDE",),
                            why="truncates container log files in place")


@dataclass(frozen=True)
class Findings:
    """What the engine and the disk say could go, minus everything protected."""

    containers: list[str] = field(default_factory=list)  # names
    images: list[str] = field(default_factory=list)  # IDs
    logs: dict[str, int] = field(default_factory=dict)  # path -> size in bytes

    def words(self, build_cache: bool) -> str:
        parts = [f"{len(self.containers)} stopped containers", f"{len(self.images)} dangling "
                 "images", f"{len(self.logs)} log files over the limit "
                 f"({sum(self.logs.values()) / 1e6:.1f} MB)"]
        return ", ".join(parts + (["the build cache"] if build_cache else []))


class DiskCleanup(DockerAction[DiskCleanupParams]):
    Params = DiskCleanupParams
    target = "docker-disk"  # one engine's disk, whatever the remediation is named

    async def plan(self, trigger: Trigger) -> Plan:
        self._refuse_during_backup(ActionRefused)
        p = self.params
        found = await self.engine(_survey, self._kept_images(), self._kept_containers(),
                                  p.prune_containers, p.prune_images, error=ActionRefused)
        logs = self._oversized(found.logs)
        for path in logs:
            if not writable(Path(path)):
                raise NotPermitted(Path(path), "the log file is not writable")
        found = Findings(found.containers, found.images, logs)
        if not (found.containers or found.images or found.logs or p.prune_build_cache):
            raise ActionRefused("nothing to clean: no stopped container, dangling image or "
                                "oversized log")
        return Plan(self.target, f"clean up {found.words(p.prune_build_cache)}",
                    {**asdict(found), "build_cache": p.prune_build_cache})

    def _refuse_during_backup(self, error: type[Exception]) -> None:
        lock = self.params.backup_lock
        if lock is not None and lock.exists():
            raise error(f"a backup holds {lock}: no cleanup while it runs")

    def _history(self) -> dict[str, list[dict[str, Any]]]:
        store = self.ctx.store
        if store is None:
            return {}
        rows = store.query("SELECT key FROM kv WHERE ns = ?", (DEPLOY_NS,))
        return {r["key"]: store.get(DEPLOY_NS, r["key"], []) for r in rows}

    def _kept_images(self) -> set[str]:
        return {str(rec["image_id"]) for recs in self._history().values() for rec in recs}

    def _kept_containers(self) -> set[str]:
        return set(self._history()) | set(self.params.keep_containers)

    def _oversized(self, container_logs: dict[str, int]) -> dict[str, int]:
        limit = self.params.truncate_logs_over
        if limit is None:
            return {}
        paths = set(container_logs)
        for pattern in self.params.log_files:
            paths.update(glob.glob(pattern))
        sizes = {path: _size(path) for path in sorted(paths)}
        return {path: size for path, size in sizes.items() if size > limit}

    async def execute(self, plan: Plan) -> Mapping[str, Any]:
        self._refuse_during_backup(ActionFailed)  # the backup may have started since the plan
        d = plan.detail
        removed = await self.engine(_remove, list(d["containers"]), list(d["images"]))
        build = await self.engine(_prune_build_cache) if d["build_cache"] else None
        truncated = [path for path in d["logs"] if _truncate(path)]
        return {**removed, "build_cache": build, "truncated_logs": truncated,
                "undo": "nothing: removed containers, images and log lines are gone"}

    async def verify(self, plan: Plan) -> bool:
        limit = self.params.truncate_logs_over or 0
        return all(_size(path) <= limit for path in plan.detail["logs"])


def _static_prefix(pattern: str) -> str:
    """The directory of a glob before its first wildcard: /var/log/app/*.log -> /var/log/app."""
    head = pattern.split("*", 1)[0].split("?", 1)[0].split("[", 1)[0]
    return os.path.dirname(head) or "/"


def _size(path: str) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return 0  # gone (rotated, container removed): nothing left to truncate


def _truncate(path: str) -> bool:
    # Truncate in place: the engine keeps the file open, so deleting it would free nothing.
    try:
        os.truncate(path, 0)
    except OSError:
        return False
    return True


# -- engine calls (run in the executor) --------------------------------------------------------
def _survey(client: docker.DockerClient, kept_images: set[str], kept_containers: set[str],
            containers: bool, images: bool) -> Findings:
    listing = client.api.containers(all=True)
    used = {str(c.get("ImageID") or "") for c in listing}
    used |= {f"sha256:{u}" for u in used if not u.startswith("sha256:")}
    logs = {}
    stopped = []
    for c in listing:
        attrs = client.api.inspect_container(c["Id"])
        name = str(attrs.get("Name", "")).lstrip("/")
        if attrs.get("LogPath"):
            logs[str(attrs["LogPath"])] = _size(str(attrs["LogPath"]))
        if containers and attrs["State"]["Status"] in STOPPED and name not in kept_containers:
            stopped.append(name)
    dangling = [str(i["Id"]) for i in client.api.images(filters={"dangling": True})] \
        if images else []
    keep = kept_images | used
    return Findings(stopped, [i for i in dangling if _full(i) not in keep], logs)


def _full(image_id: str) -> str:
    return image_id if image_id.startswith("sha256:") else f"sha256:{image_id}"


def _remove(client: docker.DockerClient, containers: list[str],
            images: list[str]) -> dict[str, list[str]]:
    done: dict[str, list[str]] = {"removed_containers": [], "removed_images": [],
                                  "not_removed": []}
    for name in containers:
        _try(done, "removed_containers", name, client.api.remove_container, name)
    for image in images:
        _try(done, "removed_images", image, client.api.remove_image, image)
    return done


def _try(done: dict[str, list[str]], key: str, what: str, fn: Any, arg: str) -> None:
    # No force: a container started or an image used since the plan stays.
    import docker.errors

    try:
        fn(arg)
    except docker.errors.APIError as exc:
        done["not_removed"].append(f"{what}: {exc.explanation}")
        return
    done[key].append(what)


def _prune_build_cache(client: docker.DockerClient) -> str:
    import docker.errors

    try:
        reply = client.api.prune_builds()
    except docker.errors.NotFound:
        return "not supported by this engine"  # Podman's compatible API has no /build/prune
    return f"{int(reply.get('SpaceReclaimed') or 0)} bytes reclaimed"
