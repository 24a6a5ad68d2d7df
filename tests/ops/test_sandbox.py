"""The unit's sandbox from the config: `unit-drop-in`, the grants parser, `validate`'s warnings,
checked with Debian's real systemd-analyze (verify, security --offline)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.ops.conftest import tool
from tests.ops.test_systemd_unit import INSTALLED_EXE, UNIT, exposure
from tests.support import ROOT, cli
from watchdog.remediation.sandbox import needs_of, read_unit
from watchdog.runtime.config import load_config

BUNDLED = ROOT / "config" / "watchdog.yaml"
CONFIG = """\
watchdog:
  state_dir: {state}
probes:
  web: {{type: http, url: "http://127.0.0.1:1/"}}
remediations:
  evidence:
    type: capture_evidence
    mode: auto
    dir: /srv/evidence
  payments:
    type: payment_provider_switch
    mode: auto
    env_file: /srv/app/.env
    container: null
  rollback:
    type: rollback
    mode: dry-run
    container: app
    strategy: compose
    compose_file: /srv/app/compose/docker-compose.yml
    service: app
  block:
    type: block_ip
    mode: {block}
  cleanup:
    type: disk_cleanup
    mode: "off"
    backup_lock: null
  restart:
    type: restart_container
    mode: auto
    container: app
