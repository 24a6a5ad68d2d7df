"""The unit file, checked by Debian's real systemd tools (systemd-analyze verify / security)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.ops.conftest import tool
from tests.support import ROOT

UNIT = ROOT / "systemd" / "runbook-watchdog.service"
INSTALLED_EXE = "/opt/runbook-watchdog/venv/bin/runbook-watchdog"
SCORE = re.compile(r"Overall exposure level for \S+: (\d+\.\d+) (\w+)")


def unit_here(tmp_path: Path) -> Path:
    """The unit with ExecStart pointed at this venv's console script, so verify can stat it."""
    local = tmp_path / UNIT.name
    here = str(Path(sys.executable).parent / "runbook-watchdog")
    local.write_text(UNIT.read_text().replace(INSTALLED_EXE, here))
    return local


def settings() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in UNIT.read_text().splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, value = line.split("=", 1)
            found.setdefault(key, []).append(value)
    return found


def exposure(unit: Path) -> tuple[float, str]:
    out = subprocess.run([tool("systemd-analyze"), "security", "--offline=true", str(unit)],
                         capture_output=True, text=True, timeout=60, check=True).stdout
    match = SCORE.search(out)
    assert match, out
    return float(match.group(1)), match.group(2)


def test_systemd_analyze_verify_accepts_the_unit_without_a_warning(tmp_path: Path) -> None:
    result = subprocess.run([tool("systemd-analyze"), "verify", str(unit_here(tmp_path))],
                            capture_output=True, text=True, timeout=60)
    assert (result.returncode, result.stderr, result.stdout) == (0, "", "")


def test_the_exposure_score_is_below_5_and_the_docs_record_it(tmp_path: Path) -> None:
    score, verdict = exposure(unit_here(tmp_path))
    assert score < 5.0, verdict
    docs = (ROOT / "docs" / "install.md").read_text()
    assert f"exposure level {score:.1f} {verdict}" in docs


@pytest.mark.parametrize(("key", "value"), [
    ("Type", "notify"), ("NotifyAccess", "main"), ("WatchdogSec", "30s"),
    ("Restart", "on-failure"), ("RestartSec", "5s"), ("ExecReload", "/bin/kill -HUP $MAINPID"),
    ("StateDirectory", "runbook-watchdog"), ("ConfigurationDirectory", "runbook-watchdog"),
    ("ProtectSystem", "strict"), ("NoNewPrivileges", "yes"), ("PrivateTmp", "yes"),
    ("ProtectHome", "yes"), ("RestrictAddressFamilies", "AF_UNIX AF_INET AF_INET6"),
    ("SystemCallFilter", "@system-service"), ("CapabilityBoundingSet", ""),
])
def test_the_unit_sets(key: str, value: str) -> None:
    assert value in settings()[key]


def test_the_watchdog_leaves_room_for_a_ping_at_half_the_interval() -> None:
    # The daemon pings every WatchdogSec/2; the stop timeout must cover shutdown_grace (10s).
    assert settings()["ExecStart"][0].split()[0] == INSTALLED_EXE
    assert int(settings()["TimeoutStopSec"][0].rstrip("s")) > 10
