"""Every network probe type through the installed CLI and daemon, against real peers; and
the configured secrets (Redis password, SHKeeper key, SMTP password, Mongo URI credentials)
nowhere in the output, the logs or the metrics."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from mockupdb import MockupDB

from tests.network.conftest import (
    API_KEY,
    REDIS_PASSWORD,
    SMTP_PASSWORD,
    SMTP_USER,
    NetHttpPeer,
    NxMongo,
    RedisServer,
    SmtpServer,
    Tls,
    seed_payments,
)
from tests.support import Process, cli, daemon_env, free_port, wait_for

pytestmark = pytest.mark.integration

MONGO_USER, MONGO_PASSWORD = "watchdog-user", "mongo-pw-71c0e9d3"


@dataclass
class Stack:
    """The runbook's network dependencies, all real and running."""

    web: NetHttpPeer
    tls_web: NetHttpPeer
    tls: Tls
    redis: RedisServer
    mongo: NxMongo
    smtp: SmtpServer
    smtp_tls: Tls


@pytest.fixture
def stack(web: NetHttpPeer, tls_web: NetHttpPeer, tls_expiring: Tls, redis_server: RedisServer,
          mongo: NxMongo, smtp_tls: tuple[SmtpServer, Tls]) -> Stack:
    seed_payments(mongo, stuck=4, recent=2, paid=3)
    return Stack(web, tls_web, tls_expiring, redis_server, mongo, *smtp_tls)


def write_config(tmp: Path, s: Stack, *, mongo_uri: str, extra: str = "") -> Path:
    path = tmp / "watchdog.yaml"
    path.write_text(f"""
watchdog:
  state_dir: {tmp / "state"}
{extra}
probes:
  health:
    type: http
    url: {s.tls_web.url()}
    ca_file: {s.tls.ca_file}
    tls_min_days: 14
    cert_severity: sev3
    secret_headers: {{X-Shkeeper-Api-Key: "${{SHKEEPER_API_KEY}}"}}
    severity: sev1
    runbook: "3.1"
    interval: 3s
    timeout: 2s
  shkeeper:
    type: shkeeper
    url: {s.web.base}
    api_key: ${{SHKEEPER_API_KEY}}
    stuck_payments: {{uri: "{s.mongo.uri}", older_than: 30m, threshold: 10}}
    severity: sev1
    runbook: "3.4"
    interval: 3s
    timeout: 2s
  redis:
    type: redis
    url: {s.redis.url}
    password: ${{REDIS_PASSWORD}}
    runbook: "3.3"
    interval: 3s
    timeout: 2s
  mongo:
    type: mongo
    uri: ${{MONGO_URI}}
    severity: sev1
    runbook: "3.2"
    interval: 3s
    timeout: 2s
  smtp:
    type: smtp
    host: 127.0.0.1
    port: {s.smtp.port}
    tls: starttls
    ca_file: {s.smtp_tls.ca_file}
    username: {SMTP_USER}
    password: ${{SMTP_PASS}}
    runbook: "3.5"
    interval: 3s
    timeout: 2s
""")
    return path


def secrets_env(*, redis: str = REDIS_PASSWORD, key: str = API_KEY, smtp: str = SMTP_PASSWORD,
                mongo_uri: str) -> dict[str, str]:
    return daemon_env(REDIS_PASSWORD=redis, SHKEEPER_API_KEY=key, SMTP_PASS=smtp,
                      MONGO_URI=mongo_uri)


def check(config: Path, env: dict[str, str]) -> tuple[dict[str, dict[str, Any]], str]:
    result = cli("check", "--config", str(config), "--format", "json", "--log-level", "DEBUG",
                 env=env)
    rows = {row["probe"]: row for row in json.loads(result.stdout)}
    return rows, result.stdout + result.stderr


