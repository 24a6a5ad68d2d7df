"""The exporter-toolkit web config (watchdog.web_config_file): a real Prometheus scrapes
over TLS with basic auth; wrong credentials and plain HTTP are refused; `validate` checks the
file (issue 18 item 9)."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import bcrypt
import httpx
import pytest
import trustme
import yaml

from tests.ops.conftest import refused_probe, tool
from tests.support import Daemon, Process, cli, daemon_env, free_port, port_open, wait_for

PASSWORD = "scrape-pw-5d1e"  # a test secret


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def web_config(directory: Path, ca: trustme.CA, **extra: Any) -> Path:
    """A web config file as an exporter's: TLS for 127.0.0.1 and one bcrypt user."""
    server = ca.issue_cert("127.0.0.1")
    server.cert_chain_pems[0].write_to_path(str(directory / "server.crt"))
    server.private_key_pem.write_to_path(str(directory / "server.key"))
    document = {"tls_server_config": {"cert_file": "server.crt", "key_file": "server.key"},
                "basic_auth_users": {"prometheus": bcrypt.hashpw(
                    PASSWORD.encode(), bcrypt.gensalt(10)).decode()}, **extra}
    path = directory / "web.yml"
    path.write_text(yaml.safe_dump(document))
    return path


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory, ca: trustme.CA) -> Iterator[Daemon]:
    directory = tmp_path_factory.mktemp("web")
    daemon = Daemon.from_config(directory, {
        "watchdog": {"web_config_file": str(web_config(directory, ca))},
        "probes": {"backend-health": refused_probe()}})
    daemon.process.env = daemon_env()
    daemon.process.start()
    ca.cert_pem.write_to_path(str(directory / "ca.pem"))
    try:
        wait_for(lambda: daemon.exited() or _get(daemon, "/healthz").status_code == 200,
                 what="the daemon over https")
        assert not daemon.exited(), daemon.output()
        yield daemon
    finally:
        daemon.stop()


def _get(daemon: Daemon, path: str, auth: tuple[str, str] | None = None) -> httpx.Response:
    trust = ssl.create_default_context(cafile=str(daemon.dir / "ca.pem"))
    return httpx.get(f"https://127.0.0.1:{daemon.port}{path}", auth=auth, timeout=10,
                     verify=trust, trust_env=False)


def test_every_endpoint_but_healthz_asks_for_the_password_over_tls(secured: Daemon) -> None:
    for path in ("/metrics", "/api/status", "/"):
        refused = _get(secured, path)
        assert refused.status_code == 401, path
        assert refused.headers["WWW-Authenticate"] == 'Basic realm="runbook-watchdog"'
        assert _get(secured, path, ("prometheus", "wrong")).status_code == 401, path
        assert _get(secured, path, ("nobody", PASSWORD)).status_code == 401, path
        assert _get(secured, path, ("prometheus", PASSWORD)).status_code == 200, path
    assert _get(secured, "/healthz").status_code == 200  # liveness, no data
    with pytest.raises(httpx.HTTPError):  # plain HTTP, no credentials: no answer at all
        httpx.get(secured.url("/metrics"), timeout=10, trust_env=False)
    assert secured.running()
    assert "Traceback" not in secured.output()


def _scrape_job(name: str, port: int, ca_file: Path, password: str) -> dict[str, Any]:
    return {"job_name": name, "scheme": "https", "tls_config": {"ca_file": str(ca_file)},
            "basic_auth": {"username": "prometheus", "password": password},
            "static_configs": [{"targets": [f"127.0.0.1:{port}"]}]}


