"""Let a full Redis evict again (runbook §3.3 step 5): `CONFIG SET maxmemory-policy allkeys-lru`.

Fires only on the redis probe's `oom_rejecting_writes` ("memory full + noeviction policy →
rejecting writes"). Connection settings come from that probe's own config (`probe`). The
previous policy is recorded in the plan, so `runbook-watchdog undo` can put it back;
verification reads the policy back and makes a real write to a key of the watchdog's own.

`CONFIG SET` alone is lost when Redis restarts. With `persist: true` the change is also
written to the server's config file (`CONFIG REWRITE`); a server started without one
cannot keep it, and the plan's line says so, as it says whether the change survives a
restart. A refused rewrite fails the action (the policy is set, but not as promised).
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
    persist: bool = False  # also CONFIG REWRITE, so that the policy survives a restart
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

    async def _config_file(self, client: aioredis.Redis) -> str:
        return str((await client.info("server")).get("config_file") or "")

    async def plan(self, trigger: Trigger) -> Plan:
        from redis.exceptions import RedisError

        if trigger.cause != TRIGGER_CAUSE and not trigger.operator:
            raise ActionRefused(f"only for {TRIGGER_CAUSE}, not {trigger.cause}")
        async with self._client() as client:
            try:
                current, config_file = await self._policy(client), await self._config_file(client)
            except RedisError as exc:
                raise ActionRefused(f"cannot read maxmemory-policy: {type(exc).__name__}: "
                                    f"{exc}") from exc
        if current == self.params.policy:
            raise ActionRefused(f"maxmemory-policy is already {current}")
        lasting = _lasting(self.params.persist, config_file)
        summary = f"set maxmemory-policy {current} -> {self.params.policy} on " \
                  f"{redact_uri(self.url)} ({lasting})"
        return Plan(self.target, summary, {"previous": current, "policy": self.params.policy,
                                           "persist": self.params.persist and bool(config_file)})

    async def execute(self, plan: Plan) -> Mapping[str, Any]:
        await self._set(self.params.policy, plan.detail.get("persist", False))
        previous = plan.detail["previous"]
        return {"maxmemory-policy": previous,
                "undo": f"CONFIG SET maxmemory-policy {previous}"}

    async def _set(self, policy: str, persist: bool) -> None:
        from redis.exceptions import RedisError

        async with self._client() as client:
            try:
                await client.config_set("maxmemory-policy", policy)
            except RedisError as exc:
                # e.g. CONFIG renamed away in production: say so rather than "failed".
                raise ActionFailed(f"CONFIG SET refused: {type(exc).__name__}: {exc}") from exc
            if not persist:
                return
            try:
                await client.config_rewrite()
            except RedisError as exc:
                raise ActionFailed(f"maxmemory-policy is {policy} now, but CONFIG REWRITE was "
                                   f"refused ({type(exc).__name__}: {exc}): the change is lost "
                                   "when Redis restarts") from exc

    async def undo(self, plan: Plan) -> str:
        """Put the recorded previous policy back (persisted as the action was), read back."""
        previous, persist = str(plan.detail["previous"]), bool(plan.detail.get("persist"))
        await self._set(previous, persist)
        async with self._client() as client:
            now = await self._policy(client)
        if now != previous:
            raise ActionFailed(f"maxmemory-policy reads {now} after the undo, not {previous}")
        kept = "persisted by CONFIG REWRITE" if persist else "lost when Redis restarts"
        return f"maxmemory-policy {previous} restored on {redact_uri(self.url)} ({kept})"

    async def verify(self, plan: Plan) -> bool:
        async with self._client() as client:
            if await self._policy(client) != self.params.policy:
                return False
            await client.set(self.params.verify_key, "1", px=60_000)
        return True


def _lasting(persist: bool, config_file: str) -> str:
    """Whether the change survives a restart of Redis, in the plan's words."""
    if not persist:
        return "not persisted (persist: false): lost when Redis restarts"
    if not config_file:
        return "cannot persist: the server runs without a config file, so CONFIG REWRITE " \
               "has nowhere to write: lost when Redis restarts"
    return f"persisted by CONFIG REWRITE to {config_file}: survives a restart"
