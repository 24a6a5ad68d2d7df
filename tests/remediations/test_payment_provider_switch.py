"""payment_provider_switch against a real env file and a real compose service: Debian's
docker-compose against Podman's Docker API, the container's environment read back through
the engine, the backend's health through the real http probe."""

from __future__ import annotations

import asyncio
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from probes.http import HttpProbe
from remediations.payment_provider_switch import SAFE, PaymentProviderSwitch
from tests.remediation_world import World, world_settings
from tests.remediations.conftest import App, act, real_time_clock
from tests.support import run_probe
from watchdog.pipeline.observation import Observation, Status

ENV = """\
# the backend's environment (runbook §3.8)
MONGO_URI=mongodb://app:mongo-secret-77@mongodb:27017/marketplace
REQUEST_NETWORK_ENABLED=true   # RN live since October
export PAYMENT_ENABLED_PROVIDERS="request-network,shkeeper"

SHKEEPER_API_KEY=shk-secret-88
"""
SWITCHED = ENV.replace("REQUEST_NETWORK_ENABLED=true ", "REQUEST_NETWORK_ENABLED=false ") \
    .replace('"request-network,shkeeper"', '"shkeeper"') + "PAYMENT_ROLLBACK_PROVIDER=shkeeper\n"
CONFIG = """\
probes:
  request-network: {{type: http, url: "http://127.0.0.1:1/", fail_after: 1, severity: sev1}}
  backend-health: {{type: http, url: "{health}"}}
remediations:
  payments-to-shkeeper:
    type: payment_provider_switch
    mode: {mode}
    on: [request-network]
    after: 1
    env_file: {env}
    container: {container}
    compose_file: {compose}
    service: backend
    compose_command: [docker-compose]
    verify: {{probe: backend-health, within: {within}, passes: 2}}
    start_period: 0s
"""
RN_DOWN = Observation(Status.FAILED, "bad_status", "RN intents failing: HTTP 502")


class Backend:
    """The backend as compose runs it: the app image, its env file, `backend` service."""

    def __init__(self, tmp: Path, app: App, reads_env_file: bool = True) -> None:
        self.app, self.dir = app, tmp / "backend"
        self.dir.mkdir()
        self.env, self.compose_file = self.dir / ".env", self.dir / "docker-compose.yml"
        self.env.write_text(ENV)
        env_file = "    env_file: [.env]\n" if reads_env_file else ""
        self.compose_file.write_text(textwrap.dedent(f"""\
            version: "3"
            services:
              backend:
                image: {app.repo}:latest
                container_name: {app.name}
                network_mode: host
                command: ["sh", "/app/start.sh"]
                environment:
                  PORT: "{app.port}"
            """) + env_file)

    def up(self) -> None:
        done = self.app.compose(self.compose_file, "up", "-d", "backend")
        assert done.returncode == 0, done.stderr

    def environment(self) -> dict[str, str]:
        env = self.app.podman.client().api.inspect_container(self.app.name)["Config"]["Env"]
        return dict(item.partition("=")[::2] for item in env)

    def container_id(self) -> str:
        return str(self.app.podman.client().api.inspect_container(self.app.name)["Id"])


@pytest.fixture
def backend(tmp_path: Path, app: App) -> Iterator[Backend]:
    made = Backend(tmp_path, app)
    made.up()
    try:
        yield made
    finally:
        app.compose(made.compose_file, "down")


def switch(tmp: Path, backend: Backend, mode: str = "auto", within: str = "60s") -> World:
    """The request-network finding, then the backend's real health check on every step of
    the verification, until the decision is over."""
    text = world_settings(tmp, backend.app.podman.url) + CONFIG.format(
        mode=mode, env=backend.env, container=backend.app.name, within=within,
        compose=backend.compose_file, health=backend.app.health_url)
    w = World(tmp, text, {"payment_provider_switch": PaymentProviderSwitch},
              clock=real_time_clock())

    async def go() -> World:
        await w.observe("request-network", RN_DOWN, then=0)
        while w.remediator.tasks:
            health = await asyncio.to_thread(run_probe, HttpProbe,
                                             {"url": backend.app.health_url})
            await w.observe("backend-health", health, then=0)
            # The manual clock moves only while the decision waits on it: a Docker call or
            # compose runs in real time, however fast the health checks come back.
            tasks = set(w.remediator.tasks)
            _, pending = await asyncio.wait(tasks, timeout=0.05) if tasks else (set(), set())
            if pending and w.clock.sleepers:
                await w.clock.advance(1.0)
        await w.remediator.aclose()
        return w

    return asyncio.run(go())


