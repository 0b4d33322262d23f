"""Providers found by kind: the webhook route, the sync, `manage.py sync`, apply_config, admin."""

from __future__ import annotations

import io
import types
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.test import Client
from django.urls import reverse

from dora.config import config_apply, config_load
from ingest.http import SourceRejected
from ingest.models import Source
from ingest.sources import registry
from ingest.sources.base import SyncResult
from ingest.sources.registry import Provider, providers_load
from ingest.sync import source_sync

pytestmark = pytest.mark.django_db


class Example:
    """A provider of kind `kind` whose webhook and sync say what they were given."""

    def __init__(self, kind: str, problems: list[str] | None = None) -> None:
        self.synced: list[tuple[str, dict[str, Any]]] = []
        self.provider = Provider(
            kind=kind,
            label=kind.title(),
            mapper=types.ModuleType(f"{kind}_mapper"),
            webhook=self.webhook,
            sync=self.sync,
            config_check=lambda spec: list(problems or []),
        )

    def webhook(self, request: HttpRequest, source: str | None) -> HttpResponse:
        return JsonResponse(
            {"kind": self.provider.kind, "source": source, "method": request.method}
        )

    def sync(self, source: Source, **options: Any) -> SyncResult:
        self.synced.append((source.name, options))
        result = SyncResult(repositories=2, objects={"things": 3})
        result.http = {"api_calls": 4, "not_modified": 1, "rate_remaining": 9, "rate_limit": 10}
        return result


