"""Records (what sources told us) and derived facts (what intake computed from them)."""

from __future__ import annotations

import hashlib
import re
import secrets
import uuid
from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.db.models.functions import Coalesce, Now

# A database default for list fields added later, so code of the version before (during a
# rolling upgrade, or a bench of an older commit) can still create rows on the migrated schema.
_EMPTY_LIST = models.Value([], output_field=models.JSONField())

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")  # an environment variable's name

# METRICS §2: a target a service has not deployed to for this long is retired (per environment).
TARGET_IDLE_AFTER = timedelta(days=90)
# CONTRACT §2 `targets:`: the rolling window a figure target is judged over when none is named.
DEFAULT_TARGET_WINDOW = timedelta(days=28)


class Tier(models.TextChoices):
    DEVELOPMENT = "development"
    TEST = "test"
    STAGING = "staging"
    PRODUCTION = "production"


class Status(models.TextChoices):
    SUCCESS = "success"
    FAILURE = "failure"
    CANCELLED = "cancelled"
    RUNNING = "running"


# ---------------------------------------------------------------------------------------------
# Estate: who owns what, and where it runs
# ---------------------------------------------------------------------------------------------


class Team(models.Model):
    name = models.CharField(max_length=200, unique=True)
    members = models.JSONField(default=list, blank=True, help_text="usernames who see the team")
    timezone = models.CharField(max_length=64, default="UTC")
    industry = models.CharField(
        max_length=64,
        blank=True,
        help_text="DORA 2025 Quick Check industry its figures are placed against "
        "(blank: the organisation's)",
    )
    # `teams: - digest:` (CONTRACT §2, docs/DIGESTS.md): the weekly digest goes to the members'
    # e-mail addresses plus these; digest_enabled False sends it to nobody.
    digest_to = models.JSONField(
        default=list,
        blank=True,
        db_default=_EMPTY_LIST,
        help_text="extra addresses of the weekly digest",
    )
    digest_enabled = models.BooleanField(
        default=True, db_default=True, help_text="send the weekly digest"
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Service(models.Model):
    class Kind(models.TextChoices):
        APP = "app"
        INFRA = "infra"

    name = models.CharField(max_length=200, unique=True)
    team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.SET_NULL)
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.APP)
    repos = models.JSONField(default=list, blank=True)
    paths = models.JSONField(default=list, blank=True, help_text="monorepo path globs")
    infer_failures = models.BooleanField(
        default=True, help_text="link unlinked incidents to the nearest rollout within 24 h"
    )
    # Declared by apply_config or saved in the admin; a service event intake created on first
    # sight is not (DORA_UNKNOWN_SERVICES), and keeps the event that named it first.
    # Database defaults: a process of the version before (a rolling upgrade) still creates rows.
    configured = models.BooleanField(
        default=False,
        db_default=False,
        help_text="declared by apply_config or the admin (not created by intake)",
    )
    first_event_at = models.DateTimeField(
        null=True, blank=True, help_text="when intake created it: the first event naming it"
    )
    first_event_type = models.CharField(max_length=20, blank=True, default="", db_default="")
    first_event_key = models.CharField(
        max_length=600, blank=True, default="", db_default="", help_text="source:type:id"
    )
    first_event_sent_by = models.CharField(max_length=200, blank=True, default="", db_default="")
    depends_on = models.ManyToManyField(
        "self",
        symmetrical=False,
        blank=True,
        related_name="dependents",
        limit_choices_to={"kind": "infra"},
        help_text="infra stacks the service runs on (transitively): what the promotion gate's "
        "source_fresh and infra_parity judge besides its own deploy pipeline",
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class UnconfiguredServiceManager(models.Manager["UnconfiguredService"]):
    def get_queryset(self) -> models.QuerySet[UnconfiguredService]:
        return super().get_queryset().filter(configured=False)


class UnconfiguredService(Service):
    """Services intake created from an event (admin: "Services without configuration")."""

    objects = UnconfiguredServiceManager()

    class Meta:
        proxy = True
        verbose_name = "service without configuration"
        verbose_name_plural = "services without configuration"


class Environment(models.Model):
    name = models.CharField(max_length=200, unique=True)
    tier = models.CharField(max_length=20, choices=Tier.choices, default=Tier.DEVELOPMENT)
    tier_configured = models.BooleanField(
        default=False, help_text="set by configuration; otherwise inferred from the name"
    )
    order = models.IntegerField(default=0, help_text="position in the promotion path")
    stale_after = models.DurationField(default=timedelta(days=7))
    target_idle_after = models.DurationField(
        default=TARGET_IDLE_AFTER,
        db_default=TARGET_IDLE_AFTER,
        help_text="a target with no successful deployment of a service for this long is no "
        "longer one of its active targets (unless targets are configured)",
    )

    class Meta:
        ordering = ["order", "name"]

    def __str__(self) -> str:
        return self.name


class Target(models.Model):
    """A place an environment runs (region, cluster, tenant); '' is the only target."""

    environment = models.ForeignKey(Environment, on_delete=models.CASCADE, related_name="targets")
    name = models.CharField(max_length=200, blank=True)
    configured = models.BooleanField(
        default=False, help_text="listed by configuration: always active"
    )

    class Meta:
        ordering = ["environment", "name"]
        constraints = [
            models.UniqueConstraint(fields=["environment", "name"], name="target_unique")
        ]

    def __str__(self) -> str:
        return f"{self.environment.name}/{self.name or '-'}"


# ---------------------------------------------------------------------------------------------
# Records: one row per normalized event, upserted on its natural or source key
# ---------------------------------------------------------------------------------------------


class RawEvent(models.Model):
    """An event as received, kept so derivation can be re-run after a definition changes."""

    source = models.CharField(max_length=100)
    type = models.CharField(max_length=40)
    external_id = models.CharField(max_length=500)
    payload = models.JSONField()
    digest = models.CharField(max_length=64, help_text="sha256 of the canonical payload")
    received_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    source_updated_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="the event's own updated_at: an older version never replaces a newer one",
    )
    sent_by = models.CharField(
        max_length=200,
        blank=True,
        default="",
        db_default="",
        help_text="who sent the stored version: token:<name>, webhook:<source>, sync:<source>, "
        "command:<name>",
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["source", "type", "external_id"], name="rawevent_unique"
            )
        ]
        indexes = [
            # An id prefix (a Flux object's events, `<Kind>/<ns>/<name>@...`): LIKE 'x%' can
            # use a btree only with pattern operators whatever the database's collation.
            models.Index(
                fields=["source", "type", "external_id"],
                opclasses=["varchar_pattern_ops"] * 3,
                name="rawevent_id_prefix_idx",
            )
        ]


