"""GET /metrics' series about the sources: how long ago each synced, and whether its last
sync left an error a human must fix (ingest.models.Source)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector


class SourceSyncCollector(Collector):
    """Per source: seconds since its last sync (absent before the first) and its error flag."""

    def collect(self) -> Iterator[Metric]:
        from ingest.models import Source

        now = datetime.now(UTC)
        age = GaugeMetricFamily(
            "dora_source_sync_age_seconds",
            "Seconds since the source last synced (absent for a source never synced)",
            labels=["source", "kind"],
        )
        errors = GaugeMetricFamily(
            "dora_source_sync_error",
            "1 when the source's last sync left an error to fix (its status page says which)",
            labels=["source", "kind"],
        )
        for name, kind, last_sync_at, last_error in Source.objects.order_by("name").values_list(
            "name", "kind", "last_sync_at", "last_error"
        ):
            if last_sync_at is not None:
                age.add_metric([name, kind], max(0.0, (now - last_sync_at).total_seconds()))
            errors.add_metric([name, kind], 1.0 if last_error else 0.0)
        yield age
        yield errors
