"""The redis probe against Debian's redis-server, started per test on a free port."""

from __future__ import annotations

from pathlib import Path

import pytest

from probes.redis import RedisProbe
from tests.peers.redis_server import PASSWORD as REDIS_PASSWORD
from tests.peers.redis_server import RedisServer
from tests.support import free_port, run_probe
from watchdog.pipeline.observation import Status

pytestmark = pytest.mark.integration


def test_a_healthy_redis_is_ok_with_latency_and_memory_values(tmp_path: Path) -> None:
    server = RedisServer(tmp_path, "--maxmemory", "64mb", password=REDIS_PASSWORD).start()
    try:
        obs = run_probe(RedisProbe, {"url": server.url, "password": REDIS_PASSWORD})
        key_ttl = server.client().ttl("runbook-watchdog:probe:probe-under-test")
    finally:
        server.stop()
    assert obs.status is Status.OK
    assert obs.values["latency_seconds"] > 0
    assert 0 < obs.values["memory_ratio"] < 0.1
    assert 0 < key_ttl <= 300  # the probe key expires on its own


def test_a_wrong_password_is_auth_failed(redis_server: RedisServer) -> None:
    obs = run_probe(RedisProbe, {"url": redis_server.url, "password": "not-the-password"})
    assert (obs.status, obs.cause) == (Status.FAILED, "auth_failed")
    assert obs.hint is not None and "REDIS_PASSWORD" in obs.hint and "3.3" in obs.hint


def test_no_password_against_requirepass_is_auth_failed_noauth(redis_server: RedisServer) -> None:
    obs = run_probe(RedisProbe, {"url": redis_server.url})
    assert (obs.status, obs.cause) == (Status.FAILED, "auth_failed")


def test_a_stopped_redis_is_refused(redis_server: RedisServer) -> None:
    redis_server.stop()
    obs = run_probe(RedisProbe, {"url": redis_server.url, "password": REDIS_PASSWORD})
    assert (obs.status, obs.cause) == (Status.FAILED, "refused")
    assert obs.hint is not None and "docker compose up -d redis" in obs.hint


def test_a_listener_that_never_answers_is_a_timeout(silent_port: int) -> None:
    obs = run_probe(RedisProbe, {"url": f"redis://127.0.0.1:{silent_port}/0"}, timeout=0.5)
    assert (obs.status, obs.cause) == (Status.FAILED, "timeout")


def test_full_memory_with_noeviction_is_oom_rejecting_writes(full_redis: RedisServer) -> None:
    obs = run_probe(RedisProbe, {"url": full_redis.url, "password": REDIS_PASSWORD})
    assert (obs.status, obs.cause) == (Status.FAILED, "oom_rejecting_writes")
    assert obs.values["memory_ratio"] >= 0.99
    assert obs.hint is not None and "allkeys-lru" in obs.hint


def test_the_write_check_alone_sees_the_oom(full_redis: RedisServer) -> None:
    # Policy changed to something that evicts nothing useful here but is not noeviction:
    # INFO no longer says "full + noeviction", so only the rejected write can tell.
    full_redis.client().config_set("maxmemory-policy", "volatile-lru")
    obs = run_probe(RedisProbe, {"url": full_redis.url, "password": REDIS_PASSWORD})
    assert (obs.status, obs.cause) == (Status.FAILED, "oom_rejecting_writes")


def test_a_failed_background_save_is_persistence_error(broken_disk_redis: RedisServer) -> None:
    obs = run_probe(RedisProbe, {"url": broken_disk_redis.url, "password": REDIS_PASSWORD})
    assert (obs.status, obs.cause) == (Status.FAILED, "persistence_error")
    assert "rdb_last_bgsave_status=err" in obs.summary
    assert "writes refused: MISCONF" in obs.summary
    assert obs.hint is not None and "df -h" in obs.hint


def test_nothing_listening_on_a_free_port_is_refused() -> None:
    obs = run_probe(RedisProbe, {"url": f"redis://127.0.0.1:{free_port()}/0"})
    assert obs.cause == "refused"


def test_the_client_is_reused_and_survives_its_connection_killed(tmp_path: Path) -> None:
    import asyncio

    from watchdog.common.clock import SystemClock
    from watchdog.pipeline.probe import ProbeContext, Resources
    from watchdog.runtime.config_models import WatchdogSettings

    server = RedisServer(tmp_path, password=REDIS_PASSWORD).start()

    async def go() -> list[str]:
        resources = Resources(WatchdogSettings(), None, SystemClock())
        probe = RedisProbe(RedisProbe.Params(url=server.url, password=REDIS_PASSWORD),
                           ProbeContext("r", 2.0, resources))
        first_client = probe.client
        causes = [(await probe.check()).cause]
        await asyncio.to_thread(server.client().execute_command, "CLIENT", "KILL", "TYPE",
                                "normal")
        causes.append((await probe.check()).cause)  # the pooled connection was killed
        assert probe.client is first_client
        await probe.aclose()
        await resources.aclose()
        return causes

    try:
        assert asyncio.run(go()) == ["ok", "ok"]
    finally:
        server.stop()
