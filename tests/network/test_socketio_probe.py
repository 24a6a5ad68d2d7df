"""The socketio probe against a real socket.io server (python-socketio on aiohttp) behind
a real nginx: each cause is produced by the nginx configuration that causes it in
production (runbook §3.6)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from probes.socketio import SocketioProbe
from tests.network.conftest import Tls
from tests.peers.nginx import NginxPeer
from tests.peers.socketio_server import SocketioServer
from tests.support import ROOT, cli, daemon_env, free_port, run_probe
from watchdog.pipeline.observation import Observation, Status

PING_INTERVAL = 4.0  # the server's pings: longer than the short proxy_read_timeout below
HOLD = 6.0  # spans one server ping (the probe must answer it) and the short read timeout
TIMEOUT = 15.0  # generous (the machine is shared); the hold fits in it

Proxy = Callable[..., NginxPeer]


@pytest.fixture
def socketio_server(tmp_path: Path) -> Iterator[SocketioServer]:
    server = SocketioServer(tmp_path, PING_INTERVAL).start()
    yield server
    server.stop()


@pytest.fixture
def proxy(tmp_path: Path, socketio_server: SocketioServer) -> Iterator[Proxy]:
    """Starts nginx in front of the socket.io server with the given location settings."""
    started: list[NginxPeer] = []

    def start(**kw: Any) -> NginxPeer:
        peer = NginxPeer(tmp_path / f"n{len(started)}").start_proxy(socketio_server.port, **kw)
        started.append(peer)
        return peer

    yield start
    for peer in started:
        peer.stop()


def probe(url: str, **params: object) -> Observation:
    return run_probe(SocketioProbe, {"url": url, **params}, timeout=TIMEOUT)


def test_nginx_with_the_upgrade_headers_passes_and_holds_across_a_server_ping(
        proxy: Proxy) -> None:
    nginx = proxy(upgrade=True)
    obs = probe(f"http://127.0.0.1:{nginx.port}/socket.io/", hold=f"{HOLD:g}s")
    assert (obs.status, obs.cause) == (Status.OK, "ok"), obs.summary
    assert "held 6s" in obs.summary
    assert obs.details["ping_interval"] == PING_INTERVAL


def test_nginx_without_the_upgrade_headers_rejects_the_upgrade(proxy: Proxy) -> None:
    nginx = proxy(upgrade=False)
    obs = probe(f"http://127.0.0.1:{nginx.port}/socket.io/")
    assert (obs.status, obs.cause) == (Status.FAILED, "upgrade_rejected"), obs.summary
    # nginx forwards the upgrade as a plain request; socket.io answers 400, nginx relays it.
    assert obs.details["status"] == 400
    assert "HTTP 400" in obs.summary
    assert obs.hint is not None and "proxy_set_header Upgrade $http_upgrade" in obs.hint


def test_a_read_timeout_shorter_than_the_ping_interval_drops_the_connection_at_that_second(
        proxy: Proxy) -> None:
    nginx = proxy(upgrade=True, read_timeout="2s")
    obs = probe(f"http://127.0.0.1:{nginx.port}/socket.io/", hold=f"{HOLD:g}s")
    assert (obs.status, obs.cause) == (Status.FAILED, "dropped_early"), obs.summary
    assert 2.0 <= obs.details["dropped_at"] < PING_INTERVAL
    assert "dropped after 2s" in obs.summary
    assert obs.hint is not None and "proxy_read_timeout" in obs.hint


def test_a_plain_http_server_fails_the_handshake(proxy: Proxy) -> None:
    nginx = proxy(upgrade=True)  # its `location /` answers "ok": not socket.io
    obs = probe(f"http://127.0.0.1:{nginx.port}/chat/")
    assert (obs.status, obs.cause) == (Status.FAILED, "handshake_failed"), obs.summary
    assert "no Engine.IO open packet" in obs.summary


def test_the_backend_down_behind_nginx_fails_the_handshake_with_nginx_status(
        proxy: Proxy, socketio_server: SocketioServer) -> None:
    nginx = proxy(upgrade=True)
    socketio_server.stop()
    obs = probe(f"http://127.0.0.1:{nginx.port}/socket.io/")
    assert (obs.status, obs.cause) == (Status.FAILED, "handshake_failed"), obs.summary
    assert obs.details["status"] == 502


def test_nothing_listening_is_refused() -> None:
    obs = probe(f"http://127.0.0.1:{free_port()}/socket.io/")
    assert (obs.status, obs.cause) == (Status.FAILED, "refused"), obs.summary


def test_a_peer_that_never_answers_is_a_timeout(silent_port: int) -> None:
    obs = run_probe(SocketioProbe, {"url": f"http://127.0.0.1:{silent_port}/socket.io/"},
                    timeout=1.0)
    assert (obs.status, obs.cause) == (Status.FAILED, "timeout"), obs.summary


def test_an_untrusted_certificate_is_a_tls_error_and_the_private_ca_passes(
        proxy: Proxy, tls_expiring: Tls) -> None:
    nginx = proxy(upgrade=True, tls=(tls_expiring.cert_file, tls_expiring.key_file))
    url = f"https://127.0.0.1:{nginx.tls_port}/socket.io/"
    untrusted = probe(url)
    assert (untrusted.status, untrusted.cause) == (Status.FAILED, "tls_error"), \
        untrusted.summary
    trusted = probe(url, ca_file=str(tls_expiring.ca_file))  # wss:// with the same CA
    assert (trusted.status, trusted.cause) == (Status.OK, "ok"), trusted.summary


def test_a_hold_that_does_not_fit_in_the_timeout_is_unknown() -> None:
    obs = run_probe(SocketioProbe, {"url": "http://127.0.0.1:1/socket.io/", "hold": "70s"},
                    timeout=10.0)
    assert (obs.status, obs.cause) == (Status.UNKNOWN, "misconfigured")
    assert "hold (70s) must be less than the probe's timeout (10s)" in obs.summary


def test_the_bundled_probe_reports_through_check_json(proxy: Proxy, tmp_path: Path) -> None:
    """The bundled config's chat-socketio, pointed at this site by SOCKETIO_URL."""
    nginx = proxy(upgrade=False)
    env = daemon_env(SOCKETIO_URL=f"http://127.0.0.1:{nginx.port}/socket.io/",
                     RUNBOOK_WATCHDOG_STATE_DIR=str(tmp_path / "state"))
    result = cli("check", "--config", str(ROOT / "config" / "watchdog.yaml"), "--probe",
                 "chat-socketio", "--format", "json", env=env, timeout=120)
    rows = {row["probe"]: row for row in json.loads(result.stdout or "[]")}
    row = rows["chat-socketio"]
    assert (row["type"], row["status"], row["cause"], row["severity"], row["runbook"]) == \
        ("socketio", "failed", "upgrade_rejected", "sev2", "3.6"), result.stderr


def test_a_hold_longer_than_the_timeout_is_a_config_error_naming_the_key(
        tmp_path: Path) -> None:
    config = tmp_path / "w.yaml"
    config.write_text("probes:\n  chat:\n    type: socketio\n    url: http://127.0.0.1:1/\n"
                      "    hold: 70s\n    interval: 5m\n    timeout: 60s\n")
    result = cli("validate", "--config", str(config), env=daemon_env(
        RUNBOOK_WATCHDOG_STATE_DIR=str(tmp_path / "state")))
    assert result.returncode == 1
    assert f"{config}: probes.chat.hold: 70s must be less than the probe's timeout (60s)" \
        in result.stdout + result.stderr
