"""Both probe types through `runbook-watchdog check --format json`, and the token's hygiene."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.dns_sentry.conftest import TOKEN, SentryStandIn, issues
from tests.peers.dns_peer import DnsPeer
from tests.support import Daemon, cli, daemon_env, free_port, wait_for

WRONG = "sntrys_wrong-token-also-secret"


def write_config(tmp_path: Path, probes: dict[str, Any]) -> Path:
    path = tmp_path / "watchdog.yaml"
    path.write_text(yaml.safe_dump({"watchdog": {"state_dir": str(tmp_path / "state")},
                                    "probes": probes}))
    return path


def mail(dns_peer: DnsPeer, domain: str, **extra: Any) -> dict[str, Any]:
    return {"type": "mail_dns", "domain": domain, "dkim_selectors": ["s1"],
            "resolver": dns_peer.address, "interval": "1h", "timeout": "2s", **extra}


def sentry_probe(sentry: SentryStandIn, token: str = "${SENTRY_TOKEN}",
                 **extra: Any) -> dict[str, Any]:
    return {"type": "sentry", **sentry.params(), "token": token, "interval": "1m",
            "timeout": "3s", **extra}


def check(config: Path, *extra: str) -> tuple[list[dict[str, Any]], str, int]:
    env = daemon_env(SENTRY_TOKEN=TOKEN, SENTRY_WRONG_TOKEN=WRONG)
    result = cli("check", "--config", str(config), "--format", "json", *extra, env=env)
    rows = json.loads(result.stdout) if result.stdout.strip() else []
    return rows, result.stdout + result.stderr, result.returncode


def by_probe(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {row["probe"]: row for row in rows}


def test_every_mail_dns_cause_through_check_json(tmp_path: Path, dns_peer: DnsPeer) -> None:
    domains = {"good": "good.test", "nodkim": "nodkim.test", "twospf": "twospf.test",
               "bare": "bare.test", "gone": "missing.test", "slow": "slow.test"}
    config = write_config(tmp_path, {name: mail(dns_peer, d) for name, d in domains.items()})
    rows, _, code = check(config)
    got = {name: (row["status"], row["cause"]) for name, row in by_probe(rows).items()}
    assert got == {"good": ("ok", "ok"), "nodkim": ("failed", "dkim_missing"),
                   "twospf": ("failed", "spf_invalid"), "bare": ("failed", "spf_missing"),
                   "gone": ("failed", "dns_error"), "slow": ("failed", "timeout")}
    bare = by_probe(rows)["bare"]
    assert [p["cause"] for p in bare["details"]["problems"]] == \
        ["spf_missing", "dmarc_missing", "dkim_missing"]
    # Sev3 and runbook 3.5 by default: the check's exit code is a warning, not critical.
    assert {row["severity"] for row in rows if row["status"] == "failed"} == {"sev3"}
    assert {row["runbook"] for row in rows} == {"3.5"}
    assert all("3.5" in row["hint"] for row in rows if row["status"] == "failed")
    assert code == 1


def test_mail_dns_severity_can_still_be_set(tmp_path: Path, dns_peer: DnsPeer) -> None:
    config = write_config(tmp_path, {"m": mail(dns_peer, "nodkim.test", severity="sev2")})
    rows, _, code = check(config)
    assert (rows[0]["severity"], code) == ("sev2", 2)


def test_every_sentry_cause_through_check_json(tmp_path: Path, sentry: SentryStandIn) -> None:
    sentry.set(issues=issues(4), events=[[60, 800]])
    config = write_config(tmp_path, {
        "spike": sentry_probe(sentry, new_issues=3, events=None),
        "volume": sentry_probe(sentry, new_issues=10, events=500),
        "quiet": sentry_probe(sentry, new_issues=10, events=1000),
        "badtoken": sentry_probe(sentry, token="${SENTRY_WRONG_TOKEN}"),
        "noproject": sentry_probe(sentry, project="nope"),
    })
    rows, output, code = check(config)
    got = {name: (row["status"], row["cause"]) for name, row in by_probe(rows).items()}
    assert got == {"spike": ("failed", "new_issue_spike"), "volume": ("failed", "error_spike"),
                   "quiet": ("ok", "ok"), "badtoken": ("failed", "unauthorized"),
                   "noproject": ("failed", "bad_status")}
    spike = by_probe(rows)["spike"]
    assert spike["severity"] == "sev2" and spike["runbook"] == "2"
    assert spike["details"]["top_new_issues"][0]["title"] == "TypeError: thing 4 is undefined"
    assert by_probe(rows)["volume"]["values"]["events"] == 800
    assert code == 2
    assert TOKEN not in output and WRONG not in output


def test_the_token_is_in_no_output_even_with_debug_logs(tmp_path: Path,
                                                         sentry: SentryStandIn) -> None:
    sentry.set(issues=issues(4), rate_limited=1, retry_after="1")
    config = write_config(tmp_path, {
        "ok-token": sentry_probe(sentry), "wrong-token": sentry_probe(
            sentry, token="${SENTRY_WRONG_TOKEN}")})
    for log_format in ("text", "json"):
        rows, output, _ = check(config, "--log-level", "DEBUG", "--log-format", log_format)
        assert {row["cause"] for row in rows} == {"new_issue_spike", "unauthorized"}
        assert TOKEN not in output and WRONG not in output
    assert any(r["authorized"] for r in sentry.requests())  # it was sent, just never shown


def test_both_probe_types_in_one_check(tmp_path: Path, dns_peer: DnsPeer,
                                        sentry: SentryStandIn) -> None:
    sentry.set(issues=issues(1))
    config = write_config(tmp_path, {"mail": mail(dns_peer, "good.test"),
                                     "sentry": sentry_probe(sentry)})
    rows, output, code = check(config)
    assert [(r["probe"], r["type"], r["status"]) for r in rows] == \
        [("mail", "mail_dns", "ok"), ("sentry", "sentry", "ok")]
    assert code == 0 and TOKEN not in output


def test_the_bundled_config_validates_with_both_probes() -> None:
    root = Path(__file__).resolve().parents[2]
    text = (root / "config" / "watchdog.yaml").read_text()
    assert "type: mail_dns" in text and "#   type: sentry" in text
    result = cli("validate", "--config", str(root / "config" / "watchdog.yaml"))
    assert result.returncode == 0, result.stderr


def test_the_commented_sentry_probe_validates_once_uncommented(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[2]
    lines = (root / "config" / "watchdog.yaml").read_text().splitlines()
    start = lines.index("  # sentry:")
    end = start + 1
    while lines[end].startswith("  #   "):
        end += 1
    block = [line.replace("  # ", "  ", 1) for line in lines[start:end]]
    config = tmp_path / "watchdog.yaml"
    config.write_text("\n".join([*lines[:start], *block, *lines[end:]]) + "\n")
    env = daemon_env(SENTRY_AUTH_TOKEN=TOKEN)
    bundled = cli("validate", "--config", str(root / "config" / "watchdog.yaml"), env=env)
    before = int(bundled.stdout.split("(")[1].split()[0])
    result = cli("validate", "--config", str(config), env=env)
    assert result.returncode == 0, result.stderr
    assert f"({before + 1} probes" in result.stdout
    without = cli("validate", "--config", str(config), env=daemon_env())
    assert without.returncode == 1
    assert "probes.sentry.token" in without.stderr


def test_the_daemon_shows_the_token_nowhere(tmp_path: Path, sentry: SentryStandIn) -> None:
    """Logs, /api/status, /metrics and the state database, with an incident open."""
    sentry.set(issues=issues(4))
    port = free_port()
    config = write_config(tmp_path, {
        "sentry": sentry_probe(sentry, interval="1s", timeout="900ms", fail_after=1),
        "wrong": sentry_probe(sentry, token="${SENTRY_WRONG_TOKEN}", interval="1s",
                              timeout="900ms", fail_after=1)})
    text = config.read_text().replace("watchdog:\n", f"watchdog:\n  listen: 127.0.0.1:{port}\n"
                                      "  spread: 0s\n")
    config.write_text(text)
    daemon = Daemon(config, port, tmp_path / "daemon.log", args=("--log-level", "DEBUG"))
    try:
        daemon.start(SENTRY_TOKEN=TOKEN, SENTRY_WRONG_TOKEN=WRONG)
        status = wait_for(lambda: _opened(daemon), timeout=20, what="both incidents open")
        metrics = httpx.get(daemon.url("/metrics")).text
    finally:
        daemon.stop()
    causes = {p["probe"]: p["cause"] for p in status["probes"]}
    assert causes == {"sentry": "new_issue_spike", "wrong": "unauthorized"}
    assert "unauthorized" in daemon.output()  # the log did record the findings
    state = (tmp_path / "state" / "state.db").read_bytes()
    for output in (json.dumps(status), metrics, daemon.output(), state.decode("latin-1")):
        assert TOKEN not in output and WRONG not in output


def _opened(daemon: Daemon) -> dict[str, Any] | None:
    status = daemon.status()
    return status if len(status["incidents"]) == 2 else None
