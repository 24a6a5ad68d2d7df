"""The bad-deploy drill (issue 5, "Done when"): the installed daemon, its http, container and
deploy probes and the rollback remediation (compose strategy, Debian's docker-compose)
against the real Podman engine. Watchtower is played by the test: `:latest` moves to a
broken image and compose recreates the container from it.

RW_DRILL_INTERVAL sets the probes' interval (default 1s) to measure the time from the
broken deploy to a verified rollback on realistic settings; it is printed, not asserted.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.remediations.conftest import App
from tests.support import PEERS, Daemon, cli, free_port, wait_for

INTERVAL = float(os.environ.get("RW_DRILL_INTERVAL", "1"))


class Drill:
    def __init__(self, tmp: Path, app: App, mode: str = "auto",
                 compose_command: list[str] | None = None) -> None:
        self.tmp, self.app = tmp, app
        self.compose_file = tmp / "deploy" / "docker-compose.production.yml"
        self.compose_file.parent.mkdir()
        self.compose_file.write_text(compose_text(app))
        self.config, self.port = tmp / "watchdog.yaml", free_port()
        self.audit = tmp / "audit.jsonl"
        self.config.write_text(config_text(self, mode, compose_command or ["docker-compose"]))
        self.daemon: Daemon | None = None
        self.runs = 0

    def up(self) -> None:
        done = self.app.compose(self.compose_file, "up", "-d", "backend")
        assert done.returncode == 0, done.stderr

    def start(self) -> None:
        self.runs += 1
        self.daemon = Daemon(self.config, self.port, self.tmp / f"daemon-{self.runs}.log")
        self.daemon.start()

    def stop(self) -> None:
        if self.daemon is not None and self.daemon.running():
            self.daemon.shutdown()

    def deploy_broken(self) -> float:
        """Watchtower's move: `:latest` names the broken image; compose recreates."""
        self.app.podman.client().images.get(self.app.bad).tag(self.app.repo, "latest")
        self.up()
        assert self.app.image() == self.app.bad
        return time.monotonic()

    def journal(self) -> list[dict[str, Any]]:
        if not self.audit.exists():
            return []
        return [json.loads(line) for line in self.audit.read_text().splitlines()]

    def decisions(self) -> list[str]:
        return [e["decision"] for e in self.journal() if e["remediation"] == "rollback-backend"]

    def recorded(self) -> bool:
        """The daemon's deploy tracker has recorded v1 for the container."""
        out = cli("check", "--config", str(self.config), "--probe", "recent-deploy",
                  "--format", "json")
        return self.app.good in out.stdout or self._history_has_good()

    def _history_has_good(self) -> bool:
        from probes.deploy import deploy_history
        from watchdog.common.state import StateStore

        store = StateStore.in_state_dir(self.tmp / "state")
        try:
            return any(r.image_id == self.app.good
                       for r in deploy_history(store, self.app.name))
        finally:
            store.close()

    def cli_json(self, *args: str) -> Any:
        out = cli(*args, "--config", str(self.config), "--format", "json")
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout)


def compose_text(app: App) -> str:
    return textwrap.dedent(f"""\
        # nickapp production stack (the drill's copy)
        version: "3"
        services:
          backend:
            # Watchtower moves :latest
            image: {app.repo}:latest   # the tag deploys bump
            container_name: {app.name}
            network_mode: host
            command: ["sh", "/app/start.sh"]
            environment:
              PORT: "{app.port}"
        """)


def config_text(drill: Drill, mode: str, compose_command: list[str]) -> str:
    app, i = drill.app, INTERVAL
    return textwrap.dedent(f"""\
        watchdog:
          listen: 127.0.0.1:{drill.port}
          state_dir: {drill.tmp}/state
          audit_file: {drill.audit}
          kill_switch: {drill.tmp}/kill
          docker_url: {app.podman.url}
          spread: 0s
          shutdown_grace: 5s
        probes:
          backend-health:
            type: http
            url: {app.health_url}
            interval: {i}s
            timeout: {i * 0.8}s
            severity: sev1
            fail_after: 2
            runbook: "3.1"
          backend-container:
            type: container
            container: {app.name}
            interval: {i}s
            timeout: {i * 0.8}s
          recent-deploy:
            type: deploy
            containers: [{app.name}]
            interval: {i}s
            timeout: {i * 0.8}s
            fail_after: 1
            severity: sev3
        remediations:
          rollback-backend:
            type: rollback
            mode: {mode}
            on: [backend-health]
            after: 2
            start_period: 0s
            verify: {{probe: backend-health, within: {max(30, 10 * i)}s}}
            strategy: compose
            compose_file: {drill.compose_file}
            service: backend
            compose_command: {json.dumps(compose_command)}
            container: {app.name}
            watchtower: {app.watchtower}
        """)


@pytest.fixture
def drill(tmp_path: Path, app: App) -> Iterator[Drill]:
    made = Drill(tmp_path, app)
    try:
        yield made
    finally:
        made.stop()
        app.compose(made.compose_file, "down")


def start_healthy(drill: Drill) -> None:
    drill.up()
    drill.app.run_watchtower()
    drill.start()
    wait_for(drill.app.healthy, timeout=60, what="v1 healthy")
    wait_for(drill._history_has_good, timeout=60, what="v1 recorded by the deploy tracker")


