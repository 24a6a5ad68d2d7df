"""Prometheus: the rules and their unit tests (promtool), the exposition (promtool check
metrics), a real Prometheus scraping the running daemon, and the Grafana dashboard."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.ops.conftest import refused_probe, tool
from tests.support import ROOT, Daemon, Process, free_port, port_open, wait_for

RULES = ROOT / "deploy" / "prometheus" / "rules.yml"
RULE_TESTS = ROOT / "deploy" / "prometheus" / "rules.test.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "runbook-watchdog.json"
NAME = re.compile(r"\brunbook_watchdog_[a-z_]+\b")


def promtool(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([tool("promtool"), *args], input=stdin, capture_output=True,
                          text=True, timeout=120, check=False, cwd=RULES.parent)


def alerts() -> list[dict[str, Any]]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def exported_names(exposition: str) -> set[str]:
    """Every series name the exposition can carry, from its TYPE lines (also unlabelled ones)."""
    names: set[str] = set()
    for line in exposition.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split()
            names.add(name)
            if kind == "histogram":
                names |= {f"{name}_bucket", f"{name}_sum", f"{name}_count"}
    return names


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    started = Daemon.from_config(tmp_path_factory.mktemp("prom") / "daemon",
                                  {"probes": {"backend-health": refused_probe()}})
    started.start()
    wait_for(lambda: started.status()["incidents"], 20, "an open incident")
    yield started
    started.stop()


def test_promtool_check_rules_accepts_the_rules() -> None:
    result = promtool("check", "rules", str(RULES))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(alerts())} rules found" in result.stdout


def test_promtool_unit_tests_of_the_rules_pass() -> None:
    result = promtool("test", "rules", str(RULE_TESTS))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_every_alert_has_a_unit_test_that_fires_it() -> None:
    fired = {case["alertname"] for test in yaml.safe_load(RULE_TESTS.read_text())["tests"]
             for case in test.get("alert_rule_test", []) if case.get("exp_alerts")}
    assert {rule["alert"] for rule in alerts()} == fired


def test_open_incidents_alert_per_severity_of_the_runbook() -> None:
    by_severity = {r["labels"].get("runbook_severity"): r["expr"] for r in alerts()}
    for level in ("sev1", "sev2", "sev3", "sev4"):
        assert f'runbook_watchdog_incidents_open{{severity="{level}"}}' in by_severity[level]


def test_promtool_check_metrics_finds_nothing_in_the_exposition(daemon: Daemon) -> None:
    exposition = httpx.get(daemon.url("/metrics"), timeout=5).text
    result = promtool("check", "metrics", stdin=exposition)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_rules_and_dashboard_use_only_exported_metric_names(daemon: Daemon) -> None:
    exported = exported_names(httpx.get(daemon.url("/metrics"), timeout=5).text)
    for source in (RULES, DASHBOARD):
        used = set(NAME.findall(source.read_text()))
        assert used - exported == set(), source.name
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    assert all(NAME.search(expr) for expr in exprs)
    covered = {name for expr in exprs for name in NAME.findall(expr)}
    for topic in ("probe_success", "incidents_open", "remediation_attempts_total",
                  "remediation_quarantined",
                  "scheduler_lateness_seconds_bucket"):
        assert f"runbook_watchdog_{topic}" in covered


class PrometheusServer:
    def __init__(self, tmp: Path, target_port: int) -> None:
        self.port = free_port()
        config = {"global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                  "rule_files": [str(RULES)],
                  "scrape_configs": [{"job_name": "runbook-watchdog", "static_configs": [
                      {"targets": [f"127.0.0.1:{target_port}"]}]}]}
        (tmp / "prometheus.yml").write_text(yaml.safe_dump(config))
        self.process = Process(
            [tool("prometheus"), f"--config.file={tmp / 'prometheus.yml'}",
             f"--storage.tsdb.path={tmp / 'data'}", f"--web.listen-address=127.0.0.1:{self.port}"],
            tmp / "prometheus.log")

    def api(self, path: str, **params: str) -> Any:
        response = httpx.get(f"http://127.0.0.1:{self.port}/api/v1/{path}", params=params,
                             timeout=5)
        response.raise_for_status()
        return response.json()["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.api("query", query=expr)["result"]
        return result


def test_a_real_prometheus_scrapes_the_daemon_and_evaluates_the_rules(
        daemon: Daemon, tmp_path: Path) -> None:
    server = PrometheusServer(tmp_path, daemon.port)
    server.process.start()
    try:
        wait_for(lambda: port_open(server.port), 30, "prometheus")
        [build] = wait_for(lambda: server.query("runbook_watchdog_build_info"), 60,
                           "the first scrape")
        assert build["metric"]["job"] == "runbook-watchdog"
        assert build["metric"]["instance"] == f"127.0.0.1:{daemon.port}"
        [sev2] = server.query('runbook_watchdog_incidents_open{severity="sev2"}')
        assert sev2["value"][1] == "1"
        assert server.query('runbook_watchdog_probe_success{probe="backend-health"}')[0][
            "value"][1] == "0"
        firing = wait_for(lambda: [a for a in server.api("alerts")["alerts"]
                                   if a["labels"]["alertname"] == "RunbookIncidentSev2"
                                   and a["state"] == "firing"], 60, "the sev2 alert")
        assert firing[0]["labels"]["runbook_severity"] == "sev2"
        groups = wait_for(lambda: [g for g in server.api("rules")["groups"]
                                   if all(r.get("lastEvaluation", "0001").startswith("20")
                                          for r in g["rules"])], 60, "rules evaluated")
        assert {r["health"] for g in groups for r in g["rules"]} == {"ok"}
    finally:
        server.process.stop()
