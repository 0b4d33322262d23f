"""The missed-target provider against dora.targets' interface (attainments -> Attainment), with
a stand-in attainments function (tests/integration/test_targets_heard.py runs real targets)."""

from __future__ import annotations

import types
from datetime import UTC, datetime, timedelta

import pytest

import dora.alerts.targets as provider_module
from dora.alerts.evaluate import AlertContext, Condition, provider_kind
from dora.alerts.targets import targets_missed
from dora.targets import Attainment

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _attained(
    target_id: int, status: str, subject: str = "team", name: str = "payments"
) -> Attainment:
    return Attainment(
        target_id=target_id,
        subject=subject,
        subject_name=name,
        figure="lead_time.p50_seconds",
        direction="below",
        threshold=86400.0,
        window=timedelta(days=28),
        value=None if status == "no_data" else 2 * 86400.0,
        status=status,
        label="lead time p50 below 1 day",
        value_text="2 days",
    )


def test_targets_missed_are_conditions_of_the_team_keyed_by_target(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    asked: list[tuple[str | None, datetime]] = []

    def attainments(
        *, team: str | None = None, service: str | None = None, now: datetime
    ) -> list[Attainment]:
        asked.append((team, now))
        if team != "payments":
            return []
        return [
            _attained(1, "missed"),
            _attained(2, "met"),
            _attained(3, "no_data"),
            _attained(4, "missed", subject="service", name="shop"),
            _attained(4, "missed", subject="service", name="shop"),  # listed twice: one alert
        ]

    fake = types.ModuleType("dora.targets")
    fake.attainments = attainments  # type: ignore[attr-defined]
    monkeypatch.setattr(provider_module, "targets", fake)

    found = list(targets_missed(AlertContext(now=NOW, teams=("payments", "search"))))

    assert asked == [("payments", NOW), ("search", NOW)]
    assert provider_kind(targets_missed) == "target"
    assert found == [
        Condition(
            key="target:1",
            team="payments",
            title="Target missed: payments lead time p50 below 1 day",
            detail="lead_time.p50_seconds is 2 days (lead time p50 below 1 day)",
            link="/dashboards/team?team=payments",
        ),
        Condition(
            key="target:4",
            team="payments",
            title="Target missed: shop lead time p50 below 1 day",
            detail="lead_time.p50_seconds is 2 days (lead time p50 below 1 day)",
            link="/dashboards/service?service=shop",
        ),
    ]
