"""`manage.py metrics --format json` on the seeded demo estate returns every CONTRACT §4 key."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command

pytestmark = pytest.mark.django_db

NOW = "2026-03-02T12:00:00Z"
DURATION = {
    "n",
    "p50_seconds",
    "p75_seconds",
    "p90_seconds",
    "median_ci95_seconds",
    "category",
    "level",
}
# CONTRACT §4, key by key.
KEYS = {
    "deployment_frequency": {
        "rollouts",
        "per_day",
        "per_week",
        "deploy_days_per_week",
        "median_gap_seconds",
        "category",
        "level",
    },
    "lead_time": DURATION | {"invalid", "unattributed"},
    "merge_to_production": DURATION,
    "change_failure_rate": {
        "failed",
        "confirmed",
        "inferred",
        "rollouts",
        "rate",
        "ci95",
        "provisional",
        "level",
    },
    "deploy_failure_rate": {"failed", "attempts", "rate"},
    "recovery_time": DURATION | {"unrestored"},
    "time_to_restore": DURATION,
    "rework_rate": {"rework", "rollouts", "rate", "ci95"},
    "lead_time_all_targets": DURATION | {"incomplete", "oldest_incomplete_seconds"},
    "rollout_lag": DURATION,
}
SPREAD = {
    "service",
    "environment",
    "targets",
    "versions",
    "versions_behind",
    "oldest_live_age_seconds",
    "share_on_newest",
}
INSTANCE = {"service", "environment", "target", "lag_seconds", "last_success_at", "stale"}


def test_metrics_json_on_the_demo_estate_has_every_contract_key() -> None:
    # Four weeks of demo history keep this test to a few seconds.
    call_command("seed_demo", weeks=4, now=NOW, stdout=io.StringIO(), stderr=io.StringIO())
    out = io.StringIO()
    call_command("metrics", "--format", "json", "--until", NOW, stdout=out)
    report = json.loads(out.getvalue())

    assert report["definitions_version"] == "2"
    # The default benchmark is 2025 (METRICS §3.6): placements, no levels.
    assert set(report["window"]) == {"since", "until"} and report["benchmark"] == "2025"
    assert {"percentile", "placement", "groups"} <= set(report) and report["level"] is None
    assert {"services", "team"} <= set(report["scope"])
    for key, fields in KEYS.items():
        assert fields <= set(report[key]), key
    assert report["version_spread"] and all(set(row) >= SPREAD for row in report["version_spread"])
    lag = report["automation_lag"]
    assert {"instances", "p50_seconds", "p90_seconds", "max_seconds", "stale"} <= set(lag)
    assert lag["instances"] and all(set(i) >= INSTANCE for i in lag["instances"])
    stream = report["value_stream"]
    assert set(stream) >= {"stages", "flow_efficiency"} and stream["stages"]
    assert all({"name", "n", "p50_seconds", "p90_seconds"} <= set(s) for s in stream["stages"])
    assert report["level"] in ("elite", "high", "medium", "low", None)
    # Sensible values on a busy estate: things happened, rates are proportions.
    assert report["deployment_frequency"]["rollouts"] > 0
    assert report["lead_time"]["n"] > 0 and report["lead_time"]["p50_seconds"] > 0
    assert 0 <= report["change_failure_rate"]["rate"] <= 1
    assert report["recovery_time"]["n"] > 0
