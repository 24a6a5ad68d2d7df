"""`runbook-watchdog unit-drop-in`, and the sandbox check of `validate`.

`unit-drop-in` prints the systemd drop-in that grants what the enabled remediations need
(watchdog/remediation/sandbox.py); scripts/install.sh writes it to
/etc/systemd/system/runbook-watchdog.service.d/50-remediations.conf. `validate` reads the
installed unit and its drop-ins and warns about every need they do not grant.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from watchdog.remediation.sandbox import (
    INSTALLED_UNIT,
    missing,
    needs_of,
    owned_dirs,
    read_unit,
    render_drop_in,
    warning,
)
from watchdog.runtime.config import Config, load_config


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser],
                common: argparse.ArgumentParser) -> None:
    drop_in = sub.add_parser(
        "unit-drop-in", parents=[common],
        help="print the systemd drop-in granting what the enabled remediations need")
    drop_in.add_argument("--owned-dirs", action="store_true",
                         help="print instead the directories the watchdog owns (evidence), "
                              "one a line, for the installer to create")


def add_unit_option(validate: argparse.ArgumentParser) -> None:
    validate.add_argument("--unit", type=Path, default=INSTALLED_UNIT,
                          help=f"the installed unit whose grants are checked, with its "
                               f"UNIT.d/*.conf drop-ins (default: {INSTALLED_UNIT})")


def cmd_unit_drop_in(args: argparse.Namespace, path: Path) -> int:
    config = load_config(path)
    needs = needs_of(config)
    if args.owned_dirs:
        for directory in owned_dirs(needs):
            print(directory)
        return 0
    sys.stdout.write(render_drop_in(config, needs, exe()))
    return 0


def sandbox_warnings(config: Config, unit: Path) -> list[str]:
    """One line per need the installed unit does not grant; a note when there is no unit."""
    if not unit.is_file():
        return [f"note: no unit at {unit}: the service's sandbox was not checked (--unit)"]
    grants = read_unit(unit)
    return [warning(need, unit, config.path, exe())
            for need in missing(needs_of(config), grants)]


def exe() -> str:
    """This command as typed to reach it again (the venv's script is not on PATH)."""
    argv0 = sys.argv[0] if sys.argv and sys.argv[0] else "runbook-watchdog"
    return str(Path(argv0).absolute()) if "/" in argv0 else argv0


def cmd_validate(args: argparse.Namespace, path: Path) -> int:
    config = load_config(path)
    print(f"{path}: valid ({len(config.probes)} probes, {len(config.remediations)} remediations)")
    for line in sandbox_warnings(config, args.unit):
        print(line, file=sys.stderr if line.startswith("warning") else sys.stdout)
    return 0
