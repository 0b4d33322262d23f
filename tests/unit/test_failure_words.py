"""failure_reason: why a rollout failed, as a sentence with its status; never cut."""

from __future__ import annotations

import pandas as pd
import pytest
from django.template import Context, Template

from dora.failure_words import failure_reason, failure_reasons
from dora.templatetags.units import shorten_text

LIVE = pd.Timestamp("2026-11-30T11:05:00Z")


def test_failure_reason_inferred_incident_says_how_long_after_it_went_live() -> None:
    link = {
        "cause": "inferred",
        "status": "inferred",
        "detail": "incident incident:INC-78 opened within 24 h",
        "incident": "incident:INC-78",
        "incident_opened_at": pd.Timestamp("2026-11-30T14:05:00Z"),  # 3 h after 11:05
    }
    assert (
        failure_reason(link, LIVE) == "Incident INC-78 opened 3.0 h after it went live (inferred)"
    )


def test_failure_reason_rollback_names_the_version_and_days_above_48_hours() -> None:
    link = {
        "cause": "rollback",
        "status": "confirmed",
        "detail": "rolled back by v3.109.0",
        "by_version": "v3.109.0",
        "by_live_at": pd.Timestamp("2026-12-02T12:05:00Z"),  # 49 h after: 2.04 days
    }
    assert failure_reason(link, LIVE) == (
        "Rolled back by v3.109.0 2.0 days after it went live (confirmed)"
    )


@pytest.mark.parametrize(
    ("cause", "by_version", "text"),
    [
        ("hotfix", "v3.2.1", "Hotfix v3.2.1 went live 40 min after it (confirmed)"),
        ("revert", "v3.3.0", "Reverted in v3.3.0 40 min after it went live (confirmed)"),
    ],
)
def test_failure_reason_remedies(cause: str, by_version: str, text: str) -> None:
    link = {
        "cause": cause,
        "status": "confirmed",
        "by_version": by_version,
        "by_live_at": LIVE + pd.Timedelta(minutes=40),
    }
    assert failure_reason(link, LIVE) == text


def test_failure_reason_without_times_is_the_detail_as_a_sentence() -> None:
    link = {
        "cause": "incident",
        "status": "confirmed",
        "detail": "incident incident:INC-4 names it",
        "incident": "incident:INC-4",
        "incident_opened_at": None,
    }
    assert failure_reason(link, LIVE) == "Incident INC-4 names it (confirmed)"


def test_failure_reasons_join_a_rollouts_links() -> None:
    links = pd.DataFrame(
        [
            {"rollout_id": 7, "cause": "hotfix", "status": "confirmed", "by_version": "v2",
             "by_live_at": LIVE + pd.Timedelta(hours=5)},
            {"rollout_id": 7, "cause": "rollback", "status": "confirmed", "by_version": "v1",
             "by_live_at": LIVE + pd.Timedelta(hours=1)},
        ]
    )  # fmt: skip
    assert failure_reasons(links, {7: LIVE}) == {
        7: "Hotfix v2 went live 5.0 h after it (confirmed); "
        "Rolled back by v1 1.0 h after it went live (confirmed)"
    }


def test_shorten_cuts_at_a_word_with_an_ellipsis() -> None:
    text = "Errors in checkout after the release of the new payment provider"
    # 30 characters: "Errors in checkout after the r" -> back to the last space, then "…".
    assert shorten_text(text, 30) == "Errors in checkout after the…"
    assert shorten_text("short", 30) == "short"
    assert shorten_text("Supercalifragilistic words", 10) == "Supercalifragilistic…"


def test_day_and_time_filters_use_the_one_format() -> None:
    moment = pd.Timestamp("2026-11-30T14:05:00Z").to_pydatetime()
    text = Template("{% load units %}{{ m|day_text }}|{{ m|time_text }}|{{ n|time_text }}").render(
        Context({"m": moment, "n": None})
    )
    assert text == "Mon 30 Nov 2026|30 Nov 14:05 UTC|–"