class Commit(models.Model):
    source = models.CharField(max_length=100)
    external_id = models.CharField(max_length=500)
    repo = models.CharField(max_length=300)
    sha = models.CharField(max_length=64)
    authored_at = models.DateTimeField()
    committed_at = models.DateTimeField(null=True, blank=True)
    parents = models.JSONField(default=list)
    author = models.CharField(max_length=200, blank=True)
    message = models.TextField(blank=True)
    files = models.JSONField(default=list)
    reverts_sha = models.CharField(
        max_length=64, blank=True, help_text="from 'This reverts commit'"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["repo", "sha"], name="commit_unique"),
        ]
        indexes = [
            # Every lookup by sha; a direct push's arrival (the metrics' arrivals frame) reads
            # its earliest-authored commit's times from the index alone.
            models.Index(
                fields=["sha", "authored_at"], include=["committed_at"], name="commit_sha_times_idx"
            ),
            # Failure links look up which shipped commits are reverts: a few among many.
            models.Index(fields=["sha"], condition=~Q(reverts_sha=""), name="commit_revert_idx"),
        ]


class Change(models.Model):
    """A pull or merge request."""

    source = models.CharField(max_length=100)
    external_id = models.CharField(max_length=500)
    repo = models.CharField(max_length=300)
    number = models.IntegerField()
    title = models.CharField(max_length=500, blank=True)
    author = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField()
    ready_at = models.DateTimeField(null=True, blank=True)
    first_review_at = models.DateTimeField(null=True, blank=True)
    approved_at = models.DateTimeField(null=True, blank=True)
    merged_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    base = models.CharField(max_length=300, blank=True)
    head = models.CharField(max_length=300, blank=True)
    merge_sha = models.CharField(max_length=64, blank=True)
    squash_sha = models.CharField(max_length=64, blank=True)
    commits = models.JSONField(default=list)
    # The shas merging it created on the base branch (CONTRACT §1): rebased copies, the squash
    # commit or the merge commit. Each maps to this change, never to a direct push.
    landed_commits = models.JSONField(default=list, blank=True, db_default=_EMPTY_LIST)
    labels = models.JSONField(default=list)
    # The work item behind the change (CONTRACT §1, added): the value stream's E0.
    issue = models.CharField(max_length=500, blank=True, default="", db_default="")
    issue_created_at = models.DateTimeField(null=True, blank=True)
    # The change's page at its provider (GitHub's html_url), linked from the explain lists.
    url = models.CharField(max_length=500, blank=True, default="", db_default="")
    # Derived at intake: earliest authored_at of its commits (fallback created_at).
    started_at = models.DateTimeField(null=True, blank=True)
    # When the first successful CI run on the sha it landed as (merge or squash) finished: kept
    # by intake (dora/intake/change_times.py) for the value stream's build stage.
    build_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["repo", "number"], name="change_unique"),
        ]
        indexes = [
            # Covering: the value stream's changes merged in a window in the scope's repos are
            # their ids, read from the index alone (dora.reads.value_stream).
            models.Index(fields=["merged_at"], include=["repo", "id"], name="change_merged_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.repo}#{self.number}"


class ChangeCommit(models.Model):
    """Which shas belong to a change: its commits, its merge sha, its squash sha and the
    commits it landed on the base branch."""

    class Role(models.TextChoices):
        COMMIT = "commit"
        MERGE = "merge"
        SQUASH = "squash"
        LANDED = "landed"

    change = models.ForeignKey(Change, on_delete=models.CASCADE, related_name="shas")
    sha = models.CharField(max_length=64)
    role = models.CharField(max_length=10, choices=Role.choices)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["change", "sha", "role"], name="changecommit_unique")
        ]
        indexes = [models.Index(fields=["sha"])]


