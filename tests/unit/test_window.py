"""dora.window: the one window rule (whole local weeks, quarters, chosen days) with hand-computed
dates. 7 Dec 2026 is a Monday; Europe/Berlin leaves summer time on Sun 25 Oct 2026 (03:00 CEST
becomes 02:00 CET), so that ISO week lasts 169 hours."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from dora.window import WindowError, last_complete_day, window_parse

NOW = datetime(2026, 12, 7, 6, 40, tzinfo=UTC)  # Mon 7 Dec 2026, 07:40 in Berlin


def test_window_default_is_the_last_4_complete_weeks_in_utc() -> None:
    w = window_parse(now=NOW, tz="UTC")
    assert (w.range, w.first, w.last) == ("4w", date(2026, 11, 9), date(2026, 12, 6))
    assert w.since == datetime(2026, 11, 9, tzinfo=UTC)
    assert w.until == datetime(2026, 12, 7, tzinfo=UTC)
    assert w.text == "4 weeks, Mon 9 Nov – Sun 6 Dec 2026, UTC"
    assert w.params() == {"range": "4w", "end": "2026-12-06"}
    assert w.next() is None  # it would pass the current week


def test_window_of_a_berlin_team_is_its_local_weeks() -> None:
    w = window_parse(now=NOW, tz="Europe/Berlin")
    assert (w.first, w.last) == (date(2026, 11, 9), date(2026, 12, 6))
    # CET is UTC+1: local midnights are 23:00 UTC the day before.
    assert w.since == datetime(2026, 11, 8, 23, tzinfo=UTC)
    assert w.until == datetime(2026, 12, 6, 23, tzinfo=UTC)
    assert w.text == "4 weeks, Mon 9 Nov – Sun 6 Dec 2026, Europe/Berlin"


def test_window_week_of_the_dst_change_lasts_169_hours() -> None:
    w = window_parse(now=NOW, tz="Europe/Berlin", range="1w", end="2026-10-21")
    assert (w.first, w.last) == (date(2026, 10, 19), date(2026, 10, 25))
    assert w.since == datetime(2026, 10, 18, 22, tzinfo=UTC)  # 00:00 CEST (UTC+2)
    assert w.until == datetime(2026, 10, 25, 23, tzinfo=UTC)  # 00:00 CET (UTC+1)
    assert w.until - w.since == timedelta(hours=169)
    following = w.next()
    assert following is not None
    assert following.since == datetime(2026, 10, 25, 23, tzinfo=UTC)
    assert following.until - following.since == timedelta(hours=168)


def test_window_last_complete_week_depends_on_the_zone() -> None:
    # Sun 6 Dec 23:30 UTC is already Monday 00:30 in Berlin, still Sunday in UTC and Los Angeles.
    late = datetime(2026, 12, 6, 23, 30, tzinfo=UTC)
    assert last_complete_day(late, "Europe/Berlin") == date(2026, 12, 6)
    assert last_complete_day(late, "UTC") == date(2026, 11, 29)
    # Mon 7 Dec 06:40 UTC is Sun 6 Dec 22:40 in Los Angeles: its week is not over yet.
    assert last_complete_day(NOW, "America/Los_Angeles") == date(2026, 11, 29)


def test_window_end_snaps_to_its_week_and_never_passes_the_last_complete_one() -> None:
    w = window_parse(now=NOW, tz="UTC", range="4w", end="2026-11-30")  # a Monday
    assert (w.first, w.last) == (date(2026, 11, 9), date(2026, 12, 6))
    w = window_parse(now=NOW, tz="UTC", range="1w", end="2027-01-10")  # the future
    assert (w.first, w.last) == (date(2026, 11, 30), date(2026, 12, 6))
    w = window_parse(now=NOW, tz="UTC", range="1w", end="2026-12-07")  # the current week
    assert (w.first, w.last) == (date(2026, 11, 30), date(2026, 12, 6))


def test_window_previous_and_next_move_by_the_range() -> None:
    w = window_parse(now=NOW, tz="UTC")
    before = w.previous()
    assert (before.first, before.last) == (date(2026, 10, 12), date(2026, 11, 8))
    assert before.next() == w
    twelve = window_parse(now=NOW, tz="UTC", range="12w")
    assert (twelve.first, twelve.last) == (date(2026, 9, 14), date(2026, 12, 6))
    assert twelve.previous().first == date(2026, 6, 22)


def test_window_quarter_to_date_and_the_one_before() -> None:
    w = window_parse(now=NOW, tz="UTC", range="q", end="2026-11-15")
    assert (w.first, w.last) == (date(2026, 10, 1), date(2026, 12, 6))
    assert w.text == "Q4 2026 to date, Thu 1 Oct – Sun 6 Dec 2026, UTC"
    assert w.next() is None
    q3 = w.previous()
    assert (q3.first, q3.last) == (date(2026, 7, 1), date(2026, 9, 30))
    assert q3.text == "Q3 2026, Wed 1 Jul – Wed 30 Sep 2026, UTC"
    assert q3.next() == w
    assert w.previous().previous().previous().text.startswith("Q1 2026, Thu 1 Jan")


def test_window_custom_days_shift_by_their_length() -> None:
    w = window_parse(now=NOW, tz="UTC", range="custom", start="2026-11-01", end="2026-11-10")
    assert (w.days, w.text) == (10, "10 days, Sun 1 Nov – Tue 10 Nov 2026, UTC")
    assert w.params() == {"range": "custom", "start": "2026-11-01", "end": "2026-11-10"}
    before = w.previous()
    assert (before.first, before.last) == (date(2026, 10, 22), date(2026, 10, 31))
    after = w.next()
    assert after is not None and (after.first, after.last) == (
        date(2026, 11, 11),
        date(2026, 11, 20),
    )
    late = window_parse(now=NOW, tz="UTC", start="2026-11-30", end="2026-12-03")
    assert late.range == "custom" and late.next() is None  # 4 Dec – 7 Dec passes 6 Dec


def test_window_year_is_named_twice_across_new_year() -> None:
    w = window_parse(now=NOW, tz="UTC", range="4w", end="2026-01-04")
    assert w.dates_text == "Mon 8 Dec 2025 – Sun 4 Jan 2026"


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"range": "3w"}, "range"),
        ({"end": "yesterday"}, "end"),
        ({"range": "custom", "end": "2026-11-01"}, "start"),
        ({"range": "custom", "start": "2026-11-10", "end": "2026-11-01"}, "start"),
        ({"range": "custom", "start": "2026-11-10", "end": "2026-12-10"}, "end"),
        ({"range": "custom", "start": "0001-01-01", "end": "2026-11-01"}, "start"),
    ],
)
def test_window_parse_names_the_bad_parameter(params: dict[str, str], parameter: str) -> None:
    with pytest.raises(WindowError) as raised:
        window_parse(now=NOW, tz="UTC", **params)
    assert raised.value.parameter == parameter


def test_window_charts_weeks_end_with_the_window() -> None:
    w = window_parse(now=NOW, tz="UTC")
    assert w.weeks_containing_end(12) == (date(2026, 9, 14), date(2026, 12, 6))
    q = window_parse(now=NOW, tz="UTC", range="q", end="2026-08-01")  # Q3 ends Wed 30 Sep
    assert q.weeks_containing_end(12) == (date(2026, 7, 13), date(2026, 10, 4))


def test_window_team_rows_count_rollouts_of_their_own_local_week() -> None:
    # Week Mon 2 – Sun 8 Nov 2026. Tokyo is UTC+9 all year (no DST):
    #  - Sun 1 Nov 20:00 UTC is Mon 2 Nov 05:00 in Tokyo: in Tokyo's week, before UTC's;
    #  - Wed 4 Nov 12:00 UTC is in both;
    #  - Sun 8 Nov 20:00 UTC is Mon 9 Nov 05:00 in Tokyo: in UTC's week, after Tokyo's.
    import pandas as pd

    from dora.reads import dashboards as dash

    moments = [
        datetime(2026, 11, 1, 20, tzinfo=UTC),
        datetime(2026, 11, 4, 12, tzinfo=UTC),
        datetime(2026, 11, 8, 20, tzinfo=UTC),
    ]
    rollouts = pd.DataFrame(
        {
            "rollout_id": range(1, 7),
            "service": ["east"] * 3 + ["west"] * 3,
            "environment": ["production"] * 6,
            "kind": ["change"] * 6,
            "first_live_at": pd.to_datetime(moments * 2, utc=True),
            "failure": [""] * 6,
            "restored_at": pd.to_datetime([None] * 6, utc=True),
            "remediation": [False] * 6,
        }
    )
    arrivals = pd.DataFrame(
        {
            "change_id": pd.Series([], dtype=object),
            "commit_sha": pd.Series([], dtype=object),
            "service": pd.Series([], dtype=object),
            "rollout_id": pd.Series([], dtype=object),
            "start": pd.to_datetime(pd.Series([], dtype=object), utc=True),
            "merged_at": pd.to_datetime(pd.Series([], dtype=object), utc=True),
            "arrived_at": pd.to_datetime(pd.Series([], dtype=object), utc=True),
            "unattributed": pd.Series([], dtype=bool),
        }
    )
    week = window_parse(now=NOW, tz="UTC", range="1w", end="2026-11-04")
    zones = {"tokyo": "Asia/Tokyo", "london": "UTC"}
    rows = dash.zoned_headlines(
        rollouts,
        arrivals,
        groups={"east": "tokyo", "west": "london"},
        window=week,
        tz=zones,
        now=NOW,
        benchmark=2024,
        first_rollout_at={"tokyo": None, "london": None},
    )
    tokyo, london = rows["tokyo"], rows["london"]
    assert tokyo.since == datetime(2026, 11, 1, 15, tzinfo=UTC)  # Mon 00:00 in Tokyo
    assert london.since == datetime(2026, 11, 2, tzinfo=UTC)
    # Split headlines' items hold the columns their figures read: the rollouts by moment.
    tokyo_live = set(tokyo.frequency.items["first_live_at"])
    london_live = set(london.frequency.items["first_live_at"])
    assert (tokyo_live, london_live) == (set(moments[:2]), set(moments[1:]))
    assert (tokyo.change_failure.rollouts, london.change_failure.rollouts) == (2, 2)
