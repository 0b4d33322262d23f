"""GET /metrics: Prometheus text from prometheus_client, values on a small estate, who may
scrape, and the Grafana dashboard naming only series the endpoint serves."""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.core.cache import cache
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

from dora.config import config_apply, config_load
from dora.intake.events import events_record
from dora.models import ApiToken, DerivePending, Environment, Service
from dora.prometheus import HEADLINE_KEY, SNAPSHOTS_PREPARED_KEY
from ingest.models import Source

pytestmark = pytest.mark.django_db
DASHBOARD = Path(__file__).resolve().parents[2] / "docs" / "grafana" / "dashboard.json"
NOW = datetime.now(UTC)
ESTATE = """\
teams:
  - name: payments
services:
  - name: shop
    team: payments
    kind: app
environments:
  - name: staging
    tier: staging
    order: 1
  - name: production
    tier: production
    order: 2
"""


def ago(days: float) -> str:
    return (NOW - timedelta(days=days)).isoformat().replace("+00:00", "Z")


def deployment(ident: str, version: str, *, days: float, env: str = "production") -> dict:
    return {
        "type": "deployment",
        "id": ident,
        "service": "shop",
        "environment": env,
        "version": version,
        "status": "success",
        "finished_at": ago(days),
    }


@pytest.fixture
def estate(settings: Any) -> None:
    settings.DORA_METRICS_CACHE_SECONDS = 0
    config_apply(config_load(text=ESTATE))
    # Two production rollouts 8 and 9 days ago: both inside the default window, the last 12
    # complete ISO weeks (the current week began at most 7 days ago).
    report = events_record([deployment("d1", "v1", days=9), deployment("d2", "v2", days=8)])
    assert report.counts["created"] == 2


def scrape_families(**extra: Any) -> list:
    """One scrape, parsed as Prometheus parses it."""
    response = Client().get("/metrics", **extra)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=")
    return list(text_string_to_metric_families(response.content.decode()))


def scrape(**extra: Any) -> dict[str, list]:
    """Sample name -> [(labels, value)] of one scrape."""
    samples: dict[str, list] = {}
    for family in scrape_families(**extra):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append((sample.labels, sample.value))
    return samples


def value(samples: dict[str, list], name: str, **labels: str) -> float:
    found = [v for found_labels, v in samples.get(name, []) if found_labels == labels]
    return found[0] if found else 0.0


def test_metrics_headline_figures_of_a_small_estate(estate: None) -> None:
    samples = scrape()

    shop = {"service": "shop", "team": "payments", "kind": "app"}
    # 2 rollouts over 12 weeks.
    assert value(samples, "dora_deployment_frequency_per_week", **shop) == pytest.approx(2 / 12)
    # Neither rollout failed or was reworked.
    assert value(samples, "dora_change_failure_rate_ratio", **shop) == 0.0
    assert value(samples, "dora_rework_rate_ratio", **shop) == 0.0
    # No commits and no incidents: no lead time or recovery time, so no sample (not a 0).
    assert not samples.get("dora_lead_time_p50_seconds")
    assert not samples.get("dora_recovery_time_p50_seconds")


def test_metrics_headline_figures_are_cached_between_scrapes(estate: None, settings: Any) -> None:
    settings.DORA_METRICS_CACHE_SECONDS = 300
    cache.delete(HEADLINE_KEY)
    shop = {"service": "shop", "team": "payments", "kind": "app"}
    assert value(scrape(), "dora_deployment_frequency_per_week", **shop) == pytest.approx(2 / 12)

    events_record([deployment("d3", "v3", days=10)])

    # Within DORA_METRICS_CACHE_SECONDS the kept figures are served ...
    assert value(scrape(), "dora_deployment_frequency_per_week", **shop) == pytest.approx(2 / 12)
    # ... and computed again once they are gone.
    cache.delete(HEADLINE_KEY)
    assert value(scrape(), "dora_deployment_frequency_per_week", **shop) == pytest.approx(3 / 12)
    cache.delete(HEADLINE_KEY)


