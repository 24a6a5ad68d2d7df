"""Redis probe (runbook §3.3): PING, INFO and a write to a probe key, with `redis.asyncio`.

Causes: refused, timeout, dns, auth_failed (NOAUTH / WRONGPASS), oom_rejecting_writes
(used memory at maxmemory with noeviction, or OOM on the probe key's write),
persistence_error (RDB/AOF errors in INFO persistence, or MISCONF on the write: the
runbook's "Redis disk full"), connect_error, error. When ok: latency and memory ratio.
Hints name the container Redis runs in (`container`) and the operator's env file.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import urlsplit

from pydantic import SecretStr

from probes._hints import env_file, fill_all
from probes._retry import retry_once
from watchdog.common.urls import Url
from watchdog.peers.errors import network_cause
from watchdog.pipeline.observation import Observation, failed, ok
from watchdog.pipeline.probe import ProbeContext, ProbeParams

HINTS = {
    "refused": "Redis is not listening: docker ps -a --filter name=redis; docker logs --tail=200 "
               "{container}; docker compose up -d redis (runbook 3.3 steps 1-2)",
    "timeout": "Redis accepts but does not answer: docker logs --tail=200 {container} "
               "(runbook 3.3 step 2)",
    "dns": "the Redis host does not resolve: compose network or /etc/hosts changed? (runbook 3.3)",
    "connect_error": "cannot connect to Redis: docker ps -a --filter name=redis (runbook 3.3)",
    "auth_failed": "NOAUTH/WRONGPASS: REDIS_PASSWORD in {env_file} differs from Redis's; "
                   "fix it, then docker compose up -d redis backend (runbook 3.3 steps 3-4)",
    "oom_rejecting_writes": "memory full + noeviction, writes rejected: redis-cli CONFIG SET "
                            "maxmemory-policy allkeys-lru (runbook 3.3 step 5)",
    "persistence_error": "Redis cannot persist (disk full?): df -h /var/lib/docker; free space, "
                         "then BGSAVE (runbook: Redis disk full, Sev2)",
    "error": "Redis answered with an error: docker logs --tail=200 {container} (runbook 3.3)",
}


class RedisParams(ProbeParams):
    url: Url = "redis://127.0.0.1:6379/0"
    password: SecretStr | None = None
    # SET with a TTL on a key of the watchdog's own: the only way to see writes rejected.
    write_check: bool = True
    probe_key: str = "runbook-watchdog:probe"
    container: str | None = None  # the container Redis runs in: named in hints only


@dataclass(frozen=True)
class Snapshot:
    """What one run read from Redis."""

    latency: float
    info: dict[str, Any]
    write_error: str | None  # "oom", "misconf" (a refused PING or write) or None

    @property
    def maxmemory(self) -> int:
        return int(self.info.get("maxmemory", 0))

    @property
    def used(self) -> int:
        return int(self.info.get("used_memory", 0))

    @property
    def full(self) -> bool:
        return self.info.get("maxmemory_policy") == "noeviction" and \
            0 < self.maxmemory <= self.used

    def persistence_errors(self) -> list[str]:
        keys = ("rdb_last_bgsave_status", "aof_last_bgrewrite_status", "aof_last_write_status")
        bad = [f"{key}={self.info[key]}" for key in keys if self.info.get(key, "ok") != "ok"]
        return bad + (["writes refused: MISCONF"] if self.write_error == "misconf" else [])


class RedisProbe:
    Params: ClassVar[type[RedisParams]] = RedisParams
    causes: ClassVar[frozenset[str]] = frozenset(
        {"ok", "refused", "timeout", "dns", "connect_error", "auth_failed",
         "oom_rejecting_writes", "persistence_error", "error"})

    def __init__(self, params: RedisParams, ctx: ProbeContext) -> None:
        self.params = params
        self.timeout = ctx.timeout
        self.key = f"{params.probe_key}:{ctx.name}"
        self.hints = fill_all(HINTS, container=params.container or "<the Redis container>",
                              env_file=env_file(ctx))
        parts = urlsplit(params.url)
        self.where = f"redis {parts.hostname or '127.0.0.1'}:{parts.port or 6379}"
        password = params.password.get_secret_value() if params.password else None
        # redis-py (~8 MiB) is imported here, so only when a redis probe is configured.
        import redis.asyncio as aioredis
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff

        # One client (and its pool) for the probe's life; redis-py's own retries are off so
        # a refused connection is reported as such, not as a timeout after backoffs.
        self.client = aioredis.Redis.from_url(
            params.url, password=password, socket_timeout=ctx.timeout,
            socket_connect_timeout=ctx.timeout, retry=Retry(NoBackoff(), 0),
            health_check_interval=0, decode_responses=True)

    async def check(self) -> Observation:
        from redis.exceptions import RedisError

        try:
            async with asyncio.timeout(self.timeout):
                snap = await retry_once(self._read, _transient)
            return self._judge(snap).with_latency(snap.latency)
        except (RedisError, OSError, TimeoutError) as exc:
            return self._failure(exc)
        except ValueError as exc:  # a reply that does not decode or parse: not a sane Redis
            return failed("error", f"{self.where}: malformed reply ({type(exc).__name__})",
                          hint=self.hints["error"])

    async def _read(self) -> Snapshot:
        started = time.monotonic()
        # Redis refuses even PING with MISCONF while it cannot persist: that is an answer.
        refused = await _refusal(self.client.ping())
        latency = time.monotonic() - started
        info: dict[str, Any] = await self.client.info()
        if refused is None and self.params.write_check:
            refused = await _refusal(self.client.set(self.key, str(int(time.time())), ex=300))
        return Snapshot(latency, info, refused)

    def _failure(self, exc: BaseException) -> Observation:
        cause = _cause(exc)
        return failed(cause, f"{self.where}: {cause.replace('_', ' ')} ({type(exc).__name__})",
                      hint=self.hints[cause])

    def _judge(self, snap: Snapshot) -> Observation:
        values = _values(snap)
        if snap.write_error == "oom" or snap.full:
            return failed("oom_rejecting_writes", f"{self.where}: memory full "
                          f"({snap.used}/{snap.maxmemory} bytes, policy "
                          f"{snap.info.get('maxmemory_policy')}), writes rejected",
                          hint=self.hints["oom_rejecting_writes"], values=values)
        problems = snap.persistence_errors()
        if problems:
            return failed("persistence_error", f"{self.where}: {', '.join(problems)}",
                          hint=self.hints["persistence_error"], values=values)
        return ok(f"{self.where}: PONG in {snap.latency * 1000:.1f} ms", **values)

    async def aclose(self) -> None:
        await self.client.aclose()


async def _refusal(command: Awaitable[Any]) -> str | None:
    """Run a command; "oom" or "misconf" when Redis refuses it for memory or persistence."""
    from redis.exceptions import OutOfMemoryError, ResponseError

    try:
        await command
    except OutOfMemoryError:
        return "oom"
    except ResponseError as exc:
        if str(exc).startswith("MISCONF"):
            return "misconf"
        raise
    return None


def _cause(exc: BaseException) -> str:
    from redis.exceptions import AuthenticationError
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeout

    if isinstance(exc, AuthenticationError):
        return "auth_failed"
    if isinstance(exc, RedisTimeout | TimeoutError):
        return "timeout"
    if isinstance(exc, RedisConnectionError | OSError):
        return network_cause(exc) or "connect_error"
    return "error"


def _transient(exc: BaseException) -> bool:
    """A pooled connection the server closed (Redis restarted, idle timeout)."""
    from redis.exceptions import AuthenticationError
    from redis.exceptions import ConnectionError as RedisConnectionError

    return isinstance(exc, RedisConnectionError) and not isinstance(exc, AuthenticationError) \
        and network_cause(exc) is None


def _values(snap: Snapshot) -> dict[str, float]:
    values = {"latency_seconds": snap.latency, "used_memory_bytes": float(snap.used)}
    if snap.maxmemory > 0:
        values["memory_ratio"] = round(snap.used / snap.maxmemory, 4)
    return values
