"""Restarts, slow receivers, silences, maintenance windows, reminders and acks, in the daemon."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tests.notify.conftest import Watchdog, probe
from tests.peers.receiver import Receiver
from tests.support import Daemon, HttpPeer, free_port, wait_for


def _config(backend: HttpPeer, channels: dict[str, object], **extra: object) -> dict[str, object]:
    return {"probes": {"backend": probe(backend.url(), severity="sev1", runbook="3.1")},
            "notify": {"check_every": "200ms", "retry_after": "200ms", "channels": channels},
            **extra}


def _hook(url: str, **keys: object) -> dict[str, object]:
    return {"type": "webhook", "url": url, "timeout": "1s", "attempts": 1} | keys


def _kinds(receiver: Receiver) -> list[str]:
    return [str(r.body["kind"]) for r in receiver.received]


def _sent(dog: Watchdog) -> dict[str, Any]:
    """The last outbox row, once the dispatcher has marked it sent."""
    return dict(wait_for(lambda: [r for r in dog.outbox()[-1:] if r["status"] == "sent"],
                         what="the page marked sent")[0])


def _outage(dog: Watchdog, backend: HttpPeer) -> dict[str, object]:
    wait_for(lambda: dog.status()["probes"][0]["status"] == "ok", what="backend ok")
    backend.set_mode("503")
    return dict(wait_for(lambda: dog.root_incidents(), what="an incident")[0])


def test_a_resolved_message_queued_while_the_channel_is_down_is_delivered_after_a_restart(
        tmp_path: Path, peers: dict[str, HttpPeer], daemons: list[Daemon]) -> None:
    port = free_port()  # nothing listens here yet: the channel is down
    dog = Watchdog.from_config(tmp_path, _config(peers["backend"],
                                     {"hook": _hook(f"http://127.0.0.1:{port}/hook")})).start()
    daemons.append(dog)
    _outage(dog, peers["backend"])
    peers["backend"].set_mode("ok")
    wait_for(lambda: [(r["kind"], r["status"]) for r in dog.outbox()] ==
             [("started", "pending"), ("resolved", "pending")] and
             dog.outbox()[0]["attempts"] >= 1, what="both messages pending after a failure")
    dog.stop()
    receiver = Receiver(port).start()
    try:
        dog.start()
        wait_for(lambda: len(receiver.received) == 2, what="delivery after the restart")
        assert _kinds(receiver) == ["started", "resolved"]
        wait_for(lambda: {r["status"] for r in dog.outbox()} == {"sent"}, what="outbox drained")
    finally:
        receiver.stop()


def test_a_hung_receiver_delays_neither_probes_nor_other_channels_and_is_retried(
        tmp_path: Path, peers: dict[str, HttpPeer], receiver: Receiver,
        daemons: list[Daemon]) -> None:
    other = Receiver(free_port()).start()
    receiver.set_mode("hang")
    try:
        dog = Watchdog.from_config(tmp_path, _config(peers["backend"], {
            "hung": _hook(receiver.url()), "fine": _hook(other.url())})).start()
        daemons.append(dog)
        _outage(dog, peers["backend"])
        wait_for(lambda: _kinds(other) == ["started"], what="started on the working channel")
        peers["backend"].set_mode("ok")
        wait_for(lambda: not dog.root_incidents(), what="the incident resolves meanwhile")
        wait_for(lambda: _kinds(other) == ["started", "resolved"], what="resolved on it")
        assert receiver.received == []
        receiver.set_mode("ok")
        wait_for(lambda: _kinds(receiver) == ["started", "resolved"], what="retried delivery")
    finally:
        other.stop()


def test_a_silence_holds_the_page_and_expires_by_itself(
        tmp_path: Path, peers: dict[str, HttpPeer], receiver: Receiver,
        daemons: list[Daemon]) -> None:
    # Nothing here has to happen before a wall-clock deadline: the page is held by an
    # hour-long silence while the test looks, then by a 5 s one on the incident, which is
    # left to expire. (A short first silence raced the daemon's start and the CLI's own,
    # 8 s each at load 10, and the page went out before the outage was seen.)
    dog = Watchdog.from_config(tmp_path, _config(peers["backend"], {"hook": _hook(receiver.url())})).start()
    daemons.append(dog)
    added = dog.cli("silence", "add", "--probe", "backend", "--for", "1h", "--reason", "deploy")
    assert added.returncode == 0 and added.stdout.startswith("silence #1 until ")
    assert "probe backend until" in dog.cli("silence", "list").stdout
    incident = _outage(dog, peers["backend"])
    wait_for(lambda: dog.outbox(), what="the held message")
    held = dog.outbox()[0]
    assert (held["kind"], held["status"]) == ("started", "suppressed")
    assert "silenced (silence #1: deploy)" in held["note"]
    assert receiver.received == [] and dog.status()["silences"][0]["reason"] == "deploy"
    second = dog.cli("silence", "add", "--incident", str(incident["id"]), "--for", "5s",
                     "--reason", "known")
    assert second.returncode == 0 and second.stdout.startswith("silence #2 until ")
    assert dog.cli("silence", "remove", "1").returncode == 0
    assert dog.cli("silence", "remove", "1").returncode == 1
    wait_for(lambda: _kinds(receiver) == ["started"], timeout=30, what="page after expiry")
    # The dispatcher marks the row sent once the receiver has answered: wait for that too.
    page = _sent(dog)
    assert page["kind"] == "started"
    assert page["created_at"] >= dog.silence(2)["until"]  # #2 is never removed: it expired
    assert dog.cli("silence", "list").stdout.strip() == "no active silences"
    bad = dog.cli("silence", "add", "--probe", "backend", "--for", "soon", "--reason", "r")
    assert bad.returncode == 3  # a usage error, as everywhere (README's exit-code table)
    assert "--for: 'soon' is not a duration" in bad.stderr


def test_a_maintenance_window_records_the_incident_but_pages_only_after_it_ends(
        tmp_path: Path, peers: dict[str, HttpPeer], receiver: Receiver,
        daemons: list[Daemon]) -> None:
    # The window runs for an hour while the test looks at the held page, then a reload
    # makes it end 3 s later. (A window ending 4 s after the config was written ended
    # before the daemon, 8 s to start at load 10, had seen the outage.)
    now = datetime.now(UTC)
    window = {"name": "db upgrade", "probes": ["backend"],
              "start": (now - timedelta(minutes=1)).isoformat(),
              "end": (now + timedelta(hours=1)).isoformat()}
    dog = Watchdog.from_config(tmp_path, _config(peers["backend"], {"hook": _hook(receiver.url())},
                                     maintenance=[window])).start()
    daemons.append(dog)
    _outage(dog, peers["backend"])
    assert dog.status()["maintenance"] == ["db upgrade"]
    wait_for(lambda: dog.outbox(), what="the held message")
    assert "maintenance window 'db upgrade'" in dog.outbox()[0]["note"]
    assert receiver.received == []
    end = datetime.now(UTC) + timedelta(seconds=3)
    dog.rewrite(lambda doc: doc["maintenance"][0].update(end=end.isoformat()))
    wait_for(lambda: _kinds(receiver) == ["started"], timeout=30, what="page after the window")
    # The dispatcher marks the row sent once the receiver has answered: wait for that too.
    page = _sent(dog)
    assert page["kind"] == "started"
    assert page["created_at"] >= end.timestamp()
    assert dog.status()["maintenance"] == []


def test_reminders_repeat_at_the_response_time_until_acknowledged(
        tmp_path: Path, peers: dict[str, HttpPeer], receiver: Receiver,
        daemons: list[Daemon]) -> None:
    levels = {"sev1": {"meaning": "Site fully down or unable to process payments",
                       "response": "1s"}, "sev2": {"meaning": "Major feature broken"}}
    dog = Watchdog.from_config(tmp_path, _config(peers["backend"], {"hook": _hook(receiver.url())},
                                     severity={"levels": levels})).start()
    daemons.append(dog)
    incident = _outage(dog, peers["backend"])
    wait_for(lambda: _kinds(receiver)[:3] == ["started", "reminder", "reminder"],
             what="two reminders")
    assert receiver.received[1].body["text"].startswith("⏰ [SEV-1] Still open")
    assert f"runbook-watchdog ack {incident['id']}" in receiver.received[1].body["text"]
    acked = dog.cli("ack", str(incident["id"]))
    assert acked.returncode == 0
    assert dog.cli("ack", "999").returncode == 1
    acked_at = time.time()
    wait_for(lambda: dog.status()["incidents"][0]["acknowledged"], what="ack seen")
    first = dog.status()["probes"][0]["last_run"]
    wait_for(lambda: dog.status()["probes"][0]["last_run"] > first + 2.5, what="time to pass")
    late = [r for r in dog.outbox() if r["kind"] == "reminder" and r["created_at"] > acked_at + 0.5]
    assert late == []