class PipelineRun(models.Model):
    source = models.CharField(max_length=100)
    external_id = models.CharField(max_length=500)
    repo = models.CharField(max_length=300)
    sha = models.CharField(max_length=64)
    name = models.CharField(max_length=300, blank=True)
    branch = models.CharField(max_length=300, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices)
    trigger = models.CharField(max_length=40, blank=True)
    created_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    jobs = models.JSONField(default=list)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["source", "external_id"], name="pipelinerun_unique")
        ]
        indexes = [
            models.Index(fields=["repo", "sha"]),
            # The value stream looks up the first green build of each merge or squash sha.
            models.Index(fields=["sha"], name="pipelinerun_sha_idx"),
        ]


class Deployment(models.Model):
    """One target received one version."""

    source = models.CharField(max_length=100)
    external_id = models.CharField(max_length=500)
    service = models.ForeignKey(Service, on_delete=models.CASCADE)
    environment = models.ForeignKey(Environment, on_delete=models.CASCADE)
    target = models.ForeignKey(Target, on_delete=models.CASCADE)
    sha = models.CharField(max_length=64, blank=True)
    version = models.CharField(max_length=200, blank=True)
    repo = models.CharField(max_length=300, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    commits = models.JSONField(null=True, blank=True, help_text="explicit shas shipped")
    trigger = models.CharField(max_length=20, blank=True)
    config_version = models.CharField(max_length=200, blank=True)
    remediates = models.CharField(max_length=500, blank=True, help_text="incident id")
    pipeline_run = models.CharField(max_length=500, blank=True)
    # A manual gate's approval (CONTRACT §1, added): the value stream's E9.
    approved_at = models.DateTimeField(null=True, blank=True)
    approved_by = models.CharField(max_length=200, blank=True, default="", db_default="")
    rollout = models.ForeignKey(
        "Rollout", null=True, blank=True, on_delete=models.SET_NULL, related_name="deployments"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["source", "external_id"], name="deployment_unique")
        ]
        indexes = [
            models.Index(fields=["service", "environment", "finished_at"]),
            # Organisation-wide metrics read a window of one tier's deployments.
            models.Index(fields=["environment", "finished_at"], name="deployment_env_finished_idx"),
            models.Index(fields=["sha"]),
            # The value stream's approval stage: few deployments carry an approval.
            models.Index(
                fields=["rollout"],
                condition=Q(approved_at__isnull=False),
                name="deployment_approved_idx",
            ),
            # The promotion gate: when did this version first reach the environment.
            models.Index(
                fields=["service", "environment", "version"], name="deployment_version_idx"
            ),
            # The promotion gate: each target's latest success, also on a target the service
            # has not deployed to for years (or never), without reading its whole history.
            models.Index(
                fields=["service", "environment", "target", "finished_at"],
                condition=Q(status="success"),
                name="deployment_target_success_idx",
            ),
        ]

    @property
    def version_key(self) -> str:
        return self.sha or self.version


class Incident(models.Model):
    source = models.CharField(max_length=100)
    external_id = models.CharField(max_length=500)
    service = models.ForeignKey(Service, on_delete=models.CASCADE)
    environment = models.ForeignKey(
        Environment,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        help_text="empty: the service's production tier",
    )
    title = models.CharField(max_length=500, blank=True)
    severity = models.CharField(max_length=40, blank=True)
    opened_at = models.DateTimeField()
    impact_started_at = models.DateTimeField(null=True, blank=True)
    mitigated_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    caused_by = models.JSONField(null=True, blank=True)
    cause = models.CharField(max_length=20, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["source", "external_id"], name="incident_unique")
        ]
        indexes = [
            models.Index(fields=["service", "opened_at"]),
            models.Index(
                fields=["service"], condition=Q(resolved_at__isnull=True), name="incident_open_idx"
            ),
            # Time to restore reads the incidents not restored before its window: when each was
            # restored (dora.reads.selectors.incidents_frame), a range of this instead of every
            # incident ever opened.
            models.Index(Coalesce("mitigated_at", "resolved_at"), name="incident_restored_idx"),
        ]


class AutomationRun(models.Model):
    source = models.CharField(max_length=100)
    external_id = models.CharField(max_length=500)
    service = models.ForeignKey(Service, on_delete=models.CASCADE)
    environment = models.ForeignKey(Environment, on_delete=models.CASCADE)
    target = models.ForeignKey(Target, on_delete=models.CASCADE)
    action = models.CharField(max_length=20)
    status = models.CharField(max_length=20, choices=Status.choices)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField()
    trigger = models.CharField(max_length=20, blank=True)
    version = models.CharField(max_length=200, blank=True)
    drift_detected = models.BooleanField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["source", "external_id"], name="automationrun_unique")
        ]
        indexes = [
            models.Index(fields=["service", "environment", "finished_at"]),
            # The promotion gate reads each instance's latest run, latest lag-resetting success
            # and newest drift check: one index probe each.
            models.Index(
                fields=["service", "environment", "target", "finished_at"],
                name="automationrun_instance_idx",
            ),
            models.Index(
                fields=["service", "environment", "target", "finished_at"],
                condition=Q(status="success") & ~Q(action="plan"),
                name="automationrun_reset_idx",
            ),
            models.Index(
                fields=["service", "environment", "target", "finished_at"],
                condition=Q(drift_detected__isnull=False),
                name="automationrun_drift_idx",
            ),
            # Automation evidence: each instance's latest run of each status before a window,
            # one probe each (without the status, a status the instance never had read all its
            # runs).
            models.Index(
                fields=["service", "environment", "target", "status", "finished_at"],
                name="automationrun_status_idx",
            ),
        ]


