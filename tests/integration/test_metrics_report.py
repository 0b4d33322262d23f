"""`manage.py metrics` and GET /api/v1/metrics[/<name>/items] on small timelines built through the
event intake, checked against figures computed by hand from METRICS.md (arithmetic in comments)."""

from __future__ import annotations

import io
import json
import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from dora.intake.events import events_record
from dora.models import ApiToken, Service, Team
from tests.builders import change, commit, deployment, incident, when

pytestmark = pytest.mark.django_db

HOUR = 3600.0
# Window: Sunday 2026-03-01 09:00 UTC to Monday 2026-03-09 09:00 UTC (8 days, T0 = Mon 03-02 09:00).
SINCE = when(days=-1).isoformat()
UNTIL = when(days=7).isoformat()
WINDOW = ["--since", SINCE, "--until", UNTIL]
Z95 = 1.959963984540054


def record(events: list[dict[str, Any]]) -> None:
    report = events_record(events)
    assert report.counts["rejected"] == 0, [i.reason for i in report.items if i.reason]


def metrics(*args: str) -> dict[str, Any]:
    out = io.StringIO()
    call_command("metrics", "--format", "json", *args, stdout=out)
    return json.loads(out.getvalue())


def client_with(scope: str | None) -> APIClient:
    client = APIClient()
    if scope:
        _, raw = ApiToken.issue(name=f"test-{scope}", scope=scope)
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


def api(path: str, params: dict[str, Any], scope: str | None = "read") -> tuple[int, Any]:
    response = client_with(scope).get(f"/api/v1/{path}", params)
    return response.status_code, response.json()


def wilson(k: int, n: int) -> list[float]:
    """Wilson 95% interval, written out from its formula."""
    p = k / n
    denominator = 1 + Z95**2 / n
    center = (p + Z95**2 / (2 * n)) / denominator
    half = Z95 * math.sqrt(p * (1 - p) / n + Z95**2 / (4 * n * n)) / denominator
    return [center - half, center + half]


def shop_timeline() -> None:
    """One service, hours after T0 (Mon 2026-03-02 09:00 UTC):

    -100 c0 authored; -96 d0 ships c0 (first rollout: unattributed, before the window)
       0 c1 authored (PR 1: opened 1, merged 2); 5 d1 ships c1            -> rollout r1
      10 c2 authored (PR 2: opened 11, merged 12); 20 d2 ships c2         -> r2
      22 d3 ships c1 again: a rollback, which marks r2 failed, restored at 22
      30 c3 authored (PR 3: opened 31, merged 32); 50 d4 ships c3         -> r4
      51 incident caused by d4, mitigated at 53: r4 failed, restored at 53
    """
    record(
        [
            commit("c0", hours=-100),
            commit("c1", ["c0"], hours=0),
            commit("c2", ["c1"], hours=10),
            commit("c3", ["c2"], hours=30),
            change(1, ["c1"], created=1, merged=2, merge="c1", title="one"),
            change(2, ["c2"], created=11, merged=12, merge="c2", title="two"),
            change(3, ["c3"], created=31, merged=32, merge="c3", title="three"),
            deployment("d0", "c0", hours=-96),
            deployment("d1", "c1", hours=5),
            deployment("d2", "c2", hours=20),
            deployment("d3", "c1", hours=22),
            deployment("d4", "c3", hours=50),
            incident(
                "i1",
                hours=51,
                mitigated_at=when(53).isoformat(),
                caused_by={"deployment": "d4"},
            ),
        ]
    )


