"""Admin pages for ingestion: sources (status, budget, schedule, "sync now") and deliveries."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db import models
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html

from ingest.models import Source, SyncCursor, WebhookDelivery
from ingest.schedule import source_next_due
from ingest.sources.registry import UnknownProvider, provider_for, providers
from ingest.tasks import source_sync_enqueue


class SyncCursorInline(admin.TabularInline):
    """How far each (repository, stream) has been read: written by the sync only."""

    model = SyncCursor
    extra = 0
    can_delete = False
    fields = ("repo", "stream", "since", "newest_seen", "oldest_open", "synced_at", "resumes")
    readonly_fields = fields
    ordering = ("repo", "stream")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="mid-pass")
    def resumes(self, cursor: SyncCursor) -> str:
        return "yes" if cursor.resume_url else ""


@admin.register(Source)
class SourceAdmin(admin.ModelAdmin):
    """Configured sources; `apply_config` writes the same rows. The token is never here: only
    the name of the environment variable that holds it."""

    list_display = (
        "name",
        "provider",
        "reads",
        "last_sync_at",
        "error",
        "rate_budget",
        "next_sync_due",
    )
    list_filter = ("kind",)
    search_fields = ("name", "org")
    ordering = ("name",)
    actions = ("sync_now",)
    inlines = (SyncCursorInline,)
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}

    def formfield_for_dbfield(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        """`kind` offers the registered providers (ingest.sources.registry), not a fixed list."""
        if db_field.name == "kind":
            choices = [(kind, p.label) for kind, p in providers().items()]
            return forms.ChoiceField(
                choices=choices, initial=db_field.get_default(), help_text=db_field.help_text
            )
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    @admin.display(description="kind", ordering="kind")
    def provider(self, source: Source) -> str:
        try:
            return provider_for(source.kind).label
        except UnknownProvider:
            return f"{source.kind} (no provider registered)"

    class Media:
        css = {"all": ("ingest/admin.css",)}

    readonly_fields = (
        "last_sync_at",
        "last_error",
        "rate_remaining",
        "rate_reset_at",
        "sync_queued_at",
        "sync_lease_until",
        "sync_progress",
    )
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "name",
                    "kind",
                    "base_url",
                    "token_env",
                    "app",
                    "org",
                    "repos",
                    "discovery",
                    "location",
                    "branches",
                )
            },
        ),
        (
            "Mapping",
            {
                "fields": (
                    "deployments",
                    "incidents",
                    "stacks",
                    "cloudtrail",
                    "webhook_secret_env",
                )
            },
        ),
        ("Schedule", {"fields": ("interval_seconds", "backfill_days")}),
        (
            "Status",
            {
                "fields": (
                    "last_sync_at",
                    "last_error",
                    "rate_remaining",
                    "rate_reset_at",
                    "sync_queued_at",
                    "sync_lease_until",
                    "sync_progress",
                )
            },
        ),
    )

    @admin.display(description="repositories")
    def reads(self, source: Source) -> str:
        if source.kind == Source.Kind.CLOUDTRAIL:  # the AWS accounts it maps
            mapping = source.cloudtrail if isinstance(source.cloudtrail, dict) else {}
            accounts = mapping.get("accounts")
            return "accounts " + ", ".join(accounts) if isinstance(accounts, dict) else ""
        return f"org {source.org}" if source.org else ", ".join(source.repos or [])

    @admin.display(description="last error")
    def error(self, source: Source) -> str:
        if not source.last_error:
            return ""
        return format_html(
            '<strong class="source-error" title="{}">{}</strong>',
            source.last_error,
            source.last_error[:120],
        )

    @admin.display(description="rate budget")
    def rate_budget(self, source: Source) -> str:
        if source.rate_remaining is None:
            return ""
        if source.rate_reset_at is None:
            return str(source.rate_remaining)
        return f"{source.rate_remaining} (resets {source.rate_reset_at:%Y-%m-%d %H:%M} UTC)"

    @admin.display(description="next sync due")
    def next_sync_due(self, source: Source) -> str:
        now = datetime.now(UTC)
        if source.sync_lease_until and source.sync_lease_until > now:
            return f"syncing: {source.sync_progress}" if source.sync_progress else "syncing now"
        due = source_next_due(source, now=now)
        return "now" if due <= now else f"{due:%Y-%m-%d %H:%M} UTC"

    @admin.action(description="Sync now (queue a sync of the selected sources)")
    def sync_now(self, request: HttpRequest, queryset: QuerySet[Source]) -> None:
        ids = list(queryset.values_list("pk", flat=True))
        queryset.update(sync_queued_at=datetime.now(UTC))
        for source_id in ids:
            source_sync_enqueue(source_id)
        self.message_user(
            request,
            f"Queued a sync of {len(ids)} source(s); one already syncing is left to finish.",
            messages.SUCCESS,
        )


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    """Raw deliveries as received: evidence, not configuration (read-only)."""

    list_display = ("received_at", "provider", "source", "event", "action", "processed_at")
    list_filter = ("provider", "event", "source")
    search_fields = ("delivery_id",)
    ordering = ("-received_at",)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