class OutOfBandChange(models.Model):
    """A change made outside the pipeline (a console edit, a CLI call), from an audit trail.

    It drifts the service's automation instances in its environment (on its target; on every
    target when it names none) until a successful apply or deployment there after it
    (dora.out_of_band)."""

    source = models.CharField(max_length=100)
    external_id = models.CharField(max_length=500)
    service = models.ForeignKey(Service, on_delete=models.CASCADE)
    environment = models.ForeignKey(Environment, on_delete=models.CASCADE)
    target = models.ForeignKey(
        Target, on_delete=models.CASCADE, help_text="the target named '': the whole environment"
    )
    changed_at = models.DateTimeField()
    actor = models.CharField(max_length=500, help_text="who: the audit trail's principal")
    what = models.CharField(max_length=500, help_text="what: the call or change made")
    resources = models.JSONField(default=list, blank=True)

    class Meta:
        verbose_name = "out-of-band change"
        constraints = [
            models.UniqueConstraint(fields=["source", "external_id"], name="outofbandchange_unique")
        ]
        indexes = [
            models.Index(fields=["environment", "changed_at"]),
            models.Index(fields=["service", "environment", "changed_at"]),
        ]


# ---------------------------------------------------------------------------------------------
# Derived facts (dora.intake.derive): a pure function of the records above, rebuilt on intake
# ---------------------------------------------------------------------------------------------


class Rollout(models.Model):
    """Consecutive target deployments of one version of a service in one environment."""

    class Kind(models.TextChoices):
        CHANGE = "change"
        ROLLBACK = "rollback"
        REDEPLOY = "redeploy"
        CONFIG = "config"

    class Failure(models.TextChoices):
        NONE = ""
        CONFIRMED = "confirmed"
        INFERRED = "inferred"

    service = models.ForeignKey(Service, on_delete=models.CASCADE)
    environment = models.ForeignKey(Environment, on_delete=models.CASCADE)
    seq = models.IntegerField(help_text="position among the rollouts of this service/environment")
    sha = models.CharField(max_length=64, blank=True)
    version = models.CharField(max_length=200, blank=True)
    config_version = models.CharField(max_length=200, blank=True)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    first_live_at = models.DateTimeField()
    last_live_at = models.DateTimeField()
    completed_at = models.DateTimeField(null=True, blank=True)
    targets_live = models.IntegerField(default=0)
    targets_active = models.IntegerField(default=0)
    unattributed = models.BooleanField(default=False, help_text="first rollout: no predecessor")
    change_set_complete = models.BooleanField(default=True)
    missing_shas = models.JSONField(default=list, blank=True)
    remediation = models.BooleanField(default=False, help_text="unplanned rework")
    failure = models.CharField(max_length=10, choices=Failure.choices, blank=True, default="")
    restored_at = models.DateTimeField(null=True, blank=True)
    ship_seq = models.IntegerField(
        help_text="seq of the rollout that first shipped this version's newest changes"
    )
    estate_reached_at = models.DateTimeField(
        null=True, blank=True, help_text="every active target runs a version holding its changes"
    )

    class Meta:
        ordering = ["service", "environment", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["service", "environment", "seq"], name="rollout_unique")
        ]
        indexes = [
            models.Index(fields=["environment", "first_live_at"]),
            models.Index(fields=["service", "first_live_at"]),
            # Each service's first rollout in an environment (the frequency badge): one probe,
            # where a MIN over the service's or the tier's rollouts grew with the history.
            models.Index(
                fields=["service", "environment", "first_live_at"],
                name="rollout_service_env_live_idx",
            ),
            # The promotion gate: was a rollout of this version marked failed.
            models.Index(
                fields=["service", "environment"],
                condition=~Q(failure=""),
                name="rollout_failed_idx",
            ),
        ]


class RolloutCommit(models.Model):
    """A commit in a rollout's change set (in a monorepo: one that touches the service's globs).

    Derived rows (this one, ChangeArrival, RolloutTarget) reference their rollout without a
    database constraint: derivation alone writes them, deletes them before their rollouts, and
    writes a hundred thousand per import, where a deferred check per row costs seconds at
    commit. Django still cascades deletes made through the ORM.
    """

    rollout = models.ForeignKey(
        Rollout, on_delete=models.CASCADE, related_name="commits", db_constraint=False
    )
    sha = models.CharField(max_length=64)

    class Meta:
        indexes = [models.Index(fields=["sha"])]


