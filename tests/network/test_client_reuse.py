"""HTTP probes share the process's one client; every probe keeps its client across runs;
what they measure becomes the probe_value metric."""

from __future__ import annotations

import asyncio
from typing import Any

from prometheus_client import CollectorRegistry

from probes.http import HttpProbe
from probes.mongo import MongoProbe
from probes.shkeeper import ShkeeperProbe
from tests.network.conftest import API_KEY, NetHttpPeer, NxMongo
from watchdog.common.clock import SystemClock
from watchdog.pipeline.probe import ProbeContext, Resources
from watchdog.runtime.config_models import WatchdogSettings
from watchdog.runtime.metrics import Metrics


def _run(coro_fn: Any) -> Any:
    async def go() -> Any:
        resources = Resources(WatchdogSettings(), None, SystemClock())
        try:
            return await coro_fn(resources)
        finally:
            await resources.aclose()

    return asyncio.run(go())


def test_http_and_shkeeper_probes_share_the_process_client(web: NetHttpPeer) -> None:
    async def go(resources: Resources) -> list[str]:
        health = HttpProbe(HttpProbe.Params(url=web.url()), ProbeContext("a", 2, resources))
        shk = ShkeeperProbe(ShkeeperProbe.Params(url=web.base, api_key=API_KEY),
                            ProbeContext("b", 2, resources))
        assert health.client is shk.http is resources.http()
        causes = [(await p.check()).cause for p in (health, shk, health, shk)]
        for probe in (health, shk):
            await probe.aclose()
        assert not resources.http().is_closed  # closing a probe leaves the shared client
        return causes

    assert _run(go) == ["ok"] * 4


def test_a_mongo_probe_keeps_its_client_across_runs(mongo: NxMongo) -> None:
    async def go(resources: Resources) -> list[str]:
        probe = MongoProbe(MongoProbe.Params(uri=mongo.uri), ProbeContext("m", 2, resources))
        client = probe.client
        causes = [(await probe.check()).cause for _ in range(3)]
        assert probe.client is client
        await probe.aclose()
        return causes

    assert _run(go) == ["ok"] * 3


def test_probe_values_are_exported_and_forgotten_with_the_probe() -> None:
    registry = CollectorRegistry()
    metrics = Metrics(registry)
    metrics.observe_values("redis", {"memory_ratio": 0.5, "latency_seconds": 0.001})
    sample = registry.get_sample_value
    assert sample("runbook_watchdog_probe_value",
                  {"probe": "redis", "value": "memory_ratio"}) == 0.5
    metrics.forget_probe("redis")
    assert sample("runbook_watchdog_probe_value",
                  {"probe": "redis", "value": "memory_ratio"}) is None
