"""A production host for the drills: Debian bookworm booted by a real systemd (PID 1) in a
privileged Podman container, with runbook-watchdog installed by scripts/install.sh.

    rootfs = cached_rootfs()                  # mmdebstrap once, cached by package list
    host = SystemdHost.boot(rootfs, mounts)   # podman import + run, wait for systemd
    host.install_checkout()                   # copy this checkout in, run install.sh
    host.sh("systemctl start runbook-watchdog")
    host.journal()                            # journalctl -u runbook-watchdog
    host.stop()

The container runs in a Podman storage of its own (not the Docker API the watchdog
watches), with runc through a containers.conf of the tests' own. `--privileged` is what
makes the unit's hardening real (shared/notes/real-services-here.md): without it
ProtectSystem=strict is silently not applied.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shlex
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path

from tests.peers.podman import CONTAINERS_CONF
from tests.support import ROOT, wait_for

CACHE = Path(os.environ.get("RW_PRODUCTION_CACHE", "/var/cache/runbook-watchdog-tests"))
SUITE = "bookworm"
VARIANT = "minbase"
# What the host needs besides Debian's minimal base: systemd as PID 1, Python for the
# install script's venv, procps for ExecReload's /bin/kill, and the compose CLI the
# rollback runs (Debian 12 ships docker-compose v1; hosts with the v2 plugin use
# `docker compose`, which the drill's operator edit points at v1).
PACKAGES = ("systemd", "systemd-sysv", "dbus", "procps", "python3", "python3-venv",
            "python3-pip", "ca-certificates", "docker-compose")
UNIT = "runbook-watchdog"
SOURCE = "/usr/src/runbook-watchdog"
HOST_CA = Path("/etc/ssl/certs/ca-certificates.crt")
HOST_CA_INSIDE = "/srv/host-ca.crt"
EXCLUDE = (".venv", ".git", "*.egg-info", "__pycache__", ".mypy_cache", ".ruff_cache",
           ".pytest_cache", ".state", "build")


def rootfs_key() -> str:
    text = "\n".join([SUITE, VARIANT, *sorted(PACKAGES)])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def cached_rootfs() -> Path:
    """The root filesystem tar, built with mmdebstrap on first use (about 30 s) and kept
    under CACHE, keyed by suite, variant and package list. A lock keeps two sessions from
    building it at once."""
    tar = CACHE / f"rootfs-{SUITE}-{rootfs_key()}.tar"
    if tar.exists():
        return tar
    mmdebstrap = shutil.which("mmdebstrap")
    assert mmdebstrap, "mmdebstrap is missing: run scripts/install-test-deps.sh"
    CACHE.mkdir(parents=True, exist_ok=True)
    with (CACHE / "build.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if tar.exists():
            return tar
        partial = tar.with_name(f"{tar.stem}.partial-{os.getpid()}.tar")  # .tar: the format
        try:
            done = subprocess.run(
                [mmdebstrap, "--quiet", f"--variant={VARIANT}",
                 f"--include={','.join(PACKAGES)}", SUITE, str(partial)],
                capture_output=True, text=True, timeout=900, check=False)
            assert done.returncode == 0, f"mmdebstrap failed:\n{done.stderr[-3000:]}"
            partial.rename(tar)
        finally:
            partial.unlink(missing_ok=True)
    return tar


class SystemdHost:
    def __init__(self, base: Path) -> None:
        self.base = base
        self.name = f"rw-prod-{uuid.uuid4().hex[:8]}"
        self.conf = base / "containers.conf"
        self.image = f"localhost/rw-systemd-host:{rootfs_key()}"
        self.timings: dict[str, float] = {}

    # -- podman ---------------------------------------------------------------------------
    def podman_argv(self, *args: str) -> list[str]:
        return ["podman", "--root", str(self.base / "root"), "--runroot",
                str(self.base / "runroot"), "--storage-driver", "overlay", *args]

    def podman(self, *args: str, timeout: float = 120, input: str | None = None,
               check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(self.podman_argv(*args), capture_output=True, text=True,
                              timeout=timeout, input=input, check=False,
                              env={**os.environ, "CONTAINERS_CONF": str(self.conf)})
        if check:
            assert done.returncode == 0, f"podman {' '.join(args)}: {done.stderr[-2000:]}"
        return done

    @classmethod
    def boot(cls, rootfs: Path, mounts: Sequence[tuple[Path, str]]) -> SystemdHost:
        host = cls(Path(tempfile.mkdtemp(prefix="rw-sdhost-")))
        host.conf.write_text(CONTAINERS_CONF)
        started = time.monotonic()
        host.podman("import", str(rootfs), host.image, timeout=300)
        host.timings["import"] = time.monotonic() - started
        started = time.monotonic()
        volumes = [arg for source, target in mounts for arg in ("-v", f"{source}:{target}")]
        host.podman("run", "-d", "--name", host.name, "--privileged", "--systemd=always",
                    "--network=host", *volumes, host.image, "/lib/systemd/systemd")
        wait_for(host._booted, timeout=120, what="systemctl is-system-running")
        host.timings["boot"] = time.monotonic() - started
        return host

    def _booted(self) -> bool:
        state = self.sh("systemctl is-system-running", check=False).stdout.strip()
        return state in ("running", "degraded")

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self.podman("rm", "-f", "-t", "0", self.name, check=False)
        with contextlib.suppress(Exception):
            self.podman("system", "reset", "--force", check=False)
        # The overlay driver bind-mounts its home onto itself; left mounted, the folder
        # could not be removed.
        overlay = self.base / "root" / "overlay"
        if os.path.ismount(overlay):
            subprocess.run(["umount", str(overlay)], capture_output=True, timeout=60,
                           check=False)
        shutil.rmtree(self.base, ignore_errors=True)

    # -- inside ---------------------------------------------------------------------------
    def sh(self, script: str, *, check: bool = True, timeout: float = 120,
           input: str | None = None,
           env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        """A shell command inside the host, as root."""
        envs = [arg for k, v in (env or {}).items() for arg in ("-e", f"{k}={v}")]
        return self.podman("exec", *(["-i"] if input is not None else []), *envs, self.name,
                           "bash", "-c", script, timeout=timeout, input=input, check=check)

    def write(self, path: str, text: str, mode: str = "0644") -> None:
        self.sh(f"install -D -m {mode} /dev/stdin {shlex.quote(path)}", input=text)

    def read(self, path: str) -> str:
        return self.sh(f"cat {shlex.quote(path)}").stdout

    def install_checkout(self) -> str:
        """Copy this checkout in (the working tree, without venv and caches) and run
        scripts/install.sh as a user would. pip inside reaches the package index over the
        shared host network; the host's CA bundle is handed to it (PIP_CERT) for machines
        whose index mirror has a certificate of its own."""
        excludes = [f"--exclude={pattern}" for pattern in EXCLUDE]
        tar = subprocess.run(["tar", "-C", str(ROOT), *excludes, "-cf", "-", "."],
                             capture_output=True, timeout=120, check=True).stdout
        self.sh(f"rm -rf {SOURCE} && mkdir -p {SOURCE}")
        subprocess.run(self.podman_argv("exec", "-i", self.name, "tar", "-C", SOURCE, "-xf",
                                        "-"), input=tar, capture_output=True, timeout=120,
                       check=True, env={**os.environ, "CONTAINERS_CONF": str(self.conf)})
        env = {"PIP_CERT": HOST_CA_INSIDE} if HOST_CA.exists() else {}
        started = time.monotonic()
        done = self.sh(f"bash {SOURCE}/scripts/install.sh", env=env, timeout=600, check=False)
        self.timings["install"] = time.monotonic() - started
        assert done.returncode == 0, f"install.sh failed:\n{done.stdout}\n{done.stderr}"
        return done.stdout

    # -- the service ------------------------------------------------------------------------
    def systemctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.sh(shlex.join(["systemctl", *args]), check=check)

    def show(self, *props: str) -> dict[str, str]:
        out = self.systemctl("show", UNIT, *(f"--property={p}" for p in props)).stdout
        return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)

    def main_pid(self) -> int:
        return int(self.show("MainPID")["MainPID"])

    def journal(self, since_cursor: str | None = None) -> str:
        after = f" --after-cursor={shlex.quote(since_cursor)}" if since_cursor else ""
        return self.sh(f"journalctl -u {UNIT} --no-pager -o short-iso{after}").stdout

    def cursor(self) -> str:
        """The journal's current position: `journal(cursor)` then shows what came after."""
        out = self.sh("journalctl -n 0 --show-cursor --no-pager").stdout
        return out.strip().rsplit("cursor: ", 1)[-1]

    def wait_journal(self, text: str, since_cursor: str | None = None,
                     timeout: float = 60) -> str:
        def seen() -> str | None:
            journal = self.journal(since_cursor)
            return journal if text in journal else None

        return wait_for(seen, timeout=timeout, what=f"{text!r} in the journal")

    def cli_json(self, *args: str) -> object:
        """`runbook-watchdog ARGS --format json` inside, as the service user with the
        service's environment file (what `sudo -u runbook-watchdog` would see)."""
        import json

        done = self.sh(
            "set -a; . /etc/runbook-watchdog/watchdog.env; set +a; "
            f"exec setpriv --reuid={UNIT} --regid={UNIT} --init-groups "
            f"/opt/runbook-watchdog/venv/bin/runbook-watchdog {shlex.join(args)} "
            "--config /etc/runbook-watchdog/watchdog.yaml --format json")
        return json.loads(done.stdout)


@contextlib.contextmanager
def booted(rootfs: Path, mounts: Sequence[tuple[Path, str]]) -> Iterator[SystemdHost]:
    host = SystemdHost.boot(rootfs, mounts)
    try:
        yield host
    finally:
        host.stop()
