"""The shkeeper probe against a real HTTP server speaking SHKeeper's health check, and
nx-27017 holding the payments for the stuck-payments count."""

from __future__ import annotations

from typing import Any

import pytest
from pymongo.asynchronous.collection import AsyncCollection

from probes.shkeeper import ShkeeperProbe
from tests.network.conftest import API_KEY, NetHttpPeer, NxMongo, seed_payments
from tests.support import free_port, run_probe
from watchdog.pipeline.observation import Status


def _params(web: NetHttpPeer, **extra: object) -> dict[str, object]:
    return {"url": web.base, "api_key": API_KEY, **extra}


def test_a_healthy_shkeeper_is_ok(web: NetHttpPeer) -> None:
    obs = run_probe(ShkeeperProbe, _params(web))
    assert obs.status is Status.OK
    assert obs.values["status_code"] == 200


def test_a_5xx_is_provider_error_their_side(web: NetHttpPeer) -> None:
    web.set_mode("503")
    obs = run_probe(ShkeeperProbe, _params(web))
    assert (obs.status, obs.cause) == (Status.FAILED, "provider_error")
    assert obs.hint is not None and "their side" in obs.hint and "3.4 step 2" in obs.hint


@pytest.mark.parametrize("how", ["wrong key", "403"])
def test_a_rejected_key_is_unauthorized(web: NetHttpPeer, how: str) -> None:
    if how == "403":
        web.set_mode("forbidden")
    key = "wrong-key" if how == "wrong key" else API_KEY
    obs = run_probe(ShkeeperProbe, {"url": web.base, "api_key": key})
    assert (obs.status, obs.cause) == (Status.FAILED, "unauthorized")
    assert obs.hint is not None and "SHKEEPER_API_KEY" in obs.hint


@pytest.mark.parametrize("mode", ["malformed", "denied", "404"])
def test_a_non_healthy_answer_is_bad_response(web: NetHttpPeer, mode: str) -> None:
    web.set_mode(mode)
    obs = run_probe(ShkeeperProbe, _params(web))
    assert (obs.status, obs.cause) == (Status.FAILED, "bad_response")


def test_a_hung_shkeeper_is_unreachable_our_network(web: NetHttpPeer) -> None:
    web.set_mode("hang")
    obs = run_probe(ShkeeperProbe, _params(web), timeout=0.5)
    assert (obs.status, obs.cause) == (Status.FAILED, "unreachable")
    assert "timeout" in obs.summary
    assert obs.hint is not None and "3.4 step 3" in obs.hint


@pytest.mark.parametrize(("url", "how"), [
    (f"http://127.0.0.1:{free_port()}", "refused"),
    ("http://shkeeper.invalid", "dns"),
])
def test_refused_and_dns_are_unreachable(url: str, how: str) -> None:
    obs = run_probe(ShkeeperProbe, {"url": url, "api_key": API_KEY})
    assert (obs.cause, how in obs.summary) == ("unreachable", True)


def test_an_untrusted_certificate_is_unreachable(tls_web: NetHttpPeer) -> None:
    obs = run_probe(ShkeeperProbe, _params(tls_web))
    assert (obs.cause, "tls error" in obs.summary) == ("unreachable", True)


def test_stuck_payments_over_the_threshold_are_a_finding_and_a_value(
        web: NetHttpPeer, mongo: NxMongo) -> None:
    seed_payments(mongo, stuck=3, recent=5, paid=4)
    stuck = {"uri": mongo.uri, "database": "marketplace", "older_than": "30m", "threshold": 2}
    obs = run_probe(ShkeeperProbe, _params(web, stuck_payments=stuck))
    assert (obs.status, obs.cause) == (Status.FAILED, "stuck_payments")
    assert obs.values["stuck_payments"] == 3
    assert "3 payments pending for more than 30 min (threshold 2)" in obs.summary


def test_stuck_payments_under_the_threshold_are_ok_and_still_counted(
        web: NetHttpPeer, mongo: NxMongo) -> None:
    seed_payments(mongo, stuck=1, recent=5, paid=4)
    stuck = {"uri": mongo.uri, "threshold": 1}
    obs = run_probe(ShkeeperProbe, _params(web, stuck_payments=stuck))
    assert obs.status is Status.OK
    assert obs.values["stuck_payments"] == 1


def test_a_down_shkeeper_still_reports_the_stuck_count(web: NetHttpPeer, mongo: NxMongo) -> None:
    seed_payments(mongo, stuck=2, recent=0, paid=0)
    web.set_mode("500")
    obs = run_probe(ShkeeperProbe, _params(web, stuck_payments={"uri": mongo.uri}))
    assert obs.cause == "provider_error"
    assert obs.values["stuck_payments"] == 2


def test_an_unreachable_payments_db_does_not_hide_a_healthy_shkeeper(
        web: NetHttpPeer, mongo: NxMongo) -> None:
    mongo.stop()
    obs = run_probe(ShkeeperProbe, _params(web, stuck_payments={"uri": mongo.uri}),
                    timeout=1.0)
    assert obs.status is Status.OK
    assert "stuck_payments" not in obs.values
    assert "not counted: MongoDB unreachable" in obs.summary


def test_an_unexpected_count_failure_is_reported_beside_the_finding(
        web: NetHttpPeer, mongo: NxMongo, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 19 item 4: the driver once raised KeyError('payload') from the count."""

    async def fake_count_raising_keyerror(self: AsyncCollection[Any], *args: object,
                                          **kwargs: object) -> int:
        raise KeyError("payload")

    seed_payments(mongo, stuck=2, recent=0, paid=0)
    monkeypatch.setattr(AsyncCollection, "count_documents", fake_count_raising_keyerror)
    stuck = {"uri": mongo.uri, "threshold": 1}
    obs = run_probe(ShkeeperProbe, {"url": web.base, "api_key": "wrong-key",
                                    "stuck_payments": stuck})
    assert (obs.status, obs.cause) == (Status.FAILED, "unauthorized")
    assert "stuck_payments" not in obs.values
    assert obs.details["stuck_payments"] == "count failed (KeyError: 'payload')"
    assert "stuck payments not counted: count failed (KeyError: 'payload')" in obs.summary


def test_an_unexpected_count_failure_does_not_hide_a_healthy_shkeeper(
        web: NetHttpPeer, mongo: NxMongo, monkeypatch: pytest.MonkeyPatch) -> None:

    async def fake_count_raising_keyerror(self: AsyncCollection[Any], *args: object,
                                          **kwargs: object) -> int:
        raise KeyError("payload")

    monkeypatch.setattr(AsyncCollection, "count_documents", fake_count_raising_keyerror)
    obs = run_probe(ShkeeperProbe, _params(web, stuck_payments={"uri": mongo.uri}))
    assert obs.status is Status.OK
    assert obs.summary.endswith("; stuck payments not counted: count failed (KeyError: 'payload')")
