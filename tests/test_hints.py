"""Hints name an installation's containers and env file only from its config."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from probes.logs import LogsProbe
from probes.mongo import MongoProbe
from probes.redis import RedisProbe
from probes.shkeeper import ShkeeperProbe
from probes.smtp import SmtpProbe
from watchdog.common.clock import SystemClock
from watchdog.pipeline.probe import ProbeContext, Resources
from watchdog.runtime.config_models import WatchdogSettings


def hints_of(probe_type: Any, params: dict[str, Any], env_file: str | None = None) -> Any:
    async def build() -> Any:
        settings = WatchdogSettings(env_file=Path(env_file) if env_file else None)
        resources = Resources(settings, None, SystemClock())
        probe = probe_type(probe_type.Params(**params), ProbeContext("p", 2.0, resources))
        try:
            return probe.hints if hasattr(probe, "hints") else \
                {rule.cause: rule.hint for rule in probe.rules}
        finally:
            await probe.aclose()
            await resources.aclose()

    return asyncio.run(build())


def test_configured_container_and_env_file_fill_the_hints() -> None:
    redis = hints_of(RedisProbe, {"container": "shop-redis"}, env_file="/srv/shop/.env")
    assert "docker logs --tail=200 shop-redis" in redis["refused"]
    assert "REDIS_PASSWORD in /srv/shop/.env differs" in redis["auth_failed"]
    mongo = hints_of(MongoProbe, {"uri": "mongodb://127.0.0.1:1/x", "container": "shop-db"},
                     env_file="/srv/shop/.env")
    assert "docker logs --tail=200 shop-db" in mongo["unreachable"]
    assert "/srv/shop/.env against the database's users" in mongo["auth_failed"]
    smtp = hints_of(SmtpProbe, {"host": "127.0.0.1"}, env_file="/srv/shop/.env")
    assert "update SMTP_PASS in /srv/shop/.env" in smtp["auth_failed"]
    shk = hints_of(ShkeeperProbe, {"url": "http://127.0.0.1:1", "api_key": "k"},
                   env_file="/srv/shop/.env")
    assert "SHKEEPER_API_KEY in /srv/shop/.env" in shk["unauthorized"]
    logs = hints_of(LogsProbe, {"container": "shop-api"}, env_file="/srv/shop/.env")
    assert "add it to /srv/shop/.env" in logs["missing_env"]


def test_without_config_the_hints_use_neutral_words() -> None:
    redis = hints_of(RedisProbe, {})
    assert "docker logs --tail=200 <the Redis container>" in redis["refused"]
    assert "REDIS_PASSWORD in the backend's env file" in redis["auth_failed"]
    mongo = hints_of(MongoProbe, {"uri": "mongodb://127.0.0.1:1/x"})
    assert "<the MongoDB container>" in mongo["timeout"]
    logs = hints_of(LogsProbe, {"container": "api"})
    assert "add it to the backend's env file" in logs["missing_env"]
    for hints in (redis, mongo, logs):
        assert not any("{" in (hint or "") for hint in hints.values())
