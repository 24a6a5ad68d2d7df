"""Pure parts, table-style: the cron matcher, maintenance windows, flapping, templates, config."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from watchdog.common.errors import ConfigError
from watchdog.notification.cron import parse_cron
from watchdog.notification.flapping import Flap, on_change, settled
from watchdog.notification.maintenance import in_maintenance, window_for
from watchdog.notification.messages import Templates, sev_label
from watchdog.notification.models import FlappingConfig, MaintenanceWindow
from watchdog.runtime.config import load_config

SUNDAY_0305 = datetime(2026, 11, 29, 3, 5, tzinfo=UTC)  # a Sunday


@pytest.mark.parametrize(("expr", "at", "hit"), [
    ("* * * * *", SUNDAY_0305, True),
    ("5 3 * * *", SUNDAY_0305, True),
    ("*/15 * * * *", SUNDAY_0305, False),
    ("0-10/5 3 * * 0", SUNDAY_0305, True),
    ("5 3 * * 7", SUNDAY_0305, True),
    ("5 3 * * 1-5", SUNDAY_0305, False),
    ("5 3 1,15 * 0", SUNDAY_0305, True),  # either day field matches when both are restricted
    ("5 3 1,15 * 1", SUNDAY_0305, False),
    ("5 3 29 11 *", SUNDAY_0305, True),
    ("5 3 29 12 *", SUNDAY_0305, False),
])
def test_cron_matches_like_vixie_cron(expr: str, at: datetime, hit: bool) -> None:
    assert parse_cron(expr).matches(at) is hit


@pytest.mark.parametrize(("expr", "problem"), [
    ("* * * *", "needs 5 fields"), ("60 * * * *", "minute: '60' is outside 0-59"),
    ("* * * * x", "day of week: 'x' is not a number"), ("*/0 * * * *", "step must be"),
])
def test_bad_cron_expressions_say_which_field(expr: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_cron(expr)


def test_a_recurring_window_is_active_for_its_duration_after_each_start() -> None:
    window = MaintenanceWindow(name="backups", cron="0 3 * * 0", duration="1h", probes=("db",))
    inside = datetime(2026, 11, 29, 3, 59, tzinfo=UTC).timestamp()
    after = datetime(2026, 11, 29, 4, 0, tzinfo=UTC).timestamp()
    assert window_for([window], "db", inside) is window
    assert window_for([window], "db", after) is None
    assert window_for([window], "web", inside) is None
    assert in_maintenance([window], "db", inside) and not in_maintenance([window], "db", after)


def test_a_window_in_another_time_zone_uses_its_local_time() -> None:
    window = MaintenanceWindow(name="n", cron="0 3 * * *", duration="30m",
                               timezone="Europe/Berlin")
    assert window_for([window], "x", datetime(2026, 11, 29, 2, 10, tzinfo=UTC).timestamp())
    assert not window_for([window], "x", datetime(2026, 11, 29, 3, 10, tzinfo=UTC).timestamp())


def test_flapping_starts_past_the_threshold_and_settles_after_a_quiet_window() -> None:
    rule = FlappingConfig(changes=2, within=60)
    flap = Flap()
    for t in (0.0, 10.0):
        flap = on_change(flap, rule, t)
    assert not flap.flapping
    flap = on_change(flap, rule, 20.0)
    assert flap.flapping
    assert settled(flap, rule, 50.0).flapping
    assert not settled(flap, rule, 75.0).flapping


def test_an_operator_template_overrides_the_bundled_one(tmp_path: Path) -> None:
    (tmp_path / "started.txt").write_text("PAGE ${SEV} ${probe} ${nonsense}\n")
    templates = Templates(tmp_path)
    assert templates.render("started", {"SEV": "SEV-1", "probe": "db"}) == \
        "PAGE SEV-1 db ${nonsense}"
    assert templates.render("resolved", {"SEV": "SEV-1"}).startswith("✅ [SEV-1] Resolved")
    assert (sev_label("sev2"), sev_label("p1")) == ("SEV-2", "P1")


def _config(tmp_path: Path, doc: dict[str, object]) -> Path:
    path = tmp_path / "w.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def _errors(tmp_path: Path, notify: dict[str, object], maintenance: list[object]) -> str:
    path = _config(tmp_path, {"probes": {"web": {"type": "http", "url": "http://127.0.0.1:1/"}},
                              "notify": notify, "maintenance": maintenance})
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    return str(caught.value)


def test_config_errors_name_the_key(tmp_path: Path) -> None:
    text = _errors(tmp_path, {"channels": {"a": {"type": "pager"}}}, [
        {"name": "m", "cron": "99 * * * *", "duration": "1h"},
        {"name": "n", "start": "2026-01-02T00:00:00", "end": "2026-01-01T00:00:00"}])
    assert "notify.channels.a: " in text and "'pager'" in text
    assert "maintenance.0.cron: cron minute: '99' is outside 0-59" in text
    assert "maintenance.1: a one-off window needs start and end, end after start" in text


def test_references_to_unknown_severities_and_probes_are_errors(tmp_path: Path) -> None:
    text = _errors(tmp_path, {"channels": {"b": {"type": "slack", "url": "http://x/",
                                                 "severities": ["s9"]}}},
                   [{"name": "o", "cron": "* * * * *", "duration": "1h", "probes": ["nope"]}])
    assert "notify.channels.b.severities: unknown severity 's9'" in text
    assert "maintenance.0.probes: 'nope' is not a configured probe" in text