class MissingCommit(models.Model):
    """A sha a rollout's change-set walk needed but had not seen; its arrival re-derives them."""

    service = models.ForeignKey(Service, on_delete=models.CASCADE)
    environment = models.ForeignKey(Environment, on_delete=models.CASCADE)
    sha = models.CharField(max_length=64)
    since = models.DateTimeField(help_text="first_live_at of the earliest rollout that needs it")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["service", "environment", "sha"], name="missingcommit_unique"
            )
        ]
        indexes = [models.Index(fields=["sha"])]


class ChangeArrival(models.Model):
    """When a change (a PR, or a commit pushed straight to the branch) first went live."""

    service = models.ForeignKey(Service, on_delete=models.CASCADE, db_constraint=False)
    environment = models.ForeignKey(Environment, on_delete=models.CASCADE, db_constraint=False)
    change = models.ForeignKey(
        Change, null=True, blank=True, on_delete=models.CASCADE, db_constraint=False
    )
    commit_sha = models.CharField(max_length=64, blank=True, help_text="direct push: no PR")
    rollout = models.ForeignKey(
        Rollout, on_delete=models.CASCADE, related_name="arrivals", db_constraint=False
    )
    arrived_at = models.DateTimeField()
    unattributed = models.BooleanField(default=False)
    # The change's own times, kept by derivation (dora/intake/change_times.py) so that reads never
    # look them up per row: started_at = the change's start (its started_at, else created_at; a
    # direct push: its commit's authored_at), merged_at = its merge (a push: committed_at).
    started_at = models.DateTimeField(null=True, blank=True)
    merged_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["environment", "arrived_at"]),
            models.Index(fields=["service", "arrived_at"]),
            # The changes that arrived in a window (the value stream, dora.reads.value_stream),
            # read from the index alone: with the index above PostgreSQL also read the
            # change_id index and the arrivals' pages.
            models.Index(
                fields=["environment", "arrived_at"],
                include=["change"],
                condition=models.Q(change__isnull=False),
                name="arrival_change_env_idx",
            ),
        ]


class RolloutTarget(models.Model):
    """When one target first ran a version holding this rollout's changes (production tier).

    A change's arrival on a target is its first rollout's `reached_at` there; the full-estate
    arrival is the rollout's `estate_reached_at`.
    """

    rollout = models.ForeignKey(
        Rollout, on_delete=models.CASCADE, related_name="reached", db_constraint=False
    )
    target = models.ForeignKey(Target, on_delete=models.CASCADE, db_constraint=False)
    reached_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["rollout", "target"], name="rollouttarget_unique")
        ]


class FailureLink(models.Model):
    """Why a rollout counts as a change failure."""

    class Cause(models.TextChoices):
        INCIDENT = "incident"
        ROLLBACK = "rollback"
        REVERT = "revert"
        HOTFIX = "hotfix"
        INFERRED = "inferred"

    rollout = models.ForeignKey(Rollout, on_delete=models.CASCADE, related_name="failure_links")
    cause = models.CharField(max_length=10, choices=Cause.choices)
    status = models.CharField(max_length=10, choices=Rollout.Failure.choices)
    incident = models.ForeignKey(Incident, null=True, blank=True, on_delete=models.CASCADE)
    by_rollout = models.ForeignKey(
        Rollout, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    detail = models.CharField(max_length=500, blank=True)


class AutomationInstance(models.Model):
    """One automation process instance (a service's runs in an environment on a target): its
    latest run, latest lag-resetting success and newest drift check (dora.instances).

    Kept at intake, and when runs are deleted in the admin, so the promotion gate reads a row per
    instance instead of probing the runs. Runs deleted around the application (SQL by hand) need
    `dora.instances.automation_instances_rebuild()`.
    """

    service = models.ForeignKey(Service, on_delete=models.CASCADE)
    environment = models.ForeignKey(Environment, on_delete=models.CASCADE)
    target = models.ForeignKey(Target, on_delete=models.CASCADE)
    last_run_at = models.DateTimeField()
    last_reset_at = models.DateTimeField(
        null=True, blank=True, help_text="latest successful run that is not a plan"
    )
    last_reset_action = models.CharField(max_length=20, blank=True)
    last_reset_trigger = models.CharField(max_length=20, blank=True)
    last_reset_version = models.CharField(max_length=200, blank=True)
    drift_checked_at = models.DateTimeField(null=True, blank=True)
    drift_detected = models.BooleanField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["service", "environment", "target"], name="automationinstance_unique"
            )
        ]


class DerivePending(models.Model):
    """A (service, environment) whose facts intake has invalidated and derivation has not redone.

    Written in the same transaction as the records, so a crash between storing events and
    deriving from them loses nothing: the next flush (or `manage.py derive`) picks it up.
    """

    service = models.ForeignKey(Service, on_delete=models.CASCADE)
    environment = models.ForeignKey(Environment, on_delete=models.CASCADE)
    walk_since = models.DateTimeField(
        null=True, blank=True, help_text="regroup rollouts and walk change sets from here"
    )
    facts_since = models.DateTimeField(help_text="arrivals and failure links from here")
    error = models.TextField(
        blank=True,
        default="",
        db_default="",
        help_text="why deriving this pair failed; it is tried again when new events touch it "
        "or `manage.py derive --retry-failed` runs, and the other pairs go on meanwhile",
    )
    failed_at = models.DateTimeField(null=True, blank=True)
    # When intake first marked the pair since its last derivation (kept by later marks): the
    # oldest one is the derivation lag GET /metrics reports.
    marked_at = models.DateTimeField(db_default=Now())

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["service", "environment"], name="derivepending_unique")
        ]
        verbose_name = "pending derivation"
        verbose_name_plural = "pending derivations"


