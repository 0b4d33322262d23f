"""duration_human: durations for people, days above 48 hours."""

from __future__ import annotations

import math
from datetime import timedelta

import pytest
from django.template import Context, Template

from dora.units import duration_axis_unit, duration_human, durations_equal, plural

H = 3600
D = 86400


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (None, "–"),
        (math.nan, "–"),
        (0, "0 min"),
        (20, "under 1 min"),
        (40 * 60, "40 min"),
        (90 * 60, "1.5 h"),
        (22 * H, "22 h"),
        (47 * H, "47 h"),
        (48 * H, "48 h"),  # 48 h itself is still hours: days only *above* 48 h
        (49 * H, "2.0 days"),  # 49 / 24 = 2.04
        (60 * H, "2.5 days"),
        (12.4 * D, "12 days"),
        (-3 * H, "−3.0 h"),
    ],
)
def test_duration_human_switches_to_days_above_48_hours(seconds: float | None, text: str) -> None:
    assert duration_human(seconds) == text


def test_durations_equal_when_their_rounded_texts_are_equal() -> None:
    # 22.2 h and 21.9 h both read "22 h": the change is "unchanged" to a reader.
    assert durations_equal(22.2 * H, 21.9 * H)
    assert not durations_equal(22 * H, 23 * H)
    assert durations_equal(None, None)


def test_duration_axis_unit_follows_the_largest_value() -> None:
    assert duration_axis_unit([H, 47 * H]) == ("hours", 3600)
    assert duration_axis_unit([H, None, 49 * H]) == ("days", 86400)
    assert duration_axis_unit([]) == ("hours", 3600)


def test_plural_says_one_version() -> None:
    assert plural(1, "version") == "1 version"
    assert plural(2, "version") == "2 versions"
    assert plural(0, "version") == "0 versions"
    assert plural(1, "entry", "entries") == "1 entry"
    assert plural(3, "entry", "entries") == "3 entries"


def test_duration_human_filter_takes_seconds_and_timedeltas(settings) -> None:
    template = Template(
        "{% load units %}{{ a|duration_human }}|{{ b|duration_human }}|{{ c|duration_human }}"
    )
    text = template.render(Context({"a": 49 * H, "b": timedelta(hours=47), "c": None}))
    assert text == "2.0 days|47 h|–"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0 minutes"),
        (60, "1 minute"),
        (45 * 60, "45 minutes"),
        (5 * H, "5.0 hours"),
        (47 * H, "47 hours"),
        (49 * H, "2.0 days"),
    ],
)
def test_duration_human_in_words_has_the_same_numbers(seconds: float, text: str) -> None:
    assert duration_human(seconds, words=True) == text
