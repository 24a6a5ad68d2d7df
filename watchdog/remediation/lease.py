"""Two replicas, one actor: a lease in Redis that the remediation stage takes before acting.

The lease is a `redis.asyncio` lock (SET NX PX with a token of our own) renewed every
ttl/3. Validity is judged locally and conservatively: from the moment the last successful
request was *sent*, plus the TTL, minus a safety margin; so a replica cut off from Redis
stops acting before the key can expire and the other replica take over. A replica without
the lease acts only in dry-run. Without `watchdog.lease` there is one replica: it always
holds the (implicit) lease. `RedisLease` lives in redis_lease.py, imported (with redis-py)
only when a lease is configured.
"""

from __future__ import annotations

import logging
import os
import socket
from typing import TYPE_CHECKING, Any, Protocol

from prometheus_client import CollectorRegistry, Gauge

from watchdog.runtime.config_models import LeaseSettings
from watchdog.runtime.metrics import PREFIX

if TYPE_CHECKING:
    from watchdog.remediation.redis_lease import RedisLease

log = logging.getLogger(__name__)


class ActionLease(Protocol):
    """What the remediation stage asks before any action."""

    def may_act(self) -> bool:
        """True while this replica may act; False means dry-run only."""
        ...

    def status(self) -> dict[str, Any]:
        """Shown as `lease` in /api/status."""
        ...


def default_identity() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class SingleReplica:
    """No lease configured: this is the only watchdog, it may always act."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        if registry is not None:
            held_gauge(registry).set(1)

    def may_act(self) -> bool:
        return True

    def status(self) -> dict[str, Any]:
        return {"mode": "single", "held": True, "holder": default_identity()}

    async def run(self) -> None:
        return None

    async def aclose(self) -> None:
        return None


def held_gauge(registry: CollectorRegistry) -> Gauge:
    return Gauge(PREFIX + "lease_held",
                 "1 while this replica holds the action lease (always 1 for a single replica)",
                 registry=registry)


def lease_for(settings: LeaseSettings | None,
              registry: CollectorRegistry | None = None) -> SingleReplica | RedisLease:
    if settings is None:
        return SingleReplica(registry)
    # redis-py is imported only when a lease is configured.
    from watchdog.remediation.redis_lease import RedisLease

    return RedisLease(settings, registry)