"""


def settings_of(text: str) -> list[str]:
    return [line for line in text.splitlines() if line and not line.startswith("#")]


def write_config(tmp: Path, block: str = '"off"',
                 state: str = "/var/lib/runbook-watchdog") -> Path:
    path = tmp / "watchdog.yaml"
    path.write_text(CONFIG.format(state=state, block=block))
    return path


def drop_in(config: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return cli("unit-drop-in", "--config", str(config), *extra)


def test_the_bundled_config_needs_only_the_compose_directory() -> None:
    result = drop_in(BUNDLED)
    assert result.returncode == 0, result.stderr
    # Evidence defaults to <state_dir>/incidents, already writable through StateDirectory=;
    # payments-to-shkeeper and block-abusers are off, rollback (dry-run) uses compose.
    assert settings_of(result.stdout) == ["[Service]", "ReadWritePaths=-/opt/backend"]
    assert "# evidence (capture_evidence): /var/lib/runbook-watchdog/incidents" in result.stdout
    assert f"unit-drop-in --config {BUNDLED} > /etc/systemd/system/runbook-watchdog.service.d/" \
           "50-remediations.conf" in result.stdout


@pytest.mark.parametrize(("block", "expected"), [
    ('"off"', ["[Service]", "ReadWritePaths=-/srv/app", "ReadWritePaths=-/srv/evidence"]),
    ("dry-run", ["[Service]", "ReadWritePaths=-/srv/app", "ReadWritePaths=-/srv/evidence",
                 "CapabilityBoundingSet=CAP_NET_ADMIN", "AmbientCapabilities=CAP_NET_ADMIN",
                 "RestrictAddressFamilies=AF_NETLINK"]),
    ("auto", ["[Service]", "ReadWritePaths=-/srv/app", "ReadWritePaths=-/srv/evidence",
              "CapabilityBoundingSet=CAP_NET_ADMIN", "AmbientCapabilities=CAP_NET_ADMIN",
              "RestrictAddressFamilies=AF_NETLINK"]),
])
def test_the_drop_in_grants_exactly_what_the_enabled_actions_declare(
        tmp_path: Path, block: str, expected: list[str]) -> None:
    # env file and compose file share /srv/app (the compose directory is inside it);
    # the disk cleanup is off, so neither the engine's logs nor CAP_DAC_OVERRIDE appear.
    result = drop_in(write_config(tmp_path, block))
    assert result.returncode == 0, result.stderr
    assert settings_of(result.stdout) == expected


def test_a_state_directory_outside_the_units_own_is_granted_too(tmp_path: Path) -> None:
    result = drop_in(write_config(tmp_path, state="/srv/watchdog-state"))
    assert "ReadWritePaths=-/srv/watchdog-state" in settings_of(result.stdout)


def test_make_run_writes_under_its_state_directory_only(tmp_path: Path) -> None:
    # `make run` sets RUNBOOK_WATCHDOG_STATE_DIR to ./.state: the bundled config's actions
    # that run (evidence, in auto) then write nowhere else; /opt/backend is the compose
    # directory of rollback-backend, which is dry-run there and writes nothing.
    config = load_config(BUNDLED, environ={"RUNBOOK_WATCHDOG_STATE_DIR": str(tmp_path)})
    paths = {(n.remediation, n.value) for n in needs_of(config) if n.kind == "path"}
    assert paths == {("watchdog", str(tmp_path)), ("evidence", f"{tmp_path}/incidents"),
                     ("rollback-backend", "/opt/backend")}
    assert config.remediations["rollback-backend"].common.mode == "dry-run"


def test_owned_dirs_lists_the_evidence_directory_for_the_installer(tmp_path: Path) -> None:
    result = drop_in(write_config(tmp_path), "--owned-dirs")
    assert (result.returncode, result.stdout) == (0, "/srv/evidence\n")


def installed(tmp: Path, drop_in_text: str | None) -> Path:
    """The shipped unit as installed under `tmp` (ExecStart on this venv, for verify),
    with `drop_in_text` as its 50-remediations.conf."""
    unit = tmp / "system" / UNIT.name
    unit.parent.mkdir(parents=True)
    here = str(Path(sys.executable).parent / "runbook-watchdog")
    unit.write_text(UNIT.read_text().replace(INSTALLED_EXE, here))
    if drop_in_text is not None:
        conf = unit.with_name(f"{unit.name}.d") / "50-remediations.conf"
        conf.parent.mkdir()
        conf.write_text(drop_in_text)
    return unit


def test_systemd_analyze_verifies_the_unit_with_a_generated_drop_in(tmp_path: Path) -> None:
    unit = installed(tmp_path, drop_in(write_config(tmp_path, "auto")).stdout)
    result = subprocess.run([tool("systemd-analyze"), "verify", str(unit)],
                            capture_output=True, text=True, timeout=60)
    assert (result.returncode, result.stderr, result.stdout) == (0, "", "")


def test_exposure_with_the_drop_ins_is_recorded_in_the_docs(tmp_path: Path) -> None:
    docs = (ROOT / "docs" / "install.md").read_text()
    bundled = exposure(installed(tmp_path / "bundled", drop_in(BUNDLED).stdout))
    firewall = exposure(installed(tmp_path / "firewall",
                                  drop_in(write_config(tmp_path, "auto")).stdout))
    assert bundled[0] < 5.0 and firewall[0] < 5.0
    assert f"bundled config: exposure level {bundled[0]:.1f} {bundled[1]}" in docs
    assert f"block_ip enabled: exposure level {firewall[0]:.1f} {firewall[1]}" in docs


# -- what an installed unit grants ----------------------------------------------------------
def test_the_shipped_unit_grants_its_state_directory_and_nothing_else() -> None:
    grants = read_unit(UNIT)
    assert grants.writable("/var/lib/runbook-watchdog/incidents")
    assert grants.writable("/tmp/x")  # PrivateTmp=
    assert not grants.writable("/opt/backend")
    assert not grants.writable("/var/incidents")
    assert not grants.writable("/etc/runbook-watchdog")  # ConfigurationDirectory= is read-only
    assert not grants.has_capability("CAP_NET_ADMIN")
    assert not grants.has_family("AF_NETLINK") and grants.has_family("AF_UNIX")


UNIT_TEXT = "[Unit]\nDescription=x\n[Service]\nExecStart=/bin/true\n"


@pytest.mark.parametrize(("service", "drop_ins", "checks"), [
    # ProtectSystem levels
    ("ProtectSystem=strict", [], {"/opt/a": False, "/var/lib/x": False}),
    ("ProtectSystem=full", [], {"/opt/a": True, "/etc/x": False, "/usr/lib": False}),
    ("ProtectSystem=yes", [], {"/etc/x": True, "/usr/lib": False}),
    ("", [], {"/usr/lib": True}),
    ("ProtectSystem=strict\nProtectHome=read-only", [], {"/home/u": False}),
    # ReadWritePaths: prefixes, several assignments, a reset, a drop-in adding one
    ("ProtectSystem=strict\nReadWritePaths=-/opt/a +/srv/b", [],
     {"/opt/a/f": True, "/srv/b": True, "/opt/ab": False}),
    ("ProtectSystem=strict\nReadWritePaths=/opt/a\nReadWritePaths=", [], {"/opt/a": False}),
    ("ProtectSystem=strict", ["[Service]\nReadWritePaths=-/opt/a\n"], {"/opt/a/x": True}),
    ("ProtectSystem=strict\nReadWritePaths=/opt\nReadOnlyPaths=/opt/ro", [],
     {"/opt/x": True, "/opt/ro/y": False}),
    # capabilities: an empty bounding set, a drop-in adding to it, ambient for a user
    ("User=u\nCapabilityBoundingSet=\nAmbientCapabilities=", [], {"CAP_NET_ADMIN": False}),
    ("User=u\nCapabilityBoundingSet=", ["[Service]\nCapabilityBoundingSet=CAP_NET_ADMIN\n"],
     {"CAP_NET_ADMIN": False}),  # bounded but not ambient: a user process lacks it
    ("User=u\nCapabilityBoundingSet=", ["[Service]\nCapabilityBoundingSet=CAP_NET_ADMIN\n"
                                        "AmbientCapabilities=CAP_NET_ADMIN\n"],
     {"CAP_NET_ADMIN": True, "CAP_SYS_ADMIN": False}),
    ("CapabilityBoundingSet=CAP_NET_ADMIN", [], {"CAP_NET_ADMIN": True}),  # root: no ambient
    ("CapabilityBoundingSet=~CAP_SYS_ADMIN", [], {"CAP_NET_ADMIN": True,
                                                  "CAP_SYS_ADMIN": False}),
    ("", [], {"CAP_NET_ADMIN": True}),  # root without a bounding set: everything
    # address families: allow lists merge, a deny entry removes, an empty one resets
    ("RestrictAddressFamilies=AF_UNIX", ["[Service]\nRestrictAddressFamilies=AF_NETLINK\n"],
     {"AF_NETLINK": True, "AF_INET": False}),
    ("RestrictAddressFamilies=AF_UNIX AF_NETLINK\nRestrictAddressFamilies=~AF_NETLINK", [],
     {"AF_NETLINK": False, "AF_UNIX": True}),
    ("RestrictAddressFamilies=AF_UNIX\nRestrictAddressFamilies=", [], {"AF_NETLINK": True}),
])
def test_grants_are_merged_the_way_systemd_merges_them(
        tmp_path: Path, service: str, drop_ins: list[str], checks: dict[str, bool]) -> None:
    unit = tmp_path / "x.service"
    unit.write_text(UNIT_TEXT + service + "\n")
    conf_dir = tmp_path / "x.service.d"
    conf_dir.mkdir()
    for i, text in enumerate(drop_ins):
        (conf_dir / f"{i:02d}.conf").write_text(text)
    grants = read_unit(unit)
    found = {key: grants.writable(key) if key.startswith("/") else
             grants.has_capability(key) if key.startswith("CAP_") else grants.has_family(key)
             for key in checks}
    assert found == checks


def test_paths_with_spaces_and_percent_signs_survive_the_round_trip(tmp_path: Path) -> None:
    config = tmp_path / "watchdog.yaml"
    config.write_text("probes:\n  web: {type: http, url: 'http://127.0.0.1:1/'}\n"
                      "watchdog: {state_dir: /var/lib/runbook-watchdog}\n"
                      "remediations:\n  p: {type: payment_provider_switch, mode: auto, "
                      "env_file: '/srv/my app/100%/.env', container: null}\n")
    text = drop_in(config).stdout
    assert settings_of(text) == ["[Service]", 'ReadWritePaths="-/srv/my app/100%%"']
    unit = installed(tmp_path, text)
    verified = subprocess.run([tool("systemd-analyze"), "verify", str(unit)],
                              capture_output=True, text=True, timeout=60)
    assert (verified.returncode, verified.stderr) == (0, "")
    grants = read_unit(unit)
    assert grants.writable("/srv/my app/100%/.env") and not grants.writable("/srv/my")


def test_drop_in_directories_are_configurable_and_applied_in_name_order(tmp_path: Path) -> None:
    unit = tmp_path / "x.service"
    unit.write_text(UNIT_TEXT + "ProtectSystem=strict\n")
    first, second = tmp_path / "a.d", tmp_path / "b.d"
    first.mkdir()
    second.mkdir()
    (first / "10-rw.conf").write_text("[Service]\nReadWritePaths=/opt/a\n")
    (second / "10-rw.conf").write_text("[Service]\nReadWritePaths=/opt/masked\n")  # masked
    (second / "90-reset.conf").write_text("[Service]\nReadWritePaths=\nReadWritePaths=/opt/b\n")
    grants = read_unit(unit, [first, second])
    assert [f.name for f in grants.files] == ["x.service", "10-rw.conf", "90-reset.conf"]
    assert (grants.writable("/opt/a"), grants.writable("/opt/masked"),
            grants.writable("/opt/b")) == (False, False, True)


# -- validate ---------------------------------------------------------------------------------
def test_validate_warns_for_each_need_the_installed_unit_does_not_grant(tmp_path: Path) -> None:
    config = write_config(tmp_path, "auto", state="/srv/watchdog-state")
    unit = installed(tmp_path, None)
    result = cli("validate", "--config", str(config), "--unit", str(unit))
    assert result.returncode == 0, result.stderr
    warnings = sorted(result.stderr.splitlines())
    fix = (f"regenerate the drop-in: {Path(sys.executable).parent / 'runbook-watchdog'} "
           f"unit-drop-in --config {config} > {unit}.d/50-remediations.conf && systemctl "
           "daemon-reload && systemctl restart runbook-watchdog")
    assert warnings == sorted([
        f"warning: remediation block (block_ip) needs the capability CAP_NET_ADMIN, which "
        f"{unit} does not grant (CapabilityBoundingSet= and AmbientCapabilities=); {fix}",
        f"warning: remediation block (block_ip) needs the address family AF_NETLINK, which "
        f"{unit} does not grant (RestrictAddressFamilies=); {fix}",
        f"warning: remediation evidence (capture_evidence) writes in /srv/evidence, which "
        f"{unit} does not grant (ReadWritePaths=); {fix}",
        f"warning: remediation payments (payment_provider_switch) writes in /srv/app, which "
        f"{unit} does not grant (ReadWritePaths=); {fix}",
        f"warning: remediation rollback (rollback) writes in /srv/app/compose, which "
        f"{unit} does not grant (ReadWritePaths=); {fix}",
        f"warning: the watchdog's state writes in /srv/watchdog-state, which "
        f"{unit} does not grant (ReadWritePaths=); {fix}",
    ])


def test_validate_is_quiet_once_the_generated_drop_in_is_installed(tmp_path: Path) -> None:
    config = write_config(tmp_path, "auto")
    unit = installed(tmp_path, drop_in(config).stdout)
    result = cli("validate", "--config", str(config), "--unit", str(unit))
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout == f"{config}: valid (1 probes, 6 remediations)\n"


def test_validate_says_when_there_is_no_unit_to_check(tmp_path: Path) -> None:
    result = cli("validate", "--config", str(BUNDLED), "--unit", str(tmp_path / "none.service"))
    assert result.returncode == 0
    assert f"note: no unit at {tmp_path / 'none.service'}: the service's sandbox was not " \
           "checked (--unit)" in result.stdout
