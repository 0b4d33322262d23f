"""`targets:` applied: FigureTarget rows created, updated and pruned by config_apply, admin-made
targets left alone, and the admin's validation of a target."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from dora.config import ConfigError, config_apply, config_load
from dora.models import FigureTarget, Service, Team

pytestmark = pytest.mark.django_db

ESTATE = """\
teams:
  - name: payments
services:
  - name: checkout
    team: payments
"""

TARGETS = (
    ESTATE
    + """\
targets:
  - team: payments
    figure: lead_time.p50_seconds
    below: 86400
    window: 28d
  - service: checkout
    figure: change_failure_rate.rate
    below: 0.15
  - team: payments
    figure: deployment_frequency.per_week
    above: 5
    window: 14d
"""
)


def _apply(text: str, **kwargs: bool) -> list[str]:
    return list(config_apply(config_load(text), **kwargs).lines)


def _stored() -> set[tuple]:
    return {
        (
            t.team.name if t.team else None,
            t.service.name if t.service else None,
            t.figure,
            t.direction,
            t.threshold,
            t.window,
            t.source,
        )
        for t in FigureTarget.objects.select_related("team", "service")
    }


def test_config_apply_creates_figure_targets_once() -> None:
    lines = _apply(TARGETS)

    assert lines[2:] == [
        "+ figure target team payments: lead_time.p50_seconds below 86400 over 28d",
        "+ figure target service checkout: change_failure_rate.rate below 0.15 over 28d",
        "+ figure target team payments: deployment_frequency.per_week above 5 over 14d",
    ]
    assert _stored() == {
        ("payments", None, "lead_time.p50_seconds", "below", 86400.0, timedelta(days=28), "file"),
        (None, "checkout", "change_failure_rate.rate", "below", 0.15, timedelta(days=28), "file"),
        (
            "payments",
            None,
            "deployment_frequency.per_week",
            "above",
            5.0,
            timedelta(days=14),
            "file",
        ),
    }
    diff = config_apply(config_load(TARGETS))
    assert diff.lines == () and diff.notes == ()


def test_config_apply_updates_threshold_and_window_in_place() -> None:
    _apply(TARGETS)
    first = FigureTarget.objects.get(figure="lead_time.p50_seconds")

    lines = _apply(TARGETS.replace("below: 86400\n    window: 28d", "below: 43200\n    window: 7d"))

    assert lines == [
        "~ figure target team payments: lead_time.p50_seconds below: "
        "threshold 86400.0 -> 43200.0, window 28d -> 7d"
    ]
    again = FigureTarget.objects.get(figure="lead_time.p50_seconds")
    assert (again.pk, again.threshold, again.window) == (first.pk, 43200.0, timedelta(days=7))


def test_config_apply_prunes_only_the_files_targets() -> None:
    _apply(TARGETS)
    payments = Team.objects.get(name="payments")
    FigureTarget.objects.create(
        team=payments, figure="recovery_time.p50_seconds", direction="below", threshold=3600
    )
    without_cfr = TARGETS.replace(
        "  - service: checkout\n    figure: change_failure_rate.rate\n    below: 0.15\n", ""
    )

    assert _apply(without_cfr) == []  # absent targets stay without --prune
    assert FigureTarget.objects.count() == 4

    lines = _apply(without_cfr, prune=True)

    assert lines == ["- figure target service checkout: change_failure_rate.rate below"]
    # The admin's target (source admin) is not the file's to prune.
    assert set(FigureTarget.objects.values_list("figure", "source")) == {
        ("lead_time.p50_seconds", "file"),
        ("deployment_frequency.per_week", "file"),
        ("recovery_time.p50_seconds", "admin"),
    }


def test_config_apply_takes_over_an_admin_target_with_the_same_key() -> None:
    _apply(ESTATE)
    FigureTarget.objects.create(
        team=Team.objects.get(name="payments"),
        figure="lead_time.p50_seconds",
        direction="below",
        threshold=7200,
    )

    lines = _apply(TARGETS)

    assert lines[0] == (
        "~ figure target team payments: lead_time.p50_seconds below: "
        "threshold 7200.0 -> 86400.0, source admin -> file"
    )
    assert FigureTarget.objects.filter(figure="lead_time.p50_seconds").count() == 1


def test_config_apply_rejects_a_target_for_an_unknown_service() -> None:
    text = ESTATE + "targets:\n  - service: nowhere\n    figure: lead_time.n\n    above: 1\n"

    with pytest.raises(ConfigError) as caught:
        config_apply(config_load(text))

    assert caught.value.errors == [
        "dora.yml:7: target for lead_time.n: service 'nowhere' is not defined in the file or "
        "the database (add it under services:)"
    ]
    assert not FigureTarget.objects.exists() and not Team.objects.exists()


def test_config_apply_accepts_a_target_for_a_service_in_the_database() -> None:
    Service.objects.create(name="legacy")

    lines = _apply(
        "targets:\n  - service: legacy\n    figure: automation_lag.max_seconds\n"
        "    below: 1209600\n"
    )

    # Written as the file writes it, not 1.2096e+06.
    assert lines == [
        "+ figure target service legacy: automation_lag.max_seconds below 1209600 over 28d"
    ]


def test_config_load_rejects_two_bounds_in_one_direction() -> None:
    text = TARGETS + "  - team: payments\n    figure: lead_time.p50_seconds\n    below: 1\n"

    with pytest.raises(ConfigError) as caught:
        config_load(text)

    assert caught.value.errors == [
        "dora.yml:18: targets[3]: team 'payments' already has a target for "
        "lead_time.p50_seconds below (targets[0]); give each figure one bound per direction"
    ]


def test_config_load_knows_the_version_spread_figure() -> None:
    config = config_load(
        ESTATE + "targets:\n  - service: checkout\n    figure: version_spread.max_versions\n"
        "    below: 2\n"
    )

    assert config.targets[0].figure == "version_spread.max_versions"


# ---------------------------------------------------------------------------------------------
# Model and admin validation
# ---------------------------------------------------------------------------------------------


def test_figure_target_clean_names_each_bad_field() -> None:
    team = Team.objects.create(name="payments")
    service = Service.objects.create(name="checkout", team=team)

    with pytest.raises(ValidationError) as caught:
        FigureTarget(
            team=team,
            service=service,
            figure="lead_time.p51_seconds",
            direction="below",
            threshold=1,
            window=timedelta(0),
        ).full_clean()

    errors = caught.value.message_dict
    assert set(errors) == {"service", "figure", "window"}
    assert "fields of lead_time" in errors["figure"][0]
    with pytest.raises(ValidationError) as caught:
        FigureTarget(figure="speed.max", direction="above", threshold=1).full_clean()
    assert set(caught.value.message_dict) == {"team", "figure"}
    assert "families:" in caught.value.message_dict["figure"][0]


def test_admin_adds_a_target_as_source_admin(admin_client, plain_static: None) -> None:
    team = Team.objects.create(name="payments")
    url = reverse("admin:dora_figuretarget_add")
    form = {
        "team": team.pk,
        "service": "",
        "figure": "change_failure_rate.rate",
        "direction": "below",
        "threshold": "0.15",
        "window": "28 00:00:00",
    }

    response = admin_client.post(url, form)

    assert response.status_code == 302, response.content.decode()[:2000]
    target = FigureTarget.objects.get()
    assert (target.source, target.threshold, target.window) == ("admin", 0.15, timedelta(days=28))


def test_admin_refuses_an_unknown_figure_and_a_target_without_subject(
    admin_client, plain_static: None
) -> None:
    url = reverse("admin:dora_figuretarget_add")
    form = {
        "team": "",
        "service": "",
        "figure": "lead_time.p99_seconds",
        "direction": "below",
        "threshold": "1",
        "window": "28 00:00:00",
    }

    response = admin_client.post(url, form)

    assert response.status_code == 200  # the form again, with its errors
    errors = response.context["adminform"].form.errors
    assert set(errors) == {"figure", "team"}
    assert not FigureTarget.objects.exists()
