"""File-age probe (runbook §1 "Backup older than 24h", Sev4): the newest backup is fresh.

Finds the newest file matching `glob` (by modification time). Older than `max_age` is
`stale`; none at all is `no_files`; an empty newest file is `empty`. With
`no_progress_after: N`, the newest N files not growing in size (the newest no larger
than the one N-1 generations before it) is `no_progress`: a dump that stopped
including new data.

Causes: stale, no_files, empty, no_progress.
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass
from typing import Annotated, ClassVar

from pydantic import Field

from watchdog.common.durations import Duration, format_duration
from watchdog.pipeline.observation import Observation, Status, failed
from watchdog.pipeline.probe import ProbeContext, ProbeParams

HINTS = {
    "stale": "the newest backup is too old: is the backup job (cron/timer) running? "
             "check its log; see Backup & Recovery (runbook §1, Sev4)",
    "no_files": "no backup matches: wrong path, or the job never ran (runbook §1)",
    "empty": "the newest backup is empty: the dump failed; run it by hand and read its errors",
    "no_progress": "backups stopped growing: the dump may be of an empty or stale database; "
                   "restore-test the newest one",
}


class FileAgeParams(ProbeParams):
    glob: str
    max_age: Duration = 86400.0
    no_progress_after: Annotated[int, Field(ge=2)] | None = None


@dataclass(frozen=True)
class Found:
    path: str
    mtime: float
    size: int


def _scan(pattern: str) -> list[Found]:
    """Runs in the executor: matching files, oldest first."""
    found = []
    for path in glob.glob(pattern):
        try:
            st = os.stat(path)
        except OSError:
            continue  # removed between glob and stat (a rotation)
        if os.path.isfile(path):
            found.append(Found(path, st.st_mtime, st.st_size))
    return sorted(found, key=lambda f: f.mtime)


class FileAgeProbe:
    Params: ClassVar[type[FileAgeParams]] = FileAgeParams
    causes: ClassVar[frozenset[str]] = frozenset(
        {"ok", "stale", "no_files", "empty", "no_progress"})
    # Warnings, not "down": the backups still run; they stopped growing.
    warning_causes: ClassVar[frozenset[str]] = frozenset({"no_progress"})

    def __init__(self, params: FileAgeParams, ctx: ProbeContext) -> None:
        self.params = params
        self.ctx = ctx

    async def check(self) -> Observation:
        files = await self.ctx.run_blocking(_scan, self.params.glob)
        if not files:
            return failed("no_files", f"no file matches {self.params.glob}",
                          hint=HINTS["no_files"])
        newest = files[-1]
        age = max(0.0, self.ctx.clock.time() - newest.mtime)
        values = {"age_seconds": round(age, 3), "size_bytes": float(newest.size),
                  "files": float(len(files))}
        details = {"newest": newest.path}
        problem = self._problem(files, age)
        if problem is None:
            return Observation(Status.OK, "ok", f"{newest.path} is {format_duration(age)} old",
                               values=values, details=details)
        cause, summary = problem
        return failed(cause, summary, hint=HINTS[cause], values=values, details=details)

    def _problem(self, files: list[Found], age: float) -> tuple[str, str] | None:
        newest, limit = files[-1], self.params.max_age
        if age > limit:
            return "stale", (f"newest backup {newest.path} is {format_duration(age)} old "
                             f"(max {format_duration(limit)})")
        if newest.size == 0:
            return "empty", f"newest backup {newest.path} is empty"
        n = self.params.no_progress_after
        if n is not None and len(files) >= n and newest.size <= files[-n].size:
            sizes = [f.size for f in files[-n:]]
            return "no_progress", f"the last {n} backups did not grow in size: {sizes}"
        return None

    async def aclose(self) -> None:
        return None
