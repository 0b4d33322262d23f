"""dora.reads.dashboards.split_headlines: one pass over many services gives each group of them the
figures `headline` gives on that group's own rows."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from dora.reads import dashboards as dash
from dora.reads.splits import FIGURE_COLUMNS

SINCE = datetime(2026, 1, 5, tzinfo=UTC)
UNTIL = datetime(2026, 3, 30, tzinfo=UTC)
NOW = UNTIL + timedelta(hours=5)
SERVICES = ("cart", "pay", "search", "ship", "auth", "legacy", "quiet")
TEAMS = {"cart": "shop", "pay": "shop", "search": "find", "legacy": "old"}  # others: no team
TZ = {"shop": "Europe/Berlin", "find": "America/New_York", "old": "UTC", None: "UTC"}
# The last rollout of "legacy": more than half a year before UNTIL, so it has no history the
# F1/F2 rule looks at.
LEGACY_END = UNTIL - timedelta(weeks=28)


def estate(seed: int) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Rollouts (two environments, history before the window), arrivals (changes arriving in
    several services, a direct push, unattributed ones) and incidents of six services."""
    rng = random.Random(seed)
    rollouts, arrivals, incidents = [], [], []
    for number, service in enumerate(SERVICES[:-1]):
        moment = SINCE - timedelta(weeks=30 + number)
        while moment < (LEGACY_END if service == "legacy" else UNTIL + timedelta(days=2)):
            moment += timedelta(hours=rng.uniform(3, 60))
            rollout_id = len(rollouts) + 1
            failed = rng.random() < 0.15
            rollouts.append(
                {
                    "rollout_id": rollout_id,
                    "service": service,
                    "environment": rng.choice(["production", "production-eu"]),
                    "kind": rng.choice(["change"] * 7 + ["config", "rollback", "redeploy"]),
                    "first_live_at": moment,
                    "failure": rng.choice(["confirmed", "inferred"]) if failed else "",
                    "restored_at": (
                        moment + timedelta(hours=rng.uniform(-1, 40))
                        if failed and rng.random() < 0.85
                        else None
                    ),
                    "remediation": rng.random() < 0.1,
                }
            )
            for _ in range(rng.randint(0, 3)):
                change = rng.randint(1, 400)  # a change may reach several services
                start = moment - timedelta(hours=rng.uniform(-2, 300))
                arrivals.append(
                    {
                        "change_id": change if rng.random() < 0.9 else None,
                        "commit_sha": "" if rng.random() < 0.9 else f"sha{rollout_id}",
                        "service": service,
                        "rollout_id": rollout_id,
                        "start": start,
                        "merged_at": start + timedelta(hours=1) if rng.random() < 0.9 else None,
                        "arrived_at": moment,
                        "unattributed": rng.random() < 0.05,
                    }
                )
            if rng.random() < 0.05:
                opened = moment + timedelta(minutes=rng.uniform(1, 600))
                incidents.append(
                    {
                        "incident_id": f"INC-{len(incidents)}",
                        "service": service,
                        "environment": "production",
                        "opened_at": opened,
                        "impact_started_at": opened - timedelta(minutes=5)
                        if rng.random() < 0.5
                        else None,
                        "mitigated_at": opened + timedelta(minutes=rng.uniform(5, 900))
                        if rng.random() < 0.6
                        else None,
                        "resolved_at": opened + timedelta(hours=rng.uniform(1, 30))
                        if rng.random() < 0.9
                        else None,
                    }
                )
    rollout_frame = pd.DataFrame(rollouts).sample(frac=1, random_state=seed)  # any order
    for column in ("first_live_at", "restored_at"):
        rollout_frame[column] = pd.to_datetime(rollout_frame[column], utc=True)
    arrival_frame = pd.DataFrame(arrivals).sample(frac=1, random_state=seed)
    for column in ("start", "merged_at", "arrived_at"):
        arrival_frame[column] = pd.to_datetime(arrival_frame[column], utc=True)
    incident_frame = pd.DataFrame(incidents)
    for column in ("opened_at", "impact_started_at", "mitigated_at", "resolved_at"):
        incident_frame[column] = pd.to_datetime(incident_frame[column], utc=True)
    return rollout_frame, arrival_frame, incident_frame


