"""`runbook-watchdog example-config`: print the config shipped inside the package.

It is the repository's config/watchdog.yaml, carried as package data
(watchdog/bundled/watchdog.yaml), so that an install from a wheel or `pip install .` has one
to start from: `runbook-watchdog example-config > /etc/runbook-watchdog/watchdog.yaml`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from importlib.resources import files
from pathlib import Path

Handler = Callable[[argparse.Namespace, Path], int]


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser],
                common: argparse.ArgumentParser) -> dict[str, Handler]:
    sub.add_parser("example-config", parents=[common],
                   help="print the bundled example config, to start one from")
    return {"example-config": cmd_example_config}


def example_config() -> str:
    return (files("watchdog") / "bundled" / "watchdog.yaml").read_text(encoding="utf-8")


def cmd_example_config(args: argparse.Namespace, path: Path) -> int:
    sys.stdout.write(example_config())
    return 0