@pytest.fixture
def add_provider(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Register a provider for the test only (every real package is loaded first)."""
    providers_load()
    monkeypatch.setattr(registry, "PROVIDERS", dict(registry.PROVIDERS))

    def add(kind: str, problems: list[str] | None = None) -> Example:
        example = Example(kind, problems)
        registry.PROVIDERS[kind] = example.provider
        return example

    return add


def test_an_unknown_webhook_provider_is_a_404_naming_the_known_ones(client: Client) -> None:
    response = client.post("/webhooks/nope", b"{}", content_type="application/json")

    assert response.status_code == 404
    detail = response.json()["detail"]
    assert detail.startswith("No webhook provider 'nope'; known: ")
    assert "github" in detail
    assert (
        client.post("/webhooks/nope/shop", b"{}", content_type="application/json").status_code
        == 404
    )


def test_the_webhook_route_dispatches_by_kind(client: Client, add_provider: Any) -> None:
    add_provider("example")

    plain = client.post("/webhooks/example", b"{}", content_type="application/json")
    named = client.post(
        reverse("webhook-source", args=["example", "shop"]), b"{}", content_type="application/json"
    )

    assert plain.json() == {"kind": "example", "source": None, "method": "POST"}
    assert named.json() == {"kind": "example", "source": "shop", "method": "POST"}
    assert reverse("webhook", args=["github"]) == "/webhooks/github"


def test_a_provider_without_webhooks_is_a_404(client: Client, add_provider: Any) -> None:
    example = add_provider("quiet")
    registry.PROVIDERS["quiet"] = Provider(
        kind="quiet", label="Quiet", mapper=example.provider.mapper
    )

    response = client.post("/webhooks/quiet", b"{}", content_type="application/json")

    assert response.status_code == 404
    assert "'quiet'" in response.json()["detail"]


def test_source_sync_runs_the_sync_of_the_sources_kind(add_provider: Any) -> None:
    example = add_provider("example")
    Source.objects.create(name="ex", kind="example")

    result = source_sync("ex", now=None)

    assert example.synced == [("ex", {"now": None})]
    assert result.as_dict()["objects"] == {"things": 3}


def test_a_source_of_no_registered_kind_is_rejected_and_kept_as_its_error() -> None:
    Source.objects.create(name="mystery", kind="nope")

    with pytest.raises(SourceRejected, match="No source provider of kind 'nope'; known kinds: "):
        source_sync("mystery")

    error = Source.objects.get(name="mystery").last_error
    assert error.startswith("No source provider of kind 'nope'") and "github" in error


def test_manage_py_sync_finds_the_provider_by_kind(add_provider: Any) -> None:
    example = add_provider("example")
    Source.objects.create(name="ex", kind="example")
    out = io.StringIO()

    call_command("sync", "--source", "ex", stdout=out)

    assert [name for name, _ in example.synced] == ["ex"]
    assert "ex: done, 2 repositories, 3 objects" in out.getvalue()


def test_manage_py_sync_reports_a_kind_nobody_registered() -> None:
    Source.objects.create(name="mystery", kind="nope")
    err = io.StringIO()

    with pytest.raises(CommandError, match="1 source"):
        call_command("sync", "--source", "mystery", stdout=io.StringIO(), stderr=err)

    assert "mystery: SourceRejected: No source provider of kind 'nope'" in err.getvalue()


OG = (
    "services:\n  - name: checkout\nsources:\n  - name: og\n    kind: opsgenie\n"
    "    token_env: OG_TOKEN\n    services: {svc-1: checkout}\n"
)


def test_apply_config_applies_the_kinds_registered(add_provider: Any) -> None:
    add_provider("opsgenie")

    diff = config_apply(config_load(OG))

    assert "+ source og" in diff.lines
    assert diff.notes == ()
    assert Source.objects.get(name="og").kind == "opsgenie"


def test_apply_config_reports_the_providers_config_problems(add_provider: Any) -> None:
    add_provider("opsgenie", problems=["sources.og: name a service"])

    diff = config_apply(config_load(OG))

    assert diff.errors == ("sources.og: name a service",)
    assert diff.lines == ("+ service checkout",)  # the file's service; the source is not applied
    assert not Source.objects.filter(name="og").exists()


def test_the_admin_offers_and_shows_the_registered_kinds(
    admin_client: Client, add_provider: Any
) -> None:
    add_provider("example")
    Source.objects.create(name="ex", kind="example")
    Source.objects.create(name="mystery", kind="nope")

    form = admin_client.get(reverse("admin:ingest_source_add")).content.decode()
    listing = admin_client.get(reverse("admin:ingest_source_changelist")).content.decode()

    assert '<option value="example">Example</option>' in form
    assert '<option value="github" selected>GitHub</option>' in form
    assert "Example" in listing and "nope (no provider registered)" in listing


def test_the_webhook_names_from_before_the_move_still_import() -> None:
    from ingest import webhooks
    from ingest.sources.github.views import github_webhook

    assert webhooks.github_webhook is github_webhook
    assert webhooks._stored_event is webhooks.stored_event
    with pytest.raises(AttributeError):
        webhooks.gitlab_webhook  # noqa: B018


def test_the_dispatcher_leaves_out_sources_whose_provider_is_not_polled(add_provider: Any) -> None:
    from datetime import UTC, datetime

    from ingest.schedule import sources_dispatch

    example = add_provider("example")
    registry.PROVIDERS["hooks"] = Provider(
        kind="hooks", label="Hooks", mapper=example.provider.mapper
    )
    polled = Source.objects.create(name="ex", kind="example")
    Source.objects.create(name="hooked", kind="hooks")
    unknown = Source.objects.create(name="mystery", kind="nope")  # queued: its sync says why
    queued: list[int] = []

    assert sources_dispatch(now=datetime(2026, 3, 2, tzinfo=UTC), enqueue=queued.append) == [
        polled.pk,
        unknown.pk,
    ]


def test_cloudtrail_sources_take_webhooks_and_are_never_polled(client: Client) -> None:
    from datetime import UTC, datetime

    from ingest.schedule import sources_dispatch

    Source.objects.create(name="ct", kind="cloudtrail", token_env="", base_url="")
    queued: list[int] = []

    assert sources_dispatch(now=datetime(2026, 3, 2, tzinfo=UTC), enqueue=queued.append) == []
    response = client.post("/webhooks/nope", b"{}", content_type="application/json")
    assert "cloudtrail" in response.json()["detail"]  # among the kinds taking webhooks
