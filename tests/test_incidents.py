"""Incidents in the SQLite state store: transitions, timeline, restart, file modes."""

from __future__ import annotations

import sqlite3
import stat
from pathlib import Path

import pytest

from watchdog.common.state import StateStore
from watchdog.pipeline.classifier import HysteresisPolicy, Track, classify
from watchdog.pipeline.incidents import USER_REPORTS, IncidentBook
from watchdog.pipeline.observation import Observation, Status
from watchdog.runtime.config_models import SeverityConfig

POLICY = HysteresisPolicy("sev1", fail_after=1, recover_after=1, levels=SeverityConfig())
DOWN = Observation(Status.FAILED, "refused", "GET http://x/: refused")
SLOW = Observation(Status.FAILED, "timeout", "GET http://x/: timeout")
UP = Observation(Status.OK, "ok", "fine")


def feed(book: IncidentBook, probe: str, observations: list[Observation], start: float,
         policy: HysteresisPolicy = POLICY) -> None:
    track = book.tracks().get(probe, Track())
    for i, obs in enumerate(observations):
        verdict = classify(policy, track, obs, start + i)
        book.record(probe, verdict, obs, runbook="3.1", hint="h", now=start + i)
        track = verdict.track


def test_an_incident_opens_updates_and_resolves_with_its_timeline(tmp_path: Path) -> None:
    book = IncidentBook(StateStore.in_state_dir(tmp_path / "state"))
    feed(book, "backend", [DOWN, DOWN, SLOW, UP], start=100.0)
    [incident] = book.all_incidents()
    assert (incident.status, incident.severity, incident.cause) == ("resolved", "sev1", "timeout")
    assert (incident.opened_at, incident.resolved_at, incident.duration) == (100.0, 103.0, 3.0)
    assert incident.runbook == "3.1"
    kinds = [(e["kind"], e["cause"]) for e in book.events(incident.id)]
    assert kinds == [("open", "refused"), ("update", "timeout"), ("resolve", "ok")]


def test_an_incident_open_before_a_restart_is_the_same_incident_after(tmp_path: Path) -> None:
    state = tmp_path / "state"
    store = StateStore.in_state_dir(state)
    feed(IncidentBook(store), "backend", [DOWN], start=100.0)
    store.close()

    book = IncidentBook(StateStore.in_state_dir(state))
    [before] = book.open_incidents()
    feed(book, "backend", [DOWN, UP], start=200.0)
    [after] = book.all_incidents()
    assert after.id == before.id
    assert (after.status, after.opened_at, after.resolved_at) == ("resolved", 100.0, 201.0)


def test_incidents_of_removed_probes_are_resolved(tmp_path: Path) -> None:
    book = IncidentBook(StateStore.in_state_dir(tmp_path / "state"))
    feed(book, "gone", [DOWN], start=1.0)
    feed(book, "kept", [DOWN], start=1.0)
    resolved = book.resolve_orphans(["kept"], 50.0, "probe removed from the config")
    assert [i.probe for i in resolved] == ["gone"]
    assert [i.probe for i in book.open_incidents()] == ["kept"]
    assert "gone" not in book.tracks()


def test_state_files_are_private(tmp_path: Path) -> None:
    StateStore.in_state_dir(tmp_path / "state").close()
    assert stat.S_IMODE((tmp_path / "state").stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "state" / "state.db").stat().st_mode) == 0o600


def test_plugin_key_value_data_round_trips(tmp_path: Path) -> None:
    store = StateStore.in_state_dir(tmp_path / "state")
    store.put("deploy", "nickapp-backend", {"image": "sha256:abc", "seen": [1, 2]}, now=5.0)
    assert store.get("deploy", "nickapp-backend") == {"image": "sha256:abc", "seen": [1, 2]}
    assert store.get("deploy", "other", default="none") == "none"


def test_the_user_reports_incident_is_no_orphan_of_a_reload(tmp_path: Path) -> None:
    book = IncidentBook(StateStore(tmp_path / "state.db"))
    reports = book.open_unobserved(USER_REPORTS, "sev3", "user_report", 'user report: "x"', 5.0)
    feed(book, "gone", [Observation(Status.FAILED, "refused", "down")], 6.0)
    assert [i.probe for i in book.resolve_orphans([], 7.0, "probe removed")] == ["gone"]
    assert [i.id for i in book.open_incidents()] == [reports.id]


TWICE = HysteresisPolicy("sev1", fail_after=2, recover_after=2,
                         levels=SeverityConfig())


def commits_by(state: Path, book: IncidentBook, probe: str, runs: list[Observation]) -> int:
    """Feed `runs` and count the commits another connection sees (SQLite's data_version
    moves by one for each batch of the daemon's commits it sees, so read it after each)."""
    seen = sqlite3.connect(state / "state.db")
    version = seen.execute("PRAGMA data_version").fetchone()[0]
    commits, track = 0, book.tracks().get(probe, Track())
    for i, obs in enumerate(runs):
        verdict = classify(TWICE, track, obs, 1000.0 + i)
        book.record(probe, verdict, obs, runbook=None, hint=None, now=1000.0 + i)
        track = verdict.track
        now = seen.execute("PRAGMA data_version").fetchone()[0]
        commits, version = commits + (now != version), now
    seen.close()
    return commits


def test_ok_runs_of_a_healthy_probe_write_nothing_and_a_change_is_written(tmp_path: Path) -> None:
    state = tmp_path / "state"
    book = IncidentBook(StateStore.in_state_dir(state))
    assert commits_by(state, book, "p", [UP] * 5) == 0
    assert commits_by(state, book, "p", [DOWN]) == 1  # one failure: counts towards fail_after
    assert commits_by(state, book, "p", [UP]) == 1  # the count goes back to 0
    assert commits_by(state, book, "p", [UP] * 5) == 0


@pytest.mark.parametrize(("before", "after", "opens"), [
    ([DOWN], [DOWN], True),  # the failure before the restart counts after it
    ([DOWN, UP], [DOWN], False),  # so does the OK run that reset the count
    ([UP, UP, DOWN, UP, UP, UP], [DOWN], False),
])
def test_a_restart_continues_from_the_last_run_whatever_was_skipped(
        tmp_path: Path, before: list[Observation], after: list[Observation], opens: bool) -> None:
    state = tmp_path / "state"
    store = StateStore.in_state_dir(state)
    feed(IncidentBook(store), "p", before, start=100.0, policy=TWICE)
    store.close()
    book = IncidentBook(StateStore.in_state_dir(state))
    feed(book, "p", after, start=200.0, policy=TWICE)
    assert bool(book.open_incidents()) is opens


def test_a_recovery_in_progress_survives_a_restart(tmp_path: Path) -> None:
    state = tmp_path / "state"
    store = StateStore.in_state_dir(state)
    feed(IncidentBook(store), "p", [DOWN, DOWN, UP], start=100.0, policy=TWICE)
    store.close()
    book = IncidentBook(StateStore.in_state_dir(state))
    [incident] = book.open_incidents()
    feed(book, "p", [UP], start=200.0, policy=TWICE)  # the second OK run of recover_after: 2
    resolved = book.get(incident.id)
    assert resolved is not None and resolved.status == "resolved"
