"""The bad-deploy drill under a sandbox that does not grant the compose directory.

The installed daemon runs in a private mount namespace where the compose file's directory
is a read-only bind mount, as under the shipped unit without its drop-in
(ProtectSystem=strict, no ReadWritePaths=). Tests run as root, which ignores file modes:
a read-only mount is how the path is made unwritable here, as systemd does it (EROFS).
The rollback must be refused before it touches anything: no image tagged, Watchtower left
running, the compose file as it was, the incident's severity unchanged.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.remediations.conftest import App
from tests.remediations.test_rollback_drill import Drill, compose_text, start_healthy
from tests.support import EXE, Daemon, wait_for
from watchdog.common.state import StateStore
from watchdog.pipeline.incidents import IncidentBook


class SandboxedDrill(Drill):
    def start(self) -> None:
        d = shlex.quote(str(self.compose_file.parent))
        # `sh -c SCRIPT sh CONFIG`: the harness appends the config path, the script's $1.
        script = (f"mount --bind {d} {d} && mount -o remount,bind,ro {d} {d} && "
                  f'exec {shlex.quote(EXE)} run --config "$1"')
        self.runs += 1
        command = ("unshare", "-m", "--propagation", "private", "sh", "-c", script, "sh")
        self.daemon = Daemon(self.config, self.port, self.tmp / f"daemon-{self.runs}.log",
                             command=command)
        self.daemon.start()


@pytest.fixture
def drill(tmp_path: Path, app: App) -> Iterator[SandboxedDrill]:
    made = SandboxedDrill(tmp_path, app)
    # sev2, so that an escalation would show
    made.config.write_text(made.config.read_text().replace("severity: sev1", "severity: sev2"))
    try:
        yield made
    finally:
        made.stop()
        app.compose(made.compose_file, "down")


def test_a_rollback_the_sandbox_does_not_permit_is_refused_before_it_touches_anything(
        drill: SandboxedDrill) -> None:
    app = drill.app
    start_healthy(drill)
    drill.deploy_broken()
    wait_for(lambda: "refused" in drill.decisions(), timeout=90, what="the refusal")
    drill.stop()
    folder = drill.compose_file.parent
    assert [(e["decision"], e["reason"]) for e in drill.journal()
            if e["remediation"] == "rollback-backend"] == [
        ("refused", f"not permitted by the service's sandbox: cannot write {folder}: "
                    "Read-only file system (EROFS)")]
    assert app.image() == app.bad  # not rolled back, and nothing half-done:
    assert app.running(app.watchtower)
    tags = app.podman.client().images.get(app.good).tags
    assert not [t for t in tags if ":rollback-" in t], tags
    assert drill.compose_file.read_text() == compose_text(app)
    assert sorted(p.name for p in folder.iterdir()) == [drill.compose_file.name]
    store = StateStore.in_state_dir(drill.tmp / "state")
    try:
        book = IncidentBook(store)
        [incident] = [i for i in book.all_incidents() if i.probe == "backend-health"]
        assert incident.severity == "sev2"
        # (the deploy before it is a line of its timeline with no severity)
        assert {e["severity"] for e in book.events(incident.id) if e["kind"] != "deploy"} \
            == {"sev2"}
    finally:
        store.close()
