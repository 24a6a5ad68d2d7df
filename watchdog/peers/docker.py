"""Docker Engine API access shared by probes (container, deploy, logs, reconnect rate) and actions.

The docker SDK is synchronous, so every call runs in the Docker pool of bounded workers
(`ctx.run_blocking`, pool "docker": a hung engine holds only Docker workers) with the
probe's timeout, and the client itself has the same socket timeout so a hung engine frees
its thread. Failures of the engine itself become
`DockerUnavailable` with a cause from this vocabulary (the probes report it as UNKNOWN:
the engine not answering says nothing certain about the container):

    docker_timeout      the API did not answer within the probe's timeout
    docker_unreachable  nothing answers at the endpoint (refused, no socket)
    docker_error        the API answered with an error
"""

from __future__ import annotations

import http.client
import os
import socket
import sys
import threading
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeAlias, TypeVar

from watchdog.peers.engine_reads import EngineError, EngineNotFound, EngineReadClient, supports
from watchdog.peers.errors import network_cause
from watchdog.pipeline.blocking import WatchdogOverloaded
from watchdog.pipeline.observation import Observation, unknown
from watchdog.pipeline.probe import BlockingTimeout, ProbeContext
from watchdog.remediation.contract import (
    ActionContext,
    ActionFailed,
    ActionParams,
    ActionRefused,
    BaseAction,
    ParamsT,
)
from watchdog.runtime.config_models import WatchdogSettings

if TYPE_CHECKING:
    # The SDK (with requests and urllib3, ~6 MiB) is imported when an action's Docker call
    # is first made; probes read through watchdog/peers/engine_reads.py and never load it.
    import docker

    Client: TypeAlias = docker.DockerClient | EngineReadClient

T = TypeVar("T")
DEFAULT_DOCKER_URL = "unix:///var/run/docker.sock"
POOL = "docker"
_BOOTSTRAP_VERSION = "1.24"  # only used to build the client; /version is unversioned
HINT = ("the Docker engine does not answer: is dockerd (or podman system service) running? "
        "`docker ps` from the host (runbook §2.5)")


def docker_url(settings: WatchdogSettings, environ: Mapping[str, str] | None = None) -> str:
    """`watchdog.docker_url`, else `$DOCKER_HOST`, else the standard socket."""
    env = os.environ if environ is None else environ
    return settings.docker_url or env.get("DOCKER_HOST") or DEFAULT_DOCKER_URL


# The causes of DockerUnavailable: reported UNKNOWN (the engine said nothing certain).
DOCKER_CAUSES = frozenset({"docker_timeout", "docker_unreachable", "docker_error"})


class DockerUnavailable(Exception):
    """The engine could not be asked; `cause` is from this module's vocabulary."""

    def __init__(self, cause: str, summary: str) -> None:
        self.cause = cause
        super().__init__(summary)

    def observation(self) -> Observation:
        return unknown(self.cause, str(self), hint=HINT)


