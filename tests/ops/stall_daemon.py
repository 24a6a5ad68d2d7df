"""Test-only launcher: the real daemon plus a `stall` probe type that blocks the event loop.

`python stall_daemon.py CONFIG` runs `watchdog.runtime.daemon.Daemon` exactly as `runbook-watchdog
run` does, except that the probe registry has one more type, injected here rather than
declared by an entry point, so production code carries no test hook. When its trigger
file appears, a `stall` probe blocks the whole event loop with a synchronous sleep (a
stand-in for a CPU-bound or blocking bug) and writes when the stall began and ended on
the monotonic clock, which the test shares with this process.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from typing import ClassVar

from watchdog.pipeline.observation import Observation, ok
from watchdog.pipeline.probe import ProbeContext, ProbeParams, ProbeRegistry
from watchdog.runtime.config import load_config
from watchdog.runtime.daemon import Daemon
from watchdog.runtime.logsetup import setup_logging


class StallParams(ProbeParams):
    trigger: Path
    record: Path
    seconds: float = 2.0


class StallProbe:
    Params: ClassVar[type[StallParams]] = StallParams
    causes: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, params: StallParams, ctx: ProbeContext) -> None:
        self.params = params

    async def check(self) -> Observation:
        if self.params.trigger.exists():
            self.params.trigger.unlink()
            started = time.monotonic()
            time.sleep(self.params.seconds)  # blocks the event loop, on purpose
            self.params.record.write_text(f"{started} {time.monotonic()}\n")
        return ok("not stalling")

    async def aclose(self) -> None:
        return None


def main(path: str) -> int:
    setup_logging("text", "INFO")
    types = ProbeRegistry.from_entry_points()
    types.register("stall", StallProbe)
    config = load_config(Path(path), probes=types)
    return asyncio.run(Daemon(config, probe_types=types).run())


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