# ---------------------------------------------------------------------------------------------
# Access
# ---------------------------------------------------------------------------------------------


class ApiToken(models.Model):
    """A bearer token; only its sha256 is stored."""

    class Scope(models.TextChoices):
        INGEST = "ingest"
        GATE = "gate"
        READ = "read"
        METRICS = "metrics"  # scrapes GET /metrics (Prometheus), nothing else

    name = models.CharField(max_length=200)
    scope = models.CharField(max_length=10, choices=Scope.choices)
    digest = models.CharField(max_length=64, unique=True)
    prefix = models.CharField(max_length=12, help_text="first characters, to recognise it")
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked = models.BooleanField(default=False)
    revoked_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(
        null=True, blank=True, help_text="refused from this moment on (empty: never expires)"
    )
    # Limits (empty: none). A token limited to services or teams sends events about, asks the
    # gate about, and reads the metrics of those services only (a team's: its services now);
    # one limited to event types sends only those types.
    services = models.JSONField(default=list, blank=True, db_default=_EMPTY_LIST)
    teams = models.JSONField(default=list, blank=True, db_default=_EMPTY_LIST)
    event_types = models.JSONField(default=list, blank=True, db_default=_EMPTY_LIST)

    class Meta:
        verbose_name = "API token"
        verbose_name_plural = "API tokens"

    def __str__(self) -> str:
        return f"{self.name} ({self.scope}, {self.prefix}…)"

    @property
    def limited(self) -> bool:
        return bool(self.services or self.teams or self.event_types)

    @staticmethod
    def hash(raw: str) -> str:
        return hashlib.sha256(raw.encode()).hexdigest()

    @classmethod
    def issue(
        cls,
        *,
        name: str,
        scope: str,
        expires_at: datetime | None = None,
        services: list[str] | None = None,
        teams: list[str] | None = None,
        event_types: list[str] | None = None,
    ) -> tuple[ApiToken, str]:
        """Create a token and return it with its raw value, which is shown once."""
        raw = f"dora_{scope}_{secrets.token_urlsafe(32)}"
        token = cls.objects.create(
            name=name,
            scope=scope,
            digest=cls.hash(raw),
            prefix=raw[:12],
            expires_at=expires_at,
            services=sorted(services or []),
            teams=sorted(teams or []),
            event_types=sorted(event_types or []),
        )
        return token, raw


class OrganisationSettings(models.Model):
    """`organisation:` (CONTRACT §2): settings of the whole organisation. One row."""

    industry = models.CharField(
        max_length=64,
        blank=True,
        help_text="DORA 2025 Quick Check industry the figures are placed against (blank: all)",
    )
    # `organisation: digest: to:`: the monthly leadership digest's addresses, besides the
    # leadership group's and staff users' (docs/DIGESTS.md).
    digest_to = models.JSONField(
        default=list,
        blank=True,
        db_default=_EMPTY_LIST,
        help_text="addresses of the monthly leadership digest",
    )

    class Meta:
        verbose_name = "organisation settings"
        verbose_name_plural = "organisation settings"

    def __str__(self) -> str:
        return "organisation settings"


class DigestSent(models.Model):
    """A digest sent (docs/DIGESTS.md): a team's weekly digest for the week starting
    `period_start` (its local Monday), or with no team the leadership digest for the month
    starting then. Claimed in the transaction that sends it, so a digest goes out once even
    with two workers, and one that failed to send is tried again on the next run."""

    class Kind(models.TextChoices):
        WEEKLY = "weekly"
        MONTHLY = "monthly"

    kind = models.CharField(max_length=10, choices=Kind.choices)
    team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.CASCADE)
    period_start = models.DateField()
    sent_at = models.DateTimeField()
    recipients = models.JSONField(default=list, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "team", "period_start"],
                condition=models.Q(team__isnull=False),
                name="digest_sent_once_per_team",
            ),
            models.UniqueConstraint(
                fields=["kind", "period_start"],
                condition=models.Q(team__isnull=True),
                name="digest_sent_once_for_leadership",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} digest {self.team or 'leadership'} {self.period_start}"


# ---------------------------------------------------------------------------------------------
# Promotion gate
# ---------------------------------------------------------------------------------------------


