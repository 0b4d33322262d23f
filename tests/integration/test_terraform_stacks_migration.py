"""Migration ingest/0012: a terraform source's rules stored as deployments.workspaces (its first
form) move to stacks, `stack` renamed `service` and `{workspace}` now `{name}`."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("ingest", "0011_source_github_app")]
AFTER = [("ingest", "0012_infra_sources")]


@pytest.mark.django_db(transaction=True)
def test_terraform_workspaces_move_to_stacks() -> None:
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    old = executor.loader.project_state(BEFORE).apps.get_model("ingest", "Source")
    old.objects.create(
        name="tfc",
        kind="terraform",
        token_env="",
        deployments={
            "workspaces": [
                {"match": "net-prod", "stack": "network", "environment": "production"},
                {"match": "app-*", "stack": "app", "environment": "qa", "target": "{workspace}"},
            ]
        },
    )
    old.objects.create(name="gh", kind="github", org="acme", deployments={"from": ["releases"]})
    try:
        executor = MigrationExecutor(connection)
        executor.migrate(AFTER)
        new = executor.loader.project_state(AFTER).apps.get_model("ingest", "Source")
        tfc, gh = new.objects.get(name="tfc"), new.objects.get(name="gh")
        assert tfc.stacks == [
            {"match": "net-prod", "service": "network", "environment": "production"},
            {"match": "app-*", "service": "app", "environment": "qa", "target": "{name}"},
        ]
        assert tfc.deployments == {}
        assert (gh.stacks, gh.deployments) == ([], {"from": ["releases"]})
    finally:
        MigrationExecutor(connection).migrate(executor.loader.graph.leaf_nodes())
