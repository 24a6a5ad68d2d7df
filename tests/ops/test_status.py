"""`runbook-watchdog status` and the status page at `/`, against a running daemon."""

from __future__ import annotations

import asyncio
import json
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest

from tests.ops.conftest import chromium, refused_probe
from tests.remediation_world import DOWN, World, make_world
from tests.support import ROOT, Daemon, HttpPeer, cli, free_port, wait_for
from watchdog.runtime.statusview import render_html, render_table

ARTIFACTS = ROOT / "tests" / "artifacts"
NOW = 1_800_000_000.0
DOC = {
    "probes": [
        {"probe": "backend-health", "type": "http", "status": "failed", "severity": "sev1",
         "cause": "refused", "summary": "connection refused", "last_change": NOW - 180},
        {"probe": "redis", "type": "redis", "status": None, "summary": "not run yet"},
    ],
    "incidents": [{"id": 7, "probe": "backend-health", "severity": "sev1", "cause": "refused",
                   "summary": "<script>alert(1)</script>", "runbook": "3.1",
                   "opened_at": NOW - 120}],
    "lease": {"mode": "redis", "held": False, "holder": "host-b:42", "error": None},
    "remediations": [{"name": "restart-backend", "mode": "auto", "budget_left": 2,
                      "quarantined": True}],
}


def test_the_table_shows_probes_incidents_remediations_and_the_lease() -> None:
    text = render_table(DOC, now=NOW)
    lines = text.splitlines()
    assert lines[0] == "PROBES"
    assert lines[1].split() == ["PROBE", "TYPE", "STATUS", "SEVERITY", "SINCE", "CAUSE",
                                "SUMMARY"]
    assert lines[2].split()[:4] == ["backend-health", "http", "failed", "sev1"]
    assert "(3m ago)  refused  connection refused" in lines[2]
    assert lines[3].split()[:3] == ["redis", "redis", "pending"]
    assert "OPEN INCIDENTS (1)" in lines
    assert any(line.startswith("#7  sev1      backend-health") for line in lines)
    assert "restart-backend  auto  2            yes" in text
    assert lines[-1] == "LEASE: held by host-b:42 (this replica is in dry-run)"


def test_the_page_escapes_what_it_shows_and_loads_nothing() -> None:
    page = render_html(DOC, now=NOW)
    assert "<script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "src=" not in page and "href=" not in page and "@import" not in page


class Dom(HTMLParser):
    """Rows of every table in a DOM dump: {table id: [{column: text}]}."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[dict[str, str]]] = {}
        self.ids: set[str] = set()
        self._table = ""
        self._col: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if a.get("id"):
            self.ids.add(str(a["id"]))
        if tag == "table":
            self._table = str(a.get("id"))
            self.tables[self._table] = []
        elif tag == "tr" and any(k.startswith("data-") for k in a):
            self.tables[self._table].append({})
        elif tag == "td":
            self._col = a.get("data-col")
            if self._col and self.tables[self._table]:
                self.tables[self._table][-1][self._col] = ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "td":
            self._col = None

    def handle_data(self, data: str) -> None:
        if self._col and self.tables.get(self._table):
            self.tables[self._table][-1][self._col] += data


@pytest.fixture
def running(tmp_path: Path, http_peer: HttpPeer, daemons: list[Daemon]) -> Daemon:
    probes = {"backend-health": refused_probe(severity="sev1"),
              "payments-api": {"type": "http", "url": http_peer.url(), "interval": "500ms",
                               "timeout": "300ms", "runbook": "3.4"}}
    daemon = Daemon.from_config(tmp_path / "daemon", {"probes": probes})
    daemons.append(daemon)
    daemon.start()
    wait_for(lambda: daemon.status()["incidents"] and all(
        p["status"] for p in daemon.status()["probes"]), 20, "both probes run, an incident")
    return daemon


def test_status_prints_the_running_daemons_table(running: Daemon) -> None:
    result = cli("status", "--config", str(running.config))
    assert result.returncode == 0, result.stderr
    rows = {line.split()[0]: line.split() for line in result.stdout.splitlines() if line}
    assert rows["backend-health"][1:4] == ["http", "failed", "sev1"]
    assert rows["payments-api"][1:3] == ["http", "ok"]
    assert any(line.startswith("#1  sev1") and "backend-health" in line
               for line in result.stdout.splitlines())
    assert "LEASE: single replica: this watchdog acts" in result.stdout
    as_json = json.loads(cli("status", "--url", running.url(), "--format", "json").stdout)
    assert [p["probe"] for p in as_json["probes"]] == ["backend-health", "payments-api"]


def test_status_without_a_daemon_says_so_and_exits_3() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    result = cli("status", "--url", url)
    assert result.returncode == 3
    assert f"cannot reach the daemon at {url}/api/status" in result.stderr


def test_the_page_is_served_read_only_and_self_contained(running: Daemon) -> None:
    response = httpx.get(running.url("/"), timeout=5)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["content-security-policy"].startswith("default-src 'none'")
    assert httpx.post(running.url("/"), timeout=5).status_code == 501  # read-only


def browse(*args: str, profile: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [chromium(), "--headless", "--no-sandbox", "--disable-gpu",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--no-first-run", f"--user-data-dir={profile}", *args],
        capture_output=True, text=True, timeout=120, check=False)


def test_headless_chromium_renders_the_probes_and_the_incident(running: Daemon,
                                                              tmp_path: Path) -> None:
    dump = browse("--dump-dom", running.url("/"), profile=tmp_path / "profile")
    assert dump.returncode == 0, dump.stderr[-2000:]
    dom = Dom()
    dom.feed(dump.stdout)
    probes = {row["probe"]: row for row in dom.tables["probes"]}
    assert (probes["backend-health"]["status"], probes["backend-health"]["cause"]) == \
        ("failed", "refused")
    assert probes["payments-api"]["status"] == "ok"
    [incident] = dom.tables["incidents"]
    assert (incident["probe"], incident["severity"], incident["runbook"]) == \
        ("backend-health", "sev1", "3.1")

    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "status-page.png"
    shot.unlink(missing_ok=True)
    taken = browse(f"--screenshot={shot}", "--window-size=1280,800", running.url("/"),
                   profile=tmp_path / "profile")
    assert taken.returncode == 0, taken.stderr[-2000:]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_budgets_and_quarantines_come_from_the_remediation_stage(tmp_path: Path) -> None:

    async def go() -> World:
        world = make_world(tmp_path)
        for _ in range(2):
            await world.observe("backend", DOWN)
        return world

    world = asyncio.run(go())
    [row] = world.remediator.status()
    assert (row["remediation"], row["mode"], row["quarantined"], row["last"]) == \
        ("restart-backend", "auto", False, "succeeded")
    assert row["budget"] == "1/3"  # one real attempt of the default budget of 3
    text = render_table({"probes": [], "incidents": [], "remediations": [row]})
    assert "REMEDIATION      MODE  TARGET" in text
    assert "restart-backend  auto" in text