class FigureTarget(models.Model):
    """A goal for one figure of CONTRACT §4 (`family.field`), for a team or a service, over a
    rolling window ending now (CONTRACT §2 `targets:`; attainment in dora.targets). `source`:
    `file` rows are managed by apply_config, `admin` rows by people in the admin."""

    class Direction(models.TextChoices):
        BELOW = "below", "below (met when the value is at most the threshold)"
        ABOVE = "above", "above (met when the value is at least the threshold)"

    class Source(models.TextChoices):
        FILE = "file"
        ADMIN = "admin"

    team = models.ForeignKey(
        Team, null=True, blank=True, on_delete=models.CASCADE, related_name="figure_targets"
    )
    service = models.ForeignKey(
        Service, null=True, blank=True, on_delete=models.CASCADE, related_name="figure_targets"
    )
    figure = models.CharField(max_length=100, help_text="family.field, e.g. lead_time.p50_seconds")
    direction = models.CharField(max_length=5, choices=Direction.choices)
    threshold = models.FloatField(help_text="in the figure's unit: seconds, a rate 0..1, a count")
    window = models.DurationField(
        default=DEFAULT_TARGET_WINDOW, help_text="rolling window ending now, e.g. 28 days"
    )
    source = models.CharField(
        max_length=5,
        choices=Source.choices,
        default=Source.ADMIN,
        help_text="file: apply_config manages it; admin: made here, apply_config leaves it alone",
    )

    class Meta:
        ordering = ["team__name", "service__name", "figure", "direction"]
        constraints = [
            models.CheckConstraint(
                condition=Q(team__isnull=True, service__isnull=False)
                | Q(team__isnull=False, service__isnull=True),
                name="figuretarget_one_subject",
            ),
            models.UniqueConstraint(
                fields=["team", "figure", "direction"],
                condition=Q(team__isnull=False),
                name="figuretarget_team_unique",
            ),
            models.UniqueConstraint(
                fields=["service", "figure", "direction"],
                condition=Q(service__isnull=False),
                name="figuretarget_service_unique",
            ),
        ]

    def __str__(self) -> str:
        subject = f"team {self.team.name}" if self.team_id else f"service {self.service.name}"
        return f"{subject}: {self.figure} {self.direction} {self.threshold:g}"

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        from dora.config.vocabulary import FIGURES

        errors: dict[str, str] = {}
        if self.team_id and self.service_id:
            errors["service"] = "Give a team or a service, not both."
        elif not self.team_id and not self.service_id:
            errors["team"] = "Choose a team or a service."
        family, _, name = (self.figure or "").partition(".")
        if family not in FIGURES:
            errors["figure"] = (
                f"Unknown figure '{self.figure}': write family.field, families: "
                f"{', '.join(FIGURES)}."
            )
        elif name not in FIGURES[family]:
            errors["figure"] = (
                f"Unknown figure '{self.figure}': fields of {family}: {', '.join(FIGURES[family])}."
            )
        if self.threshold is not None and self.threshold != self.threshold:  # NaN
            errors["threshold"] = "The threshold must be a number."
        if self.window is not None and self.window <= timedelta(0):
            errors["window"] = "The window must be longer than zero."
        if errors:
            raise ValidationError(errors)


class GateSettings(models.Model):
    """`gates.defaults` (CONTRACT §2): thresholds every promotion starts from. One row."""

    min_soak = models.DurationField(null=True, blank=True, help_text="default 30m")
    stale_after = models.DurationField(
        null=True, blank=True, help_text="default: the source environment's stale_after"
    )
    severity = models.CharField(
        max_length=40, blank=True, help_text="incident severity that blocks (default sev2)"
    )
    max_spread = models.PositiveIntegerField(
        null=True, blank=True, help_text="versions allowed live in `to` (default 1)"
    )

    class Meta:
        verbose_name = "gate defaults"
        verbose_name_plural = "gate defaults"

    def __str__(self) -> str:
        return "gate defaults"


class GateRule(models.Model):
    """`gates.rules[]`: check settings for promotions matching service/from/to ('' = any)."""

    service = models.CharField(max_length=200, blank=True)
    from_env = models.CharField("from", max_length=200, blank=True)
    to_env = models.CharField("to", max_length=200, blank=True)
    checks = models.JSONField(
        default=dict,
        blank=True,
        help_text='e.g. {"infra_parity": "block", "soak_time": {"min_soak": "2h"}}',
    )
    position = models.IntegerField(default=0, help_text="order in the file; later wins ties")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["service", "from_env", "to_env"], name="gaterule_unique"
            )
        ]
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return f"{self.service or '*'}: {self.from_env or '*'} -> {self.to_env or '*'}"


