"""The metrics report (CONTRACT §4) and the items behind each figure, from selectors + metrics.

Shared by `manage.py metrics` and `GET /api/v1/metrics[/<name>/items]`: parameters are parsed
here too, so the command and the API accept and reject the same inputs with the same messages.
"""

from __future__ import annotations

import contextvars
import math
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import cached_property
from typing import Any

import pandas as pd
from django.db import connections

from dora import benchmarks
from dora.db_router import read_alias
from dora.failure_words import failure_reasons
from dora.metrics import DEFINITIONS_URL, DEFINITIONS_VERSION
from dora.metrics.estate import (
    AutomationEvidence,
    AutomationLag,
    EstateLeadTime,
    VersionSpread,
    automation_evidence,
    automation_lag,
    full_estate_lead_time,
    version_spread,
)
from dora.metrics.failure import (
    ChangeFailureRate,
    DeployFailureRate,
    change_failure_items,
    change_failure_of,
    deploy_failure_rate,
)
from dora.metrics.frames import iso
from dora.metrics.frequency import Frequency, frequency_frame, frequency_of
from dora.metrics.lead_time import LeadTime, lead_time_items, lead_time_of
from dora.metrics.levels import (
    BENCHMARK_YEARS,
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
    percentile_text,
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
from dora.reads import selectors
from dora.reads.scope import Scope, ScopeError, scope_repos, scope_resolve, scope_zone
from dora.reads.value_stream import (
    ValueStreamFrames,
    ValueStreamReads,
    value_stream_frames,
    value_stream_reads,
)
from dora.units import duration_human, plural
from dora.window import WindowError, window_parse

# The API's and the command's window when none is named: CONTRACT §3 says "the 12 weeks before
# now"; under the window rule that is the last 12 complete ISO weeks in the scope's time zone.
API_DEFAULT_RANGE = "12w"

DEFAULT_WINDOW = timedelta(weeks=12)
# The `kind=` values a request may name: all (no filter, as when it is left out), or the kind of
# service, app or infra (an IaC stack; its versioned applies are its rollouts).
KINDS = ("all", "app", "infra")
# The moments a window may name: pandas' timestamps end in April 2262 (nanoseconds in 64 bits),
# and nothing this service measures predates 1970 (the epoch its reads count from).
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2262, 1, 1, tzinfo=UTC)
# The figures a 2025 report places (METRICS §3.6).
PLACED_FIGURES = tuple(FIGURE_KEYS.values())
RANGE_TEXT = f"{EARLIEST:%Y-%m-%d} to {LATEST:%Y-%m-%d} (UTC)"
# Connections reading a full report's frames at once (this one and two more).
PREFETCH_WORKERS = 3


class ParameterError(ValueError):
    """A request parameter a user can fix; `parameter` names it."""

    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(message)
        self.parameter = parameter


@dataclass(frozen=True)
class MetricsQuery:
    """A parsed metrics request: scope, window [since, until), benchmark year and the industry
    the 2025 benchmark places the figures against."""

    scope: Scope
    since: datetime
    until: datetime
    benchmark: int = field(default_factory=benchmarks.default_benchmark)  # at construction
    industry: str = DEFAULT_INDUSTRY


def moment_parse(value: str, parameter: str) -> datetime:
    """An ISO date (00:00 UTC) or an ISO timestamp with a zone, as aware UTC, between EARLIEST
    and LATEST."""
    text = value.strip()
    outside = ParameterError(
        parameter, f"{parameter} {value!r} is outside the supported range, {RANGE_TEXT}"
    )
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            moment = datetime(day.year, day.month, day.day, tzinfo=UTC)
        else:
            moment = datetime.fromisoformat(text)
    except ValueError:
        raise ParameterError(
            parameter,
            f"{parameter} {value!r} is not an ISO date or timestamp, "
            "e.g. 2026-03-05 or 2026-03-05T10:00:00Z",
        )
    if moment.tzinfo is None:
        raise ParameterError(
            parameter, f"{parameter} {value!r} has no time zone; add Z or an offset like +01:00"
        )
    try:
        moment = moment.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00+01:00 and 9999-12-31T23:00-02:00 are not in UTC's
        raise outside
    if not EARLIEST <= moment <= LATEST:
        raise outside
    return moment


