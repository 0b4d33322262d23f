"""Prometheus series (GET /metrics): the counters intake and the gate increment, and the gauges
computed at scrape time (each service's headline figures, figure targets' attainment,
derivation lag, snapshot age).

Counters and histograms are prometheus_client's own. Under gunicorn with
PROMETHEUS_MULTIPROC_DIR set (before the workers start), every worker writes them to files in
that directory and a scrape adds up all workers' (`multiprocess.MultiProcessCollector`);
gunicorn.conf.py's child_exit marks a dead worker's files. Without the variable: the default
registry of the one process. The scrape-time gauges are read from the database (and the
headline figures from a short cache) by whichever worker answers, so they need neither.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.core.cache import cache
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, multiprocess
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)

# The multiprocess directory must exist before the first series is made (at this import): a
# process gunicorn did not start (manage.py, a Celery worker, `docker compose run web ...`)
# finds it missing where only gunicorn's on_starting creates it.
if _multiproc_dir := os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.makedirs(_multiproc_dir, exist_ok=True)

INTAKE_EVENTS = Counter(
    "dora_intake_events",
    "Events intake stored or found unchanged, by event type and outcome (created, updated, "
    "unchanged)",
    ["type", "status"],
)
INTAKE_REJECTIONS = Counter(
    "dora_intake_rejections",
    "Events intake rejected, by event type ('unknown' when the item named none)",
    ["type"],
)
GATE_DECISIONS = Counter(
    "dora_gate_requests",
    "Promotion gate answers by outcome: allowed, blocked, invalid, denied, not_found, "
    "unavailable, error",
    ["outcome"],
)
GATE_SECONDS = Histogram(
    "dora_gate_request_duration_seconds",
    "Time the promotion gate took to answer, token lookup included",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)

# What each gate response status says about the request.
GATE_OUTCOMES = {
    200: "allowed",
    409: "blocked",
    400: "invalid",
    401: "denied",
    403: "denied",
    404: "not_found",
    503: "unavailable",
}

# The headline figures: (series, help, report key, field in it).
HEADLINES = (
    (
        "dora_deployment_frequency_per_week",
        "Production rollouts per week over the default window",
        "deployment_frequency",
        "per_week",
    ),
    (
        "dora_lead_time_p50_seconds",
        "Median lead time for changes over the default window",
        "lead_time",
        "p50_seconds",
    ),
    (
        "dora_change_failure_rate_ratio",
        "Change failure rate (0 to 1) over the default window",
        "change_failure_rate",
        "rate",
    ),
    (
        "dora_recovery_time_p50_seconds",
        "Median failed deployment recovery time over the default window",
        "recovery_time",
        "p50_seconds",
    ),
    (
        "dora_rework_rate_ratio",
        "Rework rate (0 to 1) over the default window",
        "rework_rate",
        "rate",
    ),
)
HEADLINE_LABELS = ["service", "team", "kind"]
HEADLINE_KEY = "dora:prometheus:headlines"
TARGETS_KEY = "dora:prometheus:targets"
TARGET_LABELS = ["team", "service", "figure", "direction"]
SNAPSHOTS_PREPARED_KEY = "dora:prometheus:snapshots-prepared-at"

# Collectors other apps add (ingest's sources: dora never imports ingest).
SCRAPE_COLLECTORS: list[Collector] = []


def intake_counted(event_type: str, status: str) -> None:
    """Count one intake outcome (dora.intake.events.events_record)."""
    if status == "rejected":
        INTAKE_REJECTIONS.labels(type=event_type or "unknown").inc()
    else:
        INTAKE_EVENTS.labels(type=event_type, status=status).inc()


def gate_observed(status: int, seconds: float) -> None:
    """Count one promotion-gate answer (dora.api.gates.PromotionGateApi.dispatch)."""
    GATE_DECISIONS.labels(outcome=GATE_OUTCOMES.get(status, "error")).inc()
    GATE_SECONDS.observe(seconds)


def headline_rows(*, now: datetime) -> list[dict[str, Any]]:
    """Each service's headline figures over the API's default window (dora.reads.report): one row
    per service, {service, team, kind, <report key>: <field's value or None>}."""
    from dora.models import Service
    from dora.reads.report import metrics_report
    from dora.reads.report_query import ParameterError, metrics_query_parse

    rows = []
    services = Service.objects.select_related("team").order_by("name")
    for service in services:
        try:
            query = metrics_query_parse(now=now, services=[service.name])
        except ParameterError as exc:  # e.g. a benchmark file gone: skip, say why once
            log.warning("GET /metrics: figures of %s not computed: %s", service.name, exc)
            continue
        report = metrics_report(query, now=now)
        row: dict[str, Any] = {
            "service": service.name,
            "team": service.team.name if service.team else "",
            "kind": service.kind,
        }
        for _, _, key, field in HEADLINES:
            row[key] = (report.get(key) or {}).get(field)
        rows.append(row)
    return rows


def headline_rows_cached(*, now: datetime) -> tuple[list[dict[str, Any]], float]:
    """headline_rows and when they were computed (epoch seconds), kept in the cache for
    DORA_METRICS_CACHE_SECONDS so that a scrape every 15 s does not compute every service's
    figures each time (0: computed on every scrape). A cache that is down: computed now."""
    return _rows_cached(HEADLINE_KEY, lambda: headline_rows(now=now))


def target_rows(*, now: datetime) -> list[dict[str, Any]]:
    """Each figure target's attainment (dora.targets): {team, service, figure, direction,
    threshold, value, status}; a team target's service is "", a service target's team is its
    team's name ("" without one)."""
    from dora.models import Service
    from dora.targets import attainments

    found = attainments(now=now)
    names = {a.subject_name for a in found if a.subject == "service"}
    teams = dict(Service.objects.filter(name__in=names).values_list("name", "team__name"))
    return [
        {
            "team": a.subject_name if a.subject == "team" else teams.get(a.subject_name) or "",
            "service": a.subject_name if a.subject == "service" else "",
            "figure": a.figure,
            "direction": a.direction,
            "threshold": a.threshold,
            "value": a.value,
            "status": a.status,
        }
        for a in found
    ]


def _rows_cached(key: str, compute: Callable[[], Any]) -> tuple[Any, float]:
    """compute() and when it ran (epoch seconds), kept in the cache under `key` for
    DORA_METRICS_CACHE_SECONDS (0: computed on every scrape; a cache that is down: now)."""
    fresh_for = settings.DORA_METRICS_CACHE_SECONDS
    if fresh_for > 0:
        kept = _cache_call(lambda: cache.get(key))
        if kept is not None and time.time() - kept[0] < fresh_for:
            return kept[1], kept[0]
    rows, computed_at = compute(), time.time()
    if fresh_for > 0:
        _cache_call(lambda: cache.set(key, (computed_at, rows), fresh_for))
    return rows, computed_at


def _cache_call(call: Callable[[], Any]) -> Any:
    try:
        return call()
    except Exception as exc:  # the cache is optional: never fail a scrape on it
        log.warning("GET /metrics: the cache did not answer: %s", exc)
        return None


class HeadlineCollector(Collector):
    """The headline figures per service, and how old they are."""

    def collect(self) -> Iterator[Metric]:
        now = datetime.now(UTC)
        rows, computed_at = headline_rows_cached(now=now)
        for name, text, key, _ in HEADLINES:
            family = GaugeMetricFamily(name, text, labels=HEADLINE_LABELS)
            for row in rows:
                if row[key] is not None:
                    family.add_metric([row[label] for label in HEADLINE_LABELS], float(row[key]))
            yield family
        yield GaugeMetricFamily(
            "dora_headline_figures_age_seconds",
            "Seconds since the headline figures were computed (DORA_METRICS_CACHE_SECONDS)",
            value=max(0.0, time.time() - computed_at),
        )


class TargetCollector(Collector):
    """Figure targets (CONTRACT §2 `targets:`): whether each is met, its value and threshold.
    A target without enough data (status no_data) has a threshold sample only: alert on
    `dora_target_met == 0`, and on `absent`/`unless` for targets that lack data."""

    def collect(self) -> Iterator[Metric]:
        rows, _ = _rows_cached(TARGETS_KEY, lambda: target_rows(now=datetime.now(UTC)))
        met = GaugeMetricFamily(
            "dora_target_met",
            "1 when the figure target is met over its window, 0 when missed; no sample when "
            "there is not enough data",
            labels=TARGET_LABELS,
        )
        value = GaugeMetricFamily(
            "dora_target_value",
            "The target's figure over its window (seconds, ratio 0 to 1 or count); no sample "
            "when there is not enough data",
            labels=TARGET_LABELS,
        )
        threshold = GaugeMetricFamily(
            "dora_target_threshold",
            "The target's threshold; direction below is met at or under it, above at or over it",
            labels=TARGET_LABELS,
        )
        for row in rows:
            labels = [row[label] for label in TARGET_LABELS]
            threshold.add_metric(labels, float(row["threshold"]))
            if row["value"] is not None:
                met.add_metric(labels, 1.0 if row["status"] == "met" else 0.0)
                value.add_metric(labels, float(row["value"]))
        yield from (met, value, threshold)


class HealthCollector(Collector):
    """Derivation lag and the age of the prepared dashboard snapshots."""

    def collect(self) -> Iterator[Metric]:
        from django.db.models import Count, Min, Q

        from dora.models import DerivePending

        now = datetime.now(UTC)
        pending = DerivePending.objects.aggregate(
            oldest=Min("marked_at", filter=Q(failed_at__isnull=True)),
            waiting=Count("pk", filter=Q(failed_at__isnull=True)),
            failed=Count("pk", filter=Q(failed_at__isnull=False)),
        )
        oldest = pending["oldest"]
        yield GaugeMetricFamily(
            "dora_derivation_lag_seconds",
            "Age of the oldest (service, environment) waiting to be derived; 0 when none waits",
            value=0.0 if oldest is None else max(0.0, (now - oldest).total_seconds()),
        )
        yield GaugeMetricFamily(
            "dora_derivation_pending",
            "(service, environment) pairs waiting to be derived",
            value=pending["waiting"],
        )
        yield GaugeMetricFamily(
            "dora_derivation_failed",
            "(service, environment) pairs whose derivation failed",
            value=pending["failed"],
        )
        prepared_at = _cache_call(lambda: cache.get(SNAPSHOTS_PREPARED_KEY))
        family = GaugeMetricFamily(
            "dora_page_snapshots_age_seconds",
            "Seconds since beat last prepared the dashboard snapshots (absent before the first)",
        )
        if prepared_at is not None:
            family.add_metric([], max(0.0, time.time() - prepared_at))
        yield family


class _Default(Collector):
    """The default registry's series (this process's counters) inside a scrape's registry."""

    def collect(self) -> Iterable[Metric]:
        return REGISTRY.collect()


def scrape_registry() -> CollectorRegistry:
    """A registry for one scrape: every worker's counters (multiprocess mode) or this
    process's (the default registry), then the gauges computed now."""
    registry = CollectorRegistry(auto_describe=False)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(_Default())
    for collector in (
        HeadlineCollector(),
        TargetCollector(),
        HealthCollector(),
        *SCRAPE_COLLECTORS,
    ):
        registry.register(collector)
    return registry
