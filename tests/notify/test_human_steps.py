"""The runbook's never-automated steps reach the operator in the messages (issue 19 item 2):
a real Mongo (nx-27017) goes away and comes back under the daemon; the started message
carries §3.2 step 7 in its hint, and the resolved one repeats it on its own line, because
after recovery is when a restore is decided."""

from __future__ import annotations

from pathlib import Path

from tests.network.conftest import NxMongo
from tests.notify.conftest import Watchdog
from tests.peers.receiver import Receiver
from tests.support import Daemon, wait_for

RESTORE = ("Human only, never automated: restore — if the data is corrupt, stop the backend "
           "container first (no partial writes), then restore the latest dump (Backup & "
           "Recovery) (runbook 3.2 step 7)")


def _texts(receiver: Receiver) -> list[str]:
    return [str(r.body.get("text")) for r in receiver.received if r.path == "/hook"]


def test_a_mongo_outage_names_the_restore_as_human_only_in_started_and_resolved(
        tmp_path: Path, receiver: Receiver, daemons: list[Daemon]) -> None:
    mongo = NxMongo(tmp_path).start()
    try:
        dog = Watchdog.from_config(tmp_path, {
            "probes": {"mongodb": {"type": "mongo", "uri": mongo.uri, "interval": "2s",
                                   "timeout": "1500ms", "severity": "sev1", "runbook": "3.2",
                                   "fail_after": 1, "recover_after": 1}},
            "notify": {"check_every": "200ms", "retry_after": "500ms", "channels": {
                "hook": {"type": "webhook", "url": receiver.url("/hook")}}},
        }).start()
        daemons.append(dog)
        wait_for(lambda: dog.status()["probes"][0]["status"] == "ok", timeout=60,
                 what="mongo ok")
        mongo.stop()
        started = wait_for(lambda: _texts(receiver), timeout=60, what="started message")[0]
        mongo.start()
        resolved = wait_for(lambda: _texts(receiver)[1:], timeout=60,
                            what="resolved message")[0]
    finally:
        mongo.stop()
    assert started.startswith("🚨 [SEV-1] Started: ")
    assert RESTORE in started
    assert "First 5 minutes (runbook 2 steps 1, 3)" in started
    assert resolved.startswith("✅ [SEV-1] Resolved: ")
    assert f"Runbook: §3.2\n{RESTORE}\n" in resolved
