"""The notifier in-process, fed by the real engine: flapping, the SMTP skip, grouping order.

Observations are fed to the engine directly (as the scheduler would); the receivers are
real servers. `StandInSmtp` is a stand-in for the smtp probe type built in another issue:
only its type name matters here.
"""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any, ClassVar

import pytest
import yaml
from prometheus_client import CollectorRegistry

from probes.http import HttpProbe
from tests.notify.conftest import Mailbox
from tests.peers.receiver import Receiver
from tests.support import fed_job, until
from watchdog.common.clock import ManualClock
from watchdog.common.state import StateStore
from watchdog.notification.reports import UserReport
from watchdog.notification.stage import NotificationStage
from watchdog.notification.store import NotifyStore
from watchdog.pipeline.engine import PipelineEngine
from watchdog.pipeline.incidents import IncidentBook
from watchdog.pipeline.observation import Observation, failed, ok
from watchdog.pipeline.probe import ProbeParams, ProbeRegistry
from watchdog.pipeline.scheduler import RunInfo
from watchdog.runtime.config import Config, load_config
from watchdog.runtime.metrics import Metrics


class StandInSmtp:
    """Stand-in for the smtp probe type (never run: its results are fed in)."""

    Params = ProbeParams
    causes: ClassVar[frozenset[str]] = frozenset()

    async def check(self) -> Observation:
        raise AssertionError("never run: its results are fed in")

    async def aclose(self) -> None:
        return None


def _load(tmp_path: Path, probes: dict[str, Any], channels: dict[str, Any],
          **notify: Any) -> Config:
    path = tmp_path / "watchdog.yaml"
    path.write_text(yaml.safe_dump({
        "watchdog": {"state_dir": str(tmp_path / "state")}, "probes": probes,
        "notify": {"channels": channels, **notify}}))
    return load_config(path, probes=ProbeRegistry({"http": HttpProbe, "smtp": StandInSmtp}))


class Harness:
    def __init__(self, config: Config) -> None:
        self.clock = ManualClock()
        self.store = StateStore.in_state_dir(config.watchdog.state_dir)
        self.engine = PipelineEngine(config, IncidentBook(self.store), Metrics(CollectorRegistry()),
                             self.clock.time)
        self.notifier = NotificationStage(config, self.store, self.engine, self.clock)
        self.notifier.subscribe()

    def feed(self, probe: str, obs: Observation) -> None:
        self.engine.on_result(fed_job(probe, 30.0, 10.0), obs,
                              RunInfo(0.0, 0.0, 0.01))

    def outbox(self) -> list[dict[str, Any]]:
        return [dict(r) for r in self.store.query("SELECT * FROM outbox ORDER BY id")]


def _http(**keys: Any) -> dict[str, Any]:
    return {"type": "http", "url": "http://127.0.0.1:1/", "fail_after": 1} | keys


def test_email_is_skipped_with_a_journal_note_while_the_smtp_probe_fails(
        tmp_path: Path, mailbox: tuple[Mailbox, int], caplog: pytest.LogCaptureFixture) -> None:
    box, port = mailbox
    config = _load(tmp_path, {"mail-server": {"type": "smtp", "fail_after": 1},
                              "backend": _http()},
                   {"mail": {"type": "email", "host": "127.0.0.1", "port": port,
                             "sender": "w@example.test", "to": ["oncall@example.test"]}})
    h = Harness(config)

    async def scenario() -> None:
        await h.notifier.start()
        try:
            h.feed("mail-server", failed("refused", "SMTP refused the connection"))
            await until(lambda: [r["status"] for r in h.outbox()] == ["skipped"])
            h.feed("mail-server", ok("SMTP answers"))
            h.feed("backend", failed("bad_status", "HTTP 503"))
            # The dispatcher marks a row sent after the server took it: wait for both.
            await until(lambda: len(box.messages) == 2
                        and [r["status"] for r in h.outbox()] == ["skipped", "sent", "sent"])
        finally:
            await h.notifier.aclose()

    with caplog.at_level(logging.WARNING, logger="watchdog.notification.delivery"):
        asyncio.run(scenario())
    rows = h.outbox()
    assert rows[0]["note"] == "the smtp probe 'mail-server' is failing"
    assert "skipped: the smtp probe 'mail-server' is failing" in caplog.text
    assert [(r["kind"], r["status"]) for r in rows] == \
        [("started", "skipped"), ("resolved", "sent"), ("started", "sent")]
    assert str(box.messages[0]["Subject"]).startswith("✅ [SEV-2] Resolved")
    assert "mail-server" in str(box.messages[0]["Subject"])
    assert "backend" in str(box.messages[1]["Subject"])