def test_bad_deploy_is_rolled_back_verified_and_resolved(drill: Drill) -> None:
    app = drill.app
    start_healthy(drill)
    broken_at = drill.deploy_broken()
    wait_for(lambda: "succeeded" in drill.decisions() or "verify_failed" in drill.decisions()
             or "failed" in drill.decisions(), timeout=120 + 30 * INTERVAL,
             what="the rollback's outcome")
    elapsed = time.monotonic() - broken_at
    print(f"\nbroken deploy -> verified rollback: {elapsed:.1f}s (probe interval {INTERVAL:g}s)")
    assert drill.decisions() == ["acted", "succeeded"]
    assert app.image() == app.good and app.healthy()
    assert not app.running(app.watchtower)
    # the compose file names the rollback tag, comments kept, the old file beside it
    text = drill.compose_file.read_text()
    assert f"image: {app.repo}:rollback-{app.good[7:19]}   # the tag deploys bump" in text
    assert "# Watchtower moves :latest" in text
    [backup] = drill.compose_file.parent.glob("*.before-rollback-*")
    assert backup.read_text() == compose_text(app)
    # the journal shows each step, the incident resolves, the CLI reports it
    acted, succeeded = [e for e in drill.journal() if e["remediation"] == "rollback-backend"]
    assert acted["reason"] == f"roll back {app.name} to {app.good}"
    assert acted["detail"]["from_image_id"] == app.bad
    assert succeeded["reason"].endswith(": verified")
    wait_for(lambda: all(i["status"] == "resolved" for i in
                         drill.cli_json("incidents", "--all")
                         if i["probe"] == "backend-health"), timeout=30, what="resolved")
    [row] = drill.cli_json("remediations")
    assert row["last"] == "succeeded" and row["budget"] == "1/3"
    # A deploy is an event, not an incident (issue 19 item 3): nothing opened for the
    # deploy tracker, before or after the rollback; the broken deploy is in the backend
    # incident's timeline; both image changes (the deploy, the rollback) are counted.
    wait_for(lambda: deploys_counted(drill) >= 2, timeout=30, what="two deploy events")
    listed = drill.cli_json("incidents", "--all")
    assert [i for i in listed if i["probe"] == "recent-deploy"] == []
    [incident] = [i for i in listed if i["probe"] == "backend-health"]
    [deploy] = [e for e in timeline(drill, incident["id"]) if e["kind"] == "deploy"]
    assert deploy["summary"].startswith(f"{app.name} now runs {app.bad[:19]}")


def timeline(drill: Drill, incident_id: int) -> list[dict[str, Any]]:
    from watchdog.common.state import StateStore
    from watchdog.pipeline.incidents import IncidentBook

    store = StateStore.in_state_dir(drill.tmp / "state")
    try:
        return IncidentBook(store).events(incident_id)
    finally:
        store.close()


def deploys_counted(drill: Drill) -> float:
    text = httpx.get(f"http://127.0.0.1:{drill.port}/metrics", timeout=10).text
    wanted = f'runbook_watchdog_events_total{{kind="deploy",target="{drill.app.name}"}}'
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith(wanted))


def test_dry_run_changes_nothing_and_journals_the_image(tmp_path: Path, app: App) -> None:
    drill = Drill(tmp_path, app, mode="dry-run")
    try:
        start_healthy(drill)
        drill.deploy_broken()
        wait_for(lambda: "would_act" in drill.decisions(), timeout=60, what="would act")
        [entry] = [e for e in drill.journal() if e["decision"] == "would_act"]
        assert entry["reason"] == f"would roll back {app.name} to {app.good}"
        assert app.image() == app.bad and app.running(app.watchtower)
        assert drill.compose_file.read_text() == compose_text(app)
        assert not list(drill.compose_file.parent.glob("*.before-rollback-*"))
    finally:
        drill.stop()
        app.compose(drill.compose_file, "down")


def test_kill_9_during_a_rollback_then_restart_verifies_and_never_acts_twice(
        tmp_path: Path, app: App) -> None:
    gate = tmp_path / "gate"
    gate.mkdir()
    command = [sys.executable, str(PEERS / "blocking_compose.py"), str(gate), "docker-compose"]
    drill = Drill(tmp_path, app, compose_command=command)
    try:
        start_healthy(drill)
        drill.deploy_broken()
        wait_for(lambda: (gate / "started").exists() and "acted" in drill.decisions(),
                 timeout=60, what="the rollback mid-way")
        assert drill.daemon is not None
        drill.daemon.signal(signal.SIGKILL)
        drill.daemon.wait(10)
        (gate / "release").write_text("go")  # the orphaned compose run finishes the job
        wait_for(lambda: app.image() == app.good and app.healthy(), timeout=120,
                 what="the released compose run")
        drill.start()
        wait_for(lambda: "succeeded" in drill.decisions()
                 or "verify_failed" in drill.decisions(), timeout=120, what="verified")
        assert drill.decisions() == ["acted", "resumed", "succeeded"]
        assert len(list(drill.compose_file.parent.glob("*.before-rollback-*"))) == 1
        assert "verifying, not repeating" in drill.journal()[1]["reason"]
    finally:
        drill.stop()
        app.compose(drill.compose_file, "down")