TARGETS = """\
targets:
  - {service: shop, figure: deployment_frequency.rollouts, above: 2}
  - {team: payments, figure: deployment_frequency.per_week, above: 1}
  - {service: shop, figure: lead_time.p50_seconds, below: 86400}
"""


def test_metrics_figure_targets_met_value_and_threshold(estate: None) -> None:
    config_apply(config_load(text=ESTATE + TARGETS))

    families = {family.name: family for family in scrape_families()}

    assert {families[n].type for n in ("dora_target_met", "dora_target_value")} == {"gauge"}
    samples = scrape()
    shop = {"team": "payments", "service": "shop", "direction": "above"}
    shop_rollouts = {**shop, "figure": "deployment_frequency.rollouts"}
    team_rate = {
        "team": "payments",
        "service": "",
        "figure": "deployment_frequency.per_week",
        "direction": "above",
    }
    lead = {"team": "payments", "service": "shop", "figure": "lead_time.p50_seconds"}
    lead["direction"] = "below"
    # The two rollouts 8 and 9 days ago are inside the default 28-day window: 2 >= 2 is met;
    # 2 in 4 weeks = 0.5 a week, under 1: missed.
    # Team targets first, then each service's by figure.
    assert samples["dora_target_met"] == [(team_rate, 0.0), (shop_rollouts, 1.0)]
    assert value(samples, "dora_target_value", **shop_rollouts) == 2.0
    assert value(samples, "dora_target_value", **team_rate) == pytest.approx(0.5)
    # No commits: no lead time, so neither met nor value, only the threshold.
    assert [labels for labels, _ in samples["dora_target_value"]] == [team_rate, shop_rollouts]
    assert samples["dora_target_threshold"] == [
        (team_rate, 1.0),
        (shop_rollouts, 2.0),
        (lead, 86400.0),
    ]


def test_metrics_intake_counts_events_and_rejections_by_type(estate: None) -> None:
    before = scrape()
    _, raw = ApiToken.issue(name="ci", scope=ApiToken.Scope.INGEST)
    bad = {k: v for k, v in deployment("d4", "v4", days=1).items() if k != "finished_at"}
    response = Client().post(
        "/api/v1/events",
        data=json.dumps([deployment("d3", "v3", days=1), bad, {"type": "nonsense"}]),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {raw}",
    )
    assert response.status_code in (200, 207), response.content
    after = scrape()

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("dora_intake_events_total", type="deployment", status="created") == 1
    assert delta("dora_intake_rejections_total", type="deployment") == 1
    assert delta("dora_intake_rejections_total", type="unknown") == 1


def test_metrics_gate_counts_a_decision_and_its_latency(estate: None) -> None:
    before = scrape()
    _, raw = ApiToken.issue(name="deploy", scope=ApiToken.Scope.GATE)
    # v9 was never live on staging: the gate blocks it (409).
    response = Client().post(
        "/api/v1/gates/promotion",
        data=json.dumps(
            {"service": "shop", "version": "v9", "from": "staging", "to": "production"}
        ),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {raw}",
    )
    assert response.status_code == 409, response.content
    after = scrape()

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("dora_gate_requests_total", outcome="blocked") == 1
    assert delta("dora_gate_requests_total", outcome="allowed") == 0
    assert delta("dora_gate_request_duration_seconds_count") == 1
    assert delta("dora_gate_request_duration_seconds_bucket", le="+Inf") == 1


