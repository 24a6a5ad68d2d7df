"""The production drill harness: ONE booted systemd host for all the drills.

The host is Debian bookworm (mmdebstrap, cached under /var/cache/runbook-watchdog-tests)
booted by systemd in a privileged Podman container (tests/production/host.py). Inside it
runbook-watchdog is installed by scripts/install.sh, as a user would, and runs as the
shipped unit. What an operator then does, the harness does:

- /etc/runbook-watchdog/watchdog.env gives the bundled config's ${VAR}s the stand-ins'
  addresses (tests/production/stack.py);
- the Docker API (the tests' Podman service) is at /var/run/docker.sock, group `docker`,
  and `SupplementaryGroups=docker` is added in a drop-in (docs/install.md, "Docker socket
  access", option 2: rollback recreates containers);
- the compose directory /opt/backend and its files are given to the group
  `runbook-watchdog` (docs/install.md: the drop-in install.sh writes grants the path,
  not the file permissions);
- watchdog.yaml is edited with sed on the installed copy: the listener's port (9877 may be
  taken on a shared machine), the compose command (Debian 12 has docker-compose v1, not
  the v2 plugin) and `mode: auto` for the remediations the drills exercise.

Timings (mmdebstrap, import, boot, install, first READY) are printed at the end of the
session (`pytest -s` or the terminal summary).
"""

from __future__ import annotations

import contextlib
import shlex
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.peers.podman import PodmanPeer
from tests.production.host import HOST_CA, HOST_CA_INSIDE, UNIT, SystemdHost, cached_rootfs
from tests.production.stack import Stack
from tests.support import free_port, wait_for

CONFIG = "/etc/runbook-watchdog/watchdog.yaml"
ENV_FILE = "/etc/runbook-watchdog/watchdog.env"
STATE = "/var/lib/runbook-watchdog"
AUTO = ("rollback-backend", "restart-mongodb", "redis-eviction")
TIMINGS: dict[str, float] = {}


class Production:
    """The booted host, the stack it watches, and the operator's view of both."""

    def __init__(self, host: SystemdHost, stack: Stack, listen_port: int) -> None:
        self.host = host
        self.stack = stack
        self.listen_port = listen_port

    def audit(self) -> list[dict[str, object]]:
        import json

        text = self.host.sh(f"cat {STATE}/audit.jsonl 2>/dev/null || true").stdout
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    def decisions(self, remediation: str) -> list[str]:
        return [str(e["decision"]) for e in self.audit() if e["remediation"] == remediation]

    def incidents(self, *, all: bool = False) -> list[dict[str, object]]:
        rows = self.host.cli_json("incidents", *(["--all"] if all else []))
        assert isinstance(rows, list)
        return rows

    def deploy_history(self, container: str) -> list[str]:
        """The image IDs the deploy probe recorded, read from state.db as the service user
        (a root-owned WAL file would lock the daemon out of its own database)."""
        import json

        code = ("import json, pathlib; from probes.deploy import deploy_history; "
                "from watchdog.common.state import StateStore; "
                f"s = StateStore.in_state_dir(pathlib.Path({STATE!r})); "
                f"print(json.dumps([r.image_id for r in deploy_history(s, {container!r})]))")
        done = self.host.sh(f"setpriv --reuid={UNIT} --regid={UNIT} --init-groups "
                            f"/opt/runbook-watchdog/venv/bin/python -c {shlex.quote(code)}")
        found: list[str] = json.loads(done.stdout)
        return found

    def active(self) -> bool:
        return self.host.show("ActiveState")["ActiveState"] == "active"


def operator_edits(port: int) -> str:
    """The sed an operator runs on the installed config (never on the shipped one)."""
    blocks = " ".join(f"-e '/^  {name}:$/,/^  [a-z]/ s/mode: dry-run/mode: auto/'"
                      for name in AUTO)
    return (f"sed -i -e 's/^  listen: 127.0.0.1:9877$/  listen: 127.0.0.1:{port}/' "
            "-e 's/compose_command: \\[docker, compose\\]/compose_command: [docker-compose]/' "
            f"{blocks} {CONFIG}")


DROP_IN = """\
# The operator's choice of docs/install.md, "Docker socket access", option 2: rollback
# recreates containers through Compose.
[Service]
SupplementaryGroups=docker
"""


@contextlib.contextmanager
def production_host(podman: PodmanPeer, base: Path) -> Iterator[Production]:
    """Boot, install, configure and start; tear everything down on the way out."""
    t0 = started = time.monotonic()
    rootfs = cached_rootfs()
    TIMINGS["rootfs (mmdebstrap or cache)"] = time.monotonic() - started
    stack = Stack(base, podman)
    host: SystemdHost | None = None
    try:
        stack.start()
        mounts = [(Path(podman.sock), "/var/run/docker.sock"), (stack.dir, "/opt/backend")]
        if HOST_CA.exists():
            mounts.append((HOST_CA, f"{HOST_CA_INSIDE}:ro"))
        host = SystemdHost.boot(rootfs, mounts)
        host.install_checkout()
        TIMINGS.update({f"podman {k}" if k != "install" else "install.sh": v
                        for k, v in host.timings.items()})
        started = time.monotonic()
        port = free_port()
        host.write(ENV_FILE, stack.env_file(), mode="0600")
        host.sh(operator_edits(port))
        # What a Docker host with nightly Mongo dumps has: the engine's data directory and
        # a fresh backup (the bundled config's docker-disk and mongo-backups probes).
        host.sh("mkdir -p /var/lib/docker /var/backups/mongodb && "
                "echo dump | gzip > /var/backups/mongodb/marketplace-nightly.gz")
        # The sandbox drop-in (install.sh) lifts the read-only mount on /opt/backend, not
        # the directory's permissions (root's 0755: "refused: ... not writable by uid N"):
        # docs/install.md's step for the rollback's compose directory and files.
        host.sh("cd /opt/backend && chgrp runbook-watchdog . docker-compose.production.yml "
                ".env && chmod g+w . && chmod g+rw docker-compose.production.yml .env")
        host.sh("groupadd --system docker && chgrp docker /var/run/docker.sock "
                "&& chmod 0660 /var/run/docker.sock")
        host.write("/etc/systemd/system/runbook-watchdog.service.d/docker.conf", DROP_IN)
        host.sh("systemctl daemon-reload && "
                "/opt/runbook-watchdog/venv/bin/runbook-watchdog validate "
                f"--config {CONFIG} && systemctl enable --now runbook-watchdog")
        booted = host
        wait_for(lambda: booted.show("ActiveState")["ActiveState"] == "active", timeout=60,
                 what="the service active (READY=1)")
        TIMINGS["configure + start to READY"] = time.monotonic() - started
        yield Production(host, stack, port)
    finally:
        if host is not None:
            host.stop()
        stack.stop()
        TIMINGS["session (harness and drills)"] = time.monotonic() - t0


@pytest.fixture(scope="package")
def production(podman: PodmanPeer, tmp_path_factory: pytest.TempPathFactory
               ) -> Iterator[Production]:
    """Package scope: the host is gone before the rest of the suite runs."""
    with production_host(podman, tmp_path_factory.mktemp("production")) as made:
        yield made


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if TIMINGS:
        terminalreporter.section("production drill timings")
        for what, seconds in TIMINGS.items():
            terminalreporter.write_line(f"{what:<40} {seconds:6.1f}s")
