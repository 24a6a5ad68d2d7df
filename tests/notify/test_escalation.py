"""The runbook's escalation rule counts distinct reports, not repetition (issue 14 item 4).

The bundled config, its timings and its escalation rule (`{reports: 10, within: 5m}`);
observations come from the real probe types run against real peers, then are fed to the
real engine and notification stage cycle by cycle on a manual clock (the bundled
intervals: 15 s, 30 s, 1 m). The user-report case runs the real daemon and endpoint.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx

from probes.reconnect_rate import ReconnectRateProbe
from tests.notify.conftest import Watchdog
from tests.notify.test_notifier import Harness
from tests.notify.test_user_reports import TOKEN, _bodies, _channels, _reports
from tests.peers.receiver import Receiver
from tests.support import ROOT, Daemon, HttpPeer, run_probe, wait_for
from watchdog.common.clock import SystemClock
from watchdog.common.state import StateStore
from watchdog.pipeline.observation import Observation, failed
from watchdog.pipeline.probe import ProbeRegistry, Resources
from watchdog.pipeline.scheduler import gather_once
from watchdog.runtime.config import Config, load_config
from watchdog.runtime.daemon import build_jobs

BUNDLED = ROOT / "config" / "watchdog.yaml"


def _bundled(tmp_path: Path, **env: str) -> Config:
    return load_config(BUNDLED, environ={"RUNBOOK_WATCHDOG_STATE_DIR": str(tmp_path / "state"),
                                         **env})


def _run(config: Config, name: str) -> Observation:
    """One run of a probe of `config`, built as the daemon builds it."""

    async def go() -> Observation:
        resources = Resources(config.watchdog, StateStore(":memory:"), SystemClock())
        jobs = build_jobs(config, resources, ProbeRegistry.from_entry_points(), only=name)
        try:
            return (await gather_once(jobs, resources.clock, 1.0))[0]
        finally:
            await resources.aclose()

    return asyncio.run(go())


def _cycles(h: Harness, probe: str, observations: list[Observation], every: float
            ) -> list[str | None]:
    """Feed one observation per `every` seconds; the probe's severity after each."""

    async def go() -> list[str | None]:
        severities: list[str | None] = []
        for obs in observations:
            await h.clock.advance(every)
            h.feed(probe, obs)
            h.notifier.tick(h.clock.time())  # the daemon's housekeeping (held pages)
            severities.append(h.engine.tracks[probe].severity)
        return severities

    return asyncio.run(go())


def _kinds(h: Harness) -> list[str]:
    return [json.loads(r["message"])["kind"] for r in h.outbox()]


def test_a_steady_sev3_finding_on_a_15s_probe_never_escalates(
        tmp_path: Path, http_peer: HttpPeer) -> None:
    config = _bundled(tmp_path, BACKEND_HEALTH_URL=http_peer.url())
    http_peer.set_mode("slow", delay="2.5")  # over max_latency 2s, within the 5s timeout
    slow = _run(config, "backend-health")
    assert (slow.cause, slow.severity) == ("slow", "sev3")
    h = Harness(config)
    severities = _cycles(h, "backend-health", [slow] * 40, every=15.0)  # 10 minutes
    assert severities[0] is None and set(severities[1:]) == {"sev3"}  # fail_after 2
    assert _kinds(h) == ["started"]


def test_a_websocket_storm_opens_at_its_own_severity_however_many_lines_it_counts(
        tmp_path: Path) -> None:
    config = _bundled(tmp_path)
    log, store = tmp_path / "backend.log", str(tmp_path / "probe.db")
    log.write_text("")
    params = {"path": str(log), "threshold": 120, "within": 60}  # the bundled rule
    run_probe(ReconnectRateProbe, params, store_path=store)
    storms = []
    for _ in range(10):  # ten 30 s cycles of 600 reconnect lines each
        with log.open("a") as f:
            f.writelines(f"🔌 User {'dis' * (i % 2)}connected u{i}\n" for i in range(600))
        storms.append(run_probe(ReconnectRateProbe, params, store_path=store))
    assert {(o.cause, o.severity) for o in storms} == {("websocket_storm", "sev2")}
    h = Harness(config)
    assert _cycles(h, "websocket-storm", storms, every=30.0) == [None, *["sev2"] * 9]
    assert _kinds(h) == ["started"]


def _abusers(*clients: int) -> Observation:
    """An access-log finding naming these clients (the signals the real probe gives)."""
    return failed("abusive_client", f"{len(clients)} client(s) over the limit",
                  signals=frozenset(f"client 10.0.0.{c}" for c in clients))


def test_distinct_clients_count_once_each_and_only_within_five_minutes(tmp_path: Path) -> None:
    h = Harness(_bundled(tmp_path))  # abuse: sev3, every 1m, fail_after 1
    # 1 min: the probe and five clients, 6 reports; the same five for five more minutes.
    assert set(_cycles(h, "abuse", [_abusers(1, 2, 3, 4, 5)] * 6, every=60.0)) == {"sev3"}
    # 7 min: five new clients; the first six reports are older than 5 minutes: 5 count.
    assert _cycles(h, "abuse", [_abusers(*range(6, 11))], every=60.0) == ["sev3"]
    # 8 min: six more new clients: 11 within 5 minutes, one level up.
    assert _cycles(h, "abuse", [_abusers(*range(6, 17))], every=60.0) == ["sev2"]
    assert _kinds(h) == ["started", "updated"]


def test_eleven_user_reports_within_five_minutes_escalate_one_level(
        tmp_path: Path, receiver: Receiver, daemons: list[Daemon]) -> None:
    dog = Watchdog.from_config(tmp_path, {
        "watchdog": {"reports": _reports(tmp_path)},
        "notify": {"retry_after": "500ms", "channels": _channels(receiver)}}).start()
    daemons.append(dog)

    def report(i: int) -> dict[str, Any]:
        reply = httpx.post(dog.url("/api/reports"), json={"text": f"checkout fails ({i})"},
                           headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
        assert reply.status_code == 201, reply.text
        return dict(reply.json())

    assert [report(i)["severity"] for i in range(1, 11)] == ["sev3"] * 10
    assert report(11)["incident"] == 1
    assert dog.root_incidents()[0]["severity"] == "sev2"
    wait_for(lambda: len(_bodies(receiver, "/hook")) == 12, what="12 messages")
    hooks = _bodies(receiver, "/hook")
    assert [h["kind"] for h in hooks] == ["started", *["updated"] * 11]
    assert hooks[-1]["text"].startswith("🔄 [SEV-2] Update: ")
    assert "Change: severity SEV-3 → SEV-2" in hooks[-1]["text"]
    assert "11 distinct reports within 5m (more than 10" in hooks[-1]["text"]
