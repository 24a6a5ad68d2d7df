"""Disk probe (runbook §1 "disk > 80%", §3.2 step 3 `df -h /var/lib/docker`).

Usage is computed as df does: used / (used + available to unprivileged users), so the
blocks reserved for root count as full. Inodes are checked against the same limits.
Above `warn` is `disk_usage_high` (Sev4, a hygiene item); above `critical` is `disk_full`
(the probe's own severity: a full disk stops MongoDB and Redis writes).

Causes: disk_usage_high, disk_full, no_such_path (UNKNOWN).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, ClassVar

from pydantic import BeforeValidator, model_validator

from watchdog.pipeline.observation import Observation, Status, failed, unknown
from watchdog.pipeline.probe import ProbeContext, ProbeParams

HINTS = {
    "disk_full": "disk (nearly) full: docker system prune, rotate logs, extend the volume; "
                 "MongoDB and Redis stop writing on a full disk (runbook §3.2 step 4)",
    "disk_usage_high": "disk over the warning level: prune old images and container logs, "
                       "rotate logs (runbook §1: hygiene, Sev4)",
}


def _percent(value: object) -> float:
    """`80%` or `80` -> 80.0; anything outside 0-100 is an error."""
    text = str(value).strip().removesuffix("%") if not isinstance(value, bool) else "x"
    try:
        number = float(text)
    except ValueError:
        raise ValueError(f"{value!r} is not a percentage (e.g. 80%)") from None
    if not 0 <= number <= 100:
        raise ValueError(f"{value!r} is not between 0% and 100%")
    return number


Percent = Annotated[float, BeforeValidator(_percent)]


class DiskParams(ProbeParams):
    path: Path
    warn: Percent = 80.0
    critical: Percent = 95.0
    warn_severity: str | None = "sev4"

    @model_validator(mode="after")
    def _ordered(self) -> DiskParams:
        if self.warn > self.critical:
            raise ValueError("`warn` must not be above `critical`")
        return self


@dataclass(frozen=True)
class Usage:
    percent: float
    inode_percent: float
    free_bytes: int
    total_bytes: int

    @classmethod
    def of(cls, path: Path) -> Usage:
        st = os.statvfs(path)
        used, avail = st.f_blocks - st.f_bfree, st.f_bavail
        inodes_used, inodes_avail = st.f_files - st.f_ffree, st.f_favail
        return cls(percent=_share(used, used + avail),
                   inode_percent=_share(inodes_used, inodes_used + inodes_avail),
                   free_bytes=avail * st.f_frsize, total_bytes=st.f_blocks * st.f_frsize)


def _share(part: int, whole: int) -> float:
    return 100.0 * part / whole if whole else 0.0


class DiskProbe:
    Params: ClassVar[type[DiskParams]] = DiskParams
    causes: ClassVar[frozenset[str]] = frozenset(
        {"ok", "disk_usage_high", "disk_full", "no_such_path"})
    # Warnings, not "down": above `warn` is a hygiene item; `disk_full` is the outage.
    warning_causes: ClassVar[frozenset[str]] = frozenset({"disk_usage_high"})
    # Reported UNKNOWN (nothing certain was learnt): never trigger anything.
    unknown_causes: ClassVar[frozenset[str]] = frozenset({"no_such_path"})

    def __init__(self, params: DiskParams, ctx: ProbeContext) -> None:
        self.params = params
        self.ctx = ctx

    async def check(self) -> Observation:
        try:
            usage = await self.ctx.run_blocking(Usage.of, self.params.path)
        except FileNotFoundError:
            return unknown("no_such_path", f"{self.params.path} does not exist")
        worst = max(usage.percent, usage.inode_percent)
        what = "inodes" if usage.inode_percent > usage.percent else "space"
        values = {"used_percent": round(usage.percent, 2), "free_bytes": float(usage.free_bytes),
                  "inodes_used_percent": round(usage.inode_percent, 2)}
        summary = (f"{self.params.path}: {usage.percent:.1f}% used, "
                   f"{usage.free_bytes / 2**20:.1f} MiB free, {usage.inode_percent:.1f}% inodes")
        if worst >= self.params.critical:
            return failed("disk_full", f"{summary} ({what} >= {self.params.critical:g}%)",
                          hint=HINTS["disk_full"], values=values)
        if worst >= self.params.warn:
            return failed("disk_usage_high", f"{summary} ({what} >= {self.params.warn:g}%)",
                          hint=HINTS["disk_usage_high"], values=values,
                          severity=self.params.warn_severity)
        return Observation(Status.OK, "ok", summary, values=values)

    async def aclose(self) -> None:
        return None
