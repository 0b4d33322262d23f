"""The admin's Sources page: status, rate budget, next sync due, cursors, "sync now"."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.contrib import admin
from django.urls import reverse

from dora.config import config_apply, config_load
from ingest.models import Source, SyncCursor
from ingest.schedule import REJECTED_RETRY
from tests.integration.test_github_sources import SOURCES

pytestmark = pytest.mark.django_db


# ---------------------------------------------------------------------------------------------


@pytest.fixture
def sources(plain_static: None) -> list[Source]:
    config_apply(config_load(SOURCES))
    acme = Source.objects.get(name="github-acme")
    acme.last_error = "GitHub answered 401 Bad credentials: check the token in ACME_GITHUB_TOKEN"
    acme.last_sync_at = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    acme.rate_remaining = 4321
    acme.rate_reset_at = datetime(2026, 3, 1, 13, 0, tzinfo=UTC)
    acme.sync_queued_at = datetime.now(UTC)
    acme.save()
    SyncCursor.objects.create(
        source=acme, repo="acme/shop", stream="commits", since=acme.last_sync_at
    )
    return list(Source.objects.order_by("name"))


def test_admin_sources_page_shows_status_budget_and_due(admin_client, sources: list) -> None:
    page = admin_client.get(reverse("admin:ingest_source_changelist")).content.decode()

    assert "org acme" in page and "octo/shop, octo/web" in page
    assert 'class="source-error"' in page and "401 Bad credentials" in page
    assert "4321 (resets 2026-03-01 13:00 UTC)" in page
    # Rejected: the next attempt waits REJECTED_RETRY rather than the 5m interval.
    due = sources[0].sync_queued_at + REJECTED_RETRY
    assert f'<td class="field-next_sync_due">{due:%Y-%m-%d %H:%M} UTC<' in page
    assert '<td class="field-next_sync_due">now<' in page  # github-oss: never queued


def test_admin_source_page_has_read_only_cursors_and_no_token(
    admin_client, sources: list, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ACME_GITHUB_TOKEN", "ghp_never_shown_anywhere")
    acme = sources[0]

    page = admin_client.get(reverse("admin:ingest_source_change", args=[acme.pk])).content
    text = page.decode()

    assert "acme/shop" in text and "ACME_GITHUB_TOKEN" in text
    assert "ghp_never_shown_anywhere" not in text
    assert 'name="cursors-0-repo"' not in text  # the inline is read-only
    assert not admin.site.is_registered(SyncCursor)  # only shown under its source


def test_admin_sync_now_queues_the_selected_sources(
    admin_client, sources: list, monkeypatch: pytest.MonkeyPatch, django_capture_on_commit_callbacks
) -> None:
    queued: list[int] = []
    monkeypatch.setattr(
        "ingest.tasks.source_sync_task.apply_async",
        lambda args, **options: queued.append(args[0]),
    )
    ids = [source.pk for source in sources]

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            reverse("admin:ingest_source_changelist"),
            {"action": "sync_now", "_selected_action": ids},
            follow=True,
        )

    assert response.status_code == 200
    assert "Queued a sync of 2 source(s)" in response.content.decode()
    assert sorted(queued) == sorted(ids)
    now = datetime.now(UTC)
    for source in Source.objects.all():
        assert now - source.sync_queued_at < timedelta(minutes=1)


def test_admin_delivery_list_renders_read_only(admin_client, plain_static: None) -> None:
    assert admin_client.get(reverse("admin:ingest_webhookdelivery_changelist")).status_code == 200
    assert admin_client.get(reverse("admin:ingest_webhookdelivery_add")).status_code == 403


def test_admin_source_form_refuses_what_apply_config_would(admin_client, sources: list) -> None:
    acme = sources[0]
    form = {
        "name": acme.name,
        "kind": "github",
        "base_url": acme.base_url,
        "token_env": acme.token_env,
        "org": "acme",
        "repos": '["acme/shop"]',
        "deployments": '{"from": ["workflow_jobs"], "workflow_pattern": "^deploy("}',
        "incidents": "{}",
        "webhook_secret_env": "",
        "interval_seconds": "30",
        "backfill_days": "30",
        "cursors-TOTAL_FORMS": "1",
        "cursors-INITIAL_FORMS": "1",
        "cursors-MIN_NUM_FORMS": "0",
        "cursors-MAX_NUM_FORMS": "1000",
    }

    response = admin_client.post(reverse("admin:ingest_source_change", args=[acme.pk]), form)

    page = response.content.decode()
    assert response.status_code == 200  # the form again, with its errors
    assert "Give org or repos, not both" in page
    assert "workflow_pattern is not a valid regular expression" in page
    assert "At least 60" in page
    acme.refresh_from_db()
    assert acme.repos == [] and acme.interval_seconds == 300


def test_admin_checks_a_cloudtrail_sources_mapping(admin_client, plain_static: None) -> None:
    from django.core.exceptions import ValidationError

    good = {"accounts": {"123456789012": {"environment": "production", "service": "network"}}}
    Source(name="ct", kind="cloudtrail", token_env="", base_url="", cloudtrail=good).full_clean()
    wrong = Source(
        name="ct",
        kind="cloudtrail",
        token_env="",
        cloudtrail={"accounts": {"123456789012": {"service": "network"}}},
        stacks=[{"match": "x", "service": "s", "environment": "e"}],
    )
    with pytest.raises(ValidationError) as exc:
        wrong.full_clean()
    assert exc.value.message_dict == {
        "cloudtrail": ["cloudtrail.accounts.123456789012.environment: expected a non-empty string"],
        "stacks": ["A cloudtrail source maps accounts (cloudtrail), not stacks."],
    }
    other = Source(name="gh", kind="github", token_env="T", org="acme", cloudtrail=good)
    with pytest.raises(ValidationError) as exc:
        other.full_clean()
    assert list(exc.value.message_dict) == ["cloudtrail"]

    form = {
        "name": "ct-admin",
        "kind": "cloudtrail",
        "base_url": "",
        "token_env": "",
        "repos": "[]",
        "branches": "[]",
        "app": "{}",
        "discovery": "{}",
        "deployments": "{}",
        "incidents": "{}",
        "stacks": "[]",
        "cloudtrail": '{"accounts": {"12345": {"environment": "p", "service": "s"}}}',
        "webhook_secret_env": "",
        "interval_seconds": "900",
        "backfill_days": "180",
        "cursors-TOTAL_FORMS": "0",
        "cursors-INITIAL_FORMS": "0",
        "cursors-MIN_NUM_FORMS": "0",
        "cursors-MAX_NUM_FORMS": "1000",
    }
    refused = admin_client.post(reverse("admin:ingest_source_add"), form)
    assert refused.status_code == 200 and "12 digits" in refused.content.decode()
    assert not Source.objects.filter(name="ct-admin").exists()
    form["cloudtrail"] = '{"accounts": {"123456789012": {"environment": "p", "service": "s"}}}'
    added = admin_client.post(reverse("admin:ingest_source_add"), form)
    assert added.status_code == 302, added.content.decode()[:2000]
    assert Source.objects.get(name="ct-admin").cloudtrail["accounts"]["123456789012"] == {
        "environment": "p",
        "service": "s",
    }
    listing = admin_client.get(reverse("admin:ingest_source_changelist")).content.decode()
    assert "accounts 123456789012" in listing
