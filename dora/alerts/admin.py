"""Admin of alerts: channels are edited here (or by apply_config); states and deliveries are
read-only lists, so the last deliveries and failures are visible."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from dora.models import AlertChannel, AlertDelivery, AlertState


class _ReadOnly(admin.ModelAdmin):
    """Written by the evaluation and the delivery tasks; deleting stays possible."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(AlertChannel)
class AlertChannelAdmin(admin.ModelAdmin):
    list_display = ("team", "kind", "address", "url_env", "secret_env", "enabled", "configured")
    list_filter = ("kind", "enabled", "configured", "team")
    search_fields = ("team__name", "address", "url_env")
    readonly_fields = ("configured",)


class AlertDeliveryInline(admin.TabularInline):
    model = AlertDelivery
    fields = ("event", "channel", "status", "attempts", "last_error", "sent_at", "next_attempt_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(AlertState)
class AlertStateAdmin(_ReadOnly):
    list_display = ("team", "key", "title", "active", "fired_at", "fired_count", "cleared_at")
    list_filter = ("active", "kind", "team")
    search_fields = ("key", "title", "team__name")
    date_hierarchy = "fired_at"
    inlines = [AlertDeliveryInline]


@admin.register(AlertDelivery)
class AlertDeliveryAdmin(_ReadOnly):
    list_display = (
        "created_at",
        "team",
        "title",
        "event",
        "channel",
        "status",
        "attempts",
        "next_attempt_at",
        "sent_at",
        "last_error",
    )
    list_filter = ("status", "event", "channel__kind", "state__team")
    search_fields = ("state__key", "state__title", "last_error")
    list_select_related = ("state__team", "channel__team")
    date_hierarchy = "created_at"

    @admin.display(ordering="state__team__name")
    def team(self, obj: AlertDelivery) -> str:
        return obj.state.team.name

    @admin.display(ordering="state__title")
    def title(self, obj: AlertDelivery) -> str:
        return obj.state.title
