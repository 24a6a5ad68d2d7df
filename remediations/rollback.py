"""Roll a container back to its previous image (runbook §2.6, §3.1 step 4).

Fires while the backend is failing and the deploy tracker (probes/deploy.py) saw a recent
deploy, or, with `no_hypothesis_after`, once the incident is that old whatever the cause
(§2: "if you can't form a hypothesis in 5 minutes, roll back anyway"). The target is the
latest recorded image generation that differs from the one running and that this action
has not already rolled back *from* (so a second failure never "rolls back" to the broken
image). Order, so that nothing is lost if a step fails:

1. the previous image is confirmed present by ID; when it is gone and `registry_pull` is
   on, its recorded references are pulled in turn (each repo digest, then its own tag
   unless that tag is what the broken container runs) until the engine has that very
   image ID: a moved tag can never stand in for it. Absent, nothing is touched;
2. it is tagged `<repo>:rollback-<short id>` so people (and compose) can name it;
3. Watchtower is stopped so it does not re-pull `:latest` (undo: start it);
4. compose: the service's `image:` is rewritten (backup beside the file) and
   `<compose_command> -f FILE up -d SERVICE` runs; recreate: the container is rebuilt
   through the Engine API with its own configuration and the previous image; the old
   one is renamed and kept (stopped) until the new one runs. Its anonymous volumes are
   mounted by name into the new one (as compose does), so their data stays.

Verification: the container runs the previous image ID (the policy adds the health probe).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, model_validator

from probes.deploy import DeployRecord, deploy_history
from remediations import _compose
from remediations._command import run_command
from watchdog.common.durations import Duration
from watchdog.peers.docker import (
    ContainerAction,
    ContainerParams,
    docker_url,
    find_image,
    image_id_of,
    parse_time,
)
from watchdog.pipeline.incidents import IncidentBook
from watchdog.remediation.contract import (
    ActionFailed,
    ActionRefused,
    Plan,
    Trigger,
)
from watchdog.remediation.sandbox import SandboxNeeds, refusal, require_writable
from watchdog.runtime.config_models import WatchdogSettings

if TYPE_CHECKING:
    import docker  # imported at the first Docker call (watchdog/peers/docker.py)

REJECTED = "rollback.rejected"  # state-store namespace: image IDs rolled back from, per container


class RollbackParams(ContainerParams):
    strategy: Literal["compose", "recreate"] = "recreate"
    compose_file: Path | None = None
    service: str | None = None
    compose_command: list[str] = Field(default_factory=lambda: ["docker", "compose"],
                                       min_length=1)
    compose_timeout: Duration = 180.0
    watchtower: str | None = None  # container name; stopped so it does not re-pull
    deploy_window: Duration = 1800.0  # §2.6: "bumped in the last 30 min"
    no_hypothesis_after: Duration | None = None  # §2: roll back anyway after this long
    registry_pull: bool = False  # pull the previous image by digest when it is gone
    stop_timeout: Duration = 10.0

    @model_validator(mode="after")
    def _compose_needs_file(self) -> RollbackParams:
        if self.strategy == "compose" and (self.compose_file is None or not self.service):
            raise ValueError("strategy compose needs compose_file and service")
        return self

    def sandbox_needs(self, settings: WatchdogSettings) -> SandboxNeeds:
        if self.strategy != "compose" or self.compose_file is None:
            return SandboxNeeds()  # recreate: the Engine API only
        return SandboxNeeds(writes=(self.compose_file.parent,),
                            why=f"rewrites {self.compose_file.name} by an atomic rename, "
                                "with a backup beside it")


class Rollback(ContainerAction[RollbackParams]):
    Params = RollbackParams

    # -- plan ------------------------------------------------------------------------------
    async def plan(self, trigger: Trigger) -> Plan:
        name = self.params.container
        attrs = await self.engine.container_to("roll back", name)
        live = image_id_of(attrs)
        history = self._history()
        previous = rollback_target(history, live, self._rejected())
        if previous is None:
            raise ActionRefused(f"no earlier image of {name} to roll back to (recorded "
                                f"generations: {len(history)}; images already rolled back "
                                "from are never targets)", step=self._by_hand(None))
        reason = self._why(trigger, history, live, attrs)
        await self._compose_writable()
        pull = await self._availability(previous, str((attrs.get("Config") or {}).get("Image")))
        return Plan(self.target, f"roll back {name} to {previous.image_id}", {
            "container": name, "image_id": previous.image_id,
            "image_ref": previous.image_ref, "digests": list(previous.repo_digests),
            "from_image_id": live, "reason": reason, "pull": pull,
            "strategy": self.params.strategy})

    def _history(self) -> list[DeployRecord]:
        store = self.ctx.store
        return deploy_history(store, self.params.container) if store is not None else []

    def _rejected(self) -> set[str]:
        store = self.ctx.store
        return set(store.get(REJECTED, self.params.container, [])) if store is not None \
            else set()

    def _why(self, trigger: Trigger, history: list[DeployRecord], live: str,
             attrs: dict[str, Any]) -> str:
        now = self.ctx.clock.time()
        since = live_since(history, live, parse_time(attrs.get("Created")) or now)
        if now - since <= self.params.deploy_window:
            return f"deploy {now - since:.0f}s ago"
        if trigger.operator:
            return "started by an operator"
        opened = self._outage_since(trigger)
        after = self.params.no_hypothesis_after
        if after is not None and opened is not None and now - opened >= after:
            return f"no hypothesis after {now - opened:.0f}s (§2: roll back anyway)"
        raise ActionRefused(f"no deploy of {self.params.container} within "
                            f"{self.params.deploy_window:g}s: not a deploy problem")

    def _outage_since(self, trigger: Trigger) -> float | None:
        """When the incident's outage began: its first timeline entry with an outage cause
        (an incident that opened as a warning, `slow`, is not that old as an outage)."""
        if trigger.incident_id is None or self.ctx.store is None:
            return None
        warnings = self.ctx.warning_causes(trigger.probe)
        for event in IncidentBook(self.ctx.store).events(trigger.incident_id):
            if event["cause"] and event["cause"] not in warnings:
                return float(event["at"])
        return None

    async def _availability(self, previous: DeployRecord, live_ref: str) -> list[str] | None:
        """None when the image is here; the references to pull when it is not and may be."""
        if await self.engine(find_image, previous.image_id, error=ActionRefused) is not None:
            return None
        refs = pull_candidates(previous, live_ref)
        if self.params.registry_pull and refs:
            return refs
        digest = previous.repo_digests[0] if previous.repo_digests else None
        hint = f" (docker pull {digest})" if digest else ""
        raise ActionRefused(f"previous image {previous.image_id} is no longer in the engine "
                            f"and cannot be pulled here{hint}: nothing is touched",
                            step=self._by_hand(digest))

    def _by_hand(self, digest: str | None) -> str:
        """The human step when the rollback cannot be done automatically."""
        get = f"docker pull {digest}, then `runbook-watchdog remediate {self.ctx.name} " \
              "--execute`; or " if digest else ""
        return (f"{get}roll {self.params.container} back to a known-good image yourself: "
                "point its `image:` at that tag and `docker compose up -d` (runbook §3.1 "
                "step 4)")

    # -- execute ---------------------------------------------------------------------------
    async def _compose_writable(self) -> None:
        """Refuse before anything is touched when the sandbox will not let the file change."""
        if self.params.compose_file is not None and self.params.strategy == "compose":
            await self.ctx.run_blocking(require_writable, self.params.compose_file.parent)

    async def execute(self, plan: Plan) -> Mapping[str, Any]:
        d = plan.detail
        await self._compose_writable()  # again: no image tagged, no Watchtower stopped
        await self._ensure_image(d["image_id"], d.get("pull"))
        self._reject(str(d["from_image_id"]))
        ref = await self.engine(tag_rollback, d["image_id"], str(d["image_ref"]))
        undo: dict[str, Any] = {"rollback_tag": ref, "rolled_back_from": d["from_image_id"]}
        undo.update(await self._stop_watchtower())
        if self.params.strategy == "compose":
            undo.update(await self._compose(ref))
        else:
            undo.update(await self._recreate(ref))
        return undo

    async def _ensure_image(self, image_id: str, pull: str | list[str] | None) -> None:
        refs = [pull] if isinstance(pull, str) else list(pull or [])  # str: an older plan
        tried = await self.engine(pull_until_present, image_id, refs) if refs else []
        if await self.engine(find_image, image_id) is None:
            raise ActionFailed(f"previous image {image_id} is not present"
                               + (f" after pulling {'; '.join(tried)}" if tried else ""))

    def _reject(self, image_id: str) -> None:
        """Remember the image rolled back from: it is never a rollback target again."""
        store = self.ctx.store
        if store is not None:
            seen = sorted(self._rejected() | {image_id})
            store.put(REJECTED, self.params.container, seen, self.ctx.clock.time())

    async def _stop_watchtower(self) -> dict[str, Any]:
        name = self.params.watchtower
        if name is None:
            return {}
        stopped = await self.engine(stop_if_running, name, self.params.stop_timeout)
        return {"watchtower_stopped": name, "revert_watchtower": ["docker", "start", name]} \
            if stopped else {"watchtower": f"{name} was not running"}

    async def _compose(self, ref: str) -> dict[str, Any]:
        file, service = self.params.compose_file, str(self.params.service)
        assert file is not None  # the params validator guarantees it
        backup = file.with_name(f"{file.name}.before-rollback-{int(self.ctx.clock.time())}")
        try:
            old = _compose.rewrite(file, service, ref, backup)
        except OSError as exc:
            raise refusal(exc, file.parent) or ActionFailed(f"cannot rewrite {file}: {exc}") \
                from exc
        except _compose.ComposeEditError as exc:
            raise ActionFailed(f"cannot rewrite {file}: {exc}") from exc
        up = [*self.params.compose_command, "-f", str(file), "up", "-d", service]
        await run_command(up, self.params.compose_timeout, env=self._compose_env(),
                          cwd=file.parent)
        return {"compose_file": str(file), "backup": str(backup), "image_before": old,
                "revert": [["cp", str(backup), str(file)], up]}

    def _compose_env(self) -> dict[str, str]:
        # The compose CLI must talk to the engine the watchdog watches.
        return {**os.environ, "DOCKER_HOST": docker_url(self.ctx.settings)}

    async def _recreate(self, ref: str) -> dict[str, Any]:
        name = self.params.container
        keep_as = f"{name}-rolled-back-{int(self.ctx.clock.time())}"
        await self.engine(recreate, name, ref, keep_as, self.params.stop_timeout)
        return {"kept_container": keep_as,
                "revert": [["docker", "rm", "-f", name], ["docker", "rename", keep_as, name],
                           ["docker", "start", name]]}

    # -- verify ----------------------------------------------------------------------------
    async def verify(self, plan: Plan) -> bool:
        attrs = await self.engine.inspect(self.params.container)
        if attrs is None:
            return False
        running = bool((attrs.get("State") or {}).get("Running"))
        return running and image_id_of(attrs) == plan.detail["image_id"]

    async def aclose(self) -> None:
        await self.engine.aclose()


# -- pure helpers ----------------------------------------------------------------------------
def rollback_target(history: list[DeployRecord], live: str,
                    rejected: set[str]) -> DeployRecord | None:
    """The latest generation that is not the running image nor one rolled back from."""
    for record in reversed(history):
        if record.image_id != live and record.image_id not in rejected:
            return record
    return None


def live_since(history: list[DeployRecord], live: str, created: float) -> float:
    """When the running image went live: the start of the history's trailing run of it,
    else (the deploy tracker has not seen it yet) the container's creation."""
    since = None
    for record in reversed(history):
        if record.image_id != live:
            break
        since = record.since
    return created if since is None else since


