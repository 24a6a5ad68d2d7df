"""Docker Engine API access for actions: the probes' bounded access, errors as action errors.

Actions reuse `probes._docker.DockerAccess` (every call in the bounded executor, with the
action's timeout). In `plan` an engine that cannot be asked means nothing safe can be
done (ActionRefused); in `execute` it means the action failed (ActionFailed).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import docker
import docker.errors

from probes._docker import DockerAccess, DockerUnavailable, inspect_container
from watchdog.remediation import ActionContext, ActionFailed

T = TypeVar("T")


class Engine:
    """One action's engine client; `await engine(fn, *args)` runs `fn(client, *args)`."""

    def __init__(self, ctx: ActionContext) -> None:
        self.access = DockerAccess(ctx)
        self.url = self.access.url

    async def __call__(self, fn: Callable[..., T], *args: Any,
                       error: type[Exception] = ActionFailed) -> T:
        try:
            return await self.access.call(fn, *args)
        except DockerUnavailable as exc:
            raise error(str(exc)) from exc
        except docker.errors.NotFound as exc:
            raise error(f"not found: {exc.explanation}") from exc

    async def inspect(self, container: str,
                      error: type[Exception] = ActionFailed) -> dict[str, Any] | None:
        return await self(inspect_container, container, error=error)

    async def aclose(self) -> None:
        await self.access.aclose()


def image_id_of(attrs: dict[str, Any]) -> str:
    """A container's image ID with its `sha256:` prefix (Podman omits it in places)."""
    image = str(attrs.get("Image", ""))
    return image if image.startswith("sha256:") else f"sha256:{image}"


def find_image(client: docker.DockerClient, image_id: str) -> dict[str, Any] | None:
    """The image's inspect document by ID, or None when the engine no longer has it."""
    try:
        attrs: dict[str, Any] = client.api.inspect_image(image_id)
    except docker.errors.NotFound:
        return None
    return attrs
