"""Admin pages of the estate (editable): teams, services, environments and their targets."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db.models import Count, QuerySet
from django.http import HttpRequest

from dora.admin.common import _joined
from dora.benchmarks import industry_keys
from dora.models import (
    Environment,
    Service,
    Target,
    Team,
    UnconfiguredService,
)

# ---------------------------------------------------------------------------------------------
# Estate: the same objects `manage.py apply_config` manages
# ---------------------------------------------------------------------------------------------


class IndustryForm(forms.ModelForm):
    """`industry` must name an industry of DORA's 2025 Quick Check file (blank: the default;
    unchecked while the file is missing)."""

    def clean_industry(self) -> str:
        value = self.cleaned_data["industry"].strip()
        known = industry_keys()
        if value and known and value not in known:
            raise forms.ValidationError(f"one of: {', '.join(known)}")
        return value

    def clean_digest_to(self) -> list[str]:
        """A list of e-mail addresses (the digests' extra recipients)."""
        value = self.cleaned_data["digest_to"] or []
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise forms.ValidationError('a list of addresses, e.g. ["team@example.com"]')
        for address in value:
            try:
                validate_email(address)
            except ValidationError:
                raise forms.ValidationError(f"{address!r} is not an e-mail address")
        return value


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    form = IndustryForm
    list_display = ("name", "timezone", "industry", "member_list", "service_count")
    search_fields = ("name",)
    list_filter = ("timezone",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Team]:
        return super().get_queryset(request).annotate(n_services=Count("service"))

    @admin.display(description="members")
    def member_list(self, obj: Team) -> str:
        return _joined(obj.members)

    @admin.display(description="services", ordering="n_services")
    def service_count(self, obj: Team) -> int:
        return obj.n_services  # type: ignore[attr-defined]


@admin.register(Service)
class ServiceAdmin(admin.ModelAdmin):
    list_display = ("name", "team", "kind", "repo_list", "infer_failures")
    list_filter = ("kind", "team", "infer_failures")
    search_fields = ("name", "team__name")
    list_select_related = ("team",)
    autocomplete_fields = ("team",)
    # The infra stacks the service runs on (the promotion gate judges them with its pipeline).
    filter_horizontal = ("depends_on",)

    readonly_fields = (
        "configured",
        "first_event_at",
        "first_event_type",
        "first_event_key",
        "first_event_sent_by",
    )

    @admin.display(description="repos")
    def repo_list(self, obj: Service) -> str:
        return _joined(obj.repos)

    def save_model(self, request: HttpRequest, obj: Service, form: Any, change: bool) -> None:
        obj.configured = True  # saved by a person: declared (DORA_UNKNOWN_SERVICES)
        super().save_model(request, obj, form, change)


@admin.register(UnconfiguredService)
class UnconfiguredServiceAdmin(admin.ModelAdmin):
    """Services event intake created from an event naming them (DORA_UNKNOWN_SERVICES create or
    warn) that nobody has declared: typos to fix at their sender, or services to configure."""

    list_display = (
        "name",
        "first_event_at",
        "first_event_type",
        "first_event_sent_by",
        "first_event_key",
    )
    list_filter = ("first_event_type",)
    search_fields = ("name", "first_event_sent_by", "first_event_key")
    ordering = ("-first_event_at", "name")
    actions = ("services_declare",)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # configure one on the Services page (or in dora.yml): it leaves this list

    @admin.action(description="Declare the selected services as they are (no more warnings)")
    def services_declare(self, request: HttpRequest, queryset: QuerySet[Service]) -> None:
        count = queryset.update(configured=True)
        self.message_user(request, f"{count} service(s) declared.", messages.SUCCESS)


class TargetInline(admin.TabularInline):
    model = Target
    fields = ("name", "configured")
    extra = 0


@admin.register(Environment)
class EnvironmentAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "tier",
        "tier_configured",
        "order",
        "stale_after",
        "target_idle_after",
        "target_count",
    )
    list_filter = ("tier", "tier_configured")
    search_fields = ("name",)
    inlines = (TargetInline,)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Environment]:
        return super().get_queryset(request).annotate(n_targets=Count("targets"))

    @admin.display(description="targets", ordering="n_targets")
    def target_count(self, obj: Environment) -> int:
        return obj.n_targets  # type: ignore[attr-defined]


@admin.register(Target)
class TargetAdmin(admin.ModelAdmin):
    list_display = ("__str__", "environment", "name", "configured")
    list_filter = ("configured", "environment")
    search_fields = ("name", "environment__name")
    list_select_related = ("environment",)
