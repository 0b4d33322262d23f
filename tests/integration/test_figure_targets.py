"""dora.targets: attainment of figure targets on small histories built through the event intake,
each value worked out by hand from METRICS.md (arithmetic in comments)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from dora.config import config_apply, config_load
from dora.intake.events import events_record
from dora.models import FigureTarget, Service, Team
from dora.reads.report import metrics_report
from dora.reads.report_query import MetricsQuery
from dora.reads.scope import scope_resolve
from dora.targets import (
    attainments,
    duration_text,
    target_history,
    target_label,
    threshold_text,
    value_text,
    week_ends,
)
from tests.builders import change, commit, deployment, when

pytestmark = pytest.mark.django_db

HOUR = 3600.0
# Lead time of change k (hours from its commit to its rollout): 2k h, for k = 1..10.
LEADS = [2 * k for k in range(1, 11)]
# Sat 2026-03-14 09:00 UTC + 2 days: Monday 2026-03-16 09:00 UTC (T0 is Mon 2026-03-02 09:00).
NOW = when(days=14)

ESTATE = """\
teams:
  - name: payments
  - name: platform
services:
  - name: shop
    team: payments
  - name: edge
    team: platform
"""


def record(events: list[dict[str, Any]]) -> None:
    report = events_record(events)
    assert report.counts["rejected"] == 0, [i.reason for i in report.items if i.reason]


def shop_history() -> None:
    """shop: c0 shipped 4 days before T0 (its first rollout: nothing to attribute); then for k in
    1..10, commit ck authored at 24k h after T0 (PR k opened +1 h, merged +2 h), shipped alone at
    24k + 2k h: ten rollouts, lead times 2, 4, ..., 20 h."""
    events = [commit("c0", hours=-120), deployment("d0", "c0", hours=-96)]
    for k, lead in enumerate(LEADS, start=1):
        events += [
            commit(f"c{k}", [f"c{k - 1}"], hours=24 * k),
            change(k, [f"c{k}"], created=24 * k + 1, merged=24 * k + 2, merge=f"c{k}"),
            deployment(f"d{k}", f"c{k}", hours=24 * k + lead),
        ]
    record(events)


def edge_history() -> None:
    """edge, production targets eu and us: e0 on both at T0 + 1 d, e1 on eu only at T0 + 2 d:
    two versions live (eu on e1, us on e0)."""
    record(
        [
            commit("e0", hours=0, repo="acme/edge"),
            commit("e1", ["e0"], hours=30, repo="acme/edge"),
            deployment("x1", "e0", hours=24, service="edge", target="eu"),
            deployment("x2", "e0", hours=24, service="edge", target="us"),
            deployment("x3", "e1", hours=48, service="edge", target="eu"),
        ]
    )


def targets(text: str) -> None:
    config_apply(config_load(ESTATE + "targets:\n" + text))


@pytest.fixture
def estate() -> None:
    config_apply(config_load(ESTATE))
    shop_history()
    edge_history()


def test_lead_time_p50_at_the_threshold_is_met_below_and_above(estate: None) -> None:
    # The ten lead times 2..20 h are all in [NOW - 14 d, NOW) = [03-02 09:00, 03-16 09:00)
    # (the first arrives at 24 + 2 = 26 h after T0). Median of ten: (10 + 12) / 2 = 11 h.
    targets(
        "  - {team: payments, figure: lead_time.p50_seconds, below: 39600, window: 14d}\n"
        "  - {service: shop, figure: lead_time.p50_seconds, below: 39599, window: 14d}\n"
        "  - {service: shop, figure: lead_time.p50_seconds, above: 39600, window: 14d}\n"
        "  - {team: payments, figure: lead_time.p50_seconds, above: 39601, window: 14d}\n"
    )

    found = attainments(now=NOW)

    team_below = next(a for a in found if a.subject == "team" and a.direction == "below")
    assert (team_below.value, team_below.status) == (11 * HOUR, "met")  # 11 h <= 11 h
    shop = {a.direction: a for a in found if a.subject == "service"}
    assert (shop["below"].value, shop["below"].status) == (11 * HOUR, "missed")  # > 39599 s
    assert (shop["above"].value, shop["above"].status) == (11 * HOUR, "met")  # 11 h >= 11 h
    team_above = next(a for a in found if a.subject == "team" and a.direction == "above")
    assert team_above.status == "missed"  # 39600 < 39601
    assert team_below.label == "Lead time p50 at most 11 h"
    assert team_below.value_text == "11 h"
    assert (team_below.subject_name, shop["below"].subject_name) == ("payments", "shop")
    assert team_below.window == timedelta(days=14)


def test_too_few_items_is_no_data_and_counts_are_always_data(estate: None) -> None:
    # Window 5 d: [03-11 09:00, 03-16 09:00) = [216 h, 336 h) after T0. Rollout k lands at
    # 24k + 2k = 26k h: k = 9 (234 h) and k = 10 (260 h) only, k = 8 is at 208 h. So 2 changes,
    # under the 10 a lead-time level needs; 2 rollouts, under the 20 a change failure rate
    # needs; none failed.
    targets(
        "  - {service: shop, figure: lead_time.p50_seconds, below: 86400, window: 5d}\n"
        "  - {service: shop, figure: lead_time.n, above: 2, window: 5d}\n"
        "  - {service: shop, figure: change_failure_rate.rate, below: 0.15, window: 5d}\n"
        "  - {service: shop, figure: change_failure_rate.failed, below: 0, window: 5d}\n"
        "  - {service: shop, figure: deployment_frequency.rollouts, above: 5, window: 5d}\n"
    )

    found = {a.figure: a for a in attainments(service="shop", now=NOW)}

    assert (found["lead_time.p50_seconds"].value, found["lead_time.p50_seconds"].status) == (
        None,
        "no_data",
    )
    assert found["lead_time.p50_seconds"].value_text == "—"
    assert (found["lead_time.n"].value, found["lead_time.n"].status) == (2, "met")  # 2 >= 2
    assert found["change_failure_rate.rate"].status == "no_data"
    assert (
        found["change_failure_rate.failed"].value,
        found["change_failure_rate.failed"].status,
    ) == (
        0,
        "met",
    )
    rollouts = found["deployment_frequency.rollouts"]
    assert (rollouts.value, rollouts.status, rollouts.value_text) == (2, "missed", "2")


def test_version_spread_counts_versions_live_in_production(estate: None) -> None:
    # edge: eu runs e1, us runs e0 at NOW: 2 versions.
    targets(
        "  - {service: edge, figure: version_spread.max_versions, below: 1}\n"
        "  - {team: platform, figure: version_spread.max_versions, above: 2}\n"
    )

    found = {a.subject: a for a in attainments(team="platform", now=NOW)}

    assert (found["service"].value, found["service"].status) == (2, "missed")  # 2 > 1
    assert (found["team"].value, found["team"].status) == (2, "met")  # 2 >= 2
    assert found["service"].label == "Version spread in production at most 1 version"
    assert found["service"].value_text == "2 versions"


def test_attainments_select_by_team_service_or_all(estate: None) -> None:
    targets(
        "  - {team: payments, figure: lead_time.n, above: 1}\n"
        "  - {service: shop, figure: lead_time.n, above: 1}\n"
        "  - {service: edge, figure: version_spread.max_versions, below: 1}\n"
    )

    assert [(a.subject, a.subject_name) for a in attainments(team="payments", now=NOW)] == [
        ("team", "payments"),
        ("service", "shop"),
    ]
    assert [a.subject_name for a in attainments(service="edge", now=NOW)] == ["edge"]
    assert [a.subject_name for a in attainments(now=NOW)] == ["payments", "edge", "shop"]


def test_attainment_values_equal_the_metrics_report(estate: None) -> None:
    """The value is the report's figure for the same scope and window."""
    targets(
        "  - {team: payments, figure: lead_time.p90_seconds, below: 1, window: 14d}\n"
        "  - {team: payments, figure: deployment_frequency.per_week, above: 1, window: 14d}\n"
    )
    query = MetricsQuery(
        scope=scope_resolve(team="payments"), since=NOW - timedelta(days=14), until=NOW
    )
    report = metrics_report(query, now=NOW)

    found = {a.figure: a.value for a in attainments(team="payments", now=NOW)}

    assert found == {
        "lead_time.p90_seconds": report["lead_time"]["p90_seconds"],
        "deployment_frequency.per_week": report["deployment_frequency"]["per_week"],
    }
    # By hand: p90 of 2, 4, ..., 20 h at rank 0.9 * 9 = 8.1: 18 + 0.1 * 2 = 18.2 h; 10 rollouts
    # in 14 days = 5 a week.
    assert found["lead_time.p90_seconds"] == pytest.approx(18.2 * HOUR)
    assert found["deployment_frequency.per_week"] == pytest.approx(5.0)


