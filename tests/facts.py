"""A canonical, id-free snapshot of every derived fact, to compare two ways of arriving at them."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import FieldDoesNotExist

from dora.models import (
    Change,
    ChangeArrival,
    Deployment,
    FailureLink,
    Incident,
    MissingCommit,
    Rollout,
    RolloutCommit,
    RolloutTarget,
)


def _has_path(model: Any, path: str) -> bool:
    """Whether `path` (Django's `a__b` lookup path) names a field of `model`."""
    for name in path.split("__"):
        try:
            field = model._meta.get_field(name)
        except FieldDoesNotExist:
            return False
        model = field.related_model or model
    return True


def _values(queryset: Any, kind: str, missing: dict[str, list[int]] | None, *fields: str) -> Any:
    """`queryset.values_list(*fields)`; with `missing`, the fields this code's models lack are
    left out and their positions recorded under `kind` (bench/facts_diff.py compares an older
    revision's facts on the fields both have)."""
    if missing is not None:
        absent = [i for i, path in enumerate(fields) if not _has_path(queryset.model, path)]
        if absent:
            missing[kind] = absent
            fields = tuple(f for i, f in enumerate(fields) if i not in absent)
    return queryset.values_list(*fields)


def facts_snapshot(missing: dict[str, list[int]] | None = None) -> dict[str, Any]:
    """Every derived fact, without ids. `missing` (a dict to fill): leave out the fields this
    revision's models lack instead of failing, and say which (see `_values`)."""
    rollouts = sorted(
        _values(
            Rollout.objects,
            "rollouts",
            missing,
            "service__name",
            "environment__name",
            "seq",
            "sha",
            "version",
            "config_version",
            "kind",
            "first_live_at",
            "last_live_at",
            "completed_at",
            "targets_live",
            "targets_active",
            "unattributed",
            "change_set_complete",
            "missing_shas",
            "remediation",
            "failure",
            "restored_at",
            "ship_seq",
            "estate_reached_at",
        ),
        key=repr,
    )
    where = ("rollout__service__name", "rollout__environment__name", "rollout__seq")
    return {
        "rollouts": rollouts,
        "commits": sorted(_values(RolloutCommit.objects, "commits", missing, *where, "sha")),
        "arrivals": sorted(
            _values(
                ChangeArrival.objects,
                "arrivals",
                missing,
                *where,
                "change__repo",
                "change__number",
                "commit_sha",
                "arrived_at",
                "unattributed",
                "started_at",
                "merged_at",
            ),
            key=repr,
        ),
        "reached": sorted(
            _values(RolloutTarget.objects, "reached", missing, *where, "target__name", "reached_at")
        ),
        "failures": sorted(
            _values(
                FailureLink.objects,
                "failures",
                missing,
                *where,
                "cause",
                "status",
                "incident__external_id",
                "by_rollout__seq",
                "detail",
            ),
            key=repr,
        ),
        "deployments": sorted(
            _values(
                Deployment.objects, "deployments", missing, "source", "external_id", "rollout__seq"
            ),
            key=repr,
        ),
        "missing": sorted(
            _values(
                MissingCommit.objects,
                "missing",
                missing,
                "service__name",
                "environment__name",
                "sha",
                "since",
            )
        ),
        "starts": sorted(
            _values(Change.objects, "starts", missing, "repo", "number", "started_at")
        ),
        # The change and incident times the figures read besides the derived rows (review
        # stages, recovery), so that two paths agreeing on them is checked, not assumed.
        "changes": sorted(
            _values(
                Change.objects,
                "changes",
                missing,
                "repo",
                "number",
                "created_at",
                "first_review_at",
                "approved_at",
                "merged_at",
                "build_at",
            ),
            key=repr,
        ),
        "incidents": sorted(
            _values(
                Incident.objects,
                "incidents",
                missing,
                "source",
                "external_id",
                "service__name",
                "environment__name",
                "severity",
                "opened_at",
                "resolved_at",
            ),
            key=repr,
        ),
    }
