"""One TLS client context per distinct configuration (issue 16, B4 idle RSS): each holds
its own copy of the CAs, so probes and clients with the same settings share one, and a
CA file the operator changed gets a new one at the next (re)build."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from probes._tls import HTTP_ALPN, client_context
from probes.http import HttpProbe
from probes.smtp import SmtpProbe
from tests.network.conftest import NetHttpPeer, Tls, make_tls
from tests.support import run_probe
from watchdog.common.clock import SystemClock
from watchdog.peers.http import http_client
from watchdog.peers.tls import default_context
from watchdog.pipeline.observation import Status
from watchdog.pipeline.probe import ProbeContext, Resources
from watchdog.runtime.config_models import WatchdogSettings


def test_the_same_settings_share_one_context(tmp_path: Path) -> None:
    ca = make_tls(tmp_path, days=30).ca_file
    assert client_context(ca, True, HTTP_ALPN) is client_context(ca, True, HTTP_ALPN)
    assert client_context() is client_context()
    assert default_context() is client_context(alpn=HTTP_ALPN)
    distinct = {id(client_context()), id(client_context(alpn=HTTP_ALPN)),
                id(client_context(verify=False)), id(client_context(ca)),
                id(client_context(ca, alpn=HTTP_ALPN))}
    assert len(distinct) == 5


def test_a_changed_ca_file_gets_a_new_context(tmp_path: Path) -> None:
    first, second = make_tls(tmp_path, days=30), make_tls(tmp_path, days=30)
    ca = tmp_path / "private-ca.pem"
    shutil.copyfile(first.ca_file, ca)
    before = client_context(ca)
    ca.write_bytes(second.ca_file.read_bytes())  # edited in place: same path and inode
    after = client_context(ca)
    assert after is not before
    subjects = {c["subject"] for c in after.get_ca_certs()} - \
        {c["subject"] for c in before.get_ca_certs()}
    assert subjects  # the new context trusts the new CA


def test_the_default_http_clients_share_the_default_context() -> None:
    client = http_client()
    assert client.adapter._context is default_context()


@pytest.mark.integration
def test_a_replaced_ca_file_is_what_the_rebuilt_probe_trusts(
        tls_web: NetHttpPeer, tls_expiring: Tls, tmp_path: Path) -> None:
    """As a config reload does: probes built after the CA file changed verify against it."""
    ca = tmp_path / "private-ca.pem"
    shutil.copyfile(tls_expiring.ca_file, ca)
    params = {"url": tls_web.url(), "ca_file": str(ca), "tls_min_days": 1}
    assert run_probe(HttpProbe, params).status is Status.OK
    ca.write_bytes(make_tls(tmp_path, days=30).ca_file.read_bytes())  # another CA
    obs = run_probe(HttpProbe, params)
    assert (obs.status, obs.cause) == (Status.FAILED, "tls_error")


def test_smtp_shares_the_context_that_offers_no_http_alpn() -> None:
    """STARTTLS must not offer http/1.1: an SMTP server may refuse an unknown protocol."""
    resources = Resources(WatchdogSettings(), None, SystemClock())
    probe = SmtpProbe(SmtpProbe.Params(host="127.0.0.1", port=25),
                      ProbeContext("smtp", 5.0, resources))
    assert probe.tls_context is client_context()
