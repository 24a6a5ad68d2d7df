"""`runbook-watchdog resolve ID --reason TEXT`: an operator closes an incident.

For an incident the daemon cannot see end (a probe that stays UNKNOWN, a symptom fixed by
hand that the probe does not cover). The incident is resolved in the state database at
once, journaled in its timeline with the reason; the daemon says "resolved" through its
channels on its next notification tick, or when it next starts
(watchdog/notification/resolutions.py).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

from watchdog.cli.state import existing_state
from watchdog.common.durations import format_duration
from watchdog.common.errors import UsageError
from watchdog.notification import resolutions
from watchdog.pipeline.incidents import IncidentBook
from watchdog.runtime.config import load_config

Handler = Callable[[argparse.Namespace, Path], int]


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser],
                common: argparse.ArgumentParser) -> dict[str, Handler]:
    resolve = sub.add_parser("resolve", parents=[common],
                             help="close an incident the daemon cannot see end (journaled; "
                                  "the daemon sends the resolved message)")
    resolve.add_argument("id", type=int)
    resolve.add_argument("--reason", required=True, help="why, for the incident's timeline")
    return {"resolve": cmd_resolve}


def cmd_resolve(args: argparse.Namespace, path: Path) -> int:
    if not args.reason.strip():
        raise UsageError("--reason: say why the incident is resolved")
    config = load_config(path)
    store = existing_state(config)
    found = resolutions.open_incident(IncidentBook(store), args.id)
    if isinstance(found, str):
        sys.stderr.write(f"runbook-watchdog: {found}\n")
        return 1
    resolutions.resolve(store, found, args.reason, time.time())
    print(f"incident #{found.id} ({found.probe}) resolved: {args.reason}; the daemon sends the "
          f"resolved message within {format_duration(config.notify.check_every)} (or when it "
          "next starts)")
    return 0
