"""A terraform source's options: its secret and token variables, API root and `stacks:` rules.

A `sources:` entry of kind terraform (docs/INFRA-SOURCES.md) maps its workspaces through the
`stacks:` rules every IaC and GitOps source shares (ingest.sources.stacks): `match` is a shell
pattern (fnmatch, case-sensitive) over the workspace's name, the first rule that matches places
the workspace, and `{name}` in service, environment or target stands for the workspace's name.
Pure: no Django, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

from ingest.sources.stacks import StackPlace, StackRule, stack_place

DEFAULT_SOURCE = "terraform"
DEFAULT_SECRET_ENV = "DORA_TERRAFORM_WEBHOOK_SECRET"  # noqa: S105 - a variable name
DEFAULT_BASE_URL = "https://app.terraform.io"


@dataclass(frozen=True)
class TerraformConfig:
    """One terraform source: its name, secret and token variables, API root and rules."""

    name: str = DEFAULT_SOURCE
    secret_env: str = DEFAULT_SECRET_ENV
    token_env: str | None = None
    base_url: str = DEFAULT_BASE_URL
    rules: tuple[StackRule, ...] = ()

    def placement(self, workspace: str | None) -> StackPlace | None:
        """The first rule's place for the workspace's name; None when no rule matches."""
        return stack_place(self.rules, (workspace,), None)