def test_a_flapping_probe_gets_one_notice_then_one_when_it_settles(
        tmp_path: Path, receiver: Receiver) -> None:
    config = _load(tmp_path, {"backend": _http()},
                   {"hook": {"type": "webhook", "url": receiver.url()}},
                   flapping={"changes": 2, "within": "10m"})
    h = Harness(config)

    async def scenario() -> None:
        await h.notifier.start()
        try:
            for _ in range(5):
                h.feed("backend", failed("bad_status", "HTTP 503"))
                h.feed("backend", ok("200"))
            await until(lambda: len(receiver.received) == 3)
            await h.clock.advance(601)
            h.notifier.tick(h.clock.time())
            await until(lambda: len(receiver.received) == 4)
        finally:
            await h.notifier.aclose()

    asyncio.run(scenario())
    kinds = [r.body["kind"] for r in receiver.received]
    assert kinds == ["started", "resolved", "flapping", "settled"]
    assert receiver.received[2].body["text"].startswith("🔁 [SEV-2] Flapping: backend changed "
                                                        "state 3 times within 10m")
    assert "it is now healthy" in receiver.received[3].body["text"]
    held = [r for r in h.outbox() if r["status"] == "suppressed"]
    assert held and {r["note"] for r in held} <= {"flapping", "its start was never announced"}


def test_a_dependent_that_opened_first_is_attached_when_its_dependency_opens(
        tmp_path: Path, receiver: Receiver) -> None:
    config = _load(tmp_path, {"mongodb": _http(severity="sev1"),
                              "backend": _http(depends_on=["mongodb"]),
                              "worker": _http(depends_on=["backend"])},
                   {"hook": {"type": "webhook", "url": receiver.url()}})
    h = Harness(config)
    h.feed("backend", failed("bad_status", "HTTP 503"))
    h.feed("mongodb", failed("refused", "connection refused"))
    h.feed("worker", failed("bad_status", "HTTP 502"))
    status = h.notifier.decorate(h.engine.status())
    assert [i["probe"] for i in status["incidents"]] == ["mongodb"]
    assert [a["probe"] for a in status["incidents"][0]["attached"]] == ["backend", "worker"]
    kinds = [(r["kind"], r["incident_id"]) for r in h.outbox()]
    assert kinds == [("started", 2)]  # backend's page was held, then adopted by mongodb's
    assert NotifyStore(h.store).parent_of(3) == 2


def test_a_dependents_page_waits_for_its_dependencies_detection_then_goes_alone(
        tmp_path: Path, receiver: Receiver) -> None:
    # mongodb: every 30 s, fail_after 2, timeout 10 s: detected within 70 s of failing.
    config = _load(tmp_path, {"mongodb": _http(fail_after=2),
                              "backend": _http(depends_on=["mongodb"], interval="15s",
                                               timeout="5s"),
                              "quick": _http(depends_on=["mongodb"], hold_for="0s")},
                   {"hook": {"type": "webhook", "url": receiver.url()}})
    h = Harness(config)
    assert (h.notifier.grouping.hold("backend"), h.notifier.grouping.hold("mongodb")) == \
        (70.0, 0.0)
    h.feed("backend", failed("refused", "connection refused"))
    h.feed("quick", failed("refused", "connection refused"))
    h.feed("backend", failed("timeout", "no answer"))  # a change while held: no update
    h.notifier.file_report(UserReport("login fails", "backend"))  # nor a report's update
    assert [r["incident_id"] for r in h.outbox()] == [2]  # hold_for 0s: paged at once

    async def scenario() -> None:
        await h.clock.advance(69)
        h.notifier.tick(h.clock.time())
        assert [r["incident_id"] for r in h.outbox()] == [2]
        await h.clock.advance(1)
        h.notifier.tick(h.clock.time())

    asyncio.run(scenario())
    assert [(r["kind"], r["incident_id"]) for r in h.outbox()] == [("started", 2),
                                                                  ("started", 1)]
    page = json.loads(h.outbox()[-1]["message"])["text"]
    assert "backend: no answer" in page
    assert 'User reports: 1, latest: user report (about backend): "login fails"' in page


def test_secrets_in_channel_config_are_scrubbed_from_messages(tmp_path: Path) -> None:
    config = _load(tmp_path, {"backend": _http()},
                   {"tg": {"type": "telegram", "bot_token": "9:TOPSECRET", "chat_id": "1",
                           "api_url": "http://127.0.0.1:1"}})
    assert "9:TOPSECRET" in config.secrets
    h = Harness(config)
    from watchdog.common.secrets import SCRUBBER
    SCRUBBER.register(config.secrets)
    h.feed("backend", failed("bad_status", "upstream said token 9:TOPSECRET is bad"))
    assert "TOPSECRET" not in h.outbox()[0]["message"]


def test_an_escalation_by_a_later_stage_is_an_update_message(
        tmp_path: Path, receiver: Receiver) -> None:
    config = _load(tmp_path, {"backend": _http(runbook="3.1")},
                   {"hook": {"type": "webhook", "url": receiver.url()}})
    h = Harness(config)

    async def scenario() -> None:
        await h.notifier.start()
        try:
            h.feed("backend", failed("bad_status", "HTTP 503"))
            h.engine.escalate("backend", "restart did not help: quarantined")
            h.notifier.post_update(1, "rollback to the previous tag started")
            await until(lambda: len(receiver.received) == 3)
        finally:
            await h.notifier.aclose()

    asyncio.run(scenario())
    started, escalated, action = (r.body["text"] for r in receiver.received)
    assert started.startswith("🚨 [SEV-2] Started")
    assert escalated.startswith("🔄 [SEV-1] Update: ")
    assert "Change: severity SEV-2 → SEV-1" in escalated
    assert "escalate: restart did not help: quarantined" in escalated  # actions taken
    assert "Change: rollback to the previous tag started" in action
