"""App configuration for the ingest adapters."""

from django.apps import AppConfig


class IngestConfig(AppConfig):
    name = "ingest"
    verbose_name = "Ingestion"
    default_auto_field = "django.db.models.BigAutoField"
