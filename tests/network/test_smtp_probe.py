"""The smtp probe against aiosmtpd (a real SMTP server with AUTH and STARTTLS)."""

from __future__ import annotations

from pathlib import Path

import pytest

from probes.smtp import SmtpProbe
from tests.network.conftest import SMTP_PASSWORD, SMTP_USER, SmtpServer, Tls, make_tls, start_smtp
from tests.support import free_port, run_probe
from watchdog.pipeline.observation import Status

pytestmark = pytest.mark.integration


def _params(server: SmtpServer, chain: Tls | None, **extra: object) -> dict[str, object]:
    base: dict[str, object] = {"host": "127.0.0.1", "port": server.port,
                               "username": SMTP_USER, "password": SMTP_PASSWORD}
    if chain is not None:
        base["ca_file"] = str(chain.ca_file)
    return {**base, **extra}


def test_starttls_and_good_credentials_are_ok(smtp_tls: tuple[SmtpServer, Tls]) -> None:
    server, tls = smtp_tls
    obs = run_probe(SmtpProbe, _params(server, tls))
    assert obs.status is Status.OK
    assert "EHLO, TLS, AUTH ok" in obs.summary
    assert obs.values["latency_seconds"] > 0


def test_a_rotated_password_is_auth_failed(smtp_tls: tuple[SmtpServer, Tls]) -> None:
    server, tls = smtp_tls
    obs = run_probe(SmtpProbe, _params(server, tls, password="the-old-password"),
                    settings={"env_file": "/opt/backend/.env"})
    assert (obs.status, obs.cause) == (Status.FAILED, "auth_failed")
    assert obs.hint is not None
    assert "password rotated by provider: update SMTP_PASS in /opt/backend/.env" in obs.hint
    assert "535" in obs.summary


def test_an_untrusted_self_signed_chain_is_tls_error(smtp_tls: tuple[SmtpServer, Tls]) -> None:
    server, _ = smtp_tls
    obs = run_probe(SmtpProbe, _params(server, None))
    assert (obs.status, obs.cause) == (Status.FAILED, "tls_error")


def test_starttls_not_offered_is_tls_error() -> None:
    server = start_smtp(None)
    try:
        obs = run_probe(SmtpProbe, _params(server, None))
    finally:
        server.controller.stop()
    assert (obs.cause, "SMTPNotSupportedError" in obs.summary) == ("tls_error", True)


def test_plain_auth_without_tls_works_when_configured() -> None:
    server = start_smtp(None)
    try:
        good = run_probe(SmtpProbe, _params(server, None, tls="none"))
        bad = run_probe(SmtpProbe, _params(server, None, tls="none", password="nope"))
    finally:
        server.controller.stop()
    assert good.status is Status.OK
    assert bad.cause == "auth_failed"


def test_implicit_tls_with_a_private_ca(tmp_path: Path) -> None:
    tls = make_tls(tmp_path, days=30)
    server = start_smtp(tls, implicit=True)
    try:
        obs = run_probe(SmtpProbe, _params(server, tls, tls="implicit"))
    finally:
        server.controller.stop()
    assert obs.status is Status.OK


def test_a_listener_that_never_speaks_is_a_timeout(silent_port: int) -> None:
    obs = run_probe(SmtpProbe, {"host": "127.0.0.1", "port": silent_port}, timeout=0.5)
    assert (obs.status, obs.cause) == (Status.FAILED, "timeout")
    assert obs.hint is not None and "rate-limit" in obs.hint


def test_nothing_listening_is_refused() -> None:
    obs = run_probe(SmtpProbe, {"host": "127.0.0.1", "port": free_port()})
    assert (obs.status, obs.cause) == (Status.FAILED, "refused")


def test_a_username_without_a_password_is_a_config_error() -> None:
    with pytest.raises(ValueError, match="username needs a password"):
        SmtpProbe.Params(host="smtp.example.com", username="alerts")
