"""Command line: the daemon (`run`) and every operator command, one subparser each.

One exit-code table for every command (README "Exit codes"); `check`'s follow the Nagios
plugin convention: 0 all ok, 1 the worst finding is in the lower half of the severity
matrix (Sev3/Sev4), 2 in the upper half (Sev1/Sev2), 3 unknown (a probe could not tell).
Every command: 1 for "not found in the state" (an incident or silence id, an incident
`resolve` finds already resolved), for `validate` on a bad config and for a remediation or
a `notify-test` channel that did not succeed; 3 for a usage error (argparse's, an unknown
name, a bad value: UsageError), a config error, an unusable state or an unreachable daemon.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

from watchdog import __version__
from watchdog.cli.state import existing_state
from watchdog.common.clock import SystemClock
from watchdog.common.errors import ConfigError, ConfigMissing, WatchdogError, unknown_name
from watchdog.common.secrets import SCRUBBER, scrub
from watchdog.common.state import StateStore
from watchdog.notification.store import parents
from watchdog.pipeline.classifier import instant_severity
from watchdog.pipeline.engine import observation_json, policy_for
from watchdog.pipeline.incidents import Incident, IncidentBook
from watchdog.pipeline.observation import Observation, Status
from watchdog.pipeline.probe import ProbeRegistry, Resources
from watchdog.pipeline.scheduler import gather_once
from watchdog.runtime.config import (
    DEFAULT_PATHS,
    ENV_CONFIG,
    Config,
    default_config_path,
    load_config,
)
from watchdog.runtime.logsetup import setup_logging

OK, WARNING, CRITICAL, UNKNOWN = 0, 1, 2, 3
DESCRIPTION = "Watch the services the runbook covers: probes, incident tracking,\n" \
    "notifications and guarded remediation. Each command below has its own --help."
EPILOG = """\
the config file: --config PATH, else $RUNBOOK_WATCHDOG_CONFIG, else
  /etc/runbook-watchdog/watchdog.yaml, else ./config/watchdog.yaml (relative to the current
  directory). `runbook-watchdog example-config` prints the bundled example.

exit codes (every command; README "Exit codes"): 0 ok; 1 a negative answer: not found in
  the state (an incident or silence id), `validate` on a bad config, a remediation or a
  notify-test channel that did not succeed; 3 a usage error, a config error, an unusable
  state or an unreachable daemon. `check` follows the Nagios plugin convention: 0 ok,
  1 warning (Sev3/Sev4), 2 critical (Sev1/Sev2), 3 unknown.
