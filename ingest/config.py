"""The `sources:` section of configuration as code, written to ingest.models.Source rows.

Connected to dora.config.sources_apply in IngestConfig.ready (dora never imports ingest). Runs
inside config_apply's transaction, so `--check` rolls it back like every other change.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from dora.config import Config, SourcesApplied, SourceSpec, duration_format
from ingest.models import Source
from ingest.sources.cloudtrail.config import spec_cloudtrail
from ingest.sources.registry import provider_for, provider_kinds
from ingest.sources.stacks import spec_rules

DEFAULT_BASE_URL = Source._meta.get_field("base_url").get_default()
GITLAB_BASE_URL = "https://gitlab.com"
PAGERDUTY_BASE_URL = "https://api.pagerduty.com"
OPSGENIE_BASE_URL = "https://api.opsgenie.com"
TERRAFORM_BASE_URL = "https://app.terraform.io"
DEFAULT_BACKFILL_DAYS = Source._meta.get_field("backfill_days").get_default()
DEFAULT_INTERVAL_SECONDS = Source._meta.get_field("interval_seconds").get_default()
# Model field -> how the file calls it, for the diff lines.
_FILE_NAMES = {"interval_seconds": "interval", "backfill_days": "backfill"}


def source_fields(spec: SourceSpec) -> dict[str, Any]:
    """The Source columns a spec sets; keys the file leaves out take the model's defaults."""
    deployments: dict[str, Any] = {}
    if spec.deployments is not None:
        d = spec.deployments
        deployments = {
            key: value
            for key, value in (
                ("from", list(d.from_)),
                ("workflow_pattern", d.workflow_pattern),
                ("tag_pattern", d.tag_pattern),
                ("environments", d.environment_map),
            )
            if value
        }
    incidents = {"label": spec.incidents.label} if spec.incidents and spec.incidents.label else {}
    gitlab = spec.kind == Source.Kind.GITLAB  # group/projects are kept as org/repos
    if spec.kind == Source.Kind.PAGERDUTY:  # services/urgency_severity are kept in incidents
        incidents = {"services": dict(spec.services)}
        if spec.urgency_severity:
            incidents["urgency_severity"] = dict(spec.urgency_severity)
    if spec.kind == Source.Kind.GIT:
        return git_source_fields(spec)
    if spec.kind == Source.Kind.CLOUDTRAIL:
        return cloudtrail_source_fields(spec)
    if spec.kind == Source.Kind.OPSGENIE:  # services/priority_severity/alerts_tag: in incidents
        incidents = {"services": dict(spec.services)}
        if spec.priority_severity:
            incidents["priority_severity"] = dict(spec.priority_severity)
        if spec.alerts_tag:
            incidents["alerts_tag"] = spec.alerts_tag
    default_url = {
        Source.Kind.GITLAB: GITLAB_BASE_URL,
        Source.Kind.PAGERDUTY: PAGERDUTY_BASE_URL,
        Source.Kind.OPSGENIE: OPSGENIE_BASE_URL,
        Source.Kind.TERRAFORM: TERRAFORM_BASE_URL,
    }
    app = {
        key: value
        for key, value in (
            ("app_id", spec.app_id),
            ("installation_id", spec.installation_id),
            ("private_key_env", spec.private_key_env),
            ("private_key_file", spec.private_key_file),
        )
        if value
    }
    discovery = {
        key: value
        for key, value in (
            ("include", list(spec.include)),
            ("exclude", list(spec.exclude)),
            ("include_archived", spec.include_archived),
            ("include_forks", spec.include_forks),
        )
        if value
    }
    return {
        "kind": spec.kind,
        "base_url": spec.base_url or default_url.get(spec.kind, DEFAULT_BASE_URL),
        "token_env": spec.token_env or "",  # empty: a GitHub App signs, or a kind with none
        "app": app,
        "org": (spec.group if gitlab else spec.org) or "",
        "repos": list(spec.projects if gitlab else spec.repos),
        "discovery": discovery,
        "backfill_days": spec.backfill.days if spec.backfill else DEFAULT_BACKFILL_DAYS,
        "interval_seconds": (
            int(spec.interval.total_seconds()) if spec.interval else DEFAULT_INTERVAL_SECONDS
        ),
        "deployments": deployments,
        "incidents": incidents,
        "webhook_secret_env": spec.webhook_secret_env or "",
        "location": "",
        "branches": [],
        "stacks": spec_rules(spec),
        "cloudtrail": {},
    }


