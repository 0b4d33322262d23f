"""Admin pages of the records event intake writes (read-only)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from dora.admin.common import ReadOnlyAdmin, _short
from dora.instances import automation_instances_refresh
from dora.models import (
    AutomationRun,
    Change,
    ChangeCommit,
    Commit,
    Deployment,
    Incident,
    OutOfBandChange,
    PipelineRun,
    RawEvent,
)

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
