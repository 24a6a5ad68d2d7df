"""The nginx_websocket probe on real nginx configurations (checked with the real `nginx -t`)."""

from __future__ import annotations

from pathlib import Path

from probes.nginx_websocket import NginxWebsocketProbe
from tests.peers.nginx import NginxPeer
from tests.support import run_probe
from watchdog.pipeline.observation import Status


def test_a_running_nginx_with_the_upgrade_headers_is_ok(nginx: NginxPeer) -> None:
    obs = run_probe(NginxWebsocketProbe, {"config": str(nginx.conf)}, timeout=5)
    assert (obs.status, obs.cause) == (Status.OK, "ok")
    assert obs.details["nginx_t"] == "ok"
    assert obs.details["at"].endswith("socketio.conf:1")


def test_a_location_without_upgrade_headers_is_reported(tmp_path: Path) -> None:
    peer = NginxPeer(tmp_path).write(socketio_upgrade=False)
    obs = run_probe(NginxWebsocketProbe, {"config": str(peer.conf)}, timeout=5)
    assert (obs.status, obs.cause) == (Status.FAILED, "missing_upgrade_headers")
    # The location sets a header of its own, so the server-level ones are not inherited.
    assert obs.details["missing"] == ["proxy_http_version 1.1",
                                      "proxy_set_header Upgrade $http_upgrade",
                                      'proxy_set_header Connection "upgrade"']
    assert obs.hint is not None and "3.6" in obs.hint


def test_headers_inherited_from_the_server_and_a_mapped_connection_count(
        tmp_path: Path) -> None:
    peer = NginxPeer(tmp_path).write()
    text = peer.conf.read_text().replace(
        "proxy_set_header Host $host;",
        "proxy_http_version 1.1; proxy_set_header Upgrade $http_upgrade; "
        "proxy_set_header Connection $connection_upgrade;")
    peer.conf.write_text(text)
    (peer.tmp / "conf.d" / "socketio.conf").write_text(
        'location /socket.io/ { return 200 "inherits"; }\n')
    obs = run_probe(NginxWebsocketProbe, {"config": str(peer.conf)}, timeout=5)
    assert (obs.status, obs.cause) == (Status.OK, "ok")


def test_without_a_socketio_location_the_serving_prefix_location_is_judged(
        tmp_path: Path) -> None:
    peer = NginxPeer(tmp_path).write()
    (peer.tmp / "conf.d" / "socketio.conf").unlink()
    obs = run_probe(NginxWebsocketProbe, {"config": str(peer.conf)}, timeout=5)
    assert obs.cause == "missing_upgrade_headers"
    assert "location /" in obs.summary


def test_a_config_nginx_rejects_is_config_invalid(tmp_path: Path) -> None:
    peer = NginxPeer(tmp_path).write()
    (peer.tmp / "conf.d" / "socketio.conf").write_text(
        "location /socket.io/ { bogus_directive on; }\n")
    obs = run_probe(NginxWebsocketProbe, {"config": str(peer.conf)}, timeout=5)
    assert (obs.status, obs.cause) == (Status.FAILED, "config_invalid")
    assert "bogus_directive" in obs.summary


def test_without_nginx_t_a_syntax_error_is_unknown(tmp_path: Path) -> None:
    conf = tmp_path / "broken.conf"
    conf.write_text("http { server { location /socket.io/ { proxy_http_version 1.1 } }\n")
    obs = run_probe(NginxWebsocketProbe, {"config": str(conf), "test_config": False})
    assert (obs.status, obs.cause) == (Status.UNKNOWN, "unreadable")
