"""The metrics report (CONTRACT §4), from selectors + metrics.

Shared by `manage.py metrics` and `GET /api/v1/metrics[/<name>/items]`: its parameters are parsed
in dora.reads.report_query, so the command and the API accept and reject the same inputs with
the same messages; the items behind each figure are dora.reads.report_items.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any, ClassVar

import pandas as pd

from dora import benchmarks
from dora.metrics import DEFINITIONS_URL, DEFINITIONS_VERSION
from dora.metrics.automation import (
    AutomationEvidence,
    AutomationLag,
    automation_evidence,
    automation_lag,
)
from dora.metrics.estate import (
    EstateLeadTime,
    VersionSpread,
    full_estate_lead_time,
    version_spread,
)
from dora.metrics.failure import (
    ChangeFailureRate,
    DeployFailureRate,
    change_failure_items,
    change_failure_of,
    deploy_failure_of,
    deploy_failure_rate,
)
from dora.metrics.frames import iso
from dora.metrics.frequency import Frequency, frequency_frame, frequency_of
from dora.metrics.lead_time import LeadTime, lead_time_items, lead_time_of
from dora.metrics.levels import (
    CHANGE_FAILURE_RATE,
    DEFAULT_INDUSTRY,
    DEPLOYMENT_FREQUENCY,
    FIGURE_KEYS,
    GROUPS,
    LEAD_TIME,
    METRIC_GROUP,
    MIN_CHANGES_LEAD_TIME,
    MIN_RESTORED_RECOVERY,
    MIN_ROLLOUTS_CFR,
    RECOVERY,
    REWORK_RATE,
    NearestCluster,
    Placements,
    has_tiers,
    metric_score,
    nearest_cluster,
    overall_placement,
)
from dora.metrics.out_of_band import OutOfBandChanges, out_of_band_changes
from dora.metrics.recovery import (
    RecoveryTime,
    TimeToRestore,
    recovery_items,
    recovery_of,
    restore_items,
    restore_of,
)
from dora.metrics.rework import ReworkRate, rework_items, rework_of
from dora.metrics.value_stream import ValueStream, value_stream
from dora.out_of_band import out_of_band_frame
from dora.reads import estate_reads, selectors
from dora.reads.prefetch import prefetch
from dora.reads.report_query import MetricsQuery
from dora.reads.scope import scope_repos
from dora.reads.value_stream import (
    ValueStreamFrames,
    ValueStreamReads,
    value_stream_frames,
    value_stream_reads,
)

# Connections reading a full report's frames at once (this one and two more).
PREFETCH_WORKERS = 3
# A scope of this many services or fewer reads its frames on this connection alone: a service's
# 13 reads of a few hundred rows each cost less than opening two more connections for them
# (bench/metrics.py's service, median of 10: 71-82 ms serially against 87-106 ms in three
# threads at load 2; 137-207 against 126-230 ms at load 4.7; less CPU in every case).
SERIAL_READS_SERVICES = 1


class DoraFigures:
    """The five DORA figures, time to restore and the Quick Check level of one scope and
    window, each computed once on first use. The report (MetricsComputation) and the dashboards
    (dora.reads.dashboards.Headline) both derive from it, so a window gives the same numbers on
    every page and in the API.

    A subclass provides `since`, `until`, `now`, `benchmark` and `tz`, and the frames `rollouts`
    and `arrivals` (any superset of the window: what lies outside is not counted), `incidents`
    (read only for time to restore, which the 2021 and 2022 levels use) and `first_rollout_at`;
    `industry` is the 2025 Quick Check industry the figures are placed against.
    """

    since: datetime
    until: datetime
    now: datetime
    benchmark: int
    industry: str = DEFAULT_INDUSTRY
    failure_links: pd.DataFrame | None = None  # the "why" of each failure, when read

    @property
    def tz(self) -> str:
        raise NotImplementedError

    # The row-by-row part of each figure (dora.metrics `*_items`, `frequency_frame`), from the
    # frames; dora.reads.dashboards.SplitHeadline takes its share of one pass over many scopes
    # instead.

    def frequency_rows(self) -> pd.DataFrame:
        lookback = min(self.since, self.until - selectors.HALF_YEAR)
        live = pd.to_datetime(self.rollouts["first_live_at"], utc=True)
        return frequency_frame(self.rollouts[(live >= lookback) & (live < self.until)])

    def lead_time_rows(self) -> pd.DataFrame:
        return lead_time_items(self.arrivals, since=self.since, until=self.until)

    def change_failure_rows(self) -> pd.DataFrame:
        return change_failure_items(
            self.rollouts, since=self.since, until=self.until, failure_links=self.failure_links
        )

    def recovery_rows(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """The restored failures and the unrestored ones."""
        return recovery_items(self.rollouts, since=self.since, until=self.until)

    def restore_rows(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """The restored incidents and the ones still open."""
        return restore_items(self.incidents, since=self.since, until=self.until)

    def rework_rows(self) -> pd.DataFrame:
        return rework_items(self.rollouts, since=self.since, until=self.until)

    # The figures: counting and percentiles over those rows.

    @cached_property
    def frequency(self) -> Frequency:
        return frequency_of(
            self.frequency_rows(),
            since=self.since,
            until=self.until,
            tz=self.tz,
            benchmark=self.benchmark,
            first_rollout_at=self.first_rollout_at,
        )

    @cached_property
    def lead_time(self) -> LeadTime:
        return lead_time_of(self.lead_time_rows(), benchmark=self.benchmark)

    @cached_property
    def change_failure(self) -> ChangeFailureRate:
        return change_failure_of(
            self.change_failure_rows(), until=self.until, now=self.now, benchmark=self.benchmark
        )

    @cached_property
    def recovery(self) -> RecoveryTime:
        return recovery_of(*self.recovery_rows(), benchmark=self.benchmark)

    @cached_property
    def restore(self) -> TimeToRestore:
        return restore_of(*self.restore_rows(), benchmark=self.benchmark)

    @cached_property
    def rework(self) -> ReworkRate:
        return rework_of(self.rework_rows())

    def overall_level(self) -> str | None:
        """Quick Check level over the figures that earned a badge (METRICS §3.6).

        The recovery column is time to restore service for the 2021/2022 tables (their
        definition) and failed deployment recovery time from 2023 on.
        """
        nearest = self.overall_nearest()
        return None if nearest is None else nearest.level

    def overall_nearest(self) -> NearestCluster | None:
        """`overall_level` with its reasons: every cluster's distance and each figure's score
        (None for 2025 or when no figure earned a badge)."""
        recovery = self.restore.duration if self.benchmark <= 2022 else self.recovery.duration
        lead = self.lead_time.duration
        return nearest_cluster(
            self.benchmark,
            deployment_frequency=self.frequency.category if self.frequency.level else None,
            lead_time=lead.category if lead.level else None,
            recovery=recovery.category if recovery.level else None,
            change_failure_rate=self.change_failure.rate if self.change_failure.level else None,
        )

    def scores(self) -> dict[str, float | None]:
        """The five figures' Quick Check 0–10 scores (METRICS §3.6; None without a value),
        whether or not they earned a badge: a score depends on no report year."""
        return {
            LEAD_TIME: metric_score(LEAD_TIME, self.lead_time.duration.category),
            DEPLOYMENT_FREQUENCY: metric_score(DEPLOYMENT_FREQUENCY, self.frequency.category),
            RECOVERY: metric_score(RECOVERY, self.recovery.duration.category),
            CHANGE_FAILURE_RATE: metric_score(CHANGE_FAILURE_RATE, self.change_failure.rate),
            REWORK_RATE: metric_score(REWORK_RATE, self.rework.rate),
        }

    def sufficient(self) -> dict[str, bool]:
        """Which figures meet their badge minimum (METRICS §3.6): the same rules for a level
        and for a 2025 placement."""
        return {
            LEAD_TIME: self.lead_time.duration.n >= MIN_CHANGES_LEAD_TIME,
            DEPLOYMENT_FREQUENCY: self.frequency.sufficient,
            RECOVERY: self.recovery.duration.n >= MIN_RESTORED_RECOVERY,
            CHANGE_FAILURE_RATE: self.change_failure.rollouts >= MIN_ROLLOUTS_CFR,
            REWORK_RATE: self.rework.sufficient,
        }

    @cached_property
    def placements(self) -> Placements | None:
        """The 2025 placement of the figures that earned a badge, their groups and the overall
        figure against the chosen industry; None for a benchmark year with levels."""
        if has_tiers(self.benchmark):
            return None
        sufficient = self.sufficient()
        scores = {m: s for m, s in self.scores().items() if sufficient[m]}
        return overall_placement(scores, benchmarks.industry(self.industry))

    def percentile(self, metric: str) -> float | None:
        """A figure's 2025 percentile (0..100), None below its minimum or for a tier year."""
        placements = self.placements
        if placements is None or metric not in placements.metrics:
            return None
        return placements.metrics[metric].percentile

    @property
    def overall_percentile(self) -> float | None:
        placements = self.placements
        return (
            None
            if placements is None or placements.overall is None
            else (placements.overall.percentile)
        )

    def placed(self, figure: dict[str, Any], metric: str) -> dict[str, Any]:
        """A figure's JSON with its score, 2025 percentile (rounded to 0.1) and DORA group."""
        score, percentile = self.scores()[metric], self.percentile(metric)
        return {
            **figure,
            "score": None if score is None else round(score, 4),
            "percentile": None if percentile is None else round(percentile, 1),
            "group": METRIC_GROUP[metric],
        }