def pull_candidates(previous: DeployRecord, live_ref: str) -> list[str]:
    """What to pull to get `previous` back: its repo digests, then the reference it ran
    from, unless that is what the live container names (`:latest` after a deploy: pulling
    it would fetch the broken image again). Whatever is pulled, only the recorded image
    ID counts. Podman records a locally built image's digest before the registry
    recompresses it on push, so a recorded digest can be unknown to the registry."""
    refs = list(previous.repo_digests)
    if previous.image_ref and previous.image_ref != live_ref \
            and not previous.image_ref.startswith("sha256:"):
        refs.append(previous.image_ref)
    return list(dict.fromkeys(refs))


def rollback_tag(image_ref: str, image_id: str) -> tuple[str, str]:
    """(repository, tag) for the rollback tag: `<repo>:rollback-<12 hex>`."""
    repo = image_ref.split("@", 1)[0]
    if ":" in repo.rsplit("/", 1)[-1]:
        repo = repo.rsplit(":", 1)[0]
    short = image_id.removeprefix("sha256:")[:12]
    return (repo or "rollback"), f"rollback-{short}"


# -- engine calls (run in the executor) --------------------------------------------------------
def tag_rollback(client: docker.DockerClient, image_id: str, image_ref: str) -> str:
    repo, tag = rollback_tag(image_ref, image_id)
    client.api.tag(image_id, repo, tag)
    return f"{repo}:{tag}"