def test_metrics_one_service_end_to_end() -> None:
    shop_timeline()

    report = metrics("--service", "shop", *WINDOW)

    assert report["definitions_version"] == "2"
    assert report["window"] == {"since": "2026-03-01T09:00:00Z", "until": "2026-03-09T09:00:00Z"}
    assert report["benchmark"] == "2025"  # the default (METRICS §3.6)
    assert report["scope"]["services"] == ["shop"] and report["scope"]["team"] is None

    freq = report["deployment_frequency"]
    # Counted: r1, r2, r4 (change rollouts live in the window); the rollback d3 is not.
    assert freq["rollouts"] == 3
    assert freq["per_day"] == pytest.approx(3 / 8)  # 8-day window
    assert freq["per_week"] == pytest.approx(3 / (8 / 7))
    # One ISO week at least half inside the window (Mon 03-02); deploy days Mon, Tue, Wed = 3.
    assert freq["deploy_days_per_week"] == 3
    # Gaps placed by the later rollout: r1 - r0 = 5 + 96 = 101 h, r2 - r1 = 15 h,
    # r4 - r2 = 30 h: median 30 h.
    assert freq["median_gap_seconds"] == 30 * HOUR
    # >= 3 deploy days a week, 1 rollout per deploy day (< 2): F5. First rollout 4 days
    # before the window: under 8 weeks of history, so no level.
    assert freq["category"] == "F5" and freq["level"] is None

    lead = report["lead_time"]
    # arrival - start: PR1 5 - 0 = 5 h, PR2 20 - 10 = 10 h, PR3 50 - 30 = 20 h.
    assert lead["n"] == 3
    assert lead["p50_seconds"] == 10 * HOUR
    # Linear interpolation on [5, 10, 20] h: p75 at rank 1.5 = 10 + 0.5 * 10 = 15 h;
    # p90 at rank 1.8 = 10 + 0.8 * 10 = 18 h.
    assert lead["p75_seconds"] == pytest.approx(15 * HOUR)
    assert lead["p90_seconds"] == pytest.approx(18 * HOUR)
    assert lead["median_ci95_seconds"] is None  # n < 6
    assert lead["category"] == "D5" and lead["level"] is None  # < 1 day; n < 10
    assert lead["invalid"] == 0 and lead["unattributed"] == 0
    # arrival - merged: 5 - 2 = 3 h, 20 - 12 = 8 h, 50 - 32 = 18 h.
    assert report["merge_to_production"]["n"] == 3
    assert report["merge_to_production"]["p50_seconds"] == 8 * HOUR

    cfr = report["change_failure_rate"]
    # r2 (rolled back) and r4 (incident caused by d4) of r1, r2, r4.
    assert (cfr["failed"], cfr["confirmed"], cfr["inferred"], cfr["rollouts"]) == (2, 2, 0, 3)
    assert cfr["rate"] == pytest.approx(2 / 3)
    assert cfr["ci95"] == pytest.approx(wilson(2, 3))
    assert cfr["provisional"] is False  # the window ended long before now
    assert cfr["level"] is None  # fewer than 20 rollouts

    recovery = report["recovery_time"]
    # r2: rollback live at 22 - 20 = 2 h; r4: incident mitigated at 53 - 50 = 3 h.
    assert recovery["n"] == 2 and recovery["unrestored"] == 0
    assert recovery["p50_seconds"] == pytest.approx(2.5 * HOUR)
    assert recovery["category"] == "D5" and recovery["level"] is None  # < 5 restored
    # The incident: opened 51 h, mitigated 53 h.
    assert report["time_to_restore"]["n"] == 1
    assert report["time_to_restore"]["p50_seconds"] == 2 * HOUR

    # Rework: the rollback among r1, r2, r3 (rollback), r4.
    assert report["rework_rate"]["rework"] == 1 and report["rework_rate"]["rollouts"] == 4
    assert report["rework_rate"]["rate"] == pytest.approx(1 / 4)
    # Deployment attempts in the window: d1..d4, none failed.
    assert report["deploy_failure_rate"] == {"failed": 0, "attempts": 4, "rate": 0.0}
    assert report["level"] is None  # no figure earned a badge
    # Nor a 2025 placement (the same minimums); the scores are shown all the same: D5 -> 8,
    # F5 -> 8, CFR 2/3 -> 10 - 66.67/10 = 3.33, recovery D5 -> 8, rework 1/4 -> 7.5.
    assert report["percentile"] is None and report["placement"]["overall"] is None
    assert (lead["score"], freq["score"], recovery["score"]) == (8.0, 8.0, 8.0)
    assert cfr["score"] == pytest.approx(10 - (2 / 3 * 100) / 10, abs=1e-4)
    assert report["rework_rate"]["score"] == 7.5
    assert {lead["percentile"], freq["percentile"], cfr["percentile"]} == {None}

    # The API answers the same figures for the same parameters.
    status, body = api("metrics", {"service": "shop", "since": SINCE, "until": UNTIL})
    assert status == 200
    assert body == report


