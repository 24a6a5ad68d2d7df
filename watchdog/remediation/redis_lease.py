"""The shared action lease in Redis (see lease.py); imported only when `watchdog.lease` is set."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from typing import Any

from prometheus_client import CollectorRegistry
from redis.asyncio import Redis
from redis.asyncio.lock import Lock
from redis.exceptions import LockError, RedisError

from watchdog.common.secrets import scrub
from watchdog.remediation.lease import default_identity, held_gauge
from watchdog.runtime.config_models import LeaseSettings

log = logging.getLogger(__name__)


class RedisLease:
    """The shared lease; `run()` keeps trying to take or renew it until cancelled."""

    def __init__(self, settings: LeaseSettings, registry: CollectorRegistry | None = None,
                 redis: Redis | None = None) -> None:
        self.settings = settings
        self.identity = settings.identity or default_identity()
        # The token is the value stored under the key, so `GET key` names the holder.
        self.token = f"{self.identity}/{uuid.uuid4().hex[:8]}"
        self.redis = redis or _client(settings)
        self.lock = Lock(self.redis, settings.key, timeout=settings.ttl, blocking=False,
                         thread_local=False)
        self.margin = min(1.0, settings.ttl / 10)
        self._valid_until = 0.0
        self.holder: str | None = None
        self.error: str | None = None
        if registry is not None:
            held_gauge(registry).set_function(lambda: float(self.may_act()))

    @property
    def renew_every(self) -> float:
        return self.settings.ttl / 3

    def may_act(self) -> bool:
        return time.monotonic() < self._valid_until

    async def run(self) -> None:
        while True:
            await self.tick()
            await asyncio.sleep(self.renew_every)

    async def tick(self) -> bool:
        """Take the lease, or renew it if held; then read who holds it."""
        sent = time.monotonic()
        try:
            ok = await self._renew() if self.may_act() else await self._take()
            raw = await self.redis.get(self.settings.key)
        except (RedisError, OSError) as exc:
            self._failed(f"{type(exc).__name__}: {exc}")
            return False
        self._succeeded(ok, sent, raw)
        return ok

    async def _take(self) -> bool:
        return bool(await self.lock.acquire(token=self.token))

    async def _renew(self) -> bool:
        try:
            await self.lock.reacquire()
        except LockError:
            log.error("lease %s lost: another replica holds it now", self.settings.key)
            return False
        return True

    def _succeeded(self, ok: bool, sent: float, raw: bytes | str | None) -> None:
        was = self.may_act()
        self._valid_until = sent + self.settings.ttl - self.margin if ok else 0.0
        value = raw.decode(errors="replace") if isinstance(raw, bytes) else raw
        self.holder = value.rsplit("/", 1)[0] if value else None
        self.error = None
        if ok and not was:
            log.warning("lease %s taken by %s: this replica acts", self.settings.key,
                        self.identity)

    def _failed(self, why: str) -> None:
        self.error = scrub(why)
        # Keep acting only while the last renewal is still valid; the margin covers drift.
        log.warning("lease %s: Redis unavailable (%s); %s", self.settings.key, self.error,
                    "still valid until it expires" if self.may_act() else "dry-run only")

    def status(self) -> dict[str, Any]:
        return {"mode": "redis", "key": self.settings.key, "identity": self.identity,
                "held": self.may_act(), "holder": self.holder, "ttl": self.settings.ttl,
                "error": self.error}

    async def aclose(self) -> None:
        """Hand the lease over at once on a clean stop, instead of after the TTL."""
        if self.may_act():
            try:
                await self.lock.release()
            except (LockError, RedisError, OSError) as exc:
                log.warning("releasing lease %s failed: %s", self.settings.key,
                            scrub(str(exc)))
        self._valid_until = 0.0
        await self.redis.aclose()


def _client(settings: LeaseSettings) -> Redis:
    password = settings.password.get_secret_value() if settings.password else None
    budget = min(5.0, settings.ttl / 3)
    return Redis.from_url(settings.redis_url, password=password, socket_timeout=budget,
                          socket_connect_timeout=budget)


