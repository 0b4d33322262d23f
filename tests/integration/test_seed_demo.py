"""`manage.py seed_demo`: the demo estate goes through the event intake, once."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError

pytest.importorskip(
    "dora.intake.events", reason="seed_demo sends events through dora.intake.events"
)
pytest.importorskip("dora.config", reason="seed_demo applies dora/demo.yml with dora.config")

from dora.models import (  # noqa: E402 - after the skips above
    AutomationRun,
    Change,
    Commit,
    Deployment,
    Environment,
    GateDecision,
    Incident,
    PipelineRun,
    RawEvent,
    Rollout,
    Service,
    Team,
)

pytestmark = pytest.mark.django_db

NOW = "2026-03-02T12:00:00Z"
COUNTED = (Team, Service, Environment, Commit, Change, PipelineRun, Deployment, Incident)


def seed(**options: object) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("seed_demo", stdout=out, stderr=err, **options)
    return out.getvalue(), err.getvalue()


def counts() -> dict[str, int]:
    models = (*COUNTED, AutomationRun, RawEvent, Rollout)
    return {model.__name__: model.objects.count() for model in models}


def test_seed_demo_creates_the_estate_through_the_intake() -> None:
    out, err = seed(weeks=4, now=NOW)

    assert Team.objects.count() >= 3
    assert Service.objects.count() >= 10
    assert Service.objects.filter(kind="infra").count() == 2
    assert set(Environment.objects.values_list("name", flat=True)) >= {
        "development",
        "staging",
        "production",
    }
    for model in (Commit, Change, PipelineRun, Deployment, Incident, AutomationRun):
        assert model.objects.exists(), model.__name__
    assert RawEvent.objects.filter(source="demo").count() == RawEvent.objects.count() > 1000
    assert Deployment.objects.filter(environment__name="production", status="failure").exists()
    assert Incident.objects.filter(cause="external").exists()
    assert Incident.objects.filter(resolved_at__isnull=True).exists()
    assert Rollout.objects.filter(environment__name="production").exists()
    newest = max(Deployment.objects.exclude(finished_at=None).values_list("finished_at", flat=True))
    assert newest <= datetime(2026, 3, 2, 12, tzinfo=UTC)

    # The gate was asked at a few moments per app service (where staging had a version then),
    # and the answers stored as decisions of the demo pipeline.
    decisions = GateDecision.objects.filter(requested_by="token:demo-pipeline")
    allowed = decisions.filter(allowed=True).count()
    blocked = decisions.filter(allowed=False).count()
    assert decisions.exists()
    assert f"promotion gate: {allowed} allowed and {blocked} blocked demo decisions" in out
    assert all(len(d.checks) == 10 for d in decisions)
    assert "promotion gate: " in out

    user = get_user_model().objects.get(username="demo")
    assert user.is_superuser and user.check_password("demo")
    assert "log in as demo / demo" in out
    assert "seeded" in err and "100%" in err


def test_seed_demo_twice_without_force_changes_nothing() -> None:
    seed(weeks=4, now=NOW)
    before = counts()

    out, _ = seed(weeks=4, now=NOW)

    assert "demo estate already seeded; use --force to re-seed" in out
    assert counts() == before
    assert get_user_model().objects.filter(username="demo").count() == 1


def test_seed_demo_force_reseeds_idempotently() -> None:
    seed(weeks=2, now=NOW)
    before = counts()

    out, _ = seed(weeks=2, now=NOW, force=True)

    assert counts() == before
    assert "(0 created, 0 updated, " in out and " 0 rejected)" in out


def test_seed_demo_rejects_a_naive_now() -> None:
    with pytest.raises(CommandError, match="time zone"):
        seed(weeks=1, now="2026-03-02T12:00:00")
    assert not RawEvent.objects.exists()


def test_seed_demo_default_now_is_the_current_hour() -> None:
    seed(weeks=1)

    latest_deploy = max(
        Deployment.objects.exclude(finished_at=None).values_list("finished_at", flat=True)
    )
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    assert latest_deploy <= hour


def test_seed_demo_gate_allows_most_promotions_and_blocks_a_few_for_visible_reasons() -> None:
    seed(weeks=4, now=NOW)

    decisions = GateDecision.objects.filter(requested_by="token:demo-pipeline")
    blocked = [d for d in decisions if not d.allowed]
    on_network = set(
        Service.objects.filter(depends_on__name="network-stack").values_list("name", flat=True)
    )

    # Services declare what they run on (demo.yml): network-stack, stale in staging for 35
    # days, blocks only billing, erp-sync and ledger; the rest run on k8s-platform.
    assert on_network == {"billing", "erp-sync", "ledger"}
    assert decisions.filter(allowed=True).count() > len(blocked) > 0
    for decision in blocked:
        reasons = [c for c in decision.checks if not c["passed"] and c["severity"] == "block"]
        assert reasons, decision.checks
        for reason in reasons:
            if "network-stack" in reason["detail"]:
                assert decision.service in on_network, (decision.service, reason["detail"])