"""
# Commands in modules of their own (watchdog/cli/NAME.py, `add_parsers(sub, common)`, handler
# `cmd_<command>`): loaded only when one of theirs runs, so the daemon (`run`) never imports
# them. command -> (module, its line in --help; the module registers the same text).
LAZY: dict[str, tuple[str, str]] = {
    "unit-drop-in": ("sandbox", "print the systemd drop-in granting what the enabled "
                                "remediations need"),
    "undo": ("undo", "undo an executed remediation by its action id"),
    "report": ("report", "file a user report with the running daemon"),
    "ack": ("notification", "acknowledge an incident (no reminders)"),
    "silence": ("notification", "hold notifications for a while"),
    "postmortem": ("notification", "print an incident's post-mortem draft"),
    "blocks": ("blocks", "addresses block_ip blocks (nftables), with the time left"),
    "example-config": ("example", "print the bundled example config, to start one from"),
    "notify-test": ("notify_test", "send a test message through each configured channel "
                                   "(or one)"),
    "resolve": ("resolve", "close an incident the daemon cannot see end (journaled; "
                           "the daemon sends the resolved message)"),
}


def _cli_module(name: str) -> ModuleType:
    return importlib.import_module(f"watchdog.cli.{name}")


def _add_lazy(sub: argparse._SubParsersAction[argparse.ArgumentParser],
              common: argparse.ArgumentParser, chosen: str | None,
              commands: Sequence[str]) -> None:
    """The chosen command's module registers its parsers; every other command is a name
    and its help line (its arguments are never parsed in this process)."""
    for command in commands:
        module, help_line = LAZY[command]
        if module != chosen:
            sub.add_parser(command, help=help_line, add_help=False)
        elif command == next(c for c in commands if LAZY[c][0] == module):
            _cli_module(module).add_parsers(sub, common)


def _chosen_module(argv: Sequence[str]) -> str | None:
    command = next((arg for arg in argv if not arg.startswith("-")), None)
    return LAZY[command][0] if command in LAZY else "sandbox" if command == "validate" \
        else None


def parser(argv: Sequence[str] = ()) -> argparse.ArgumentParser:
    """The command line; `argv` says which command's module to load (--help lists all)."""
    chosen = _chosen_module(argv)
    top = argparse.ArgumentParser(prog="runbook-watchdog", description=DESCRIPTION,
                                  epilog=EPILOG,
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
    top.add_argument("--version", action="version", version=f"runbook-watchdog {__version__}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", type=Path, help="config file (default: "
                        "$RUNBOOK_WATCHDOG_CONFIG, else /etc/runbook-watchdog/watchdog.yaml, "
                        "else ./config/watchdog.yaml in the current directory)")
    common.add_argument("--log-format", choices=("text", "json"), default="text")
    common.add_argument("--log-level", default="INFO")
    sub = top.add_subparsers(dest="command", required=True)
    sub.add_parser("run", parents=[common], help="run the daemon")
    check = sub.add_parser("check", parents=[common], help="run the probes once, Nagios-style")
    check.add_argument("--probe", help="only this probe")
    check.add_argument("--format", choices=("text", "json"), default="text")
    validate = sub.add_parser("validate", parents=[common],
                              help="validate the config (and the unit's sandbox) and exit")
    if chosen == "sandbox":
        _cli_module("sandbox").add_unit_option(validate)
    _add_lazy(sub, common, chosen, ("unit-drop-in", "undo", "report"))
    incidents = sub.add_parser("incidents", parents=[common], help="list incidents")
    incidents.add_argument("--all", action="store_true", help="resolved ones too")
    incidents.add_argument("--format", choices=("text", "json"), default="text")
    rems = sub.add_parser("remediations", parents=[common],
                          help="each remediation: mode, budget left, quarantine, last outcome")
    rems.add_argument("--format", choices=("text", "json"), default="text")
    reset = sub.add_parser("reset", parents=[common], help="lift a target's quarantine")
    reset.add_argument("target")
    remediate = sub.add_parser("remediate", parents=[common],
                               help="run a remediation now, through the same policy")
    remediate.add_argument("name")
    how = remediate.add_mutually_exclusive_group(required=True)
    how.add_argument("--dry-run", action="store_true")
    how.add_argument("--execute", action="store_true")
    status = sub.add_parser("status", parents=[common],
                            help="the running daemon's probes, incidents and lease")
    status.add_argument("--url", help="the daemon's listener (default: watchdog.listen)")
    status.add_argument("--format", choices=("text", "json"), default="text")
    _add_lazy(sub, common, chosen,
              ("ack", "silence", "postmortem", "blocks", "example-config", "notify-test",
               "resolve"))
    return top


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        args = parser(argv).parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on usage errors; Nagios wants 3
        return UNKNOWN if exc.code not in (0, None) else OK
    setup_logging(args.log_format, args.log_level)
    path = args.config or default_config_path()
    handler = _handler(args.command)
    try:
        return int(handler(args, path))
    except ConfigMissing as exc:
        how = "" if args.config else f" (from ${ENV_CONFIG})" if os.environ.get(ENV_CONFIG) \
            else f" (no --config, ${ENV_CONFIG} unset, {DEFAULT_PATHS[0]} absent; " \
            "`runbook-watchdog example-config` prints a config to start from)"
        sys.stderr.write(f"runbook-watchdog: the config file {exc.path} does not exist{how}\n")
        return UNKNOWN if args.command != "validate" else 1
    except ConfigError as exc:
        _error_lines(exc.problems)
        return UNKNOWN if args.command != "validate" else 1
    except WatchdogError as exc:
        sys.stderr.write(f"runbook-watchdog: {scrub(str(exc))}\n")
        return UNKNOWN


def _handler(command: str) -> Callable[[argparse.Namespace, Path], int]:
    own = {"run": cmd_run, "check": cmd_check, "incidents": cmd_incidents,
           "remediations": cmd_remediations, "reset": cmd_reset, "remediate": cmd_remediate,
           "status": cmd_status}
    if command in own:
        return own[command]
    module = _cli_module(LAZY[command][0] if command in LAZY else "sandbox")  # validate
    handler: Callable[[argparse.Namespace, Path], int] = \
        getattr(module, "cmd_" + command.replace("-", "_"))
    return handler


def _error_lines(problems: Sequence[object]) -> None:
    count = f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"
    sys.stderr.write(f"runbook-watchdog: the config is invalid ({count}):\n")
    for problem in problems:
        sys.stderr.write(f"  {problem}\n")


def cmd_run(args: argparse.Namespace, path: Path) -> int:
    from watchdog.runtime.daemon import run_daemon

    return run_daemon(path)


def cmd_check(args: argparse.Namespace, path: Path) -> int:
    config = load_config(path)
    if args.probe is not None and args.probe not in config.probes:
        raise unknown_name("probe", args.probe, config.probes, path)
    SCRUBBER.register(config.secrets)
    rows = asyncio.run(_check(config, args.probe))
    if args.format == "json":
        print(json.dumps(rows, indent=2))
    else:
        for row in rows:
            print(_check_line(row))
    return exit_code(config, rows)


async def _check(config: Config, only: str | None) -> list[dict[str, Any]]:
    from watchdog.runtime.daemon import build_jobs, close_jobs

    # `check` never needs a writable state directory: probes get an in-memory store.
    resources = Resources(config.watchdog, StateStore(":memory:"), SystemClock())
    jobs = build_jobs(config, resources, ProbeRegistry.from_entry_points(), only)
    try:
        observations = await gather_once(jobs, resources.clock, config.watchdog.deadline_grace,
                                         config.watchdog.max_in_flight)
    finally:
        await close_jobs(jobs)
        await resources.aclose()
    return [_row(config, job.name, obs) for job, obs in zip(jobs, observations, strict=True)]


def _row(config: Config, name: str, obs: Observation) -> dict[str, Any]:
    spec = config.probes[name]
    severity = instant_severity(policy_for(spec, config), obs)
    row = {"probe": name, "type": spec.type, **observation_json(obs), "severity": severity,
           "runbook": spec.common.runbook}
    row["hint"] = obs.hint or spec.common.hint
    return row


def _check_line(row: dict[str, Any]) -> str:
    sev = f" {row['severity'].upper()}" if row["severity"] else ""
    return f"{row['status'].upper():7}{sev} {row['probe']}: {row['cause']}: {row['summary']}"


def exit_code(config: Config, rows: list[dict[str, Any]]) -> int:
    if any(r["status"] == Status.UNKNOWN.label for r in rows):
        return UNKNOWN
    ranks = [config.severity.rank(r["severity"]) for r in rows if r["severity"]]
    if not ranks:
        return OK
    return CRITICAL if min(ranks) < 2 else WARNING


def cmd_incidents(args: argparse.Namespace, path: Path) -> int:
    store = existing_state(load_config(path), readonly=True)
    book = IncidentBook(store)
    items = book.all_incidents() if args.all else book.open_incidents()
    links = parents(store, history=True)
    if args.format == "json":
        print(json.dumps([{**i.to_dict(), "attached_to": links.get(i.id)} for i in items],
                         indent=2))
    else:
        for incident in items:
            print(_incident_line(incident, links.get(incident.id)))
        if not items:
            print("no open incidents" if not args.all else "no incidents")
    return 0


def cmd_status(args: argparse.Namespace, path: Path) -> int:
    from watchdog.cli.status import client_options, fetch_status, listener_url
    from watchdog.runtime.statusview import render_table

    config = load_config(path)
    status = fetch_status(args.url or listener_url(config.watchdog, config.web),
                          **client_options(config.web, os.environ))
    print(json.dumps(status, indent=2) if args.format == "json" else render_table(status),
          end="" if args.format == "text" else "\n")
    return 0


def _incident_line(i: Incident, parent: int | None = None) -> str:
    opened = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(i.opened_at))
    state = i.status if i.resolved_at is None else f"resolved after {i.duration or 0:.0f}s"
    runbook = f" [runbook {i.runbook}]" if i.runbook else ""
    if parent is not None:
        runbook += f" (symptom, attached to #{parent})"
    return f"#{i.id} {i.severity.upper()} {i.probe} {i.cause} since {opened} ({state}): " \
           f"{scrub(i.summary)}{runbook}"


