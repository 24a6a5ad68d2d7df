"""Operator experience through the real CLI: state commands find the daemon's state, one-line
errors, exit codes as the README's table says."""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.ops.conftest import refused_probe
from tests.support import ROOT, Daemon, cli, daemon_env, wait_for
from watchdog.common.state import StateStore

STATE_FROM_ENV = "${RUNBOOK_WATCHDOG_STATE_DIR:-/var/lib/runbook-watchdog}"


@pytest.fixture
def env_state_daemon(tmp_path: Path) -> Iterator[tuple[Daemon, dict[str, str]]]:
    """A daemon whose state_dir comes from RUNBOOK_WATCHDOG_STATE_DIR, as `make run` runs the
    bundled config; its probe (named as the bundled config's) has an incident open."""
    state = tmp_path / ".state"
    daemon = Daemon.from_config(tmp_path / "d", {
        "watchdog": {"state_dir": STATE_FROM_ENV},
        "probes": {"backend-health": refused_probe()}})
    daemon.start(RUNBOOK_WATCHDOG_STATE_DIR=str(state))
    try:
        wait_for(lambda: daemon.status()["incidents"], what="an open incident")
        yield daemon, daemon_env(RUNBOOK_WATCHDOG_STATE_DIR=str(state))
    finally:
        daemon.stop()


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_state_commands_read_the_state_dir_the_config_resolves_from_the_environment(
        env_state_daemon: tuple[Daemon, dict[str, str]]) -> None:
    daemon, env = env_state_daemon
    config = ("--config", str(daemon.config))
    assert ok(cli("incidents", "--all", *config, env=env)).startswith("#1 SEV2 backend-health ")
    assert ok(cli("ack", "1", *config, env=env)) == \
        "incident #1 acknowledged: no more reminders\n"
    assert ok(cli("silence", "add", "--probe", "backend-health", "--for", "2h", "--reason",
                  "deploy", *config, env=env)).startswith("silence #1 until ")
    assert "backend-health" in ok(cli("postmortem", "1", *config, env=env))
    assert ok(cli("remediations", *config, env=env)) == ""  # none configured, no error
    # Without the variable, the same config names /var/lib/runbook-watchdog: said so, exit 3.
    missing = cli("incidents", *config)
    assert missing.returncode == 3
    assert "no state database at /var/lib/runbook-watchdog/state.db (the state_dir of " \
           f"{daemon.config})" in missing.stderr
    assert "RUNBOOK_WATCHDOG_STATE_DIR" in missing.stderr


def test_the_readme_commands_verbatim_after_make_run(
        env_state_daemon: tuple[Daemon, dict[str, str]]) -> None:
    """No --config, from the checkout, with the variable `make run` sets: the bundled config
    (config/watchdog.yaml) is the default and resolves to the daemon's state."""
    _, env = env_state_daemon
    assert ok(cli("incidents", "--all", env=env)).startswith("#1 SEV2 backend-health ")
    assert ok(cli("ack", "1", env=env)).startswith("incident #1 acknowledged")
    assert ok(cli("silence", "add", "--probe", "backend-health", "--for", "2h", "--reason",
                  "deploy", env=env)).startswith("silence #1 until ")
    assert "backend-health" in ok(cli("postmortem", "1", env=env))
    rows = ok(cli("remediations", env=env)).splitlines()
    assert any(line.startswith("rollback-backend ") for line in rows), rows
    assert ok(cli("reset", "nickapp-backend", env=env)).startswith("nickapp-backend: ")


def test_run_on_an_address_another_watchdog_holds_is_one_line_and_exit_3(
        tmp_path: Path) -> None:
    first = Daemon.from_config(tmp_path / "first", {}).start()
    try:
        second = Daemon.from_config(tmp_path / "second", {"watchdog": {
            "listen": f"127.0.0.1:{first.port}"}})
        result = cli("run", "--config", str(second.config))
    finally:
        first.stop()
    assert result.returncode == 3
    assert result.stderr == (
        f"runbook-watchdog: cannot listen on 127.0.0.1:{first.port} (watchdog.listen): the "
        "address is already in use by another runbook-watchdog (`runbook-watchdog status` "
        "shows it); stop it or change watchdog.listen\n")