def team_timeline() -> None:
    """alpha and beta belong to team payments, gamma to nobody. Each service's first rollout is
    at -48 h (before the window, unattributed); then direct pushes, timed from author time:
    alpha 1 h, 2 h, 3 h; beta 20 h; gamma 100 h."""
    team = Team.objects.create(name="payments", timezone="UTC")
    for name, owner in (("alpha", team), ("beta", team), ("gamma", None)):
        Service.objects.create(name=name, team=owner, repos=[f"acme/{name}"])
    events: list[dict[str, Any]] = []
    plans = {"alpha": [(0, 1), (2, 4), (5, 8)], "beta": [(0, 20)], "gamma": [(0, 100)]}
    for name, pushes in plans.items():
        repo = f"acme/{name}"
        events += [
            commit(f"{name}0", hours=-50, repo=repo),
            deployment(f"{name}-d0", f"{name}0", hours=-48, service=name, repo=repo),
        ]
        parent = f"{name}0"
        for i, (authored, deployed) in enumerate(pushes, start=1):
            events += [
                commit(f"{name}{i}", [parent], hours=authored, repo=repo),
                deployment(f"{name}-d{i}", f"{name}{i}", hours=deployed, service=name, repo=repo),
            ]
            parent = f"{name}{i}"
    record(events)


def test_metrics_team_scope_pools_items_not_medians() -> None:
    team_timeline()

    team = metrics("--team", "payments", *WINDOW)["lead_time"]
    # alpha: 1 - 0 = 1 h, 4 - 2 = 2 h, 8 - 5 = 3 h; beta: 20 - 0 = 20 h.
    # Pooled [1, 2, 3, 20] h: median (2 + 3) / 2 = 2.5 h. The median of the service medians
    # (2 h and 20 h) would be 11 h.
    assert team["n"] == 4
    assert team["p50_seconds"] == 2.5 * HOUR
    assert team["p50_seconds"] != (2 * HOUR + 20 * HOUR) / 2
    services = metrics("--service", "alpha", "--service", "beta", *WINDOW)["lead_time"]
    assert services == team
    # The organisation adds gamma's 100 h: [1, 2, 3, 20, 100] h, median 3 h.
    org = metrics(*WINDOW)
    assert org["lead_time"]["n"] == 5 and org["lead_time"]["p50_seconds"] == 3 * HOUR
    assert org["scope"]["services"] == [] and org["scope"]["team"] is None
    # Team frequency pools rollouts: 3 + 1 in the window.
    assert metrics("--team", "payments", *WINDOW)["deployment_frequency"]["rollouts"] == 4


def test_metrics_empty_scope_gives_zero_counts_and_nulls() -> None:
    Service.objects.create(name="idle")

    for report in (metrics("--service", "idle", *WINDOW), metrics(*WINDOW)):
        for key in (
            "lead_time",
            "merge_to_production",
            "recovery_time",
            "time_to_restore",
            "lead_time_all_targets",
            "rollout_lag",
        ):
            assert report[key]["n"] == 0, key
            assert report[key]["p50_seconds"] is None, key
            assert report[key]["median_ci95_seconds"] is None, key
            assert report[key]["level"] is None, key
        freq = report["deployment_frequency"]
        assert freq["rollouts"] == 0 and freq["category"] is None and freq["level"] is None
        assert freq["median_gap_seconds"] is None
        cfr = report["change_failure_rate"]
        assert (cfr["rollouts"], cfr["rate"], cfr["ci95"]) == (0, None, None)
        assert report["deploy_failure_rate"] == {"failed": 0, "attempts": 0, "rate": None}
        assert report["rework_rate"]["rate"] is None
        assert report["version_spread"] == []
        assert report["automation_lag"]["instances"] == []
        assert report["automation_lag"]["p50_seconds"] is None
        assert report["value_stream"] == {"stages": [], "flow_efficiency": None}
        assert report["level"] is None


