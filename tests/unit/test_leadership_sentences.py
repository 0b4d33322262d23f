"""dora.reads.leadership's sentences, periods and rankings, and dora.reads.estate_matrix's grading,
without a database: every expected string below is worked out by hand from the small inputs."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pandas as pd
import pytest

from dora.reads import estate_matrix as em
from dora.reads import leadership as lead
from dora.reads.figures import Figure
from dora.reads.leadership_csv import _csv_text
from dora.reads.leadership_takeaways import FigureRow
from dora.reads.leadership_words import (
    change_sentence,
    duration_words,
    gate_sentence,
    level_moves_sentence,
    levels_sentence,
    significance,
    spread_sentence,
    stale_sentence,
)
from dora.reads.report_query import ParameterError
from dora.reads.weeks import compare

DAY = 86400.0
HOUR = 3600.0


# -- one figure against the previous period ----------------------------------------------------


def test_change_sentence_lead_time_fell_significantly() -> None:
    # 2.1 d -> 1.4 d: (1.4 - 2.1) / 2.1 = -33.3% -> "−33%"; CIs [1.9, 2.4] d and [1.2, 1.6] d
    # do not overlap -> significant.
    sentence = change_sentence(
        "lead_time",
        1.4 * DAY,
        2.1 * DAY,
        current_ci=(1.2 * DAY, 1.6 * DAY),
        previous_ci=(1.9 * DAY, 2.4 * DAY),
    )

    # 1.4 days = 33.6 h: hours up to 48 h, days above (dora.units).
    assert sentence == "Lead time fell from 2.1 days to 34 hours (−33%, significant)."


def test_change_sentence_rates_change_in_points_and_overlapping_cis_are_not_significant() -> None:
    # 10% -> 15%: +5.0 points; [5%, 18%] overlaps [9%, 22%].
    sentence = change_sentence(
        "change_failure_rate", 0.15, 0.10, current_ci=(0.09, 0.22), previous_ci=(0.05, 0.18)
    )

    assert sentence == (
        "Change failure rate rose from 10.0% to 15.0% (+5.0 points, not significant)."
    )


def test_change_sentence_frequency_names_its_unit_once() -> None:
    # 3.2 -> 4.1 a week: +28.1% -> "+28%"; no interval for one side -> too few to tell.
    sentence = change_sentence("deployment_frequency", 4.1, 3.2, current_ci=(3.0, 5.5))

    assert sentence == (
        "Deployment frequency rose from 3.2 to 4.1 rollouts a week (+28%, too few to tell)."
    )


def test_change_sentence_hours_and_minutes_and_a_subject() -> None:
    # 5 h -> 45 min: (2700 - 18000) / 18000 = -85%.
    sentence = change_sentence("recovery_time", 45 * 60, 5 * HOUR, subject="payments")

    assert sentence == (
        "payments: recovery time fell from 5.0 hours to 45 minutes (−85%, too few to tell)."
    )


def test_change_sentence_held_missing_and_from_zero() -> None:
    assert change_sentence(
        "rework_rate", 0.2, 0.2, current_ci=(0.1, 0.3), previous_ci=(0.1, 0.3)
    ) == ("Rework rate was unchanged at 20.0% (not significant).")
    assert change_sentence("lead_time", None, None) == ("Lead time had no data in either period.")
    assert change_sentence("lead_time", 2 * DAY, None) == (
        "Lead time was 48 hours; the previous period had no data."
    )
    assert change_sentence("lead_time", None, 3 * HOUR) == (
        "Lead time had no data this period (previous: 3.0 hours)."
    )
    # A rate from zero still has a change in points; frequency from zero has no percentage.
    assert change_sentence("change_failure_rate", 0.25, 0.0) == (
        "Change failure rate rose from 0.0% to 25.0% (+25.0 points, too few to tell)."
    )
    assert change_sentence("deployment_frequency", 2.0, 0.0) == (
        "Deployment frequency rose from 0 to 2 rollouts a week (from zero, too few to tell)."
    )


def test_significance_follows_metrics_section_6() -> None:
    assert significance((1.0, 2.0), (2.5, 3.0)) is True
    assert significance((1.0, 2.5), (2.5, 3.0)) is False  # touching intervals overlap
    assert significance(None, (2.5, 3.0)) is None


def test_duration_words_pick_the_unit() -> None:
    assert duration_words(60) == "1 minute"
    assert duration_words(90 * 60) == "1.5 hours"
    assert duration_words(36 * HOUR) == "36 hours"  # days only above 48 hours
    assert duration_words(49 * HOUR) == "2.0 days"  # 49 / 24 = 2.04
    assert duration_words(12.4 * DAY) == "12 days"


def test_change_sentence_unchanged_when_the_rounded_values_are_equal() -> None:
    # 22.2 h and 21.9 h both read "22 hours": never "rose from 22 hours to 22 hours".
    assert change_sentence("lead_time", 22.2 * HOUR, 21.9 * HOUR) == (
        "Lead time was unchanged at 22 hours (too few to tell)."
    )
    # 22.6 h reads "23 hours": a change a reader can see.
    assert change_sentence("lead_time", 22.6 * HOUR, 21.9 * HOUR).startswith(
        "Lead time rose from 22 hours to 23 hours"
    )


# -- teams, risks, the gate --------------------------------------------------------------------


def test_levels_sentence_counts_teams_per_level() -> None:
    levels = {"a": "elite", "b": "medium", "c": "medium", "d": None}

    assert levels_sentence(levels) == (
        "Of 4 teams, 1 is elite, 2 are medium and 1 has too little data for a level."
    )
    assert levels_sentence({"a": "high"}) == "Of 1 team, 1 is high."
    assert levels_sentence({}) == "No team had any data this period."


def test_level_moves_sentence_names_ups_and_downs_only() -> None:
    moves = [("payments", "high", "elite"), ("billing", "medium", "low"), ("web", "high", "high")]

    assert level_moves_sentence(moves) == (
        "Level changes: payments moved up from high to elite; "
        "billing moved down from medium to low."
    )
    assert level_moves_sentence([("x", None, "high")]) is None


def test_gate_sentence_compares_blocked_shares() -> None:
    # 12/30 = 40%, 5/28 = 17.9% -> 18%.
    assert gate_sentence(12, 30, 5, 28) == (
        "The promotion gate blocked 12 of 30 promotions (40%), against 5 of 28 promotions "
        "(18%) the period before."
    )
    assert gate_sentence(0, 0, 0, 0) == "Nobody asked the promotion gate in either period."
    assert gate_sentence(1, 1, 0, 0) == (
        "The promotion gate blocked 1 of 1 promotion (100%), against none asked the period before."
    )


def test_stale_and_spread_sentences() -> None:
    stale = [
        {
            "service": "network-stack",
            "environment": "staging",
            "target": "",
            "lag_seconds": 37 * DAY,
        },
        {"service": "k8s", "environment": "production", "target": "eu-1", "lag_seconds": None},
    ]
    assert stale_sentence(stale, 10) == (
        "2 of 10 automation instances were stale: network-stack in staging (37 days since its "
        "last successful run), k8s in production eu-1 (never succeeded)."
    )
    assert stale_sentence([], 4) == (
        "All 4 automation instances ran successfully within their stale_after."
    )
    spreads = [
        {"service": "checkout", "environment": "production", "versions": 3, "targets": 3,
         "versions_behind": 2},
        {"service": "web", "environment": "staging", "versions": 1, "targets": 1,
         "versions_behind": 0},
    ]  # fmt: skip
    assert spread_sentence(spreads) == (
        "Widest version spread: checkout ran 3 versions across 3 production targets "
        "(2 releases behind)."
    )
    assert spread_sentence(spreads[1:]) == (
        "Every service ran a single version in each environment."
    )


def _figure(key: str, value: float | None, ci: tuple[float, float] | None) -> Figure:
    return Figure(
        key=key, value=value, text="", n=20, n_label="", ci=ci, ci_text="", level=None,
        badge="", badge_text="",
    )  # fmt: skip


def _row(key: str, now: float, then: float, ci_now=None, ci_then=None) -> FigureRow:
    current, previous = _figure(key, now, ci_now), _figure(key, then, ci_then)
    return FigureRow(
        key=key,
        current=current,
        previous=previous,
        comparison=compare(key, current, previous),
        sentence=f"{key} {now} {then}",
    )


def test_movements_rank_significant_changes_first_then_relative_size() -> None:
    teams = [
        lead.TeamRow(
            name="a",
            team="a",
            level=None,
            previous_level=None,
            figures=(
                _row("lead_time", 50 * HOUR, 100 * HOUR),  # −50%, better, too few to tell
                _row(  # 9 h against 10 h: −10%, significant
                    "recovery_time",
                    9 * HOUR,
                    10 * HOUR,
                    (8 * HOUR, 9.5 * HOUR),
                    (9.6 * HOUR, 11 * HOUR),
                ),
                _row("change_failure_rate", 0.3, 0.1),  # +200%, worse
            ),
        ),
        lead.TeamRow(
            name="b",
            team="b",
            level=None,
            previous_level=None,
            figures=(
                _row("deployment_frequency", 6.0, 4.0),  # +50%, better
                _row("lead_time", 130 * HOUR, 100 * HOUR),  # +30%, worse
                _row("recovery_time", 22.2 * HOUR, 21.9 * HOUR),  # both "22 h": neither
                _row("rework_rate", 0.2, 0.2),  # flat: neither
            ),
        ),
    ]

    better, worse = lead.movements(teams)

    assert [(m.team, m.row.key) for m in better] == [
        ("a", "recovery_time"),  # significant beats a bigger change
        ("a", "lead_time"),  # |−50%| ties +50%: the stable sort keeps team a first
        ("b", "deployment_frequency"),
    ]
    assert [(m.team, m.row.key) for m in worse] == [
        ("a", "change_failure_rate"),
        ("b", "lead_time"),
    ]


# -- periods -----------------------------------------------------------------------------------

NOW = datetime(2026, 3, 2, 12, tzinfo=UTC)


def test_period_default_is_the_last_complete_month() -> None:
    period = lead.period_parse(None, None, now=NOW)

    assert (period.start, period.end) == (
        datetime(2026, 2, 1, tzinfo=UTC),
        datetime(2026, 3, 1, tzinfo=UTC),
    )
    assert period.label == "February 2026"
    assert period.previous().label == "January 2026"


def test_period_quarter_holding_a_date_and_the_one_before_across_a_year() -> None:
    period = lead.period_parse("quarter", "2026-02-14", now=NOW)

    assert (period.start, period.end, period.label) == (
        datetime(2026, 1, 1, tzinfo=UTC),
        datetime(2026, 4, 1, tzinfo=UTC),
        "Q1 2026",
    )
    previous = period.previous()
    assert (previous.start, previous.end, previous.label) == (
        datetime(2025, 10, 1, tzinfo=UTC),
        datetime(2026, 1, 1, tzinfo=UTC),
        "Q4 2025",
    )
    assert lead.period_of("month", date(2025, 12, 31)).end == datetime(2026, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("kind", "day", "parameter"),
    [("week", None, "period"), ("month", "2026-13-01", "date"), ("month", "2026-04-01", "date")],
)
def test_period_parse_rejects_what_a_user_can_fix(kind, day, parameter) -> None:
    with pytest.raises(ParameterError) as raised:
        lead.period_parse(kind, day, now=NOW)

    assert raised.value.parameter == parameter


# -- estate cells --------------------------------------------------------------------------------


def test_cell_state_grades_age_against_stale_after() -> None:
    week = 7 * DAY
    assert em.cell_state(3 * DAY, week) == "fresh"  # under half of 7 days
    assert em.cell_state(4 * DAY, week) == "ageing"  # over 3.5 days
    assert em.cell_state(8 * DAY, week) == "stale"
    assert em.cell_state(None, week) == "none"
    assert em.cell_state(None, week, never=True) == "stale"


def test_age_text_reads_at_a_glance() -> None:
    assert [
        em.age_text(s) for s in (59, 45 * 60, 5 * HOUR + 600, 3 * DAY + 4 * HOUR, 12.5 * DAY)
    ] == [
        "0m",
        "45m",
        "5h 10m",
        "3d 4h",
        "12d",
    ]
    assert em.age_text(None) == "–"


def test_automation_evidence_figure_draws_rates_with_wilson_error_bars() -> None:
    buckets = pd.DataFrame(
        {
            "gap": ["<=1d", "1-7d", "7-30d", ">30d"],
            "runs": [10, 4, 0, 2],
            "failures": [1, 2, 0, 2],
            "rate": [0.1, 0.5, None, 1.0],
            "ci_low": [0.02, 0.15, None, 0.34],
            "ci_high": [0.4, 0.85, None, 1.0],
        }
    )

    figure = em.automation_evidence_figure(buckets)

    trace = figure["data"][0]
    assert trace["x"] == ["≤ 1 day", "1–7 days", "7–30 days", "> 30 days"]
    assert trace["y"] == [10.0, 50.0, None, 100.0]
    assert trace["error_y"]["array"] == [30.0, 35.0, 0, 0.0]
    assert trace["error_y"]["arrayminus"] == [8.0, 35.0, 0, 66.0]
    assert trace["text"] == ["n=10", "n=4", "n=0", "n=2"]
    assert "n=16 runs" in figure["layout"]["title"]["text"]


def test_estate_matrix_cells_from_spread_and_lag_frames() -> None:
    until = datetime(2026, 3, 2, tzinfo=UTC)

    class Computation:
        """What estate_matrix reads of a MetricsComputation."""

        def __init__(self, spread, instances, runs) -> None:
            self.spread = type("S", (), {"items": spread[0], "rows": spread[1]})()
            self.automation = type("A", (), {"instances": instances})()
            self.automation_runs = runs

    items = pd.DataFrame(
        {
            "service": ["shop", "shop"],
            "environment": ["production", "production"],
            "target": ["eu", "us"],
            "version": ["v2", "v1"],
            "finished_at": [until - timedelta(days=1), until - timedelta(days=9)],
            "released_at": [until - timedelta(days=2), until - timedelta(days=10)],
            "release_no": [1, 0],
        }
    )
    rows = pd.DataFrame(
        {
            "service": ["shop"],
            "environment": ["production"],
            "targets": [2],
            "versions": [2],
            "versions_behind": [1],
            "oldest_live_age_seconds": [10 * DAY],
            "share_on_newest": [0.5],
        }
    )
    instances = pd.DataFrame(
        {
            "service": ["stack"],
            "environment": ["production"],
            "target": [""],
            "last_success_at": [until - timedelta(days=9)],
            "trigger": ["schedule"],
            "last_action": ["apply"],
            "lag_seconds": [9 * DAY],
            "manual": [False],
            "stale_after_seconds": [7 * DAY],
            "stale": [True],
        }
    )
    computation = Computation((items, rows), instances, pd.DataFrame())
    environments = [
        {"name": "staging", "tier": "staging", "order": 1, "stale_after": timedelta(days=7)},
        {"name": "production", "tier": "production", "order": 2, "stale_after": timedelta(days=7)},
    ]
    services = [
        {"name": "shop", "kind": "app", "team__name": "t"},
        {"name": "stack", "kind": "infra", "team__name": None},
    ]

    matrix = em.estate_matrix(
        services, environments, {"production": computation},
        since=until - timedelta(weeks=12), until=until,
    )  # fmt: skip

    shop, stack = matrix.rows
    assert [c.state for c in shop.cells] == ["none", "fresh"]  # newest v2 is 2 days old
    cell = shop.cells[1]
    assert cell.versions == ("v2", "v1")
    assert cell.spread_text == "2 versions on 2 targets"
    assert cell.newest_age_text == "2d"
    assert [(d.target, d.version, d.on_newest) for d in cell.details] == [
        ("eu", "v2", True),
        ("us", "v1", False),
    ]
    assert stack.infra and stack.cells[1].state == "stale"  # 9 days of lag > 7 days
    assert stack.cells[1].reason == "automation lag 9d > stale after 7d"
    assert matrix.teams()[0][0] == "t" and matrix.teams()[1][0] is None
    assert matrix.counts() == {"fresh": 1, "ageing": 0, "stale": 1, "none": 2}


@pytest.mark.parametrize(
    ("name", "cell"),
    [
        ("payments", "payments"),
        ("=HYPERLINK(1)", "'=HYPERLINK(1)"),
        ("+1", "'+1"),
        ("-team", "'-team"),
        ("@sum", "'@sum"),
    ],
)
def test_csv_team_names_never_start_a_formula(name: str, cell: str) -> None:
    assert _csv_text(name) == cell
