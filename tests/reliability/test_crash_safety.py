"""kill -9 at each step of an incident transition and of a remediation, then a restart.

Each case runs tests/reliability/crash_child.py twice on the same state directory: a
first life SIGKILLed at the step, then a restart. Afterwards the state must be consistent
(one open incident per probe at most, tracks agree with incidents, no action left
executing), the firewall rule must have been added exactly once (no double action), and
the on-call receiver must have every message a clean run delivers (no lost notification).
A message being sent when the process dies may arrive twice: delivery is at least once.

The Docker actions (restart_container, rollback) are crash-tested by their own tests; this
file uses the block_ip action, which goes through the same ledger and policy.
"""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.peers.receiver import Receiver
from tests.reliability.crash_child import OFFENDER, STEPS
from tests.support import ROOT, free_port


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    peer = Receiver(free_port()).start()
    yield peer
    peer.stop()


def life(tmp: Path, receiver: Receiver, *args: str) -> int:
    argv = [sys.executable, "-m", "tests.reliability.crash_child", str(tmp),
            receiver.url("/hook"), *args]
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=60,
                          check=False)
    (tmp / f"life-{args[0]}.log").write_text(done.stdout + done.stderr)
    return done.returncode


def messages(receiver: Receiver) -> Counter[tuple[str, int]]:
    return Counter((r.body["kind"], r.body["incident_id"]) for r in receiver.received)


def db(tmp: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(tmp / "state" / "state.db")
    conn.row_factory = sqlite3.Row
    return conn


def assert_consistent(tmp: Path) -> None:
    with db(tmp) as conn:
        open_ = conn.execute("SELECT probe, COUNT(*) n FROM incidents WHERE status = 'open' "
                             "GROUP BY probe").fetchall()
        assert all(r["n"] == 1 for r in open_)
        tracks = {r["probe"]: json.loads(r["data"]) for r in conn.execute("SELECT * FROM tracks")}
        for probe, track in tracks.items():
            assert track["failing"] == (probe in {r["probe"] for r in open_}), probe
        busy = conn.execute("SELECT id, state FROM remediation_actions WHERE state IN "
                            "('executing', 'verifying')").fetchall()
        assert not busy, [dict(r) for r in busy]
        assert not conn.execute("SELECT 1 FROM outbox WHERE status = 'pending'").fetchall()


def blocks(tmp: Path) -> int:
    rules = tmp / "rules"
    return rules.read_text().split().count(OFFENDER) if rules.exists() else 0


@dataclass(frozen=True)
class Clean:
    messages: Counter[tuple[str, int]]
    blocks: int


@pytest.fixture(scope="module")
def clean_run(tmp_path_factory: pytest.TempPathFactory) -> Clean:
    """What a run without a crash delivers and does."""
    tmp = tmp_path_factory.mktemp("clean")
    peer = Receiver(free_port()).start()
    try:
        assert life(tmp, peer, "first", "none") == 0, (tmp / "life-first.log").read_text()
        assert life(tmp, peer, "restart") == 0, (tmp / "life-restart.log").read_text()
        return Clean(messages(peer), blocks(tmp))
    finally:
        peer.stop()


@pytest.mark.parametrize("step", STEPS)
def test_kill_9_then_restart_loses_nothing_and_acts_once(
        tmp_path: Path, receiver: Receiver, step: str,
        clean_run: Clean) -> None:
    code = life(tmp_path, receiver, "first", step)
    assert code == -signal.SIGKILL, (tmp_path / "life-first.log").read_text()
    assert life(tmp_path, receiver, "restart") == 0, (tmp_path / "life-restart.log").read_text()

    assert_consistent(tmp_path)
    # The crash adds no action: never more blocks than the run without a crash made.
    assert blocks(tmp_path) <= clean_run.blocks
    got = messages(receiver)
    lost = {key for key in clean_run.messages
            if key[0] in ("started", "resolved") and not got[key]}
    assert not lost, f"lost {lost}; got {dict(got)}"
    assert all(n <= 2 for n in got.values()), dict(got)


def test_a_clean_run_pages_blocks_and_resolves(clean_run: Clean) -> None:
    assert clean_run.messages[("started", 1)] == 1
    assert clean_run.messages[("resolved", 1)] == 1
    # One block: an escalation re-announces the failing result to notifications, but the
    # remediator does not take it as a new failure (it used to act a second time).
    assert clean_run.blocks == 1
