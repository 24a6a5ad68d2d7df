"""Safe defaults: loopback listener, read-only endpoints, no shell, private state files."""

from __future__ import annotations

import ast
import contextlib
import stat
import textwrap
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support import ROOT, Daemon, HttpPeer, free_port
from watchdog.common.state import StateStore
from watchdog.remediation.journal import Entry, Ledger
from watchdog.runtime.config_models import WatchdogSettings


def test_listener_defaults_to_loopback() -> None:
    assert WatchdogSettings().listen_host == "127.0.0.1"


def test_lint_step_forbids_shell_true() -> None:
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert '"S"' in pyproject.split("select = [")[1].split("]")[0], "flake8-bandit rules on"
    ignored = pyproject.split("ignore = [")[1].split("]")[0]
    assert "S602" not in ignored and "S604" not in ignored


def test_no_subprocess_call_in_the_product_passes_shell() -> None:
    for path in [*ROOT.glob("watchdog/**/*.py"), *ROOT.glob("probes/*.py"),
                 *ROOT.glob("remediations/*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call):
                assert not any(k.arg == "shell" for k in node.keywords), f"{path}:{node.lineno}"


def test_state_and_audit_files_are_0600_in_a_0700_directory(tmp_path: Path) -> None:
    state = tmp_path / "state"
    store = StateStore.in_state_dir(state)
    Ledger(store, state / "audit.jsonl").journal(Entry(
        at=1.0, remediation="r", target="t", mode="auto", decision="skipped", reason="x"))
    store.put("ns", "key", {"v": 1}, 1.0)  # WAL and shared-memory files exist now
    assert stat.S_IMODE(state.stat().st_mode) == 0o700
    for name in ("state.db", "audit.jsonl"):
        assert stat.S_IMODE((state / name).stat().st_mode) == 0o600, name
    for side in state.glob("state.db-*"):
        assert stat.S_IMODE(side.stat().st_mode) & 0o077 == 0, side.name
    store.close()


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    tmp_path = tmp_path_factory.mktemp("defaults")
    http_peer = HttpPeer(tmp_path).start()
    port = free_port()
    config = tmp_path / "watchdog.yaml"
    config.write_text(textwrap.dedent(f"""\
        watchdog: {{listen: "127.0.0.1:{port}", state_dir: "{tmp_path / 'state'}", spread: 0s}}
        probes:
          web: {{type: http, url: "{http_peer.url()}", interval: 500ms, timeout: 300ms}}
        """))
    daemon = Daemon(config, port, tmp_path / "d.log")
    with contextlib.ExitStack() as stack:
        stack.callback(http_peer.stop)
        stack.callback(daemon.stop)
        daemon.start()
        yield port


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
@pytest.mark.parametrize("path", ["/", "/api/status", "/metrics", "/healthz"])
def test_http_endpoints_are_read_only(daemon: int, method: str, path: str) -> None:
    before = httpx.get(f"http://127.0.0.1:{daemon}/api/status").json()["probes"]
    reply = httpx.request(method, f"http://127.0.0.1:{daemon}{path}", json={"probes": []})
    assert reply.status_code in (404, 405, 501), reply.status_code
    after = httpx.get(f"http://127.0.0.1:{daemon}/api/status").json()["probes"]
    assert [p["probe"] for p in after] == [p["probe"] for p in before]
