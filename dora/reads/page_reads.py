"""What the dashboard pages read beside the report's frames: recent rollouts, failures,
services, deploy days and per-service and per-target tables.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pandas as pd
from django.db.models import Q

from dora.failure_words import failure_reasons
from dora.metrics.integration import Integration, integration_frequency
from dora.models import Deployment, Service, Tier
from dora.reads import selectors
from dora.reads.dashboards import Headline, incidents_for_levels, split_headlines
from dora.reads.figures import hours_text
from dora.reads.report import MetricsComputation
from dora.reads.scope import Scope

RECENT_ROLLOUTS = 15
# A rollout not yet on every active target whose newest deployment is older than this has
# stopped: it reads "partial", not "rolling out" (rollout_status).
ROLLOUT_SETTLED = timedelta(hours=24)
CHANGES_PER_ROLLOUT = 6


# ---------------------------------------------------------------------------------------------
# Reads the pages need beside the report's frames
# ---------------------------------------------------------------------------------------------


def first_rollouts_by_service(scope: Scope) -> dict[str, datetime]:
    """Each service's first rollout in the scope's tier (the frequency badge), on any target;
    an index probe per service and environment (selectors.first_rollouts)."""
    return selectors.first_rollouts(scope, reached_target=False)


def _services_q(scope: Scope, prefix: str = "service__") -> Q:
    q = Q()
    if scope.services:
        q &= Q(**{f"{prefix}name__in": scope.services})
    if scope.team:
        q &= Q(**{f"{prefix}team__name": scope.team})
    if scope.kind:
        q &= Q(**{f"{prefix}kind": scope.kind})
    return q


def services_of(scope: Scope) -> list[dict[str, Any]]:
    """The scope's services with their team, kind and repos, by name; one query."""
    return list(
        Service.objects.filter(_services_q(scope, prefix=""))
        .values("name", "kind", "repos", "team__name", "team__timezone", "team__industry")
        .order_by("name")
    )


def integration(c: MetricsComputation, tz: str) -> Integration:
    """Integration frequency of the computation's scope and window (its repos' commits and
    pull requests, read with its other frames when prefetched)."""
    commits, changes = c.integration_frames
    return integration_frequency(commits, changes, since=c.since, until=c.until, tz=tz)


def rollout_status(
    *,
    kind: str,
    failure: str,
    completed: bool,
    last_live_at: datetime | None,
    targets_live: int,
    targets_active: int,
    at: datetime,
) -> tuple[str, str]:
    """(state, words) of a rollout as seen at `at`: failed, complete, rolling out or partial.

    - failed: "failed (confirmed)" / "failed (inferred)", whatever else holds;
    - on every active target (derivation stamped completed_at): "complete", a rollback
      "rolled back";
    - short of that, with its newest deployment within ROLLOUT_SETTLED before `at`: "rolling
      out (2 of 3 targets)", a rollback "rolling back (...)";
    - short of that and quiet for longer (or with no deployment time): it stopped where it is,
      "partial (2 of 3 targets)", a rollback "rolled back, partial (...)".
    """
    if failure:
        return "failed", f"failed ({failure})"
    rollback = kind == "rollback"
    if completed:
        return "complete", "rolled back" if rollback else "complete"
    reach = f" ({targets_live} of {targets_active} targets)" if targets_active else ""
    moving = last_live_at is not None and at - last_live_at <= ROLLOUT_SETTLED
    if moving:
        return "rolling", ("rolling back" if rollback else "rolling out") + reach
    return "partial", ("rolled back, partial" if rollback else "partial") + reach


def recent_rollouts(c: MetricsComputation, limit: int = RECENT_ROLLOUTS) -> list[dict[str, Any]]:
    """The newest production rollouts of the window with their change sets (from arrivals)."""
    rollouts = c.rollouts
    if rollouts.empty:
        return []
    live = pd.to_datetime(rollouts["first_live_at"], utc=True)
    window = rollouts[(live >= c.since) & (live < c.until)]
    newest = window.sort_values("first_live_at", ascending=False).head(limit)
    arrivals = c.arrivals
    changes_by_rollout: dict[int, list[dict[str, Any]]] = {}
    if len(arrivals):
        mine = arrivals[arrivals["rollout_id"].isin(newest["rollout_id"])]
        for row in mine.sort_values("start").itertuples(index=False):
            label = (
                f"{row.repo}#{int(row.number)}"
                if not pd.isna(row.change_id)
                else str(row.commit_sha)[:10]
            )
            title = "" if pd.isna(row.title) else str(row.title)
            changes_by_rollout.setdefault(int(row.rollout_id), []).append(
                {"label": label, "title": title}
            )
    result = []
    at = min(c.until, c.now)
    for row in newest.itertuples(index=False):
        changes = changes_by_rollout.get(int(row.rollout_id), [])
        last_live = None if pd.isna(row.last_live_at) else pd.Timestamp(row.last_live_at)
        state, state_text = rollout_status(
            kind=str(row.kind),
            failure=row.failure or "",
            completed=not pd.isna(row.completed_at),
            last_live_at=None if last_live is None else last_live.to_pydatetime(),
            targets_live=int(row.targets_live or 0),
            targets_active=int(row.targets_active or 0),
            at=at,
        )
        result.append(
            {
                "rollout_id": int(row.rollout_id),
                "service": row.service,
                "environment": row.environment,
                "version": row.version or str(row.sha)[:10],
                "kind": row.kind,
                "first_live_at": pd.Timestamp(row.first_live_at).to_pydatetime(),
                "completed": not pd.isna(row.completed_at),
                "status": state,
                "status_text": state_text,
                "failure": row.failure or "",
                "unattributed": bool(row.unattributed),
                "changes": changes[:CHANGES_PER_ROLLOUT],
                "more_changes": max(0, len(changes) - CHANGES_PER_ROLLOUT),
                "change_count": len(changes),
            }
        )
    return result


