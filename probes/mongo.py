"""MongoDB probe (runbook §3.2): `ping` through pymongo's AsyncMongoClient.

Causes: unreachable (nothing answers: refused, DNS), auth_failed, timeout (a server that
accepts but does not answer in time), error (any other server error). Hints name the
container MongoDB runs in (`container`) and the operator's env file.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import SecretStr

from probes._hints import env_file, fill_all, with_human_steps
from probes._mongo import bounded_client, hosts_of, mongo_cause, mongo_errors, mongo_transient
from probes._retry import retry_once
from watchdog.pipeline.observation import Observation, failed, ok
from watchdog.pipeline.probe import ProbeContext, ProbeParams

if TYPE_CHECKING:
    from pymongo import AsyncMongoClient  # imported when the client is built (probes/_mongo.py)

HINTS = {
    "unreachable": with_human_steps(
        "MongoDB does not answer: docker ps -a --filter name=mongodb; if exited, docker logs "
        "--tail=200 {container} (corrupt journal, disk full, OOM) and df -h /var/lib/docker "
        "(runbook 3.2 steps 1-4)", "restore"),
    "timeout": with_human_steps(
        "MongoDB accepts but does not answer in time: load, disk full or a hung container; "
        "docker logs --tail=200 {container} (runbook 3.2 step 2)", "restore"),
    "auth_failed": "MongoDB rejects the credentials: check the URI's user and password in "
                   "{env_file} against the database's users (runbook 3.2)",
    "error": with_human_steps("MongoDB answers with an error: docker logs --tail=200 "
                              "{container} (runbook 3.2)", "restore"),
}


class MongoParams(ProbeParams):
    # A secret as a whole: the URI usually carries the credentials.
    uri: SecretStr
    container: str | None = None  # the container MongoDB runs in: named in hints only


class MongoProbe:
    Params: ClassVar[type[MongoParams]] = MongoParams
    causes: ClassVar[frozenset[str]] = frozenset(
        {"ok", "unreachable", "auth_failed", "timeout", "error"})

    def __init__(self, params: MongoParams, ctx: ProbeContext) -> None:
        self.timeout = ctx.timeout
        self.hints = fill_all(HINTS, container=params.container or "<the MongoDB container>",
                              env_file=env_file(ctx))
        # One client (and its pool and monitors) for the probe's life.
        self.client: AsyncMongoClient[dict[str, Any]] = bounded_client(
            params.uri.get_secret_value(), ctx.timeout)
        self.where = f"mongodb {hosts_of(self.client)}"

    async def check(self) -> Observation:
        started = time.monotonic()
        try:
            async with asyncio.timeout(self.timeout):
                await retry_once(self._ping, mongo_transient)
        except mongo_errors() as exc:
            cause = mongo_cause(exc) or "error"
            return failed(cause, f"{self.where}: {cause.replace('_', ' ')} "
                          f"({type(exc).__name__})", hint=self.hints[cause],
                          latency=time.monotonic() - started)
        latency = time.monotonic() - started
        return ok(f"{self.where}: ping ok in {latency * 1000:.1f} ms",
                  latency_seconds=latency).with_latency(latency)

    async def _ping(self) -> None:
        await self.client.admin.command("ping")

    async def aclose(self) -> None:
        await self.client.close()
