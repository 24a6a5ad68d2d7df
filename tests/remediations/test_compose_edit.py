"""The compose-file edit behind rollback's compose strategy, on real files."""

from __future__ import annotations

import errno
import json
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from remediations._compose import ComposeEditError, rewrite, with_image
from tests.support import ROOT

PRODUCTION = """\
version: "3.8"   # compose file format
# the nickapp stack
services:
  nickapp-mongodb:
    image: mongo:7
  nickapp-backend:
    # Watchtower bumps :latest
    image: "ghcr.io/nick/backend:latest"  # deploys land here

    environment:
      image: not-this-one
  nginx:
    image: nginx:1.25
"""


def test_only_the_service_image_changes_and_comments_stay(tmp_path: Path) -> None:
    path = tmp_path / "docker-compose.production.yml"
    path.write_text(PRODUCTION)
    path.chmod(0o640)
    old = rewrite(path, "nickapp-backend", "ghcr.io/nick/backend:rollback-0123456789ab",
                  tmp_path / "backup.yml")
    assert old == "ghcr.io/nick/backend:latest"
    assert path.read_text() == PRODUCTION.replace(
        '"ghcr.io/nick/backend:latest"', '"ghcr.io/nick/backend:rollback-0123456789ab"')
    assert (tmp_path / "backup.yml").read_text() == PRODUCTION
    assert path.stat().st_mode & 0o777 == 0o640


@pytest.mark.parametrize(("text", "service", "problem"), [
    ("version: '3'\n", "web", "no top-level `services:`"),
    (PRODUCTION, "redis", "no service `redis`"),
    ("services:\n  web:\n    build: .\n", "web", "has no `image:` line"),
    ("services:\n  web:\n    image: >-\n      x:latest\n", "web", "after the edit"),  # caught by re-parsing
])
def test_unexpected_shapes_are_refused_with_the_reason(text: str, service: str,
                                                       problem: str) -> None:
    with pytest.raises(ComposeEditError, match=problem):
        with_image(text, service, "x:rollback-1")


# -- a rewrite that cannot complete leaves the original ------------------------------------
# Tests run as root, which ignores file modes, so "not writable" has to come from the file
# system: a read-only bind mount in a private mount namespace (`unshare -m`) is exactly how
# systemd applies ProtectSystem=strict, gives EROFS, and vanishes with the subprocess (an
# immutable `chattr +i` directory would outlive a crashed test); a tiny tmpfs gives ENOSPC.
WRITE = """\
import json, sys
from pathlib import Path
from remediations._compose import rewrite
from watchdog.common.envfile import edit_env_file
from watchdog.remediation.sandbox import refusal
writer, path, before = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
outcome = {"errno": None}
try:
    if writer == "compose":
        rewrite(path, "nickapp-backend", "ghcr.io/nick/backend:rollback-1", path.with_name("backup"))
    else:
        edit_env_file(path, {"REQUEST_NETWORK_ENABLED": "false"}, path.with_name("backup"))
except OSError as exc:
    outcome = {"errno": exc.errno, "refusal": str(refusal(exc, path.parent))}
outcome["files"] = sorted(p.name for p in path.parent.iterdir())
outcome["unchanged"] = path.read_text() == before
print(json.dumps(outcome))
"""
ENV = "# the backend\nREQUEST_NETWORK_ENABLED=true  # Request Network on\n"
WRITERS = [("compose", "docker-compose.production.yml", PRODUCTION), ("env", ".env", ENV)]


def write_in_namespace(setup: str, writer: str, path: Path, text: str) -> dict[str, object]:
    """Run the writer on `path` in a private mount namespace prepared by `setup` (sh); what
    the directory holds afterwards is read in there too (a tmpfs vanishes with it)."""
    args = " ".join(shlex.quote(a) for a in (sys.executable, "-c", WRITE, writer, str(path),
                                             text))
    result = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c",
                             f"{setup} && exec {args}"],
                            capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    outcome: dict[str, object] = json.loads(result.stdout)
    return outcome


@pytest.mark.parametrize(("writer", "name", "text"), WRITERS)
def test_a_read_only_directory_refuses_the_rewrite_and_keeps_the_original(
        tmp_path: Path, writer: str, name: str, text: str) -> None:
    folder = tmp_path / "backend"
    folder.mkdir()
    (folder / name).write_text(text)
    d = shlex.quote(str(folder))
    outcome = write_in_namespace(f"mount --bind {d} {d} && mount -o remount,bind,ro {d} {d}",
                                 writer, folder / name, text)
    assert outcome == {"errno": errno.EROFS, "refusal": "not permitted by the service's "
                       f"sandbox: cannot write {folder}: Read-only file system (EROFS)",
                       "files": [name], "unchanged": True}
    assert (folder / name).read_text() == text  # and outside the namespace too


@pytest.mark.parametrize(("writer", "name", "text"), WRITERS)
def test_a_full_disk_mid_rewrite_removes_the_temporary_file_and_keeps_the_original(
        tmp_path: Path, writer: str, name: str, text: str) -> None:
    # A 16 KiB tmpfs (4 pages): the file, then all but one page filled, so the backup copy
    # fits and the new content's temporary file does not: the write fails half-way.
    folder = tmp_path / "backend"
    folder.mkdir()
    d, f = shlex.quote(str(folder)), shlex.quote(name)
    setup = (f"mount -t tmpfs -o size=16k tmpfs {d} && cd {d} && "
             f"printf %s {shlex.quote(text)} > {f} && head -c 4096 /dev/zero > slack && "
             "{ head -c 65536 /dev/zero > filler 2>/dev/null || true; } && rm slack")
    outcome = write_in_namespace(setup, writer, folder / name, text)
    # a full disk is a failure, not the sandbox; no temporary file, no backup left behind
    assert outcome == {"errno": errno.ENOSPC, "refusal": "None",
                       "files": sorted([name, "filler"]), "unchanged": True}