class MetricsComputation(DoraFigures):
    """Each frame and figure of one query, read and computed once, on first use."""

    def __init__(self, query: MetricsQuery, *, now: datetime, items: bool = True) -> None:
        """items=False: the figures only (the full report's JSON), so nothing is read that only
        their items list (the causes of each failed rollout)."""
        self.items = items
        self.query = query
        self.scope = query.scope
        self.since = query.since
        self.until = query.until
        self.benchmark = query.benchmark
        self.industry = query.industry
        self.now = now

    @property
    def tz(self) -> str:
        return self.scope.timezone

    # -- frames ---------------------------------------------------------------------------

    @cached_property
    def rollouts(self) -> pd.DataFrame:
        return selectors.rollouts_frame(self.scope, since=self.since, until=self.until)

    @cached_property
    def arrivals(self) -> pd.DataFrame:
        if "rollouts" in self.__dict__ and "arrival_rows" in self.__dict__:  # the report's reads
            return selectors.arrivals_rollouts_add(self.arrival_rows, self.rollouts)
        return selectors.arrivals_frame(self.scope, since=self.since, until=self.until)

    @cached_property
    def arrival_rows(self) -> pd.DataFrame:
        """The arrivals as the full report's figures read them: without what only the items
        list, and without their rollout's columns, which the report, having read the rollouts
        anyway, adds from them (a join in SQL would scan every rollout)."""
        return self._figure_arrivals(estate=True)

    @cached_property
    def headline_arrival_rows(self) -> pd.DataFrame:
        """`arrival_rows` of [since, until) only: what the five figures count (the pages'
        headlines), without the 30 days before that only the full-estate figures read."""
        return self._figure_arrivals(estate=False)

    def _figure_arrivals(self, *, estate: bool) -> pd.DataFrame:
        return selectors.arrivals_frame(
            self.scope,
            since=self.since,
            until=self.until,
            rollout_columns=False,
            described=False,
            estate=estate,
        )

    @cached_property
    def integration_frames(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """The commits and pull requests of the scope's repos that integration frequency
        counts (`selectors.integration_frames`)."""
        return selectors.integration_frames(
            scope_repos(self.scope), since=self.since, until=self.until
        )

    @cached_property
    def first_rollout_at(self) -> datetime | None:
        return selectors.first_rollout_at(self.scope)

    @cached_property
    def failure_links(self) -> pd.DataFrame | None:
        if not self.items:  # only the change failure items list the causes
            return None
        return selectors.failure_links_frame(self.scope, since=self.since, until=self.until)

    @cached_property
    def deployments(self) -> pd.DataFrame:
        return selectors.deployments_frame(self.scope, since=self.since, until=self.until)

    @cached_property
    def deployment_attempt_counts(self) -> tuple[int, int]:
        """The deploy failure rate's two counts, by PostgreSQL (the full report's read: the
        figure, no items)."""
        return selectors.deploy_attempt_counts(self.scope, since=self.since, until=self.until)

    @cached_property
    def incidents(self) -> pd.DataFrame:
        return selectors.incidents_frame(self.scope, since=self.since, until=self.until)

    @cached_property
    def live_deployments(self) -> pd.DataFrame:
        return estate_reads.live_deployments_frame(self.scope, at=self.until)

    @cached_property
    def configured_targets(self) -> pd.DataFrame:
        return estate_reads.configured_targets_frame(self.scope)

    @cached_property
    def automation_runs(self) -> pd.DataFrame:
        return estate_reads.automation_runs_frame(self.scope, until=self.until, since=self.since)

    @cached_property
    def out_of_band_rows(self) -> pd.DataFrame:
        return out_of_band_frame(self.scope, since=self.since, until=self.until)

    @cached_property
    def deploy_pipelines(self) -> pd.DataFrame:
        return estate_reads.deploy_pipelines_frame(self.scope, until=self.until)

    @cached_property
    def environment_settings(self) -> estate_reads.EnvironmentSettings:
        return estate_reads.environment_settings()

    @property
    def stale_after(self) -> dict[str, timedelta]:
        return self.environment_settings.stale_after

    @property
    def idle_after(self) -> dict[str, timedelta]:
        return self.environment_settings.idle_after

    @cached_property
    def stream_reads(self) -> ValueStreamReads:
        return value_stream_reads(self.scope, since=self.since, until=self.until)

    @cached_property
    def stream_frames(self) -> ValueStreamFrames:
        if "stream_reads" not in self.__dict__:  # not the full report: read what it needs
            return value_stream_frames(self.scope, since=self.since, until=self.until)
        # The full report has read the arrivals anyway: each change's first arrival is in them.
        return value_stream_frames(
            self.scope,
            since=self.since,
            until=self.until,
            reads=self.stream_reads,
            arrivals=self.arrivals,
        )

    # Read by the full report, each independent of the others, dealt out in turn to the
    # connections (this thread takes the 1st, 4th, ...): the value stream's reads (the longest
    # chain, four queries one after another: 1.2 to 1.7 s on the bench estate) here with the
    # small ones; the arrivals (0.55 s) with the deployments' counts and the automation runs; the
    # rollouts (0.7 s) with version spread (0.1 s) and the deploy pipelines. The failure links
    # are not read: only the items list them (items=False).
    REPORT_FRAMES = (
        "stream_reads",
        "arrival_rows",
        "rollouts",
        "incidents",
        "deployment_attempt_counts",
        "live_deployments",
        "configured_targets",
        "automation_runs",
        "deploy_pipelines",
        "environment_settings",
        "first_rollout_at",
        "out_of_band_rows",  # a few rows: last, so the shares above stay as measured
    )
    # Figures of the full report that the threads whose reads end first compute (name -> the
    # frames each needs) while the value stream's chain still reads: about 0.5 s of pandas on
    # the bench estate that otherwise waited for every read. Each is a function of those frames.
    REPORT_FIGURES: ClassVar[dict[str, tuple[str, ...]]] = {
        "frequency": ("rollouts", "first_rollout_at"),
        "change_failure": ("rollouts",),
        "recovery": ("rollouts",),
        "rework": ("rollouts",),
        "lead_time": ("rollouts", "arrival_rows"),
        "estate": ("rollouts", "arrival_rows"),
    }

    def prefetch(
        self,
        names: Sequence[str],
        *,
        workers: int = PREFETCH_WORKERS,
        figures: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        """Read independent frames at once: this thread takes every `workers`-th one, and each
        other share runs in a thread on its own connection (closed when its share is done), so
        the database executes one query while Python parses another. Only on PostgreSQL and
        outside a transaction: inside one, other connections could not see its rows
        (`dora.reads.prefetch.prefetch`, which also computes `figures` as their frames come).
        """
        prefetch(self, names, workers=workers, figures=figures)

    # -- figures --------------------------------------------------------------------------

    @cached_property
    def deploy_failure(self) -> DeployFailureRate:
        if "deployment_attempt_counts" in self.__dict__:  # the full report: no items
            return deploy_failure_of(*self.deployment_attempt_counts)
        return deploy_failure_rate(self.deployments, since=self.since, until=self.until)

    @cached_property
    def estate(self) -> EstateLeadTime:
        """The figures; they do not need RolloutTarget (at scale 200,000 rows org-wide)."""
        return full_estate_lead_time(self.arrivals, since=self.since, until=self.until)

    @cached_property
    def estate_with_targets(self) -> EstateLeadTime:
        """The items, with how many targets each change had reached."""
        reached = selectors.reached_frame(self.scope, since=self.since, until=self.until)
        return full_estate_lead_time(
            self.arrivals, since=self.since, until=self.until, reached=reached
        )

    @cached_property
    def spread(self) -> VersionSpread:
        return version_spread(
            self.live_deployments,
            at=self.until,
            configured_targets=self.configured_targets,
            idle_after_by_environment=self.idle_after,
        )

    @cached_property
    def automation(self) -> AutomationLag:
        return automation_lag(
            self.automation_runs,
            now=self.until,
            stale_after_by_environment=self.stale_after,
            pipelines=self.deploy_pipelines,
            idle_after_by_environment=self.idle_after,
        )

    @cached_property
    def out_of_band(self) -> OutOfBandChanges:
        """METRICS §4.5: changes made outside the pipeline, per environment per week."""
        return out_of_band_changes(
            self.out_of_band_rows, since=self.since, until=self.until, tz=self.scope.timezone
        )

    @cached_property
    def evidence(self) -> AutomationEvidence:
        """METRICS §4.3's evidence chart: runs in the window by the gap before them."""
        return automation_evidence(self.automation_runs, since=self.since, until=self.until)

    @cached_property
    def stream(self) -> ValueStream:
        frames = self.stream_frames
        return value_stream(
            frames.changes,
            since=self.since,
            until=self.until,
            preprod=frames.preprod,
            intervals=frames.intervals,
            tz=self.scope.timezone,
        )

    def report(self) -> dict[str, Any]:
        return {
            "definitions_version": DEFINITIONS_VERSION,
            # The path on this server: the API and the command answer the same JSON.
            "definitions_url": DEFINITIONS_URL,
            "window": {"since": iso(self.since), "until": iso(self.until)},
            "benchmark": str(self.benchmark),
            "scope": self.scope.as_dict(),
            "deployment_frequency": self.placed(self.frequency.as_dict(), DEPLOYMENT_FREQUENCY),
            "lead_time": self.placed(self.lead_time.as_dict(), LEAD_TIME),
            "merge_to_production": self.lead_time.merge_to_production.as_dict(),
            "change_failure_rate": self.placed(self.change_failure.as_dict(), CHANGE_FAILURE_RATE),
            "deploy_failure_rate": self.deploy_failure.as_dict(),
            "recovery_time": self.placed(self.recovery.as_dict(), RECOVERY),
            "time_to_restore": self.restore.as_dict(),
            "rework_rate": self.placed(self.rework.as_dict(), REWORK_RATE),
            "lead_time_all_targets": self.estate.as_dict(),
            "rollout_lag": self.estate.rollout_lag.as_dict(),
            "version_spread": self.spread.as_dict(),
            # CONTRACT §4 plus `evidence` (fields may be added): failure rate by preceding gap.
            # `tier`: the tier it covers, "all" unless the scope named one (METRICS §4.3).
            "automation_lag": {
                **self.automation.as_dict(),
                "tier": self.scope.tier if self.scope.tier_named else "all",
                "evidence": self.evidence.as_dict(),
            },
            "value_stream": self.stream.as_dict(),
            # Added (METRICS §4.5): every environment unless the scope named a tier.
            "out_of_band_changes": {
                **self.out_of_band.as_dict(),
                "tier": self.scope.tier if self.scope.tier_named else "all",
            },
            "level": self.overall_level(),
            # Added (METRICS §3.6, 2025): the overall placement as a percentile, its details
            # (industry, groups, overall score), and DORA's two groups of the five figures.
            "percentile": None
            if self.overall_percentile is None
            else round(self.overall_percentile, 1),
            "placement": None if self.placements is None else self.placements.as_dict(),
            "groups": {
                group: [FIGURE_KEYS[m] for m in metrics] for group, metrics in GROUPS.items()
            },
        }


def metrics_report(query: MetricsQuery, *, now: datetime) -> dict[str, Any]:
    """The CONTRACT §4 JSON for a query; `now` decides whether CFR is still provisional."""
    computation = MetricsComputation(query, now=now, items=False)
    if 0 < len(query.scope.services) <= SERIAL_READS_SERVICES:
        for name in MetricsComputation.REPORT_FRAMES:  # the same reads, one after another
            getattr(computation, name)
    else:
        computation.prefetch(
            MetricsComputation.REPORT_FRAMES, figures=MetricsComputation.REPORT_FIGURES
        )
    return computation.report()
