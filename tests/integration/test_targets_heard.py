"""Real figure targets reaching the people who set them (issue 19): a target first missed alerts
once, clears when it is met and alerts again only after that; the weekly digest lists targets met
and missed as dora.targets judges them at the week's end. Clock frozen by passing `now`; events go
through intake. Times are hours after T0 (Monday 2026-03-02 09:00 UTC)."""

from __future__ import annotations

from datetime import timedelta
from html.parser import HTMLParser

import pytest
from django.core import mail

from dora.alerts.evaluate import alerts_evaluate
from dora.config import config_apply, config_load
from dora.digests import team_digest
from dora.models import AlertChannel, AlertDelivery, Team
from tests.builders import commit, deployment, when
from tests.integration.test_figure_targets import ESTATE, record, shop_history

pytestmark = pytest.mark.django_db

TARGET_PROVIDER = ["dora.alerts.targets.targets_missed"]
# Monday 2026-03-16 09:00 UTC: shop's ten rollouts (k = 1..10) went live at 26k h after T0.
NOW = when(days=14)


def _config(targets: str) -> None:
    config_apply(config_load(ESTATE + "targets:\n" + targets))


def _fired_and_cleared() -> list[tuple[str, str]]:
    return [
        (d.state.key.split(":")[0], d.event)
        for d in AlertDelivery.objects.select_related("state").order_by("id")
    ]


def test_a_missed_target_alerts_once_clears_when_met_and_alerts_again_after() -> None:
    _config("  - {service: shop, figure: deployment_frequency.rollouts, above: 3, window: 5d}\n")
    shop_history()
    AlertChannel.objects.create(
        team=Team.objects.get(name="payments"), kind="email", address="oncall@example.com"
    )

    # At 336 h the window is [216 h, 336 h): rollouts 9 (234 h) and 10 (260 h): 2 < 3, missed.
    alerts_evaluate(now=NOW, providers=TARGET_PROVIDER)
    assert _fired_and_cleared() == [("target", "fired")]
    # An hour later, [221 h, 337 h): still those 2. Still missed: nothing new.
    alerts_evaluate(now=NOW + timedelta(hours=1), providers=TARGET_PROVIDER)
    assert _fired_and_cleared() == [("target", "fired")]

    # Two more rollouts at 338 h and 339 h: at 340 h, [224 h, 340 h) holds 4 >= 3: met, cleared.
    record(
        [
            commit("c11", ["c10"], hours=337),
            deployment("d11", "c11", hours=338),
            commit("c12", ["c11"], hours=338),
            deployment("d12", "c12", hours=339),
        ]
    )
    alerts_evaluate(now=NOW + timedelta(hours=4), providers=TARGET_PROVIDER)
    assert _fired_and_cleared() == [("target", "fired"), ("target", "cleared")]
    alerts_evaluate(now=NOW + timedelta(hours=5), providers=TARGET_PROVIDER)
    assert len(_fired_and_cleared()) == 2

    # Six days on (480 h), [360 h, 480 h) holds no rollout: missed again, alerted again.
    alerts_evaluate(now=NOW + timedelta(days=6), providers=TARGET_PROVIDER)
    assert _fired_and_cleared() == [
        ("target", "fired"),
        ("target", "cleared"),
        ("target", "fired"),
    ]


class _TargetRows(HTMLParser):
    """(data-status, cell texts) of each row of the digest's targets table."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[tuple[str, list[str]]] = []
        self._table = False
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "table":
            self._table = found.get("id") == "targets"
        elif tag == "tr" and self._table:
            self.rows.append((found.get("data-status") or "", []))
        elif tag == "td" and self._table:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "td" and self._cell is not None:
            self.rows[-1][1].append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "table":
            self._table = False

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def test_the_weekly_digest_lists_targets_as_judged_at_the_weeks_end() -> None:
    """The digest sent on Monday 2026-03-16 covers the week to 00:00 that day (327 h after T0).
    Rollouts above 3 over 5 days, [207 h, 327 h): rollouts 8 (208 h), 9, 10: 3 >= 3, met. Lead
    time p50 at most 10 h over 14 days: all ten changes, lead times 2, 4, ..., 20 h, median
    (10 + 12) / 2 = 11 h > 10 h: missed."""
    _config(
        "  - {service: shop, figure: deployment_frequency.rollouts, above: 3, window: 5d}\n"
        "  - {team: payments, figure: lead_time.p50_seconds, below: 36000, window: 14d}\n"
    )
    shop_history()

    digest = team_digest(Team.objects.get(name="payments"), now=NOW)

    parser = _TargetRows()
    parser.feed(digest.html)
    assert [(status, cells[0], cells[2]) for status, cells in parser.rows] == [
        ("missed", "Missed", "11 h"),
        ("met", "Met", "3"),
    ]
    assert "1 met, 1 missed." in digest.html
    assert "- Missed: Lead time p50 at most 10 h (11 h)" in digest.text
    assert not mail.outbox  # building a digest sends nothing
