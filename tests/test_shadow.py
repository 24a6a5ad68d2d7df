"""A `watchdog` package from another distribution must make the command fail clearly."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import ROOT

pytestmark = pytest.mark.integration  # Python subprocesses running the command


def test_a_shadowing_watchdog_package_fails_with_a_clear_message(tmp_path: Path) -> None:
    fake = tmp_path / "watchdog"
    fake.mkdir()
    (fake / "__init__.py").write_text("# the filesystem-events library\n")
    result = subprocess.run(
        [sys.executable, "-c", "import runbook_watchdog_launcher as l; l.main()", "check"],
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
        env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"}, check=False)
    assert result.returncode == 3
    assert f"resolves to {fake / '__init__.py'}" in result.stderr
    assert "dedicated virtual environment" in result.stderr


def test_our_own_package_passes_the_check() -> None:
    result = subprocess.run([sys.executable, "-m", "watchdog", "--version"], capture_output=True,
                            text=True, timeout=60, cwd=ROOT, check=False)
    assert (result.returncode, result.stdout.strip()) == (0, "runbook-watchdog 0.1.0")
