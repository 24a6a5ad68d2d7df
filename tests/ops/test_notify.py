"""sd_notify: the protocol against a bound NOTIFY_SOCKET, and the daemon's whole lifecycle."""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.ops.conftest import refused_probe, stall_daemon
from tests.support import Daemon, wait_for
from watchdog.runtime.sdnotify import SdNotifier, monotonic_usec, socket_address, watchdog_interval
from watchdog.runtime.systemd import summary_line


@dataclass(frozen=True)
class Message:
    at: float  # monotonic time received
    fields: dict[str, str]


class NotifySocket:
    """What systemd does: binds a unix datagram socket and records every message."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(socket_address(address))
        self.messages: list[Message] = []
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while True:
            try:
                data = self.sock.recv(4096)
            except OSError:
                return
            fields = dict(line.split("=", 1) for line in data.decode().splitlines())
            self.messages.append(Message(time.monotonic(), fields))

    def with_key(self, key: str, after: float = 0.0) -> list[Message]:
        return [m for m in list(self.messages) if key in m.fields and m.at >= after]

    def close(self) -> None:
        self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()


@pytest.fixture
def abstract_socket() -> Iterator[NotifySocket]:
    sock = NotifySocket(f"@runbook-watchdog-test-{uuid.uuid4().hex}")
    yield sock
    sock.close()


def test_an_abstract_address_gets_a_leading_nul() -> None:
    assert socket_address("@sd/notify") == b"\0sd/notify"
    assert socket_address("/run/systemd/notify") == "/run/systemd/notify"


def test_messages_reach_a_socket_bound_to_a_path(tmp_path: Path) -> None:
    sock = NotifySocket(str(tmp_path / "notify.sock"))
    notifier = SdNotifier(sock.address)
    try:
        assert notifier.ready("3 probes, no open incident")
        assert notifier.status("line one\nline two")
        wait_for(lambda: len(sock.messages) == 2, 5, "two datagrams")
    finally:
        notifier.close()
        sock.close()
    assert sock.messages[0].fields == {"READY": "1", "STATUS": "3 probes, no open incident"}
    assert sock.messages[1].fields == {"STATUS": "line one line two"}


def test_without_notify_socket_every_call_is_a_no_op() -> None:
    notifier = SdNotifier.from_env({})
    assert not notifier.enabled
    assert (notifier.ready(), notifier.watchdog(), notifier.stopping()) == (False, False, False)


def test_a_missing_socket_is_reported_not_raised(tmp_path: Path,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    notifier = SdNotifier(str(tmp_path / "nobody-listens.sock"))
    assert notifier.watchdog() is False
    assert notifier.watchdog() is False
    notifier.close()
    assert sum("cannot notify" in r.message for r in caplog.records) == 1


@pytest.mark.parametrize(("env", "expected"), [
    ({}, None),
    ({"WATCHDOG_USEC": "0"}, None),
    ({"WATCHDOG_USEC": "30000000"}, 15.0),
    ({"WATCHDOG_USEC": "2000000", "WATCHDOG_PID": str(os.getpid())}, 1.0),
    ({"WATCHDOG_USEC": "2000000", "WATCHDOG_PID": "1"}, None),  # meant for another process
    ({"WATCHDOG_USEC": "soon"}, None),
])
def test_the_ping_interval_is_half_of_watchdog_usec(env: dict[str, str],
                                                    expected: float | None) -> None:
    assert watchdog_interval(env) == expected


@pytest.mark.parametrize(("probes", "severities", "line"), [
    (12, [], "12 probes, no open incident"),
    (12, ["sev2"], "12 probes, 1 open incident (sev2)"),
    (1, ["sev2", "sev1", "sev2"], "1 probe, 3 open incidents (sev1, 2 sev2)"),
])
def test_the_status_line_summarises_probes_and_open_incidents(
        probes: int, severities: list[str], line: str) -> None:
    assert summary_line(probes, severities, ["sev1", "sev2", "sev3", "sev4"]) == line


def test_the_daemon_tells_systemd_its_whole_lifecycle(
        tmp_path: Path, abstract_socket: NotifySocket, daemons: list[Daemon]) -> None:
    trigger, stalled = tmp_path / "stall-now", tmp_path / "stalled"
    stall = {"type": "stall", "trigger": str(trigger), "record": str(stalled), "seconds": 2.0,
             "interval": "200ms", "timeout": "100ms"}
    daemon = stall_daemon(tmp_path / "daemon", {"backend-health": refused_probe(),
                                                "stall": stall})
    daemons.append(daemon)
    daemon.start(NOTIFY_SOCKET=abstract_socket.address, WATCHDOG_USEC="300000")
    sock = abstract_socket

    ready = wait_for(lambda: sock.with_key("READY"), 20, "READY=1")[0]
    assert ready.fields["STATUS"] == "2 probes, no open incident"
    wait_for(lambda: any(m.fields.get("STATUS") == "2 probes, 1 open incident (sev2)"
                         for m in sock.messages), 20, "STATUS with the open incident")
    wait_for(lambda: len(sock.with_key("WATCHDOG")) >= 5, 20, "watchdog pings")

    # Stall the event loop for real; the pings must stop for as long as it lasts.
    trigger.touch()
    record = wait_for(lambda: stalled.read_text(), 20, "the stall to end")
    began, ended = map(float, record.split())
    pings = [m.at for m in sock.with_key("WATCHDOG")]
    assert not [t for t in pings if began + 0.05 < t < ended], "pinged while stalled"
    wait_for(lambda: sock.with_key("WATCHDOG", after=ended), 10, "pings to resume")
    before = [t for t in pings if t <= began + 0.05]
    after = [m.at for m in sock.with_key("WATCHDOG", after=ended)]
    assert after[0] - before[-1] >= 1.9  # the gap systemd sees: > WatchdogSec, so a kill

    # SIGHUP: RELOADING=1 with the monotonic time of the reload, then READY=1 again.
    sent_at = monotonic_usec()
    daemon.hup()
    reloading = wait_for(lambda: sock.with_key("RELOADING"), 20, "RELOADING=1")[0]
    assert sent_at <= int(reloading.fields["MONOTONIC_USEC"]) <= monotonic_usec()
    ready_again = wait_for(lambda: sock.with_key("READY", after=reloading.at), 20,
                           "READY=1 after the reload")[0]
    assert ready_again.fields["STATUS"].startswith("2 probes")

    assert daemon.shutdown() == 0
    stopping = sock.with_key("STOPPING")
    assert [m.fields for m in stopping] == [{"STOPPING": "1"}]
    assert not sock.with_key("WATCHDOG", after=stopping[0].at + 0.05)