def test_metric_items_list_the_changes_behind_lead_time() -> None:
    shop_timeline()
    params = {"service": "shop", "since": SINCE, "until": UNTIL}

    status, body = api("metrics/lead_time/items", params)

    assert status == 200 and body["count"] == 3
    rows = {row["change"]: row for row in body["results"]}
    assert set(rows) == {"acme/shop#1", "acme/shop#2", "acme/shop#3"}
    one = rows["acme/shop#1"]
    assert one["title"] == "one" and one["service"] == "shop"
    assert (one["start"], one["merged_at"], one["arrival"]) == (
        "2026-03-02T09:00:00Z",  # c1 authored at T0
        "2026-03-02T11:00:00Z",  # merged at 2 h
        "2026-03-02T14:00:00Z",  # d1 live at 5 h
    )
    # Seconds: 5 h, 10 h, 20 h (see the end-to-end test).
    assert [rows[f"acme/shop#{n}"]["lead_time_seconds"] for n in (1, 2, 3)] == [
        5 * HOUR,
        10 * HOUR,
        20 * HOUR,
    ]

    status, page = api("metrics/lead_time/items", {**params, "page_size": 2})
    assert status == 200 and page["count"] == 3 and len(page["results"]) == 2
    assert page["next"] is not None

    # The failed rollouts say why.
    status, body = api("metrics/change_failure_rate/items", params)
    why = {row["first_live_at"]: row["causes"] for row in body["results"] if row["failed"]}
    assert why == {"2026-03-03T05:00:00Z": "rollback", "2026-03-04T11:00:00Z": "incident"}


def test_metric_items_unknown_name_is_404_with_the_valid_names() -> None:
    status, body = api("metrics/bogus/items", {})
    assert status == 404
    assert "lead_time" in body["names"] and "change_failure_rate" in body["names"]


def test_metrics_api_needs_a_read_token_or_a_session() -> None:
    assert client_with(None).get("/api/v1/metrics").status_code == 401
    assert client_with("ingest").get("/api/v1/metrics").status_code == 403
    assert client_with("ingest").get("/api/v1/metrics/lead_time/items").status_code == 403
    assert client_with("read").get("/api/v1/metrics").status_code == 200
    assert client_with("read").get("/api/v1/metrics/lead_time/items").status_code == 200
    session = APIClient()
    session.force_login(get_user_model().objects.create_user("reader", password="x"))
    assert session.get("/api/v1/metrics").status_code == 403  # no team: not the organisation
    staff = APIClient()
    staff.force_login(get_user_model().objects.create_user("boss", password="x", is_staff=True))
    assert staff.get("/api/v1/metrics").status_code == 200


def test_metrics_api_sessions_see_only_their_teams() -> None:
    team_timeline()
    Team.objects.filter(name="payments").update(members=["alice"])
    Team.objects.create(name="search", members=["bob"])
    alice = APIClient()
    alice.force_login(get_user_model().objects.create_user("alice", password="x"))

    assert alice.get("/api/v1/metrics", {"team": "payments"}).status_code == 200
    assert alice.get("/api/v1/metrics/lead_time/items", {"team": "payments"}).status_code == 200
    denied = alice.get("/api/v1/metrics", {"team": "search"})
    assert denied.status_code == 403
    assert "your own teams" in denied.json()["detail"]
    assert alice.get("/api/v1/metrics/lead_time/items", {"team": "search"}).status_code == 403
    assert alice.get("/api/v1/metrics").status_code == 403
    assert alice.get("/api/v1/metrics", {"service": "alpha"}).status_code == 200
    assert alice.get("/api/v1/metrics", {"service": ["alpha", "gamma"]}).status_code == 403
    assert client_with("read").get("/api/v1/metrics", {"team": "search"}).status_code == 200


