"""What `remediations`, `postmortem` and `--help` show an operator (issue 18 item 6),
through the installed command against a daemon that has captured evidence."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest

from tests.ops.conftest import refused_probe
from tests.support import Daemon, cli, wait_for

PROBES = [f"api-{n}" for n in range(1, 8)]


@pytest.fixture(scope="module")
def seven_captures(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    """Seven probes fail at once: seven incidents, seven evidence captures (the bundled
    config's evidence budget), and a restart remediation that is off."""
    directory = tmp_path_factory.mktemp("views")
    daemon = Daemon.from_config(directory, {
        "probes": {name: refused_probe() for name in PROBES},
        "remediations": {
            "evidence": {"type": "capture_evidence", "mode": "auto",
                         "budget": {"attempts": 50, "within": "1h"}},
            "restart-api": {"type": "restart_container", "mode": "off", "on": ["api-1"],
                            "container": "api"}}}).start()
    try:
        wait_for(lambda: _rows(daemon)["evidence"]["attempts"] == 7, timeout=60,
                 what="seven evidence captures")
        yield daemon
    finally:
        daemon.stop()


def _rows(daemon: Daemon) -> dict[str, dict[str, object]]:
    result = daemon.cli("remediations", "--format", "json")
    assert result.returncode == 0, result.stderr
    return {row["remediation"]: row for row in json.loads(result.stdout)}


def test_remediations_lists_the_ones_that_are_off(seven_captures: Daemon) -> None:
    lines = seven_captures.cli("remediations").stdout.splitlines()
    assert [line.split()[:2] for line in lines] == [["evidence", "auto"],
                                                    ["restart-api", "off"]]
    assert lines[1].split() == ["restart-api", "off", "-", "off:", "never", "acts", "-:"]


def test_the_evidence_budget_counts_per_incident_what_the_gate_counts(
        seven_captures: Daemon) -> None:
    row = _rows(seven_captures)["evidence"]
    assert (row["budget"], row["budget_per"], row["attempts"]) == ("1/50", "incident", 7)
    [line] = [x for x in seven_captures.cli("remediations").stdout.splitlines()
              if x.startswith("evidence ")]
    assert "budget used 1/50 per incident (7 in the window)" in line


def test_postmortem_shows_the_evidence_captured_for_the_incident(
        seven_captures: Daemon) -> None:
    result = seven_captures.cli("postmortem", "3")
    assert result.returncode == 0, result.stderr
    evidence = result.stdout.split("## Evidence\n\n")[1].split("\n\n")[0]
    folder = seven_captures.dir / "state" / "incidents" / "incident-3"
    assert evidence == f"- `{folder}` (evidence, succeeded — verified): findings.json"
    assert (folder / "findings.json").exists()


def test_help_describes_every_subcommand() -> None:
    result = cli("--help")
    assert result.returncode == 0
    commands = result.stdout.split("{", 1)[1].split("}", 1)[0].split(",")
    assert len(commands) >= 12
    described = {line.split()[0] for line in result.stdout.splitlines()
                 if line.startswith("    ") and len(line.split()) > 1}
    assert set(commands) <= described
    # The description lists no subset of them (it named 6 of 12): the table below does.
    description = re.findall(r"[\w-]+", result.stdout.split("\n\n")[1])
    assert not set(commands) & set(description), description
    for name in commands:
        assert cli(name, "--help").returncode == 0, name
