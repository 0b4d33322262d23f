"""Admin pages: the estate and gate policy (editable), records and derived facts (read-only),
gate decisions (read-only) and API tokens."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db.models import Count, QuerySet
from django.http import HttpRequest, HttpResponse

from dora.benchmarks import industry_keys
from dora.instances import automation_instances_refresh
from dora.models import (
    ApiToken,
    AutomationInstance,
    AutomationRun,
    Change,
    ChangeArrival,
    ChangeCommit,
    Commit,
    Deployment,
    DerivePending,
    DigestSent,
    Environment,
    FactsGeneration,
    FailureLink,
    FigureTarget,
    GateDecision,
    GateRule,
    GateSettings,
    Incident,
    MissingCommit,
    OrganisationSettings,
    OutOfBandChange,
    PipelineRun,
    RawEvent,
    Rollout,
    RolloutCommit,
    RolloutTarget,
    Service,
    Target,
    Team,
    UnconfiguredService,
)
from dora.reads.promotion_policy import checks_parse


def _short(sha: str) -> str:
    return sha[:10]


def _joined(values: list[str] | None) -> str:
    return ", ".join(values or [])


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows written by event intake (records) or computed from them (derived facts).

    Editing them here would bypass derivation and leave the derived facts inconsistent; to
    correct a record, send its event again (same source, type and id), which updates it.
    Deleting stays possible, to clean up after a bad import.
    """

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


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


# ---------------------------------------------------------------------------------------------
# Records
# ---------------------------------------------------------------------------------------------


@admin.register(RawEvent)
class RawEventAdmin(ReadOnlyAdmin):
    list_display = (
        "source",
        "type",
        "external_id",
        "received_at",
        "updated_at",
        "source_updated_at",
        "sent_by",
    )
    list_filter = ("type", "source")
    search_fields = ("external_id", "sent_by")
    date_hierarchy = "received_at"


@admin.register(Commit)
class CommitAdmin(ReadOnlyAdmin):
    list_display = ("repo", "short_sha", "author", "authored_at", "reverts_sha")
    list_filter = ("source",)
    search_fields = ("repo", "sha", "author", "message")
    date_hierarchy = "authored_at"

    @admin.display(description="sha", ordering="sha")
    def short_sha(self, obj: Commit) -> str:
        return _short(obj.sha)


class ChangeCommitInline(admin.TabularInline):
    model = ChangeCommit
    fields = ("sha", "role")
    extra = 0

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Change)
class ChangeAdmin(ReadOnlyAdmin):
    list_display = ("__str__", "title", "author", "created_at", "merged_at", "closed_at")
    list_filter = ("source", "repo")
    search_fields = ("repo", "title", "author", "merge_sha", "squash_sha")
    date_hierarchy = "created_at"
    inlines = (ChangeCommitInline,)


@admin.register(ChangeCommit)
class ChangeCommitAdmin(ReadOnlyAdmin):
    list_display = ("change", "short_sha", "role")
    list_filter = ("role",)
    search_fields = ("sha", "change__repo")
    list_select_related = ("change",)

    @admin.display(description="sha", ordering="sha")
    def short_sha(self, obj: ChangeCommit) -> str:
        return _short(obj.sha)


@admin.register(PipelineRun)
class PipelineRunAdmin(ReadOnlyAdmin):
    list_display = ("repo", "name", "short_sha", "branch", "status", "started_at", "finished_at")
    list_filter = ("status", "source", "repo")
    search_fields = ("repo", "sha", "name", "external_id")
    date_hierarchy = "started_at"

    @admin.display(description="sha", ordering="sha")
    def short_sha(self, obj: PipelineRun) -> str:
        return _short(obj.sha)


@admin.register(Deployment)
class DeploymentAdmin(ReadOnlyAdmin):
    list_display = (
        "service",
        "environment",
        "target",
        "version",
        "short_sha",
        "status",
        "finished_at",
        "trigger",
    )
    list_filter = ("status", "environment", "trigger", "source")
    search_fields = ("service__name", "version", "sha", "external_id")
    list_select_related = ("service", "environment", "target__environment")
    date_hierarchy = "finished_at"

    @admin.display(description="sha", ordering="sha")
    def short_sha(self, obj: Deployment) -> str:
        return _short(obj.sha)


@admin.register(Incident)
class IncidentAdmin(ReadOnlyAdmin):
    list_display = (
        "service",
        "environment",
        "title",
        "severity",
        "opened_at",
        "resolved_at",
        "cause",
    )
    list_filter = ("severity", "cause", "environment", "source")
    search_fields = ("service__name", "title", "external_id")
    list_select_related = ("service", "environment")
    date_hierarchy = "opened_at"


@admin.register(AutomationRun)
class AutomationRunAdmin(ReadOnlyAdmin):
    list_display = (
        "service",
        "environment",
        "target",
        "action",
        "status",
        "finished_at",
        "drift_detected",
    )
    list_filter = ("action", "status", "environment", "drift_detected")
    search_fields = ("service__name", "version", "external_id")
    list_select_related = ("service", "environment", "target__environment")
    date_hierarchy = "finished_at"

    def delete_model(self, request: HttpRequest, obj: AutomationRun) -> None:
        key = (obj.service_id, obj.environment_id, obj.target_id)
        super().delete_model(request, obj)
        automation_instances_refresh([key])

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[AutomationRun]) -> None:
        keys = set(queryset.values_list("service_id", "environment_id", "target_id"))
        super().delete_queryset(request, queryset)
        automation_instances_refresh(keys)


