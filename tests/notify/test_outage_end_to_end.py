"""A Mongo outage with backend symptoms, end to end, against real receivers.

The `mongodb` probe here is an http probe against a real HTTP server standing in for the
database (the mongo probe type is built in another issue); what is under test is the
grouping, the messages and the channels, which do not depend on the probe type.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.notify.conftest import Alertmanager, Mailbox, Watchdog, probe, receiver_channels
from tests.peers.receiver import Receiver
from tests.support import Daemon, HttpPeer, wait_for

TOKEN = "4242:SECRET-bot-token"


def _config(peers: dict[str, HttpPeer], receiver: Receiver, smtp_port: int,
            am: Alertmanager) -> dict[str, object]:
    return {
        "probes": {
            "mongodb": probe(peers["mongo"].url(), severity="sev1", runbook="3.2"),
            "backend-health": probe(peers["backend"].url(), severity="sev1", runbook="3.1",
                                    depends_on=["mongodb"]),
        },
        "notify": {"check_every": "200ms", "retry_after": "500ms", "channels": {
            **receiver_channels(receiver, smtp_port, TOKEN),
            "am": {"type": "alertmanager", "url": am.url, "resend_every": "1s"},
        }},
    }


def _by_path(receiver: Receiver, prefix: str) -> list[str]:
    return [str(r.body.get("text")) for r in receiver.received if r.path.startswith(prefix)]


def _am_alert(am: Alertmanager, incident: int) -> dict[str, Any] | None:
    return next((a for a in am.alerts() if a["labels"].get("incident") == str(incident)), None)


def test_a_mongo_outage_with_backend_symptoms_is_one_incident_with_one_page_per_channel(
        tmp_path: Path, peers: dict[str, HttpPeer], receiver: Receiver,
        mailbox: tuple[Mailbox, int], alertmanager: Alertmanager,
        daemons: list[Daemon]) -> None:
    box, smtp_port = mailbox
    dog = Watchdog.from_config(tmp_path, _config(peers, receiver, smtp_port, alertmanager)).start()
    daemons.append(dog)
    wait_for(lambda: all(p["status"] == "ok" for p in dog.status()["probes"]), what="all ok")

    peers["mongo"].set_mode("503")
    root = wait_for(lambda: dog.root_incidents(), what="the mongo incident")[0]
    peers["backend"].set_mode("503")
    wait_for(lambda: dog.root_incidents()[0]["attached"], what="backend attached")
    incidents = dog.root_incidents()
    assert [i["probe"] for i in incidents] == ["mongodb"]
    assert [a["probe"] for a in incidents[0]["attached"]] == ["backend-health"]
    alert = wait_for(lambda: _am_alert(alertmanager, root["id"]), what="alert in alertmanager")
    assert alert["status"]["state"] == "active"
    assert alert["labels"]["severity"] == "sev1"
    wait_for(lambda: (_am_alert(alertmanager, root["id"]) or alert)["endsAt"] > alert["endsAt"],
             what="the alert re-sent while active, its endsAt pushed on")

    peers["mongo"].set_mode("ok")
    peers["backend"].set_mode("ok")
    wait_for(lambda: len(_by_path(receiver, "/slack")) == 2, what="resolved on slack")
    wait_for(lambda: len(box.messages) == 2 and len(_by_path(receiver, "/hook")) == 2 and
             len(_by_path(receiver, "/bot")) == 2, what="resolved on every channel")
    wait_for(lambda: _am_alert(alertmanager, root["id"]) is None, what="alert resolved")

    for texts in (_by_path(receiver, "/slack"), _by_path(receiver, "/hook"),
                  _by_path(receiver, "/bot")):
        started, resolved = texts
        assert started.startswith("🚨 [SEV-1] Started: ")
        assert "mongodb" in started and "Runbook: §3.2" in started
        assert "Next update by: " in started and "Impact: Site fully down" in started
        assert resolved.startswith("✅ [SEV-1] Resolved: ")
        assert "mongodb is healthy again after " in resolved
        assert "Also affected (attached): backend-health" in resolved
    hooks = [r.body for r in receiver.received if r.path == "/hook"]
    assert [h["kind"] for h in hooks] == ["started", "resolved"]
    assert hooks[1]["data"]["duration"] > 0 and hooks[1]["data"]["attached"] == ["backend-health"]
    assert [m["Subject"].split(":")[0] for m in box.messages] == \
        ["🚨 [SEV-1] Started", "✅ [SEV-1] Resolved"]
    assert {r.path for r in receiver.received if r.path.startswith("/bot")} == \
        {f"/bot{TOKEN}/sendMessage"}

    draft = dog.state / "postmortems" / f"incident-{root['id']}.md"
    assert draft.exists()
    printed = dog.cli("postmortem", str(root["id"]))
    assert printed.returncode == 0 and printed.stdout == draft.read_text()
    assert "backend-health" in printed.stdout and "## Root cause" in printed.stdout
    assert "notification `started` to slack: sent" in printed.stdout
    assert "notification `resolved` to slack: queued" in printed.stdout  # drafted as it went out
    assert "backend-health symptom attached" not in printed.stdout
    assert "mongodb symptom attached backend-health (incident #" in printed.stdout
    listing = dog.cli("incidents", "--all")
    assert f"(symptom, attached to #{root['id']})" in listing.stdout
    assert sum("attached to" not in line for line in listing.stdout.splitlines()) == 1
    dog.stop()
    assert TOKEN not in dog.output() and TOKEN not in printed.stdout
