"""The terraform sources as configured: settings.DORA_TERRAFORM_WEBHOOKS, by source name."""

from __future__ import annotations

from django.conf import settings

from ingest.sources.terraform.config import TerraformConfig, terraform_config


def terraform_source(name: str) -> TerraformConfig | None:
    """The named source's config; None when it is not configured, ValueError (naming what to
    fix) when its options are wrong."""
    options = (getattr(settings, "DORA_TERRAFORM_WEBHOOKS", None) or {}).get(name)
    if options is None:
        return None
    return terraform_config(name, options)