def cmd_remediations(args: argparse.Namespace, path: Path) -> int:
    from watchdog.cli.remediation import remediation_line, remediation_rows

    rows = remediation_rows(load_config(path))
    if args.format == "json":
        print(json.dumps(rows, indent=2))
        return 0
    for r in rows:
        print(remediation_line(r))
    return 0


def cmd_reset(args: argparse.Namespace, path: Path) -> int:
    from watchdog.cli.remediation import reset_target

    lifted = reset_target(load_config(path), args.target, path)
    print(f"{args.target}: quarantine lifted, budget refilled" if lifted
          else f"{args.target}: was not quarantined; budget refilled")
    return 0


def cmd_remediate(args: argparse.Namespace, path: Path) -> int:
    from watchdog.cli.remediation import remediate

    config = load_config(path)
    if args.name not in config.remediations:
        raise unknown_name("remediation", args.name, config.remediations, path)
    if config.remediations[args.name].common.mode == "off":
        sys.stderr.write(f"runbook-watchdog: remediation '{args.name}' is off in {path}: set "
                         f"`mode: dry-run` (or auto) under remediations.{args.name} to run "
                         "it\n")
        return 1
    SCRUBBER.register(config.secrets)
    outcome = asyncio.run(remediate(config, args.name, execute=args.execute))
    print(f"{args.name}: {outcome}")
    return 0 if outcome.startswith(("succeeded", "would")) else 1
