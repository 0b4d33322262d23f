"""The terraform sources as configured: the `sources:` entries of kind terraform (Source rows,
written by apply_config), else settings.DORA_TERRAFORM_WEBHOOKS, by source name."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.conf import settings

from ingest.models import Source
from ingest.sources.terraform.config import (
    DEFAULT_SECRET_ENV,
    TerraformConfig,
    terraform_config,
    terraform_config_problems,
)

if TYPE_CHECKING:
    from dora.config import SourceSpec


def terraform_source(name: str) -> TerraformConfig | None:
    """The named source's config; None when it is not configured, ValueError (naming what to
    fix) when its options are wrong."""
    row = (
        Source.objects.filter(kind=Source.Kind.TERRAFORM, name=name)
        .values("webhook_secret_env", "token_env", "base_url", "deployments")
        .first()
    )
    if row is not None:
        deployments = row["deployments"] if isinstance(row["deployments"], dict) else {}
        options: dict[str, Any] = {
            "secret_env": row["webhook_secret_env"] or DEFAULT_SECRET_ENV,
            "workspaces": deployments.get("workspaces"),
        }
        if row["token_env"]:
            options["token_env"] = row["token_env"]
        if row["base_url"]:
            options["base_url"] = row["base_url"]
        return terraform_config(name, options)
    options = (getattr(settings, "DORA_TERRAFORM_WEBHOOKS", None) or {}).get(name)
    if options is None:
        return None
    return terraform_config(name, options)


def terraform_spec_problems(spec: SourceSpec) -> list[str]:
    """The provider's check of a `sources:` entry of kind terraform (apply_config), beyond the
    file reader's: the workspace rules as the webhook will read them."""
    options: dict[str, Any] = {
        "workspaces": [
            {k: v for k, v in vars(rule).items() if v is not None} for rule in spec.workspaces
        ]
    }
    if spec.base_url:
        options["base_url"] = spec.base_url
    return [
        p.replace("DORA_TERRAFORM_WEBHOOKS.", "sources.", 1)
        for p in terraform_config_problems(spec.name, options)
    ]
