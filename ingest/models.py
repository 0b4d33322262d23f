"""Raw webhook deliveries, stored before they are normalized (CONTRACT §6)."""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError
from django.db import models

from ingest.sources.stacks import STACK_KINDS, stack_rules_problems

_DEPLOYMENT_ORIGINS = ("deployments_api", "workflow_runs", "workflow_jobs", "releases", "tags")
_REPO_NAME = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
_PROJECT_PATH = re.compile(r"^[A-Za-z0-9_.-]+(?:/[A-Za-z0-9_.-]+)+$")  # GitLab: subgroups


class WebhookDelivery(models.Model):
    """One verified delivery as received; its delivery id makes a redelivery a no-op."""

    provider = models.CharField(max_length=20)  # github | gitlab | pagerduty | terraform ...
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
        OPSGENIE = "opsgenie", "Opsgenie"
        GIT = "git", "Git repository"
        TERRAFORM = "terraform", "HCP Terraform"
        ATLANTIS = "atlantis", "Atlantis"
        SPACELIFT = "spacelift", "Spacelift"
        ENV0 = "env0", "env0"
        ARGOCD = "argocd", "Argo CD"
        FLUX = "flux", "Flux"
        CLOUDTRAIL = "cloudtrail", "AWS CloudTrail"

    name = models.CharField(max_length=100, unique=True)
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.GITHUB)
    base_url = models.URLField(
        default="https://api.github.com",
        blank=True,  # a git source has none (its location says where it is)
        help_text="API root; GitHub Enterprise: its API URL",
    )
    token_env = models.CharField(
        max_length=100,
        default="GITHUB_TOKEN",
        blank=True,  # a GitHub App source (`app`), git, STACK_KINDS: no token
        help_text="environment variable with the token (none for webhook-only kinds; optional "
        "for terraform)",
    )
    org = models.CharField(max_length=200, blank=True, help_text="read every repository of it")
    repos = models.JSONField(default=list, blank=True, help_text="or these: owner/name, ...")
    # kind git: the repository (repos holds its name; deployments its tag_pattern, service and
    # environment). backfill_days 0 reads the whole history.
    location = models.CharField(
        max_length=1000,
        blank=True,
        help_text="git: a path the worker reads in place, or a clone URL (file, https, ssh, git)",
    )
    branches = models.JSONField(
        default=list, blank=True, help_text="git: the revisions read (empty: HEAD)"
    )
    # GitHub App instead of token_env: {app_id, installation_id?, private_key_env | _file}.
    app = models.JSONField(
        default=dict,
        blank=True,
        help_text='GitHub App: {"app_id": 1, "private_key_env": "VAR", "installation_id": 2}',
    )
    # org discovery: {include: [glob], exclude: [glob], include_archived, include_forks}.
    discovery = models.JSONField(
        default=dict,
        blank=True,
        help_text='org repositories: {"include": ["svc-*"], "exclude": ["*-sandbox"]}',
    )
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
        help_text="IaC and GitOps sources (terraform, atlantis, spacelift, env0, argocd, flux): "
        "[{match, service, environment, target, workspace | destination | as}, ...] "
        "(docs/INFRA-SOURCES.md)",
    )
    cloudtrail = models.JSONField(
        default=dict,
        blank=True,
        help_text='cloudtrail: {"pipeline_roles": ["arn:...:role/deploy-*"], "accounts": '
        '{"123456789012": {"environment": "production", "service": "network", "regions": '
        '{"us-east-2": "use2"}}}, "ignored_sources": [...]} (docs/INFRA-SOURCES.md)',
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
        if self.kind == self.Kind.CLOUDTRAIL:  # webhook and files only: its mapping, no repos
            from ingest.sources.cloudtrail.config import cloudtrail_problems

            if problems := cloudtrail_problems(self.cloudtrail):
                errors["cloudtrail"] = "; ".join(problems)
            if self.stacks:
                errors["stacks"] = "A cloudtrail source maps accounts (cloudtrail), not stacks."
            if errors:
                raise ValidationError(errors)
            return
        if self.cloudtrail:
            errors["cloudtrail"] = "Only a cloudtrail source has a CloudTrail mapping: leave {}."
        if self.kind in STACK_KINDS:  # webhook-only: they name stacks, no repos or org
            if problems := stack_rules_problems(self.stacks, "stacks", self.kind):
                errors["stacks"] = "; ".join(problems)
            if errors:
                raise ValidationError(errors)
            return
        repos = self.repos if isinstance(self.repos, list) else None
        # pagerduty/opsgenie name services (in incidents), no repos
        incident_kind = self.kind in (self.Kind.PAGERDUTY, self.Kind.OPSGENIE)
        services = (self.incidents or {}).get("services") if incident_kind else None
        name = _PROJECT_PATH if self.kind == self.Kind.GITLAB else _REPO_NAME
        if self.kind == self.Kind.GIT:
            from ingest.sources.git.config import git_location_problem

            if problem := git_location_problem(self.location):
                errors["location"] = problem
            if not (isinstance(repos, list) and len(repos) == 1 and isinstance(repos[0], str)):
                errors["repos"] = 'One name: ["acme/shop"].'
            branches = self.branches if isinstance(self.branches, list) else None
            if branches is None or not all(isinstance(b, str) and b for b in branches):
                errors["branches"] = 'A list of revisions, e.g. ["main"] (empty: HEAD).'
        elif incident_kind:
            if not isinstance(services, dict) or not services:
                errors["incidents"] = 'A JSON object with "services": {"<their id>": "checkout"}.'
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
        app = self.app if isinstance(self.app, dict) else None
        if app is None or (app and not isinstance(app.get("app_id"), int)):
            errors["app"] = 'A JSON object: {"app_id": 123, "private_key_env": "VAR"} or {}.'
        elif app and self.token_env:
            errors["token_env"] = "Leave empty for a GitHub App (app), or empty app."  # noqa: S105 - a message
        elif app and not (app.get("private_key_env") or app.get("private_key_file")):
            errors["app"] = "Name private_key_env (the variable with the PEM) or private_key_file."
        elif not app and not self.token_env and self.kind != self.Kind.GIT:
            errors["token_env"] = "Name the variable holding the token (or set app)."  # noqa: S105 - a message
        discovery = self.discovery if isinstance(self.discovery, dict) else None
        patterns = [(discovery or {}).get(key) or [] for key in ("include", "exclude")]
        if discovery is None or not all(
            isinstance(p, list) and all(isinstance(g, str) for g in p) for p in patterns
        ):
            errors["discovery"] = 'A JSON object: {"include": ["svc-*"], "exclude": [...]}.'
        elif discovery and not self.org:
            errors["discovery"] = "Chooses among an org's repositories: set org (not repos)."
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
