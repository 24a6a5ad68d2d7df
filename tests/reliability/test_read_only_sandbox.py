"""The daemon under a read-only sandbox: an enabled action whose directory is read-only.

The installed daemon runs in a private mount namespace (`unshare -m`) in which the backend
directory is a read-only bind mount: how systemd's ProtectSystem=strict leaves a path the
unit does not grant (EROFS). Tests run as root, which ignores file modes, so a read-only
mount is the faithful way to make a path unwritable; it vanishes with the process.

Expected: each action is journaled once as "refused: not permitted by the service's
sandbox" naming the path, the incident gets one update per action (not one per cycle),
its severity never changes, and the env file is untouched with nothing written beside it.
"""

from __future__ import annotations

import json
import shlex
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.peers.receiver import Receiver
from tests.support import Process, daemon_env, free_port, port_open, wait_for

ENV = "# the backend\nREQUEST_NETWORK_ENABLED=true\nPAYMENT_ENABLED_PROVIDERS=request-network\n"
EXE = Path(sys.executable).parent / "runbook-watchdog"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    hook = Receiver(free_port()).start()
    try:
        yield hook
    finally:
        hook.stop()


def config(tmp: Path, port: int, hook: Receiver, backend: Path) -> Path:
    doc: dict[str, Any] = {
        "watchdog": {"listen": f"127.0.0.1:{port}", "state_dir": str(tmp / "state"),
                     "spread": "0s", "kill_switch": str(tmp / "kill")},
        "probes": {"payments-api": {
            "type": "http", "url": f"http://127.0.0.1:{free_port()}/", "interval": "300ms",
            "timeout": "200ms", "fail_after": 1, "severity": "sev2", "escalate": False}},
        "remediations": {
            "payments-to-shkeeper": {
                "type": "payment_provider_switch", "mode": "auto", "on": ["payments-api"],
                "after": 1, "env_file": str(backend / ".env"), "container": None,
                "start_period": "0s"},
            "evidence": {"type": "capture_evidence", "mode": "auto",
                         "dir": str(backend / "incidents")}},
        "notify": {"channels": {"hook": {"type": "webhook", "url": hook.url()}}},
    }
    path = tmp / "watchdog.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def probe_runs(port: int) -> float:
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    return sum(sample.value for family in text_string_to_metric_families(text)
               for sample in family.samples
               if sample.name == "runbook_watchdog_probe_runs_total"
               and sample.labels.get("probe") == "payments-api")


def test_a_read_only_path_is_refused_journaled_and_paged_once(
        tmp_path: Path, receiver: Receiver) -> None:
    backend = tmp_path / "backend"
    backend.mkdir()
    (backend / ".env").write_text(ENV)
    port = free_port()
    path = config(tmp_path, port, receiver, backend)
    b = shlex.quote(str(backend))
    script = (f"mount --bind {b} {b} && mount -o remount,bind,ro {b} {b} && "
              f"exec {shlex.quote(str(EXE))} run --config {shlex.quote(str(path))}")
    daemon = Process(["unshare", "-m", "--propagation", "private", "sh", "-c", script],
                     tmp_path / "daemon.log", env=daemon_env()).start()
    try:
        wait_for(lambda: port_open(port), what="the daemon's listener")
        # the opening message and one update per refused action
        wait_for(lambda: len(receiver.received) >= 3, what="three messages")
        runs = probe_runs(port)
        wait_for(lambda: probe_runs(port) >= runs + 6, what="six more failing cycles")
        status = httpx.get(f"http://127.0.0.1:{port}/api/status", timeout=5).json()
    finally:
        daemon.stop()
    journal = [json.loads(line) for line in
               (tmp_path / "state" / "audit.jsonl").read_text().splitlines()]
    entries = sorted((e["remediation"], e["decision"], e["reason"]) for e in journal
                     if e["remediation"] != "watchdog")
    assert entries == [
        ("evidence", "refused", f"not permitted by the service's sandbox: cannot write "
                                f"{backend}/incidents/incident-1: Read-only file system (EROFS)"),
        ("payments-to-shkeeper", "refused", f"not permitted by the service's sandbox: cannot "
                                            f"write {backend}: Read-only file system (EROFS)")]
    kinds = [(r.body["kind"], r.body["incident_id"], r.body["severity"]) for r in receiver.received]
    assert kinds == [("started", 1, "sev2"), ("updated", 1, "sev2"), ("updated", 1, "sev2")], daemon.output()
    updates = sorted(t for t in receiver.texts() if "Update" in t)
    assert "Change: remediation evidence refused: not permitted by the service's sandbox" \
           in updates[0]
    assert "Change: remediation payments-to-shkeeper refused: not permitted by the service's " \
           f"sandbox: cannot write {backend}: Read-only file system (EROFS)" in updates[1]
    assert [(i["id"], i["severity"]) for i in status["incidents"]] == [(1, "sev2")]
    # said at start, before any incident
    log = daemon.output()
    for name, kind, path in (("payments-to-shkeeper", "payment_provider_switch", backend),
                             ("evidence", "capture_evidence", backend / "incidents")):
        assert f"remediation {name} ({kind}): not permitted by the service's sandbox: cannot " \
               f"write {path}: Read-only file system (EROFS): it will be refused; grant it " \
               "with `runbook-watchdog unit-drop-in`" in log, log
    assert sorted(p.name for p in backend.iterdir()) == [".env"]
    assert (backend / ".env").read_text() == ENV
