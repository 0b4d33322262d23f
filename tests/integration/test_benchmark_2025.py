"""The 2025 benchmark (METRICS §3.6) through the public entry points: `manage.py metrics`, the
API, `apply_config` and the overview page. Percentiles are worked out by hand from the means and
standard deviations of the SYNTHETIC Quick Check file tests/settings.py points at
(tests/fixtures/quick_check_2025_synthetic.json, made-up round numbers); DORA's published file is
not needed. Without any file, 2025 is unavailable: the default is 2024 and asking for 2025 is a
clear error."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import Group, User
from django.core.management import CommandError, call_command
from django.test import Client
from rest_framework.test import APIClient

from dora import benchmarks
from dora.config import ConfigError, config_apply, config_load
from dora.intake.events import events_record
from dora.models import ApiToken, OrganisationSettings, Team
from dora.web.access import LEADERSHIP_GROUP
from tests.builders import commit, deployment, when

pytestmark = pytest.mark.django_db

HOUR = 3600.0
# Window: Mon 2026-03-02 09:00 UTC (T0) to Mon 2026-03-30 09:00 UTC, four ISO weeks.
SINCE = when(0).isoformat()
UNTIL = when(days=28).isoformat()
WINDOW = ["--since", SINCE, "--until", UNTIL]


def shown(percentile: float) -> int:
    """A placement as pages write it: a whole percent, at most 99 (never "better than 100%")."""
    return min(round(percentile), 99)


def phi(z: float) -> float:
    """Φ(z) written out: ½(1 + erf(z/√2))."""
    return 0.5 * (1 + math.erf(z / math.sqrt(2)))


def pct(z: float) -> float:
    """The report's percentile: 100·Φ(z), rounded to 0.1."""
    return round(100 * phi(z), 1)


def daily_timeline() -> None:
    """shop: first rollout d0 60 days before T0 (over 8 weeks of history: the frequency badge);
    then 20 direct pushes, one a day from T0 (Mar 2 .. Mar 21), each authored at 09:00 and live
    at 11:00: 20 changes of 2 h lead time, 20 change rollouts, no failure, no rework."""
    events = [commit("c0", hours=-1442), deployment("d0", "c0", hours=-1440)]
    parent = "c0"
    for day in range(20):
        name = f"c{day + 1}"
        events += [
            commit(name, [parent], hours=24 * day),
            deployment(f"d{day + 1}", name, hours=24 * day + 2),
        ]
        parent = name
    report = events_record(events)
    assert report.counts["rejected"] == 0, [i.reason for i in report.items if i.reason]


def leader_client() -> Client:
    """A browser session of a member of the leadership group."""
    user = User.objects.create_user("lead", password="pw")
    user.groups.add(Group.objects.get_or_create(name=LEADERSHIP_GROUP)[0])
    client = Client()
    client.force_login(user)
    return client


def metrics(*args: str) -> dict[str, Any]:
    out = io.StringIO()
    call_command("metrics", "--format", "json", *args, stdout=out)
    return json.loads(out.getvalue())


def api(params: dict[str, Any]) -> tuple[int, Any]:
    _, raw = ApiToken.issue(name="test-read", scope="read")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    response = client.get("/api/v1/metrics", params)
    return response.status_code, response.json()


# The figures of daily_timeline and their Quick Check scores:
# lead time p50 2 h -> D5 -> (5 - 1)·2 = 8;
# frequency: deploy days per ISO week [7, 7, 6, 0], median 6.5 >= 3, 1 rollout per deploy day
#   (< 2) -> F5 -> 8;
# CFR 0/20 -> 10 - 0/10 = 10; rework 0/20 -> 10; recovery: no restored failure (withheld).
# Synthetic "all" (mean, std): leadtime 5.0, 2.0; deployfreq 4.0, 2.0; failurerecovery 7.0, 2.0;
# changefailure 2.0, 2.0 (instability scale: reference 10 - 2 = 8); rework 2.0, 4.0 (reference
# 8); performance average: Quick Check's mean of the five turned means (5 + 4 + 7 + 8 + 8) / 5 =
# 6.4, std 1.0 (the file's own mean 4.0 is not used); throughput 7.0, 4.0; instability 3.0, 4.0
# (as stability: 7).
ALL_LEAD = pct((8 - 5.0) / 2.0)  # z 1.5 -> 93.3
ALL_FREQ = pct((8 - 4.0) / 2.0)  # z 2.0 -> 97.7
ALL_CFR = pct((10 - 8.0) / 2.0)  # z 1.0 -> 84.1
ALL_REWORK = pct((10 - 8.0) / 4.0)  # z 0.5 -> 69.1
ALL_OVERALL = pct(((8 + 8 + 10 + 10) / 4 - 6.4) / 1.0)  # score 9, z 2.6 -> 99.5
ALL_THROUGHPUT = pct(((8 + 8) / 2 - 7.0) / 4.0)  # z 0.25 -> 59.9
ALL_INSTABILITY = pct((10 - (10 - 3.0)) / 4.0)  # z 0.75 -> 77.3
ALL_NAME = "All industries (synthetic)"


