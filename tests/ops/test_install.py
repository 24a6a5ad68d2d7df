"""scripts/install.sh into a temporary root: install, re-run (upgrade), uninstall, purge."""

from __future__ import annotations

import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.ops.conftest import tool
from tests.support import ROOT, daemon_env

SCRIPT = ROOT / "scripts" / "install.sh"
PREFIX = "/opt/runbook-watchdog"


def install(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(SCRIPT), *args, "--root", str(root)], capture_output=True,
                          text=True, timeout=600, check=False)


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    where = tmp_path_factory.mktemp("root")
    result = install(where, "install")
    assert result.returncode == 0, result.stderr
    yield where


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_install_lays_out_venv_config_state_and_unit(root: Path) -> None:
    exe = root / PREFIX.lstrip("/") / "venv" / "bin" / "runbook-watchdog"
    version = subprocess.run([str(exe), "--version"], capture_output=True, text=True,
                             timeout=60, check=True)
    assert version.stdout.startswith("runbook-watchdog ")
    conf = root / "etc" / "runbook-watchdog"
    assert (mode(conf), mode(conf / "watchdog.yaml"), mode(conf / "watchdog.env")) == \
        (0o750, 0o640, 0o600)
    assert mode(root / "var" / "lib" / "runbook-watchdog") == 0o700
    unit = root / "etc" / "systemd" / "system" / "runbook-watchdog.service"
    assert unit.read_text() == (ROOT / "systemd" / "runbook-watchdog.service").read_text()
    assert (root / PREFIX.lstrip("/") / "share" / "docs" / "install.md").exists()


def installed(root: Path, *args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """The command of the non-editable install (`pip install SOURCE` into the venv)."""
    exe = root / PREFIX.lstrip("/") / "venv" / "bin" / "runbook-watchdog"
    return subprocess.run([str(exe), *args], capture_output=True, text=True, timeout=120,
                          cwd=cwd, env=daemon_env(**env), check=False)


def test_the_installed_command_looks_for_its_config_where_help_says(
        root: Path, tmp_path: Path) -> None:
    """Issue 18 item 2: it looked for site-packages/config/watchdog.yaml."""
    missing = installed(root, "validate", cwd=tmp_path)
    assert (missing.returncode, missing.stderr) == (1, (
        f"runbook-watchdog: the config file {tmp_path}/config/watchdog.yaml does not exist "
        "(no --config, $RUNBOOK_WATCHDOG_CONFIG unset, /etc/runbook-watchdog/watchdog.yaml "
        "absent; `runbook-watchdog example-config` prints a config to start from)\n"))
    example = installed(root, "example-config", cwd=tmp_path)
    assert example.returncode == 0, example.stderr
    assert example.stdout == (ROOT / "config" / "watchdog.yaml").read_text()
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "watchdog.yaml").write_text(example.stdout)
    found = installed(root, "validate", cwd=tmp_path)
    assert found.stdout.startswith(f"{tmp_path}/config/watchdog.yaml: valid ("), found.stderr
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    via_env = installed(root, "validate", cwd=elsewhere,
                        RUNBOOK_WATCHDOG_CONFIG=str(tmp_path / "config" / "watchdog.yaml"))
    assert via_env.stdout.startswith(f"{tmp_path}/config/watchdog.yaml: valid ("), \
        via_env.stderr
    assert "$RUNBOOK_WATCHDOG_CONFIG, else /etc/runbook-watchdog/watchdog.yaml, else " \
           "./config/watchdog.yaml" in " ".join(installed(root, "validate", "--help",
                                                          cwd=tmp_path).stdout.split())


def test_install_writes_the_sandbox_drop_in_and_creates_the_evidence_directory(
        root: Path) -> None:
    drop_in = root / "etc/systemd/system/runbook-watchdog.service.d/50-remediations.conf"
    settings = [line for line in drop_in.read_text().splitlines()
                if line and not line.startswith("#")]
    assert settings == ["[Service]", "ReadWritePaths=-/opt/backend"]  # the bundled config
    assert mode(drop_in) == 0o644
    assert mode(root / "var/lib/runbook-watchdog/incidents") == 0o700


def test_an_upgrade_regenerates_the_drop_in_from_the_edited_config(root: Path) -> None:
    config = root / "etc" / "runbook-watchdog" / "watchdog.yaml"
    original = config.read_text()
    config.write_text(original.replace(
        '    type: block_ip\n    mode: "off"', "    type: block_ip\n    mode: dry-run").replace(
        "    type: capture_evidence\n    mode: auto\n",
        "    type: capture_evidence\n    mode: auto\n    dir: /srv/evidence\n"))
    try:
        result = install(root, "upgrade")
        assert result.returncode == 0, result.stderr
        drop_in = root / "etc/systemd/system/runbook-watchdog.service.d/50-remediations.conf"
        settings = [line for line in drop_in.read_text().splitlines()
                    if line and not line.startswith("#")]
        assert settings == ["[Service]", "ReadWritePaths=-/opt/backend",
                            "ReadWritePaths=-/srv/evidence",
                            "CapabilityBoundingSet=CAP_NET_ADMIN",
                            "AmbientCapabilities=CAP_NET_ADMIN",
                            "RestrictAddressFamilies=AF_NETLINK"]
        assert mode(root / "srv" / "evidence") == 0o700
    finally:
        config.write_text(original)


def test_the_installed_unit_verifies_against_the_installed_venv(root: Path,
                                                                 tmp_path: Path) -> None:
    unit = root / "etc" / "systemd" / "system" / "runbook-watchdog.service"
    local = tmp_path / unit.name
    local.write_text(unit.read_text().replace(PREFIX, str(root / PREFIX.lstrip("/"))))
    result = subprocess.run([tool("systemd-analyze"), "verify", str(local)],
                            capture_output=True, text=True, timeout=60)
    assert (result.returncode, result.stderr) == (0, "")


def test_running_it_again_upgrades_in_place_and_keeps_the_operators_config(root: Path) -> None:
    config = root / "etc" / "runbook-watchdog" / "watchdog.yaml"
    config.write_text(config.read_text() + "# edited by the operator\n")
    edited = config.read_text()
    result = install(root, "upgrade")
    assert result.returncode == 0, result.stderr
    assert config.read_text() == edited
    assert "installed runbook-watchdog" in result.stdout
    assert "created venv" not in result.stdout  # the same venv, updated


def test_uninstall_keeps_config_and_state_and_purge_removes_them(root: Path) -> None:
    result = install(root, "uninstall")
    assert result.returncode == 0, result.stderr
    assert not (root / PREFIX.lstrip("/")).exists()
    assert not (root / "etc" / "systemd" / "system" / "runbook-watchdog.service").exists()
    assert not (root / "etc" / "systemd" / "system" / "runbook-watchdog.service.d").exists()
    assert (root / "etc" / "runbook-watchdog" / "watchdog.yaml").exists()
    assert (root / "var" / "lib" / "runbook-watchdog").exists()
    assert install(root, "uninstall", "--purge").returncode == 0
    assert not (root / "etc" / "runbook-watchdog").exists()
    assert not (root / "var" / "lib" / "runbook-watchdog").exists()


def test_an_unknown_argument_is_a_usage_error(tmp_path: Path) -> None:
    result = install(tmp_path, "--frobnicate")
    assert result.returncode == 2
    assert "unknown argument --frobnicate" in result.stderr
