"""What the dashboard pages show: each scope's headline, split by team, service or kind in one pass.

The figures themselves are dora.reads.figures, period comparisons and weekly series
dora.reads.weeks, the pages' other reads dora.reads.page_reads. Built on
`dora.reads.report.MetricsComputation` (its frames are read once per page) and the pure
`dora.metrics` functions: a page reads one scope over one range, then splits the frames by team,
service or ISO week in pandas instead of computing a report per bucket. Views render what these
functions return; nothing here renders HTML.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd

from dora.metrics.levels import (
    DEFAULT_INDUSTRY,
    percentile_shown,
    percentile_text,
)
from dora.reads import charts
from dora.reads.figures import (
    GROUP_LABELS,
    HEADLINE_METRICS,
    Figure,
    failure_figure,
    frequency_figure,
    hours_text,
    lead_time_figure,
    nearest_text,
    placed_figure,
    recovery_figure,
    rework_figure,
)
from dora.reads.report import DoraFigures, MetricsComputation
from dora.reads.selectors import HALF_YEAR
from dora.reads.splits import FIGURE_COLUMNS, RowsSplitter
from dora.window import Window

WEEKS = 12
ORG_TREND_WEEKS = 26


class Headline(DoraFigures):
    """The five DORA figures of one scope and window, and the overall level, each computed on
    first use from the scope's rollouts and arrivals frames (any superset of the window) by the
    report's own definitions (dora.reads.report.DoraFigures): a page and the API agree.

    `incidents` (the scope's, any superset of the window) is needed only for the 2021 and 2022
    levels, whose recovery column is time to restore service.
    """

    def __init__(
        self,
        rollouts: pd.DataFrame,
        arrivals: pd.DataFrame,
        *,
        since: datetime,
        until: datetime,
        now: datetime,
        tz: str,
        benchmark: int,
        first_rollout_at: datetime | None,
        incidents: pd.DataFrame | None = None,
        industry: str = DEFAULT_INDUSTRY,
    ) -> None:
        self.rollouts, self.arrivals, self._incidents = rollouts, arrivals, incidents
        self.since, self.until, self.now, self._tz = since, until, now, tz
        self.benchmark, self.first_rollout_at = benchmark, first_rollout_at
        self.industry = industry

    @property
    def tz(self) -> str:
        return self._tz

    @property
    def incidents(self) -> pd.DataFrame:
        if self._incidents is None:
            raise ValueError("the 2021/2022 levels use time to restore: pass the scope's incidents")
        return self._incidents

    @property
    def figures(self) -> list[Figure]:
        """The five figures; with the 2025 benchmark each badge is its percentile."""
        figures = [
            frequency_figure(self.frequency),
            lead_time_figure(self.lead_time),
            failure_figure(self.change_failure),
            recovery_figure(self.recovery),
            rework_figure(self.rework),
        ]
        placements = self.placements
        if placements is None:
            return figures
        return [
            placed_figure(
                figure, self.percentile(HEADLINE_METRICS[figure.key]), placements.industry.name
            )
            for figure in figures
        ]

    @property
    def level(self) -> str | None:
        """The Quick Check level over the figures that earned a badge (rework has none)."""
        return self.overall_level()

    @property
    def nearest(self) -> dict[str, Any] | None:
        """The overall level's reasons as a page shows them (None for 2025): `nearest_text`."""
        return nearest_text(self.overall_nearest())

    @property
    def placement(self) -> dict[str, Any] | None:
        """The overall 2025 placement as a page shows it (None for a tier year): percentile,
        its sentence, the industry and each group's percentile."""
        placements = self.placements
        if placements is None:
            return None
        overall = placements.overall
        return {
            "percentile": None if overall is None else overall.percentile,
            "shown": None if overall is None else percentile_shown(overall.percentile),
            # Its colour: the band the page's "services per placement" chart uses.
            "band": charts.percentile_band(None if overall is None else overall.percentile),
            "text": "" if overall is None else percentile_text(overall.percentile),
            "score": None if overall is None else overall.score,
            "industry": placements.industry.name,
            "groups": [
                {
                    "name": GROUP_LABELS[group],
                    "percentile": None if placed is None else placed.percentile,
                    "text": "" if placed is None else percentile_text(placed.percentile),
                }
                for group, placed in placements.groups.items()
            ],
        }


def incidents_for_levels(c: MetricsComputation) -> pd.DataFrame | None:
    """The scope's incidents when the benchmark's levels need them (2021/2022: time to restore),
    else None: they are not read for nothing."""
    return c.incidents if c.benchmark <= 2022 else None


@dataclass(frozen=True)
class Parts:
    """One scope's rows of every figure's row-wise pass over one window (`frequency_frame`,
    `lead_time_items`, `change_failure_items`, `recovery_items`, `rework_items` and, for the
    2021/2022 levels, `restore_items` of dora.metrics): what is left to compute its figures is
    counting and percentiles. See `split_headlines`."""

    frequency: pd.DataFrame
    lead_time: pd.DataFrame
    change_failure: pd.DataFrame
    recovery: pd.DataFrame
    unrestored: pd.DataFrame
    rework: pd.DataFrame
    restore: pd.DataFrame | None = None
    still_open: pd.DataFrame | None = None


class SplitHeadline(Headline):
    """A Headline whose figures come from its scope's `Parts` (one pass over many scopes)
    instead of from its own frames: the same numbers, as `split_headlines` tests. Split by
    `split_headlines`, the parts hold only the columns the figures read (`FIGURE_COLUMNS`), and
    so do its figures' items."""

    def __init__(self, parts: Parts, **kwargs: Any) -> None:
        # As its rollouts and arrivals, the rows its frequency and lead time count (no figure
        # reads its frames: the *_rows methods below give its parts).
        super().__init__(parts.frequency, parts.lead_time, **kwargs)
        self.parts = parts

    def frequency_rows(self) -> pd.DataFrame:
        return self.parts.frequency

    def lead_time_rows(self) -> pd.DataFrame:
        return self.parts.lead_time

    def change_failure_rows(self) -> pd.DataFrame:
        return self.parts.change_failure

    def recovery_rows(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        return self.parts.recovery, self.parts.unrestored

    def restore_rows(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        if self.parts.restore is None or self.parts.still_open is None:
            raise ValueError("the 2021/2022 levels use time to restore: pass the incidents")
        return self.parts.restore, self.parts.still_open

    def rework_rows(self) -> pd.DataFrame:
        return self.parts.rework


def team_groups(
    services: Sequence[dict[str, Any]],
    first: dict[str, datetime],
    allowed: Callable[[str], bool] | None = None,
    organisation: str = DEFAULT_INDUSTRY,
) -> tuple[list[tuple[str | None, list[dict[str, Any]]]], dict[str, Any]]:
    """The services (`services_of` rows) by team, teams by name and those without a team last
    (key None), only the teams `allowed` lets through; and the `split_headlines` arguments of
    those groups: groups, tz (the team's, else UTC), first_rollout_at (the earliest first
    production rollout of its services, from `first`) and industry (the team's, else
    `organisation`'s)."""
    teams: dict[str | None, list[dict[str, Any]]] = {}
    for service in services:
        teams.setdefault(service["team__name"], []).append(service)
    ordered = [
        (team, members)
        for team, members in sorted(teams.items(), key=lambda i: (i[0] is None, i[0] or ""))
        if team is None or allowed is None or allowed(team)
    ]
    return ordered, {
        "groups": {s["name"]: team for team, members in ordered for s in members},
        "tz": {t: (m[0]["team__timezone"] or "UTC") if t else "UTC" for t, m in ordered},
        "industry": {
            t: (m[0].get("team__industry") or organisation) if t else organisation
            for t, m in ordered
        },
        "first_rollout_at": {
            t: min((first[s["name"]] for s in m if s["name"] in first), default=None)
            for t, m in ordered
        },
    }


# The kinds of service the pages filter and split by (Service.Kind), in the order shown.
KIND_LABELS = {"app": "Apps", "infra": "Infrastructure"}


def kind_groups(
    services: Sequence[dict[str, Any]],
    first: dict[str, datetime],
    *,
    tz: str,
    organisation: str = DEFAULT_INDUSTRY,
) -> dict[str, Any]:
    """The `split_headlines` arguments that split `services` (`services_of` rows) by kind, app
    then infra (a kind without services has no group): groups, tz (`tz` for both: they are
    pooled like the organisation's figures), first_rollout_at (each kind's earliest first
    production rollout, from `first`) and industry (`organisation`'s)."""
    kinds = [kind for kind in KIND_LABELS if any(s["kind"] == kind for s in services)]
    return {
        # Ordered by kind: split_headlines gives the groups in the order they first appear.
        "groups": {s["name"]: kind for kind in kinds for s in services if s["kind"] == kind},
        "tz": dict.fromkeys(kinds, tz),
        "industry": dict.fromkeys(kinds, organisation),
        "first_rollout_at": {
            kind: min(
                (first[s["name"]] for s in services if s["kind"] == kind and s["name"] in first),
                default=None,
            )
            for kind in kinds
        },
    }


def row_passes(
    rollouts: pd.DataFrame,
    arrivals: pd.DataFrame,
    *,
    since: datetime,
    until: datetime,
    now: datetime,
    benchmark: int,
    incidents: pd.DataFrame | None = None,
    memo: dict[Any, Any] | None = None,
) -> dict[str, pd.DataFrame]:
    """Every figure's row-wise pass over the frames for one window, as `Parts` fields: what
    `split_headlines` splits by group. They depend on the frames and the window only, so a page
    that splits one window several ways (by team, by service, by kind, pooled) passes the same
    `memo` (a dict it keeps for its own frames) and computes them once per window (the
    frequency rows once per end of window, `_frequency_rows`; and, to split them, their rows'
    services are coded once, `_splitters`)."""
    key = ("rows", id(rollouts), id(arrivals), id(incidents), since, until)
    if memo is not None and key in memo:
        return memo[key]
    whole = Headline(
        rollouts,
        arrivals,
        since=since,
        until=until,
        now=now,
        tz="UTC",  # the rows do not depend on it
        benchmark=benchmark,
        first_rollout_at=None,
        incidents=incidents,
    )
    recovered, unrestored = whole.recovery_rows()
    frames = {
        "frequency": _frequency_rows(whole, memo),
        "lead_time": whole.lead_time_rows(),
        "change_failure": whole.change_failure_rows(),
        "recovery": recovered,
        "unrestored": unrestored,
        "rework": whole.rework_rows(),
    }
    if incidents is not None:
        frames["restore"], frames["still_open"] = whole.restore_rows()
    if memo is not None:
        memo[key] = frames
    return frames


def _frequency_rows(whole: Headline, memo: dict[Any, Any] | None) -> pd.DataFrame:
    """`whole`'s frequency rows, shared in `memo` by the windows ending together: they depend on
    a window only through the half year before its end (`DoraFigures.frequency_rows` reads the
    rollouts from min(since, until - HALF_YEAR) to until), so that the overview's window and
    its 26-week trend ending with it pass over them once."""
    lookback = min(whole.since, whole.until - HALF_YEAR)
    key = ("frequency", id(whole.rollouts), lookback, whole.until)
    if memo is not None and key in memo:
        return memo[key]
    rows = whole.frequency_rows()
    if memo is not None:
        memo[key] = rows
    return rows


def _splitters(
    frames: dict[str, pd.DataFrame], memo: dict[Any, Any] | None
) -> dict[str, RowsSplitter]:
    """A `RowsSplitter` of each of one window's `row_passes` frames, kept in `memo` beside them:
    a page splitting the window several ways codes its rows' services once."""
    key = ("splitters", id(frames))  # the frames live as long as the memo
    if memo is not None and key in memo:
        return memo[key]
    splitters = {name: RowsSplitter(frame, FIGURE_COLUMNS[name]) for name, frame in frames.items()}
    if memo is not None:
        memo[key] = splitters
    return splitters


def pooled_headline(
    rollouts: pd.DataFrame,
    arrivals: pd.DataFrame,
    *,
    since: datetime,
    until: datetime,
    now: datetime,
    tz: str,
    benchmark: int,
    first_rollout_at: datetime | None,
    incidents: pd.DataFrame | None = None,
    industry: str = DEFAULT_INDUSTRY,
    memo: dict[Any, Any] | None = None,
) -> Headline:
    """`headline` of every row of the frames, from the window's `row_passes` (shared through
    `memo` with the page's splits of the same window): the same figures."""
    frames = row_passes(
        rollouts,
        arrivals,
        since=since,
        until=until,
        now=now,
        benchmark=benchmark,
        incidents=incidents,
        memo=memo,
    )
    return SplitHeadline(
        Parts(**frames),
        since=since,
        until=until,
        now=now,
        tz=tz,
        benchmark=benchmark,
        first_rollout_at=first_rollout_at,
        industry=industry,
    )


def split_headlines(
    rollouts: pd.DataFrame,
    arrivals: pd.DataFrame,
    *,
    groups: dict[str, Any],
    since: datetime,
    until: datetime,
    now: datetime,
    benchmark: int,
    tz: dict[Any, str],
    first_rollout_at: dict[Any, datetime | None],
    incidents: pd.DataFrame | None = None,
    industry: dict[Any, str] | None = None,
    memo: dict[Any, Any] | None = None,
) -> dict[Any, Headline]:
    """The headline of every group of services (`groups`: service name -> group key) over one
    window, from one row-wise pass per figure over the frames of all of them: each group's
    figures are those of `headline` on its own rows (same numbers), at a few hundred µs of
    counting and percentiles each instead of tens of ms of pandas per figure.

    tz, first_rollout_at and industry (default "all"): per group key. A group without rows
    gets the empty figures. memo: see `row_passes`.
    """
    frames = row_passes(
        rollouts,
        arrivals,
        since=since,
        until=until,
        now=now,
        benchmark=benchmark,
        incidents=incidents,
        memo=memo,
    )
    splitters = _splitters(frames, memo)
    split = {name: splitter.split(groups) for name, splitter in splitters.items()}
    result: dict[Any, Headline] = {}
    for group in dict.fromkeys(groups.values()):
        parts = Parts(**{name: split[name].get(group, splitters[name].empty) for name in splitters})
        result[group] = SplitHeadline(
            parts,
            since=since,
            until=until,
            now=now,
            tz=tz[group],
            benchmark=benchmark,
            first_rollout_at=first_rollout_at.get(group),
            industry=(industry or {}).get(group, DEFAULT_INDUSTRY),
        )
    return result


def zoned_headlines(
    rollouts: pd.DataFrame,
    arrivals: pd.DataFrame,
    *,
    groups: dict[str, Any],
    window: Window,
    tz: dict[Any, str],
    **common: Any,
) -> dict[Any, Headline]:
    """`split_headlines` with every group over the window's days in its own time zone (`tz`,
    per group key): a team's row is its team page's figures. One pass per zone."""
    result: dict[Any, Headline] = {}
    keys = list(dict.fromkeys(groups.values()))
    for zone in dict.fromkeys(tz[key] for key in keys):
        local = window.in_zone(zone)
        members = {name: key for name, key in groups.items() if tz[key] == zone}
        result.update(
            split_headlines(
                rollouts,
                arrivals,
                groups=members,
                since=local.since,
                until=local.until,
                tz=tz,
                **common,
            )
        )
    return {key: result[key] for key in keys}


def headline(
    rollouts: pd.DataFrame,
    arrivals: pd.DataFrame,
    *,
    since: datetime,
    until: datetime,
    now: datetime,
    tz: str,
    benchmark: int,
    first_rollout_at: datetime | None,
    incidents: pd.DataFrame | None = None,
    industry: str = DEFAULT_INDUSTRY,
) -> Headline:
    """The five figures from a scope's rollouts and arrivals frames (any superset of the window);
    the incidents only for the 2021/2022 levels."""
    return Headline(
        rollouts,
        arrivals,
        industry=industry,
        since=since,
        until=until,
        now=now,
        tz=tz,
        benchmark=benchmark,
        first_rollout_at=first_rollout_at,
        incidents=incidents,
    )


def incidents(c: MetricsComputation) -> list[dict[str, Any]]:
    """Production incidents restored in the window or still open, newest first."""
    frame = c.incidents
    if frame.empty:
        return []
    frame = frame.sort_values("opened_at", ascending=False)
    rows = []
    for row in frame.itertuples(index=False):
        start = row.impact_started_at if not pd.isna(row.impact_started_at) else row.opened_at
        end = row.mitigated_at if not pd.isna(row.mitigated_at) else row.resolved_at
        restored = not pd.isna(end)
        rows.append(
            {
                "incident_id": row.incident_id,
                "service": row.service,
                "title": row.title or "",
                "severity": row.severity or "",
                "cause": row.cause or "unknown",
                "opened_at": pd.Timestamp(row.opened_at).to_pydatetime(),
                "restored_at": pd.Timestamp(end).to_pydatetime() if restored else None,
                "restore_text": (
                    hours_text((pd.Timestamp(end) - pd.Timestamp(start)).total_seconds())
                    if restored
                    else "open"
                ),
            }
        )
    return rows


# ---------------------------------------------------------------------------------------------
# Definitions in words (the explain page)
# ---------------------------------------------------------------------------------------------

DEFINITIONS = {
    "deployment_frequency": (
        "Production rollouts of kind change or config, placed by when they first went live "
        "on any target. A version rolled out to many targets counts once; redeploys and "
        "rollbacks are listed but not counted. The level uses the median number of deploy days "
        "per ISO week and needs 8 weeks of production history."
    ),
    "lead_time": (
        "For each change (a merged pull request, or a commit pushed straight to the branch) "
        "that first reached production in the window: production arrival minus its start, "
        "the first commit authored. Changes shipped by a service's first rollout are "
        "unattributed (counted, not timed); durations of zero or less are invalid. The median "
        "is the headline; a level needs 10 changes."
    ),
    "merge_to_production": (
        "For each change that reached production in the window: production arrival minus merge."
    ),
    "change_failure_rate": (
        "Failed production rollouts of kind change or config, over all of them, placed by when "
        "they went live. A rollout failed when an incident names it, a rollback replaced it, or "
        "a revert or hotfix followed within 72 h (confirmed), or an unlinked incident on the "
        "service opened within 24 h after it (inferred). Each rollout counts once. A level "
        "needs 20 rollouts."
    ),
    "deploy_failure_rate": (
        "Target deployments that failed and never went live, over all deployment attempts."
    ),
    "recovery_time": (
        "For each failed production rollout restored in the window: restored minus first live, "
        "where restored is the first of the linked incident's mitigation, the remediating "
        "rollout (rollback or hotfix) going live, or the incident's resolution. Failures not "
        "yet restored are listed with their age, never dropped. A level needs 5 restored "
        "failures."
    ),
    "time_to_restore": (
        "For each production incident (external ones too): impact start (or opened) to "
        "mitigated (or resolved), placed by that end time. The pre-2023 DORA definition."
    ),
    "rework_rate": (
        "The share of production rollouts (change, config and rollback) that were unplanned "
        "remediation: rollbacks, rollouts carrying a change labelled hotfix or incident, and "
        "rollouts that remediate an incident. No level table exists; DORA's industry reference "
        "is about 22%."
    ),
    "lead_time_all_targets": (
        "For each change: from its start until every active production target runs a version "
        "containing it. Changes not yet everywhere are listed as incomplete with their age."
    ),
    "rollout_lag": (
        "For each change: from the first production target running it to the last active one."
    ),
    "version_spread": (
        "At the end of the window, per service and environment: how many distinct versions run "
        "across its active targets."
    ),
    "automation_lag": (
        "Per automation instance (a service's deploy pipeline or an infrastructure stack in an "
        "environment, per target): time since its last successful run that was not a plan (for "
        "a deploy pipeline, its last successful deployment). Every environment unless a tier is "
        "chosen. Stale beyond the environment's stale_after."
    ),
    "out_of_band_changes": (
        "Each change an audit trail recorded that the pipeline did not make (a console edit, a "
        "CLI call): when, where, what and who. Every environment unless a tier is chosen; a "
        "change still open drifts the instances it touched until the next successful apply or "
        "deployment there."
    ),
    "value_stream": (
        "Per change, the time spent in each stage: coding, pickup, review, build, each "
        "pre-production environment, approval, production and the rollout to every target. "
        "Process time is machine or business-hours work inside a stage; the rest is waiting."
    ),
}