def test_the_switch_recreates_the_backend_whose_environment_then_routes_to_shkeeper(
        tmp_path: Path, backend: Backend) -> None:
    before = backend.container_id()
    assert backend.environment()["REQUEST_NETWORK_ENABLED"] == "true"
    w = switch(tmp_path, backend)
    assert w.decisions() == ["acted", "succeeded"], w.ledger.entries()
    assert backend.env.read_text() == SWITCHED
    [saved] = backend.dir.glob(".env.bak-*")
    assert saved.read_text() == ENV
    # What the running process sees, read through the engine: a restart would keep "true".
    assert backend.container_id() != before
    env = backend.environment()
    assert {k: env.get(k) for k in SAFE} == SAFE
    assert backend.app.healthy()
    journal = (tmp_path / "audit.jsonl").read_text() + str(w.ledger.entries())
    assert "mongo-secret-77" not in journal and "shk-secret-88" not in journal


def test_a_service_that_does_not_read_the_env_file_is_not_verified(
        tmp_path: Path, app: App) -> None:
    backend = Backend(tmp_path, app, reads_env_file=False)
    backend.up()
    try:
        w = switch(tmp_path, backend, within="5s")
        assert w.decisions() == ["acted", "verify_failed"], w.ledger.entries()
        assert "REQUEST_NETWORK_ENABLED" not in backend.environment()
    finally:
        app.compose(backend.compose_file, "down")


def test_dry_run_touches_neither_file_nor_container(tmp_path: Path, backend: Backend) -> None:
    before = backend.container_id()
    w = switch(tmp_path, backend, mode="dry-run")
    assert w.decisions() == ["would_act"]
    assert "would set REQUEST_NETWORK_ENABLED=false" in w.ledger.entries()[0]["reason"]
    assert backend.env.read_text() == ENV
    assert backend.container_id() == before


def test_a_failing_compose_fails_the_action_after_the_file_was_saved(
        tmp_path: Path, backend: Backend) -> None:
    backend.compose_file.write_text(backend.compose_file.read_text().replace(
        "  backend:", "  api:"))  # the configured service is gone from the file
    w = switch(tmp_path, backend)
    assert w.decisions() == ["acted", "failed"]
    assert "docker-compose exited 1" in w.ledger.entries()[1]["reason"]
    assert list(backend.dir.glob(".env.bak-*"))  # the previous file is kept for undo


def test_already_switched_is_refused(tmp_path: Path, backend: Backend) -> None:
    backend.env.write_text("REQUEST_NETWORK_ENABLED=false\nPAYMENT_ENABLED_PROVIDERS=shkeeper\n"
                           "PAYMENT_ROLLBACK_PROVIDER=shkeeper\n")
    w = switch(tmp_path, backend)
    assert w.decisions() == ["refused"]


def test_a_container_without_compose_file_and_service_is_a_config_error() -> None:
    with pytest.raises(ValueError, match="container needs compose_file and service: the "
                                         "backend is recreated with compose"):
        PaymentProviderSwitch.Params(env_file=Path("/srv/.env"), container="backend")


EDIT_ONLY = """\
probes:
  request-network: {{type: http, url: "http://127.0.0.1:1/", fail_after: 1, severity: sev1}}
remediations:
  payments-to-shkeeper:
    type: payment_provider_switch
    mode: auto
    on: [request-network]
    after: 1
    env_file: {env}
    container: null
    start_period: 0s
"""


def test_a_routing_line_the_editor_cannot_parse_is_refused_and_left_alone(
        tmp_path: Path) -> None:
    env = tmp_path / ".env"
    broken = ENV.replace("REQUEST_NETWORK_ENABLED=true", 'REQUEST_NETWORK_ENABLED="true')
    env.write_text(broken)
    w = World(tmp_path, world_settings(tmp_path) + EDIT_ONLY.format(env=env),
              {"payment_provider_switch": PaymentProviderSwitch})
    act(w, RN_DOWN, "request-network")
    assert w.decisions() == ["refused"]
    assert w.ledger.entries()[0]["reason"] == (
        f"{env}: line 3 assigns REQUEST_NETWORK_ENABLED but cannot be edited safely: "
        "unterminated quote")
    assert env.read_text() == broken and list(tmp_path.glob(".env.bak-*")) == []