def metrics_query_parse(
    *,
    now: datetime,
    services: Sequence[str] = (),
    team: str | None = None,
    since: str | None = None,
    until: str | None = None,
    benchmark: str | int | None = None,
    kind: str | None = None,
    tier: str | None = None,
    target: str | None = None,
    industry: str | None = None,
    range: str | None = None,  # noqa: A002 - the query parameter's name
    end: str | None = None,
    start: str | None = None,
    rule_window: bool = True,
) -> MetricsQuery:
    """Check and resolve request parameters; ParameterError names the first bad one.

    Window: `since`/`until` when either is given (`since` defaults to the 12 weeks before
    `until`, `until` to `now`: CONTRACT §3); else the dashboards' rule (dora.window): `range`,
    `end`, `start` in the scope's time zone (`scope.scope_zone`), by default the last 12
    complete ISO weeks (API_DEFAULT_RANGE: CONTRACT §3's "12 weeks before now", as whole weeks;
    the pages default to 4). rule_window=False for a page that resolves its own window (the rule's,
    from its own query string) after the scope: the 12 weeks before `now` stand in.
    Services may be repeated or comma-separated. Default benchmark: 2025 when DORA's published
    Quick Check file is found, else 2024 (`benchmarks.default_benchmark`); 2025 without the file is
    a ParameterError saying where to put it. Default industry: the scope's (its team's, else the
    organisation's, else "all": `scope.scope_resolve`).
    """
    names = [name.strip() for item in services for name in str(item).split(",") if name.strip()]
    explicit = bool(since or until)
    if explicit and (range or end or start):
        raise ParameterError(
            "range", "name the window either by since/until or by range/end/start, not both"
        )
    window_end = moment_parse(until, "until") if until else now
    window_start = moment_parse(since, "since") if since else window_end - DEFAULT_WINDOW
    if not window_start < window_end:
        raise ParameterError(
            "since", f"since ({iso(window_start)}) must be before until ({iso(window_end)})"
        )
    year = benchmarks.default_benchmark()
    if benchmark not in (None, ""):
        try:
            year = int(benchmark)
        except (TypeError, ValueError):
            year = -1
        if year not in BENCHMARK_YEARS:
            raise ParameterError(
                "benchmark",
                f"benchmark {benchmark!r} must be one of {', '.join(map(str, BENCHMARK_YEARS))}",
            )
    try:
        benchmarks.benchmark_check(year)
    except benchmarks.BenchmarkUnavailable as exc:
        raise ParameterError("benchmark", str(exc))
    known = benchmarks.industry_keys()
    if industry not in (None, "") and not known:
        raise ParameterError("industry", f"industry {industry!r}: {benchmarks.missing_text()}")
    if industry not in (None, "") and industry not in known:
        raise ParameterError("industry", f"industry {industry!r} must be one of {', '.join(known)}")
    kind = (kind or "").strip() or None
    if kind is not None and kind not in KINDS:
        raise ParameterError("kind", f"kind {kind!r} must be one of {', '.join(KINDS)}")
    try:
        scope = scope_resolve(
            services=names,
            team=team or None,
            kind=None if kind == "all" else kind,
            tier=tier or None,
            target=target or None,
        )
    except ScopeError as exc:
        raise ParameterError(exc.parameter, str(exc))
    if not explicit and rule_window:
        try:
            window = window_parse(
                now=now,
                tz=scope_zone(scope),
                range=range,
                end=end,
                start=start,
                default_range=API_DEFAULT_RANGE,
            )
        except WindowError as exc:
            raise ParameterError(exc.parameter, str(exc))
        window_start, window_end = window.since, window.until
    return MetricsQuery(
        scope=scope,
        since=window_start,
        until=window_end,
        benchmark=year,
        industry=industry or scope.industry,
    )


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

    def __init__(self, query: MetricsQuery, *, now: datetime) -> None:
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
        return selectors.arrivals_frame(
            self.scope,
            since=self.since,
            until=self.until,
            rollout_columns=False,
            described=False,
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
    def failure_links(self) -> pd.DataFrame:
        return selectors.failure_links_frame(self.scope, since=self.since, until=self.until)

    @cached_property
    def deployments(self) -> pd.DataFrame:
        if "deployment_attempts" in self.__dict__:  # the full report: the figure, no items
            return self.deployment_attempts
        return selectors.deployments_frame(self.scope, since=self.since, until=self.until)

    @cached_property
    def deployment_attempts(self) -> pd.DataFrame:
        """The deployments with only the deploy failure rate's columns (the report's read)."""
        return selectors.deployments_frame(
            self.scope, since=self.since, until=self.until, described=False
        )

    @cached_property
    def incidents(self) -> pd.DataFrame:
        return selectors.incidents_frame(self.scope, since=self.since, until=self.until)

    @cached_property
    def live_deployments(self) -> pd.DataFrame:
        return selectors.live_deployments_frame(self.scope, at=self.until)

    @cached_property
    def configured_targets(self) -> pd.DataFrame:
        return selectors.configured_targets_frame(self.scope)

    @cached_property
    def automation_runs(self) -> pd.DataFrame:
        return selectors.automation_runs_frame(self.scope, until=self.until, since=self.since)

    @cached_property
    def out_of_band_rows(self) -> pd.DataFrame:
        return out_of_band_frame(self.scope, since=self.since, until=self.until)

    @cached_property
    def deploy_pipelines(self) -> pd.DataFrame:
        return selectors.deploy_pipelines_frame(self.scope, until=self.until)

    @cached_property
    def environment_settings(self) -> selectors.EnvironmentSettings:
        return selectors.environment_settings()

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
    # chain, four queries one after another) here with the small ones; the arrivals with the
    # deployments; the rollouts with version spread and automation runs. About 3 to 4 s each
    # on the bench estate, where dealing them by size alone left this thread 2 s behind.
    REPORT_FRAMES = (
        "stream_reads",
        "arrival_rows",
        "rollouts",
        "incidents",
        "deployment_attempts",
        "live_deployments",
        "configured_targets",
        "failure_links",
        "automation_runs",
        "deploy_pipelines",
        "environment_settings",
        "first_rollout_at",
        "out_of_band_rows",  # a few rows: last, so the shares above stay as measured
    )

    def prefetch(self, names: Sequence[str], *, workers: int = PREFETCH_WORKERS) -> None:
        """Read independent frames at once: this thread takes every `workers`-th one, and each
        other share runs in a thread on its own connection (closed when its share is done), so
        the database executes one query while Python parses another. Only on PostgreSQL and
        outside a transaction: inside one, other connections could not see its rows."""
        reads = connections[read_alias()]  # the replica inside its read scope (dora.db_router)
        if workers < 2 or reads.vendor != "postgresql" or reads.in_atomic_block:
            return
        todo = [name for name in names if name not in self.__dict__]
        shares = [todo[i::workers] for i in range(workers)]
        results: dict[str, Any] = {}
        errors: list[BaseException] = []

        def read(share: list[str], *, own_connection: bool) -> None:
            try:
                for name in share:
                    results[name] = getattr(MetricsComputation, name).func(self)
            except BaseException as exc:  # noqa: BLE001 - raised again in the calling thread
                errors.append(exc)
            finally:
                if own_connection:
                    connections.close_all()  # this thread's connections only

        # Each thread in a copy of this one's context: its reads go where this thread's go.
        threads = [
            threading.Thread(
                target=contextvars.copy_context().run,
                args=(read, share),
                kwargs={"own_connection": True},
                daemon=True,
            )
            for share in shares[1:]
            if share
        ]
        for thread in threads:
            thread.start()
        read(shares[0], own_connection=False)
        for thread in threads:
            thread.join()
        if errors:
            raise errors[0]
        self.__dict__.update(results)

    # -- figures --------------------------------------------------------------------------

    @cached_property
    def deploy_failure(self) -> DeployFailureRate:
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
    computation = MetricsComputation(query, now=now)
    computation.prefetch(MetricsComputation.REPORT_FRAMES)
    return computation.report()


# ---------------------------------------------------------------------------------------------
# Items behind each figure
# ---------------------------------------------------------------------------------------------


def _change_label(frame: pd.DataFrame) -> pd.Series:
    """`repo#number` for a PR, the sha for a direct push."""
    if frame.empty:
        return pd.Series([], dtype=object)
    labels = frame["repo"].astype(str) + "#" + frame["number"].astype("Int64").astype(str)
    return labels.where(frame["change_id"].notna(), frame["commit_sha"])


def _with_change(items: pd.DataFrame, arrivals: pd.DataFrame) -> pd.DataFrame:
    """Items keyed by (service, rollout_id, change_id, commit_sha) with repo, number, title."""
    keys = ["service", "rollout_id", "change_id", "commit_sha"]
    extra = ["repo", "number", "title", "environment", "version", "sha"]
    desc = arrivals[keys + extra].drop_duplicates(keys)
    merged = items.drop(columns=[c for c in extra if c in items.columns]).merge(
        desc, on=keys, how="left"
    )
    merged["change"] = _change_label(merged)
    return merged


def _lead_time_items(c: MetricsComputation) -> pd.DataFrame:
    items = _with_change(c.lead_time.items, c.arrivals)
    return items.rename(columns={"arrived_at": "arrival"})


def _failure_items(c: MetricsComputation) -> pd.DataFrame:
    items = c.change_failure.items
    links = selectors.failure_links_frame(c.scope, since=c.since, until=c.until)
    if len(links):
        live_at = dict(zip(items["rollout_id"].astype(int), items["first_live_at"], strict=True))
        why = failure_reasons(links, live_at)
        items = items.assign(why=items["rollout_id"].astype(int).map(why))
    return items


def _recovery_items(c: MetricsComputation) -> pd.DataFrame:
    restored = c.recovery.items.assign(restored=True)
    unrestored = c.recovery.unrestored_items.assign(restored=False)
    return pd.concat([f for f in (restored, unrestored) if len(f)] or [restored])


def _estate_items(c: MetricsComputation) -> pd.DataFrame:
    items = c.estate_with_targets.items
    return _with_change(items, c.arrivals).rename(columns={"arrived_at": "arrival"})


def _value_stream_items(c: MetricsComputation) -> pd.DataFrame:
    items = c.stream.items
    return items[items["in_window"]] if len(items) else items


ROLLOUT_ITEM = ["rollout_id", "service", "environment", "kind", "version", "sha", "first_live_at"]
CHANGE_ITEM = ["change", "change_id", "commit_sha", "title", "service", "rollout_id"]

# name -> (the items frame, the columns listed): every figure of CONTRACT §4.
ITEMS: dict[str, tuple[Callable[[MetricsComputation], pd.DataFrame], list[str]]] = {
    "deployment_frequency": (
        lambda c: c.frequency.items.merge(
            c.rollouts[["rollout_id", "version", "sha"]], on="rollout_id", how="left"
        ),
        [*ROLLOUT_ITEM, "counted", "gap_seconds"],
    ),
    "lead_time": (
        _lead_time_items,
        [
            *CHANGE_ITEM,
            "start",
            "merged_at",
            "arrival",
            "lead_time_seconds",
            "invalid",
            "unattributed",
        ],
    ),  # fmt: skip
    "merge_to_production": (
        _lead_time_items,
        [*CHANGE_ITEM, "merged_at", "arrival", "merge_to_production_seconds", "unattributed"],
    ),
    "change_failure_rate": (
        _failure_items,
        [*ROLLOUT_ITEM, "failed", "confirmed", "inferred", "causes", "why"],
    ),
    "deploy_failure_rate": (
        lambda c: c.deploy_failure.items,
        [
            "deployment_id",
            "service",
            "environment",
            "target",
            "version",
            "sha",
            "status",
            "finished_at",
            "failed",
        ],
    ),  # fmt: skip
    "recovery_time": (
        _recovery_items,
        [
            *ROLLOUT_ITEM,
            "failure",
            "restored",
            "restored_at",
            "recovery_seconds",
            "age_seconds",
            "invalid",
        ],
    ),  # fmt: skip
    "time_to_restore": (
        lambda c: c.restore.items,
        [
            "incident_id",
            "service",
            "environment",
            "title",
            "severity",
            "cause",
            "impact_start",
            "restored_at",
            "restore_seconds",
            "invalid",
        ],
    ),  # fmt: skip
    "rework_rate": (
        lambda c: c.rework.items,
        [*ROLLOUT_ITEM, "remediation", "rework"],
    ),
    "lead_time_all_targets": (
        _estate_items,
        [
            *CHANGE_ITEM,
            "start",
            "arrival",
            "estate_reached_at",
            "complete",
            "lead_time_all_targets_seconds",
            "age_seconds",
            "targets_reached",
        ],
    ),  # fmt: skip
    "rollout_lag": (
        _estate_items,
        [
            *CHANGE_ITEM,
            "arrival",
            "estate_reached_at",
            "complete",
            "rollout_lag_seconds",
            "targets_reached",
        ],
    ),  # fmt: skip
    "version_spread": (
        lambda c: c.spread.items,
        ["service", "environment", "target", "version", "finished_at", "released_at"],
    ),
    "automation_lag": (
        lambda c: c.automation.instances,
        [
            "service",
            "environment",
            "target",
            "last_success_at",
            "lag_seconds",
            "stale",
            "manual",
            "last_action",
        ],
    ),  # fmt: skip
    # Added (METRICS §4.5): each change made outside the pipeline in the window.
    "out_of_band_changes": (
        lambda c: c.out_of_band.items,
        ["changed_at", "service", "environment", "target", "what", "actor", "source"],
    ),
    "value_stream": (
        _value_stream_items,
        [
            "change_id",
            "stage",
            "kind",
            "stage_start",
            "stage_end",
            "elapsed_seconds",
            "process_seconds",
            "wait_seconds",
            "anomaly",
        ],
    ),  # fmt: skip
}
METRIC_NAMES = tuple(ITEMS)


def _plain(value: Any) -> Any:
    """A JSON-ready value: ISO timestamps, None for missing, Python numbers."""
    if value is None:
        return None
    if isinstance(value, datetime | pd.Timestamp):
        return iso(value)
    if isinstance(value, float | int) and not isinstance(value, bool):
        if isinstance(value, float) and math.isnan(value):
            return None
    elif pd.api.types.is_scalar(value) and pd.isna(value):
        return None
    if hasattr(value, "item"):  # numpy scalars
        return _plain(value.item())
    return value


def frame_records(frame: pd.DataFrame, columns: Sequence[str]) -> list[dict[str, Any]]:
    """Rows of `frame` as plain dicts with `columns` (absent columns are None)."""
    table = frame.reindex(columns=list(columns))
    integral = {c for c in columns if c.endswith("_id") or c in ("number", "targets_reached")}
    rows = []
    for values in table.itertuples(index=False, name=None):
        row = {}
        for name, value in zip(columns, values, strict=True):
            plain = _plain(value)
            if name in integral and isinstance(plain, float):
                plain = int(plain)
            row[name] = plain
        rows.append(row)
    return rows


def metric_items(name: str, query: MetricsQuery, *, now: datetime) -> list[dict[str, Any]]:
    """The items behind one figure of the report; KeyError for an unknown name."""
    build, columns = ITEMS[name]
    return frame_records(build(MetricsComputation(query, now=now)), columns)


# ---------------------------------------------------------------------------------------------
# Table and CSV rows
# ---------------------------------------------------------------------------------------------


def duration_text(seconds: float | None) -> str:
    """Seconds for people (dora.units.duration_human): "40 min", "47 h", "2.0 days"; "-" for
    none, as the terminal table writes every missing value."""
    return "-" if seconds is None else duration_human(seconds)


def _percent(rate: float | None) -> str:
    return "-" if rate is None else f"{rate * 100:.1f}%"


def summary_rows(report: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per figure: figure, value (raw number), value_text, n, level and percentile (the
    2025 placement, 0..100; None for a tier year, below the badge minimum and for figures DORA
    does not place). The overall rows: `level` (tier years) and `percentile` (2025)."""
    rows: list[dict[str, Any]] = []

    def add(figure: str, value: Any, text: str, n: Any, level: Any = None) -> None:
        percentile = report[figure].get("percentile") if figure in PLACED_FIGURES else None
        rows.append(
            {
                "figure": figure,
                "value": value,
                "value_text": text,
                "n": n,
                "level": level,
                "percentile": percentile,
            }
        )

    freq = report["deployment_frequency"]
    add(
        "deployment_frequency",
        freq["per_week"],
        f"{freq['per_week']:.2f}/week",
        freq["rollouts"],
        freq["level"],
    )
    for key in ("lead_time", "merge_to_production", "recovery_time", "time_to_restore"):
        fig = report[key]
        add(key, fig["p50_seconds"], duration_text(fig["p50_seconds"]), fig["n"], fig["level"])
    cfr = report["change_failure_rate"]
    add("change_failure_rate", cfr["rate"], _percent(cfr["rate"]), cfr["rollouts"], cfr["level"])
    dfr = report["deploy_failure_rate"]
    add("deploy_failure_rate", dfr["rate"], _percent(dfr["rate"]), dfr["attempts"])
    rework = report["rework_rate"]
    add("rework_rate", rework["rate"], _percent(rework["rate"]), rework["rollouts"])
    for key in ("lead_time_all_targets", "rollout_lag"):
        fig = report[key]
        add(key, fig["p50_seconds"], duration_text(fig["p50_seconds"]), fig["n"])
    spread = report["version_spread"]
    most = max((row["versions"] for row in spread), default=None)
    add(
        "version_spread",
        most,
        "-" if most is None else f"max {plural(most, 'version')}",
        len(spread),
    )
    lag = report["automation_lag"]
    add(
        "automation_lag",
        lag["p50_seconds"],
        duration_text(lag["p50_seconds"]),
        len(lag["instances"]),
    )
    flow = report["value_stream"]["flow_efficiency"]
    changes = max((s["n"] for s in report["value_stream"]["stages"]), default=0)
    add("value_stream", flow, _percent(flow), changes)
    if "out_of_band_changes" in report:  # added: a report built before it has none
        changes = report["out_of_band_changes"]["count"]
        add("out_of_band_changes", changes, plural(changes, "change"), changes)
    add("level", report["level"], report["level"] or "-", None, report["level"])
    overall = report.get("percentile")
    rows.append(
        {
            "figure": "percentile",
            "value": overall,
            "value_text": "-" if overall is None else percentile_text(overall),
            "n": None,
            "level": None,
            "percentile": overall,
        }
    )
    return rows
