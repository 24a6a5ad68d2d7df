"""End to end: the installed command against a real HTTP server on loopback.

The daemon runs as its own process, as systemd would run it; the tests synchronise on
what it publishes (/api/status, /metrics), never on sleeps.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support import Daemon, HttpPeer, cli, free_port, wait_for

pytestmark = pytest.mark.integration  # the installed daemon against a real HTTP peer


def config_text(peer: HttpPeer, port: int, state: Path, extra: str = "") -> str:
    return textwrap.dedent(f"""\
        watchdog:
          listen: 127.0.0.1:{port}
          state_dir: {state}
          spread: 0s
          shutdown_grace: 5s
        probes:
          backend-health:
            type: http
            url: {peer.url()}
            interval: 500ms
            timeout: 300ms
            severity: sev1
            fail_after: 2
            recover_after: 1
            runbook: "3.1"
            expect_json: {{status: ok}}
        """) + extra


@pytest.fixture
def setup(tmp_path: Path, http_peer: HttpPeer) -> Iterator[tuple[Daemon, HttpPeer, Path]]:
    port, state = free_port(), tmp_path / "state"
    config = tmp_path / "watchdog.yaml"
    config.write_text(config_text(http_peer, port, state))
    daemon = Daemon(config, port, tmp_path / "daemon.log")
    yield daemon, http_peer, state
    daemon.stop()


def test_check_prints_json_and_exits_like_a_nagios_plugin(tmp_path: Path,
                                                          http_peer: HttpPeer) -> None:
    config = tmp_path / "watchdog.yaml"
    config.write_text(config_text(http_peer, free_port(), tmp_path / "nowhere"))
    good = cli("check", "--config", str(config), "--format", "json")
    assert good.returncode == 0, good.stderr
    [row] = json.loads(good.stdout)
    assert {k: row[k] for k in ("probe", "type", "status", "severity", "cause", "runbook")} == {
        "probe": "backend-health", "type": "http", "status": "ok", "severity": None,
        "cause": "ok", "runbook": "3.1"}
    http_peer.set_mode("badjson")
    bad = cli("check", "--config", str(config), "--format", "json", "--probe", "backend-health")
    assert bad.returncode == 2
    assert json.loads(bad.stdout)[0]["severity"] == "sev1"
    assert json.loads(bad.stdout)[0]["cause"] == "bad_body"
    assert not (tmp_path / "nowhere").exists(), "check must not need the state directory"


def test_check_exit_codes_for_warning_unknown_and_usage(tmp_path: Path,
                                                        http_peer: HttpPeer) -> None:
    config = tmp_path / "watchdog.yaml"
    text = config_text(http_peer, free_port(), tmp_path / "s").replace("sev1", "sev3")
    config.write_text(text)
    http_peer.set_mode("503")
    assert cli("check", "--config", str(config)).returncode == 1
    assert cli("check", "--config", str(config), "--probe", "nope").returncode == 3
    assert cli("check", "--config", str(tmp_path / "missing.yaml")).returncode == 3
    assert cli("check", "--bogus-flag").returncode == 3


def test_validate_reports_every_error_and_exits_1(tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("watchdog: {listen: nowhere, colour: blue}\n")
    result = cli("validate", "--config", str(config))
    assert result.returncode == 1
    assert f"{config}: watchdog.listen: 'nowhere' is not HOST:PORT" in result.stderr
    assert f"{config}: watchdog.colour: unknown key" in result.stderr


def test_outage_opens_an_incident_that_survives_a_restart_and_resolves(
        setup: tuple[Daemon, HttpPeer, Path]) -> None:
    daemon, peer, _ = setup
    daemon.start()
    wait_for(lambda: daemon.probe("backend-health")["status"] == "ok", what="first ok run")
    assert daemon.metric("runbook_watchdog_probe_success", probe="backend-health") == 1.0

    peer.set_mode("503")
    incident = wait_for(lambda: daemon.status()["incidents"], what="incident to open")[0]
    assert (incident["severity"], incident["cause"], incident["runbook"]) == ("sev1", "bad_status",
                                                                              "3.1")
    assert daemon.metric("runbook_watchdog_probe_success", probe="backend-health") == 0.0
    assert daemon.metric("runbook_watchdog_incidents_open", severity="sev1") == 1.0
    assert daemon.metric("runbook_watchdog_incident_transitions_total", severity="sev1",
                         transition="open") == 1.0

    assert daemon.shutdown() == 0
    peer.stop()
    daemon.start()
    wait_for(lambda: daemon.probe("backend-health")["cause"] == "refused", what="refused after restart")
    [same] = daemon.status()["incidents"]
    assert same["id"] == incident["id"] and same["opened_at"] == incident["opened_at"]

    peer.start()
    wait_for(lambda: not daemon.status()["incidents"], what="incident to resolve")
    assert daemon.metric("runbook_watchdog_incidents_open", severity="sev1") == 0.0
    assert daemon.shutdown() == 0

    listed = cli("incidents", "--all", "--format", "json", "--config", str(daemon.config))
    [row] = json.loads(listed.stdout)
    assert (row["id"], row["status"]) == (incident["id"], "resolved")
    assert row["resolved_at"] > row["opened_at"]


def test_a_bad_config_on_sighup_is_rejected_and_the_old_one_keeps_running(
        setup: tuple[Daemon, HttpPeer, Path], tmp_path: Path) -> None:
    daemon, peer, _ = setup
    daemon.start()
    assert daemon.metric("runbook_watchdog_config_last_reload_successful") == 1.0
    good = daemon.config.read_text()
    daemon.config.write_text(good + "  broken: {type: http, url: x, interval: soon}\n")
    daemon.hup()
    wait_for(lambda: daemon.metric("runbook_watchdog_config_last_reload_successful") == 0.0,
             what="reload failure metric")
    runs = daemon.metric("runbook_watchdog_probe_runs_total", probe="backend-health",
                         status="ok") or 0.0
    wait_for(lambda: (daemon.metric("runbook_watchdog_probe_runs_total", probe="backend-health",
                                    status="ok") or 0.0) > runs, what="old config still probing")
    assert "probes.broken.interval: 'soon' is not a duration" in daemon.output()

    extra = f"""  second:\n    type: http\n    url: {peer.url('/status/200')}\n""" \
            """    interval: 1s\n    timeout: 500ms\n"""
    daemon.config.write_text(good + extra)
    daemon.hup()
    wait_for(lambda: daemon.metric("runbook_watchdog_config_last_reload_successful") == 1.0,
             what="successful reload")
    wait_for(lambda: daemon.probe("second")["status"] == "ok", what="new probe running")
    assert daemon.shutdown() == 0


def test_sigterm_stops_cleanly_with_a_run_in_flight(setup: tuple[Daemon, HttpPeer, Path]) -> None:
    daemon, peer, _ = setup
    peer.set_mode("hang")
    daemon.start()
    wait_for(lambda: daemon.probe("backend-health")["status"] is not None, what="a first (timed-out) run")
    assert daemon.shutdown() == 0
    log = daemon.output()
    assert "stopped" in log and "Traceback" not in log


def test_health_and_unknown_routes(setup: tuple[Daemon, HttpPeer, Path]) -> None:
    daemon, _, _ = setup
    daemon.start()
    assert httpx.get(daemon.url("/healthz")).text == "ok\n"
    assert httpx.get(daemon.url("/nope")).status_code == 404
    assert daemon.metric("runbook_watchdog_build_info", version="0.1.0") == 1.0
    # The load-shedding state is visible: the adaptive limit sits between floor and ceiling.
    limit = daemon.metric("runbook_watchdog_scheduler_in_flight_limit")
    assert limit is not None and 4 <= limit <= 100
    assert daemon.metric("runbook_watchdog_scheduler_in_flight") in (0.0, 1.0)
