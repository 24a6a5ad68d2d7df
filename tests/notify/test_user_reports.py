"""User reports through the real CLI and the real endpoint of a running daemon (issue 14).

The receivers are real servers (HTTP receiver, aiosmtpd, Alertmanager); what is asserted
is what they were sent.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.notify.conftest import Alertmanager, Mailbox, Watchdog, probe
from tests.notify.test_notifier import Harness
from tests.peers.receiver import Receiver
from tests.support import Daemon, HttpPeer, wait_for
from watchdog.notification.reports import UserReport
from watchdog.pipeline.incidents import IncidentBook
from watchdog.pipeline.observation import failed
from watchdog.pipeline.probe import ProbeRegistry
from watchdog.runtime.config import load_config

TOKEN = "r3port-t0ken-5c2e9a71d04b"
MARKUP = "<b>checkout</b> fails & <!channel> <script>alert(1)</script>\nSubject: forged"
AS_TEXT = "<b>checkout</b> fails & <!channel> <script>alert(1)</script> Subject: forged"


def _reports(tmp_path: Path) -> dict[str, Any]:
    token_file = tmp_path / "reports.token"
    token_file.write_text(TOKEN + "\n")
    token_file.chmod(0o600)
    return {"token_file": str(token_file)}


def _channels(receiver: Receiver, smtp_port: int | None = None,
              am: Alertmanager | None = None) -> dict[str, Any]:
    channels: dict[str, Any] = {
        "hook": {"type": "webhook", "url": receiver.url("/hook")},
        "slack": {"type": "slack", "url": receiver.url("/slack")},
        "telegram": {"type": "telegram", "bot_token": "77:bot-token", "chat_id": "-1",
                     "api_url": receiver.url("")}}
    if smtp_port is not None:
        channels["mail"] = {"type": "email", "host": "127.0.0.1", "port": smtp_port,
                            "sender": "watchdog@example.test", "to": ["oncall@example.test"]}
    if am is not None:
        channels["am"] = {"type": "alertmanager", "url": am.url}
    return channels


def _bodies(receiver: Receiver, prefix: str) -> list[dict[str, Any]]:
    return [r.body for r in receiver.received if r.path.startswith(prefix)]


def _post(dog: Daemon, body: bytes | dict[str, Any], token: str | None = TOKEN
          ) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    content = body if isinstance(body, bytes) else None
    return httpx.post(dog.url("/api/reports"), headers=headers, content=content,
                      json=None if isinstance(body, bytes) else body, timeout=10)


def test_a_report_opens_a_user_reports_incident_whose_markup_every_channel_shows_as_text(
        tmp_path: Path, http_peer: HttpPeer, receiver: Receiver,
        mailbox: tuple[Mailbox, int], alertmanager: Alertmanager,
        daemons: list[Daemon]) -> None:
    box, smtp_port = mailbox
    dog = Watchdog.from_config(tmp_path, {
        "watchdog": {"reports": _reports(tmp_path)},
        "probes": {"backend": probe(http_peer.url(), interval="1s", timeout="500ms")},
        "notify": {"check_every": "200ms", "retry_after": "500ms",
                   "channels": _channels(receiver, smtp_port, alertmanager)}}).start()
    daemons.append(dog)
    wait_for(lambda: dog.probe("backend")["status"] == "ok", what="backend ok")

    filed = dog.cli("report", MARKUP)
    assert filed.returncode == 0, filed.stderr
    assert filed.stdout.strip() == "report opened incident #1 (user-reports, SEV3)"
    wait_for(lambda: len(box.messages) == 1 and len(receiver.received) == 3,
             what="the started message on every channel")
    slack = _bodies(receiver, "/slack")[0]["text"]
    assert slack.startswith("🚨 [SEV-3] Started: ")
    assert "&lt;b&gt;checkout&lt;/b&gt; fails &amp; &lt;!channel&gt; &lt;script&gt;" in slack
    assert "<" not in slack and ">" not in slack
    telegram = _bodies(receiver, "/bot")[0]
    assert "parse_mode" not in telegram and AS_TEXT in telegram["text"]  # plain text
    hook = _bodies(receiver, "/hook")[0]
    assert hook["data"]["summary"] == f'user report: "{AS_TEXT}"'
    mail = box.messages[0]
    body = mail.get_payload(decode=True)
    assert mail.get_content_type() == "text/plain" and isinstance(body, bytes)
    assert AS_TEXT in body.decode(mail.get_content_charset() or "utf-8")
    assert mail.get_all("Subject") == [mail["Subject"]]
    assert mail["Subject"].startswith("🚨 [SEV-3] Started: ") and "\n" not in mail["Subject"]
    alert = wait_for(lambda: alertmanager.alerts(), what="the alert")[0]
    assert AS_TEXT in alert["annotations"]["description"]  # JSON: a string, never markup
    page = httpx.get(dog.url("/"), timeout=5).text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>alert" not in page

    http_peer.set_mode("503")
    wait_for(lambda: len(dog.root_incidents()) == 2, what="the backend incident")
    backend_id = next(i["id"] for i in dog.root_incidents() if i["probe"] == "backend")
    about = dog.cli("report", "--probe", "backend", "users cannot log in")
    assert about.returncode == 0, about.stderr
    assert about.stdout.strip() == f"report attached to incident #{backend_id} (backend, SEV2)"
    unnamed = dog.cli("report", "pages load slowly")  # the one probe incident open
    assert unnamed.stdout.strip() == f"report attached to incident #{backend_id} (backend, SEV2)"
    wait_for(lambda: len(_bodies(receiver, "/hook")) == 4, what="two updates")
    updates = [h for h in _bodies(receiver, "/hook") if h["kind"] == "updated"]
    assert [(u["incident_id"], u["text"].split("\n")[1]) for u in updates] == [
        (backend_id, 'Change: user report (about backend): "users cannot log in"'),
        (backend_id, 'Change: user report: "pages load slowly"')]
    timeline = dog.cli("postmortem", str(backend_id)).stdout
    assert 'backend received user report (about backend): "users cannot log in"' in timeline
    assert TOKEN not in dog.output()


def test_the_endpoint_refuses_missing_and_wrong_tokens_and_oversized_reports(
        tmp_path: Path, receiver: Receiver, daemons: list[Daemon]) -> None:
    dog = Watchdog.from_config(tmp_path / "on", {
        "watchdog": {"reports": {**_reports(tmp_path), "max_length": 100}},
        "notify": {"channels": _channels(receiver)}}).start()
    off = Watchdog.from_config(tmp_path / "off", {}).start()
    daemons.extend([dog, off])

    missing = _post(dog, {"text": "checkout fails"}, token=None)
    assert missing.status_code == 401
    assert missing.headers["WWW-Authenticate"].startswith("Bearer")
    assert _post(dog, {"text": "checkout fails"}, token=TOKEN[:-1] + "x").status_code == 403
    assert _post(dog, b'{"text": "' + b"a" * 70_000 + b'"}').status_code == 413
    assert _post(dog, {"text": "a" * 101}).status_code == 413
    assert _post(dog, b"not json").status_code == 400
    assert _post(dog, {"text": "x", "probe": "nope"}).status_code == 400
    assert _post(off, {"text": "checkout fails"}).status_code == 404
    refused = off.cli("report", "checkout fails")
    assert refused.returncode == 3 and "watchdog.reports.token_file" in refused.stderr
    assert dog.root_incidents() == [] and receiver.received == []

    filed = _post(dog, {"text": "  checkout\tfails  "})
    assert filed.status_code == 201
    assert filed.json() == {"incident": 1, "probe": "user-reports", "severity": "sev3",
                            "opened": True, "report": 2}
    assert dog.root_incidents()[0]["summary"] == 'user report: "checkout fails"'


def test_the_user_reports_incident_resolves_once_no_report_came_for_resolve_after(
        tmp_path: Path, receiver: Receiver) -> None:
    path = tmp_path / "watchdog.yaml"
    path.write_text(yaml.safe_dump({
        "watchdog": {"state_dir": str(tmp_path / "state"),
                     "reports": {**_reports(tmp_path), "resolve_after": "1h"}},
        "notify": {"channels": {"hook": {"type": "webhook", "url": receiver.url()}}}}))
    h = Harness(load_config(path, probes=ProbeRegistry({})))
    h.notifier.file_report(UserReport("checkout fails"))
    asyncio.run(h.clock.advance(3000))
    h.notifier.file_report(UserReport("still failing"))
    asyncio.run(h.clock.advance(3000))
    h.notifier.tick(h.clock.time())
    assert [r["kind"] for r in h.outbox()] == ["started", "updated"]
    asyncio.run(h.clock.advance(600))
    h.notifier.tick(h.clock.time())
    assert [r["kind"] for r in h.outbox()] == ["started", "updated", "resolved"]
    resolved = json.loads(h.outbox()[-1]["message"])["text"]
    assert "user-reports is healthy again after 1h50m" in resolved
    assert IncidentBook(h.store).events(1)[-1]["summary"] == "no new user report for 1h"


def test_a_report_goes_to_the_root_cause_and_is_never_guessed_among_several_incidents(
        tmp_path: Path, receiver: Receiver) -> None:
    http = {"type": "http", "url": "http://127.0.0.1:1/", "fail_after": 1}
    path = tmp_path / "watchdog.yaml"
    path.write_text(yaml.safe_dump({
        "watchdog": {"state_dir": str(tmp_path / "state"), "reports": _reports(tmp_path)},
        "probes": {"mongodb": http, "backend": {**http, "depends_on": ["mongodb"]},
                   "smtp-relay": http},
        "notify": {"channels": {"hook": {"type": "webhook", "url": receiver.url()}}}}))
    h = Harness(load_config(path))
    h.feed("mongodb", failed("refused", "connection refused"))
    h.feed("backend", failed("bad_status", "HTTP 503"))
    about_symptom = h.notifier.file_report(UserReport("login fails", "backend"))
    assert (about_symptom.incident.probe, about_symptom.opened) == ("mongodb", False)
    unnamed = h.notifier.file_report(UserReport("slow pages"))  # only mongodb is a root
    assert unnamed.incident.probe == "mongodb"
    h.feed("smtp-relay", failed("refused", "connection refused"))
    ambiguous = h.notifier.file_report(UserReport("no mail"))  # two roots: not guessed
    assert (ambiguous.incident.probe, ambiguous.opened) == ("user-reports", True)
    assert h.notifier.file_report(UserReport("still no mail")).incident.id == \
        ambiguous.incident.id
