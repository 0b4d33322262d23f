"""Admin pages of access and policy: API tokens, organisation settings, the gate's rules and
decisions, figure targets."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse

from dora.admin.common import ReadOnlyAdmin
from dora.admin.estate import IndustryForm
from dora.models import (
    ApiToken,
    DigestSent,
    FigureTarget,
    GateDecision,
    GateRule,
    GateSettings,
    OrganisationSettings,
)
from dora.reads.promotion_policy import checks_parse

# ---------------------------------------------------------------------------------------------
# Access
# ---------------------------------------------------------------------------------------------

_ISSUING_HELP = (
    "Tokens are issued only with `python manage.py create_token --scope ingest|gate|read "
    "--name N`, which prints the value once; only its hash is stored. Here a token can be "
    "renamed or revoked."
)


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ("name", "scope", "prefix", "created_at", "last_used_at", "revoked")
    list_filter = ("scope", "revoked")
    search_fields = ("name", "prefix")
    fieldsets = (
        (None, {"fields": ("name", "revoked"), "description": _ISSUING_HELP}),
        ("Issued", {"fields": ("scope", "prefix", "created_at", "last_used_at")}),
    )
    readonly_fields = ("scope", "prefix", "created_at", "last_used_at")  # never the digest
    actions = ("revoke",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        context = {**(extra_context or {}), "subtitle": _ISSUING_HELP}
        return super().changelist_view(request, context)

    @admin.action(description="Revoke selected tokens", permissions=["change"])
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        count = queryset.filter(revoked=False).update(revoked=True)
        self.message_user(request, f"Revoked {count} token(s).", messages.SUCCESS)


# ---------------------------------------------------------------------------------------------
# Promotion gate: policy (also `gates:` in apply_config) and the decisions it took
# ---------------------------------------------------------------------------------------------


@admin.register(GateSettings)
class GateSettingsAdmin(admin.ModelAdmin):
    list_display = ("__str__", "min_soak", "stale_after", "severity", "max_spread")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return not GateSettings.objects.exists()  # one row: gates.defaults


@admin.register(DigestSent)
class DigestSentAdmin(admin.ModelAdmin):
    """The digests sent (dora.digests): delete a row to send that digest again on the next run
    while it is still due."""

    list_display = ("kind", "team", "period_start", "sent_at")
    list_filter = ("kind",)
    readonly_fields = ("kind", "team", "period_start", "sent_at", "recipients")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(OrganisationSettings)
class OrganisationSettingsAdmin(admin.ModelAdmin):
    form = IndustryForm
    list_display = ("__str__", "industry")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return not OrganisationSettings.objects.exists()  # one row: organisation:


class GateRuleForm(forms.ModelForm):
    class Meta:
        model = GateRule
        fields = ("service", "from_env", "to_env", "checks", "position")

    def clean_checks(self) -> Any:
        checks = self.cleaned_data["checks"]
        try:
            checks_parse(checks)
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from None
        return checks


@admin.register(GateRule)
class GateRuleAdmin(admin.ModelAdmin):
    form = GateRuleForm
    list_display = ("__str__", "service", "from_env", "to_env", "checks", "position")
    search_fields = ("service", "from_env", "to_env")


def _figure_choices() -> list[tuple[str, list[tuple[str, str]]]]:
    from dora.config.vocabulary import FIGURES

    return [
        (family, [(f"{family}.{field}", f"{family}.{field}") for field in fields])
        for family, fields in FIGURES.items()
    ]


class FigureTargetForm(forms.ModelForm):
    # The figures of CONTRACT §4 as `family.field`; the model's clean() checks them again.
    figure = forms.ChoiceField(choices=_figure_choices)

    class Meta:
        model = FigureTarget
        fields = ("team", "service", "figure", "direction", "threshold", "window")


@admin.register(FigureTarget)
class FigureTargetAdmin(admin.ModelAdmin):
    """Targets of CONTRACT §2 `targets:`: the file's (source file; apply_config manages them,
    an edit here lasts until the next apply) and those made here (source admin)."""

    form = FigureTargetForm
    list_display = ("__str__", "team", "service", "figure", "direction", "threshold", "window")
    list_filter = ("source", "direction", "team")
    search_fields = ("figure", "team__name", "service__name")
    list_select_related = ("team", "service")
    autocomplete_fields = ("team", "service")
    readonly_fields = ("source",)

    def save_model(self, request: HttpRequest, obj: FigureTarget, form: Any, change: bool) -> None:
        if not change:
            obj.source = FigureTarget.Source.ADMIN
        super().save_model(request, obj, form, change)


@admin.register(GateDecision)
class GateDecisionAdmin(ReadOnlyAdmin):
    list_display = (
        "evaluated_at",
        "service",
        "version",
        "from_env",
        "to_env",
        "allowed",
        "failed_checks",
        "requested_by",
        "pipeline_run",
    )
    list_filter = ("allowed", "from_env", "to_env")
    search_fields = ("service", "version", "pipeline_run", "requested_by")
    date_hierarchy = "evaluated_at"

    @admin.display(description="failed checks")
    def failed_checks(self, obj: GateDecision) -> str:
        return ", ".join(
            f"{c['name']} ({c['severity']})" for c in obj.checks if not c.get("passed")
        )
