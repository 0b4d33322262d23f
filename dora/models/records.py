"""Records: one row per normalized event, upserted on its natural or source key."""

from __future__ import annotations

from django.db import models
from django.db.models import F, Q, Value
from django.db.models.functions import Coalesce, NullIf

from dora.models.estate import _EMPTY_LIST, Environment, Service, Status, Target


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
            # Version spread: a version's first successful deployment in a (service,
            # environment) since a moment is one probe, by its key (the sha, else the version,
            # as version_key), not a walk through every deployment since then.
            models.Index(
                F("service"),
                F("environment"),
                Coalesce(NullIf("sha", Value("")), "version"),
                F("finished_at"),
                condition=Q(status="success"),
                name="deployment_release_idx",
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