def test_target_history_per_week_of_the_teams_time_zone(estate: None) -> None:
    targets(
        "  - {service: shop, figure: lead_time.p50_seconds, below: 39600, window: 14d}\n"
        "  - {service: shop, figure: deployment_frequency.rollouts, above: 8, window: 14d}\n"
    )
    lead = FigureTarget.objects.get(figure="lead_time.p50_seconds")
    rollouts = FigureTarget.objects.get(figure="deployment_frequency.rollouts")

    # NOW is Mon 03-16 09:00 UTC: the two complete weeks before it start 03-02 and 03-09 and
    # end 03-09 00:00 and 03-16 00:00. Week of 03-02, window [02-23, 03-09): rollouts d0
    # (02-26 09:00) and d1..d6 (the 6th at 6 d 12 h after T0 = 03-08 21:00): 7 rollouts, 6
    # changes (under 10: no lead-time value). Week of 03-09, window [03-02, 03-16): d1..d10,
    # ten changes, p50 11 h.
    assert target_history(lead, weeks=2, now=NOW) == [
        (date(2026, 3, 2), None, "no_data"),
        (date(2026, 3, 9), 11 * HOUR, "met"),
    ]
    assert target_history(rollouts, weeks=2, now=NOW) == [
        (date(2026, 3, 2), 7.0, "missed"),  # 7 < 8
        (date(2026, 3, 9), 10.0, "met"),
    ]


