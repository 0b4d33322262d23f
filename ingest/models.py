"""Raw webhook deliveries, stored before they are normalized (CONTRACT §6)."""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError
from django.db import models

_DEPLOYMENT_ORIGINS = ("deployments_api", "workflow_runs", "workflow_jobs", "releases", "tags")
_REPO_NAME = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
_PROJECT_PATH = re.compile(r"^[A-Za-z0-9_.-]+(?:/[A-Za-z0-9_.-]+)+$")  # GitLab: subgroups
# Kinds whose runs arrive by webhook and map through `stacks:` (ingest.sources.stacks).
STACK_KINDS = ("atlantis", "spacelift", "env0")


class WebhookDelivery(models.Model):
    """One verified delivery as received; its delivery id makes a redelivery a no-op."""

    provider = models.CharField(max_length=20)  # github | gitlab | pagerduty
    delivery_id = models.CharField(max_length=200, help_text="X-GitHub-Delivery")
    source = models.CharField(max_length=100, help_text="the source whose secret verified it")
    event = models.CharField(max_length=100, help_text="X-GitHub-Event")
    action = models.CharField(max_length=100, blank=True)
    payload = models.JSONField()
    received_at = models.DateTimeField()
    processed_at = models.DateTimeField(null=True, blank=True)
    counts = models.JSONField(null=True, blank=True, help_text="the intake report's counts")
    error = models.TextField(blank=True, help_text="why normalizing failed (kept for a retry)")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "delivery_id"], name="webhookdelivery_unique"
            )
        ]
        indexes = [models.Index(fields=["received_at"])]
        verbose_name_plural = "webhook deliveries"

    def __str__(self) -> str:
        return f"{self.provider} {self.event} {self.delivery_id}"


