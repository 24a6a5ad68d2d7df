"""The disk probe on a real (tiny) tmpfs, and the file_age probe on real backup files.

Stand-in for a full disk: a 1 MiB tmpfs mounted by the test and filled with a file.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from probes.disk import DiskProbe
from probes.file_age import FileAgeProbe
from tests.support import run_probe
from watchdog.pipeline.observation import Status


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "disk"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], check=True,
                   timeout=30)
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=True, timeout=30)


def fill(disk: Path, kib: int) -> None:
    (disk / "fill").write_bytes(b"\0" * kib * 1024)


def test_an_empty_disk_is_ok(small_disk: Path) -> None:
    obs = run_probe(DiskProbe, {"path": str(small_disk)})
    assert (obs.status, obs.values["used_percent"]) == (Status.OK, 0)


def test_above_warn_is_a_sev4_hygiene_finding(small_disk: Path) -> None:
    fill(small_disk, 870)
    obs = run_probe(DiskProbe, {"path": str(small_disk), "warn": "80%", "critical": "95%"})
    assert (obs.status, obs.cause, obs.severity) == (Status.FAILED, "disk_usage_high", "sev4")
    assert 80 <= obs.values["used_percent"] < 95


def test_above_critical_is_disk_full(small_disk: Path) -> None:
    fill(small_disk, 1000)
    obs = run_probe(DiskProbe, {"path": str(small_disk)})
    assert (obs.status, obs.cause, obs.severity) == (Status.FAILED, "disk_full", None)
    assert obs.hint is not None and "3.2" in obs.hint


def test_a_missing_path_is_unknown(tmp_path: Path) -> None:
    obs = run_probe(DiskProbe, {"path": str(tmp_path / "nope")})
    assert (obs.status, obs.cause) == (Status.UNKNOWN, "no_such_path")


@pytest.mark.parametrize("bad", ["120%", "lots", True])
def test_a_bad_percentage_is_a_config_error(bad: object) -> None:
    with pytest.raises(ValueError, match=r"percentage|between"):
        DiskProbe.Params(path="/", warn=bad)


def backup(dir_: Path, name: str, size: int, age: float) -> None:
    path = dir_ / name
    path.write_bytes(b"x" * size)
    then = time.time() - age
    os.utime(path, (then, then))


def test_a_fresh_backup_is_ok(tmp_path: Path) -> None:
    backup(tmp_path, "db-1.gz", 100, 3600)
    obs = run_probe(FileAgeProbe, {"glob": str(tmp_path / "db-*.gz")})
    assert (obs.status, obs.details["newest"]) == (Status.OK, str(tmp_path / "db-1.gz"))


def test_a_backup_older_than_24h_is_stale(tmp_path: Path) -> None:
    backup(tmp_path, "db-1.gz", 100, 3 * 86400)
    backup(tmp_path, "db-2.gz", 100, 25 * 3600)
    obs = run_probe(FileAgeProbe, {"glob": str(tmp_path / "db-*.gz"), "max_age": "24h"})
    assert (obs.status, obs.cause) == (Status.FAILED, "stale")
    assert obs.details["newest"].endswith("db-2.gz")
    assert obs.values["age_seconds"] >= 25 * 3600


def test_no_matching_file_and_an_empty_newest_file(tmp_path: Path) -> None:
    assert run_probe(FileAgeProbe, {"glob": str(tmp_path / "*.gz")}).cause == "no_files"
    backup(tmp_path, "db-1.gz", 0, 60)
    assert run_probe(FileAgeProbe, {"glob": str(tmp_path / "*.gz")}).cause == "empty"


def test_backups_that_stopped_growing_are_no_progress(tmp_path: Path) -> None:
    for i, size in enumerate([100, 200, 300, 300, 300]):
        backup(tmp_path, f"db-{i}.gz", size, 3600 * (5 - i))
    params = {"glob": str(tmp_path / "db-*.gz"), "no_progress_after": 3}
    obs = run_probe(FileAgeProbe, params)
    assert (obs.status, obs.cause) == (Status.FAILED, "no_progress")
    backup(tmp_path, "db-5.gz", 400, 60)
    assert run_probe(FileAgeProbe, params).cause == "ok"