def test_metrics_health_derivation_lag_sources_and_snapshots(estate: None) -> None:
    start = datetime.now(UTC)  # the ages below are set from here (not the module's NOW)
    service = Service.objects.get(name="shop")
    environment = Environment.objects.get(name="production")
    pending = DerivePending.objects.create(
        service=service, environment=environment, facts_since=start
    )
    DerivePending.objects.filter(pk=pending.pk).update(marked_at=start - timedelta(seconds=600))
    Source.objects.create(
        name="gh", kind="github", last_sync_at=start - timedelta(seconds=120), last_error=""
    )
    Source.objects.create(name="pd", kind="pagerduty", last_error="token refused")
    cache.set(SNAPSHOTS_PREPARED_KEY, start.timestamp() - 60, None)
    try:
        samples = scrape()
    finally:
        cache.delete(SNAPSHOTS_PREPARED_KEY)
    # Each age is what was set plus the time between `start` and the scrape, at most `waited`.
    waited = (datetime.now(UTC) - start).total_seconds()

    assert 600 <= value(samples, "dora_derivation_lag_seconds") <= 600 + waited
    assert value(samples, "dora_derivation_pending") == 1
    assert value(samples, "dora_derivation_failed") == 0
    sync_age = value(samples, "dora_source_sync_age_seconds", source="gh", kind="github")
    assert 120 <= sync_age <= 120 + waited
    assert not [s for s in samples["dora_source_sync_age_seconds"] if s[0]["source"] == "pd"]
    assert value(samples, "dora_source_sync_error", source="gh", kind="github") == 0
    assert value(samples, "dora_source_sync_error", source="pd", kind="pagerduty") == 1
    assert 60 <= value(samples, "dora_page_snapshots_age_seconds") <= 60 + waited


def test_metrics_derivation_lag_is_zero_when_nothing_waits(estate: None) -> None:
    DerivePending.objects.all().delete()
    assert value(scrape(), "dora_derivation_lag_seconds") == 0


# --- who may scrape ------------------------------------------------------------------------


def test_metrics_loopback_may_scrape(estate: None) -> None:
    scrape(REMOTE_ADDR="127.0.0.1")
    scrape(REMOTE_ADDR="::1")


def test_metrics_refuses_other_addresses(estate: None) -> None:
    response = Client().get("/metrics", REMOTE_ADDR="203.0.113.7")
    assert response.status_code == 403
    assert "DORA_METRICS_ALLOWED_NETWORKS" in response.json()["detail"]


def test_metrics_allowed_networks_may_scrape(estate: None, settings: Any) -> None:
    settings.DORA_METRICS_ALLOWED_NETWORKS = ["10.20.0.0/16", "2001:db8::/32"]
    scrape(REMOTE_ADDR="10.20.3.4")
    scrape(REMOTE_ADDR="2001:db8::5")
    assert Client().get("/metrics", REMOTE_ADDR="10.21.0.1").status_code == 403


