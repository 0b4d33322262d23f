"""config_apply and `manage.py apply_config`: idempotent configuration as code, and the admin."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.apps import apps
from django.contrib import admin
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from dora.config import ConfigError, config_apply, config_load
from dora.models import (
    AlertChannel,
    ApiToken,
    Deployment,
    Environment,
    FigureTarget,
    GateRule,
    GateSettings,
    OrganisationSettings,
    Rollout,
    Service,
    Target,
    Team,
)

pytestmark = pytest.mark.django_db

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "dora.example.yml"

BASE = """\
teams:
  - name: payments
    members: [alice, bob]
    timezone: Europe/Berlin
services:
  - name: checkout
    team: payments
    kind: app
    repos: [acme/checkout]
environments:
  - name: staging
    tier: staging
    order: 2
    stale_after: 7d
    targets: [s-a, s-b]
  - name: production
    tier: production
    order: 3
"""


def _apply(text: str, **kwargs: bool) -> list[str]:
    return list(config_apply(config_load(text), **kwargs).lines)


def _command(path: Path, *args: str) -> tuple[int, str, str]:
    """Run apply_config; returns (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("apply_config", str(path), *args, stdout=out, stderr=err)
    except SystemExit as exc:
        return int(exc.code or 0), out.getvalue(), err.getvalue()
    except CommandError as exc:
        return exc.returncode, out.getvalue(), str(exc)
    return 0, out.getvalue(), err.getvalue()


def _deploy(service: Service, environment: Environment) -> Deployment:
    target, _ = Target.objects.get_or_create(environment=environment, name="")
    return Deployment.objects.create(
        source="api",
        external_id=f"{service.name}-{environment.name}-1",
        service=service,
        environment=environment,
        target=target,
        sha="a" * 40,
        status="success",
        finished_at=datetime(2026, 3, 5, 10, tzinfo=UTC),
    )


def test_config_apply_creates_objects() -> None:
    lines = _apply(BASE)

    assert lines == [
        "+ team payments",
        "+ service checkout",
        "+ environment staging",
        "+ environment production",
        "+ target staging/s-a",
        "+ target staging/s-b",
    ]
    team = Team.objects.get(name="payments")
    assert (team.members, team.timezone) == (["alice", "bob"], "Europe/Berlin")
    checkout = Service.objects.get(name="checkout")
    assert (checkout.team, checkout.kind, checkout.repos) == (team, "app", ["acme/checkout"])
    staging = Environment.objects.get(name="staging")
    assert (staging.tier, staging.tier_configured, staging.order) == ("staging", True, 2)
    assert staging.stale_after == timedelta(days=7)


def test_config_apply_second_apply_reports_no_changes() -> None:
    _apply(BASE)

    diff = config_apply(config_load(BASE))

    assert diff.lines == () and not diff.changed


def test_config_apply_changed_field_reports_and_updates() -> None:
    _apply(BASE)
    text = BASE.replace("    kind: app\n", "    kind: infra\n").replace("    team: payments\n", "")

    lines = _apply(text)

    assert lines == ["~ service checkout: team payments -> None, kind app -> infra"]
    checkout = Service.objects.get(name="checkout")
    assert (checkout.team, checkout.kind) == (None, "infra")


def test_config_apply_digest_recipients_and_switch() -> None:
    _apply(BASE)
    text = BASE.replace(
        "    timezone: Europe/Berlin\n",
        "    timezone: Europe/Berlin\n    digest: {to: [pay@example.com], enabled: false}\n",
    )
    text += "organisation:\n  digest:\n    to: [board@example.com]\n"

    lines = _apply(text)

    assert lines == [
        "~ team payments: digest_to [] -> [pay@example.com], digest_enabled True -> False",
        "+ organisation digest_to [board@example.com]",
    ]
    team = Team.objects.get(name="payments")
    assert (team.digest_to, team.digest_enabled) == (["pay@example.com"], False)
    assert OrganisationSettings.objects.get().digest_to == ["board@example.com"]
    assert _apply(text) == []


def test_config_apply_updates_existing_learned_environment() -> None:
    """An environment first seen in a deployment (tier inferred) gets the configured tier."""
    Environment.objects.create(name="live-eu", tier="production", order=4)

    lines = _apply("environments:\n  - name: live-eu\n    tier: staging\n    stale_after: 12h\n")

    assert lines == [
        "~ environment live-eu: tier production -> staging, tier_configured False -> True, "
        "order 4 -> 3, stale_after 7d -> 12h"
    ]


def test_config_apply_dry_run_writes_nothing() -> None:
    diff = config_apply(config_load(BASE), dry_run=True)

    assert diff.changed
    assert not Team.objects.exists() and not Target.objects.exists()


def test_config_apply_unknown_team_is_an_error() -> None:
    with pytest.raises(ConfigError) as info:
        config_apply(config_load("services:\n  - name: checkout\n    team: nobody\n"))

    assert info.value.errors[0].startswith("dora.yml:3: service 'checkout': team 'nobody'")
    assert not Service.objects.exists()


def test_config_apply_team_from_database_is_accepted() -> None:
    Team.objects.create(name="platform")

    lines = _apply("services:\n  - name: network\n    team: platform\n    kind: infra\n")

    assert lines == ["+ service network"]
    assert Service.objects.get(name="network").team.name == "platform"


def test_config_apply_targets_configured() -> None:
    staging = Environment.objects.create(name="staging", tier="staging")
    Target.objects.create(environment=staging, name="s-a")  # learned from a deployment
    _apply(BASE)

    lines = _apply(BASE.replace("targets: [s-a, s-b]", "targets: [s-a, s-c]"))

    assert lines == [
        "+ target staging/s-c",
        "~ target staging/s-b: configured True -> False (no longer listed; kept for its "
        "deployments)",
    ]
    configured = dict(
        Target.objects.filter(environment__name="staging").values_list("name", "configured")
    )
    assert configured == {"s-a": True, "s-b": False, "s-c": True}


def test_config_apply_example_file_leaves_no_section_unapplied() -> None:
    text = EXAMPLE.read_text()

    diff = config_apply(config_load(text))

    # Every source kind is applied (ingest.config) and so are the figure targets.
    assert diff.notes == ()
    assert FigureTarget.objects.filter(source="file").count() == len(config_load(text).targets)


GATES = """\
gates:
  defaults: {min_soak: 45m, severity: sev1}
  rules:
    - service: checkout
      from: staging
      to: production
      checks:
        infra_parity: block
        target_rollout_complete: {mode: block, max_spread: 2}
        soak_time: {min_soak: 2h}
    - from: staging
      checks: {no_drift: off}
"""


def test_config_apply_gates_stores_defaults_and_rules_idempotently() -> None:
    lines = _apply(GATES)

    assert lines == [
        "+ gate defaults min_soak 45m, severity sev1",
        "+ gate rule checkout: staging -> production",
        "+ gate rule *: staging -> *",
    ]
    settings = GateSettings.objects.get()
    assert (settings.min_soak, settings.severity, settings.stale_after) == (
        timedelta(minutes=45),
        "sev1",
        None,
    )
    rules = {(r.service, r.from_env, r.to_env): r.checks for r in GateRule.objects.all()}
    assert rules == {
        ("checkout", "staging", "production"): {
            "infra_parity": "block",
            "target_rollout_complete": {"mode": "block", "max_spread": 2},
            "soak_time": {"min_soak": "2h"},
        },
        ("", "staging", ""): {"no_drift": "off"},
    }
    assert _apply(GATES) == []


def test_config_apply_gates_updates_and_prunes_rules() -> None:
    _apply(GATES)

    changed = GATES.replace("min_soak: 2h", "min_soak: 3h").replace(
        "    - from: staging\n      checks: {no_drift: off}\n", ""
    )
    assert _apply(changed) == [
        "~ gate rule checkout: staging -> production: soak_time {min_soak: 2h} -> {min_soak: 3h}",
    ]
    assert GateRule.objects.count() == 2  # absent rules stay without --prune
    assert _apply(changed, prune=True) == ["- gate rule *: staging -> *"]
    assert GateRule.objects.count() == 1


@pytest.mark.parametrize(
    ("snippet", "message"),
    [
        ("gates:\n  defaults: {severity: urgent}\n", "is not a severity"),
        (
            "gates:\n  rules:\n    - checks: {target_rollout_complete: {max_spread: 0}}\n",
            "must be at least 1",
        ),
        ("gates:\n  rules:\n    - checks: {soak_time: {max_spread: 2}}\n", "max_spread"),
    ],
)
def test_config_load_gates_rejects_bad_thresholds(snippet: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        config_load(snippet)

    assert message in str(caught.value)


def test_apply_config_command_applies_file(tmp_path: Path) -> None:
    path = tmp_path / "dora.yml"
    path.write_text(BASE)

    code, out, _ = _command(path)

    assert code == 0
    assert "+ team payments" in out.splitlines()
    assert Team.objects.filter(name="payments").exists()
    assert _command(path) == (0, "no changes\n", "")


def test_apply_config_check_changes_nothing_and_exits_1(tmp_path: Path) -> None:
    path = tmp_path / "dora.yml"
    path.write_text(BASE)

    code, out, _ = _command(path, "--check")

    assert code == 1
    assert "+ service checkout" in out.splitlines()
    assert not Team.objects.exists() and not Service.objects.exists()


def test_apply_config_check_exits_0_when_in_sync(tmp_path: Path) -> None:
    path = tmp_path / "dora.yml"
    path.write_text(BASE)
    _command(path)

    assert _command(path, "--check") == (0, "no changes\n", "")


def test_apply_config_invalid_file_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "dora.yml"
    path.write_text("teams:\n  - name: a\n    tem: x\n")

    code, _, err = _command(path)

    assert code == 2
    assert err.startswith(f"{path}:3: unknown key 'tem' in teams[0]")


def test_apply_config_reports_unknown_team_with_other_errors(tmp_path: Path) -> None:
    Team.objects.create(name="platform")
    path = tmp_path / "dora.yml"
    path.write_text(
        "teams:\n"
        "  - name: payments\n"
        "    tem: x\n"  # 3
        "services:\n"
        "  - name: checkout\n"
        "    team: payments\n"  # defined in the file, though with a problem
        "  - name: network\n"
        "    team: platform\n"  # in the database
        "  - name: web\n"
        "    team: nobody\n"  # 10
    )

    code, _, err = _command(path)

    assert code == 2
    assert [line.split(":")[1] for line in err.splitlines()] == ["3", "10"]
    assert "team 'nobody' is not defined in the file or the database" in err


def test_apply_config_reads_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("teams:\n  - name: from-stdin\n"))

    code, out, _ = _command(Path("-"))

    assert (code, out) == (0, "+ team from-stdin\n")


def test_apply_config_prune_removes_absent_team(tmp_path: Path) -> None:
    Team.objects.create(name="old-team")
    path = tmp_path / "dora.yml"
    path.write_text(BASE)

    code, out, _ = _command(path, "--prune")

    assert code == 0
    assert "- team old-team" in out.splitlines()
    assert list(Team.objects.values_list("name", flat=True)) == ["payments"]


def test_apply_config_without_prune_leaves_absent_objects() -> None:
    Team.objects.create(name="old-team")
    Service.objects.create(name="legacy")

    _apply(BASE)

    assert Team.objects.filter(name="old-team").exists()
    assert Service.objects.filter(name="legacy").exists()


def test_apply_config_prune_refuses_service_with_deployments(tmp_path: Path) -> None:
    _apply(BASE)
    legacy = Service.objects.create(name="legacy")
    unused = Service.objects.create(name="unused")
    _deploy(legacy, Environment.objects.get(name="production"))
    path = tmp_path / "dora.yml"
    path.write_text(BASE)

    code, out, err = _command(path, "--prune")

    assert code == 2
    assert "- service unused" in out.splitlines()
    assert "! service legacy: not removed, it has 1 deployments" in err
    assert "add it to the file" in err
    assert Service.objects.filter(pk=legacy.pk).exists()
    assert not Service.objects.filter(pk=unused.pk).exists()


def test_config_apply_prune_refuses_environment_with_deployments() -> None:
    _apply(BASE)
    old = Environment.objects.create(name="old")
    _deploy(Service.objects.get(name="checkout"), old)

    diff = config_apply(config_load(BASE), prune=True)

    assert diff.lines == ()
    assert diff.errors[0].startswith("! environment old: not removed")
    assert Environment.objects.filter(name="old").exists()


def test_config_apply_prune_team_names_services_left_without_team() -> None:
    _apply(BASE)
    old = Team.objects.create(name="old-team")
    legacy = Service.objects.create(name="legacy", team=old)
    _deploy(legacy, Environment.objects.get(name="production"))

    diff = config_apply(config_load(BASE), prune=True)

    assert diff.lines == ("- team old-team (services left without a team: legacy)",)
    legacy.refresh_from_db()
    assert legacy.team is None


def test_config_apply_prune_requires_referenced_teams_in_file() -> None:
    Team.objects.create(name="platform")
    text = "services:\n  - name: network\n    team: platform\n"

    with pytest.raises(ConfigError) as info:
        config_apply(config_load(text), prune=True)

    assert "--prune deletes teams that are not in the file" in info.value.errors[0]
    assert Team.objects.filter(name="platform").exists()


def test_config_apply_example_file_applies_idempotently() -> None:
    text = EXAMPLE.read_text()

    first = config_apply(config_load(text))
    second = config_apply(config_load(text))

    assert first.changed and not second.changed
    assert Target.objects.filter(configured=True).count() == 4
    # payments' three alert channels, by the variables' names (never what they hold).
    assert sorted(AlertChannel.objects.values_list("kind", "url_env", "secret_env")) == [
        ("email", "", ""),
        ("slack", "DORA_SLACK_PAYMENTS", ""),
        ("webhook", "", "DORA_ALERT_HOOK_SECRET"),
    ]


# ---------------------------------------------------------------------------------------------
# Admin
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def estate(plain_static: None) -> None:
    """A configured estate with one deployment and one rollout, so list pages render rows.

    plain_static (tests/conftest.py): admin pages render without a collected static manifest.
    """
    _apply(BASE)
    checkout = Service.objects.get(name="checkout")
    production = Environment.objects.get(name="production")
    deployment = _deploy(checkout, production)
    rollout = Rollout.objects.create(
        service=checkout,
        environment=production,
        seq=1,
        ship_seq=1,
        sha=deployment.sha,
        kind=Rollout.Kind.CHANGE,
        first_live_at=deployment.finished_at,
        last_live_at=deployment.finished_at,
    )
    deployment.rollout = rollout
    deployment.save(update_fields=["rollout"])
    ApiToken.issue(name="ci", scope=ApiToken.Scope.GATE)


@pytest.mark.parametrize("model", [Team, Service, Environment, Rollout])
def test_admin_changelist_renders(admin_client, estate: None, model: type) -> None:
    url = reverse(f"admin:dora_{model._meta.model_name}_changelist")

    response = admin_client.get(url)

    assert response.status_code == 200


def test_admin_registers_every_model() -> None:
    models = set(apps.get_app_config("dora").get_models())

    assert {model for model in models if not admin.site.is_registered(model)} == set()


def test_admin_every_changelist_and_change_page_renders(admin_client, estate: None) -> None:
    for model in apps.get_app_config("dora").get_models():
        name = model._meta.model_name
        response = admin_client.get(reverse(f"admin:dora_{name}_changelist"))
        assert response.status_code == 200, name
        obj = model.objects.first()
        if obj is not None:
            response = admin_client.get(reverse(f"admin:dora_{name}_change", args=[obj.pk]))
            assert response.status_code == 200, name


def test_admin_derived_facts_and_tokens_cannot_be_added(admin_client, estate: None) -> None:
    for name in ("rollout", "rawevent", "failurelink", "apitoken"):
        assert admin_client.get(reverse(f"admin:dora_{name}_add")).status_code == 403, name


def test_admin_token_page_never_shows_digest(admin_client, estate: None) -> None:
    token = ApiToken.objects.get(name="ci")

    response = admin_client.get(reverse("admin:dora_apitoken_change", args=[token.pk]))

    assert response.status_code == 200
    assert token.digest not in response.content.decode()
    assert "create_token" in response.content.decode()


def test_admin_service_list_shows_team_kind_repos(admin_client, estate: None) -> None:
    response = admin_client.get(reverse("admin:dora_service_changelist"))

    page = response.content.decode()
    assert "payments" in page and "acme/checkout" in page


def test_admin_service_list_has_no_n_plus_one(
    admin_client, estate: None, django_assert_max_num_queries
) -> None:
    team = Team.objects.get(name="payments")
    Service.objects.bulk_create(Service(name=f"svc-{i}", team=team) for i in range(30))
    url = reverse("admin:dora_service_changelist")

    with django_assert_max_num_queries(10):
        admin_client.get(url)


CLOUDTRAIL = """\
services:
  - {name: network, kind: infra}
sources:
  - name: ct-prod
    kind: cloudtrail
    webhook_secret_env: CT_SECRET
    pipeline_roles: ["arn:aws:iam::123456789012:role/RoleToBeAssumed"]
    accounts:
      "123456789012": {environment: production, service: network, regions: {us-east-2: use2}}
"""
CLOUDTRAIL_RECORD = (
    Path(__file__).resolve().parents[1] / "fixtures" / "cloudtrail" / "log_file_examples.json"
)


def test_apply_config_writes_a_cloudtrail_source_that_import_and_webhook_map_through(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from django.test import Client

    from dora.models import OutOfBandChange
    from ingest.models import Source

    assert "+ source ct-prod" in config_apply(config_load(CLOUDTRAIL)).lines
    source = Source.objects.get(name="ct-prod")
    assert (source.kind, source.token_env, source.base_url, source.webhook_secret_env) == (
        "cloudtrail",
        "",
        "",
        "CT_SECRET",
    )
    assert source.cloudtrail == {
        "pipeline_roles": ["arn:aws:iam::123456789012:role/RoleToBeAssumed"],
        "accounts": {
            "123456789012": {
                "environment": "production",
                "service": "network",
                "regions": {"us-east-2": "use2"},
            }
        },
    }
    source.full_clean()  # the admin accepts what the file wrote
    assert config_apply(config_load(CLOUDTRAIL)).lines == ()
    changed = CLOUDTRAIL + "    ignored_sources: [iam.amazonaws.com]\n"
    (line,) = config_apply(config_load(changed)).lines
    assert line.startswith("~ source ct-prod: cloudtrail {") and "iam.amazonaws.com" in line

    out = io.StringIO()
    call_command("import_cloudtrail", "--source", "ct-prod", str(CLOUDTRAIL_RECORD), stdout=out)
    # 4 records: Start/StopInstances by Alice; CreateUser is iam (now ignored); one failed call
    assert out.getvalue().startswith("4 records: 2 changes outside the pipeline (2 created")
    assert set(OutOfBandChange.objects.values_list("source", "target__name")) == {
        ("ct-prod", "use2")
    }

    monkeypatch.setenv("CT_SECRET", "s3cret")
    record = json.loads(CLOUDTRAIL_RECORD.read_text())["Records"][0]
    response = Client().generic(
        "POST",
        "/webhooks/cloudtrail/ct-prod",
        json.dumps({"detail": {**record, "eventID": "live-1"}}),
        content_type="application/json",
        HTTP_X_DORA_WEBHOOK_TOKEN="s3cret",
    )
    assert response.status_code == 200, response.json()
    assert response.json()["counts"]["created"] == 1
