"""Real peers for the notification tests: HTTP receivers, aiosmtpd, Alertmanager, the daemon."""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Callable, Iterator, Mapping, Sequence
from email import message_from_bytes, policy
from email.message import Message
from pathlib import Path
from typing import Any, Self

import httpx
import pytest
import yaml
from aiosmtpd.controller import Controller

from tests.peers.receiver import Receiver
from tests.support import EXE, Daemon, HttpPeer, Process, free_port, wait_for


class Mailbox:
    """aiosmtpd handler keeping every message it accepts."""

    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 OK"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    peer = Receiver(free_port()).start()
    yield peer
    peer.stop()


@pytest.fixture
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    box = Mailbox()
    port = free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    yield box, port
    controller.stop()


class Alertmanager:
    def __init__(self, tmp: Path) -> None:
        self.port = free_port()
        (tmp / "am.yml").write_text("route: {receiver: blackhole, group_wait: 0s}\n"
                                    "receivers: [{name: blackhole}]\n")
        self.process = Process([_alertmanager(), f"--config.file={tmp / 'am.yml'}",
                                f"--storage.path={tmp / 'am-data'}",
                                f"--web.listen-address=127.0.0.1:{self.port}",
                                "--cluster.listen-address="], tmp / "alertmanager.log")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def alerts(self) -> list[dict[str, Any]]:
        return list(httpx.get(f"{self.url}/api/v2/alerts").raise_for_status().json())


def _alertmanager() -> str:
    found = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
    assert found, "prometheus-alertmanager is missing: run scripts/install-test-deps.sh"
    return found


@pytest.fixture
def alertmanager(tmp_path: Path) -> Iterator[Alertmanager]:
    am = Alertmanager(tmp_path)
    am.process.start()
    wait_for(lambda: httpx.get(f"{am.url}/-/ready").status_code == 200, what="alertmanager")
    yield am
    am.process.stop()


@pytest.fixture
def peers(tmp_path: Path) -> Iterator[dict[str, HttpPeer]]:
    made = {name: HttpPeer(tmp_path).start() for name in ("mongo", "backend")}
    yield made
    for peer in made.values():
        if peer.process is not None:
            peer.process.stop()


RELOADED = "runbook_watchdog_config_last_reload_success_timestamp_seconds"


class Watchdog(Daemon):
    """The daemon as an operator runs it, its outbox and incidents at hand; its probes
    start 100 ms apart."""

    @classmethod
    def from_config(cls, directory: Path, document: Mapping[str, Any], *,
                    args: Sequence[str] = (),
                    command: Sequence[str] = (EXE, "run", "--config")) -> Self:
        settings = {"spread": "100ms", **document.get("watchdog", {})}
        return super().from_config(directory, {**document, "watchdog": settings}, args=args,
                                   command=command)

    @property
    def state(self) -> Path:
        return self.dir / "state"

    def rows(self, sql: str, *args: object) -> list[dict[str, Any]]:
        """A query of its state database, read-only (the operator's view)."""
        db = sqlite3.connect(f"file:{self.state / 'state.db'}?mode=ro", uri=True)
        db.row_factory = sqlite3.Row
        try:
            return [dict(r) for r in db.execute(sql, args)]
        finally:
            db.close()

    def outbox(self) -> list[dict[str, Any]]:
        return self.rows("SELECT * FROM outbox ORDER BY id")

    def silence(self, silence_id: int) -> dict[str, Any]:
        [row] = self.rows("SELECT * FROM silences WHERE id = ?", silence_id)
        return row

    def rewrite(self, change: Callable[[dict[str, Any]], object]) -> None:
        """Edit its config file with `change`, SIGHUP it, return once the reload took."""
        before = self.metric(RELOADED) or 0.0
        document = yaml.safe_load(self.config.read_text())
        change(document)
        self.config.write_text(yaml.safe_dump(document, allow_unicode=True))
        self.hup()
        wait_for(lambda: (self.metric(RELOADED) or 0.0) > before, what="the reload")

    def root_incidents(self) -> list[dict[str, Any]]:
        return list(self.status()["incidents"])


def probe(url: str, **keys: Any) -> dict[str, Any]:
    base = {"type": "http", "url": url, "interval": "300ms", "timeout": "200ms",
            "fail_after": 1, "recover_after": 1}
    return base | keys


def receiver_channels(receiver: Receiver, smtp_port: int, token: str) -> dict[str, object]:
    """A channel of each kind a Receiver or aiosmtpd takes: webhook, Slack, Telegram, email."""
    return {
        "hook": {"type": "webhook", "url": receiver.url("/hook")},
        "slack": {"type": "slack", "url": receiver.url("/slack")},
        "telegram": {"type": "telegram", "bot_token": token, "chat_id": "-100",
                     "api_url": receiver.url("")},
        "mail": {"type": "email", "host": "127.0.0.1", "port": smtp_port,
                 "sender": "watchdog@example.test", "to": ["oncall@example.test"]},
    }