class Source(models.Model):
    """A configured ingest source (CONTRACT §2 `sources`): what to read and how to map it.

    The token is never stored: `token_env` names the environment variable holding it.
    Repositories map to services through the services' own `repos` (dora.models.Service).
    """

    class Kind(models.TextChoices):
        GITHUB = "github", "GitHub"
        GITLAB = "gitlab", "GitLab"
        PAGERDUTY = "pagerduty", "PagerDuty"
        ATLANTIS = "atlantis", "Atlantis"
        SPACELIFT = "spacelift", "Spacelift"
        ENV0 = "env0", "env0"

    name = models.CharField(max_length=100, unique=True)
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.GITHUB)
    base_url = models.URLField(
        default="https://api.github.com", help_text="API root; GitHub Enterprise: its API URL"
    )
    token_env = models.CharField(
        max_length=100,
        default="GITHUB_TOKEN",
        blank=True,  # webhook-only kinds (STACK_KINDS) read no API
        help_text="environment variable with the token (none for atlantis, spacelift, env0)",
    )
    org = models.CharField(max_length=200, blank=True, help_text="read every repository of it")
    repos = models.JSONField(default=list, blank=True, help_text="or these: owner/name, ...")
    backfill_days = models.PositiveIntegerField(default=180, help_text="history a first sync reads")
    interval_seconds = models.PositiveIntegerField(default=15 * 60)
    deployments = models.JSONField(
        default=dict,
        blank=True,
        help_text="CONTRACT §2 `deployments`: from, patterns, environment map",
    )
    incidents = models.JSONField(default=dict, blank=True, help_text="CONTRACT §2 `incidents`")
    stacks = models.JSONField(
        default=list,
        blank=True,
        help_text="IaC run sources (atlantis, spacelift, env0): [{match, workspace, service, "
        "environment, target}, ...] (docs/INFRA-SOURCES.md)",
    )
    webhook_secret_env = models.CharField(
        max_length=100,
        blank=True,
        help_text="environment variable with the webhook secret (default "
        "DORA_GITHUB_WEBHOOK_SECRET); deliveries go to /webhooks/github/<name>",
    )
    last_sync_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, help_text="what a human must fix, when anything")
    rate_remaining = models.IntegerField(null=True, blank=True)
    rate_reset_at = models.DateTimeField(null=True, blank=True)
    # Scheduling (ingest.schedule): when a sync was last queued (the interval counts from
    # there), and the lease a running sync holds so that no other worker syncs the source.
    sync_queued_at = models.DateTimeField(null=True, blank=True)
    sync_lease_until = models.DateTimeField(null=True, blank=True)
    sync_lease_owner = models.CharField(max_length=64, blank=True)
    # The running sync's latest page, e.g. "acme/shop pulls: page 3 of 12, 240 objects":
    # written when the lease is renewed per page, cleared when the lease is released.
    sync_progress = models.CharField(max_length=300, blank=True)

    def __str__(self) -> str:
        return f"{self.name} ({self.kind})"

    def clean(self) -> None:
        """What apply_config checks in the file, for rows edited in the admin."""
        errors: dict[str, str] = {}
        if self.kind in STACK_KINDS:  # webhook-only: they name stacks, no repos or org
            from ingest.sources.stacks import stack_rules_problems

            if problems := stack_rules_problems(self.stacks, "stacks"):
                errors["stacks"] = "; ".join(problems)
            if errors:
                raise ValidationError(errors)
            return
        if not self.token_env:
            errors["token_env"] = "The environment variable holding the token."  # noqa: S105
        repos = self.repos if isinstance(self.repos, list) else None
        pagerduty = self.kind == self.Kind.PAGERDUTY  # names services (in incidents), no repos
        services = (self.incidents or {}).get("services") if pagerduty else None
        name = _PROJECT_PATH if self.kind == self.Kind.GITLAB else _REPO_NAME
        if pagerduty:
            if not isinstance(services, dict) or not services:
                errors["incidents"] = 'A JSON object with "services": {"PXXXXXX": "checkout"}.'
        elif repos is None or not all(isinstance(r, str) and name.match(r) for r in repos):
            errors["repos"] = (
                'A list of "group/project" strings.'
                if self.kind == self.Kind.GITLAB
                else 'A list of "owner/name" strings.'
            )
        elif self.org and repos:
            errors["repos"] = "Give org or repos, not both (org reads every repository of it)."
        elif not self.org and not repos:
            errors["org"] = "Give an org (every repository of it) or repos."
        if self.interval_seconds is not None and self.interval_seconds < 60:
            errors["interval_seconds"] = "At least 60 (the scheduler looks every minute)."
        deployments = self.deployments if isinstance(self.deployments, dict) else None
        if deployments is None:
            errors["deployments"] = "A JSON object: from, workflow_pattern, tag_pattern, ..."
        else:
            unknown = set(deployments.get("from") or ()) - set(_DEPLOYMENT_ORIGINS)
            if unknown:
                errors["deployments"] = (
                    f"from: {', '.join(sorted(map(str, unknown)))} is not one of "
                    f"{', '.join(_DEPLOYMENT_ORIGINS)}."
                )
            for key in ("workflow_pattern", "tag_pattern"):
                try:
                    re.compile(deployments.get(key) or "")
                except (re.error, TypeError) as exc:
                    errors["deployments"] = f"{key} is not a valid regular expression: {exc}"
        if errors:
            raise ValidationError(errors)


class RunStateVersion(models.Model):
    """The highest state ordinal seen of one provider run (Spacelift's `stateVersion`), so a
    delivery older than one already recorded is dropped whatever order they arrive in."""

    provider = models.CharField(max_length=20)
    source = models.CharField(max_length=100)
    run_id = models.CharField(max_length=200)
    version = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "source", "run_id"], name="runstateversion_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.provider} {self.source} {self.run_id} @{self.version}"


class SyncCursor(models.Model):
    """How far one stream of one repository has been read (see ingest.sync for the protocol).

    since: the lower bound of the list query (already minus the overlap window);
    etag/last_modified: validators of that query's first page, sent as a conditional request
    when no pass is in progress; resume_url: the next page of an unfinished pass;
    newest_seen: the newest time read so far; oldest_open: the oldest object of the current
    pass that may still change (a running workflow run), so `since` never moves past it.
    """

    source = models.ForeignKey(Source, on_delete=models.CASCADE, related_name="cursors")
    repo = models.CharField(max_length=200)
    stream = models.CharField(max_length=50)
    since = models.DateTimeField(null=True, blank=True)
    etag = models.CharField(max_length=200, blank=True)
    last_modified = models.CharField(max_length=100, blank=True)
    resume_url = models.TextField(blank=True)
    newest_seen = models.DateTimeField(null=True, blank=True)
    oldest_open = models.DateTimeField(null=True, blank=True)
    synced_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["source", "repo", "stream"], name="synccursor_unique")
        ]

    def __str__(self) -> str:
        return f"{self.source_id} {self.repo} {self.stream}"
