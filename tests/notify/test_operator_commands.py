"""`notify-test` and `resolve` through the installed command, against real receivers
(HTTP receivers, aiosmtpd) and the running daemon (issue 18 item 8)."""

from __future__ import annotations

from pathlib import Path

from tests.notify.conftest import Mailbox, Watchdog, probe, receiver_channels
from tests.peers.receiver import Receiver
from tests.support import Daemon, cli, free_port, wait_for

TOKEN = "bot-token-3f9c2a"  # a test secret: asserted absent from every output


def _channels(receiver: Receiver, smtp_port: int, dead_port: int) -> dict[str, object]:
    return {**receiver_channels(receiver, smtp_port, TOKEN),
            "dead": {"type": "webhook", "url": f"http://127.0.0.1:{dead_port}/hook",
                     "timeout": "2s", "attempts": 2}}


def test_notify_test_sends_through_each_channel_and_reports_each(
        tmp_path: Path, receiver: Receiver, mailbox: tuple[Mailbox, int]) -> None:
    box, smtp_port = mailbox
    dog = Daemon.from_config(tmp_path, {"notify": {"channels": _channels(
        receiver, smtp_port, free_port())}})
    result = dog.cli("notify-test")
    assert result.returncode == 1, result.stderr  # one channel failed
    lines = result.stdout.splitlines()  # in the config's order
    assert lines[0].startswith("dead (webhook): FAILED: ConnectError: ")
    assert lines[1:] == ["hook (webhook): delivered", "mail (email): delivered",
                         "slack (slack): delivered", "telegram (telegram): delivered"]
    assert sorted(r.path for r in receiver.received) == [f"/bot{TOKEN}/sendMessage", "/hook",
                                                         "/slack"]
    assert all("runbook-watchdog test message" in text for text in receiver.texts())
    [mail] = box.messages
    assert str(mail["Subject"]).startswith("runbook-watchdog test message on ")
    assert TOKEN not in result.stdout + result.stderr
    # One channel: only it is sent to; exit 0.
    only = dog.cli("notify-test", "hook")
    assert (only.returncode, only.stdout) == (0, "hook (webhook): delivered\n")
    assert len(receiver.received) == 4
    unknown = dog.cli("notify-test", "pager")
    assert (unknown.returncode, unknown.stderr) == (
        3, f"runbook-watchdog: no channel named 'pager' in {dog.config} (known: dead, hook, "
           "mail, slack, telegram)\n")


def test_notify_test_without_channels_says_there_is_nothing_to_test(tmp_path: Path) -> None:
    dog = Daemon.from_config(tmp_path, {})
    result = dog.cli("notify-test")
    assert (result.returncode, result.stderr) == (
        1, f"runbook-watchdog: no notification channels in {dog.config} (notify.channels): "
           "nothing to test\n")


def test_resolve_closes_an_incident_journaled_and_the_daemon_says_resolved(
        tmp_path: Path, receiver: Receiver, daemons: list[Daemon]) -> None:
    """A probe that keeps failing (the daemon cannot see it end): the operator resolves
    incident 1; the daemon sends its resolved message, and as the probe still fails it
    opens a new incident after fail_after."""
    dead = f"http://127.0.0.1:{free_port()}/health"
    dog = Watchdog.from_config(tmp_path, {
        "probes": {"backend": probe(dead, severity="sev2", escalate=False)},
        "notify": {"check_every": "200ms", "retry_after": "200ms",
                   "channels": {"hook": {"type": "webhook", "url": receiver.url()}}}}).start()
    daemons.append(dog)
    wait_for(lambda: [r.body["kind"] for r in receiver.received] == ["started"],
             what="the started message")
    result = dog.cli("resolve", "1", "--reason", "fixed by hand: the health route moved")
    assert result.returncode == 0, result.stderr
    assert result.stdout == ("incident #1 (backend) resolved: fixed by hand: the health route "
                             "moved; the daemon sends the resolved message within 200ms (or "
                             "when it next starts)\n")
    wait_for(lambda: [r.body["kind"] for r in receiver.received][:2] == ["started", "resolved"],
             what="the resolved message")
    resolved = receiver.received[1].body
    assert (resolved["incident_id"], resolved["firing"]) == (1, False)
    incidents = dog.cli("incidents", "--all").stdout
    assert "#1 SEV2 backend " in incidents and "resolved after" in incidents.split("#1 ")[1]
    timeline = dog.cli("postmortem", "1").stdout
    assert "backend resolved connect_error:" not in timeline
    assert "resolved by an operator: fixed by hand: the health route moved" in timeline
    # Still failing: a new incident, announced as such.
    wait_for(lambda: [r.body["incident_id"] for r in receiver.received
                      if r.body["kind"] == "started"] == [1, 2], what="incident 2")
    again = dog.cli("resolve", "1", "--reason", "twice")
    assert (again.returncode, again.stderr) == (
        1, "runbook-watchdog: incident #1 is already resolved\n")
    missing = dog.cli("resolve", "99", "--reason", "no such")
    assert (missing.returncode, missing.stderr) == (1, "runbook-watchdog: no incident #99\n")
    assert cli("resolve", "1", "--config", str(dog.config)).returncode == 3  # --reason missing
