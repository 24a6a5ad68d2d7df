"""`runbook-watchdog report [--probe NAME] "text"`: a user report, filed by the running daemon.

The command posts to the daemon's own `POST /api/reports` (watchdog.listen) with the
bearer token read from `watchdog.reports.token_file`, so a report is filed exactly as a
bot's would be: the daemon attaches it, tells people and counts it toward escalation.
Whoever runs it must be able to read the token file. Exit 0 when filed; 3 when reports
are off, the token file cannot be read, the daemon is unreachable or refuses the report.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import httpx

from watchdog.cli.status import DaemonUnreachable, listener_url
from watchdog.common.errors import UsageError, WatchdogError, unknown_name
from watchdog.common.secrets import scrub
from watchdog.notification.reports import clean
from watchdog.runtime.config import load_config
from watchdog.runtime.config_models import ReportSettings


class ReportRefused(WatchdogError):
    """The daemon answered, but did not file the report (its reason is in the message)."""


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser],
                common: argparse.ArgumentParser) -> None:
    report = sub.add_parser("report", parents=[common],
                            help="file a user report with the running daemon")
    report.add_argument("text", help='what users report, e.g. "checkout fails"')
    report.add_argument("--probe", help="the probe whose incident it is about")
    report.add_argument("--url", help="the daemon's listener (default: watchdog.listen)")


def cmd_report(args: argparse.Namespace, path: Path) -> int:
    config = load_config(path)
    settings = config.watchdog.reports
    if settings is None:
        raise UsageError(f"user reports are off in {path}: set watchdog.reports.token_file")
    if args.probe is not None and args.probe not in config.probes:
        raise unknown_name("probe", args.probe, config.probes, path)
    text = clean(args.text)
    if not text or len(text) > settings.max_length:
        raise UsageError(f"the report must have 1 to {settings.max_length} characters")
    url = (args.url or listener_url(config.watchdog)).rstrip("/") + "/api/reports"
    reply = _post(url, _token(settings), {"text": text, "probe": args.probe})
    filed = reply.json()
    how = "opened" if filed.get("opened") else "attached to"
    print(f"report {how} incident #{filed['incident']} ({filed['probe']}, "
          f"{str(filed['severity']).upper()})")
    return 0


def _token(settings: ReportSettings) -> str:
    try:
        return settings.token_file.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise UsageError(f"cannot read watchdog.reports.token_file {settings.token_file}: "
                         f"{exc.strerror or exc}") from exc


def _post(url: str, token: str, body: dict[str, str | None]) -> httpx.Response:
    try:
        reply = httpx.post(url, json=body, headers={"Authorization": f"Bearer {token}"},
                           timeout=15.0, trust_env=False)
    except httpx.HTTPError as exc:
        raise DaemonUnreachable(f"cannot reach the daemon at {url}: {exc} (is it running?)") \
            from exc
    if reply.status_code != 201:
        raise ReportRefused(f"{url} refused the report ({reply.status_code}): "
                                f"{scrub(reply.text.strip())[:200]}")
    return reply
