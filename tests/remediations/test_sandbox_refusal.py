"""An action whose path cannot be written is refused ("not permitted by the service's
sandbox"), journaled and reported once, never escalated, and writes nothing.

In-process (the World runs in this process, so no private mount namespace): tests run as
root, which ignores file modes, so the path is made unwritable with `chattr +i` on a real
ext4 file or directory (removed by the fixture). The read-only mount the unit really uses
(EROFS) is tested with the daemon in tests/reliability/test_read_only_sandbox.py and with
the writers in tests/remediations/test_compose_edit.py.
"""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from remediations.payment_provider_switch import PaymentProviderSwitch
from tests.remediation_world import World
from watchdog.pipeline.observation import Observation, Status

ENV = "# the backend\nREQUEST_NETWORK_ENABLED=true\nPAYMENT_ENABLED_PROVIDERS=request-network\n"
CONFIG = """\
watchdog:
  state_dir: {tmp}/state
  kill_switch: {tmp}/kill
probes:
  request-network: {{type: http, url: "http://127.0.0.1:1/", fail_after: 1, severity: sev2}}
remediations:
  payments-to-shkeeper:
    type: payment_provider_switch
    mode: {mode}
    on: [request-network]
    after: 1
    env_file: {env}
    container: null
    budget: {{attempts: 10, within: 1h}}
    backoff: {{initial: 1s, max: 1s}}
    verify: {{within: 5s}}
    start_period: 0s
"""
RN_DOWN = Observation(Status.FAILED, "bad_status", "RN intents failing: HTTP 502")


@pytest.fixture
def immutable() -> Iterator[list[Path]]:
    """Paths to make immutable (`chattr +i`); made mutable again afterwards."""
    paths: list[Path] = []
    yield paths
    for path in paths:
        subprocess.run(["chattr", "-i", str(path)], check=True)


def make_immutable(paths: list[Path], path: Path) -> None:
    subprocess.run(["chattr", "+i", str(path)], check=True)
    paths.append(path)


def world(tmp: Path, mode: str) -> tuple[World, Path, list[tuple[int, str]]]:
    folder = tmp / "backend"
    folder.mkdir()
    env = folder / ".env"
    env.write_text(ENV)
    w = World(tmp, CONFIG.format(tmp=tmp, env=env, mode=mode),
              {"payment_provider_switch": PaymentProviderSwitch})
    reports: list[tuple[int, str]] = []
    w.remediator.report = lambda incident, change: reports.append((incident, change))
    return w, env, reports


def cycles(w: World, count: int) -> None:
    async def go() -> None:
        for _ in range(count):
            await w.observe("request-network", RN_DOWN, then=5.0)
            await w.finish()

    asyncio.run(go())


def test_a_directory_it_cannot_write_refuses_the_plan_once_even_in_dry_run(
        tmp_path: Path, immutable: list[Path]) -> None:
    w, env, reports = world(tmp_path, "dry-run")
    make_immutable(immutable, env.parent)
    cycles(w, 4)
    reason = (f"not permitted by the service's sandbox: cannot write {env.parent}: "
              f"{env.parent} is not writable by uid 0 (access(2))")
    assert [(e["decision"], e["reason"]) for e in w.ledger.entries()] == [("refused", reason)]
    assert reports == [(1, f"remediation payments-to-shkeeper refused: {reason}")]
    incident = w.engine.book.get(1)
    assert incident is not None and incident.severity == "sev2"
    assert env.read_text() == ENV


def test_a_write_that_fails_is_a_refusal_not_a_failure_and_leaves_nothing_behind(
        tmp_path: Path, immutable: list[Path]) -> None:
    # The directory is writable (the plan's check passes), the file is not: the rename
    # over it fails with EPERM after the backup and the temporary file were written.
    w, env, reports = world(tmp_path, "auto")
    make_immutable(immutable, env)
    cycles(w, 3)
    reason = (f"not permitted by the service's sandbox: cannot write {env.parent}: "
              "Operation not permitted (EPERM)")
    # tried once: the sandbox does not change under a running process
    assert [(e["decision"], e["reason"]) for e in w.ledger.entries()] == [
        ("acted", f"set REQUEST_NETWORK_ENABLED=false, PAYMENT_ENABLED_PROVIDERS=shkeeper, "
                  f"PAYMENT_ROLLBACK_PROVIDER=shkeeper in {env}"),
        ("refused", reason)]
    assert reports == [(1, f"remediation payments-to-shkeeper refused: {reason}")]
    incident = w.engine.book.get(1)
    assert incident is not None and incident.severity == "sev2"
    assert [e["kind"] for e in w.engine.book.events(1)] == ["open"]
    assert sorted(p.name for p in env.parent.iterdir()) == [".env"]  # no temp, no backup
    assert env.read_text() == ENV
    assert w.outcome("payments-to-shkeeper", "refused") == 1.0