def test_a_real_prometheus_scrapes_over_tls_with_basic_auth_and_wrong_credentials_fail(
        secured: Daemon, tmp_path: Path) -> None:
    port, ca_file = free_port(), secured.dir / "ca.pem"
    config = {"global": {"scrape_interval": "1s"}, "scrape_configs": [
        _scrape_job("watchdog", secured.port, ca_file, PASSWORD),
        _scrape_job("intruder", secured.port, ca_file, "guessed")]}
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    server = Process([tool("prometheus"), f"--config.file={tmp_path / 'prometheus.yml'}",
                      f"--storage.tsdb.path={tmp_path / 'data'}",
                      f"--web.listen-address=127.0.0.1:{port}"], tmp_path / "prometheus.log")
    server.start()
    try:
        wait_for(lambda: port_open(port), 30, "prometheus")

        def targets() -> dict[str, dict[str, Any]] | None:
            active = httpx.get(f"http://127.0.0.1:{port}/api/v1/targets", timeout=5).json()[
                "data"]["activeTargets"]
            found = {t["labels"]["job"]: t for t in active}
            return found if len(found) == 2 and all(
                t["health"] != "unknown" for t in found.values()) else None

        scraped = wait_for(targets, 60, "both targets scraped")
        assert scraped["watchdog"]["health"] == "up", scraped["watchdog"]["lastError"]
        assert scraped["intruder"]["health"] == "down"
        assert "401 Unauthorized" in scraped["intruder"]["lastError"]
        result = httpx.get(f"http://127.0.0.1:{port}/api/v1/query", timeout=5, params={
            "query": 'runbook_watchdog_probe_success{job="watchdog"}'}).json()
        assert result["data"]["result"][0]["value"][1] == "0"
    finally:
        server.stop()


def test_validate_names_the_web_config_file_key_and_problem(
        tmp_path: Path, ca: trustme.CA) -> None:
    web = web_config(tmp_path, ca, colour="blue")
    document = yaml.safe_load(web.read_text())
    document["basic_auth_users"]["admin"] = PASSWORD  # a password where a hash belongs
    document["tls_server_config"]["cipher_suites"] = ["TLS_AES_128_GCM_SHA256"]
    web.write_text(yaml.safe_dump(document))
    config = tmp_path / "watchdog.yaml"
    config.write_text(yaml.safe_dump({"watchdog": {"web_config_file": str(web)}, "probes": {
        "web": refused_probe()}}))
    result = cli("validate", "--config", str(config))
    assert result.returncode == 1
    assert result.stderr.splitlines()[1:] == [
        f"  {web}: tls_server_config.cipher_suites: not supported by runbook-watchdog "
        "(docs/install.md lists what is)",
        f"  {web}: basic_auth_users.admin: not a bcrypt hash ($2b$COST$ and 53 characters; "
        "make one with `htpasswd -nBC 12 USER`)",
        f"  {web}: colour: unknown key (runbook-watchdog reads tls_server_config and "
        "basic_auth_users)"]
    assert PASSWORD not in result.stderr
    del document["colour"], document["basic_auth_users"]["admin"]
    del document["tls_server_config"]["cipher_suites"]
    document["tls_server_config"]["client_auth_type"] = "RequireAndVerifyClientCert"
    web.write_text(yaml.safe_dump(document))
    result = cli("validate", "--config", str(config))
    assert result.stderr.splitlines()[1:] == [
        f"  {web}: tls_server_config.client_ca_file: required with client_auth_type "
        "RequireAndVerifyClientCert"]
    (tmp_path / "server.key").write_text("not a key\n")
    del document["tls_server_config"]["client_auth_type"]
    web.write_text(yaml.safe_dump(document))
    result = cli("validate", "--config", str(config))
    assert result.stderr.splitlines()[1:] == [
        f"  {web}: tls_server_config.cert_file: cannot load the certificate "
        f"{tmp_path}/server.crt with its key {tmp_path}/server.key: not a PEM certificate and "
        "its matching key"]
    web.unlink()
    result = cli("validate", "--config", str(config))
    assert result.stderr.splitlines()[1:] == [
        f"  {web}: <top level>: cannot read the web config file (watchdog.web_config_file): "
        "No such file or directory"]


def test_status_reaches_the_secured_listener_with_the_users_password(secured: Daemon) -> None:
    """`status` trusts the certificate the config serves and sends the user and password
    from the environment; without them it says what to set."""
    result = cli("status", "--config", str(secured.config), env=daemon_env(
        RUNBOOK_WATCHDOG_WEB_USER="prometheus", RUNBOOK_WATCHDOG_WEB_PASSWORD=PASSWORD))
    assert result.returncode == 0, result.stderr
    assert " backend-health " in result.stdout
    refused = cli("status", "--config", str(secured.config))
    assert (refused.returncode, refused.stderr) == (3, (
        f"runbook-watchdog: https://127.0.0.1:{secured.port}/api/status answered 401: set "
        "$RUNBOOK_WATCHDOG_WEB_USER and $RUNBOOK_WATCHDOG_WEB_PASSWORD to a user of "
        "watchdog.web_config_file's basic_auth_users\n"))
