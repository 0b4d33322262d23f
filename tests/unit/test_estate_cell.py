"""An estate cell never contradicts itself: one marked "Fresh" shows no newest-version age past
its stale_after (dora.reads.estate_matrix._cell and templates/dora/_estate_cell.html)."""

from __future__ import annotations

import re
from collections import namedtuple
from datetime import UTC, datetime, timedelta

import pandas as pd
from django.template.loader import render_to_string

from dora.reads import estate_matrix as em

DAY = 86400.0
AT = pd.Timestamp(datetime(2026, 3, 2, tzinfo=UTC))
ENV = {"name": "production", "tier": "production", "order": 1, "stale_after": timedelta(days=7)}
Item = namedtuple("Item", "target version finished_at released_at release_no")
Lag = namedtuple("Lag", "target lag_seconds stale_after_seconds stale last_action manual")


def test_a_stack_applied_yesterday_is_fresh_and_shows_its_lag_not_its_month_old_version() -> None:
    # The stack's version v7 went live 30 days ago; its apply succeeded 1 day ago: the cell
    # grades the automation lag (1d <= 7d: fresh), so "newest 30d old" must not sit beside it.
    items = [Item("eu", "v7", AT - timedelta(days=30), AT - timedelta(days=30), 0)]
    lag = [Lag("eu", 1 * DAY, 7 * DAY, False, "apply", False)]

    cell = em._cell(ENV, None, items, lag, AT)
    html = render_to_string("dora/_estate_cell.html", {"cell": cell})

    assert cell.state == "fresh" and cell.graded_by == "automation lag"
    assert cell.newest_age_text == "30d"  # known, and shown per target in the details
    assert "newest 30d old" not in html
    assert "automation lag 1d" in html
    assert ">Fresh<" in html


def test_an_app_without_automation_shows_the_age_it_grades() -> None:
    # No automation instance: the newest version's age (2 days) is what the state grades.
    items = [Item("eu", "v2", AT - timedelta(days=2), AT - timedelta(days=2), 0)]

    cell = em._cell(ENV, None, items, None, AT)
    html = render_to_string("dora/_estate_cell.html", {"cell": cell})

    assert cell.state == "fresh" and cell.graded_by == "newest version"
    assert "newest 2d old" in html


def test_no_fresh_cell_shows_a_newest_age_past_stale_after() -> None:
    # Every combination of version age and lag around the 7-day bound.
    for version_days in (1, 3, 6, 8, 30):
        live = AT - timedelta(days=version_days)
        for lag_days in (None, 1, 5, 9):
            items = [Item("eu", "v1", live, live, 0)]
            lag = None
            if lag_days is not None:
                lag = [Lag("eu", lag_days * DAY, 7 * DAY, lag_days > 7, "apply", False)]
            cell = em._cell(ENV, None, items, lag, AT)
            html = render_to_string("dora/_estate_cell.html", {"cell": cell})
            if cell.state == "fresh" and version_days > 7:
                assert not re.search(r"newest \S+ old", html), (version_days, lag_days)
