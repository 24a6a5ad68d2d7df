from __future__ import annotations

import pytest

from watchdog.common.durations import format_duration, parse_duration


@pytest.mark.parametrize(("text", "seconds"), [
    ("30s", 30), ("5m", 300), ("24h", 86400), ("1h30m", 5400), ("500ms", 0.5), ("7d", 604800),
    ("2w", 1209600), (15, 15), (2.5, 2.5), ("10", 10), ("1.5s", 1.5), (" 5m ", 300),
])
def test_parse_duration(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["", "5x", "m5", "5m3", "-5s", True, None, [], "5 m", "ms"])
def test_bad_durations_are_rejected_with_the_accepted_forms(bad: object) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(bad)


@pytest.mark.parametrize("bad", ["nan", "NaN", "inf", "-inf", "infinity", float("nan"),
                                 float("inf")])
def test_nan_and_infinity_are_not_durations(bad: object) -> None:
    with pytest.raises(ValueError, match="is not a finite duration"):
        parse_duration(bad)


@pytest.mark.parametrize(("seconds", "text"), [(90, "1m30s"), (0.25, "250ms"), (86400, "1d"),
                                               (3661, "1h1m1s")])
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text