def test_run_on_an_address_another_process_holds_names_it(tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        daemon = Daemon.from_config(tmp_path, {"watchdog": {"listen": f"127.0.0.1:{port}"}})
        result = cli("run", "--config", str(daemon.config))
    assert result.returncode == 3
    assert result.stderr.splitlines() == [
        f"runbook-watchdog: cannot listen on 127.0.0.1:{port} (watchdog.listen): the address "
        "is already in use by another process; stop it or change watchdog.listen"]


@pytest.mark.parametrize("value", ["nan", ".nan", "inf", ".inf", "-.inf"])
def test_a_duration_of_nan_or_infinity_is_a_config_error_naming_file_and_key(
        tmp_path: Path, value: str) -> None:
    config = tmp_path / "watchdog.yaml"
    config.write_text(f"watchdog:\n  stall_after: {value}\nprobes:\n"
                      "  web: {type: http, url: 'http://127.0.0.1:9/', interval: 30s}\n")
    result = cli("validate", "--config", str(config))
    assert result.returncode == 1
    assert f"  {config}: watchdog.stall_after: " in result.stderr
    assert "is not a finite duration" in result.stderr


def test_an_ipv6_listen_address_is_served(tmp_path: Path) -> None:
    """`listen: "[::]:PORT"` (the wildcard) binds an IPv6 socket; `status` reaches it."""
    daemon = Daemon.from_config(tmp_path, {"probes": {"web": refused_probe()}})
    config = daemon.config.read_text().replace(f"127.0.0.1:{daemon.port}", f"'[::]:{daemon.port}'")
    daemon.config.write_text(config)
    daemon.process.env = daemon_env()
    daemon.process.start()
    try:
        wait_for(lambda: daemon.exited() or httpx.get(
            f"http://[::1]:{daemon.port}/healthz", timeout=2).status_code == 200,
            what="the daemon on [::1]")
        assert not daemon.exited(), daemon.output()
        result = cli("status", "--config", str(daemon.config))
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith("PROBES\n")
        assert " web " in result.stdout
    finally:
        daemon.stop()


@pytest.mark.parametrize("text", ["", "# nothing yet\n", "watchdog: {spread: 0s}\nprobes: {}\n"])
def test_a_config_that_watches_nothing_does_not_validate(tmp_path: Path, text: str) -> None:
    config = tmp_path / "watchdog.yaml"
    config.write_text(text)
    result = cli("validate", "--config", str(config))
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr == (f"runbook-watchdog: {config}: watches nothing: no probes are "
                             "configured (see docs/configuration.md)\n")


@pytest.mark.parametrize(("command", "code"), [(["validate"], 1), (["incidents"], 3),
                                               (["check"], 3), (["run"], 3)])
def test_a_missing_config_file_is_said_missing_by_name(
        tmp_path: Path, command: list[str], code: int) -> None:
    missing = tmp_path / "nope.yaml"
    result = cli(*command, "--config", str(missing))
    assert result.returncode == code
    assert result.stderr == f"runbook-watchdog: the config file {missing} does not exist\n"
    via_env = cli(*command, env=daemon_env(RUNBOOK_WATCHDOG_CONFIG=str(missing)))
    assert via_env.stderr == (f"runbook-watchdog: the config file {missing} does not exist "
                              "(from $RUNBOOK_WATCHDOG_CONFIG)\n")


def test_one_problem_is_one_problem(tmp_path: Path) -> None:
    config = tmp_path / "watchdog.yaml"
    config.write_text("watchdog: {colour: blue}\n")
    result = cli("validate", "--config", str(config))
    assert result.stderr.splitlines() == [
        "runbook-watchdog: the config is invalid (1 problem):",
        f"  {config}: watchdog.colour: unknown key"]


def test_unknown_names_are_usage_errors_that_list_the_known_ones(
        env_state_daemon: tuple[Daemon, dict[str, str]]) -> None:
    daemon, env = env_state_daemon
    config = ("--config", str(daemon.config))
    known = f"in {daemon.config} (known: backend-health)\n"
    result = cli("silence", "add", "--probe", "nosuch", "--for", "2h", "--reason", "r",
                 *config, env=env)
    assert (result.returncode, result.stderr) == (
        3, f"runbook-watchdog: no probe named 'nosuch' {known}")
    result = cli("check", "--probe", "nosuch", *config, env=env)
    assert (result.returncode, result.stderr) == (
        3, f"runbook-watchdog: no probe named 'nosuch' {known}")
    result = cli("silence", "add", "--probe", "backend-health", "--for", "2x", "--reason", "r",
                 *config, env=env)
    assert (result.returncode, result.stderr) == (3, "runbook-watchdog: --for: '2x' is not a "
                                                     "duration (use e.g. 500ms, 30s, 5m, 1h30m, "
                                                     "24h, 7d)\n")
    assert cli("silence", "list", *config, env=env).stdout == "no active silences\n"
    result = cli("silence", "add", "--incident", "999", "--for", "2h", "--reason", "r",
                 *config, env=env)
    assert (result.returncode, result.stderr) == (1, "runbook-watchdog: no incident #999\n")
    assert cli("ack", "999", *config, env=env).returncode == 1
    assert cli("silence", "add", "--bogus", *config, env=env).returncode == 3
    # The bundled config (the default, as after `make run`): its remediations and targets.
    result = cli("reset", "nosuch", env=env)
    assert result.returncode == 3
    assert result.stderr.startswith("runbook-watchdog: no remediation target named 'nosuch' "
                                    f"in {ROOT / 'config' / 'watchdog.yaml'} (known: ")
    assert "nickapp-backend" in result.stderr
    result = cli("remediate", "nosuch", "--dry-run", env=env)
    assert result.returncode == 3
    assert "no remediation named 'nosuch' in " in result.stderr
    assert "rollback-backend" in result.stderr


def test_run_on_a_config_that_watches_nothing_starts_and_warns(tmp_path: Path) -> None:
    daemon = Daemon.from_config(tmp_path, {}).start()
    try:
        wait_for(lambda: "watches nothing" in daemon.output(), what="the warning")
        assert f"watches nothing: {daemon.config} configures no probes" in daemon.output()
        assert daemon.running()
    finally:
        daemon.stop()


def test_remediate_on_a_remediation_that_is_off_says_so_and_exits_1(tmp_path: Path) -> None:
    """Issue 14 item 7: it ended in `RuntimeError: coroutine raised StopIteration`."""
    daemon = Daemon.from_config(tmp_path, {
        "probes": {"mongodb-container": refused_probe()},
        "remediations": {"restart-mongodb": {
            "type": "restart_container", "mode": "off", "on": ["mongodb-container"],
            "container": "nickapp-mongodb"}}})
    (tmp_path / "state").mkdir()
    StateStore(tmp_path / "state" / "state.db").close()  # as a daemon that has run leaves it
    for how in ("--dry-run", "--execute"):
        result = daemon.cli("remediate", "restart-mongodb", how)
        assert (result.returncode, result.stdout) == (1, ""), result.stderr
        assert result.stderr == (
            f"runbook-watchdog: remediation 'restart-mongodb' is off in {daemon.config}: "
            "set `mode: dry-run` (or auto) under remediations.restart-mongodb to run it\n")


def test_remediate_on_a_remediation_that_could_not_be_built_says_so_and_exits_1(
        tmp_path: Path) -> None:
    """The same StopIteration, for a remediation whose action fails to build (its probe is
    configured, so the config validates, but is no redis probe)."""
    daemon = Daemon.from_config(tmp_path, {
        "probes": {"mongodb-container": refused_probe(),
                   "backups": {"type": "file_age", "glob": str(tmp_path / "*.gz"),
                               "interval": "1h"}},
        "remediations": {"redis-eviction": {
            "type": "redis_eviction_policy", "mode": "dry-run", "on": ["mongodb-container"],
            "probe": "backups"}}})
    (tmp_path / "state").mkdir()
    StateStore(tmp_path / "state" / "state.db").close()  # as a daemon that has run leaves it
    result = daemon.cli("remediate", "redis-eviction", "--dry-run")
    assert (result.returncode, result.stdout) == (1, "redis-eviction: refused: remediation "
                                                     "redis-eviction could not be built (the "
                                                     "error is logged above)\n"), result.stderr
    assert "remediation redis-eviction disabled: ValueError: probe 'backups' is not a " \
           "configured redis probe" in result.stderr
    assert "Traceback" not in result.stderr


XREF = """\
probes:
  web: {type: http, url: "http://127.0.0.1:9/", intervl: 30s}
  api: {type: http, url: "http://127.0.0.1:9/api"}
remediations:
  restart:
    type: capture_evidence
    on: ["api:bad_statuss", "nope", "web:refused"]
    verify: {probe: gone}
  redis-eviction: {type: redis_eviction_policy, on: [web], probe: missing}
"""


def test_validate_names_every_reference_that_would_never_fire_and_nothing_else(
        tmp_path: Path) -> None:
    """A cause the probe never reports, an unknown probe in `on:`, in `verify.probe` and in
    an action's params are each one line naming file and key; `web` failing to load is one
    problem, not one more for each reference to it."""
    config = tmp_path / "watchdog.yaml"
    config.write_text(XREF)
    result = cli("validate", "--config", str(config))
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "runbook-watchdog: the config is invalid (5 problems):",
        f"  {config}: probes.web.intervl: unknown key (did you mean 'interval'?)",
        f"  {config}: remediations.restart.on[0]: probe 'api' never reports cause "
        "'bad_statuss' (it reports: bad_body, bad_redirect, bad_status, cert_expiring, "
        "connect_error, dns, ok, refused, slow, timeout, tls_error)",
        f"  {config}: remediations.restart.on[1]: 'nope' names no configured probe "
        "(probes: api)",
        f"  {config}: remediations.restart.verify.probe: 'gone' is not a configured probe "
        "(probes: api)",
        f"  {config}: remediations.redis-eviction.probe: 'missing' is not a configured probe "
        "(probes: api)"]


def test_the_bundled_config_validates_through_the_cli() -> None:
    result = cli("validate", "--config", str(ROOT / "config" / "watchdog.yaml"))
    assert result.returncode == 0, result.stderr
