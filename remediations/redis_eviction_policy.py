"""Let a full Redis evict again (runbook §3.3 step 5): `CONFIG SET maxmemory-policy allkeys-lru`.

Fires only on the redis probe's `oom_rejecting_writes` ("memory full + noeviction policy →
rejecting writes"). Connection settings come from that probe's own config (`probe`). The
previous policy is recorded as the undo; verification reads the policy back and makes a
real write to a key of the watchdog's own.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import SecretStr

from watchdog.common.secrets import redact_uri
from watchdog.remediation.contract import (
    ActionContext,
    ActionFailed,
    ActionParams,
    ActionRefused,
    BaseAction,
    Plan,
    Trigger,
)

if TYPE_CHECKING:
    import redis.asyncio as aioredis

Policy = Literal["allkeys-lru", "allkeys-lfu", "volatile-lru", "volatile-lfu",
                 "allkeys-random", "volatile-random", "volatile-ttl"]
TRIGGER_CAUSE = "oom_rejecting_writes"


class EvictionParams(ActionParams):
    probe_fields: ClassVar[tuple[str, ...]] = ("probe",)
    probe: str  # the redis probe whose url and password to use
    policy: Policy = "allkeys-lru"
    verify_key: str = "runbook-watchdog:remediation-verify"


class RedisEvictionPolicy(BaseAction[EvictionParams]):
    Params = EvictionParams

    def __init__(self, params: EvictionParams, ctx: ActionContext) -> None:
        super().__init__(params, ctx)
        probe = ctx.probe_params(params.probe)
        if probe is None or not hasattr(probe, "url"):
            raise ValueError(f"probe {params.probe!r} is not a configured redis probe")
        self.url: str = str(probe.url)
        password = getattr(probe, "password", None)
        self.password = password.get_secret_value() if isinstance(password, SecretStr) else None

    @property
    def target(self) -> str:
        return f"redis:{self.params.probe}"

    def _client(self) -> aioredis.Redis:
        import redis.asyncio as aioredis  # redis-py only when this action is configured

        return aioredis.from_url(self.url, password=self.password, decode_responses=True,
                                 socket_timeout=self.ctx.timeout,
                                 socket_connect_timeout=self.ctx.timeout)

    async def _policy(self, client: aioredis.Redis) -> str:
        reply = await client.config_get("maxmemory-policy")
        return str(reply.get("maxmemory-policy", ""))

    async def plan(self, trigger: Trigger) -> Plan:
        from redis.exceptions import RedisError

        if trigger.cause != TRIGGER_CAUSE and not trigger.operator:
            raise ActionRefused(f"only for {TRIGGER_CAUSE}, not {trigger.cause}")
        async with self._client() as client:
            try:
                current = await self._policy(client)
            except RedisError as exc:
                raise ActionRefused(f"cannot read maxmemory-policy: {type(exc).__name__}: "
                                    f"{exc}") from exc
        if current == self.params.policy:
            raise ActionRefused(f"maxmemory-policy is already {current}")
        return Plan(self.target, f"set maxmemory-policy {current} -> {self.params.policy} on "
                                 f"{redact_uri(self.url)}", {"previous": current})

    async def execute(self, plan: Plan) -> Mapping[str, Any]:
        from redis.exceptions import RedisError

        async with self._client() as client:
            try:
                await client.config_set("maxmemory-policy", self.params.policy)
            except RedisError as exc:
                # e.g. CONFIG renamed away in production: say so rather than "failed".
                raise ActionFailed(f"CONFIG SET refused: {type(exc).__name__}: {exc}") from exc
        previous = plan.detail["previous"]
        return {"maxmemory-policy": previous,
                "undo": f"CONFIG SET maxmemory-policy {previous}"}

    async def verify(self, plan: Plan) -> bool:
        async with self._client() as client:
            if await self._policy(client) != self.params.policy:
                return False
            await client.set(self.params.verify_key, "1", px=60_000)
        return True
