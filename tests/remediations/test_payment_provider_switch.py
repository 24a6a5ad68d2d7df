"""payment_provider_switch against a real env file and a real container (Podman's API)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from remediations.payment_provider_switch import PaymentProviderSwitch
from tests.peers.podman import PodmanPeer
from tests.remediation_world import World, world_settings
from tests.remediations.conftest import act
from watchdog.pipeline.observation import Observation, Status

ENV = """\
# the backend's environment (runbook §3.8)
MONGO_URI=mongodb://app:mongo-secret-77@mongodb:27017/marketplace
REQUEST_NETWORK_ENABLED=true   # RN live since October
export PAYMENT_ENABLED_PROVIDERS="request-network,shkeeper"

SHKEEPER_API_KEY=shk-secret-88
"""
CONFIG = """\
probes:
  request-network: {{type: http, url: "http://127.0.0.1:1/", fail_after: 1, severity: sev1}}
remediations:
  payments-to-shkeeper:
    type: payment_provider_switch
    mode: {mode}
    on: [request-network]
    after: 1
    env_file: {env}
    container: {container}
    verify: {{within: 20s}}
    start_period: 0s
"""
RN_DOWN = Observation(Status.FAILED, "bad_status", "RN intents failing: HTTP 502")


@pytest.fixture
def engine(podman: PodmanPeer) -> PodmanPeer:
    """The session's shared Podman engine."""
    return podman


@pytest.fixture
def backend(engine: PodmanPeer) -> Iterator[str]:
    engine.run("backend", ["sleep", "600"])
    yield engine.attrs("backend")["State"]["StartedAt"]
    engine.remove("backend")


def run(tmp: Path, engine: PodmanPeer, mode: str = "auto") -> World:
    env = tmp / "backend.env"
    if not env.exists():
        env.write_text(ENV)
    text = world_settings(tmp, engine.url) + CONFIG.format(
        mode=mode, env=env, container=engine.name("backend"))
    w = World(tmp, text, {"payment_provider_switch": PaymentProviderSwitch})
    return act(w, RN_DOWN, "request-network")


def test_routing_switches_to_shkeeper_the_backend_restarts_and_it_is_verified(
        tmp_path: Path, engine: PodmanPeer, backend: str) -> None:
    w = run(tmp_path, engine)
    assert w.decisions() == ["acted", "succeeded"], w.ledger.entries()
    text = (tmp_path / "backend.env").read_text()
    assert text == ENV.replace("REQUEST_NETWORK_ENABLED=true ", "REQUEST_NETWORK_ENABLED=false ") \
        .replace('PAYMENT_ENABLED_PROVIDERS="request-network,shkeeper"',
                 'PAYMENT_ENABLED_PROVIDERS="shkeeper"') + "PAYMENT_ROLLBACK_PROVIDER=shkeeper\n"
    [backup] = tmp_path.glob("backend.env.bak-*")
    assert backup.read_text() == ENV
    assert engine.attrs("backend")["State"]["StartedAt"] > backend
    journal = (tmp_path / "audit.jsonl").read_text() + str(w.ledger.entries())
    assert "mongo-secret-77" not in journal and "shk-secret-88" not in journal


def test_dry_run_touches_neither_file_nor_container(tmp_path: Path, engine: PodmanPeer,
                                                    backend: str) -> None:
    w = run(tmp_path, engine, mode="dry-run")
    assert w.decisions() == ["would_act"]
    assert "would set REQUEST_NETWORK_ENABLED=false" in w.ledger.entries()[0]["reason"]
    assert (tmp_path / "backend.env").read_text() == ENV
    assert engine.attrs("backend")["State"]["StartedAt"] == backend


def test_a_missing_backend_fails_the_action_after_the_file_was_saved(
        tmp_path: Path, engine: PodmanPeer) -> None:
    w = run(tmp_path, engine)
    assert w.decisions() == ["acted", "failed"]
    assert "restart of" in w.ledger.entries()[1]["reason"]
    assert list(tmp_path.glob("backend.env.bak-*"))  # the previous file is kept for undo


def test_already_switched_is_refused(tmp_path: Path, engine: PodmanPeer) -> None:
    (tmp_path / "backend.env").write_text(
        "REQUEST_NETWORK_ENABLED=false\nPAYMENT_ENABLED_PROVIDERS=shkeeper\n"
        "PAYMENT_ROLLBACK_PROVIDER=shkeeper\n")
    w = run(tmp_path, engine)
    assert w.decisions() == ["refused"]