def git_source_fields(spec: SourceSpec) -> dict[str, Any]:
    """A git source: location (path or URL), repos [its name], branches, and its tags as
    deployments (tag_pattern, service, environment); backfill 0 reads the whole history."""
    deployments: dict[str, Any] = {}
    if spec.tags:
        deployments = {
            "from": ["tags"],
            "tag_pattern": spec.tags,
            "service": spec.service,
            "environment": spec.environment or "production",
        }
    return {
        "kind": spec.kind,
        "base_url": "",
        "token_env": "",
        "app": {},
        "org": "",
        "repos": [spec.repo],
        "discovery": {},
        "location": spec.path or spec.url or "",
        "branches": list(spec.branches),
        "backfill_days": spec.backfill.days if spec.backfill else 0,
        "interval_seconds": (
            int(spec.interval.total_seconds()) if spec.interval else DEFAULT_INTERVAL_SECONDS
        ),
        "deployments": deployments,
        "incidents": {},
        "webhook_secret_env": "",
        "stacks": [],
        "cloudtrail": {},
    }


def cloudtrail_source_fields(spec: SourceSpec) -> dict[str, Any]:
    """A cloudtrail source: its mapping (pipeline_roles, accounts, ignored_sources) and the
    webhook's secret variable; nothing is polled, so no address, token or repositories."""
    return {
        "kind": spec.kind,
        "base_url": "",
        "token_env": "",
        "app": {},
        "org": "",
        "repos": [],
        "discovery": {},
        "location": "",
        "branches": [],
        "backfill_days": DEFAULT_BACKFILL_DAYS,
        "interval_seconds": DEFAULT_INTERVAL_SECONDS,
        "deployments": {},
        "incidents": {},
        "webhook_secret_env": spec.webhook_secret_env or "",
        "stacks": [],
        "cloudtrail": spec_cloudtrail(spec),
    }


def _show(name: str, value: Any) -> str:
    if name == "interval_seconds":
        return duration_format(timedelta(seconds=value))
    if name == "backfill_days":
        return f"{value}d"
    if isinstance(value, list):
        return "[" + ", ".join(str(item) for item in value) + "]"
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True) if value else "{}"
    return repr(value) if value == "" else str(value)


def sources_config_apply(
    sender: Any, *, config: Config, prune: bool, **kwargs: Any
) -> SourcesApplied:
    """Create or update a Source per file source of a kind a registered provider reads (its
    config_check's problems are errors, that source left as it was); with prune, delete
    the sources the file does not name (their cursors go with them; recorded events stay).

    A changed source is due at once: its next scheduled sync does not wait for the interval.
    """
    handled = provider_kinds()
    specs = [spec for spec in config.sources if spec.kind in handled]
    existing = Source.objects.in_bulk([spec.name for spec in specs], field_name="name")
    lines: list[str] = []
    errors: list[str] = []
    for spec in specs:
        check = provider_for(spec.kind).config_check
        if problems := list(check(spec) if check else ()):
            errors += problems  # left as it was; config_apply reports the errors
            continue
        desired = source_fields(spec)
        source = existing.get(spec.name)
        if source is None:
            Source.objects.create(name=spec.name, **desired)
            lines.append(f"+ source {spec.name}")
            continue
        changes = [
            f"{_FILE_NAMES.get(name, name)} {_show(name, getattr(source, name))} -> "
            f"{_show(name, value)}"
            for name, value in desired.items()
            if getattr(source, name) != value
        ]
        if changes:
            for name, value in desired.items():
                setattr(source, name, value)
            source.sync_queued_at = None
            source.save(update_fields=[*desired, "sync_queued_at"])
            lines.append(f"~ source {spec.name}: {', '.join(changes)}")
    if prune:
        absent = Source.objects.exclude(name__in=[spec.name for spec in specs]).order_by("name")
        for name in absent.values_list("name", flat=True):
            lines.append(f"- source {name}")
        absent.delete()
    return SourcesApplied(kinds=handled, lines=tuple(lines), errors=tuple(errors))