@pytest.mark.parametrize(
    ("params", "parameter", "message"),
    [
        ({"since": "2026-03-02T10:00"}, "since", "has no time zone"),
        ({"until": "yesterday"}, "until", "is not an ISO date or timestamp"),
        ({"since": "2026-03-05", "until": "2026-03-01"}, "since", "must be before until"),
        ({"service": "nope"}, "service", "unknown service: nope"),
        ({"team": "nope"}, "team", "unknown team: nope"),
        ({"benchmark": "2020"}, "benchmark", "must be one of 2021, 2022, 2023, 2024"),
    ],
)
def test_metrics_bad_parameters_are_400_and_command_errors(
    params: dict[str, str], parameter: str, message: str
) -> None:
    status, body = api("metrics", params)
    assert status == 400
    assert body["parameter"] == parameter and message in body["detail"]
    status, body = api("metrics/lead_time/items", params)
    assert status == 400 and body["parameter"] == parameter

    args = [item for key, value in params.items() for item in (f"--{key}", value)]
    with pytest.raises(CommandError, match=f"--{parameter}: .*{message}"):
        metrics(*args)


def test_metrics_table_and_csv_list_every_figure() -> None:
    shop_timeline()
    out = io.StringIO()
    call_command("metrics", "--service", "shop", *WINDOW, "--benchmark", "2024", stdout=out)
    table = out.getvalue()
    assert "figure" in table and "level" in table
    assert "lead_time" in table and "10 h" in table  # p50 10 h (whole hours from 10), n 3

    out = io.StringIO()
    call_command("metrics", "--service", "shop", *WINDOW, "--format", "csv", stdout=out)
    lines = out.getvalue().splitlines()
    # Added: the 2025 percentile column (empty below the badge minimum), the definitions version.
    assert lines[0] == "figure,value,n,level,percentile,definitions_version"
    assert "lead_time,36000.0,3,,,2" in lines  # no level nor percentile below the minimum; v2


def test_metrics_default_window_is_the_last_12_complete_weeks() -> None:
    # CONTRACT §3's "12 weeks before now" under the window rule (dora.window): whole ISO weeks in
    # the scope's time zone (the organisation's, UTC), ending at the Monday 00:00 that starts the
    # current week. (The pages default to 4 weeks; `range=4w` asks the API for the same.)
    before = datetime.now(UTC)
    report = metrics()
    since = datetime.fromisoformat(report["window"]["since"].replace("Z", "+00:00"))
    until = datetime.fromisoformat(report["window"]["until"].replace("Z", "+00:00"))
    assert until - since == timedelta(weeks=12)
    assert until.weekday() == 0 and (until.hour, until.minute, until.second) == (0, 0, 0)
    assert timedelta(0) <= before - until < timedelta(weeks=1)
    # An explicit until keeps the 12 weeks before it (CONTRACT §3).
    explicit = metrics("--until", "2026-03-02T00:00:00Z")["window"]
    assert explicit == {"since": "2025-12-08T00:00:00Z", "until": "2026-03-02T00:00:00Z"}


def test_metrics_openapi_schema_documents_the_endpoints() -> None:
    response = client_with("read").get("/api/schema/", {"format": "json"})
    paths = json.loads(response.content)["paths"]
    assert "/api/v1/metrics" in paths and "/api/v1/metrics/{name}/items" in paths
    names = {p["name"] for p in paths["/api/v1/metrics"]["get"]["parameters"]}
    assert {"service", "team", "since", "until", "benchmark"} <= names


def report_queries() -> int:
    with CaptureQueriesContext(connection) as captured:
        metrics(*WINDOW)
    return len(captured)


def test_metrics_read_a_fixed_number_of_queries_however_many_rows() -> None:
    shop_timeline()
    few = report_queries()
    team_timeline()  # three more services, seven more rollouts, five more changes

    assert report_queries() == few


def test_metrics_kind_filter_keeps_services_of_that_kind() -> None:
    team_timeline()
    Service.objects.filter(name="gamma").update(kind="infra")

    # gamma alone is infra: its one change, 100 h; the app services keep [1, 2, 3, 20] h.
    infra = metrics("--kind", "infra", *WINDOW)["lead_time"]
    assert (infra["n"], infra["p50_seconds"]) == (1, 100 * HOUR)
    app = metrics("--kind", "app", *WINDOW)["lead_time"]
    assert (app["n"], app["p50_seconds"]) == (4, 2.5 * HOUR)