def pull_until_present(client: docker.DockerClient, image_id: str,
                       refs: list[str]) -> list[str]:
    """Pull `refs` in turn until the engine has `image_id`; what each attempt gave."""
    tried = []
    for ref in refs:
        try:
            client.api.pull(ref)  # "repo@sha256:…" or "repo:tag"; docker-py splits either
        except docker.errors.APIError as exc:
            tried.append(f"{ref}: {exc.explanation or exc}")
            continue
        if find_image(client, image_id) is not None:
            return [*tried, f"{ref}: pulled"]
        tried.append(f"{ref}: pulled a different image")
    return tried


def stop_if_running(client: docker.DockerClient, name: str, timeout: float) -> bool:
    import docker.errors

    try:
        state = client.api.inspect_container(name).get("State") or {}
    except docker.errors.NotFound:
        return False
    if not state.get("Running"):
        return False
    client.api.stop(name, timeout=int(timeout))
    return True


def create_body(attrs: dict[str, Any], image: str) -> dict[str, Any]:
    """The container-create request that rebuilds `attrs`' container on `image`."""
    config = {k: v for k, v in (attrs.get("Config") or {}).items() if k != "Image"}
    if config.get("Hostname") == attrs["Id"][:12]:
        config.pop("Hostname")  # the engine's default (the old ID), not a configured name
    host = dict(attrs.get("HostConfig") or {})
    # Podman reports ulimits as RLIMIT_NOFILE, but only accepts Docker's `nofile` on create.
    host["Ulimits"] = [{**u, "Name": str(u["Name"]).removeprefix("RLIMIT_").lower()}
                       for u in host.get("Ulimits") or []]
    _keep_anonymous_volumes(attrs, config, host)
    body = {**config, "Image": image, "HostConfig": host}
    mode = str(host.get("NetworkMode") or "")
    networks = (attrs.get("NetworkSettings") or {}).get("Networks") or {}
    if mode in networks:
        body["NetworkingConfig"] = {"EndpointsConfig": {mode: _endpoint(networks[mode],
                                                                        attrs["Id"])}}
    return body