def test_version_spread_history_reads_each_weeks_live_versions(estate: None) -> None:
    targets("  - {service: edge, figure: version_spread.max_versions, below: 1}\n")
    spread = FigureTarget.objects.get()

    # Weeks ending 03-02, 03-09 and 03-16 00:00 UTC: nothing deployed before 03-03 09:00 (x1,
    # x2), so no live version the first week; then eu runs e1 (x3, 03-04) and us e0: 2 > 1.
    assert target_history(spread, weeks=3, now=NOW) == [
        (date(2026, 2, 23), None, "no_data"),
        (date(2026, 3, 2), 2.0, "missed"),
        (date(2026, 3, 9), 2.0, "missed"),
    ]


def test_week_ends_follow_the_time_zone() -> None:
    # Mon 03-16 09:00 UTC is 10:00 in Berlin: the last complete week is 03-09..03-15, ending at
    # Berlin's midnight, 03-15 23:00 UTC; the one before ends 03-08 23:00 UTC.
    assert week_ends(weeks=2, now=NOW, tz="Europe/Berlin") == [
        (date(2026, 3, 2), datetime(2026, 3, 8, 23, tzinfo=UTC)),
        (date(2026, 3, 9), datetime(2026, 3, 15, 23, tzinfo=UTC)),
    ]
    # 00:30 on Monday in Berlin is still Sunday in UTC: the week of 03-09 is then complete.
    assert week_ends(
        weeks=1, now=datetime(2026, 3, 15, 23, 30, tzinfo=UTC), tz="Europe/Berlin"
    ) == [(date(2026, 3, 9), datetime(2026, 3, 15, 23, tzinfo=UTC))]


def test_texts_for_people() -> None:
    assert target_label("lead_time.p50_seconds", "below", 86400) == "Lead time p50 at most 1 day"
    assert target_label("change_failure_rate.rate", "below", 0.15) == (
        "Change failure rate at most 15%"
    )
    assert target_label("deployment_frequency.per_week", "above", 10) == (
        "Deployment frequency per week at least 10"
    )
    assert threshold_text("automation_lag.max_seconds", 7 * 86400) == "7 days"
    assert threshold_text("recovery_time.p50_seconds", 12 * 3600) == "12 h"
    assert duration_text(timedelta(days=28)) == "28 days"
    assert value_text("lead_time.p50_seconds", 14.2 * 3600) == "14 h"  # whole hours from 10 up
    assert value_text("change_failure_rate.rate", 0.125) == "12.5%"
    assert value_text("deployment_frequency.per_week", 4.25) == "4.25"
    assert value_text("lead_time.p50_seconds", None) == "—"