def test_metrics_default_benchmark_is_2025_with_percentiles() -> None:
    daily_timeline()

    report = metrics("--service", "shop", *WINDOW)

    assert report["benchmark"] == "2025"
    lead = report["lead_time"]
    assert (lead["n"], lead["p50_seconds"], lead["category"]) == (20, 2 * HOUR, "D5")
    assert (lead["score"], lead["percentile"], lead["group"]) == (8.0, ALL_LEAD, "throughput")
    assert lead["level"] is None  # 2025 has no tiers
    freq = report["deployment_frequency"]
    assert (freq["category"], freq["score"], freq["percentile"]) == ("F5", 8.0, ALL_FREQ)
    cfr = report["change_failure_rate"]
    assert (cfr["rollouts"], cfr["rate"], cfr["percentile"]) == (20, 0.0, ALL_CFR)
    assert cfr["group"] == "instability"
    rework = report["rework_rate"]
    assert (rework["rollouts"], rework["rate"], rework["percentile"]) == (20, 0.0, ALL_REWORK)
    recovery = report["recovery_time"]
    # Nothing to recover from: no score, no placement, below the badge minimum of 5.
    assert (recovery["n"], recovery["percentile"], recovery["group"]) == (0, None, "throughput")

    assert report["level"] is None and report["percentile"] == ALL_OVERALL
    placement = report["placement"]
    assert placement["industry"] == "all" and placement["industry_name"] == ALL_NAME
    assert placement["overall"]["score"] == 9.0
    assert placement["overall"]["metrics"] == [
        "lead_time",
        "deployment_frequency",
        "change_failure_rate",
        "rework_rate",
    ]
    assert round(placement["groups"]["throughput"]["percentile"], 1) == ALL_THROUGHPUT
    assert round(placement["groups"]["instability"]["percentile"], 1) == ALL_INSTABILITY
    assert report["groups"] == {
        "throughput": ["lead_time", "deployment_frequency", "recovery_time"],
        "instability": ["change_failure_rate", "rework_rate"],
    }

    # The API answers the same, and its default is 2025 too.
    status, body = api({"service": "shop", "since": SINCE, "until": UNTIL})
    assert status == 200 and body == report


def test_metrics_tier_years_keep_their_levels() -> None:
    daily_timeline()

    report = metrics("--service", "shop", *WINDOW, "--benchmark", "2024")

    assert report["benchmark"] == "2024"
    # 2024: lead time D5 meets elite (D5); CFR 0% <= 5% elite; frequency F5 meets high (F4), not
    # elite (F6). Overall, Quick Check scores (frequency 8, lead 8, CFR 10) against elite
    # (10, 8, 9.5): 2² + 0 + 0.5² = 4.25; high (6, 6, 8): 2² + 2² + 2² = 12 -> elite.
    assert report["lead_time"]["level"] == "elite"
    assert report["change_failure_rate"]["level"] == "elite"
    assert report["deployment_frequency"]["level"] == "high"
    assert report["level"] == "elite"
    # No placement for a tier year; the score is shown whatever the year.
    assert report["lead_time"]["percentile"] is None and report["lead_time"]["score"] == 8.0
    assert report["percentile"] is None and report["placement"] is None

    status, body = api({"service": "shop", "since": SINCE, "until": UNTIL, "benchmark": "2023"})
    assert status == 200 and body["benchmark"] == "2023" and body["level"] is not None


