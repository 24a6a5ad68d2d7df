"""Every host probe type through `runbook-watchdog check --format json`, against real peers."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from tests.peers.hanging_socket import HangingSocket
from tests.peers.nginx import NginxPeer
from tests.peers.podman import PodmanPeer
from tests.support import cli, wait_for

ACCESS = '198.51.100.{n} - - [{t}] "POST /api/auth/login HTTP/1.1" 401 12 "-" "curl"\n'


def rows(config: Path, tmp: Path, text: str) -> dict[str, dict[str, Any]]:
    config.write_text(text)
    result = cli("check", "--config", str(config), "--format", "json", timeout=120)
    assert result.stdout, result.stderr
    return {row["probe"]: row for row in json.loads(result.stdout)}


def test_each_host_probe_type_reports_through_check_json(
        podman: PodmanPeer, tmp_path: Path) -> None:
    podman.run("cli-chat", ["sh", "-c", "for i in 1 2 3; do echo '🔌 User connected'; done; "
                            "sleep 600"])
    podman.run("cli-app", ["sleep", "600"])
    nginx = NginxPeer(tmp_path).write(socketio_upgrade=False)
    # A credential in a log line must not reach the output (the sample is in the details).
    (tmp_path / "backend.log").write_text(
        "MongoNetworkError: mongodb://app:hunter2@mongo:27017/db\n" * 3)
    stamp = time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime())
    (tmp_path / "access.log").write_text(ACCESS.format(n=7, t=stamp) * 12)
    old = tmp_path / "db-1.gz"
    old.write_bytes(b"dump")
    os.utime(old, (time.time() - 2 * 86400,) * 2)
    try:
        wait_for(lambda: podman.client().containers.get(podman.name("cli-chat")).logs()
                 .count("🔌".encode()) == 3, what="three lines")
        out = rows(tmp_path / "w.yaml", tmp_path, f"""
watchdog: {{docker_url: "{podman.url}", state_dir: "{tmp_path}/state"}}
probes:
  backend-container: {{type: container, container: {podman.name("gone")}, timeout: 5s}}
  deploys: {{type: deploy, containers: [{podman.name("cli-app")}], timeout: 5s}}
  backend-logs: {{type: logs, path: "{tmp_path}/backend.log", from_start: true}}
  websocket-storm: {{type: reconnect_rate, container: {podman.name("cli-chat")},
                    threshold: 2, timeout: 5s}}
  nginx-websocket: {{type: nginx_websocket, config: "{nginx.conf}"}}
  disk: {{type: disk, path: "{tmp_path}", warn: "0%", critical: "100%"}}
  backups: {{type: file_age, glob: "{tmp_path}/db-*.gz", max_age: 24h, severity: sev4}}
  abuse: {{type: access_log, path: "{tmp_path}/access.log", from_start: true,
          max_failed_logins: 10}}
""")
    finally:
        podman.remove("cli-chat")
        podman.remove("cli-app")
    got = {name: (row["type"], row["status"], row["cause"]) for name, row in out.items()}
    assert got == {
        "backend-container": ("container", "failed", "missing"),
        "deploys": ("deploy", "ok", "ok"),
        "backend-logs": ("logs", "failed", "mongo_unreachable"),
        "websocket-storm": ("reconnect_rate", "failed", "websocket_storm"),
        "nginx-websocket": ("nginx_websocket", "failed", "missing_upgrade_headers"),
        "disk": ("disk", "failed", "disk_usage_high"),
        "backups": ("file_age", "failed", "stale"),
        "abuse": ("access_log", "failed", "brute_force"),
    }
    assert out["abuse"]["details"]["offenders"][0]["ip"] == "198.51.100.7"
    assert out["backend-logs"]["severity"] == "sev1"
    assert "mongodb://app:***@mongo" in out["backend-logs"]["details"]["rules"][0]["sample"]
    assert "hunter2" not in json.dumps(out)


def test_a_hung_engine_through_check_is_unknown_and_the_rest_still_reports(
        tmp_path: Path) -> None:
    hung = HangingSocket(tmp_path / "d.sock").start()
    try:
        out = rows(tmp_path / "w.yaml", tmp_path, f"""
watchdog: {{docker_url: "{hung.url}"}}
probes:
  backend-container: {{type: container, container: nickapp-backend, timeout: 1s}}
  disk: {{type: disk, path: "{tmp_path}"}}
""")
    finally:
        hung.stop()
    assert (out["backend-container"]["status"], out["backend-container"]["cause"]) == \
        ("unknown", "docker_timeout")
    assert out["disk"]["status"] == "ok"