def test_a_healthy_stack_through_check_json(stack: Stack, tmp_path: Path) -> None:
    config = write_config(tmp_path, stack, mongo_uri=stack.mongo.uri)
    config.write_text(config.read_text().replace("tls_min_days: 14", "tls_min_days: 2"))
    rows, _ = check(config, secrets_env(mongo_uri=stack.mongo.uri))
    assert {name: row["status"] for name, row in rows.items()} == dict.fromkeys(
        ["health", "shkeeper", "redis", "mongo", "smtp"], "ok")
    assert 2.9 < rows["health"]["values"]["cert_days_left"] <= 3
    assert rows["shkeeper"]["values"]["stuck_payments"] == 4
    assert rows["redis"]["values"]["latency_seconds"] > 0
    assert rows["mongo"]["values"]["latency_seconds"] > 0
    assert {row["type"] for row in rows.values()} == {"http", "shkeeper", "redis", "mongo",
                                                      "smtp"}


def test_each_type_s_failure_through_check_json_with_severity_and_runbook_hint(
        stack: Stack, tmp_path: Path, scripted_auth_failure: MockupDB) -> None:
    mongo_uri = f"mongodb://{MONGO_USER}:{MONGO_PASSWORD}@127.0.0.1:" \
                f"{scripted_auth_failure.port}/admin"
    config = write_config(tmp_path, stack, mongo_uri=mongo_uri)
    env = secrets_env(redis="wrong-redis-pw-1", key="wrong-shk-key-2", smtp="wrong-smtp-pw-3",
                      mongo_uri=mongo_uri)
    rows, everything = check(config, env)
    got = {name: (row["cause"], row["severity"], row["runbook"]) for name, row in rows.items()}
    assert got == {"health": ("cert_expiring", "sev3", "3.1"),
                   "shkeeper": ("unauthorized", "sev1", "3.4"),
                   "redis": ("auth_failed", "sev2", "3.3"),
                   "mongo": ("auth_failed", "sev1", "3.2"),
                   "smtp": ("auth_failed", "sev2", "3.5")}
    assert "update SMTP_PASS in the backend's env file" in rows["smtp"]["hint"]  # no env_file
    assert "REDIS_PASSWORD" in rows["redis"]["hint"]
    assert "SHKEEPER_API_KEY" in rows["shkeeper"]["hint"]
    for secret in ("wrong-redis-pw-1", "wrong-shk-key-2", "wrong-smtp-pw-3", MONGO_PASSWORD,
                   mongo_uri):
        assert secret not in everything


def test_secrets_stay_out_of_output_logs_metrics_and_status(
        stack: Stack, tmp_path: Path, scripted_auth_failure: MockupDB) -> None:
    mongo_uri = f"mongodb://{MONGO_USER}:{MONGO_PASSWORD}@127.0.0.1:" \
                f"{scripted_auth_failure.port}/admin"
    port = free_port()
    extra = f"  listen: 127.0.0.1:{port}\n"
    config = write_config(tmp_path, stack, mongo_uri=mongo_uri, extra=extra)
    # SMTP with a rotated password, the rest with the right secrets: failures and successes.
    env = secrets_env(smtp="rotated-smtp-pw-4", mongo_uri=mongo_uri)
    exe = Path(sys.executable).parent / "runbook-watchdog"
    daemon = Process([str(exe), "run", "--config", str(config), "--log-level", "DEBUG"],
                     tmp_path / "daemon.log", env=env).start()
    try:
        status = wait_for(lambda: _all_ran(port), timeout=30, what="every probe to run")
        metrics = httpx.get(f"http://127.0.0.1:{port}/metrics").text
    finally:
        daemon.stop()
    logs = daemon.output()
    check_rows, check_output = check(config, env)
    assert 'runbook_watchdog_probe_value{probe="shkeeper",value="stuck_payments"} 4.0' in metrics
    assert 'runbook_watchdog_probe_value{probe="redis",value="latency_seconds"}' in metrics
    assert check_rows["smtp"]["cause"] == "auth_failed"
    for secret in (REDIS_PASSWORD, API_KEY, "rotated-smtp-pw-4", MONGO_PASSWORD, mongo_uri):
        for where, text in (("logs", logs), ("metrics", metrics), ("status", status),
                            ("check", check_output)):
            assert secret not in text, f"a secret leaked into the {where}"


def _all_ran(port: int) -> str | None:
    response = httpx.get(f"http://127.0.0.1:{port}/api/status")
    probes = response.json()["probes"]
    return response.text if all(p["status"] is not None for p in probes) else None
