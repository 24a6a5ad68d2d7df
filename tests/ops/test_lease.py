"""The action lease: two replicas against one real redis-server; exactly one may act."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr

from tests.ops.conftest import REDIS_PASSWORD
from tests.peers.redis_server import RedisServer
from tests.remediation_world import DOWN, World, make_world
from tests.support import Daemon, wait_for
from watchdog.remediation.redis_lease import RedisLease
from watchdog.runtime.config_models import LeaseSettings

KEY = "runbook-watchdog:lease:test"


def replica(tmp_path: Path, redis: RedisServer, name: str) -> Daemon:
    lease = {"redis_url": redis.url, "password": "${LEASE_REDIS_PASSWORD}", "key": KEY,
             "ttl": "2s", "identity": name}
    return Daemon.from_config(tmp_path / name, {"watchdog": {"lease": lease}})


def holders(*replicas: Daemon) -> list[str]:
    return [r.dir.name for r in replicas if r.status()["lease"]["held"]]


def test_two_daemons_one_holder_and_the_other_takes_over(
        tmp_path: Path, redis_server: RedisServer, daemons: list[Daemon]) -> None:
    a, b = replica(tmp_path, redis_server, "replica-a"), replica(tmp_path, redis_server,
                                                                 "replica-b")
    daemons += [a, b]
    for daemon in (a, b):
        daemon.start(LEASE_REDIS_PASSWORD=REDIS_PASSWORD)
    [first] = wait_for(lambda: holders(a, b), 20, "a lease holder")
    holder, other = (a, b) if first == "replica-a" else (b, a)
    wait_for(lambda: other.status()["lease"]["holder"] == first, 10, "the other sees it")
    assert holders(a, b) == [first]
    assert redis_server.cli("GET", KEY).startswith(f"{first}/")
    metrics = httpx.get(other.url("/metrics"), timeout=5).text
    assert "runbook_watchdog_lease_held 0.0" in metrics

    # The holder dies without releasing: the other takes over once the TTL has run out.
    holder.signal(signal.SIGKILL)
    died = time.monotonic()
    assert holder.wait(10) == -signal.SIGKILL
    wait_for(lambda: other.status()["lease"]["held"], 15, "the takeover")
    takeover = time.monotonic() - died
    assert 0.5 < takeover < 2.0 + other_renewal(2.0) + 1.0, takeover
    assert other.status()["lease"]["holder"] == other.dir.name

    # A clean stop hands the lease over at once (released, not left to expire).
    holder.start(LEASE_REDIS_PASSWORD=REDIS_PASSWORD)
    wait_for(lambda: holder.status()["lease"]["holder"] == other.dir.name, 10, "standby")
    assert not holder.status()["lease"]["held"]
    assert other.shutdown() == 0
    wait_for(lambda: holder.status()["lease"]["held"], 10, "takeover after a clean stop")

    for daemon in (a, b):
        assert REDIS_PASSWORD not in daemon.output()
        assert REDIS_PASSWORD not in (daemon.dir / "watchdog.yaml").read_text()
    assert REDIS_PASSWORD not in httpx.get(holder.url("/api/status"), timeout=5).text
    assert REDIS_PASSWORD not in httpx.get(holder.url("/"), timeout=5).text


def other_renewal(ttl: float) -> float:
    return ttl / 3  # the standby retries every ttl/3


def settings(redis: RedisServer, **extra: Any) -> LeaseSettings:
    return LeaseSettings(redis_url=redis.url, password=SecretStr(REDIS_PASSWORD), key=KEY,
                         **extra)


def test_two_racing_holders_never_both_may_act(redis_server: RedisServer) -> None:
    async def race() -> tuple[int, int]:
        one = RedisLease(settings(redis_server, ttl=1.0, identity="one"))
        two = RedisLease(settings(redis_server, ttl=1.0, identity="two"))
        both = acted = 0
        try:
            for _ in range(60):
                await asyncio.gather(one.tick(), two.tick())
                acting = one.may_act() + two.may_act()
                both += acting == 2
                acted += acting == 1
        finally:
            await one.aclose()
            await two.aclose()
        return both, acted

    both, acted = asyncio.run(race())
    assert (both, acted) == (0, 60)


def test_a_holder_cut_off_from_redis_stops_acting_before_the_key_expires(
        redis_server: RedisServer) -> None:
    async def cut_off() -> tuple[float, dict[str, object]]:
        lease = RedisLease(settings(redis_server, ttl=2.0, identity="lonely"))
        try:
            assert await lease.tick()
            granted = time.monotonic()
            redis_server.process.stop()
            assert not await lease.tick()  # Redis is gone: renewal fails
            while lease.may_act():
                await asyncio.sleep(0.02)
            return time.monotonic() - granted, lease.status()
        finally:
            await lease.aclose()

    acted_for, status = asyncio.run(cut_off())
    assert acted_for < 2.0  # stopped acting before the 2s key could expire in Redis
    assert status["held"] is False and "ConnectionError" in str(status["error"])


def test_a_wrong_password_holds_nothing_and_leaks_nothing(redis_server: RedisServer) -> None:
    async def wrong() -> dict[str, object]:
        lease = RedisLease(LeaseSettings(redis_url=redis_server.url, key=KEY,
                                         password=SecretStr("not-the-password")))
        try:
            assert not await lease.tick()
            return lease.status()
        finally:
            await lease.aclose()

    status = asyncio.run(wrong())
    assert status["held"] is False
    assert "AuthenticationError" in str(status["error"])
    assert "not-the-password" not in str(status)


def test_bad_lease_keys_are_reported_with_file_and_key(tmp_path: Path) -> None:
    from tests.support import cli

    config = tmp_path / "watchdog.yaml"
    config.write_text("watchdog:\n  lease: {redis_url: 'http://x', ttl: 500ms, colour: red}\n")
    result = cli("validate", "--config", str(config))
    assert result.returncode == 1
    assert f"{config}: watchdog.lease.redis_url: 'http' is not a redis://" in result.stderr
    assert f"{config}: watchdog.lease.ttl: ttl must be at least 1s" in result.stderr
    assert f"{config}: watchdog.lease.colour: unknown key" in result.stderr


def test_two_replicas_remediators_on_one_lease_act_once_not_twice(
        tmp_path: Path, redis_server: RedisServer) -> None:

    async def go() -> tuple[World, World]:
        leases = [RedisLease(settings(redis_server, ttl=5.0, identity=name))
                  for name in ("replica-a", "replica-b")]
        replicas = [make_world(tmp_path / name) for name in ("a", "b")]
        try:
            for lease, world in zip(leases, replicas, strict=True):
                await lease.tick()
                world.remediator.may_act = lease.may_act
            for _ in range(2):
                for world in replicas:
                    await world.observe("backend", DOWN)
        finally:
            for lease in leases:
                await lease.aclose()
        return replicas[0], replicas[1]

    for name in ("a", "b"):
        (tmp_path / name).mkdir()
    a, b = asyncio.run(go())
    assert [len(a.action.executed), len(b.action.executed)] == [1, 0]
    assert a.decisions() == ["acted", "succeeded"]
    assert b.decisions() == ["would_act"]
