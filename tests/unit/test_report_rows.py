"""summary_rows: the words of `manage.py metrics`' table: durations for people, one version."""

from __future__ import annotations

from typing import Any

import pytest

from dora.reads.report_items import summary_rows

H = 3600


def report(*, versions: list[int], lead_time: float | None) -> dict[str, Any]:
    duration = {"p50_seconds": lead_time, "n": 3, "level": None}
    return {
        "deployment_frequency": {"per_week": 1.0, "rollouts": 12, "level": None},
        "lead_time": duration,
        "merge_to_production": duration,
        "recovery_time": duration,
        "time_to_restore": duration,
        "change_failure_rate": {"rate": 0.1, "rollouts": 10, "level": None},
        "deploy_failure_rate": {"rate": 0.0, "attempts": 10},
        "rework_rate": {"rate": 0.0, "rollouts": 10},
        "lead_time_all_targets": duration,
        "rollout_lag": duration,
        "version_spread": [{"versions": v} for v in versions],
        "automation_lag": {"p50_seconds": None, "instances": []},
        "value_stream": {"flow_efficiency": 0.5, "stages": [{"n": 3}]},
        "level": None,
        "percentile": None,
    }


@pytest.mark.parametrize(
    ("versions", "text"), [([1, 1], "max 1 version"), ([1, 3], "max 3 versions"), ([], "-")]
)
def test_summary_rows_version_spread_says_one_version(versions: list[int], text: str) -> None:
    rows = {r["figure"]: r for r in summary_rows(report(versions=versions, lead_time=H))}
    assert rows["version_spread"]["value_text"] == text


def test_summary_rows_durations_switch_to_days_above_48_hours() -> None:
    rows = {r["figure"]: r for r in summary_rows(report(versions=[], lead_time=49 * H))}
    assert rows["lead_time"]["value_text"] == "2.0 days"  # 49 / 24 = 2.04
    rows = {r["figure"]: r for r in summary_rows(report(versions=[], lead_time=47 * H))}
    assert rows["lead_time"]["value_text"] == "47 h"
    assert rows["automation_lag"]["value_text"] == "-"  # none: the table's dash
