"""The terraform sources as configured: the `sources:` entries of kind terraform (Source rows,
written by apply_config), by source name."""

from __future__ import annotations

from ingest.models import Source
from ingest.sources.stacks import stack_rules, stack_rules_problems
from ingest.sources.terraform.config import DEFAULT_BASE_URL, DEFAULT_SECRET_ENV, TerraformConfig


def terraform_source(name: str) -> TerraformConfig | None:
    """The named source's config; None when it is not configured, ValueError (naming what to
    fix) when its rules are wrong (a row edited by hand: the admin refuses them)."""
    row = (
        Source.objects.filter(kind=Source.Kind.TERRAFORM, name=name)
        .values("webhook_secret_env", "token_env", "base_url", "stacks")
        .first()
    )
    if row is None:
        return None
    if problems := stack_rules_problems(row["stacks"], "stacks", Source.Kind.TERRAFORM):
        raise ValueError("; ".join(problems))
    return TerraformConfig(
        name=name,
        secret_env=row["webhook_secret_env"] or DEFAULT_SECRET_ENV,
        token_env=row["token_env"] or None,
        base_url=(row["base_url"] or DEFAULT_BASE_URL).rstrip("/"),
        rules=stack_rules(row["stacks"]),
    )
