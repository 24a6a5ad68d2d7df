"""Footprint (issue 16 item 5): an SDK is imported only when a probe or action needing it is
configured. The bundled config without its Docker probes and actions runs (in its own
process, every probe once) without ever importing the docker SDK or requests."""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path

from tests.support import free_port
from watchdog.cli.main import LAZY, _cli_module, parser

ROOT = Path(__file__).resolve().parent.parent
DOCKER_PROBES = ("backend-container", "mongodb-container", "redis-container", "recent-deploy",
                 "backend-logs", "websocket-storm")
DOCKER_ACTIONS = ("evidence", "payments-to-shkeeper", "rollback-backend", "restart-mongodb",
                  "restart-redis", "disk-cleanup")

RUN_ONCE = """
import asyncio, json, sys
from pathlib import Path
from watchdog.cli.main import parser
parser(["run"]).parse_args(["run"])  # as `runbook-watchdog run` starts
from watchdog.runtime.config import load_config
from watchdog.runtime.daemon import Daemon

async def main() -> None:
    daemon = Daemon(load_config(Path(sys.argv[1]), environ={}), environ={})
    task = asyncio.create_task(daemon.run())
    while not (hasattr(daemon, "scheduler") and daemon.scheduler.jobs
               and len(daemon.engine.last) >= len(daemon.scheduler.jobs)):
        assert not task.done(), task.result()
        await asyncio.sleep(0.05)
    daemon.stop()
    await task
    print(json.dumps({"ran": sorted(daemon.engine.last), "modules": sorted(sys.modules)}))

asyncio.run(main())
"""


def without_docker(tmp: Path) -> Path:
    """config/watchdog.yaml minus its Docker probes and actions (edited as text: a YAML
    round trip would turn `on:` keys into booleans), on this test's port and directories."""
    text = (ROOT / "config" / "watchdog.yaml").read_text()
    for name in (*DOCKER_PROBES, *DOCKER_ACTIONS):
        text, found = re.subn(rf"\n  {re.escape(name)}:\n(?:(?:    .*|\s*)\n)+?(?=  \S|\S|\Z)",
                              "\n", text, count=1)
        assert found, name
    text = text.replace("listen: 127.0.0.1:9877", f"listen: 127.0.0.1:{free_port()}\n"
                        f"  spread: 1s\n  kill_switch: {tmp}/no-kill-switch", 1)
    text = text.replace("${RUNBOOK_WATCHDOG_STATE_DIR:-/var/lib/runbook-watchdog}",
                        str(tmp / "state"), 1)
    path = tmp / "watchdog.yaml"
    path.write_text(text)
    return path


def test_the_bundled_probes_without_docker_never_import_the_docker_sdk(tmp_path: Path) -> None:
    seen = run_once(without_docker(tmp_path))
    assert "smtp" in seen["ran"] and "docker-disk" in seen["ran"]
    assert not set(DOCKER_PROBES) & set(seen["ran"])
    modules = set(seen["modules"])
    assert "probes.container" in modules  # every plugin was loaded, its SDK was not
    assert not {"docker", "requests", "urllib3"} & modules
    # Other commands' modules and bcrypt (web basic auth, not configured) stay unloaded.
    assert "watchdog.cli.main" in modules
    assert not {f"watchdog.cli.{m}" for m, _ in LAZY.values()} & modules
    assert not {"watchdog.cli.sandbox", "bcrypt"} & modules


def test_help_lists_every_command_with_the_line_its_module_registers() -> None:
    """The lazy table's help lines are the ones the modules give (no drift); --help
    lists every command without importing any of those modules."""
    lines = help_lines(parser(["--help"]))
    for command, (module, help_line) in LAZY.items():
        assert lines[command] == help_line
        alone = argparse.ArgumentParser()
        _cli_module(module).add_parsers(alone.add_subparsers(),
                                        argparse.ArgumentParser(add_help=False))
        assert help_lines(alone)[command] == help_line
    assert {"run", "check", "validate", "status", *LAZY} <= set(lines)


def help_lines(top: argparse.ArgumentParser) -> dict[str, str | None]:
    sub = next(a for a in top._actions if isinstance(a, argparse._SubParsersAction))
    return {a.dest: a.help for a in sub._choices_actions}


def run_once(config: Path) -> dict[str, list[str]]:
    out = subprocess.run([sys.executable, "-c", RUN_ONCE, str(config)], capture_output=True,
                         text=True, timeout=180, check=False, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-3000:]
    seen: dict[str, list[str]] = json.loads(out.stdout.strip().splitlines()[-1])
    return seen


def test_a_config_with_no_sdk_probe_imports_no_sdk(tmp_path: Path) -> None:
    config = tmp_path / "watchdog.yaml"
    config.write_text(f"watchdog:\n  listen: 127.0.0.1:{free_port()}\n  state_dir: "
                      f"{tmp_path}/state\n  spread: 1s\n  kill_switch: {tmp_path}/none\n"
                      f"probes:\n  disk:\n    type: disk\n    path: {tmp_path}\n")
    seen = run_once(config)
    assert seen["ran"] == ["disk"]
    assert not {"docker", "requests", "pymongo", "dns", "redis"} & set(seen["modules"])


def test_the_docker_probes_read_the_engine_without_the_docker_sdk(tmp_path: Path) -> None:
    """Probes read through watchdog/peers/engine_reads.py; the SDK is for actions (the
    engine here is a missing socket: each probe ran, answered UNKNOWN, and imported none)."""
    config = tmp_path / "watchdog.yaml"
    config.write_text(
        f"watchdog:\n  listen: 127.0.0.1:{free_port()}\n  state_dir: {tmp_path}/state\n"
        f"  spread: 1s\n  kill_switch: {tmp_path}/none\n"
        f"  docker_url: unix://{tmp_path}/no-docker.sock\n"
        "probes:\n"
        "  backend-container:\n    type: container\n    container: nickapp-backend\n"
        "  recent-deploy:\n    type: deploy\n    containers: [nickapp-backend]\n"
        "  backend-logs:\n    type: logs\n    container: nickapp-backend\n"
        "    bundled_rules: true\n"
        "  websocket-storm:\n    type: reconnect_rate\n    container: nickapp-backend\n"
        f"    access_log: {tmp_path}/access.log\n    threshold: 120\n    within: 1m\n")
    seen = run_once(config)
    assert seen["ran"] == ["backend-container", "backend-logs", "recent-deploy",
                           "websocket-storm"]
    assert not {"docker", "requests", "urllib3"} & set(seen["modules"])