def test_metrics_loopback_through_an_untrusted_proxy_is_refused(
    estate: None, settings: Any
) -> None:
    # A proxy on the same host forwards the world's requests from 127.0.0.1.
    settings.DORA_TRUSTED_PROXY_COUNT = 0
    forwarded = {"REMOTE_ADDR": "127.0.0.1", "HTTP_X_FORWARDED_FOR": "203.0.113.7"}
    assert Client().get("/metrics", **forwarded).status_code == 403
    # A spoofed header is not believed either: with one trusted proxy its address is read.
    settings.DORA_TRUSTED_PROXY_COUNT = 1
    assert Client().get("/metrics", **forwarded).status_code == 403
    scrape(REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.7, 127.0.0.1")


def test_metrics_token_of_scope_metrics_may_scrape_from_anywhere(estate: None) -> None:
    _, raw = ApiToken.issue(name="prometheus", scope=ApiToken.Scope.METRICS)
    scrape(REMOTE_ADDR="203.0.113.7", HTTP_AUTHORIZATION=f"Bearer {raw}")


@pytest.mark.parametrize(
    ("scope", "limits", "says"),
    [
        (ApiToken.Scope.READ, {}, "scope 'metrics'"),
        (ApiToken.Scope.METRICS, {"services": ["shop"]}, "without limits"),
    ],
)
def test_metrics_refuses_other_tokens(estate: None, scope: str, limits: dict, says: str) -> None:
    _, raw = ApiToken.issue(name="other", scope=scope, **limits)
    # From loopback too: a token that is sent is the credential that counts.
    response = Client().get("/metrics", REMOTE_ADDR="127.0.0.1", HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert response.status_code == 403
    assert says in response.json()["detail"]


def test_metrics_refuses_an_unknown_or_revoked_token(estate: None) -> None:
    token, raw = ApiToken.issue(name="old", scope=ApiToken.Scope.METRICS)
    ApiToken.objects.filter(pk=token.pk).update(revoked=True)
    for header in (f"Bearer {raw}", "Bearer dora_metrics_nonsense"):
        response = Client().get("/metrics", REMOTE_ADDR="203.0.113.7", HTTP_AUTHORIZATION=header)
        assert response.status_code == 403


# --- the Grafana dashboard -----------------------------------------------------------------

PROMQL_WORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "offset", "bool"}
PROMQL_WORDS |= {"and", "or", "unless", "inf", "nan"}


def promql_series(expr: str) -> set[str]:
    """The metric names a PromQL expression reads: identifiers that are not functions (followed
    by '('), label names (in braces or by/without/on lists), keywords, durations or numbers."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # strings (label values, legends)
    expr = re.sub(r"\{[^}]*\}", "", expr)  # label matchers
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", expr)
    expr = re.sub(r"\[[^\]]*\]", "", expr)  # range selectors
    names = set()
    for match in re.finditer(r"(?<![\w.])[A-Za-z_:][A-Za-z0-9_:]*", expr):  # not 5m's m
        following = expr[match.end() :].lstrip()
        if following.startswith("(") or match.group().lower() in PROMQL_WORDS:
            continue
        names.add(match.group())
    return names


def test_promql_series_reads_names_only() -> None:
    expr = (
        'histogram_quantile(0.99, sum by (le) (rate(a_bucket{team=~"$team"}[5m]))) '
        "/ on (source) b_total offset 5m"
    )
    assert promql_series(expr) == {"a_bucket", "b_total"}


def dashboard_queries(node: Any) -> list[str]:
    """Every `expr` and every templating query in the dashboard's JSON."""
    found: list[str] = []
    if isinstance(node, dict):
        for key, item in node.items():
            if key == "expr" and isinstance(item, str):
                found.append(item)
            elif key == "query" and isinstance(item, dict) and isinstance(item.get("query"), str):
                found.append(item["query"])
            else:
                found += dashboard_queries(item)
    elif isinstance(node, list):
        for item in node:
            found += dashboard_queries(item)
    return found


def test_grafana_dashboard_reads_only_series_the_endpoint_serves(estate: None) -> None:
    # Every series present: a stored and a rejected event, a gate answer, a synced source, a
    # pending derivation, prepared pages.
    events_record([deployment("d5", "v5", days=2), {"type": "deployment"}])
    _, raw = ApiToken.issue(name="deploy", scope=ApiToken.Scope.GATE)
    Client().post(
        "/api/v1/gates/promotion",
        data=json.dumps(
            {"service": "shop", "version": "v9", "from": "staging", "to": "production"}
        ),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {raw}",
    )
    Source.objects.create(name="gh", kind="github", last_sync_at=NOW)
    cache.set(SNAPSHOTS_PREPARED_KEY, time.time(), None)
    try:
        families = scrape_families()
    finally:
        cache.delete(SNAPSHOTS_PREPARED_KEY)
    # The series with samples, and the gauges the exposition declares (HELP, TYPE) without
    # one now: this estate has no lead time or recovery time to report.
    served = {sample.name for family in families for sample in family.samples}
    served |= {family.name for family in families if family.type == "gauge"}

    queries = dashboard_queries(json.loads(DASHBOARD.read_text()))
    assert len(queries) >= 10
    named = set()
    for query in queries:
        label_values = re.fullmatch(r"label_values\((\w+),\s*(\w+)\)", query)
        named |= {label_values.group(1)} if label_values else promql_series(query)
    assert named - served == set()
    # The dashboard shows every headline figure.
    assert {
        "dora_deployment_frequency_per_week",
        "dora_lead_time_p50_seconds",
        "dora_change_failure_rate_ratio",
        "dora_recovery_time_p50_seconds",
        "dora_rework_rate_ratio",
    } <= named