@admin.register(OutOfBandChange)
class OutOfBandChangeAdmin(ReadOnlyAdmin):
    list_display = ("service", "environment", "target", "changed_at", "actor", "what", "source")
    list_filter = ("environment", "source")
    search_fields = ("service__name", "actor", "what", "external_id")
    list_select_related = ("service", "environment", "target__environment")
    date_hierarchy = "changed_at"


# ---------------------------------------------------------------------------------------------
# Derived facts (dora.intake.derive): recomputed at intake, never edited
# ---------------------------------------------------------------------------------------------


@admin.register(AutomationInstance)
class AutomationInstanceAdmin(ReadOnlyAdmin):
    list_display = (
        "service",
        "environment",
        "target",
        "last_run_at",
        "last_reset_at",
        "last_reset_version",
        "drift_detected",
    )
    list_filter = ("environment", "drift_detected")
    search_fields = ("service__name",)
    list_select_related = ("service", "environment", "target__environment")


@admin.register(Rollout)
class RolloutAdmin(ReadOnlyAdmin):
    list_display = (
        "service",
        "environment",
        "seq",
        "kind",
        "version_label",
        "first_live_at",
        "completed_at",
        "estate_reached_at",
        "targets",
        "failure",
        "remediation",
    )
    list_filter = ("kind", "failure", "environment", "remediation", "change_set_complete")
    search_fields = ("service__name", "version", "sha")
    list_select_related = ("service", "environment")
    date_hierarchy = "first_live_at"

    @admin.display(description="version")
    def version_label(self, obj: Rollout) -> str:
        return obj.version or _short(obj.sha)

    @admin.display(description="targets live/active")
    def targets(self, obj: Rollout) -> str:
        return f"{obj.targets_live}/{obj.targets_active}"


@admin.register(RolloutCommit)
class RolloutCommitAdmin(ReadOnlyAdmin):
    list_display = ("service", "environment", "rollout_seq", "short_sha")
    search_fields = ("sha", "rollout__service__name")
    list_select_related = ("rollout__service", "rollout__environment")

    @admin.display(description="service", ordering="rollout__service__name")
    def service(self, obj: RolloutCommit) -> str:
        return obj.rollout.service.name

    @admin.display(description="environment", ordering="rollout__environment__name")
    def environment(self, obj: RolloutCommit) -> str:
        return obj.rollout.environment.name

    @admin.display(description="rollout", ordering="rollout__seq")
    def rollout_seq(self, obj: RolloutCommit) -> int:
        return obj.rollout.seq

    @admin.display(description="sha", ordering="sha")
    def short_sha(self, obj: RolloutCommit) -> str:
        return _short(obj.sha)


@admin.register(MissingCommit)
class MissingCommitAdmin(ReadOnlyAdmin):
    list_display = ("service", "environment", "sha", "since")
    list_filter = ("environment",)
    search_fields = ("sha", "service__name")
    list_select_related = ("service", "environment")


@admin.register(DerivePending)
class DerivePendingAdmin(ReadOnlyAdmin):
    """Pairs waiting for derivation; one whose derivation failed shows why (the others go on)."""

    list_display = ("service", "environment", "walk_since", "facts_since", "failed_at", "error")
    list_filter = (("failed_at", admin.EmptyFieldListFilter),)
    list_select_related = ("service", "environment")


@admin.register(FactsGeneration)
class FactsGenerationAdmin(ReadOnlyAdmin):
    list_display = ("id", "value")


@admin.register(ChangeArrival)
class ChangeArrivalAdmin(ReadOnlyAdmin):
    list_display = (
        "service",
        "environment",
        "change",
        "commit_sha",
        "rollout_seq",
        "arrived_at",
        "unattributed",
    )
    list_filter = ("environment", "unattributed")
    search_fields = ("service__name", "change__repo", "change__title", "commit_sha")
    list_select_related = ("service", "environment", "change", "rollout")
    date_hierarchy = "arrived_at"

    @admin.display(description="rollout", ordering="rollout__seq")
    def rollout_seq(self, obj: ChangeArrival) -> int:
        return obj.rollout.seq


@admin.register(RolloutTarget)
class RolloutTargetAdmin(ReadOnlyAdmin):
    list_display = ("service", "rollout_seq", "target", "reached_at")
    list_filter = ("target__environment",)
    search_fields = ("rollout__service__name", "rollout__version", "rollout__sha")
    list_select_related = ("rollout__service", "target__environment")

    @admin.display(description="service", ordering="rollout__service__name")
    def service(self, obj: RolloutTarget) -> str:
        return obj.rollout.service.name

    @admin.display(description="rollout", ordering="rollout__seq")
    def rollout_seq(self, obj: RolloutTarget) -> int:
        return obj.rollout.seq


@admin.register(FailureLink)
class FailureLinkAdmin(ReadOnlyAdmin):
    list_display = ("service", "environment", "rollout_seq", "cause", "status", "detail")
    list_filter = ("cause", "status")
    search_fields = ("rollout__service__name", "detail")
    list_select_related = ("rollout__service", "rollout__environment")

    @admin.display(description="service", ordering="rollout__service__name")
    def service(self, obj: FailureLink) -> str:
        return obj.rollout.service.name

    @admin.display(description="environment", ordering="rollout__environment__name")
    def environment(self, obj: FailureLink) -> str:
        return obj.rollout.environment.name

    @admin.display(description="rollout", ordering="rollout__seq")
    def rollout_seq(self, obj: FailureLink) -> int:
        return obj.rollout.seq


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


# Alerts: channels, states and deliveries (registered on import).
import dora.alerts.admin  # noqa: E402, F401