class DockerAccess:
    """One probe's Docker client: built lazily in the executor, every call bounded in time.

    `reads_only`: a probe's client, which only reads (engine_reads.py, no SDK) where the
    endpoint allows; otherwise the docker SDK's."""

    def __init__(self, ctx: ProbeContext, *, reads_only: bool = False) -> None:
        self.url = docker_url(ctx.settings)
        self._ctx = ctx
        self._reads_only = reads_only and supports(self.url)
        self._client: Client | None = None
        # Set while a call occupies an executor thread: a probe never queues a second call
        # behind a hung one, so one dead engine cannot take every blocking worker.
        self._busy = threading.Event()

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        """`fn(client, *args)` in the executor; raises DockerUnavailable."""
        if self._busy.is_set():
            raise DockerUnavailable("docker_timeout",
                                    f"Docker API at {self.url}: the previous call has not returned")
        try:
            return await self._ctx.run_blocking(self._in_thread, fn, *args,
                                                timeout=self._ctx.timeout, pool=POOL)
        except BlockingTimeout as exc:
            raise DockerUnavailable(
                "docker_timeout",
                f"Docker API at {self.url} did not answer within {self._ctx.timeout:g}s") from exc

    def _in_thread(self, fn: Callable[..., T], *args: Any) -> T:
        self._busy.set()
        try:
            return fn(self._client_here(), *args)
        except not_found():
            raise
        except _failures() as exc:
            self._drop_client()  # reconnect (and re-check the socket) on the next call
            raise _unavailable(self.url, exc) from exc
        finally:
            self._busy.clear()

    def _client_here(self) -> Client:
        if self._client is None:
            self._client = (EngineReadClient(self.url, max(1, round(self._ctx.timeout)))
                            if self._reads_only else connect(self.url, self._ctx.timeout))
        return self._client

    def _drop_client(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    async def aclose(self) -> None:
        self._drop_client()


def connect(url: str, timeout: float) -> docker.DockerClient:
    """A client speaking the engine's own API version (asked once, without leaking sockets).

    The SDK's own negotiation (`version="auto"`) runs inside the constructor and leaves the
    socket open when the engine does not answer; a fixed version would break on engines
    that dropped old ones (Docker 29 needs 1.44, Podman 4 offers 1.41).
    """
    import docker

    seconds = max(1, round(timeout))
    _reach(url, timeout)
    asker = docker.DockerClient(base_url=url, timeout=seconds, version=_BOOTSTRAP_VERSION)
    try:
        version = str(asker.version(api_version=False)["ApiVersion"])
    finally:
        asker.close()
    return docker.DockerClient(base_url=url, timeout=seconds, version=version)


def _reach(url: str, timeout: float) -> None:
    """Connect once to a unix socket and close it; raises OSError when nothing listens.

    The SDK's unix transport does not close its socket when connect() fails (a
    ResourceWarning on every attempt while the engine is down); this check does.
    """
    if not url.startswith("unix://"):
        return
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(url.removeprefix("unix://"))


def _sdk_loaded() -> bool:
    """Whether the SDK is in use: its exceptions can only come once it is imported."""
    return "docker.errors" in sys.modules and "requests" in sys.modules


def not_found() -> tuple[type[Exception], ...]:
    """"No such container or image" from either client."""
    if not _sdk_loaded():
        return (EngineNotFound,)
    import docker.errors

    return (EngineNotFound, docker.errors.NotFound)


def _failures() -> tuple[type[Exception], ...]:
    """The engine's failures from either client (and the socket's, OSError)."""
    ours = (EngineError, http.client.HTTPException, OSError)
    if not _sdk_loaded():
        return ours
    import docker.errors
    import requests

    return (*ours, docker.errors.DockerException, requests.RequestException)


def _api_error(exc: BaseException) -> str | None:
    """The engine's own message when it answered with an error, else None."""
    if isinstance(exc, EngineError):
        return exc.explanation
    if _sdk_loaded():
        import docker.errors

        if isinstance(exc, docker.errors.APIError):
            return str(exc.explanation)
    return None


def _sdk_timeout(exc: BaseException) -> bool:
    if not _sdk_loaded():
        return False
    import requests

    return isinstance(exc, requests.Timeout)


def _unavailable(url: str, exc: BaseException) -> DockerUnavailable:
    cause = network_cause(exc)
    if cause == "timeout" or _sdk_timeout(exc):
        return DockerUnavailable("docker_timeout", f"Docker API at {url} timed out")
    explanation = _api_error(exc)
    if explanation is not None:
        return DockerUnavailable("docker_error", f"Docker API at {url}: {explanation}")
    return DockerUnavailable("docker_unreachable",
                             f"Docker API at {url} is unreachable ({type(exc).__name__})")


def inspect_container(client: Client, name: str) -> dict[str, Any] | None:
    """The container's inspect document, or None when there is no such container."""
    try:
        attrs: dict[str, Any] = client.api.inspect_container(name)
    except not_found():
        return None
    return attrs


def parse_time(text: str | None) -> float | None:
    """Engine timestamps (RFC 3339, nanoseconds, `Z`) as epoch seconds; None when unset."""
    if not text or text.startswith("0001-01-01"):
        return None
    return timestamp_ns(text) / 1e9


def timestamp_ns(text: str) -> int:
    """RFC 3339 with up to nanoseconds (`2026-11-27T14:36:38.885576653Z`) as integer ns."""
    head, _, rest = text.partition(".")
    if rest:
        digits = "".join(ch for ch in rest if ch.isdigit())
        zone = rest[len(digits):]
    else:
        head, digits, zone = head[:19], "", head[19:]
    zone = "+00:00" if zone in ("Z", "") else zone
    seconds = int(datetime.fromisoformat(head + zone).timestamp())
    return seconds * 1_000_000_000 + int((digits + "000000000")[:9])


# Actions: the same bounded access, with the engine's failures as the action's errors.
# In `plan` an engine that cannot be asked means nothing safe can be done (ActionRefused);
# in `execute` it means the action failed (ActionFailed).

class DockerEngine:
    """One action's engine client; `await engine(fn, *args)` runs `fn(client, *args)`."""

    def __init__(self, ctx: ActionContext) -> None:
        self.access = DockerAccess(ctx)
        self.url = self.access.url

    async def __call__(self, fn: Callable[..., T], *args: Any,
                       error: type[Exception] = ActionFailed) -> T:
        import docker.errors

        try:
            return await self.access.call(fn, *args)
        except (DockerUnavailable, WatchdogOverloaded) as exc:
            raise error(str(exc)) from exc
        except docker.errors.NotFound as exc:
            raise error(f"not found: {exc.explanation}") from exc

    async def inspect(self, container: str,
                      error: type[Exception] = ActionFailed) -> dict[str, Any] | None:
        return await self(inspect_container, container, error=error)

    async def container_to(self, verb: str, container: str) -> dict[str, Any]:
        """For a plan: the container's inspect document, or ActionRefused when the engine
        cannot say or there is no such container ("no container X to restart")."""
        attrs = await self.inspect(container, error=ActionRefused)
        if attrs is None:
            raise ActionRefused(f"no container {container} to {verb}")
        return attrs

    async def aclose(self) -> None:
        await self.access.aclose()


class DockerAction(BaseAction[ParamsT]):
    """An action on the Docker engine: `self.engine`, closed with the action."""

    def __init__(self, params: ParamsT, ctx: ActionContext) -> None:
        super().__init__(params, ctx)
        self.engine = DockerEngine(ctx)

    async def aclose(self) -> None:
        await self.engine.aclose()


class ContainerParams(ActionParams):
    container: str  # the container acted on


ContainerParamsT = TypeVar("ContainerParamsT", bound=ContainerParams)


class ContainerAction(DockerAction[ContainerParamsT]):
    """An action on one configured container, which is its target."""

    @property
    def target(self) -> str:
        return self.params.container


def image_id_of(attrs: dict[str, Any]) -> str:
    """A container's image ID with its `sha256:` prefix (Podman omits it in places)."""
    image = str(attrs.get("Image", ""))
    return image if image.startswith("sha256:") else f"sha256:{image}"


def find_image(client: Client, image_id: str) -> dict[str, Any] | None:
    """The image's inspect document by ID, or None when the engine no longer has it."""
    try:
        attrs: dict[str, Any] = client.api.inspect_image(image_id)
    except not_found():
        return None
    return attrs
