"""App configuration for the domain core."""

from django.apps import AppConfig


class DoraConfig(AppConfig):
    name = "dora"
    verbose_name = "Delivery metrics"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from dora import lookups  # noqa: F401 - registers the __any lookup
