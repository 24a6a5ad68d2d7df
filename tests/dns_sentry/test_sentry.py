"""The sentry probe against a STAND-IN for Sentry's web API (tests/peers/sentry_api.py).

Sentry itself cannot run here; the stand-in serves the documented shapes of the issues
list (with `Link` pagination), the project stats, 401 and 429 replies.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from probes.sentry import SentryParams, SentryProbe, retry_after
from tests.dns_sentry.conftest import TOKEN, SentryStandIn, issues
from tests.support import free_port, run_probe
from watchdog.pipeline.observation import Observation, Status


def check(sentry: SentryStandIn, timeout: float = 2.0, **params: Any) -> Observation:
    return run_probe(SentryProbe, sentry.params(**params), timeout=timeout)


def test_a_quiet_project_is_ok_and_the_window_is_asked_for(sentry: SentryStandIn) -> None:
    sentry.set(issues=issues(1), events=[[30, 7], [200, 5]])
    obs = check(sentry)
    assert (obs.status, obs.cause) == (Status.OK, "ok")
    assert (obs.values["new_issues"], obs.values["events"]) == (1, 12)
    asked = sentry.requests()
    assert [r["path"] for r in asked] == ["/api/0/projects/acme/backend/issues/",
                                          "/api/0/projects/acme/backend/stats/"]
    assert asked[0]["query"]["query"] == ["is:unresolved firstSeen:-15m"]
    stats = asked[1]["query"]
    assert int(stats["until"][0]) - int(stats["since"][0]) == 900
    assert (stats["stat"], stats["resolution"]) == (["received"], ["10s"])
    assert all(r["authorized"] for r in asked)


def test_issues_first_seen_before_the_window_do_not_count(sentry: SentryStandIn) -> None:
    sentry.set(issues=issues(5, age=3600))
    obs = check(sentry)
    assert obs.status is Status.OK and obs.values["new_issues"] == 0


def test_new_issues_at_the_threshold_are_a_spike_with_top_titles(sentry: SentryStandIn) -> None:
    sentry.set(issues=issues(4))
    obs = check(sentry, new_issues=3, top=2)
    assert (obs.status, obs.cause) == (Status.FAILED, "new_issue_spike")
    assert obs.values["new_issues"] == 4 and len(obs.signals) == 4
    top = obs.details["top_new_issues"]
    assert [t["short_id"] for t in top] == ["BACKEND-4", "BACKEND-3"]  # most events first
    assert top[0]["title"] == "TypeError: thing 4 is undefined"
    assert top[0]["link"].startswith("https://sentry.io/organizations/acme/issues/")
    assert top[0]["count"] == 40
    assert "4 new issues in the last 15m (threshold 3)" in obs.summary
    assert obs.hint is not None and "runbook 2 step 2" in obs.hint


def test_the_window_is_configurable(sentry: SentryStandIn) -> None:
    sentry.set(issues=issues(3, age=240))
    assert check(sentry, within="5m").cause == "new_issue_spike"
    assert sentry.requests()[0]["query"]["query"] == ["is:unresolved firstSeen:-5m"]
    assert check(sentry, within="3m").cause == "ok"


def test_every_page_is_read_through_the_link_header(sentry: SentryStandIn) -> None:
    sentry.set(issues=issues(5), page_size=2)
    obs = check(sentry, new_issues=5, events=None)
    assert obs.cause == "new_issue_spike" and obs.values["new_issues"] == 5
    cursors = [r["query"].get("cursor") for r in sentry.requests()]
    assert cursors == [None, ["0:2:0"], ["0:4:0"]]
    assert obs.details["truncated"] is False


def test_pages_beyond_max_pages_are_not_read_and_the_count_says_at_least(
        sentry: SentryStandIn) -> None:
    sentry.set(issues=issues(5), page_size=1)
    obs = check(sentry, max_pages=2, new_issues=2, events=None)
    assert len(sentry.requests()) == 2
    assert obs.cause == "new_issue_spike" and obs.values["new_issues"] == 2
    assert "at least 2 new issues" in obs.summary and obs.details["truncated"] is True


def test_a_next_link_to_another_host_is_not_followed_with_the_token(
        sentry: SentryStandIn, tmp_path: Path) -> None:
    elsewhere = SentryStandIn(tmp_path).start()
    try:
        sentry.set(issues=issues(3), page_size=1, next_host=elsewhere.url)
        obs = check(sentry, events=None)
        assert elsewhere.requests() == []
        assert obs.values["new_issues"] == 1
    finally:
        elsewhere.process.stop()


def test_many_events_in_the_window_are_an_error_spike(sentry: SentryStandIn) -> None:
    sentry.set(issues=issues(1), events=[[60, 300], [400, 250], [2000, 9000]])
    obs = check(sentry, events=500)
    assert (obs.status, obs.cause) == (Status.FAILED, "error_spike")
    assert obs.values["events"] == 550  # the 9000 events 33 minutes ago are outside
    assert obs.hint is not None and "3.7" in obs.hint


def test_without_an_events_threshold_the_stats_are_not_read(sentry: SentryStandIn) -> None:
    sentry.set(events=[[60, 10_000]])
    obs = check(sentry, events=None)
    assert obs.status is Status.OK and "events" not in obs.values
    assert [r["path"].rsplit("/", 2)[-2] for r in sentry.requests()] == ["issues"]


def test_a_429_is_retried_after_retry_after_within_the_timeout(sentry: SentryStandIn) -> None:
    sentry.set(issues=issues(1), rate_limited=1, retry_after="1")
    obs = check(sentry, timeout=3.0)
    assert (obs.status, obs.cause) == (Status.OK, "ok")
    assert len(sentry.requests()) == 3  # issues (429), issues, stats
    assert obs.latency >= 1.0


def test_a_retry_after_beyond_the_timeout_is_unknown_rate_limited_at_once(
        sentry: SentryStandIn) -> None:
    sentry.set(rate_limited=5, retry_after="30")
    obs = check(sentry, timeout=2.0)
    assert (obs.status, obs.cause) == (Status.UNKNOWN, "rate_limited")
    assert "Retry-After 30s" in obs.summary
    assert len(sentry.requests()) == 1 and obs.latency < 2.0


def test_a_bad_token_is_unauthorized_and_not_shown(sentry: SentryStandIn) -> None:
    wrong = "sntrys_wrong-token-value"
    obs = run_probe(SentryProbe, {**sentry.params(), "token": wrong})
    assert (obs.status, obs.cause) == (Status.FAILED, "unauthorized")
    assert "HTTP 401" in obs.summary and "Invalid token" in obs.summary
    assert wrong not in repr(obs) and TOKEN not in repr(obs)


def test_an_unknown_project_is_bad_status(sentry: SentryStandIn) -> None:
    obs = check(sentry, project="no-such-project")
    assert (obs.cause, "HTTP 404" in obs.summary) == ("bad_status", True)


def test_a_sentry_that_never_answers_is_timeout_within_the_budget(sentry: SentryStandIn) -> None:
    sentry.set(hang=True)
    obs = check(sentry, timeout=0.5)
    assert (obs.status, obs.cause) == (Status.FAILED, "timeout")


def test_nothing_listening_is_refused() -> None:
    obs = run_probe(SentryProbe, {"url": f"http://127.0.0.1:{free_port()}", "token": TOKEN,
                                  "organization": "acme", "project": "backend"})
    assert (obs.status, obs.cause) == (Status.FAILED, "refused")


@pytest.mark.parametrize(("headers", "expected"), [
    ({"Retry-After": "7"}, 7.0),
    ({"Retry-After": "Thu, 01 Jan 2026 00:00:10 GMT"}, 10.0),
    ({"X-Sentry-Rate-Limit-Reset": str(1_767_225_600 + 4)}, 4.0),
    ({"Retry-After": "soon"}, None),
    ({}, None),
])
def test_retry_after_reads_seconds_dates_and_sentrys_reset(headers: dict[str, str],
                                                          expected: float | None) -> None:
    assert retry_after(httpx.Headers(headers), now=1_767_225_600.0) == expected


@pytest.mark.parametrize(("key", "value"), [("url", "sentry.io"), ("within", "0s"),
                                            ("token", ""), ("project", "")])
def test_bad_keys_are_config_errors_naming_the_key(key: str, value: str) -> None:
    params = {"token": TOKEN, "organization": "acme", "project": "backend", key: value}
    with pytest.raises(ValidationError) as caught:
        SentryParams(**params)
    assert caught.value.errors()[0]["loc"] == (key,)
