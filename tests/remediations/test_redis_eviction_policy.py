"""redis_eviction_policy against a real redis-server that is full under noeviction."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import redis

from probes.redis import RedisProbe
from remediations.redis_eviction_policy import RedisEvictionPolicy
from tests.peers.redis_server import PASSWORD, RedisServer
from tests.remediation_world import World, world_settings
from tests.support import run_probe
from watchdog.pipeline.observation import Status

CONFIG = """\
probes:
  redis:
    type: redis
    url: {url}
    password: {password}
    fail_after: 1
remediations:
  redis-eviction:
    type: redis_eviction_policy
    mode: {mode}
    on: [redis:oom_rejecting_writes]
    after: 2
    probe: redis
    verify: {{probe: redis, within: 5s}}
    start_period: 0s
"""


def world(tmp: Path, server: RedisServer, mode: str = "auto") -> World:
    text = world_settings(tmp) + CONFIG.format(url=server.url, password=PASSWORD, mode=mode)
    return World(tmp, text, {"redis_eviction_policy": RedisEvictionPolicy},
                 probe_types={"redis": RedisProbe})


def drive(w: World, server: RedisServer) -> World:
    """Feed the real redis probe's findings until the remediation has decided."""

    async def go() -> World:
        for _ in range(2):
            obs = await asyncio.to_thread(run_probe, RedisProbe,
                                          {"url": server.url, "password": PASSWORD})
            await w.observe("redis", obs, then=0)
        # verification waits for the probe to pass again: feed it while deciding
        while w.remediator.tasks:
            obs = await asyncio.to_thread(run_probe, RedisProbe,
                                          {"url": server.url, "password": PASSWORD})
            await w.observe("redis", obs, then=1.0)
        return w

    return asyncio.run(go())


def test_a_full_redis_under_noeviction_gets_allkeys_lru_and_writes_work_again(
        tmp_path: Path, full_redis: RedisServer) -> None:
    before = run_probe(RedisProbe, {"url": full_redis.url, "password": PASSWORD})
    assert (before.status, before.cause) == (Status.FAILED, "oom_rejecting_writes")

    w = drive(world(tmp_path, full_redis), full_redis)
    assert w.decisions() == ["acted", "succeeded"]
    acted = w.ledger.entries()[0]
    assert acted["reason"] == (f"set maxmemory-policy noeviction -> allkeys-lru on "
                               f"redis://127.0.0.1:{full_redis.port}/0")
    assert full_redis.client().config_get("maxmemory-policy") == {
        "maxmemory-policy": "allkeys-lru"}
    full_redis.client().set("after-the-fix", "x" * 10_000)  # would raise OOM before
    undo = w.store.query("SELECT undo FROM remediation_actions")[0]["undo"]
    assert '"maxmemory-policy": "noeviction"' in undo
    assert PASSWORD not in (tmp_path / "audit.jsonl").read_text()


def test_dry_run_changes_nothing(tmp_path: Path, full_redis: RedisServer) -> None:
    w = drive(world(tmp_path, full_redis, mode="dry-run"), full_redis)
    # later cycles may add "skipped: backoff" (dry-run simulates the budget); never an act
    assert w.decisions()[0] == "would_act" and "acted" not in w.decisions()
    assert full_redis.client().config_get("maxmemory-policy") == {
        "maxmemory-policy": "noeviction"}
    with pytest.raises(redis.exceptions.OutOfMemoryError):
        full_redis.client().set("still-full", "x" * 10_000)


def test_a_refused_config_set_is_failed_and_escalates(tmp_path: Path) -> None:
    # CONFIG renamed away, as hardened production setups do: the action cannot act.
    server = RedisServer(tmp_path, "--maxmemory", "2mb", "--maxmemory-policy", "noeviction",
                         password=PASSWORD).start()
    try:
        server.fill_until_oom()
        w = world(tmp_path, server)
        server.client().acl_setuser("default", enabled=True, passwords=[f"+{PASSWORD}"],
                                    commands=["+@all", "-config|set"], keys=["*"],
                                    channels=["*"])
        w = drive(w, server)
    finally:
        server.stop()
    # later cycles may add "skipped: backoff" while the probe still fails; one act only
    assert w.decisions()[:2] == ["acted", "failed"] and w.decisions().count("acted") == 1
    assert "CONFIG SET refused" in w.ledger.entries()[1]["reason"]
    [incident] = w.engine.book.open_incidents()
    assert incident.severity == "sev1"  # sev2 raised by the failed remediation