def items_found(result: dash.Headline) -> dict[str, pd.DataFrame]:
    """The items behind each figure, by `FIGURE_COLUMNS` name."""
    return {
        "frequency": result.frequency.items,
        "lead_time": result.lead_time.items,
        "change_failure": result.change_failure.items,
        "recovery": result.recovery.items,
        "unrestored": result.recovery.unrestored_items,
        "rework": result.rework.items,
    }


def split_items_of(result: dash.Headline, alone: dash.Headline) -> dict[str, tuple]:
    """The items behind each figure of a split headline and of the headline of its own rows,
    in the columns the split keeps (`FIGURE_COLUMNS`, in that order), sorted by their values
    (the split keeps the frame's order, which may differ among rows of one moment)."""
    expected = items_found(alone)
    compared = {}
    for name, items in items_found(result).items():
        columns = list(FIGURE_COLUMNS[name])
        assert list(items.columns) == columns, name

        def ordered(frame: pd.DataFrame, columns: list[str] = columns) -> pd.DataFrame:
            frame = frame[columns]
            return (frame.sort_values(columns) if columns else frame).reset_index(drop=True)

        compared[name] = (ordered(items), ordered(expected[name]))
    return compared


def figures_of(result: dash.Headline, benchmark: int) -> dict[str, object]:
    """Everything a page shows of a headline, and the figures' items."""
    shown: dict[str, object] = {
        "figures": result.figures,
        "level": result.level,
        "frequency": result.frequency.as_dict(),
        "frequency_extra": (
            result.frequency.redeploys,
            result.frequency.rollbacks,
            result.frequency.deploy_days,
            result.frequency.per_week_ci95,
            result.frequency.weeks.to_dict("list"),
        ),
        "lead_time": result.lead_time.as_dict(),
        "merge": result.lead_time.merge_to_production.as_dict(),
        "failure": result.change_failure.as_dict(),
        "recovery": (result.recovery.as_dict(), result.recovery.invalid),
        "rework": result.rework.as_dict(),
    }
    if benchmark <= 2022:
        shown["restore"] = (result.restore.as_dict(), result.restore.unrestored)
    return shown


@pytest.mark.parametrize(
    ("seed", "benchmark", "since", "until"),
    [
        (1, 2024, SINCE, UNTIL),
        (2, 2021, SINCE, UNTIL),
        (3, 2023, UNTIL - timedelta(days=5), UNTIL),  # a short window: weeks touched
        (4, 2022, SINCE - timedelta(weeks=12), SINCE),
    ],
)
def test_each_group_gets_the_figures_of_its_own_rows(
    seed: int, benchmark: int, since: datetime, until: datetime
) -> None:
    rollouts, arrivals, incidents = estate(seed)
    levels_incidents = incidents if benchmark <= 2022 else None
    team_of = {service: TEAMS.get(service) for service in SERVICES}  # "quiet" has no rows
    first = {
        team: rollouts[rollouts["service"].isin([s for s in SERVICES if team_of[s] == team])][
            "first_live_at"
        ].min()
        for team in set(team_of.values())
    }
    first["shop"] = None  # the default: the earliest rollout in the group's frame

    split = dash.split_headlines(
        rollouts,
        arrivals,
        groups=team_of,
        since=since,
        until=until,
        now=NOW,
        benchmark=benchmark,
        tz=TZ,
        first_rollout_at=first,
        incidents=levels_incidents,
    )

    assert list(split) == list(dict.fromkeys(team_of.values()))
    compared = 0
    for team, result in split.items():
        names = [s for s in SERVICES if team_of[s] == team]
        alone = dash.headline(
            rollouts[rollouts["service"].isin(names)],
            arrivals[arrivals["service"].isin(names)],
            since=since,
            until=until,
            now=NOW,
            tz=TZ[team],
            benchmark=benchmark,
            first_rollout_at=first.get(team),
            incidents=None
            if levels_incidents is None
            else levels_incidents[levels_incidents["service"].isin(names)],
        )
        assert figures_of(result, benchmark) == figures_of(alone, benchmark), team
        for name, (items, expected) in split_items_of(result, alone).items():
            pd.testing.assert_frame_equal(items, expected, obj=f"{team} {name}")
        compared += result.frequency.rollouts + result.lead_time.duration.n
    assert compared > 20  # the groups had rows to count


