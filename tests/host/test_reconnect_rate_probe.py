"""The reconnect_rate probe: the backend's 🔌 lines and socket.io requests through real nginx."""

from __future__ import annotations

from pathlib import Path

from probes.reconnect_rate import ReconnectRateProbe
from tests.peers.nginx import NginxPeer
from tests.peers.podman import PodmanPeer
from tests.support import run_probe, wait_for
from watchdog.pipeline.observation import Status


def test_socketio_polling_spam_in_the_access_log_is_a_storm(
        nginx: NginxPeer, tmp_path: Path) -> None:
    params = {"access_log": str(nginx.access_log), "threshold": 5}
    store = str(tmp_path / "s.db")
    assert run_probe(ReconnectRateProbe, params, store_path=store).cause == "ok"
    nginx.request("/socket.io/?EIO=4&transport=polling", times=8)
    nginx.request("/api/other", times=3)
    wait_for(lambda: nginx.logged() >= 11, what="11 lines")
    obs = run_probe(ReconnectRateProbe, params, store_path=store)
    assert (obs.status, obs.cause, obs.severity) == (Status.FAILED, "websocket_storm", "sev2")
    assert obs.values["socketio_requests"] == 8
    assert obs.signals == frozenset()  # one storm, however many lines: no distinct reports


def test_connect_disconnect_lines_from_a_log_file(tmp_path: Path) -> None:
    log = tmp_path / "backend.log"
    log.write_text("")
    params, store = {"path": str(log), "threshold": 3}, str(tmp_path / "s.db")
    run_probe(ReconnectRateProbe, params, store_path=store)
    log.write_text("🔌 User connected abc\n🔌 User disconnected abc\n")
    assert run_probe(ReconnectRateProbe, params, store_path=store).cause == "ok"
    with log.open("a") as f:
        f.write("🔌 User connected abc\n🔌 User disconnected abc\nunrelated\n")
    obs = run_probe(ReconnectRateProbe, params, store_path=store)
    assert (obs.cause, obs.values["reconnect_lines"]) == ("websocket_storm", 4)


def test_connect_disconnect_lines_from_a_container(podman: PodmanPeer, tmp_path: Path) -> None:
    script = "for i in 1 2 3 4 5 6; do echo \"🔌 User connected u$i\"; done; sleep 600"
    podman.run("chat", ["sh", "-c", script])
    try:
        wait_for(lambda: podman.client().containers.get(podman.name("chat")).logs()
                 .count("🔌".encode()) == 6, what="six lines")
        obs = run_probe(ReconnectRateProbe, {"container": podman.name("chat"), "threshold": 5},
                        timeout=5, settings={"docker_url": podman.url})
        assert (obs.cause, obs.values["reconnect_lines"]) == ("websocket_storm", 6)
    finally:
        podman.remove("chat")