def failures(c: MetricsComputation) -> list[dict[str, Any]]:
    """Failed production rollouts of the window, why, and when (if) service was restored."""
    items = c.change_failure.items
    if items.empty:
        return []
    failed = items[items["failed"]].sort_values("first_live_at", ascending=False)
    links = c.failure_links
    live_at = dict(zip(failed["rollout_id"].astype(int), failed["first_live_at"], strict=True))
    why = failure_reasons(links, live_at) if len(links) else {}
    rows = []
    for row in failed.itertuples(index=False):
        live = pd.Timestamp(row.first_live_at)
        restored = None if pd.isna(row.restored_at) else pd.Timestamp(row.restored_at)
        rows.append(
            {
                "rollout_id": int(row.rollout_id),
                "service": row.service,
                "version": row.version or str(row.sha)[:10],
                "first_live_at": live.to_pydatetime(),
                "status": "confirmed" if row.confirmed else "inferred",
                "why": why.get(int(row.rollout_id), row.causes or ""),
                "restored_at": restored.to_pydatetime() if restored is not None else None,
                "recovery_text": (
                    hours_text((restored - live).total_seconds())
                    if restored is not None
                    else "not restored"
                ),
            }
        )
    return rows


def deploy_days(result: Headline, tz: str) -> pd.DataFrame:
    """Counted production rollouts per local day (the calendar heatmap)."""
    items = result.frequency.items
    if items.empty:
        return pd.DataFrame({"day": [], "rollouts": []})
    counted = items[items["counted"]]
    days = counted["first_live_at"].dt.tz_convert(tz).dt.tz_localize(None).dt.normalize()
    counts = days.value_counts().sort_index()
    return pd.DataFrame({"day": counts.index, "rollouts": counts.to_numpy()})


def service_breakdown(
    c: MetricsComputation, result_args: dict[str, Any], first: dict[str, datetime]
) -> list[dict[str, Any]]:
    """Per service of the scope with rows: its headline over the same window, from the same
    frames (one pass, `split_headlines`)."""
    rollouts, arrivals = c.rollouts, c.arrivals
    names = sorted(set(rollouts["service"]) | set(arrivals["service"]))
    args = {
        **result_args,
        "tz": dict.fromkeys(names, result_args["tz"]),
        "industry": dict.fromkeys(names, c.industry),
    }
    split = split_headlines(
        rollouts,
        arrivals,
        groups={name: name for name in names},
        first_rollout_at=first,
        incidents=incidents_for_levels(c),
        **args,
    )
    return [
        {
            "name": name,
            "figures": result.figures,
            "level": result.level,
            "nearest": result.nearest,
            "placement": result.placement,
        }
        for name, result in split.items()
    ]


def table_rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """A frame's rows for a template: missing values (NaN, NaT) as None, which the template
    filters show as missing (`default`, `date`), where NaT would fail `date` outright."""
    return frame.astype(object).where(frame.notna(), None).to_dict("records")


def deployments_by_target(service: str, *, since: datetime, until: datetime) -> pd.DataFrame:
    """Per environment and target of one service: deployments in the window, successes,
    failures, the newest version and when (NaN and NaT where no deployment to a target
    succeeded); one query, bounded by the window."""
    frame = pd.DataFrame.from_records(
        list(
            Deployment.objects.filter(
                service__name=service, finished_at__gte=since, finished_at__lt=until
            )
            .values_list(
                "environment__name",
                "environment__order",
                "environment__tier",
                "target__name",
                "status",
                "version",
                "sha",
                "finished_at",
            )
            .order_by()
        ),
        columns=["environment", "order", "tier", "target", "status", "version", "sha", "at"],
    )
    columns = [
        "environment",
        "tier",
        "order",
        "target",
        "deployments",
        "failures",
        "latest_version",
        "latest_at",
    ]
    if frame.empty:
        return pd.DataFrame(columns=columns)
    frame["at"] = pd.to_datetime(frame["at"], utc=True)
    frame["ok"] = frame["status"] == "success"
    frame["failed"] = frame["status"] == "failure"
    frame["label"] = frame["version"].where(frame["version"] != "", frame["sha"].str[:10])
    keys = ["environment", "tier", "order", "target"]
    grouped = frame.groupby(keys, sort=False)
    summary = grouped.agg(deployments=("ok", "sum"), failures=("failed", "sum")).reset_index()
    latest = (
        frame[frame["ok"]]
        .sort_values("at")
        .groupby(keys, sort=False)
        .tail(1)[[*keys, "label", "at"]]
        .rename(columns={"label": "latest_version", "at": "latest_at"})
    )
    summary = summary.merge(latest, on=keys, how="left")
    summary["tier_rank"] = summary["tier"].map({t: i for i, t in enumerate(Tier.values)})
    return summary.sort_values(["tier_rank", "order", "environment", "target"])[columns]
