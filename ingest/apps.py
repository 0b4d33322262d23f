"""App configuration for the ingest adapters."""

from django.apps import AppConfig


class IngestConfig(AppConfig):
    name = "ingest"
    verbose_name = "Ingestion"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from dora.config import sources_apply
        from ingest.config import sources_config_apply
        from ingest.sources.registry import providers_load

        providers_load()  # every provider package registers itself (ingest.sources.registry)

        # apply_config writes `sources:` through this hook (dora never imports ingest).
        sources_apply.connect(sources_config_apply, dispatch_uid="ingest.sources_config_apply")

        # GET /metrics reports each source's sync age and errors (dora.prometheus).
        from dora.prometheus import SCRAPE_COLLECTORS
        from ingest.prometheus import SourceSyncCollector

        if not any(isinstance(c, SourceSyncCollector) for c in SCRAPE_COLLECTORS):
            SCRAPE_COLLECTORS.append(SourceSyncCollector())