class GateDecision(models.Model):
    """One answer of the promotion gate, with its request and every check (CONTRACT §5)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    evaluated_at = models.DateTimeField()
    service = models.CharField(max_length=200)
    version = models.CharField(max_length=200)
    from_env = models.CharField("from", max_length=200)
    to_env = models.CharField("to", max_length=200)
    pipeline_run = models.CharField(max_length=500, blank=True)
    requested_by = models.CharField(max_length=200, help_text="token name or username")
    allowed = models.BooleanField()
    checks = models.JSONField(default=list)
    request = models.JSONField(default=dict, help_text="the request body as received")

    class Meta:
        indexes = [
            models.Index(fields=["service", "evaluated_at"]),
            models.Index(fields=["evaluated_at"]),
        ]
        ordering = ["-evaluated_at"]

    def __str__(self) -> str:
        verdict = "allowed" if self.allowed else "blocked"
        return f"{self.service} {self.version} {self.from_env}->{self.to_env}: {verdict}"


class FactsGeneration(models.Model):
    """A counter raised after every commit that may change a figure: events stored, facts
    derived, configuration applied, an edit in the admin (dora.generation). Dashboard snapshots
    are keyed by it, so a new generation is a new snapshot. One row."""

    value = models.BigIntegerField(default=0)

    class Meta:
        verbose_name = "facts generation"
        verbose_name_plural = "facts generation"  # one row: a counter, not a list


# ---------------------------------------------------------------------------------------------
# Alerts (dora.alerts, docs/ALERTS.md)
# ---------------------------------------------------------------------------------------------


class AlertChannel(models.Model):
    """Where a team's alerts go: email addresses, a Slack incoming webhook or a JSON webhook.

    Secrets never live here: a Slack webhook URL (it is its own credential) is read from the
    environment variable `url_env` names, the generic webhook's HMAC key from `secret_env`.
    """

    class Kind(models.TextChoices):
        EMAIL = "email"
        SLACK = "slack"
        WEBHOOK = "webhook"

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="alert_channels")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    address = models.CharField(
        max_length=1000,
        blank=True,
        help_text="email: recipients, comma-separated; webhook: its URL (no credentials in it)",
    )
    url_env = models.CharField(
        max_length=200,
        blank=True,
        help_text="environment variable holding the URL (slack: required; webhook: instead of "
        "address)",
    )
    secret_env = models.CharField(
        max_length=200,
        blank=True,
        help_text="webhook: environment variable holding the HMAC-SHA256 key of the signature",
    )
    enabled = models.BooleanField(default=True)
    configured = models.BooleanField(
        default=False, help_text="declared in the configuration file (apply_config manages it)"
    )

    class Meta:
        ordering = ["team__name", "kind", "id"]

    def __str__(self) -> str:
        where = self.address or (f"${self.url_env}" if self.url_env else "")
        return f"{self.team.name}: {self.kind} {where}".strip()

    def clean(self) -> None:
        """What the configuration file checks (dora.config.alerts), for the admin's form: a
        Slack URL is a secret and is never stored here; variables are names, not values."""
        errors: dict[str, str] = {}
        for name in ("url_env", "secret_env"):
            value = getattr(self, name)
            if value and not _ENV_NAME.match(value):
                errors[name] = "the name of an environment variable, e.g. DORA_SLACK_PAYMENTS"
        if self.kind == self.Kind.SLACK:
            if self.address:
                errors["address"] = (
                    "a Slack incoming webhook URL is a secret: put it in an environment "
                    "variable of the worker and name that variable in url_env"
                )
            elif not self.url_env:
                errors["url_env"] = "required: the variable holding the Slack webhook URL"
        elif self.kind == self.Kind.WEBHOOK:
            if bool(self.address) == bool(self.url_env):
                errors["address"] = "give the URL here or the variable holding it in url_env"
            elif self.address and not self.address.startswith(("https://", "http://")):
                errors["address"] = "an http(s) URL"
            elif "hooks.slack.com" in self.address:
                errors["address"] = "a Slack webhook URL is a secret: use a slack channel"
        elif self.kind == self.Kind.EMAIL and "@" not in self.address:
            errors["address"] = "one or more email addresses, comma-separated"
        if errors:
            raise ValidationError(errors)


class AlertState(models.Model):
    """One condition of a team (a key such as `stale:shop@production`): while `active` it has
    fired and does not fire again; once cleared it fires again when it comes back."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="alert_states")
    key = models.CharField(max_length=500)
    kind = models.CharField(max_length=40, help_text="the provider that found it")
    title = models.CharField(max_length=500)
    detail = models.TextField(blank=True)
    link = models.CharField(max_length=1000, blank=True, help_text="dashboard path")
    active = models.BooleanField(default=True)
    first_fired_at = models.DateTimeField(help_text="when it fired the first time")
    fired_at = models.DateTimeField(help_text="when it fired the last time")
    fired_count = models.PositiveIntegerField(default=1)
    last_seen_at = models.DateTimeField()
    cleared_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["team", "key"], name="alertstate_team_key_unique")
        ]
        ordering = ["-fired_at"]

    def __str__(self) -> str:
        return f"{self.team.name}: {self.key} ({'active' if self.active else 'cleared'})"


class AlertDelivery(models.Model):
    """One message of an alert to one channel: queued when the condition fires or clears, sent
    by dora.alerts.delivery with retries; `failed` after the last attempt, with the error."""

    class Event(models.TextChoices):
        FIRED = "fired"
        CLEARED = "cleared"

    class Status(models.TextChoices):
        PENDING = "pending"
        SENT = "sent"
        FAILED = "failed"

    state = models.ForeignKey(AlertState, on_delete=models.CASCADE, related_name="deliveries")
    channel = models.ForeignKey(AlertChannel, on_delete=models.CASCADE, related_name="deliveries")
    event = models.CharField(max_length=10, choices=Event.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField()
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    payload = models.JSONField(default=dict, help_text="the alert as the JSON webhook receives it")

    class Meta:
        indexes = [models.Index(fields=["status", "next_attempt_at"])]
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "alert deliveries"

    def __str__(self) -> str:
        return f"{self.state.key} {self.event} -> {self.channel.kind}: {self.status}"