def test_industry_comes_from_the_team_then_the_organisation(tmp_path: Path) -> None:
    daily_timeline()
    config = tmp_path / "dora.yml"
    config.write_text(
        "organisation:\n"
        "  industry: financial_services\n"
        "teams:\n"
        "  - name: payments\n"
        "    industry: technology\n"
        "services:\n"
        "  - name: shop\n"
        "    team: payments\n"
        "    repos: [acme/shop]\n"
    )
    call_command("apply_config", str(config), stdout=io.StringIO())
    assert Team.objects.get(name="payments").industry == "technology"
    assert OrganisationSettings.objects.get().industry == "financial_services"

    # Technology lead time 6.0 ± 2.0: z = (8 - 6) / 2 = 1.0 -> 84.1.
    team = metrics("--team", "payments", *WINDOW)
    assert team["placement"]["industry"] == "technology"
    assert team["lead_time"]["percentile"] == pct((8 - 6.0) / 2.0) == 84.1
    # A service of that team takes the team's industry.
    assert metrics("--service", "shop", *WINDOW)["placement"]["industry"] == "technology"
    # The organisation: financial services, lead time 4.0 ± 2.0: z = 4 / 2 = 2.0 -> 97.7.
    org = metrics(*WINDOW)
    assert org["placement"]["industry"] == "financial_services"
    assert org["lead_time"]["percentile"] == pct((8 - 4.0) / 2.0) == 97.7
    # A request may name another; energy lead time 5.0 ± 4.0: z = 3 / 4 = 0.75 -> 77.3.
    energy = metrics("--service", "shop", "--industry", "energy", *WINDOW)
    assert energy["lead_time"]["percentile"] == pct((8 - 5.0) / 4.0) == 77.3
    status, body = api({"team": "payments", "since": SINCE, "until": UNTIL})
    assert status == 200 and body["placement"]["industry"] == "technology"

    # Leaving the keys out goes back to the defaults: the organisation's "all".
    config.write_text(
        "organisation: {}\nteams:\n  - name: payments\n"
        "services:\n  - name: shop\n    team: payments\n"
    )
    call_command("apply_config", str(config), stdout=io.StringIO())
    assert metrics("--team", "payments", *WINDOW)["placement"]["industry"] == "all"


def test_unknown_industry_is_refused_with_the_known_ones() -> None:
    with pytest.raises(ConfigError, match=r"dora.yml:3: teams\[0\].industry: 'retail' is not one"):
        config_load("teams:\n  - name: payments\n    industry: retail\n")
    with pytest.raises(ConfigError, match="organisation.industry: 'x' is not one of: all, "):
        config_apply(config_load("organisation:\n  industry: x\n"))
    status, body = api({"industry": "retail"})
    assert status == 400 and body["parameter"] == "industry"
    assert "must be one of all, technology, financial_services, energy" in body["detail"]


def test_metrics_table_and_csv_show_the_percentile() -> None:
    daily_timeline()
    out = io.StringIO()
    call_command("metrics", "--service", "shop", *WINDOW, "--format", "csv", stdout=out)
    lines = out.getvalue().splitlines()
    assert lines[0] == "figure,value,n,level,percentile,definitions_version"
    assert f"lead_time,7200.0,20,,{ALL_LEAD},2" in lines
    assert f"percentile,{ALL_OVERALL},,,{ALL_OVERALL},2" in lines

    out = io.StringIO()
    call_command("metrics", "--service", "shop", *WINDOW, stdout=out)
    table = out.getvalue()
    assert f"benchmark 2025 ({ALL_NAME})" in table and "better than" in table
    assert f"better than about {shown(ALL_OVERALL)}% of 2025 respondents" in table


def test_overview_shows_the_2025_placement_and_tiers_for_earlier_years() -> None:
    daily_timeline()
    client = leader_client()

    page = client.get("/dashboards/", {"since": SINCE, "until": UNTIL})
    assert page.status_code == 200
    html = page.content.decode()
    # The team row (shop has no team) and the organisation: overall better than 99.5%.
    row = page.context["teams"][0]
    assert round(row["placement"]["percentile"], 1) == ALL_OVERALL
    assert f"Better than {shown(ALL_OVERALL)}%" in html
    assert "2025 placement" in html and ">Throughput<" in html and ">Instability<" in html
    # Cells in DORA's order: throughput (lead time, frequency, recovery), then instability.
    assert [cell["figure"].key for cell in row["cells"]] == [
        "lead_time",
        "deployment_frequency",
        "recovery_time",
        "change_failure_rate",
        "rework_rate",
    ]
    badges = {cell["figure"].key: cell["figure"].badge_text for cell in row["cells"]}
    assert badges["lead_time"] == f"Better than {shown(ALL_LEAD)}%"
    assert badges["recovery_time"] == "Insufficient data"  # n = 0 < 5
    assert f"better than about 93% of 2025 respondents ({ALL_NAME})" in html

    page = client.get("/dashboards/", {"since": SINCE, "until": UNTIL, "benchmark": "2024"})
    html = page.content.decode()
    row = page.context["teams"][0]
    assert row["level"] == "elite" and row["placement"] is None
    assert "Services per level" in html and "Better than" not in html
    badges = {cell["figure"].key: cell["figure"].badge_text for cell in row["cells"]}
    assert badges["lead_time"] == "Elite"