def _keep_anonymous_volumes(attrs: dict[str, Any], config: dict[str, Any],
                            host: dict[str, Any]) -> None:
    """Mount the old container's anonymous volumes by name, as compose does on recreate.

    Docker reports an anonymous volume (`-v /data`, an image's VOLUME, a `--mount` without
    a source) only as a destination in Config.Volumes or a sourceless HostConfig.Mounts
    entry; created again from those, the new container would get a fresh empty volume and
    the data would stay behind in the kept container. (Podman already lists them in
    HostConfig.Binds by name.)"""
    named = _named_destinations(host)
    pinned = [m for m in attrs.get("Mounts") or []
              if m.get("Type") == "volume" and m.get("Name") and m.get("Destination") not in named]
    if not pinned:
        return
    dests = {m["Destination"] for m in pinned}
    host["Mounts"] = [m for m in host.get("Mounts") or [] if m.get("Target") not in dests]
    host["Binds"] = [*(host.get("Binds") or []), *(
        f"{m['Name']}:{m['Destination']}:{'rw' if m.get('RW', True) else 'ro'}" for m in pinned)]
    volumes = {k: v for k, v in (config.get("Volumes") or {}).items() if k not in dests}
    config["Volumes"] = volumes or None


def _named_destinations(host: dict[str, Any]) -> set[str]:
    """Destinations HostConfig already fills from a named source (a bind or a volume)."""
    binds = {b.split(":")[1] for b in host.get("Binds") or [] if b.count(":") >= 1}
    mounts = {m.get("Target") for m in host.get("Mounts") or [] if m.get("Source")}
    return binds | {t for t in mounts if t}


def _endpoint(network: dict[str, Any], old_id: str) -> dict[str, Any]:
    aliases = [a for a in network.get("Aliases") or [] if not old_id.startswith(a)]
    return {"Aliases": aliases, "IPAMConfig": network.get("IPAMConfig"),
            "Links": network.get("Links")}


def recreate(client: docker.DockerClient, name: str, image: str, keep_as: str,
             stop_timeout: float) -> str:
    """Replace container `name` by one with the same configuration on `image`.

    The old container keeps running until the new one exists, and is kept (renamed,
    stopped) afterwards; any failure puts the old one back under its name, running.
    """
    api = client.api
    attrs = api.inspect_container(name)
    body = create_body(attrs, image)
    api.rename(attrs["Id"], keep_as)
    try:
        reply = api._post_json(api._url("/containers/create"), data=body,
                               params={"name": name})
        new_id = str(api._result(reply, True)["Id"])
    except Exception:
        api.rename(attrs["Id"], name)
        raise
    _connect_other_networks(api, attrs, new_id)
    api.stop(attrs["Id"], timeout=int(stop_timeout))
    try:
        api.start(new_id)
    except Exception:
        api.remove_container(new_id, force=True)
        api.rename(attrs["Id"], name)
        api.start(attrs["Id"])
        raise
    return new_id


def _connect_other_networks(api: Any, attrs: dict[str, Any], new_id: str) -> None:
    mode = (attrs.get("HostConfig") or {}).get("NetworkMode")
    networks = (attrs.get("NetworkSettings") or {}).get("Networks") or {}
    for net, endpoint in networks.items():
        if net != mode:
            api.connect_container_to_network(new_id, net,
                                             aliases=_endpoint(endpoint, attrs["Id"])["Aliases"])
