"""Faults of the watchdog's own ground: its state directory, database, audit file, clock."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import subprocess
import textwrap
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client import CollectorRegistry

from probes.http import HttpParams, HttpProbe
from tests.peers.receiver import Receiver
from tests.support import Daemon, HttpPeer, cli, free_port, until, wait_for
from watchdog.common.clock import Clock, SystemClock
from watchdog.common.state import StateStore
from watchdog.notification.channels.http import WebhookSender
from watchdog.notification.delivery import Dispatcher
from watchdog.notification.messages import Message
from watchdog.notification.models import WebhookChannel
from watchdog.notification.store import NotifyStore, Queued
from watchdog.pipeline.capacity import Capacity
from watchdog.pipeline.engine import PipelineEngine
from watchdog.pipeline.incidents import IncidentBook
from watchdog.pipeline.observation import Observation
from watchdog.pipeline.probe import ProbeContext, Resources
from watchdog.pipeline.scheduler import Job, ProbeScheduler, RunInfo
from watchdog.remediation.journal import Entry, Ledger
from watchdog.runtime.config import load_config
from watchdog.runtime.metrics import Metrics


def config(tmp: Path, peer: HttpPeer, state: Path, port: int | None = None) -> Path:
    path = tmp / "watchdog.yaml"
    path.write_text(textwrap.dedent(f"""\
        watchdog:
          listen: 127.0.0.1:{port or free_port()}
          state_dir: {state}
          spread: 0s
        probes:
          backend-health: {{type: http, url: "{peer.url()}", interval: 500ms, timeout: 300ms}}
        """))
    return path


@contextlib.contextmanager
def tmpfs(where: Path, *options: str) -> Iterator[Path]:
    """A small tmpfs of its own (a full or read-only disk, for real)."""
    where.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", ",".join(["size=64k", *options]), "tmpfs",
                    str(where)], check=True, timeout=10)
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False, timeout=10)


def test_corrupt_state_database_is_set_aside_and_a_fresh_one_started(
        tmp_path: Path, http_peer: HttpPeer) -> None:
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    garbage = b"this is not an SQLite database\x00" * 200
    (state / "state.db").write_bytes(garbage)
    port = free_port()
    path = config(tmp_path, http_peer, state, port)
    daemon = Daemon(path, port, tmp_path / "daemon.log")
    with contextlib.ExitStack() as stack:
        stack.callback(daemon.stop)
        daemon.start()
        wait_for(lambda: daemon.status()["probes"][0]["status"] == "ok",
                 what="the daemon running on a fresh database")
    [aside] = state.glob("state.db.corrupt-*")
    assert aside.read_bytes() == garbage, "the corrupt file is kept as it was"
    log = daemon.output()
    assert "state database was corrupt: moved aside to" in log and "Traceback" not in log
    audit = [json.loads(line) for line in (state / "audit.jsonl").read_text().splitlines()]
    assert [(a["decision"], a["target"]) for a in audit] == [("state_reset", "state")]
    store = StateStore(state / "state.db", readonly=True)
    assert [r["decision"] for r in store.query("SELECT * FROM remediation_journal")] == \
        ["state_reset"]


def test_locked_database_is_not_mistaken_for_a_corrupt_one(tmp_path: Path) -> None:
    import sqlite3

    from watchdog.common.errors import StateError

    state = tmp_path / "state"
    StateStore.in_state_dir(state).close()
    holder = sqlite3.connect(state / "state.db", isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(StateError, match="database is locked"):
            StateStore.in_state_dir(state)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert not list(state.glob("*.corrupt-*")), "good state is never thrown away"
    StateStore.in_state_dir(state).close()


def test_read_only_state_directory_is_a_clear_error(tmp_path: Path, http_peer: HttpPeer) -> None:
    with tmpfs(tmp_path / "ro", "ro") as ro:
        done = cli("run", "--config", str(config(tmp_path, http_peer, ro / "state")))
    assert done.returncode == 3
    assert "cannot create state in" in done.stderr and "Read-only file system" in done.stderr
    assert "Traceback" not in done.stderr


def test_read_only_existing_database_is_a_clear_error(tmp_path: Path, http_peer: HttpPeer) -> None:
    with tmpfs(tmp_path / "ro", "size=2m") as mount:
        StateStore.in_state_dir(mount / "state").close()
        subprocess.run(["mount", "-o", "remount,ro", str(mount)], check=True, timeout=10)
        done = cli("run", "--config", str(config(tmp_path, http_peer, mount / "state")))
    assert done.returncode == 3
    # SQLite words it "database or disk is full" (it cannot create the WAL index).
    assert "cannot open state database" in done.stderr and "state.db" in done.stderr
    assert "Traceback" not in done.stderr


def test_disk_full_under_the_audit_file_keeps_deciding(tmp_path: Path,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    store = StateStore.in_state_dir(tmp_path / "state")
    with tmpfs(tmp_path / "full") as full:
        with contextlib.suppress(OSError):
            (full / "filler").write_bytes(b"x" * 200_000)
        ledger = Ledger(store, full / "audit.jsonl")
        with caplog.at_level(logging.ERROR):
            for i in range(50):
                ledger.journal(Entry(at=float(i), remediation="restart-app", target="app",
                                     mode="auto", decision="skipped", reason=f"gate {i}"))
        audit_size = (full / "audit.jsonl").stat().st_size if (full / "audit.jsonl").exists() \
            else 0
    assert len(ledger.entries(limit=100)) == 50, "every decision is in the SQLite journal"
    assert audit_size == 0
    assert any("audit file" in r.getMessage() and "No space left" in r.getMessage()
               for r in caplog.records)
    store.close()


# -- the wall clock jumps --------------------------------------------------------------------
class JumpingClock(SystemClock):
    """The system clock, with a wall clock that an administrator (or NTP) moves."""

    def __init__(self) -> None:
        self.offset = 0.0

    def time(self) -> float:
        return super().time() + self.offset


# A run on a wall-clock schedule would be an hour or two off after the jumps; a loaded
# 2-core CI machine makes a run up to ~0.3 s late (0.15 s, with a 0.2 s interval, skipped
# runs at load 10), so the ceiling is 2 s and the interval 0.5 s.
LATE = 2.0


def test_wall_clock_jump_keeps_the_schedule_and_durations(tmp_path: Path,
                                                          http_peer: HttpPeer) -> None:
    path = config(tmp_path, http_peer, tmp_path / "state")
    cfg = load_config(path)
    clock = JumpingClock()
    runs: list[float] = []

    async def go() -> IncidentBook:
        store = StateStore.in_state_dir(tmp_path / "state")
        engine = PipelineEngine(cfg, IncidentBook(store), Metrics(CollectorRegistry()), clock.time)
        resources = Resources(cfg.watchdog, store, clock)
        params = cfg.probes["backend-health"].params
        assert isinstance(params, HttpParams)
        probe = HttpProbe(params,
                          ProbeContext("backend-health", 0.3, resources))
        skipped: list[tuple[int, str]] = []

        def on_result(job: Job, obs: Observation, info: RunInfo) -> None:
            runs.append(info.lateness)
            engine.on_result(job, obs, info)

        scheduler = ProbeScheduler(clock, on_result, spread=0,
                                   on_skip=lambda j, n, why: skipped.append((n, why)),
                                   capacity=Capacity(max_lateness=LATE))
        scheduler.start([Job("backend-health", probe, 0.5, 0.3)])
        await until(lambda: len(runs) >= 3)
        http_peer.set_mode("503")
        await until(lambda: engine.book.open_incidents())
        clock.offset = -3600.0  # the clock is set back an hour
        http_peer.set_mode("ok")
        await until(lambda: not engine.book.open_incidents())
        clock.offset = +7200.0  # and forward two
        count = len(runs)
        await until(lambda: len(runs) >= count + 3)
        await scheduler.stop(1.0)
        await probe.aclose()
        await resources.aclose()
        assert not skipped, skipped
        return engine.book

    book = asyncio.run(go())
    assert max(runs) < LATE, "runs stayed on their monotonic schedule"
    [incident] = book.all_incidents()
    assert incident.duration is not None and incident.duration >= 0, incident.duration


async def deliver(store: NotifyStore, clock: Clock, retry_after: float,
                  receiver: Receiver) -> None:
    """Run the outbox's dispatcher, one webhook channel `oncall` to `receiver`, until the
    receiver has something."""
    channel = WebhookChannel(type="webhook", url=receiver.url("/hook"))
    async with httpx.AsyncClient() as http:
        dispatcher = Dispatcher(store, clock, retry_after, lambda name, cfg: None)
        dispatcher.start({"oncall": (channel, WebhookSender(channel, http))})
        try:
            await until(lambda: receiver.received)
        finally:
            await dispatcher.stop()


def test_wall_clock_set_back_does_not_hold_a_retry(tmp_path: Path) -> None:
    """A message postponed 30 s before the clock went back an hour is retried at once."""
    receiver = Receiver(free_port()).start()
    clock = JumpingClock()

    async def go() -> None:
        store = NotifyStore(StateStore(":memory:"))
        message = Message("started", 1, "web", "sev2", True, "web is down", {})
        item = store.enqueue("oncall", message, clock.time())
        store.postpone(item, clock.time() + 30, "receiver was down")
        clock.offset = -3600.0
        await deliver(store, clock, 1.0, receiver)

    try:
        asyncio.run(go())
    finally:
        receiver.stop()
    assert [r.body["kind"] for r in receiver.received] == ["started"]


def test_a_database_error_does_not_end_a_channels_delivery(monkeypatch: pytest.MonkeyPatch) -> None:
    """The outbox read fails once (the database locked by another process): the channel's
    delivery task carries on and sends the message when the database answers again."""
    from watchdog.common.errors import StateError

    receiver = Receiver(free_port()).start()
    clock = SystemClock()

    async def go() -> None:
        store = NotifyStore(StateStore(":memory:"))
        store.enqueue("oncall", Message("started", 1, "web", "sev2", True, "down", {}),
                      clock.time())
        real_head, failures = store.head, [StateError("state database is locked")]

        def head(channel: str) -> Queued | None:
            if failures:
                raise failures.pop()
            return real_head(channel)

        monkeypatch.setattr(store, "head", head)
        await deliver(store, clock, 0.05, receiver)

    try:
        asyncio.run(go())
    finally:
        receiver.stop()
    assert [r.body["kind"] for r in receiver.received] == ["started"]
