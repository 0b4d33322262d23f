"""App configuration for the domain core."""

from django.apps import AppConfig


class DoraConfig(AppConfig):
    name = "dora"
    verbose_name = "Delivery metrics"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.contrib.admin.models import LogEntry
        from django.db.models.signals import post_save

        from dora import lookups  # noqa: F401 - registers the __any lookup

        # Every add, change and delete in the admin writes a LogEntry: a team's members, a
        # service's team or kind, a deleted record. The dashboards' snapshots start again.
        post_save.connect(_admin_changed, sender=LogEntry, dispatch_uid="dora-facts-generation")


def _admin_changed(**kwargs: object) -> None:
    from dora.generation import facts_changed

    facts_changed()