def test_a_team_target_survives_its_services_and_a_deleted_team_takes_its_targets() -> None:
    team = Team.objects.create(name="solo")
    FigureTarget.objects.create(team=team, figure="lead_time.n", direction="above", threshold=1)

    (only,) = attainments(team="solo", now=NOW)  # no service, no history: a count of 0

    assert (only.value, only.status) == (0, "missed")
    Service.objects.create(name="loner", team=team)
    team.delete()
    assert not FigureTarget.objects.exists()


# ---------------------------------------------------------------------------------------------
# The team and service pages
# ---------------------------------------------------------------------------------------------

PAGE_TARGETS = (
    "  - {team: payments, figure: lead_time.p50_seconds, below: 39600, window: 14d}\n"
    "  - {team: payments, figure: change_failure_rate.rate, below: 0.15, window: 14d}\n"
    "  - {service: shop, figure: deployment_frequency.rollouts, above: 11, window: 14d}\n"
)


def _items(html: str) -> dict[str, tuple[str, str]]:
    """Each listed target: label -> (status class, badge text)."""
    found = re.findall(
        r'<li class="target-item status-(\w+)".*?<span class="badge target-status[^"]*">'
        r"(.*?)</span>\s*<strong class=\"target-label\">(.*?)</strong>",
        html,
        flags=re.S,
    )
    # Numbers and their units are held together by no-break spaces on the page.
    return {label.replace("\xa0", " "): (status, badge.strip()) for status, badge, label in found}


def test_team_page_shows_each_targets_status_in_words(
    estate: None, admin_client, plain_static: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    targets(PAGE_TARGETS)
    monkeypatch.setattr("django.utils.timezone.now", lambda: NOW)

    html = admin_client.get("/dashboards/team?team=payments").content.decode()
    text = html.replace("\xa0", " ")

    # Over [03-02 09:00, 03-16 09:00): lead time p50 11 h (met at 11 h), 10 rollouts (under the
    # 20 a change failure rate needs: no data; under 11: missed).
    assert _items(html) == {
        "Lead time p50 at most 11 h": ("met", "✓ Met"),
        "Change failure rate at most 15%": ("no_data", "– Not enough data"),
        "Deployment frequency rollouts at least 11": ("missed", "✗ Missed"),
    }
    # Beside the lead-time card, in words; the shop target is the service's, not the team's card.
    assert "✓ Target met</span> Lead time p50 at most 11 h: 11 h over the last 14 days" in text
    assert "at most 11\xa0h: 11\xa0h over the last 14\xa0days" in html  # never "11 | h"
    assert "Target missed" not in html
    assert "– Target: not enough data</span> Change failure rate at most 15%: —" in text
    # Eight weeks of history per target, each week's status in words for screen readers.
    assert html.count('<li class="week status-') == 3 * 8
    assert "Week of Mon 9 Mar 2026: 11 h, met" in text


def test_service_page_shows_its_own_targets_only(
    estate: None, admin_client, plain_static: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    targets(PAGE_TARGETS)
    monkeypatch.setattr("django.utils.timezone.now", lambda: NOW)

    html = admin_client.get("/dashboards/service?service=shop").content.decode()

    assert _items(html) == {"Deployment frequency rollouts at least 11": ("missed", "✗ Missed")}
    assert "✗ Target missed</span> Deployment frequency rollouts at least 11: 10" in html


def test_a_state_figures_target_is_judged_at_this_moment_not_over_its_window(
    estate: None, admin_client, plain_static: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Version spread is a state (METRICS §7): its target reads "at this moment", while a
    figure over a window reads "last 14 days"."""
    targets(
        "  - {service: edge, figure: version_spread.max_versions, below: 1, window: 14d}\n"
        "  - {service: edge, figure: deployment_frequency.rollouts, above: 1, window: 14d}\n"
    )
    monkeypatch.setattr("django.utils.timezone.now", lambda: NOW)

    text = admin_client.get("/dashboards/service?service=edge").content.decode()
    text = text.replace("\xa0", " ")

    # edge at NOW: eu runs e1 and us e0, 2 versions against at most 1; 3 deployments, 2 rollouts.
    assert "Now: <strong>2 versions</strong> against 1 version · at this moment" in text
    assert "Now: <strong>2</strong> against 1 · last 14 days" in text
