"""Run the benchmarks: `python -m bench.run all` (about 30 min, at most 35, after waiting up
to 5 min for a quiet machine), `python -m bench.run B3` (one), `python -m bench.run docs`.

Each benchmark runs in a fresh process. `all` first waits (bounded, 5 min) for the 1-minute
load average to fall below 0.5 and records what it found, runs B4 (10 minutes idle) in the
background beside the others, then B5 last at full length (1,000,000 probes, about 12 min
on a quiet machine, 18 at most), then writes docs/benchmarks.md from the figures.
"""

from __future__ import annotations

import datetime
import os
import subprocess
import sys
import time

from bench.common import RESULTS, ROOT, load1, wait_quiet

MODULES = {"B1": "b1_throughput", "B2": "b2_schedule", "B3": "b3_detection",
           "B4": "b4_idle", "B5": "b5_soak", "B6": "b6_metrics", "B7": "b7_hung_docker",
           "B8": "b8_load_steps"}
QUIET = 0.5  # issue 16: the suite starts at a 1-minute load average below this
QUIET_WAIT = 5 * 60.0
LIMIT = 45 * 60.0  # no single benchmark runs longer than this


def argv(name: str) -> list[str]:
    return [sys.executable, "-m", f"bench.{MODULES[name]}"]


def env(**extra: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), **extra}


def one(name: str, **extra: str) -> int:
    print(f"== {name} (load {load1():.2f})", flush=True)
    return subprocess.run(argv(name), env=env(**extra), cwd=ROOT, timeout=LIMIT,
                          check=False).returncode


def run_all() -> int:
    waiting = time.monotonic()
    quiet = wait_quiet(below=QUIET, limit=QUIET_WAIT)
    suite = {"load": quiet, "quiet_below": QUIET, "waited": time.monotonic() - waiting,
             "at": f"{datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC"}
    print(f"starting the suite at load {quiet:.2f} (wanted < {QUIET:g})", flush=True)
    for old in RESULTS.glob("*"):
        old.unlink()
    started = time.monotonic()
    idle = subprocess.Popen(argv("B4"), env=env(), cwd=ROOT)
    codes = [one(name) for name in ("B1", "B2", "B3", "B6", "B7", "B8", "B5")]
    codes.append(idle.wait(timeout=LIMIT))
    from bench.docs import write

    write({**suite, "seconds": time.monotonic() - started})
    print(f"suite done in {time.monotonic() - started:.0f} s; docs/benchmarks.md written")
    return max(codes)


def main() -> int:
    which = sys.argv[1] if len(sys.argv) > 1 else "all"
    if which == "all":
        return run_all()
    if which == "docs":
        from bench.docs import write

        write()
        return 0
    return one(which.upper())


if __name__ == "__main__":
    sys.exit(main())
