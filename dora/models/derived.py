"""Derived facts (dora.intake.derive): a pure function of the records, rebuilt on intake."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.db.models.functions import Now

from dora.models.estate import Environment, Service, Target
from dora.models.records import Change, Incident


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