@pytest.fixture
def no_quick_check_file(settings: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No published file anywhere the service looks: the setting, the package's data folder and
    the shared folder all point at nothing."""
    settings.DORA_QUICK_CHECK_2025_FILE = str(tmp_path / "configured.json")
    monkeypatch.setattr(benchmarks, "PACKAGE_FILE", tmp_path / "package.json")
    monkeypatch.setattr(benchmarks, "SHARED_FILE", tmp_path / "shared.json")
    return tmp_path


def test_without_the_published_file_2024_is_the_default_and_2025_a_clear_400(
    no_quick_check_file: Path,
) -> None:
    daily_timeline()

    # Default: 2024 tiers (2024: lead time D5 elite, CFR 0% elite, frequency F5 high -> elite).
    report = metrics("--service", "shop", *WINDOW)
    assert report["benchmark"] == "2024"
    assert report["level"] == "elite" and report["placement"] is None
    assert report["lead_time"]["level"] == "elite" and report["lead_time"]["percentile"] is None
    status, body = api({"service": "shop", "since": SINCE, "until": UNTIL})
    assert status == 200 and body == report

    # Asking for 2025: a 400 / command error naming the missing file and where to put it.
    status, body = api({"service": "shop", "since": SINCE, "until": UNTIL, "benchmark": "2025"})
    assert status == 400 and body["parameter"] == "benchmark"
    assert "published Quick Check 2025 industry file" in body["detail"]
    assert "DORA_QUICK_CHECK_2025_FILE" in body["detail"]
    assert str(no_quick_check_file / "package.json") in body["detail"]
    assert str(no_quick_check_file / "shared.json") in body["detail"]
    with pytest.raises(CommandError, match="--benchmark: the 2025 benchmark needs DORA's"):
        metrics("--service", "shop", *WINDOW, "--benchmark", "2025")
    # An industry means nothing without the file: refused the same way.
    status, body = api({"service": "shop", "industry": "technology"})
    assert status == 400 and body["parameter"] == "industry"
    assert "DORA_QUICK_CHECK_2025_FILE" in body["detail"]

    # The overview defaults to the 2024 tiers and offers no 2025 link; 2025 asked for is a 400.
    client = leader_client()
    page = client.get("/dashboards/", {"since": SINCE, "until": UNTIL})
    assert page.status_code == 200
    assert page.context["teams"][0]["level"] == "elite"
    assert [link["year"] for link in page.context["benchmark_links"]] == [2021, 2022, 2023, 2024]
    page = client.get("/dashboards/", {"since": SINCE, "until": UNTIL, "benchmark": "2025"})
    assert page.status_code == 400
    page = client.get("/dashboards/report", {"benchmark": "2025"})
    assert page.status_code == 400

    # A config naming an industry still applies (it cannot be checked without the file).
    config_apply(config_load("organisation:\n  industry: technology\n"))
    assert OrganisationSettings.objects.get().industry == "technology"


def test_the_published_file_is_looked_for_in_order(
    no_quick_check_file: Path, settings: Any
) -> None:
    synthetic = Path(__file__).resolve().parents[1] / "fixtures" / "quick_check_2025_synthetic.json"
    shared = no_quick_check_file / "shared.json"
    shared.write_text(synthetic.read_text())
    assert benchmarks.quick_check_path() == shared and benchmarks.default_benchmark() == 2025
    package = no_quick_check_file / "package.json"
    package.write_text(synthetic.read_text())
    assert benchmarks.quick_check_path() == package
    settings.DORA_QUICK_CHECK_2025_FILE = str(synthetic)
    assert benchmarks.quick_check_path() == synthetic