def test_a_group_without_rows_gets_empty_figures() -> None:
    rollouts, arrivals, _ = estate(5)
    split = dash.split_headlines(
        rollouts,
        arrivals,
        groups={"cart": "cart", "quiet": "quiet"},
        since=SINCE,
        until=UNTIL,
        now=NOW,
        benchmark=2024,
        tz={"cart": "UTC", "quiet": "UTC"},
        first_rollout_at={},
    )
    assert split["quiet"].frequency.rollouts == 0
    assert split["quiet"].lead_time.duration.n == 0
    assert split["quiet"].level is None
    assert split["cart"].frequency.rollouts > 0
    cart = rollouts[rollouts["service"] == "cart"]
    live = cart["first_live_at"]
    assert len(split["cart"].frequency.items) == ((live >= SINCE) & (live < UNTIL)).sum()


@pytest.mark.parametrize("benchmark", [2025, 2022])
def test_a_page_splitting_windows_several_ways_computes_each_windows_rows_once(
    benchmark: int,
) -> None:
    """The overview splits one window by team, by service and pools it, and another window by
    team: with one memo each window's row passes are computed once, and every headline is still
    the one computed on its own."""
    rollouts, arrivals, incidents = estate(6)
    levels_incidents = incidents if benchmark <= 2022 else None
    team_of = {service: TEAMS.get(service) for service in SERVICES}
    windows = [(SINCE, UNTIL), (SINCE - timedelta(weeks=12), SINCE)]
    common = {"now": NOW, "benchmark": benchmark, "incidents": levels_incidents}
    memo: dict = {}
    shared = {}
    for since, until in windows:
        by_team = dash.split_headlines(
            rollouts,
            arrivals,
            groups=team_of,
            since=since,
            until=until,
            tz=TZ,
            first_rollout_at={},
            memo=memo,
            **common,
        )
        by_service = dash.split_headlines(
            rollouts,
            arrivals,
            groups={s: s for s in SERVICES},
            since=since,
            until=until,
            tz=dict.fromkeys(SERVICES, "UTC"),
            first_rollout_at={},
            memo=memo,
            **common,
        )
        pooled = dash.pooled_headline(
            rollouts,
            arrivals,
            since=since,
            until=until,
            tz="UTC",
            first_rollout_at=None,
            memo=memo,
            **common,
        )
        shared[since] = (by_team, by_service, pooled)
    # A window's row passes, and its frames' services coded for splitting, once each.
    assert len([key for key in memo if key[0] == "rows"]) == len(windows)
    assert len([key for key in memo if key[0] == "splitters"]) == len(windows)

    for since, until in windows:
        by_team, by_service, pooled = shared[since]
        alone = dash.headline(
            rollouts,
            arrivals,
            since=since,
            until=until,
            tz="UTC",
            first_rollout_at=None,
            **common,
        )
        assert figures_of(pooled, benchmark) == figures_of(alone, benchmark)
        assert pooled.frequency.rollouts > 10
        for groups, split, tz in (
            (team_of, by_team, TZ),
            ({s: s for s in SERVICES}, by_service, dict.fromkeys(SERVICES, "UTC")),
        ):
            fresh = dash.split_headlines(
                rollouts,
                arrivals,
                groups=groups,
                since=since,
                until=until,
                tz=tz,
                first_rollout_at={},
                **common,
            )
            for key, result in split.items():
                assert figures_of(result, benchmark) == figures_of(fresh[key], benchmark), key


def test_windows_ending_together_share_their_frequency_rows_and_keep_their_figures() -> None:
    """The overview's window and its 26-week trend end together: one pass gives both their
    frequency rows (they start half a year before the end); a window longer than half a year
    starts its rows earlier, and gets its own."""
    rollouts, arrivals, _ = estate(7)
    windows = [
        (UNTIL - timedelta(weeks=4), UNTIL),
        (UNTIL - timedelta(weeks=26), UNTIL),
        (UNTIL - timedelta(weeks=34), UNTIL),
    ]
    common = {"now": NOW, "benchmark": 2024, "tz": "UTC", "first_rollout_at": None}
    memo: dict = {}
    pooled = [
        dash.pooled_headline(rollouts, arrivals, since=since, until=until, memo=memo, **common)
        for since, until in windows
    ]
    assert len([key for key in memo if key[0] == "frequency"]) == 2
    for (since, until), result in zip(windows, pooled, strict=True):
        alone = dash.headline(rollouts, arrivals, since=since, until=until, **common)
        assert figures_of(result, 2024) == figures_of(alone, 2024), since
        pd.testing.assert_frame_equal(result.frequency.items, alone.frequency.items)
