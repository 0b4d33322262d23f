"""The configuration file's vocabulary: the keys each section takes, the figures, durations."""

from __future__ import annotations

import re
from datetime import timedelta

_TOP_KEYS = ("organisation", "teams", "services", "environments", "sources", "gates", "targets")
_ORGANISATION_KEYS = ("industry", "digest")
_TEAM_KEYS = ("name", "members", "timezone", "industry", "alerts", "digest")
# A team's `alerts:` channels (dora.alerts): one key per item, the channel's kind.
_ALERT_KINDS = ("email", "slack", "webhook")
_SLACK_ALERT_KEYS = ("webhook_url_env",)
_WEBHOOK_ALERT_KEYS = ("url", "url_env", "secret_env")
# `digest:` of a team (the weekly digest) and of the organisation (the monthly leadership one).
_TEAM_DIGEST_KEYS = ("to", "enabled")
_ORGANISATION_DIGEST_KEYS = ("to",)
_SERVICE_KEYS = ("name", "team", "kind", "repos", "paths", "infer_failures", "depends_on")
_ENVIRONMENT_KEYS = ("name", "tier", "order", "stale_after", "targets", "target_idle_after")
_SOURCE_KEYS = (
    "name",
    "kind",
    "base_url",
    "token_env",
    "app_id",
    "installation_id",
    "private_key_env",
    "private_key_file",
    "org",
    "repos",
    "include",
    "exclude",
    "include_archived",
    "include_forks",
    "group",
    "projects",
    "services",
    "urgency_severity",
    "priority_severity",
    "alerts_tag",
    "interval",
    "backfill",
    "deployments",
    "incidents",
    "webhook_secret_env",
    "path",
    "url",
    "repo",
    "branches",
    "tags",
    "service",
    "environment",
    "stacks",
    "pipeline_roles",
    "accounts",
    "ignored_sources",
)
# webhooks only, mapped through stacks: (ingest.sources.stacks.STACK_KINDS)
_STACK_SOURCE_KINDS = ("terraform", "atlantis", "spacelift", "env0", "argocd", "flux")
_SOURCE_KINDS = (
    "github",
    "gitlab",
    "pagerduty",
    "git",
    "opsgenie",
    *_STACK_SOURCE_KINDS,
    "cloudtrail",
)
# kind cloudtrail (ingest.sources.cloudtrail): what maps its records; the AWS account ids
_CLOUDTRAIL_KEYS = ("pipeline_roles", "accounts", "ignored_sources")
_CLOUDTRAIL_ACCOUNT_KEYS = ("environment", "service", "regions")
_AWS_ACCOUNT = re.compile(r"^[0-9]{12}$")
_STACK_KEYS = ("match", "workspace", "destination", "as", "service", "environment", "target")
_STACK_AS = ("deployment", "automation_run")
_GIT_KEYS = ("path", "url", "repo", "branches", "tags", "service", "environment")
_DEPLOYMENTS_KEYS = ("from", "workflow_pattern", "tag_pattern", "environments")
_DEPLOYMENT_ORIGINS = ("deployments_api", "workflow_runs", "workflow_jobs", "releases", "tags")
_INCIDENTS_KEYS = ("label",)
_GATES_KEYS = ("defaults", "rules")
_GATE_DEFAULTS_KEYS = ("min_soak", "stale_after", "severity", "max_spread")
_GATE_RULE_KEYS = ("service", "from", "to", "checks")
_CHECK_MODES = ("block", "warn", "off")
# CONTRACT §5 checks and the thresholds each takes besides `mode`.
_CHECK_THRESHOLDS: dict[str, tuple[str, ...]] = {
    "version_verified_in_source": (),
    "source_current": (),
    "soak_time": ("min_soak",),
    "source_fresh": ("stale_after", "stacks"),
    "no_open_incidents": ("severity",),
    "target_rollout_complete": ("max_spread",),
    "infra_parity": ("stacks",),
    "no_drift": (),
    "no_out_of_band_changes": (),
}
_FIGURE_TARGET_KEYS = ("team", "service", "figure", "below", "above", "window")
_DURATION_FIELDS = ("n", "p50_seconds", "p75_seconds", "p90_seconds")
# The numeric figures of CONTRACT §4, as `family.field`.
FIGURES: dict[str, tuple[str, ...]] = {
    "deployment_frequency": (
        "rollouts",
        "per_day",
        "per_week",
        "deploy_days_per_week",
        "median_gap_seconds",
    ),
    "lead_time": (*_DURATION_FIELDS, "invalid", "unattributed"),
    "merge_to_production": _DURATION_FIELDS,
    "change_failure_rate": ("failed", "confirmed", "inferred", "rollouts", "rate"),
    "deploy_failure_rate": ("failed", "attempts", "rate"),
    "recovery_time": (*_DURATION_FIELDS, "unrestored"),
    "time_to_restore": _DURATION_FIELDS,
    "rework_rate": ("rework", "rollouts", "rate"),
    "lead_time_all_targets": (*_DURATION_FIELDS, "incomplete", "oldest_incomplete_seconds"),
    "rollout_lag": _DURATION_FIELDS,
    # Added for targets (CONTRACT §2): the most versions live at once in one (service,
    # production-tier environment) of the scope, from `version_spread`'s rows.
    "version_spread": ("max_versions",),
    "automation_lag": ("p50_seconds", "p90_seconds", "max_seconds", "stale"),
    "value_stream": ("flow_efficiency",),
    "out_of_band_changes": ("count",),
}

# Keys that would hold a secret: the file names the environment variable instead (token_env).
_SECRET_KEYS = frozenset(
    {
        "token",
        "password",
        "secret",
        "key",
        "api_key",
        "apikey",
        "api_token",
        "access_token",
        "private_token",
        "private_key",
        "client_secret",
        "webhook_secret",
        "routing_key",
    }
)
_SECRET_SUFFIXES = ("_token", "_secret", "_password", "_key")
# Values that look like a token rather than a variable name (GitHub, GitLab prefixes).
_TOKEN_PREFIXES = ("ghp_", "gho_", "ghs_", "ghu_", "ghr_", "github_pat_", "glpat-")
_ENV_VAR = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_DURATION = re.compile(r"^(\d+)([smhdw])$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION_HINT = "use a number and a unit: 45s, 30m, 12h, 7d, 2w"


def duration_parse(text: str) -> timedelta:
    """`30m` -> timedelta(minutes=30); units s, m, h, d, w. Raises ValueError otherwise."""
    match = _DURATION.match(text.strip()) if isinstance(text, str) else None
    if not match:
        raise ValueError(f"{text!r} is not a duration ({_DURATION_HINT})")
    return timedelta(seconds=int(match.group(1)) * _UNIT_SECONDS[match.group(2)])


def duration_format(value: timedelta) -> str:
    """A duration as the file writes it, in the largest unit up to days that divides exactly."""
    seconds = int(value.total_seconds())
    for unit in ("d", "h", "m"):
        if seconds and seconds % _UNIT_SECONDS[unit] == 0:
            return f"{seconds // _UNIT_SECONDS[unit]}{unit}"
    return f"{seconds}s"
