"""A canonical, id-free snapshot of every derived fact, to compare two ways of arriving at them."""

from __future__ import annotations

from typing import Any

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


def facts_snapshot() -> dict[str, Any]:
    rollouts = sorted(
        Rollout.objects.values_list(
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
        "commits": sorted(RolloutCommit.objects.values_list(*where, "sha")),
        "arrivals": sorted(
            ChangeArrival.objects.values_list(
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
        "reached": sorted(RolloutTarget.objects.values_list(*where, "target__name", "reached_at")),
        "failures": sorted(
            FailureLink.objects.values_list(
                *where, "cause", "status", "incident__external_id", "by_rollout__seq", "detail"
            ),
            key=repr,
        ),
        "deployments": sorted(
            Deployment.objects.values_list("source", "external_id", "rollout__seq"), key=repr
        ),
        "missing": sorted(
            MissingCommit.objects.values_list("service__name", "environment__name", "sha", "since")
        ),
        "starts": sorted(Change.objects.values_list("repo", "number", "started_at")),
        # The change and incident times the figures read besides the derived rows (review
        # stages, recovery), so that two paths agreeing on them is checked, not assumed.
        "changes": sorted(
            Change.objects.values_list(
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
            Incident.objects.values_list(
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
