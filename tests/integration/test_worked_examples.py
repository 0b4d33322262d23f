"""The worked examples of research/metrics-background.md (§4.1–§4.5, §6.1–§6.3, §7.2), end to end.

Each example's timeline is sent as CONTRACT §1 events through `events_record` (so derivation
builds rollouts, change sets, arrivals and failure links as it would in production), then read
back as the CONTRACT §4 JSON from GET /api/v1/metrics (read token) and, where the example lists
items, from GET /api/v1/metrics/<name>/items. Expected figures are the document's; the comments
redo its arithmetic from first principles and name the conventions a figure depends on.

All times are UTC (the reporting time zone defaults to UTC; no team is configured). 2026-03-02
is a Monday.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from rest_framework.test import APIClient

from dora.intake.events import events_record
from dora.models import ApiToken, Service
from tests.builders import sha

pytestmark = pytest.mark.django_db

MIN = 60.0
HOUR = 3600.0
DAY = 86400.0
Z95 = 1.959963984540054


def ts(month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


# -- events (CONTRACT §1) ---------------------------------------------------------------------


def commit(name: str, parents: list[str], authored: datetime, **extra: Any) -> dict[str, Any]:
    return {
        "type": "commit",
        "id": f"acme/shop@{name}",
        "repo": "acme/shop",
        "sha": sha(name),
        "parents": [sha(p) for p in parents],
        "authored_at": iso(authored),
        **extra,
    }


def change(
    number: int,
    commits: list[str],
    *,
    created: datetime,
    merged: datetime,
    merge: str | None = None,
    squash: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    event: dict[str, Any] = {
        "type": "change",
        "id": f"acme/shop#{number}",
        "repo": "acme/shop",
        "number": number,
        "created_at": iso(created),
        "merged_at": iso(merged),
        "commits": [sha(c) for c in commits],
        **extra,
    }
    if merge:
        event["merge_sha"] = sha(merge)
    if squash:
        event["squash_sha"] = sha(squash)
    return event


def deployment(
    ident: str,
    commit_name: str,
    finished: datetime,
    *,
    service: str = "shop",
    environment: str = "production",
    **extra: Any,
) -> dict[str, Any]:
    return {
        "type": "deployment",
        "id": ident,
        "service": service,
        "environment": environment,
        "sha": sha(commit_name),
        "repo": "acme/shop",
        "status": "success",
        "finished_at": iso(finished),
        **extra,
    }


def incident(ident: str, opened: datetime, **extra: Any) -> dict[str, Any]:
    return {"type": "incident", "id": ident, "service": "shop", "opened_at": iso(opened), **extra}


def run(
    ident: str, service: str, action: str, status: str, finished: datetime, **extra: Any
) -> dict[str, Any]:
    return {
        "type": "automation_run",
        "id": ident,
        "service": service,
        "environment": "prod",
        "action": action,
        "status": status,
        "finished_at": iso(finished),
        **extra,
    }


def record(events: list[dict[str, Any]]) -> None:
    report = events_record(events)
    assert report.counts["rejected"] == 0, [i.reason for i in report.items if i.reason]


# -- reading the JSON -------------------------------------------------------------------------


def reader() -> APIClient:
    client = APIClient()
    _, raw = ApiToken.issue(name="worked-examples", scope="read")
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


def metrics(since: datetime, until: datetime, **params: Any) -> dict[str, Any]:
    response = reader().get("/api/v1/metrics", {"since": iso(since), "until": iso(until), **params})
    assert response.status_code == 200, response.content
    return response.json()


def items(name: str, since: datetime, until: datetime, **params: Any) -> list[dict[str, Any]]:
    response = reader().get(
        f"/api/v1/metrics/{name}/items",
        {"since": iso(since), "until": iso(until), "page_size": 500, **params},
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["next"] is None
    return body["results"]


def wilson(k: int, n: int) -> list[float]:
    """Wilson 95% score interval, from its formula."""
    p = k / n
    denominator = 1 + Z95**2 / n
    center = (p + Z95**2 / (2 * n)) / denominator
    half = Z95 * math.sqrt(p * (1 - p) / n + Z95**2 / (4 * n * n)) / denominator
    return [center - half, center + half]


# =============================================================================================
# §4.1 Deployment frequency
# =============================================================================================

# Window: 4 ISO weeks, Mon 2026-03-02 00:00 to Mon 03-30 00:00 (28 days, half-open).
F_SINCE, F_UNTIL = ts(3, 2), ts(3, 30)


def frequency_timeline() -> list[datetime]:
    """§4.1: week 1 Mon x2, Tue x1, Thu x2; week 2 Wed x1; week 3 none; week 4 Mon-Fri, 9 in all.

    Each rollout ships a new commit to two targets (eu-1, then us-1 30 min later): one rollout
    each, however many targets. The service's first rollout is 12 weeks before the window ends
    (the frequency badge needs 8 weeks of history, METRICS §3.6); it is before the window.
    """
    week1 = [ts(3, 2, 10), ts(3, 2, 14), ts(3, 3, 10), ts(3, 5, 10), ts(3, 5, 15)]
    week2 = [ts(3, 11, 10)]
    week4 = [
        ts(3, 23, 10),
        ts(3, 23, 15),
        ts(3, 24, 10),
        ts(3, 24, 15),
        ts(3, 25, 10),
        ts(3, 25, 15),
        ts(3, 26, 10),
        ts(3, 26, 15),
        ts(3, 27, 10),
    ]
    lives = [F_UNTIL - timedelta(weeks=12), *week1, *week2, *week4]
    events: list[dict[str, Any]] = []
    parent: list[str] = []
    for i, live in enumerate(lives):
        name = f"f{i}"
        events.append(commit(name, parent, live - timedelta(hours=2)))
        events.append(deployment(f"f{i}-eu", name, live, target="eu-1"))
        events.append(deployment(f"f{i}-us", name, live + timedelta(minutes=30), target="us-1"))
        parent = [name]
    record(events)
    return lives[1:]


def test_worked_example_4_1_deployment_frequency() -> None:
    lives = frequency_timeline()

    freq = metrics(F_SINCE, F_UNTIL, service="shop", benchmark="2024")["deployment_frequency"]

    # N = 5 + 1 + 0 + 9 = 15 rollouts (each on two targets, counted once).
    assert freq["rollouts"] == 15
    # 15 / 28 days = 0.536/day (the document rounds to 0.54); 15 / 4 weeks = 3.75/week.
    assert freq["per_day"] == pytest.approx(15 / 28)
    assert round(freq["per_day"], 2) == 0.54
    assert freq["per_week"] == 3.75
    # Deploy days per ISO week (Monday start, UTC dates): [3 (Mon, Tue, Thu), 1 (Wed), 0, 5
    # (Mon-Fri)]; the zero week counts. Sorted [0, 1, 3, 5]: linear median (1 + 3) / 2 = 2.0.
    assert freq["deploy_days_per_week"] == 2.0
    # 1 <= 2.0 < 3 -> F4 (not in the document: gaps between consecutive rollouts, placed by the
    # later one, in hours: 1,848 from the first rollout, then 4, 20, 48, 5, 139, 288, 5, 19, 5,
    # 19, 5, 19, 5, 19; the 8th of the 15 sorted is 19 h).
    assert freq["category"] == "F4"
    assert freq["median_gap_seconds"] == 19 * HOUR
    # 2024: F4 is high's published category (elite needs F6).
    assert freq["level"] == "high"

    # The items: every counted rollout, once, placed by first_live_at (its first target).
    rows = items("deployment_frequency", F_SINCE, F_UNTIL, service="shop")
    assert [row["first_live_at"] for row in rows if row["counted"]] == [iso(t) for t in lives]


@pytest.mark.parametrize(
    ("year", "level"), [(2021, "high"), (2022, "medium"), (2023, "high"), (2024, "high")]
)
def test_worked_example_4_1_levels_by_year(year: int, level: str) -> None:
    frequency_timeline()

    freq = metrics(F_SINCE, F_UNTIL, service="shop", benchmark=year)["deployment_frequency"]

    # F4 against each year's published categories (best level met, METRICS §3.6):
    # 2021 elite F6 / high F3 -> high; 2022 high F6 / medium F3 -> medium;
    # 2023 elite F6 / high F4 -> high; 2024 elite F6 / high F4 -> high.
    assert (freq["category"], freq["level"]) == ("F4", level)


# =============================================================================================
# §4.2 Change lead time
# =============================================================================================

L_SINCE, L_UNTIL = ts(3, 1), ts(3, 8)


def lead_time_timeline() -> None:
    """§4.2: PR-101 (squash), PR-102 (merge commit) both live Mar 5 10:00; PR-103 Mar 7 16:00.

    A first rollout (c0, Feb 20) gives later rollouts a predecessor, so their changes are timed.
    PR-101's branch commit a101 is authored Mar 4 09:00; GitHub puts one squash commit s101 on
    trunk, stamped with the merge time (Mar 5 08:00): its start comes from the PR's commit list,
    not from the trunk commit (§8.1).
    """
    record(
        [
            commit("c0", [], ts(2, 20, 9)),
            deployment("l0", "c0", ts(2, 20, 12)),
            # PR-101: squash.
            commit("a101", ["c0"], ts(3, 4, 9)),
            commit("s101", ["c0"], ts(3, 5, 8)),
            change(101, ["a101"], created=ts(3, 4, 10), merged=ts(3, 5, 8), squash="s101"),
            # PR-102: branch from Mar 1 13:00, merge commit on top of the squash.
            commit("b102", ["c0"], ts(3, 1, 13)),
            commit("m102", ["s101", "b102"], ts(3, 5, 9, 30)),
            change(102, ["b102"], created=ts(3, 2, 9), merged=ts(3, 5, 9, 30), merge="m102"),
            deployment("l1", "m102", ts(3, 5, 10)),
            # PR-103.
            commit("b103", ["m102"], ts(3, 6, 10)),
            commit("m103", ["m102", "b103"], ts(3, 7, 14)),
            change(103, ["b103"], created=ts(3, 6, 11), merged=ts(3, 7, 14), merge="m103"),
            deployment("l2", "m103", ts(3, 7, 16)),
        ]
    )


def test_worked_example_4_2_change_lead_time() -> None:
    lead_time_timeline()

    report = metrics(L_SINCE, L_UNTIL, service="shop")

    lead = report["lead_time"]
    # CLT = production arrival - first commit authored:
    #   PR-101 Mar 5 10:00 - Mar 4 09:00 = 25 h; PR-102 Mar 5 10:00 - Mar 1 13:00 = 93 h;
    #   PR-103 Mar 7 16:00 - Mar 6 10:00 = 30 h. Sorted [25, 30, 93]: p50 = 30 h.
    assert lead["n"] == 3 and lead["invalid"] == 0 and lead["unattributed"] == 0
    assert lead["p50_seconds"] == 30 * HOUR
    # 1 day <= 30 h < 7 days -> D4. The document's "high in 2021, 2023 and 2024" is the level
    # of D4; the badge itself is withheld below 10 changes (METRICS §3.6), so level is null.
    assert lead["category"] == "D4" and lead["level"] is None
    # merge -> prod: 10:00 - 08:00 = 2 h, 10:00 - 09:30 = 0.5 h, 16:00 - 14:00 = 2 h: p50 2 h.
    m2p = report["merge_to_production"]
    assert m2p["n"] == 3 and m2p["p50_seconds"] == 2 * HOUR
    # < 1 day -> D5 (the document: "elite" in 2023 and 2024; again no badge with n = 3).
    assert m2p["category"] == "D5" and m2p["level"] is None

    rows = {row["change"]: row for row in items("lead_time", L_SINCE, L_UNTIL, service="shop")}
    assert {k: (v["start"], v["merged_at"], v["arrival"]) for k, v in rows.items()} == {
        "acme/shop#101": ("2026-03-04T09:00:00Z", "2026-03-05T08:00:00Z", "2026-03-05T10:00:00Z"),
        "acme/shop#102": ("2026-03-01T13:00:00Z", "2026-03-05T09:30:00Z", "2026-03-05T10:00:00Z"),
        "acme/shop#103": ("2026-03-06T10:00:00Z", "2026-03-07T14:00:00Z", "2026-03-07T16:00:00Z"),
    }
    assert [rows[f"acme/shop#{n}"]["lead_time_seconds"] for n in (101, 102, 103)] == [
        25 * HOUR,
        93 * HOUR,
        30 * HOUR,
    ]


# =============================================================================================
# §4.3 Change failure rate, §4.4 recovery, §4.5 rework: one window
# =============================================================================================

# Day 0 = Mon 2026-03-02. Window: three weeks, Mar 2 00:00 to Mar 23 00:00.
C_SINCE, C_UNTIL = ts(3, 2), ts(3, 23)


def day(n: int, hour: int = 10, minute: int = 0) -> datetime:
    return ts(3, 2) + timedelta(days=n, hours=hour, minutes=minute)


def failure_timeline() -> None:
    """§4.3–§4.5: D1..D21 live in the window, D0 before it (the service's first rollout).

    - D1..D7 one a day at 10:00 (days 0-6); D7 ships c7 and goes live day 6 10:00.
    - INC-8 opens day 6 10:20, names D7, is mitigated 10:50 and its ticket closed day 7 09:00.
    - D8 redeploys c6 at 10:50: a rollback (c6 is an ancestor of the live c7), not counted.
    - D9..D12 days 7-10 at 10:00 (D9's c9 builds on c7).
    - D13 day 11 14:00; INC-9 opens 16:00 naming D13; the hotfix PR #14 (label hotfix) goes live
      as D14 at 19:30, which remediates INC-9; INC-9 is mitigated at 19:30.
    - D15..D21 days 12-18 at 10:00. INC-10, a cloud outage (cause external), opens day 15
      11:00, an hour after D16, and is mitigated 13:00.
    """
    events: list[dict[str, Any]] = [
        commit("c0", [], day(-3, 8)),
        deployment("D0", "c0", day(-3)),
    ]
    lives = {n: day(n - 1) for n in range(1, 13)} | {n: day(n - 3) for n in range(15, 22)}
    lives[13] = day(11, 14)
    parent = "c0"
    for n in range(1, 22):
        if n == 8:
            events.append(deployment("D8", "c6", day(6, 10, 50)))
            continue
        name = f"c{n}"
        if n == 14:
            events += [
                commit(name, [parent], day(11, 17)),
                change(
                    14,
                    [name],
                    created=day(11, 17, 30),
                    merged=day(11, 18),
                    merge=name,
                    labels=["hotfix"],
                ),
                deployment("D14", name, day(11, 19, 30), remediates="INC-9"),
            ]
        else:
            events += [
                commit(name, [parent], lives[n] - timedelta(hours=3)),
                deployment(f"D{n}", name, lives[n]),
            ]
        parent = name
    events += [
        incident(
            "INC-8",
            day(6, 10, 20),
            caused_by={"deployment": "D7"},
            mitigated_at=iso(day(6, 10, 50)),
            resolved_at=iso(day(7, 9)),
        ),
        incident(
            "INC-9",
            day(11, 16),
            caused_by={"deployment": "D13"},
            mitigated_at=iso(day(11, 19, 30)),
        ),
        incident("INC-10", day(15, 11), cause="external", mitigated_at=iso(day(15, 13))),
    ]
    record(events)


@pytest.mark.parametrize("year", [2023, 2024])
def test_worked_example_4_3_change_failure_rate(year: int) -> None:
    failure_timeline()

    cfr = metrics(C_SINCE, C_UNTIL, service="shop", benchmark=year)["change_failure_rate"]

    # Denominator: change rollouts live in the window, D1..D21 without the rollback D8 = 20.
    # Failed: D7 (rolled back by D8; INC-8 names it too: one failure) and D13 (INC-9 names it;
    # the hotfix D14 marks it too). INC-10 is external and marks nothing (without that rule the
    # 24 h inference would have blamed D16). 2 / 20 = 10%.
    assert (cfr["failed"], cfr["confirmed"], cfr["inferred"], cfr["rollouts"]) == (2, 2, 0, 20)
    assert cfr["rate"] == pytest.approx(0.10)
    # Wilson: centre (0.1 + z²/40) / (1 + z²/20) = 0.1960 / 1.1921 = 0.1644, half-width
    # z·sqrt(0.1·0.9/20 + z²/1600) / 1.1921 = 0.1365: [2.79%, 30.10%] (document: 2.8%-30.1%).
    assert cfr["ci95"] == pytest.approx(wilson(2, 20))
    assert [round(100 * bound, 1) for bound in cfr["ci95"]] == [2.8, 30.1]
    # 20 rollouts meet the badge minimum. 10% is high in 2023 (<= 10, not <= 5) and in 2024
    # (<= 20 high; medium's 10% is never the best level met).
    assert cfr["level"] == "high"
    # The window ended months before the test runs: past the 72 h remediation window.
    assert cfr["provisional"] is False


def test_worked_example_4_3_items_say_why() -> None:
    failure_timeline()

    rows = items("change_failure_rate", C_SINCE, C_UNTIL, service="shop")

    assert len(rows) == 20
    failed = {row["first_live_at"]: row["causes"] for row in rows if row["failed"]}
    assert failed == {
        iso(day(6)): "incident,rollback",  # D7
        iso(day(11, 14)): "hotfix,incident",  # D13
    }
    # ... in sentences, each with how long after the rollout went live (in any order).
    why = {row["first_live_at"]: set(row["why"].split("; ")) for row in rows if row["failed"]}
    assert (
        why
        == {
            iso(day(6)): {  # D7 live 10:00: INC-8 opened 10:20, D8 (c6) live 10:50
                "Incident INC-8 names it as the cause and opened 20 min after it went live"
                " (confirmed)",
                f"Rolled back by {sha('c6')[:12]} 50 min after it went live (confirmed)",
            },
            iso(day(11, 14)): {  # D13 live 14:00: INC-9 opened 16:00, the hotfix D14 live 19:30
                "Incident INC-9 names it as the cause and opened 2.0 h after it went live"
                " (confirmed)",
                f"Hotfix {sha('c14')[:12]} went live 5.5 h after it (confirmed)",
            },
        }
    )


def test_worked_example_4_4_recovery_time() -> None:
    failure_timeline()

    report = metrics(C_SINCE, C_UNTIL, service="shop")

    recovery = report["recovery_time"]
    # restored_at = first present of linked incident mitigated_at, remediation live, resolved_at.
    # D7: INC-8 mitigated 10:50 (= the rollback live) - 10:00 = 50 min; the ticket closed the
    # next day plays no part. D13: INC-9 mitigated 19:30 (= the hotfix live) - 14:00 = 330 min.
    # p50 over n = 2: (50 + 330) / 2 = 190 min; below 5 restored failures, no badge.
    assert recovery["n"] == 2 and recovery["unrestored"] == 0
    assert recovery["p50_seconds"] == 190 * MIN
    assert recovery["category"] == "D5" and recovery["level"] is None
    rows = items("recovery_time", C_SINCE, C_UNTIL, service="shop")
    assert sorted(row["recovery_seconds"] for row in rows) == [50 * MIN, 330 * MIN]

    # Not in the document: time to restore service counts every production incident, the
    # external one too: INC-8 10:20 -> 10:50 = 30 min, INC-9 16:00 -> 19:30 = 210 min,
    # INC-10 11:00 -> 13:00 = 120 min. Median 120 min.
    restore = report["time_to_restore"]
    assert restore["n"] == 3 and restore["p50_seconds"] == 120 * MIN


def test_worked_example_4_5_rework_rate() -> None:
    failure_timeline()

    rework = metrics(C_SINCE, C_UNTIL, service="shop")["rework_rate"]

    # Rollouts of kind change, config or rollback: 20 change + the rollback D8 = 21. Unplanned
    # remediation: D8 (a rollback) and D14 (carries the hotfix PR, remediates INC-9). D7 and D13
    # failed, which is not rework. 2 / 21 = 9.5%.
    assert (rework["rework"], rework["rollouts"]) == (2, 21)
    assert rework["rate"] == pytest.approx(2 / 21)
    assert round(100 * rework["rate"], 1) == 9.5
    assert rework["ci95"] == pytest.approx(wilson(2, 21))
    rows = items("rework_rate", C_SINCE, C_UNTIL, service="shop")
    assert sorted(row["first_live_at"] for row in rows if row["rework"]) == [
        iso(day(6, 10, 50)),  # D8
        iso(day(11, 19, 30)),  # D14
    ]


# =============================================================================================
# §6.1 Full-estate lead time and rollout lag
# =============================================================================================

TARGETS = ("eu-1", "eu-2", "us-1", "ap-1", "us-2")


def estate_timeline() -> None:
    """§6.1: change C (PR #7, first commit Mar 1 09:00) reaches eu-1 Mar 1 15:00, eu-2 Mar 2
    10:00, us-1 Mar 4 12:00, ap-1 Mar 8 09:00, us-2 Mar 11 09:00.

    Every target ran the previous version (c0, Feb 25) within the last 30 days, so all five are
    active production targets (METRICS §2).
    """
    events: list[dict[str, Any]] = [commit("c0", [], ts(2, 24, 9))]
    events += [
        deployment(f"e0-{t}", "c0", ts(2, 25, 10, i), target=t) for i, t in enumerate(TARGETS)
    ]
    events += [
        commit("bC", ["c0"], ts(3, 1, 9)),
        commit("mC", ["c0", "bC"], ts(3, 1, 12)),
        change(7, ["bC"], created=ts(3, 1, 10), merged=ts(3, 1, 12), merge="mC"),
    ]
    arrivals = (ts(3, 1, 15), ts(3, 2, 10), ts(3, 4, 12), ts(3, 8, 9), ts(3, 11, 9))
    events += [
        deployment(f"e1-{t}", "mC", when, target=t)
        for t, when in zip(TARGETS, arrivals, strict=True)
    ]
    record(events)


def test_worked_example_6_1_full_estate_lead_time() -> None:
    estate_timeline()
    since, until = ts(3, 1), ts(3, 12)

    report = metrics(since, until, service="shop")

    # clt_first = first arrival - start = Mar 1 15:00 - Mar 1 09:00 = 6 h (the lead time).
    assert report["lead_time"]["n"] == 1
    assert report["lead_time"]["p50_seconds"] == 6 * HOUR
    # clt_all = last arrival - start = Mar 11 09:00 - Mar 1 09:00 = 10 d.
    estate = report["lead_time_all_targets"]
    assert estate["n"] == 1 and estate["p50_seconds"] == 10 * DAY
    assert estate["incomplete"] == 0 and estate["oldest_incomplete_seconds"] is None
    # rollout_lag = last - first arrival = Mar 11 09:00 - Mar 1 15:00 = 9 d 18 h.
    lag = report["rollout_lag"]
    assert lag["n"] == 1 and lag["p50_seconds"] == 9 * DAY + 18 * HOUR

    (row,) = items("lead_time_all_targets", since, until, service="shop")
    assert row["change"] == "acme/shop#7" and row["complete"] is True
    assert (row["arrival"], row["estate_reached_at"]) == (
        "2026-03-01T15:00:00Z",
        "2026-03-11T09:00:00Z",
    )
    assert row["targets_reached"] == 5


def test_worked_example_6_1_incomplete_on_march_10() -> None:
    estate_timeline()
    # "On Mar 10": evaluated at the end of that day (until = Mar 11 00:00 UTC), when us-2 has
    # not got C yet. Age = until - start = Mar 11 00:00 - Mar 1 09:00 = 9 d 15 h (>= 9 d).
    since, until = ts(3, 1), ts(3, 11)

    report = metrics(since, until, service="shop")

    estate = report["lead_time_all_targets"]
    assert estate["n"] == 0 and estate["p50_seconds"] is None
    assert estate["incomplete"] == 1
    assert estate["oldest_incomplete_seconds"] == 9 * DAY + 15 * HOUR
    (row,) = items("lead_time_all_targets", since, until, service="shop")
    # 4 of 5 targets: eu-1, eu-2, us-1, ap-1.
    assert row["complete"] is False and row["targets_reached"] == 4
    assert row["age_seconds"] == 9 * DAY + 15 * HOUR


# =============================================================================================
# §6.2 Version spread
# =============================================================================================


def test_worked_example_6_2_version_spread() -> None:
    # Releases v1.39 .. v1.42 (one commit each). v1.39 reached every target on Feb 10; v1.40
    # (Feb 14) eu-1, eu-2, ap-1; v1.41 (Feb 18) those and us-1; v1.42 (Feb 22) eu-1, eu-2,
    # ap-1. At Mar 1 00:00: eu-1, eu-2, ap-1 run v1.42, us-1 v1.41, us-2 v1.39. Every target
    # deployed within the 30 days before, so all five are active.
    plan = {
        "v1.39": (ts(2, 10, 10), TARGETS),
        "v1.40": (ts(2, 14, 10), ("eu-1", "eu-2", "ap-1")),
        "v1.41": (ts(2, 18, 10), ("eu-1", "eu-2", "ap-1", "us-1")),
        "v1.42": (ts(2, 22, 10), ("eu-1", "eu-2", "ap-1")),
    }
    events: list[dict[str, Any]] = []
    parent: list[str] = []
    for version, (when, targets) in plan.items():
        events.append(commit(version, parent, when - timedelta(hours=1)))
        events += [
            deployment(
                f"{version}-{t}", version, when + timedelta(minutes=i), target=t, version=version
            )
            for i, t in enumerate(targets)
        ]
        parent = [version]
    record(events)
    since, until = ts(2, 1), ts(3, 1)

    spread = metrics(since, until, service="shop")["version_spread"]

    # Spread = |{v1.42, v1.41, v1.39}| = 3. Versions behind: releases in first-deployed order
    # v1.39 (0), v1.40 (1), v1.41 (2), v1.42 (3): newest 3 - oldest 0 = 3 (v1.40, live nowhere,
    # still counts). Share on newest: 3 of 5 targets = 60%. Oldest live age (not in the
    # document): Mar 1 00:00 - v1.39's first deployment Feb 10 10:00 = 18 d 14 h.
    assert spread == [
        {
            "service": "shop",
            "environment": "production",
            "targets": 5,
            "versions": 3,
            "versions_behind": 3,
            "oldest_live_age_seconds": 18 * DAY + 14 * HOUR,
            "share_on_newest": 0.6,
        }
    ]
    rows = items("version_spread", since, until, service="shop")
    assert {row["target"]: row["version"] for row in rows} == {
        "eu-1": "v1.42",
        "eu-2": "v1.42",
        "ap-1": "v1.42",
        "us-1": "v1.41",
        "us-2": "v1.39",
    }


# =============================================================================================
# §6.3 Automation lag
# =============================================================================================


def test_worked_example_6_3_automation_lag() -> None:
    # Evaluated at until = Mar 1 00:00 (point-in-time figures use `until`, CONTRACT §3).
    since, until = ts(2, 1), ts(3, 1)
    record(
        [
            # net-prod: last apply 2 d ago. A plan an hour ago and a failed apply 2 h ago do not
            # reset the lag.
            run("net-1", "net", "apply", "success", until - timedelta(days=2), trigger="schedule"),
            run("net-2", "net", "apply", "failure", until - timedelta(hours=2)),
            run("net-3", "net", "plan", "success", until - timedelta(hours=1)),
            # db-prod: last apply 45 d ago.
            run("db-1", "db", "apply", "success", until - timedelta(days=45), trigger="change"),
            # dns-prod: applied by hand 3 h ago (resets the lag; flagged manual in the items).
            run("dns-1", "dns", "apply", "success", until - timedelta(hours=3), trigger="manual"),
        ]
    )

    lag = metrics(since, until)["automation_lag"]

    # Lags [3 h, 2 d, 45 d]: p50 = 2 d; max = 45 d; over the default stale_after of 7 d: db.
    assert lag["p50_seconds"] == 2 * DAY
    assert lag["max_seconds"] == 45 * DAY
    assert lag["stale"] == 1
    # Not in the document: p90 at rank 0.9 * 2 = 1.8 -> 2 d + 0.8 * (45 - 2) d = 36.4 d.
    assert lag["p90_seconds"] == pytest.approx(36.4 * DAY)
    by_service = {row["service"]: row for row in lag["instances"]}
    assert {name: row["lag_seconds"] for name, row in by_service.items()} == {
        "net": 2 * DAY,
        "db": 45 * DAY,
        "dns": 3 * HOUR,
    }
    assert {name: row["stale"] for name, row in by_service.items()} == {
        "net": False,
        "db": True,
        "dns": False,
    }
    assert by_service["db"]["last_success_at"] == "2026-01-15T00:00:00Z"
    manual = {row["service"]: row["manual"] for row in items("automation_lag", since, until)}
    assert manual == {"net": False, "db": False, "dns": True}


def test_worked_example_6_3_evidence_failure_rate_by_gap() -> None:
    # "3 failures in 150 runs after gaps of <= 1 d (2%), but 4 in 16 after gaps over 30 d (25%)".
    # net-prod applies every 12 h: 151 runs, 150 gaps of 12 h, 3 of those runs failed. db-prod
    # applies every 31 days: 17 runs, 16 gaps of 31 d, 4 of those runs failed. The window holds
    # every run but each instance's first (which has no gap before it).
    until = ts(3, 1)
    net_start = until - timedelta(days=80)
    db_start = until - timedelta(days=31 * 17)
    events = [
        run(
            f"net-{i}",
            "net",
            "apply",
            "failure" if i in (10, 50, 90) else "success",
            net_start + timedelta(hours=12 * i),
        )
        for i in range(151)
    ]
    events += [
        run(
            f"db-{i}",
            "db",
            "apply",
            "failure" if i in (2, 5, 9, 14) else "success",
            db_start + timedelta(days=31 * i),
        )
        for i in range(17)
    ]
    record(events)

    evidence = metrics(db_start, until)["automation_lag"]["evidence"]

    rows = {row["gap"]: row for row in evidence}
    assert list(rows) == ["<=1d", "1-7d", "7-30d", ">30d"]
    assert (rows["<=1d"]["runs"], rows["<=1d"]["failures"]) == (150, 3)
    assert rows["<=1d"]["rate"] == pytest.approx(0.02)  # 3 / 150
    assert rows["<=1d"]["ci95"] == pytest.approx(wilson(3, 150))
    assert (rows[">30d"]["runs"], rows[">30d"]["failures"]) == (16, 4)
    assert rows[">30d"]["rate"] == 0.25  # 4 / 16
    assert rows[">30d"]["ci95"] == pytest.approx(wilson(4, 16))
    # No run followed a gap of 1-7 or 7-30 days: n 0, no rate, no interval.
    assert rows["1-7d"] == {"gap": "1-7d", "runs": 0, "failures": 0, "rate": None, "ci95": None}
    assert rows["7-30d"]["runs"] == 0


# =============================================================================================
# §7.2 Value stream
# =============================================================================================

V_SINCE, V_UNTIL = ts(3, 2), ts(3, 9)


def value_stream_timeline(
    *, deploy_pipelines: bool = True, gated: bool = False, squash: bool = False
) -> None:
    """§7.2, Mon 2026-03-02 .. Thu 03-05 (business hours 09:00-17:00 Mon-Fri, UTC).

    First commit Mon 13:00; PR opened Tue 10:00; first review Tue 15:00; merged Wed 09:30 (merge
    commit m1); CI on m1 queued 09:31, ran 09:35-09:55; staging deploy pipeline ran 10:00-10:10;
    production deploy pipeline ran Thu 14:05-14:25. The deploy pipelines run on the merge sha
    and the deployments name them; without `deploy_pipelines` only the deployments' own
    started_at/finished_at record those runs. A first rollout of c0 to both environments
    (Feb 20) gives these rollouts a predecessor. `gated` adds the events' optional E0 and E9:
    the change's issue, created Mon 09:00, and the production deployment's approval, Thu 14:00.
    `squash` lands the change as a squash commit m1 (one parent) instead of a merge commit.
    """
    Service.objects.create(name="shop", repos=["acme/shop"])
    pipeline = {"type": "pipeline_run", "repo": "acme/shop", "sha": sha("m1"), "status": "success"}
    events: list[dict[str, Any]] = [
        commit("c0", [], ts(2, 19, 9)),
        deployment("s0", "c0", ts(2, 20, 9), environment="staging"),
        deployment("p0", "c0", ts(2, 20, 12)),
        commit("b1", ["c0"], ts(3, 2, 13)),
        commit("m1", ["c0"] if squash else ["c0", "b1"], ts(3, 4, 9, 30)),
        change(
            1,
            ["b1"],
            created=ts(3, 3, 10),
            merged=ts(3, 4, 9, 30),
            **({"squash": "m1"} if squash else {"merge": "m1"}),
            first_review_at=iso(ts(3, 3, 15)),
            approved_at=iso(ts(3, 4, 9)),
            **({"issue": "SHOP-7", "issue_created_at": iso(ts(3, 2, 9))} if gated else {}),
        ),
        pipeline
        | {
            "id": "ci-1",
            "name": "ci",
            "created_at": iso(ts(3, 4, 9, 31)),
            "started_at": iso(ts(3, 4, 9, 35)),
            "finished_at": iso(ts(3, 4, 9, 55)),
        },
    ]
    deploys = [
        ("s1", "staging", ts(3, 4, 10), ts(3, 4, 10, 10)),
        ("p1", "production", ts(3, 5, 14, 5), ts(3, 5, 14, 25)),
    ]
    for ident, environment, started, finished in deploys:
        extra: dict[str, Any] = {"started_at": iso(started)}
        if deploy_pipelines:
            run_id = f"deploy-{environment}-1"
            events.append(
                pipeline
                | {
                    "id": run_id,
                    "name": f"deploy-{environment}",
                    "started_at": iso(started),
                    "finished_at": iso(finished),
                }
            )
            extra["pipeline_run"] = run_id
        if gated and environment == "production":
            extra |= {"approved_at": iso(ts(3, 5, 14)), "approved_by": "release-manager"}
        events.append(deployment(ident, "m1", finished, environment=environment, **extra))
    record(events)


@pytest.mark.parametrize(
    ("deploy_pipelines", "squash"),
    [(True, False), (False, False), (True, True)],
    ids=["pipelines", "deployments", "squash-merged"],
)
def test_worked_example_7_2_value_stream_from_the_first_commit(
    deploy_pipelines: bool, squash: bool
) -> None:
    # Deploy run intervals count as process time whether a pipeline run or only the deployment
    # event (started_at -> finished_at) records them. A squash-merged change is the same
    # history: its CI ran on the squash commit, and that run is process time too.
    value_stream_timeline(deploy_pipelines=deploy_pipelines, squash=squash)

    stream = metrics(V_SINCE, V_UNTIL, service="shop")["value_stream"]

    # Stages from the events CONTRACT §1 carries (E2 first commit .. E10 production arrival):
    # coding Mon 13:00 -> Tue 10:00 = 21 h; pickup Tue 10:00 -> 15:00 = 5 h; review Tue 15:00 ->
    # Wed 09:30 = 18 h 30 m; build 09:30 -> CI finished 09:55 = 25 m; staging 09:55 -> live
    # 10:10 = 15 m. No production-approval event (E9) exists, so the approval stage is skipped
    # and its 27 h 50 m fall in the production stage: Wed 10:10 -> Thu 14:25 = 28 h 15 m
    # (= the document's approval 27 h 50 m + prod deploy 25 m).
    stages = {s["name"]: s for s in stream["stages"]}
    assert {name: s["p50_seconds"] for name, s in stages.items()} == {
        "coding": 21 * HOUR,
        "pickup": 5 * HOUR,
        "review": 18.5 * HOUR,
        "build": 25 * MIN,
        "deploy:staging": 15 * MIN,
        "production": 28 * HOUR + 15 * MIN,
        # E10 -> E11 (full-estate arrival), not in the document's table: production has one
        # target, so the change reached the whole estate when it went live: 0 s.
        "rollout": 0.0,
    }
    assert all(s["n"] == 1 for s in stages.values())
    # Process time: coding's business hours Mon 13-17 (4 h) + Tue 09-10 (1 h) = 300 min; build
    # 20 min (09:35-09:55); staging 10 min; production 20 min: 350 min. Elapsed E2 -> E10 =
    # Mon 13:00 -> Thu 14:25 = 73 h 25 m = 4,405 min (the document's CLT). 350 / 4405 = 7.9%:
    # the document's 7.5% divides by E0 -> E10, which needs the issue (the test below).
    assert stream["flow_efficiency"] == pytest.approx(350 / 4405)
    rows = {row["stage"]: row for row in items("value_stream", V_SINCE, V_UNTIL, service="shop")}
    assert {name: row["process_seconds"] for name, row in rows.items()} == {
        "coding": 300 * MIN,
        "pickup": 0.0,
        "review": 0.0,
        "build": 20 * MIN,
        "deploy:staging": 10 * MIN,
        "production": 20 * MIN,
        "rollout": 0.0,
    }
    # Wait = elapsed - process: the production stage waits 28 h 15 m - 20 m = 27 h 55 m, the
    # largest share of the elapsed time (the document's bottleneck is that approval wait).
    assert rows["production"]["wait_seconds"] == 27 * HOUR + 55 * MIN


def test_worked_example_7_2_backlog_approval_and_flow_efficiency() -> None:
    # The change names its issue (issue_created_at, E0) and the production deployment its
    # approval (approved_at, E9): CONTRACT §1's optional fields, added for this.
    value_stream_timeline(gated=True)

    stream = metrics(V_SINCE, V_UNTIL, service="shop")["value_stream"]

    stages = {s["name"]: s["p50_seconds"] for s in stream["stages"]}
    # Backlog: issue Mon 09:00 -> first commit Mon 13:00 = 4 h; approval Wed 10:10 -> Thu 14:00
    # = 27 h 50 m; prod deploy 14:00 -> 14:25 = 25 m. Flow efficiency: 350 min process over
    # E0 -> E10 = Mon 09:00 -> Thu 14:25 = 77 h 25 m = 4,645 min: 7.5% (rounded to 0.1%).
    assert stages["backlog"] == 4 * HOUR
    assert stages["approval"] == 27 * HOUR + 50 * MIN
    assert stages["production"] == 25 * MIN
    assert round(stream["flow_efficiency"], 3) == 0.075
    assert stream["flow_efficiency"] == pytest.approx(350 / 4645)
    # The stages between are those of the test above; the approval wait is the largest.
    assert stages["coding"] == 21 * HOUR and stages["deploy:staging"] == 15 * MIN
    assert max(stages, key=lambda name: stages[name] or 0.0) == "approval"


def test_worked_example_7_2_approval_counts_only_on_the_rollout_that_reached_the_tier() -> None:
    # An approval on the staging deployment is not production's (E9): the approval stage is
    # skipped and its time stays in the production stage, as without any approval.
    value_stream_timeline()
    staging = deployment("s1", "m1", ts(3, 4, 10, 10), environment="staging")
    record([staging | {"started_at": iso(ts(3, 4, 10)), "approved_at": iso(ts(3, 4, 9, 58))}])

    stages = {
        s["name"]: s["p50_seconds"]
        for s in metrics(V_SINCE, V_UNTIL, service="shop")["value_stream"]["stages"]
    }
    assert "approval" not in stages and "backlog" not in stages
    assert stages["production"] == 28 * HOUR + 15 * MIN
