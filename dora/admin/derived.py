"""Admin pages of the derived facts (read-only: recomputed at intake, never edited)."""

from __future__ import annotations

from django.contrib import admin

from dora.admin.common import ReadOnlyAdmin, _short
from dora.models import (
    AutomationInstance,
    ChangeArrival,
    DerivePending,
    FactsGeneration,
    FailureLink,
    MissingCommit,
    Rollout,
    RolloutCommit,
    RolloutTarget,
)

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
